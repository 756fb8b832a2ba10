"""Three shards at once against one unsharded import (run by hand; not a test).

Usage: python bench/bench_shards.py [ROWS] [--repeat N] [-- extra cio flags]

Sends ``bench/data/events_ROWS.csv`` (made by ``bench/gen.py`` if missing; default 1,000,000
rows) to the lean local server of bench_send.py (127.0.0.1, answers at once), N times each
way (default 2), alternating:

whole        one ``cio import FILE``;
3 shards     ``cio import FILE --shard 1/3``, ``2/3`` and ``3/3`` started together as three
             processes; the time is until the last one ends.

Every run starts with ``--restart`` (no journal skips work) at ``--rate 10000`` (so the rate
limit, which each shard has for itself, does not decide), and must deliver every event once.
Then shard 1/3 alone (what one runner of a job matrix takes), and what each shard pays for
the whole-file validation SPEC asks of it: ``cio validate FILE`` and a dry run of one shard.
Target: three shards within 1.3x of the unsharded import.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_send import CIO, KEY, SITE, Fake, fake_server, timed  # noqa: E402 - bench/ is here
from gen import options, work_copy  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"


def together(cmds: list[list[str]]) -> tuple[float, float]:
    """Run ``cmds`` at once; wall seconds until the last ends, and their CPU seconds."""
    start = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in cmds]
    cpu = 0.0
    for proc in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        assert proc.stderr is not None
        if code != 0:
            raise SystemExit(f"a shard exited {code}: {proc.stderr.read()[-2000:]!r}")
        proc.stderr.close()
        cpu += usage.ru_utime + usage.ru_stime
    return time.perf_counter() - start, cpu


def delivered(fake: Fake, before: int, rows: int, label: str) -> None:
    got = fake.stats()["accepted"] - before
    if got != rows:
        raise SystemExit(f"{label}: the server took {got:,} events, expected {rows:,}")


def main(argv: list[str]) -> None:
    rows, repeat, extra = options(argv, repeat=2)
    with work_copy(rows, "bench-shards-") as (work, path):
        walls: dict[str, list[float]] = {"whole": [], "3 shards": []}
        cpus: dict[str, list[float]] = {"whole": [], "3 shards": []}
        with fake_server(0.0, lean=True) as fake:
            base = [*CIO, "import", str(path), "--base-url", fake.url, "--site-id", SITE,
                    "--api-key", KEY, "--quiet", "--json", "--restart", "--rate", "10000",
                    *extra]  # fmt: skip
            for i in range(repeat):
                order = ["whole", "3 shards"] if i % 2 == 0 else ["3 shards", "whole"]
                for label in order:
                    before = fake.stats()["accepted"]
                    if label == "whole":
                        wall, cpu = together([base])
                    else:
                        wall, cpu = together([[*base, "--shard", f"{k}/3"] for k in (1, 2, 3)])
                    delivered(fake, before, rows, label)
                    walls[label].append(wall)
                    cpus[label].append(cpu)
                    print(f"{label:9} run {i + 1}: wall {wall:6.2f} s  cpu {cpu:6.2f} s",
                          flush=True)  # fmt: skip
            before = fake.stats()["accepted"]
            alone = together([[*base, "--shard", "1/3"]])
            share = fake.stats()["accepted"] - before
        check = timed([*CIO, "validate", str(path), "--quiet", "--json"])
        one = timed([*CIO, "import", str(path), "--dry-run", "--shard", "1/3", "--quiet",
                     "--json"])  # fmt: skip
        whole_dry = timed([*CIO, "import", str(path), "--dry-run", "--quiet", "--json"])
        print()
        print(f"input: {rows:,} rows, {path.stat().st_size:,} bytes; {os.cpu_count()} CPUs;"
              f" flags: --rate 10000 {' '.join(extra)}")  # fmt: skip
        print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for label in walls:
            wall, cpu = statistics.median(walls[label]), statistics.median(cpus[label])
            print(f"{label:9} wall median {wall:6.2f} s (min {min(walls[label]):.2f})"
                  f"  cpu median {cpu:6.2f} s")  # fmt: skip
        ratio = statistics.median(walls["3 shards"]) / statistics.median(walls["whole"])
        print(f"3 shards / whole: {ratio:.2f}x (target <= 1.3x)")
        print(f"shard 1/3 alone: wall {alone[0]:.2f} s, cpu {alone[1]:.2f} s ({share:,} events)")
        print(f"whole-file validation each shard pays: cio validate {check.wall:.2f} s wall,"
              f" {check.cpu:.2f} s cpu")  # fmt: skip
        print(
            f"dry run of shard 1/3: {one.wall:.2f} s wall, {one.cpu:.2f} s cpu;"
            f" of the whole file: {whole_dry.wall:.2f} s wall, {whole_dry.cpu:.2f} s cpu"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
