"""cio against Customer.io's own Pipelines library, same rows, same local server (run by hand).

Usage: python bench/bench_pipelines.py [ROWS]   (default: 20000)

A local Pipelines API on 127.0.0.1 answers every ``POST /v1/batch`` after 20 ms, in strict
mode (``X-Strict-Mode: 1``: a call without ``messageId``, ``event`` or a person is answered
400, as Customer.io does), and keeps every ``messageId`` it accepts. Then, in one run:

1. Customer.io's library (``customerio-cdp-analytics``, installed with pip into this
   interpreter if missing; never a dependency of the project): a plain loop of
   ``Client.track()`` over ``bench/data/events_<ROWS>.csv``, then ``shutdown()`` (flush and
   wait), with its defaults;
2. ``cio import --api pipelines`` of the same file.

It prints each one's wall time and how many distinct events the server stored. The issue's
target: cio stores every event, in at most half the library's time.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gen import ensure  # noqa: E402 - bench/ is the script's directory

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-pipelines-key"  # not region-prefixed: Basic auth, any host
DELAY_S = 0.020


class _Handler(BaseHTTPRequestHandler):
    """``/v1/batch`` in strict mode after ``DELAY_S``; ``GET`` serves the counters."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    lock = threading.Lock()
    seen: set[str] = set()
    counts = {"requests": 0, "calls": 0, "refused": 0}

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def do_GET(self) -> None:
        """The counters and the number of distinct messageIds stored."""
        with self.lock:
            self._reply(200, json.dumps({**self.counts, "stored": len(self.seen)}).encode())

    def do_POST(self) -> None:
        """Store the batch's calls by messageId (strict: any bad call refuses the request)."""
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            import gzip

            body = gzip.decompress(body)
        time.sleep(DELAY_S)
        calls = json.loads(body).get("batch", []) if self.path == "/v1/batch" else []
        ids = [c.get("messageId") for c in calls]
        good = all(i and c.get("event") and (c.get("userId") or c.get("anonymousId"))
                   for i, c in zip(ids, calls, strict=True))  # fmt: skip
        with self.lock:
            self.counts["requests"] += 1
            self.counts["calls"] += len(calls)
            if good or self.headers.get("X-Strict-Mode") != "1":
                self.seen.update(i for i in ids if i)
            else:
                self.counts["refused"] += 1
        if good or self.headers.get("X-Strict-Mode") != "1":
            self._reply(200, b"{}")
        else:
            self._reply(400, b'{"meta":{"error":"invalid call"}}')

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve() -> None:
    """``python bench/bench_pipelines.py _serve``: the server; its URL on stdout."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


@contextmanager
def server() -> Iterator[str]:
    """Run the server in a child process (so it does not share this one's GIL)."""
    proc = subprocess.Popen([sys.executable, __file__, "_serve"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"the server did not start: {url!r}")
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def stored(url: str) -> dict[str, int]:
    """The server's counters."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        doc = json.loads(resp.read())
    assert isinstance(doc, dict)
    return doc


def library() -> Any:
    """Customer.io's Pipelines library, installed with pip into this interpreter if missing."""
    try:
        from customerio import analytics  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                        "customerio-cdp-analytics==1.1.0"], check=True)  # fmt: skip
        from customerio import analytics  # type: ignore[import-untyped, import-not-found, unused-ignore]
    return analytics


def library_loop(path: Path, url: str) -> float:
    """``Client.track()`` for every row, then ``shutdown()``: the seconds it took."""
    client = library().Client(write_key=KEY, host=url)
    logging.disable(logging.CRITICAL)  # one "queue is full" line per dropped event
    start = time.perf_counter()
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            user, event = row.pop("_cio_customer_id"), row.pop("_cio_name")
            when = datetime.fromtimestamp(int(row.pop("_cio_timestamp")), UTC)
            client.track(user_id=user, event=event, properties=row, timestamp=when)
    client.shutdown()
    wall = time.perf_counter() - start
    logging.disable(logging.NOTSET)
    return wall


def cio_import(path: Path, url: str) -> tuple[float, dict[str, Any]]:
    """``cio import --api pipelines`` of ``path``: seconds and its --json summary."""
    journal = Path(f"{path}.cio-journal")
    cmd = [sys.executable, "-m", "cio_cli", "import", str(path), "--api", "pipelines",
           "--pipelines-key", KEY, "--base-url", url, "--allow-recent", "--restart",
           "--quiet", "--json"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIO_")}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"cio exited {proc.returncode}: {proc.stderr[-2000:]}")
    journal.unlink(missing_ok=True)
    doc = json.loads(proc.stdout)
    assert isinstance(doc, dict)
    return wall, doc


def main(argv: list[str]) -> None:
    if argv[:1] == ["_serve"]:
        serve()
        return
    rows = int(argv[0]) if argv else 20_000
    path = ensure(rows)
    library()  # installed before the clock starts
    with server() as url:
        lib_s = library_loop(path, url)
        lib = stored(url)
    with server() as url:
        cio_s, doc = cio_import(path, url)
        ours = stored(url)
    print(f"pipelines: {rows:,} rows, a local Pipelines API answering in {DELAY_S * 1000:.0f} ms")
    print(f"  customerio-cdp-analytics track() loop  {lib_s:7.2f} s  stored {lib['stored']:,}"
          f" of {rows:,} ({lib['requests']:,} requests)")  # fmt: skip
    print(f"  cio import --api pipelines             {cio_s:7.2f} s  stored {ours['stored']:,}"
          f" of {rows:,} ({ours['requests']:,} requests, sent {doc['sent']:,})")  # fmt: skip
    print(f"  cio / library time                     {cio_s / lib_s:7.2f}x  (target <= 0.5x,"
          " every event stored)")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
