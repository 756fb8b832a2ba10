"""A dry run's time and peak memory against polars reading the same file, in one run.

Usage: python bench/bench_warehouse.py [--plain] [ROWS ...]   (default: 300000 1000000)

The file is bench/data/warehouse_<ROWS>.csv (bench/gen_warehouse.py: mapped columns,
``NULL`` and empty nulls, a JSON column, BigQuery and Snowflake timestamps, UUID ids,
booleans, prices), read with its flags; with ``--plain``, bench/data/events_<ROWS>.csv
(bench/gen.py), read without any. Three rounds; each runs
``python -c "import polars; polars.read_csv(FILE, infer_schema=False)"`` and then
``cio import FILE --dry-run --quiet --allow-recent [FLAGS]`` once. Printed: each one's
wall time (best and median of the rounds), their ratio within each round (best and
median), their CPU time (user and system: on a shared machine it drifts less than the
wall time), and the highest peak RSS each reached. Targets: 6x (warehouse), 5x (plain),
250 MiB at 1,000,000 rows. Both run with their modules' bytecode cached (in a temporary
``PYTHONPYCACHEPREFIX``, after one warm-up run each), as an installed ``cio`` runs even
where ``PYTHONDONTWRITEBYTECODE`` is set: without it, ``cio`` compiled its own modules at
every run (about 40 ms) while polars' came compiled from its install.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

import gen  # noqa: E402 - bench/ is the script's directory
import gen_warehouse
from bench_dryrun import measure  # wall s, CPU s (user and system), peak RSS (MiB)

ROUNDS = 3
TARGET = {"warehouse": 6.0, "plain": 5.0}


def line(label: str, values: list[float], unit: str) -> str:
    """``label  best  median``."""
    best, median = min(values), statistics.median(values)
    return f"  {label:32} best {best:7.2f}{unit}  median {median:7.2f}{unit}"


def bench(kind: str, rows: int) -> None:
    """Three rounds of the baseline and the dry run of one file; the figures."""
    path = gen.ensure(rows) if kind == "plain" else gen_warehouse.ensure(rows)
    flags = [] if kind == "plain" else gen_warehouse.FLAGS
    cio = str(Path(sys.executable).with_name("cio"))
    read = f"import polars; polars.read_csv({str(path)!r}, infer_schema=False)"
    base_cmd = [sys.executable, "-c", read]
    ours_cmd = [cio, "import", str(path), "--dry-run", "--quiet", "--allow-recent", *flags]
    base, ours = [], []
    plain = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory(prefix="cio-bench-pyc-") as cache:
        env = plain | {"PYTHONPYCACHEPREFIX": cache}  # as installed: bytecode compiled once
        measure(base_cmd, env), measure(ours_cmd, env)  # warm-up: compiles every module
        for _ in range(ROUNDS):
            base.append(measure(base_cmd, env))
            ours.append(measure(ours_cmd, env))
    mb = path.stat().st_size / 1e6
    print(f"{kind}, {rows:,} rows ({mb:.0f} MB), {ROUNDS} rounds")
    print(line("polars.read_csv process", [w for w, _, _ in base], " s"))
    print(line("cio import --dry-run", [w for w, _, _ in ours], " s"))
    ratios = [o[0] / b[0] for o, b in zip(ours, base, strict=True)]
    ok = "ok" if statistics.median(ratios) <= TARGET[kind] else "missed"
    print(line("ratio", ratios, "x") + f"  target {TARGET[kind]}x: {ok}")
    print(line("CPU s, polars.read_csv process", [c for _, c, _ in base], " s"))
    print(line("CPU s, cio import --dry-run", [c for _, c, _ in ours], " s"))
    peak_base, peak_ours = max(p for _, _, p in base), max(p for _, _, p in ours)
    print(f"  peak RSS: polars.read_csv {peak_base:.0f} MiB, cio {peak_ours:.0f} MiB")


def main() -> None:
    args = sys.argv[1:]
    kind = "plain" if "--plain" in args else "warehouse"
    sizes = [int(a) for a in args if a != "--plain"] or [300_000, 1_000_000]
    for rows in sizes:
        bench(kind, rows)


if __name__ == "__main__":
    main()
