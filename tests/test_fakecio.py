"""Tests for the fake Customer.io server itself, using only the standard library as client."""

from __future__ import annotations

import base64
import http.client
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.fakecio import MAX_REQUEST_BYTES, FakeCio

ULIDS = ["01HB4HBDKTFWYZCK01DMRSWRF" + c for c in "ABCDEFGH"]
AUTH = "Basic " + base64.b64encode(b"site:key").decode()

Response = tuple[int, dict[str, str], bytes]


def call(fake: FakeCio, method: str, path: str, body: Any = None, *,
         auth: str | None = AUTH, timeout: float = 5.0) -> Response:
    """One request on a fresh connection; ``body`` is JSON-encoded unless it is bytes."""
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        if auth is not None:
            headers["Authorization"] = auth
        data = body if body is None or isinstance(body, bytes) else orjson.dumps(body)
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def op(n: int, name: str = "purchase", **extra: Any) -> dict[str, Any]:
    """A valid batch op for person ``n``."""
    return {"type": "person", "action": "event", "identifiers": {"id": str(n)}, "name": name,
            "id": ULIDS[n], "timestamp": 1_600_000_000 + n, **extra}


def batch(fake: FakeCio, *ops: Any) -> Response:
    return call(fake, "POST", "/api/v2/batch", {"batch": list(ops)})


def test_auth_is_checked(fake_cio: FakeCio) -> None:
    for auth in (None, "Basic " + base64.b64encode(b"site:wrong").decode(), "Bearer key"):
        status, _, body = call(fake_cio, "GET", "/api/v1/accounts/region", auth=auth)
        assert status == 401
        assert orjson.loads(body) == {"meta": {"error": "Unauthorized request"}}
    status, headers, body = call(fake_cio, "GET", "/api/v1/accounts/region")
    assert status == 200 and headers["Content-Length"] == str(len(body))
    assert orjson.loads(body) == {"url": "https://track.customer.io", "region": "us",
                                  "environment_id": 1}
    assert [(r.has_auth, r.auth_ok, r.status) for r in fake_cio.requests] == [
        (False, False, 401), (True, False, 401), (True, False, 401), (True, True, 200)]
    assert "key" not in repr(fake_cio.requests)


def test_batch_stores_events_and_counts_duplicates(fake_cio: FakeCio) -> None:
    assert batch(fake_cio, op(0, attributes={"price": 9.5}), op(1))[::2] == (200, b"{}")
    assert fake_cio.events[0] == {"identifiers": {"id": "0"}, "name": "purchase",
                                  "id": ULIDS[0], "timestamp": 1_600_000_000,
                                  "attributes": {"price": 9.5}}
    assert batch(fake_cio, op(1))[0] == 200
    assert len(fake_cio.events) == 3 and set(fake_cio.events_by_id) == set(ULIDS[:2])
    assert fake_cio.duplicate_ids == {ULIDS[1]: 1}


def test_bad_ops_and_api_reject_get_207(fake_cio: FakeCio) -> None:
    bad = op(2)
    del bad["id"]
    status, _, body = batch(fake_cio, op(0), op(1, name="api_reject"), bad, op(3, timestamp="x"))
    assert status == 207
    errors = orjson.loads(body)["errors"]
    assert [(e["batch_index"], e["field"]) for e in errors] == [(1, "name"), (2, "id"),
                                                                 (3, "timestamp")]
    assert errors[0]["message"] == "rejected by fake server"
    assert errors[0]["reason"] == "invalid"
    assert [e["id"] for e in fake_cio.events] == [ULIDS[0]]


def test_invalid_body_is_400_and_large_body_413(fake_cio: FakeCio) -> None:
    assert call(fake_cio, "POST", "/api/v2/batch", b"{not json")[0] == 400
    assert call(fake_cio, "POST", "/api/v2/batch", {"ops": []})[0] == 400
    big = op(0, attributes={"x": "y" * MAX_REQUEST_BYTES})
    assert batch(fake_cio, big)[0] == 413
    huge_op = op(0, attributes={"x": "y" * 32_000})
    status, _, body = batch(fake_cio, huge_op)
    assert status == 207 and orjson.loads(body)["errors"][0]["batch_index"] == 0
    assert call(fake_cio, "POST", "/api/v2/nope", {})[0] == 404
    assert fake_cio.events == []


def test_scripted_429_then_success(fake_cio: FakeCio) -> None:
    fake_cio.script([("status", 429, {"Retry-After": "1"}, b""), ("reject_whole", 422)])
    status, headers, _ = batch(fake_cio, op(0))
    assert status == 429 and headers["Retry-After"] == "1"
    assert batch(fake_cio, op(0))[0] == 422
    assert batch(fake_cio, op(0))[0] == 200
    assert [r.status for r in fake_cio.requests] == [429, 422, 200]
    assert [r.fault for r in fake_cio.requests] == ["status", "reject_whole", None]
    assert len(fake_cio.events) == 1


def test_drops_are_connection_errors(fake_cio: FakeCio) -> None:
    fake_cio.script([("drop",), ("drop_before_read",), ("accept_then_drop",)])
    for _ in range(3):
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            batch(fake_cio, op(0))
    assert batch(fake_cio, op(0))[0] == 200
    assert [r.status for r in fake_cio.requests] == [None, None, None, 200]
    assert fake_cio.duplicate_ids == {ULIDS[0]: 1}  # accept_then_drop stored it once already


def test_fail_every_cycles_faults(fake_cio: FakeCio) -> None:
    fake_cio.fail_every(2, ("status", 503), ("status", 500, {}, b"oops"))
    statuses = [batch(fake_cio, op(i))[0] for i in range(6)]
    assert statuses == [200, 503, 200, 500, 200, 503]
    fake_cio.clear_faults()
    assert batch(fake_cio, op(7))[0] == 200
    with pytest.raises(ValueError):
        fake_cio.script([("explode",)])


def test_delay(fake_cio: FakeCio) -> None:
    fake_cio.delay = 0.2
    started = time.monotonic()
    assert batch(fake_cio, op(0))[0] == 200
    assert time.monotonic() - started >= 0.2
    fake_cio.delay = 0.0
    fake_cio.script([("delay", 0.1)])
    started = time.monotonic()
    assert batch(fake_cio, op(1))[0] == 200
    assert time.monotonic() - started >= 0.1


def test_keep_alive_connection_is_reused(fake_cio: FakeCio) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", fake_cio.port, timeout=5)
    try:
        for i in range(3):
            conn.request("POST", "/api/v2/batch", orjson.dumps({"batch": [op(i)]}),
                         {"Authorization": AUTH})
            resp = conn.getresponse()
            assert (resp.status, resp.read()) == (200, b"{}")
            assert resp.getheader("Connection") != "close"
    finally:
        conn.close()
    assert len(fake_cio.events) == 3


def test_down_and_up_on_same_port(fake_cio: FakeCio) -> None:
    url, port = fake_cio.url, fake_cio.port
    fake_cio.down()
    with pytest.raises(ConnectionRefusedError):
        batch(fake_cio, op(0))
    fake_cio.up()
    assert (fake_cio.url, fake_cio.port) == (url, port)
    assert batch(fake_cio, op(0))[0] == 200


def test_v1_paths(fake_cio: FakeCio) -> None:
    body = {"name": "signup", "data": {"plan": "pro"}, "timestamp": 1_600_000_000,
            "id": ULIDS[0]}
    assert call(fake_cio, "POST", "/api/v1/customers/a%2Bb%40x.com/events", body)[::2] == (
        200, b"{}")
    assert call(fake_cio, "POST", "/api/v1/customers/cio_abc/events", {"name": "x"})[0] == 200
    assert call(fake_cio, "POST", "/api/v1/customers/42/events", {"name": "x"})[0] == 200
    assert call(fake_cio, "POST", "/api/v1/events", {"name": "y", "anonymous_id": "an1"})[0] == 200
    assert call(fake_cio, "POST", "/api/v1/customers/42/events", {"name": ""})[0] == 400
    status, _, reply = call(fake_cio, "POST", "/api/v1/customers/42/events", {"name": "api_reject"})
    assert status == 400 and orjson.loads(reply) == {"meta": {"error": "rejected by fake server"}}
    events = fake_cio.events
    assert events[0] == {"identifiers": {"email": "a+b@x.com"}, "name": "signup", "id": ULIDS[0],
                         "timestamp": 1_600_000_000, "attributes": {"plan": "pro"}}
    assert [e["identifiers"] for e in events[1:]] == [
        {"cio_id": "cio_abc"}, {"id": "42"}, {"anonymous_id": "an1"}]


def test_command_line_server() -> None:
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakecio", "--port", "0", "--delay",
                             "0", "--site-id", "S", "--api-key", "K"], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        host, port = url.removeprefix("http://").split(":")
        assert host == "127.0.0.1"
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        try:
            conn.request("GET", "/api/v1/accounts/region",
                         headers={"Authorization": "Basic " + base64.b64encode(b"S:K").decode()})
            resp = conn.getresponse()
            assert (resp.status, orjson.loads(resp.read())["region"]) == (200, "us")
        finally:
            conn.close()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=5)
        assert proc.returncode == 0 and '"requests":1' in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_unreadable_207_stores_nothing(fake_cio: FakeCio) -> None:
    fake_cio.script([("unreadable_207",), ("unreadable_207", b"oops")])
    for expected in (b"<html>Multi-Status</html>", b"oops"):
        status, _, body = batch(fake_cio, op(0))
        assert (status, body) == (207, expected)
    assert fake_cio.events == []


def test_drip_sends_the_body_a_byte_at_a_time(fake_cio: FakeCio) -> None:
    fake_cio.script([("drip", 0.05, 8)])
    started = time.monotonic()
    status, _, body = batch(fake_cio, op(0))
    assert (status, body) == (200, b"{}      ")
    assert time.monotonic() - started >= 0.35
    assert len(fake_cio.events) == 1, "the request itself was processed"


def test_echo_quotes_the_credentials_in_error_texts() -> None:
    with FakeCio(echo=True) as fake:
        status, _, body = batch(fake, op(0, "api_reject"))
        assert status == 207
        message = orjson.loads(body)["errors"][0]["message"]
        assert message == (f"rejected by fake server [you sent Authorization: {AUTH}, that is "
                           "site:key: site site, key key]")
        status, _, body = call(fake, "POST", "/nowhere", {})
        assert status == 404 and AUTH in orjson.loads(body)["meta"]["error"]
        status, _, body = batch(fake, op(1))
        assert (status, body) == (200, b"{}"), "answers without an error are left alone"
