"""Real sending speed, against the fake Track API on 127.0.0.1 (run by hand; not a test).

Usage: python bench/bench_send.py [all|send|throughput|official] [ROWS]

send        1,000,000 rows, fake with no delay: ``cio import`` vs ``cio import --dry-run
            --out /dev/null``; target: sending takes at most 1.5x the dry run. Also sent to a
            lean server (auth check and op count only: tests.fakecio validates every op in
            Python and on 2 cores competes with cio for the CPU), at the default --rate 100,
            at --rate 1000 (Customer.io's published limit) and at --rate 10000, so cio's own
            cost shows.
throughput  30,000 rows cut into ~300 requests, fake answering after 50 ms, ``--concurrency 8
            --rate 1000``; target: at least 128 requests/s (80% of 8 / 0.05 s = 160).
official    ROWS rows (default 20,000), fake answering after 5 ms: ``cio import`` vs a loop of
            ``CustomerIO.track`` from the official ``customerio`` package (installed into this
            interpreter with pip if missing; never a dependency of the project); target: the
            loop takes at least 50x as long. At 5 ms a request, 20,000 rows take ~2 minutes.

Data files are made by ``bench/gen.py`` in ``bench/data/`` once and reused. The fake runs as
``python -m tests.fakecio --no-store`` in a child process; every request goes to 127.0.0.1.
"""

from __future__ import annotations

import base64
import csv
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gen import ensure  # noqa: E402 - bench/ is the script's directory

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
SITE, KEY = "S", "K"
CIO = [sys.executable, "-m", "cio_cli"]


class Fake:
    """A running ``python -m tests.fakecio`` child process."""

    def __init__(self, url: str, proc: subprocess.Popen[str]) -> None:
        self.url = url
        self.proc = proc

    def stats(self) -> dict[str, Any]:
        """The fake's counters (``GET /_fake/stats``): requests, accepted, ..."""
        with urllib.request.urlopen(f"{self.url}/_fake/stats", timeout=10) as resp:
            doc = json.loads(resp.read())
        assert isinstance(doc, dict)
        return doc


@contextmanager
def fake_server(delay: float, lean: bool = False) -> Iterator[Fake]:
    """Start the fake on a free port of 127.0.0.1 with ``delay`` before each reply.

    ``lean``: instead of tests.fakecio (which validates every op in Python, costing more CPU
    than cio itself on a 2-core machine), a server that only checks auth and counts ops.
    """
    cmd = [sys.executable, "-m", "tests.fakecio", "--port", "0", "--no-store",
           "--site-id", SITE, "--api-key", KEY, "--delay", str(delay)]  # fmt: skip
    if lean:
        cmd = [sys.executable, str(Path(__file__).resolve()), "_lean", str(delay)]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"the fake did not start: {url!r}")
        yield Fake(url, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _LeanHandler(BaseHTTPRequestHandler):
    """Checks Basic auth, counts the ops of a batch (or one v1 event), answers 200 ``{}``."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each keep-alive request stalls ~40 ms on delayed ACKs
    auth = "Basic " + base64.b64encode(f"{SITE}:{KEY}".encode()).decode()
    lock = threading.Lock()
    counts = {"requests": 0, "accepted": 0}
    delay = 0.0  # seconds before each answer to a POST

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def do_GET(self) -> None:
        """Serve the counters at any path."""
        with self.lock:
            self._reply(200, json.dumps(self.counts).encode())

    def do_POST(self) -> None:
        """Accept a request without validating its ops (the work is on cio's side)."""
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Authorization") != self.auth:
            self._reply(401, b'{"meta":{"error":"Unauthorized request"}}')
            return
        ops = body.count(b'"action":"event"') if self.path == "/api/v2/batch" else 1
        with self.lock:
            self.counts["requests"] += 1
            self.counts["accepted"] += ops
        if self.delay:
            time.sleep(self.delay)
        self._reply(200, b"{}")

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve_lean(delay: float = 0.0) -> None:
    """``python bench/bench_send.py _lean [DELAY]``: the lean server on 127.0.0.1 (answering
    after DELAY seconds); URL on stdout."""
    _LeanHandler.delay = delay
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LeanHandler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


def restart_flag() -> list[str]:
    """``--restart`` once cio has it, so a journal from an earlier run never skips the work."""
    shown = subprocess.run([*CIO, "import", "--help"], capture_output=True, text=True, check=False)
    return ["--restart"] if "--restart" in shown.stdout else []


@dataclass
class Run:
    """One finished run of cio: wall and CPU seconds, and its --json object (if any)."""

    wall: float
    cpu: float
    doc: dict[str, Any] | None


def timed(cmd: list[str]) -> Run:
    """Run ``cmd`` once (it must exit 0): wall and CPU time, and its --json object."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{stderr[-2000:]}")
    doc = json.loads(stdout) if stdout.strip().startswith("{") else None
    return Run(wall, usage.ru_utime + usage.ru_stime, doc)


def cpu_of(pid: int) -> float:
    """CPU seconds used so far by process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def real(path: Path, url: str, *flags: str) -> list[str]:
    """The ``cio import`` command line that sends ``path`` to the fake at ``url``."""
    return [*CIO, "import", str(path), "--base-url", url, "--site-id", SITE, "--api-key", KEY,
            "--quiet", "--allow-recent", "--json", *restart_flag(), *flags]  # fmt: skip


def check_sent(fake: Fake, before: dict[str, Any], rows: int, doc: dict[str, Any] | None) -> None:
    """Every row arrived once (the generated files hold no repeated rows)."""
    after = fake.stats()
    accepted = after["accepted"] - before["accepted"]
    sent = doc["sent"] if doc else None
    if accepted != rows or sent != rows:
        raise SystemExit(f"expected {rows:,} events; cio sent {sent}, the fake accepted {accepted}")


def bench_send(rows: int = 1_000_000) -> None:
    """Part 1: a real send next to a dry run of the same file (best of 2 each)."""
    path = ensure(rows)
    dry = [*CIO, "import", str(path), "--dry-run", "--out", "/dev/null", "--quiet",
           "--allow-recent"]  # fmt: skip
    sends: dict[str, tuple[Run, float]] = {}
    setups = [("tests.fakecio", False, []), ("lean server", True, []),
              ("lean server, --rate 1000", True, ["--rate", "1000"]),
              ("lean server, --rate 10000", True, ["--rate", "10000"])]  # fmt: skip
    for label, lean, flags in setups:
        with fake_server(0.0, lean) as fake:
            for _ in range(2):
                before, fake_cpu = fake.stats(), cpu_of(fake.proc.pid)
                run = timed(real(path, fake.url, *flags))
                fake_cpu = cpu_of(fake.proc.pid) - fake_cpu
                check_sent(fake, before, rows, run.doc)
                if label not in sends or run.wall < sends[label][0].wall:
                    sends[label] = (run, fake_cpu)
    dry_run = min((timed(dry) for _ in range(2)), key=lambda r: r.wall)
    print(f"send: {rows:,} rows ({path.stat().st_size / 1e6:.0f} MB), fake without delay,"
          f" best of 2, {os.cpu_count()} CPUs")  # fmt: skip
    print(f"  cio import --dry-run --out /dev/null       {dry_run.wall:6.2f} s wall"
          f"  {dry_run.cpu:6.2f} s cpu")  # fmt: skip
    for label, (run, fake_cpu) in sends.items():
        assert run.doc is not None
        print(f"  cio import to {label:25} {run.wall:6.2f} s wall  {run.cpu:6.2f} s cpu"
              f"  (server: {fake_cpu:5.2f} s cpu; {run.doc['requests']:,} requests,"
              f" {rows / run.wall:,.0f} events/s)")  # fmt: skip
        print(f"    ratio send / dry run                     {run.wall / dry_run.wall:6.2f}x"
              "  (target <= 1.5x)")  # fmt: skip


class Poller:
    """Polls the fake's request counter to time the sending phase alone."""

    def __init__(self, fake: Fake, every: float = 0.01) -> None:
        self.fake, self.every = fake, every
        self.first: float | None = None
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._base = fake.stats()["requests"]

    def _run(self) -> None:
        while not self._stop.is_set():
            n = self.fake.stats()["requests"] - self._base
            self.samples.append((time.perf_counter(), n))
            time.sleep(self.every)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def window(self, total: int) -> float:
        """Seconds from the first request seen to the last one recorded."""
        start = next(t for t, n in self.samples if n > 0)
        end = next(t for t, n in self.samples if n >= total)
        return end - start


def bench_throughput(rows: int = 30_000, target_requests: int = 300) -> None:
    """Part 2: requests/s with 8 in flight against a fake answering after 50 ms."""
    path = ensure(rows)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.ndjson"
        timed([*CIO, "import", str(path), "--dry-run", "--out", str(out), "--quiet",
               "--allow-recent"])  # fmt: skip
        lines = out.read_bytes().splitlines()
    total = sum(len(line) for line in lines)
    batch_bytes = max(1000, math.ceil(total / target_requests * 1.02))
    flags = ["--concurrency", "8", "--rate", "1000", "--batch-bytes", str(batch_bytes)]
    with fake_server(0.05) as fake:
        before = fake.stats()
        with Poller(fake) as poll:
            run = timed(real(path, fake.url, *flags))
        check_sent(fake, before, rows, run.doc)
        wall, doc = run.wall, run.doc
        assert doc is not None
        requests = fake.stats()["requests"] - before["requests"]
        window = poll.window(requests)
    print(f"throughput: {rows:,} rows in {requests} requests (--batch-bytes {batch_bytes:,}),"
          " fake delay 50 ms, --concurrency 8 --rate 1000")  # fmt: skip
    print(f"  whole run        {wall:6.2f} s   {requests / wall:6.1f} requests/s")
    print(f"  sending phase    {window:6.2f} s   {requests / window:6.1f} requests/s"
          "  (target >= 128; ceiling 8 / 0.05 s = 160)")  # fmt: skip
    print(f"  retries {doc['retries']}")


def official_client() -> Any:
    """The ``customerio`` module, installed with pip into this interpreter if missing."""
    if importlib.util.find_spec("customerio") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "customerio"],
                       check=True)  # fmt: skip
    import customerio  # type: ignore[import-untyped, import-not-found, unused-ignore]

    return customerio


def official_loop(path: Path, url: str) -> tuple[float, int]:
    """Send every row with ``CustomerIO.track``, one request each: seconds and events sent."""
    customerio = official_client()
    client = customerio.CustomerIO(SITE, KEY)
    client.base_url = f"{url}/api/v1"  # it builds https://track.customer.io/api/v1 otherwise
    sent = 0
    start = time.perf_counter()
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            customer_id = row.pop("_cio_customer_id")
            name = row.pop("_cio_name")
            timestamp = int(row.pop("_cio_timestamp"))
            client.track(customer_id=customer_id, name=name, data=row, timestamp=timestamp)
            sent += 1
    wall = time.perf_counter() - start
    client.close()
    return wall, sent


def bench_official(rows: int = 20_000) -> None:
    """Part 3: ``cio import`` vs the official client's one-request-per-event loop."""
    path = ensure(rows)
    with fake_server(0.005) as fake:
        before = fake.stats()
        run = timed(real(path, fake.url))
        ours = run.wall
        check_sent(fake, before, rows, run.doc)
        before = fake.stats()
        loop, sent = official_loop(path, fake.url)
        accepted = fake.stats()["accepted"] - before["accepted"]
        if sent != rows or accepted != rows:
            raise SystemExit(f"official loop: sent {sent}, the fake accepted {accepted}")
    print(f"official: {rows:,} rows, fake delay 5 ms")
    print(f"  cio import                        {ours:8.2f} s  ({rows / ours:,.0f} events/s)")
    print(f"  customerio.CustomerIO.track loop  {loop:8.2f} s  ({rows / loop:,.0f} events/s)")
    print(f"  ratio loop / cio import           {loop / ours:8.1f}x  (target >= 50x)")


def main(argv: list[str]) -> None:
    what = argv[0] if argv else "all"
    if what == "_lean":
        serve_lean(float(argv[1]) if len(argv) > 1 else 0.0)
        return
    rows = [int(argv[1])] if len(argv) > 1 else []
    parts = {"send": bench_send, "throughput": bench_throughput, "official": bench_official}
    if what not in (*parts, "all"):
        raise SystemExit(__doc__)
    for name, part in parts.items():
        if what in (name, "all"):
            part(*rows)
            sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
