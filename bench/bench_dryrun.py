"""Dry-run speed and memory against polars.read_csv, in one run.

Usage: python bench/bench_dryrun.py [ROWS ...]   (default: 1000000 5000000)

For each size it generates bench/data/events_<ROWS>.csv (once), then times
``python -c "import polars; polars.read_csv(FILE)"`` and
``cio import FILE --dry-run --quiet --allow-recent`` three times each, and
prints the best wall time, CPU time and peak RSS of each, and the ratio.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from gen import ensure  # noqa: E402 - bench/ is the script's directory

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MB) of one run of ``cmd``."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{cmd} failed with status {status}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def best(cmd: list[str], runs: int = 3) -> tuple[float, float, float]:
    """The fastest of ``runs`` runs (and its CPU time and peak RSS)."""
    return min(measure(cmd) for _ in range(runs))


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1_000_000, 5_000_000]
    cio = str(Path(sys.executable).with_name("cio"))
    for rows in sizes:
        path = ensure(rows)
        mb = path.stat().st_size / 1e6
        base = best([sys.executable, "-c", f"import polars; polars.read_csv({str(path)!r})"])
        ours = best([cio, "import", str(path), "--dry-run", "--quiet", "--allow-recent"])
        print(f"{rows:,} rows ({mb:.0f} MB)")
        for label, (wall, cpu, peak) in (("polars.read_csv", base), ("cio import --dry-run", ours)):
            print(f"  {label:22} {wall:6.2f} s wall  {cpu:6.2f} s cpu  {peak:6.0f} MB peak")
        print(f"  ratio {ours[0] / base[0]:.2f}x wall, {rows / ours[0]:,.0f} rows/s")


if __name__ == "__main__":
    main()
