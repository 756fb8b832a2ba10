"""What issue 12's warehouse options cost a dry run: none of them against three ``--map``
and two ``--null-value`` flags, and optionally against another build.

Usage: python bench/bench_options.py [--rounds N] [--base CIO] [ROWS]   (default 1000000)

It makes ``bench/data/events_<ROWS>.csv`` (bench/gen.py) and a copy whose header names
the three ``_cio_`` columns as a warehouse would (``user_id``, ``event_name``,
``occurred_at``); the data rows are the same bytes. Then, in alternating rounds:

- ``plain``: ``cio import FILE --dry-run --quiet --allow-recent``;
- ``options``: the renamed copy with ``--map user_id=_cio_customer_id --map
  event_name=_cio_name --map occurred_at=_cio_timestamp --null-value NULL --null-value '\\N'``
  (the same events, so the same work besides the options);
- ``base`` (with ``--base``, the ``cio`` executable of another build, for example one
  installed from an older commit in its own venv): the plain run of that build.

It prints, for each, the best and median wall time and the median CPU time, and the
ratios to ``plain``. Run it by hand on a quiet machine: a 2-core machine's noise is 10-20%.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from gen import ensure  # noqa: E402 - bench/ is the script's directory

RENAMED = {
    "_cio_customer_id": "user_id",
    "_cio_name": "event_name",
    "_cio_timestamp": "occurred_at",
}
MAPS = [f"--map={source}={target}" for target, source in RENAMED.items()]
NULLS = ["--null-value=NULL", "--null-value=\\N"]


def warehouse_copy(path: Path) -> Path:
    """The file with the warehouse's header names (made once)."""
    out = path.with_name(path.stem + "_warehouse.csv")
    if out.exists():
        return out
    with open(path, "rb") as src, open(out, "wb") as dst:
        header = src.readline().decode()
        for target, source in RENAMED.items():
            header = header.replace(target, source)
        dst.write(header.encode())
        shutil.copyfileobj(src, dst, 1 << 20)
    return out


def measure(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``cmd`` (which must succeed)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with status {status}")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def main() -> None:
    """Alternate the runs and print the figures."""
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("rows", nargs="?", type=int, default=1_000_000)
    args.add_argument("--rounds", type=int, default=6)
    args.add_argument("--base", help="the cio executable of another build")
    opts = args.parse_args()
    plain = ensure(opts.rows)
    renamed = warehouse_copy(plain)
    cio = str(Path(sys.executable).with_name("cio"))
    dry = ["import", "--dry-run", "--quiet", "--allow-recent"]
    runs = {
        "plain": [cio, *dry, str(plain)],
        "options": [cio, *dry, str(renamed), *MAPS, *NULLS],
    }
    if opts.base:
        runs["base"] = [opts.base, *dry, str(plain)]
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(opts.rounds):
        for name, cmd in runs.items():
            times[name].append(measure(cmd))
    best_plain = min(w for w, _ in times["plain"])
    median_plain = statistics.median(w for w, _ in times["plain"])
    print(f"{opts.rows:,} rows, {opts.rounds} alternating rounds")
    for name, found in times.items():
        walls = [w for w, _ in found]
        cpu = statistics.median(c for _, c in found)
        best, median = min(walls), statistics.median(walls)
        print(
            f"{name:8} best {best:.2f} s ({best / best_plain:.2f}x)  median {median:.2f} s"
            f" ({median / median_plain:.2f}x)  CPU median {cpu:.2f} s"
        )


if __name__ == "__main__":
    main()
