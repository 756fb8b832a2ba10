"""Does cio reach the rate asked for, whatever the latency? (issue 14; run by hand)

Usage: python bench/bench_rate.py [ROWS]   (default 200000)

Against the fake Track API on 127.0.0.1 answering after a fixed delay, both
``tests.fakecio --no-store`` (which validates every op in Python, on the same 2 cores as cio)
and bench_send.py's lean server (auth and op count only): ``cio import`` of
``bench/data/events_<ROWS>.csv`` with ``--batch-bytes 20000`` (about 2,500 requests for
200,000 rows), timed over the whole run (start-up and the check pass included):

- 100 ms, default flags (``--rate 100``): target at least 92 requests/s;
- 100 ms, ``--rate 300``: target at least 250 requests/s;
- 50 ms, ``--concurrency 8 --rate 1000``: target at least 135 requests/s, next to plain
  httpx threads (8 threads posting the same bodies in a loop, nothing else) against the
  same server.

Each line prints requests/s over the whole run, the most requests in flight at once (the
human summary's ``most in flight``) and the retries.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from bench_send import KEY, ROOT, SITE, fake_server, timed  # noqa: E402
from gen import ensure  # noqa: E402 - bench/ is the script's directory

BATCH = ["--batch-bytes", "20000"]
CASES = [
    ("100 ms, default flags", 0.1, [], 92),
    ("100 ms, --rate 300", 0.1, ["--rate", "300"], 250),
    ("50 ms, --concurrency 8 --rate 1000", 0.05, ["--concurrency", "8", "--rate", "1000"], 135),
]


def bodies(path: Path) -> list[bytes]:
    """The request bodies cio would send (its dry run's ``--out``)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.ndjson"
        timed([sys.executable, "-m", "cio_cli", "import", str(path), "--dry-run", "--out",
               str(out), "--quiet", "--allow-recent", *BATCH])  # fmt: skip
        return out.read_bytes().splitlines()


def plain_threads(url: str, payloads: list[bytes], threads: int = 8) -> float:
    """Requests/s of ``threads`` plain httpx threads posting ``payloads`` in a loop."""
    todo = iter(payloads)
    lock = threading.Lock()
    client = httpx.Client(base_url=url, auth=(SITE, KEY), limits=httpx.Limits(
        max_connections=threads))  # fmt: skip

    def work() -> None:
        while True:
            with lock:
                body = next(todo, None)
            if body is None:
                return
            client.post("/api/v2/batch", content=body,
                        headers={"Content-Type": "application/json"})  # fmt: skip

    start = time.perf_counter()
    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    client.close()
    return len(payloads) / (time.perf_counter() - start)


def run_cio(path: Path, url: str, flags: list[str]) -> tuple[float, dict[str, int]]:
    """Wall seconds of one ``cio import`` and the figures of its human summary (stderr)."""
    cmd = [sys.executable, "-m", "cio_cli", "import", str(path), "--base-url", url,
           "--site-id", SITE, "--api-key", KEY, "--quiet", "--allow-recent", "--restart",
           *BATCH, *flags]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"cio exited {done.returncode}:\n{done.stderr[-2000:]}")
    figures = {}
    for label in ("rows", "sent", "requests", "retries", "most in flight"):
        found = re.search(rf"\b{label}\W+([0-9,]+)", done.stderr)
        figures[label] = int(found.group(1).replace(",", "")) if found else 0
    return wall, figures


def main(rows: int) -> None:
    """Run every case and print its figures."""
    path = ensure(rows)
    print(f"{rows:,} rows, --batch-bytes 20000")
    for (label, delay, flags, target), lean in itertools.product(CASES, (False, True)):
        label = f"{label} ({'lean' if lean else 'fakecio'})"
        with fake_server(delay, lean) as fake:
            before = fake.stats()["accepted"]
            wall, got = run_cio(path, fake.url, flags)
            accepted = fake.stats()["accepted"] - before
            if accepted != rows or got["sent"] != rows:
                raise SystemExit(f"{label}: sent {got['sent']:,}, the fake accepted {accepted:,}")
            requests = got["requests"]
            print(f"  {label:36} {requests / wall:6.1f} requests/s (target >= {target})"
                  f"  {requests:,} requests in {wall:.2f} s, most in flight"
                  f" {got['most in flight']}, retries {got['retries']}")  # fmt: skip
            if delay == 0.05 and not lean:
                rate = plain_threads(fake.url, bodies(path)[:1000])
                print(f"  {'50 ms, 8 plain httpx threads':36} {rate:6.1f} requests/s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
