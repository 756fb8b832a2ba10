"""What the journal costs on a real 1,000,000-row import (run by hand; not a test).

Usage: python bench/bench_journal.py [ROWS] [--repeat N] [-- extra cio flags]

Sends ``bench/data/events_ROWS.csv`` (made by ``bench/gen.py`` if missing; default 1,000,000
rows) to ``python -m tests.fakecio --no-store`` on 127.0.0.1, N times each way, alternating:

journal on   ``cio import`` as a user runs it, the journal deleted first;
journal off  the same command through a wrapper that replaces ``cio_cli.importer.run._fingerprints``
             with one returning ``{}``: no file is hashed and no journal is opened or written.

Then once more with the finished journal in place ("already imported": pass 1, the hash and
reading the journal; nothing sent). Prints wall and CPU seconds of each run, the journal's
size, and its records. The input is hard-linked into a temporary directory of its own, so a
journal left beside ``bench/data/events_ROWS.csv`` by another run is neither used nor touched.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_send import fake_server  # noqa: E402 - bench/ is the script's directory
from gen import options, work_copy  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
SITE, KEY = "S", "K"
NO_JOURNAL = (
    "import sys\n"
    "import cio_cli.importer.run\n"
    "cio_cli.importer.run._fingerprints = lambda *args, **kwargs: {}\n"
    "from cio_cli.cli import main\n"
    "sys.argv[0] = 'cio'\n"
    "main()\n"
)


def stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_fake/stats", timeout=10) as resp:
        doc = json.loads(resp.read())
    assert isinstance(doc, dict)
    return doc


@dataclass
class Run:
    """One finished import: wall and CPU seconds, its --json object, events the fake took."""

    label: str
    wall: float
    cpu: float
    doc: dict[str, Any]
    accepted: int


def timed(label: str, cmd: list[str], url: str, cwd: Path) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIO_")}
    env |= {"CIO_SITE_ID": SITE, "CIO_API_KEY": KEY}
    before = stats(url)["accepted"]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code != 0:
        raise SystemExit(f"{label}: exited {code}:\n{stderr[-2000:]}")
    doc = json.loads(stdout)
    return Run(label, wall, usage.ru_utime + usage.ru_stime, doc, stats(url)["accepted"] - before)


def main(argv: list[str]) -> None:
    rows, repeat, extra = options(argv, repeat=1)
    with work_copy(rows, "bench-journal-") as (work, path):
        jpath = path.with_name(path.name + ".cio-journal")
        with fake_server(0.0) as fake:
            url = fake.url
            args = ["import", str(path), "--base-url", url, "--quiet", "--json", *extra]
            on_cmd = [sys.executable, "-m", "cio_cli", *args]
            off_cmd = [sys.executable, "-c", NO_JOURNAL, *args]
            runs: dict[str, list[Run]] = {"journal on": [], "journal off": []}
            size = records = 0
            kept = b""
            for i in range(repeat):
                order = (
                    ["journal on", "journal off"] if i % 2 == 0 else ["journal off", "journal on"]
                )
                for label in order:
                    jpath.unlink(missing_ok=True)
                    run = timed(label, on_cmd if label == "journal on" else off_cmd, url, work)
                    if run.doc["sent"] != rows or run.accepted != rows:
                        raise SystemExit(f"{label}: sent {run.doc['sent']}, the fake took"
                                         f" {run.accepted}, expected {rows}")  # fmt: skip
                    if label == "journal off" and jpath.exists():
                        raise SystemExit("journal off wrote a journal")
                    if label == "journal on":
                        raw = kept = jpath.read_bytes()
                        size, records = len(raw), raw.count(b"\n")
                        if not raw.splitlines()[-1].startswith(b"D "):
                            raise SystemExit("journal on: the journal is not finished")
                    runs[label].append(run)
                    print(f"{label:12} run {i + 1}: wall {run.wall:6.2f} s  cpu {run.cpu:6.2f} s"
                          f"  requests {run.doc['requests']}", flush=True)  # fmt: skip
            jpath.write_bytes(kept)  # the finished journal of the last "journal on" run
            again = timed("already imported", on_cmd, url, work)
            if again.accepted or again.doc["requests"] or again.doc["resumed"] != rows:
                raise SystemExit(f"already imported: {again.doc}")
        print()
        print(f"input: {rows:,} rows, {path.stat().st_size:,} bytes; flags: {' '.join(extra)}")
        print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for label, done in runs.items():
            walls = [r.wall for r in done]
            cpus = [r.cpu for r in done]
            print(f"{label:12} wall median {statistics.median(walls):6.2f} s"
                  f" (min {min(walls):.2f})  cpu median {statistics.median(cpus):6.2f} s"
                  f"  requests {done[0].doc['requests']}")  # fmt: skip
        on = statistics.median(r.wall for r in runs["journal on"])
        off = statistics.median(r.wall for r in runs["journal off"])
        print(f"journal cost: {on - off:+.2f} s wall ({(on - off) / off * 100:+.1f}%)")
        print(f"journal size: {size:,} bytes, {records:,} records"
              f" ({size / rows:.4f} bytes a row)")  # fmt: skip
        print(
            f"rerun, already imported: wall {again.wall:.2f} s, cpu {again.cpu:.2f} s, nothing sent"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
