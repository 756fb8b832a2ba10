"""A rerun of a finished import against ``sha256sum`` of the file (run by hand; not a test).

Usage: python bench/bench_rerun.py [ROWS] [--repeat N]

Imports ``bench/data/events_ROWS.csv`` (made by ``bench/gen.py`` if missing; default
1,000,000 rows) once to the lean local server of bench_send.py (127.0.0.1), so that its
journal is finished, then times, alternating, N times each (default 5):

rerun        the same ``cio import`` again: "already imported" from the counts the journal
             stored, after hashing the file (no pass reads it); nothing sent;
sha256sum    ``sha256sum`` of the same file (the floor: hashing it at all);

and once "the old way": the journal's ``D`` record rewritten as an older ``cio`` wrote it
(no counts), so the rerun reads the file twice before answering. Target: the rerun takes at
most 1.5x ``sha256sum`` (medians). The input is hard-linked into a temporary directory, so
journals beside ``bench/data/`` files are neither used nor touched.
"""

from __future__ import annotations

import os
import statistics
import sys
import zlib
from pathlib import Path

from bench_send import CIO, KEY, SITE, Run, fake_server, timed  # noqa: E402 - bench/ is here
from gen import options, work_copy  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"


def old_style(journal: Path) -> None:
    """Rewrite the last ``D`` record as a timestamp alone, as ``cio`` wrote it before."""
    lines = journal.read_bytes().splitlines(keepends=True)
    text = lines[-1][:-1].decode().rpartition(" ")[0]
    assert text.startswith("D "), text
    stamp = text.split(" ")[1]
    plain = f"D {stamp}"
    lines[-1] = f"{plain} {zlib.crc32(plain.encode()):08x}\n".encode()
    journal.write_bytes(b"".join(lines))


def main(argv: list[str]) -> None:
    rows, repeat, _ = options(argv, repeat=5)
    with work_copy(rows, "bench-rerun-") as (work, path):
        with fake_server(0.0, lean=True) as fake:
            cmd = [*CIO, "import", str(path), "--base-url", fake.url, "--site-id", SITE,
                   "--api-key", KEY, "--quiet", "--json", "--rate", "10000"]  # fmt: skip
            first = timed(cmd)
            assert first.doc is not None and first.doc["sent"] == rows, first.doc
            sent = fake.stats()["accepted"]
            runs: dict[str, list[Run]] = {"rerun": [], "sha256sum": []}
            for i in range(repeat):
                order = ["rerun", "sha256sum"] if i % 2 == 0 else ["sha256sum", "rerun"]
                for label in order:
                    run = timed(cmd if label == "rerun" else ["sha256sum", str(path)])
                    if label == "rerun":
                        doc = run.doc
                        assert doc is not None and doc["resumed"] == rows == doc["sent"], doc
                        assert doc["requests"] == 0 and doc["exit_code"] == 0, doc
                    runs[label].append(run)
                    print(f"{label:10} run {i + 1}: wall {run.wall:6.3f} s  cpu {run.cpu:6.3f} s",
                          flush=True)  # fmt: skip
            old_style(path.with_name(path.name + ".cio-journal"))
            old = timed(cmd)
            assert old.doc is not None and old.doc["resumed"] == rows, old.doc
            assert fake.stats()["accepted"] == sent, "a rerun sent events"
        print()
        print(f"input: {rows:,} rows, {path.stat().st_size:,} bytes; {os.cpu_count()} CPUs;"
              f" first import {first.wall:.2f} s")  # fmt: skip
        for label, done in runs.items():
            walls = [r.wall for r in done]
            print(f"{label:10} wall median {statistics.median(walls):6.3f} s (min {min(walls):.3f})"
                  f"  cpu median {statistics.median(r.cpu for r in done):6.3f} s")  # fmt: skip
        ratio = statistics.median(r.wall for r in runs["rerun"]) / statistics.median(
            r.wall for r in runs["sha256sum"]
        )
        print(f"rerun / sha256sum: {ratio:.2f}x (target <= 1.5x)")
        print(f"the old way (a D record without counts: both passes): wall {old.wall:.2f} s,"
              f" cpu {old.cpu:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
