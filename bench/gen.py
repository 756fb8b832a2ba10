"""Generate a realistic backfill CSV for benchmarks.

Usage: python bench/gen.py ROWS OUT.csv

Columns: the three ``_cio_`` columns plus six data columns (strings, ints,
floats, some empty, some quoted with commas). Timestamps fall in 2021-2024, so
nothing falls in the 72-hour window.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PLANS = ["free", "pro", "team", "enterprise", "starter"]
CITIES = ['"Portland, OR"', '"Austin, TX"', "Berlin", "Lyon", '"Paris, France"', "Oslo", ""]
NAMES = ["purchase", "signup", "page_view", "trial_started", "invoice_paid"]


DATA = Path(__file__).resolve().parent / "data"


def options(argv: list[str], repeat: int) -> tuple[int, int, list[str]]:
    """``[ROWS] [--repeat N] [-- CIO FLAGS]``: the rows (default 1,000,000), the repeats
    (default ``repeat``) and the flags passed on to cio."""
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    if "--repeat" in argv:
        at = argv.index("--repeat")
        repeat = int(argv[at + 1])
        argv = argv[:at] + argv[at + 2 :]
    return (int(argv[0]) if argv else 1_000_000), repeat, extra


@contextmanager
def work_copy(rows: int, prefix: str) -> Iterator[tuple[Path, Path]]:
    """A fresh folder in bench/data/ holding ``events_<rows>.csv`` (made once, then linked
    or copied), so journals and rejects files land there; removed afterwards."""
    source = ensure(rows)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=DATA))
    try:
        path = work / source.name
        try:
            os.link(source, path)
        except OSError:
            shutil.copyfile(source, path)
        yield work, path
    finally:
        shutil.rmtree(work, ignore_errors=True)


def generated(path: Path, script: str, rows: int) -> Path:
    """``path``, written once by ``python SCRIPT ROWS PATH`` (in a child process)."""
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        subprocess.run([sys.executable, script, str(rows), str(path)], check=True)
    return path


def ensure(rows: int) -> Path:
    """``bench/data/events_<rows>.csv``, generated once (in a child process)."""
    return generated(DATA / f"events_{rows}.csv", __file__, rows)


def main() -> None:
    rows, out = int(sys.argv[1]), sys.argv[2]
    rnd = random.Random(42)
    base = 1_610_000_000
    with open(out, "w", encoding="utf-8", newline="") as f:
        f.write("_cio_customer_id,_cio_name,_cio_timestamp,plan,city,amount,quantity,note,coupon\n")
        lines = []
        for i in range(rows):
            amount = f"{rnd.randint(1, 99999) / 100}" if i % 7 else ""
            note = '"bought 2, returned 1"' if i % 13 == 0 else f"order {i}"
            coupon = "" if i % 3 else f"C{rnd.randint(100, 999)}"
            lines.append(
                f"user{rnd.randint(1, 200000)},{NAMES[i % 5]},{base + (i * 37) % 90_000_000},"
                f"{PLANS[i % 5]},{CITIES[i % 7]},{amount},{rnd.randint(1, 20)},{note},{coupon}\n"
            )
            if len(lines) == 10000:
                f.writelines(lines)
                lines.clear()
        f.writelines(lines)


if __name__ == "__main__":
    main()
