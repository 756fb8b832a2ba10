"""Peak memory of dry runs, and how it grows with the file.

Usage: python bench/bench_memory.py [--rounds N] [--base CIO] [ROWS ...]
(default: 3 rounds of 1000000 and 5000000 rows)

For each size it generates bench/data/events_<ROWS>.csv (once) and runs
``cio import FILE --dry-run --quiet --allow-recent`` ``--rounds`` times,
printing the median peak RSS, wall and CPU time. With ``--base`` (another
build's ``cio``), both builds run alternately, round by round. The last line
compares the largest size with the smallest: the ratio of their peaks, and the
part of the difference that the 8-byte fingerprints of the extra events (the one
thing SPEC lets grow with the file) account for.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from bench_dryrun import measure  # noqa: E402 - bench/ is the script's directory
from gen import ensure  # noqa: E402

FINGERPRINT = 8  # bytes per distinct event


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", nargs="*", type=int, default=[1_000_000, 5_000_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base", help="another build's cio, run alternately")
    args = parser.parse_args()
    builds = {"cio": str(Path(sys.executable).with_name("cio"))}
    if args.base:
        builds["base"] = args.base
    peaks: dict[tuple[str, int], float] = {}
    for rows in args.rows:
        path = ensure(rows)
        runs: dict[str, list[tuple[float, float, float]]] = {b: [] for b in builds}
        for _ in range(args.rounds):
            for name, cio in builds.items():
                cmd = [cio, "import", str(path), "--dry-run", "--quiet", "--allow-recent"]
                runs[name].append(measure(cmd))
        print(f"{rows:,} rows ({path.stat().st_size / 1e6:.0f} MB), {args.rounds} rounds")
        for name, got in runs.items():
            wall, cpu, peak = (statistics.median(r[i] for r in got) for i in range(3))
            peaks[name, rows] = peak
            top = max(r[2] for r in got)
            print(f"  {name:5} peak {peak:5.0f} MB (max {top:.0f})"
                  f"  wall {wall:5.2f} s  cpu {cpu:5.2f} s")  # fmt: skip
    small, large = min(args.rows), max(args.rows)
    if small != large:
        for name in builds:
            grown = peaks[name, large] - peaks[name, small]
            allowed = (large - small) * FINGERPRINT / 2**20
            print(
                f"{name}: {large:,} rows peak {peaks[name, large] / peaks[name, small]:.2f}x of"
                f" {small:,}: +{grown:.0f} MB, of which fingerprints {allowed:.0f} MB"
            )


if __name__ == "__main__":
    main()
