"""The same events as CSV, Parquet and NDJSON: a dry run's peak memory and time.

Usage: python bench/bench_formats.py [--rounds N] [ROWS]   (default: 1 round of 1000000)

gen.py makes bench/data/events_<ROWS>.csv (once); polars converts it, with the column
types it infers over the whole file, to .parquet and .ndjson beside it (once). Each format
then runs ``cio import FILE --dry-run --quiet --allow-recent`` ``--rounds`` times,
printing the median peak RSS, wall and CPU time and their ratio to the CSV run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import polars as pl
from bench_dryrun import measure  # noqa: E402 - bench/ is the script's directory
from gen import ensure  # noqa: E402


def converted(csv: Path) -> dict[str, Path]:
    """The CSV file and its Parquet and NDJSON copies (written once)."""
    paths = {"csv": csv}
    paths |= {fmt: csv.with_suffix(f".{fmt}") for fmt in ("parquet", "ndjson")}
    frame = pl.scan_csv(csv, infer_schema_length=None)
    if not paths["parquet"].exists():
        frame.sink_parquet(paths["parquet"])
    if not paths["ndjson"].exists():
        frame.sink_ndjson(paths["ndjson"])
    return paths


def main() -> None:
    """Run each format's dry run and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    cio = str(Path(sys.executable).with_name("cio"))
    paths = converted(ensure(args.rows))
    runs: dict[str, list[tuple[float, float, float]]] = {f: [] for f in paths}
    for _ in range(args.rounds):
        for fmt, path in paths.items():
            cmd = [cio, "import", str(path), "--dry-run", "--quiet", "--allow-recent"]
            runs[fmt].append(measure(cmd))
    print(f"{args.rows:,} rows, {args.rounds} round(s)")
    base = [statistics.median(r[i] for r in runs["csv"]) for i in range(3)]
    for fmt, got in runs.items():
        wall, cpu, peak = (statistics.median(r[i] for r in got) for i in range(3))
        size = paths[fmt].stat().st_size / 1e6
        print(
            f"  {fmt:8} {size:5.0f} MB  peak {peak:5.0f} MB ({peak / base[2]:.2f}x csv)"
            f"  wall {wall:5.2f} s ({wall / base[0]:.2f}x)  cpu {cpu:5.2f} s"
        )


if __name__ == "__main__":
    main()
