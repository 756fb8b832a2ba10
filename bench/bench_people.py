"""A people dry run against the events dry run of the same file: speed and memory.

Usage: python bench/bench_people.py [ROWS ...] [--rounds N]   (default: 1000000, 3 rounds)

For each size it takes bench/data/events_<ROWS>.csv (gen.py, generated once) and runs, in
turns, ``cio import FILE --dry-run --quiet`` (events) and ``cio import FILE --kind people
--map _cio_name=- --dry-run --quiet`` (the same rows as people: the same identifier, timestamp
and six data columns, now attributes), ``--rounds`` times each. It prints the best wall time,
the CPU time and the peak RSS of each kind, the ratios, and whether people stay within 1.2x
of the events' time and within their memory.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench_dryrun import measure  # noqa: E402 - bench/ is the script's directory
from gen import ensure  # noqa: E402

TIME_LIMIT = 1.2  # people's best wall time, at most this times the events'


def options(argv: list[str]) -> tuple[list[int], int]:
    """The sizes and the rounds from the command line."""
    rounds = 3
    if "--rounds" in argv:
        at = argv.index("--rounds")
        rounds = int(argv[at + 1])
        argv = argv[:at] + argv[at + 2 :]
    return [int(a) for a in argv] or [1_000_000], rounds


def main() -> None:
    """Measure both kinds for each size and print the figures."""
    sizes, rounds = options(sys.argv[1:])
    cio = str(Path(sys.executable).with_name("cio"))
    for rows in sizes:
        path = str(ensure(rows))
        runs = {
            "events": [cio, "import", path, "--dry-run", "--quiet"],
            "people": [cio, "import", path, "--kind", "people", "--map", "_cio_name=-",
                       "--dry-run", "--quiet"],  # fmt: skip
        }
        found: dict[str, list[tuple[float, float, float]]] = {k: [] for k in runs}
        for _ in range(rounds):  # in turns, so that a busy moment hits both alike
            for kind, cmd in runs.items():
                found[kind].append(measure(cmd))
        best = {kind: min(r) for kind, r in found.items()}
        peak = {kind: max(p for _, _, p in r) for kind, r in found.items()}
        print(f"{rows:,} rows, best of {rounds}")
        for kind, (wall, cpu, _) in best.items():
            print(f"  {kind:7} {wall:6.2f} s wall  {cpu:6.2f} s cpu  {peak[kind]:6.0f} MB peak")
        ratio = best["people"][0] / best["events"][0]
        print(f"  people/events: {ratio:.2f}x wall, {peak['people'] / peak['events']:.2f}x peak")
        fits = ratio <= TIME_LIMIT and peak["people"] <= peak["events"]
        print(f"  within {TIME_LIMIT}x and the events' memory: {'yes' if fits else 'no'}")


if __name__ == "__main__":
    main()
