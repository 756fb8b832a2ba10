"""What ``--max-rejected`` costs a real import: pass 1 with every rule on every row (and every
column read) against pass 1 as it is without the flag (types, identifier kinds, the window).

Usage: python bench/bench_threshold.py FILE [REPEAT]   (FILE: e.g. from bench/gen.py)
Prints the best time of REPEAT runs of each pass 1, and the rows the rules reject.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from cio_cli.check.contract import ReadOptions
from cio_cli.importer.scan import open_input, scan
from cio_cli.read.places import LocalFile


def best(path: Path, every_rule: bool, repeat: int) -> tuple[float, int]:
    """The best wall time of ``repeat`` pass 1s, and the rows the rules reject."""
    times, ruled = [], 0
    for _ in range(repeat):
        inp = open_input(LocalFile(path), str(path), path.with_name("r.csv"), ReadOptions())
        started = time.perf_counter()
        found = scan(inp, ReadOptions(), int(time.time()), every_rule=every_rule)
        times.append(time.perf_counter() - started)
        ruled = found.ruled
    return min(times), ruled


def main() -> None:
    """Print both timings."""
    path, repeat = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 3
    plain, _ = best(path, False, repeat)
    full, ruled = best(path, True, repeat)
    print(f"pass 1 as without --max-rejected: {plain:.2f} s")
    print(f"pass 1 with every rule (--max-rejected): {full:.2f} s ({ruled:,} rows rejected)")
    print(f"cost: +{full - plain:.2f} s ({full / plain:.2f}x)")


if __name__ == "__main__":
    main()
