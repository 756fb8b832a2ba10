"""A dry run of an object in a local S3-compatible server against the same local file.

Usage: python bench/bench_buckets.py [ROWS] [--rounds N] [--format csv|parquet|ndjson]
(default 1000000 rows, 1 round, csv)

Starts ``python -m moto.server`` on 127.0.0.1 (its own process, so cio's peak RSS is
cio's alone), puts gen.py's ``bench/data/events_<ROWS>.csv`` there as
``s3://bench/events.csv`` (and gzipped as ``events.csv.gz``), then times
``cio import X --dry-run --quiet --allow-recent --json`` on the local file and on the
objects, alternating, and prints wall time and peak RSS of each. ``--format parquet``
(or ``ndjson``) runs the same with bench_formats.py's copy of the events in that format
(``events.parquet``; ``events.ndjson`` and ``events.ndjson.gz``). Issue 24 asks an object
read within 1.3x of the local file's time and memory "as for a local file".
"""

from __future__ import annotations

import argparse
import gzip
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import obstore
from bench_formats import converted  # noqa: E402 - bench/ is the script's directory
from gen import DATA, ensure  # noqa: E402
from obstore.store import S3Store

KEYS = {"AWS_ACCESS_KEY_ID": "AKIAFAKEBENCH", "AWS_SECRET_ACCESS_KEY": "fake-bench-secret"}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto(port: int) -> subprocess.Popen[bytes]:
    """``moto.server`` on 127.0.0.1:``port``, once it answers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("moto.server did not start")


def upload(endpoint: str, local: Path) -> dict[str, str]:
    """The file as ``s3://bench/events.<ext>`` and, but for Parquet, gzipped as
    ``events.<ext>.gz``; the inputs to time, by label."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/bench", method="PUT")).close()
    store = S3Store("bench", endpoint=endpoint, region="us-east-1",
                    access_key_id=KEYS["AWS_ACCESS_KEY_ID"],
                    secret_access_key=KEYS["AWS_SECRET_ACCESS_KEY"],
                    client_options={"allow_http": True})  # fmt: skip
    data, ext = local.read_bytes(), local.suffix
    obstore.put(store, f"events{ext}", data)
    inputs = {"local file": str(local), "s3 object": f"s3://bench/events{ext}"}
    if ext == ".parquet":
        return inputs
    gz = local.with_name(local.name + ".gz")
    if not gz.exists():
        gz.write_bytes(gzip.compress(data, 6))
    obstore.put(store, f"events{ext}.gz", gz.read_bytes())
    return inputs | {f"s3 {ext}.gz": f"s3://bench/events{ext}.gz"}


def measure(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one run of ``cmd``."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{cmd} failed with status {status}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--format", choices=("csv", "parquet", "ndjson"), default="csv")
    args = parser.parse_args()
    local = converted(ensure(args.rows))[args.format]
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = start_moto(port)
    try:
        inputs = upload(endpoint, local)
        env = os.environ | KEYS | {"AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true",
                                   "AWS_REGION": "us-east-1"}  # fmt: skip
        cio = str(Path(sys.executable).with_name("cio"))
        flags = ["--dry-run", "--quiet", "--allow-recent", "--json"]
        runs: dict[str, list[tuple[float, float]]] = {k: [] for k in inputs}
        for _ in range(args.rounds):
            for label, where in inputs.items():
                runs[label].append(measure([cio, "import", where, *flags], env, DATA))
        mb = local.stat().st_size / 1e6
        print(f"{args.rows:,} rows, {args.format}, {mb:.0f} MB, {args.rounds} round(s), median:")
        for label, found in runs.items():
            wall = statistics.median(w for w, _ in found)
            rss = statistics.median(r for _, r in found)
            print(f"  {label:<11} {wall:6.2f} s  peak RSS {rss:6.0f} MB")
    finally:
        moto.terminate()
        moto.wait()


if __name__ == "__main__":
    main()
