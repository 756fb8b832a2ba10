"""A local S3-compatible server (moto) for the object-storage tests, and a proxy in front of it.

``moto`` starts once per test session on 127.0.0.1 (``ThreadedMotoServer``); every test
that reads a bucket gets the environment a user would have (``AWS_ENDPOINT_URL``,
``AWS_ALLOW_HTTP``, fake keys) and its own bucket. ``Proxy`` sits between ``cio`` and
moto when a test must see which requests ``cio`` made (a rerun that must not read the
object) or make the store refuse access (403). No traffic leaves 127.0.0.1. The fixtures
``moto_url`` and ``bucket`` (``moto_fixture``, ``bucket_fixture``) are imported by each
test module that reads a bucket.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import obstore
import pytest
from moto.server import ThreadedMotoServer
from obstore.store import S3Store

from tests.cli_support import kill_after
from tests.fakecio import FakeCio

KEY_ID = "AKIAFAKECIOTEST00KEY"
SECRET = "fake/secret+for-cio-tests-only0123456789"
SIGNATURE = "X-Amz-Signature=5ec12e7deadbeefcafe"  # a presigned URL's secret part
WAIT = 60.0  # seconds a ``cio`` subprocess may take


def aws_env(endpoint: str) -> dict[str, str]:
    """What a user of an S3-compatible store sets: endpoint, plain http, keys, region."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "CIO_STORE_RETRIES": "1",
    }


class Bucket:
    """One bucket of the moto server: objects put as bytes, URLs to read them."""

    def __init__(self, endpoint: str, name: str) -> None:
        self.endpoint = endpoint
        self.name = name
        req = urllib.request.Request(f"{endpoint}/{name}", method="PUT")
        with urllib.request.urlopen(req, timeout=10):  # moto takes an unsigned CreateBucket
            pass
        self.store = S3Store(
            name,
            endpoint=endpoint,
            access_key_id=KEY_ID,
            secret_access_key=SECRET,
            region="us-east-1",
            client_options={"allow_http": True},
        )

    def put(self, key: str, data: bytes) -> str:
        """Store ``data`` as ``key``; its ``s3://`` URL."""
        obstore.put(self.store, key, data)
        return self.url(key)

    def put_file(self, key: str, path: Path) -> str:
        """Store a local file's bytes as ``key``."""
        return self.put(key, path.read_bytes())

    def delete(self, key: str) -> None:
        """Remove ``key``."""
        obstore.delete(self.store, key)

    def url(self, key: str) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.name}/{key}"


class Proxy:
    """An HTTP proxy on 127.0.0.1 in front of ``target``: it records each request's method,
    path and Range header, and answers ``deny`` (a status) instead when set; the headers
    named in ``drop`` (lower case) are left out of the answers (a store without ETags)."""

    def __init__(self, target: str) -> None:
        self.target = target.removeprefix("http://")
        self.seen: list[tuple[str, str, str | None]] = []
        self.deny: int | None = None
        self.drop: set[str] = set()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self) -> None:
                proxy.seen.append((self.command, self.path, self.headers.get("Range")))
                if proxy.deny is not None:
                    body = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
                    self.send_response(proxy.deny)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body if self.command != "HEAD" else b"")
                    return
                self._forward()

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(proxy.target, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = proxy.target
                conn.request(self.command, self.path, body, headers)
                answer = conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for k, v in answer.getheaders():
                    left_out = ("transfer-encoding", "connection", "content-length", *proxy.drop)
                    if k.lower() not in left_out:
                        self.send_header(k, v)
                size = answer.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", size or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def gets(self) -> list[tuple[str, str | None]]:
        """The GET requests seen (path, Range header): a HEAD reads no body."""
        return [(path, rng) for method, path, rng in self.seen if method == "GET"]

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment with ``extra`` (for a ``cio`` subprocess)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CIO_"))}
    return env | extra


def killed_then_resumed(
    command: list[str], env: dict[str, str], fake: FakeCio, journal: Path, want: set[str]
) -> subprocess.CompletedProcess[str]:
    """A real import (``command``, run in ``journal``'s folder) killed with ``kill -9`` once
    ``fake`` has 30 requests, ``journal`` then on disk, and run again at full speed: the
    second run, checked to have resumed and stored every id of ``want`` once (twice at most
    for the requests in flight)."""
    work = journal.parent
    proc = subprocess.Popen(command, cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    kill_after(proc, lambda: len(fake.requests), 30)
    assert journal.is_file()
    fake.delay = 0.0
    again = subprocess.run(command, cwd=work, env=env,
                           capture_output=True, text=True, timeout=WAIT)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "resuming" in again.stderr
    assert set(fake.events_by_id) == want
    assert sum(fake.duplicate_ids.values()) <= 2 * 25  # at most the requests in flight
    s = json.loads(again.stdout)
    assert s["sent"] == len(want) and s["resumed"] > 0
    return again


@pytest.fixture(scope="session", name="moto_url")
def moto_fixture() -> Iterator[str]:
    """The moto S3 server, once for the session, on 127.0.0.1."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(name="bucket")
def bucket_fixture(moto_url: str, request: pytest.FixtureRequest,
           monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Bucket:  # fmt: skip
    """A bucket of its own for each test, the store's environment set, cwd a fresh folder."""
    for key, value in aws_env(moto_url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    name = "t-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    return Bucket(moto_url, name)
