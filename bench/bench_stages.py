"""Where a dry run's CPU goes, stage by stage, on one thread.

Usage: POLARS_MAX_THREADS=1 python bench/bench_stages.py [--warehouse] [--profile N] [ROWS]
(default: 1000000 rows)

Runs the one-read dry run's stages in order over every chunk of
bench/data/events_<ROWS>.csv (bench/gen.py; generated once), or with ``--warehouse``
bench/data/warehouse_<ROWS>.csv read with its flags (bench/gen_warehouse.py), in this
process and without worker threads, and prints the CPU seconds each stage took in all
(steadier than wall time on a shared machine).
``--profile N`` adds the N functions that took the most time of their own (cProfile),
which splits the stages further (a timestamp form, the JSON column, the ids).
"""

from __future__ import annotations

import collections
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import gen_warehouse
from gen import ensure  # noqa: E402 - bench/ is the script's directory

from cio_cli.check import inference, rows
from cio_cli.check.contract import ReadOptions, layout
from cio_cli.encode.batches import Packer
from cio_cli.encode.dedup import Seen
from cio_cli.importer.emit import Emit, judge
from cio_cli.importer.scan import kinds_of
from cio_cli.read.files import CsvSource

T = TypeVar("T")
SPENT: collections.defaultdict[str, float] = collections.defaultdict(float)


def timed(stage: str, fn: Callable[..., T], *args: Any) -> T:
    start = time.process_time()
    result = fn(*args)
    SPENT[stage] += time.process_time() - start
    return result


def options(warehouse: bool) -> ReadOptions:
    """The options: none, or the warehouse export's ``--map``, ``--null-value``, ``--type``."""
    if not warehouse:
        return ReadOptions()
    return ReadOptions(
        type_overrides=dict(gen_warehouse.TYPES),
        column_map=dict(gen_warehouse.MAP),
        null_values=gen_warehouse.NULLS,
    )


def stages(count: int, warehouse: bool) -> None:
    """Every stage of the dry run over every chunk of the file, each timed."""
    opts, now = options(warehouse), int(time.time())
    path = gen_warehouse.ensure(count) if warehouse else ensure(count)
    source = CsvSource(path, "utf-8")
    source.nulls = opts.null_values
    bodies = timed("cutting into chunks", lambda: list(source.bodies()))
    lay = layout(source.header, opts.type_overrides, opts.column_map)
    inferred, how = inference.Inference(lay, opts), Emit(now=now, batch_bytes=475_000)
    seen, packer = Seen(), Packer(how.batch_bytes, how.api)
    for body in bodies:
        parsed = timed("parsing + byte checks", source.parse, body)
        assert parsed is not None
        df = timed("blank lines + nulls", source._cells, parsed[0])
        plain = parsed[1]
        inferred.add(timed("type inference", inferred.stats, df))
        checked = timed("row rules", rows.check_rows, df, lay, opts, now)
        timed("kinds + window", kinds_of, checked.identified)
        types = inferred.types()
        judged = timed("encoding", judge, df, checked, lay, how, types, plain)
        timed("duplicates", seen.first_seen, judged.fingerprints)
        timed("packing", lambda events: list(packer.add(events)), judged.events)


def main() -> None:
    args = sys.argv[1:]
    warehouse = "--warehouse" in args
    top = int(args[args.index("--profile") + 1]) if "--profile" in args else 0
    rest = [a for i, a in enumerate(args) if a.isdigit() and (i == 0 or args[i - 1] != "--profile")]
    count = int(rest[0]) if rest else 1_000_000
    profile = cProfile.Profile()
    profile.runcall(stages, count, warehouse) if top else stages(count, warehouse)
    for stage, seconds in SPENT.items():
        print(f"{stage:24} {seconds:5.2f} s")
    print(f"{'total':24} {sum(SPENT.values()):5.2f} s")
    if top:
        pstats.Stats(profile).sort_stats("tottime").print_stats(top)


if __name__ == "__main__":
    main()
