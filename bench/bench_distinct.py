"""Peak memory and ``--json`` size with a million distinct names or reasons (issue 21).

Usage: python bench/bench_distinct.py [ROWS] [--rounds N]  (default 1000000 rows, 1 round)

Three dry runs (``cio import FILE --dry-run --quiet --allow-recent --json``) of files made
from bench/data/events_<ROWS>.csv (gen.py, five event names): the file itself; the same
with every event name distinct (``name<i>``); the same with every timestamp a distinct bad
text (``bad<i>``: every row rejected, each for its own reason). SPEC 6 bounds what they
may add: each peaks within 1.2x of the first, and each ``--json`` line stays under 100 KB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gen import DATA, ensure  # noqa: E402 - bench/ is the script's directory

NAME, TIMESTAMP = 1, 2  # columns of gen.py's file


def variant(rows: int, column: int, prefix: str) -> Path:
    """``bench/data/<kind>_<rows>.csv``: gen.py's file with ``column`` made distinct."""
    path = DATA / f"distinct_{prefix}_{rows}.csv"
    if path.exists():
        return path
    with open(ensure(rows), encoding="utf-8") as src, open(path, "w", encoding="utf-8") as out:
        out.write(src.readline())
        for i, line in enumerate(src):
            cells = line.split(",", 3)  # the first three columns hold no comma
            cells[column] = f"{prefix}{i}"
            out.write(",".join(cells))
    return path


def measure(cmd: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MB) and the bytes written to stdout of one run of ``cmd``."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) not in (0, 1):
            raise SystemExit(f"{cmd} failed with status {status}")
        return wall, usage.ru_maxrss / 1024, out.tell()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    cio = str(Path(sys.executable).with_name("cio"))
    files = {
        "five names": ensure(args.rows),
        "distinct names": variant(args.rows, NAME, "name"),
        "distinct reasons": variant(args.rows, TIMESTAMP, "bad"),
    }
    peaks: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as work:
        for label, path in files.items():
            rejects = Path(work) / "rejects.csv"
            cmd = [cio, "import", str(path), "--dry-run", "--quiet", "--allow-recent", "--json",
                   "--rejects", str(rejects)]  # fmt: skip
            runs = [measure(cmd) for _ in range(args.rounds)]
            wall, peak = (statistics.median(r[i] for r in runs) for i in range(2))
            peaks[label] = peak
            size = max(r[2] for r in runs)
            print(f"{label:17} peak {peak:5.0f} MB  wall {wall:6.2f} s  --json {size:,} bytes")
    base = peaks["five names"]
    for label in ("distinct names", "distinct reasons"):
        print(f"{label}: {peaks[label] / base:.2f}x the peak of five names")


if __name__ == "__main__":
    main()
