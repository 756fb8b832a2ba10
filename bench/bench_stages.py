"""Where a dry run's CPU goes, stage by stage, on one thread.

Usage: POLARS_MAX_THREADS=1 python bench/bench_stages.py [ROWS]   (default: 1000000)

Runs the one-read dry run's stages in order over every chunk of
bench/data/events_<ROWS>.csv (generated once), in this process and without
worker threads, and prints the seconds each stage took in all.
"""

from __future__ import annotations

import collections
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

from gen import ensure  # noqa: E402 - bench/ is the script's directory

from cio_cli.check import inference, rows
from cio_cli.check.contract import ReadOptions, layout
from cio_cli.encode import events
from cio_cli.encode.batches import Packer
from cio_cli.encode.dedup import Seen
from cio_cli.importer.emit import Emit, judge
from cio_cli.importer.scan import kinds_of
from cio_cli.read.files import CsvSource

T = TypeVar("T")
SPENT: collections.defaultdict[str, float] = collections.defaultdict(float)


def timed(stage: str, fn: Callable[..., T], *args: Any) -> T:
    start = time.perf_counter()
    result = fn(*args)
    SPENT[stage] += time.perf_counter() - start
    return result


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    opts, now = ReadOptions(), int(time.time())
    source = CsvSource(ensure(count), "utf-8")
    bodies = timed("cutting into chunks", lambda: list(source.bodies()))
    lay = layout(source.header, {})
    inferred, how = inference.Inference(lay, opts), Emit(now=now, batch_bytes=475_000)
    events._build_quads()
    seen, packer = Seen(), Packer(how.batch_bytes, how.api)
    for body in bodies:
        parsed = timed("parsing + byte checks", source.parse, body)
        assert parsed is not None
        df, plain = parsed
        inferred.add(timed("type inference", inferred.stats, df))
        checked = timed("row rules", rows.check_rows, df, lay, opts, now)
        timed("kinds + window", kinds_of, checked.identified)
        types = inferred.types()
        judged = timed("encoding", judge, df, checked, lay, how, types, plain)
        timed("duplicates", seen.first_seen, judged.fingerprints)
        timed("packing", lambda events: list(packer.add(events)), judged.events)
    for stage, seconds in SPENT.items():
        print(f"{stage:24} {seconds:5.2f} s")
    print(f"{'total':24} {sum(SPENT.values()):5.2f} s")


if __name__ == "__main__":
    main()
