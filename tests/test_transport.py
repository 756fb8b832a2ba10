"""The HTTP layer: response classes, retries, backoff, pacing; unit and end to end.

Unit tests drive ``httpx.MockTransport`` with a fake clock whose ``sleep`` records the delay and
moves the clock on (no real sleeping). End-to-end tests talk to the fake server on 127.0.0.1.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import math
import random
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from cio_cli import __version__
from cio_cli.config import Config
from cio_cli.errors import AbortError
from cio_cli.send.api import read_partial
from cio_cli.send.transport import (
    Outcome,
    Pacer,
    Redact,
    Transport,
    _Watchdog,
    api_message,
    refusals,
    retry_after_seconds,
)
from tests.fakecio import FakeCio

US = "https://track.customer.io"
CONFIG = Config(site_id="site", api_key="key", base_url=US)
ULID = "01HF7YAT00E0P353317TQ8S40S"
OP = {"type": "person", "action": "event", "identifiers": {"id": "u1"}, "name": "purchase",
      "id": ULID, "timestamp": 1700000000, "attributes": {}}
BODY = json.dumps({"batch": [OP]}).encode()
BATCH = "/api/v2/batch"


def partial_errors(body: bytes, redact: Redact = lambda text: text) -> tuple[tuple[int, str], ...]:
    """What a Transport reports of a 207 body: Track reads it, the transport redacts."""
    return refusals(read_partial(body) or (), redact)
NOW = 1_700_000_000.0  # the injected wall clock
Handler = Callable[[httpx.Request], httpx.Response]


class FakeTime:
    """A clock and a sleep that records each delay and moves the clock on by it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def scripted(*answers: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler giving ``answers`` in order (the last one forever); records the requests."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def retries() -> list[str]:
    return []


@pytest.fixture
def make(fake_time: FakeTime, retries: list[str]) -> Iterator[Callable[..., Transport]]:
    """Build mock-backed Transports (closed after the test) with the fake clock."""
    made: list[Transport] = []

    def build(handler: Handler, **options: object) -> Transport:
        settings: dict[str, object] = {
            "clock": fake_time.clock, "sleep": fake_time.sleep, "rng": random.Random(7),
            "rate": 1e9, "on_retry": retries.append, "wall_clock": lambda: NOW,
            "http": httpx.MockTransport(handler), **options}
        transport = Transport(CONFIG, **settings)  # type: ignore[arg-type]
        made.append(transport)
        return transport

    yield build
    for transport in made:
        transport.close()


def json_response(status: int, doc: object, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(doc).encode(), headers=headers)


# -- response classes -------------------------------------------------------------------------


def test_200_is_ok_and_the_request_is_well_formed(make: Callable[..., Transport]) -> None:
    handler, seen = scripted(httpx.Response(200, content=b"{}"))
    assert make(handler).post(BATCH, BODY) == Outcome(200, "ok")
    (request,) = seen
    assert (request.method, str(request.url)) == ("POST", f"{US}/api/v2/batch")
    assert request.content == BODY
    assert request.headers["User-Agent"] == f"cio/{__version__}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"site:key").decode()


def test_207_lists_the_refused_ops(make: Callable[..., Transport]) -> None:
    errors = [
        {"batch_index": 1, "reason": "invalid", "field": "name", "message": "name cannot be blank"},
        {"batch_index": 3, "reason": "", "field": "", "message": "too big"},
        {"batch_index": 4, "reason": "required", "field": "id", "message": ""},
        {"batch_index": 5},
    ]
    handler, _ = scripted(json_response(207, {"errors": errors}))
    outcome = make(handler).post(BATCH, BODY, ops=6)
    assert outcome.kind == "partial" and outcome.status == 207
    assert outcome.errors == (
        (1, "name cannot be blank (field name, invalid)"),
        (3, "too big"),
        (4, "field id, required"),
        (5, ""),  # no message: the row says so (send/sender.py, refusal)
    )


UNREADABLE_207 = [
    b"", b"not json", b"<html>Multi-Status</html>", b"[]", b"{}", b'{"errors": "x"}',
    b'{"errors": [{"reason": "no index"}]}',
    b'{"errors": [{"batch_index": 0}, {"batch_index": true, "message": "a bool"}]}',
    b'{"errors": [{"batch_index": -1}]}', b'{"errors": [{"batch_index": 1.0}]}',
]  # fmt: skip
OUTSIDE = b'{"errors": [{"batch_index": 6}]}'  # the request carried ops 0 to 5


@pytest.mark.parametrize("body", UNREADABLE_207)
def test_207_with_an_unreadable_body_lists_nothing(body: bytes) -> None:
    assert partial_errors(body) == ()


@pytest.mark.parametrize("body", [*UNREADABLE_207, OUTSIDE])
def test_207_with_an_unreadable_body_is_retried_never_all_accepted(
    make: Callable[..., Transport], retries: list[str], body: bytes
) -> None:
    """Issue 9 item 3: such a 207 does not say which ops failed: send it all again."""
    good = json_response(207, {"errors": [{"batch_index": 2, "message": "bad"}]})
    handler, seen = scripted(httpx.Response(207, content=body), good)
    outcome = make(handler).post(BATCH, BODY, ops=6)
    assert outcome == Outcome(207, "partial", errors=((2, "bad"),), retries=1)
    assert len(seen) == 2
    assert retries == ["HTTP 207 with a body that does not say which events failed"]


def test_207_unreadable_every_time_aborts_after_the_retries(make: Callable[..., Transport]) -> None:
    handler, seen = scripted(httpx.Response(207, content=b"<html>oops</html>"))
    with pytest.raises(AbortError) as caught:
        make(handler, max_retries=2).post(BATCH, BODY, ops=1)
    assert caught.value.message == (
        "Customer.io did not answer after 2 retries: "
        "HTTP 207 with a body that does not say which events failed"
    )
    assert len(seen) == 3


def test_207_with_an_empty_list_accepts_every_op(make: Callable[..., Transport]) -> None:
    handler, seen = scripted(json_response(207, {"errors": []}))
    assert make(handler).post(BATCH, BODY, ops=1) == Outcome(207, "partial")
    assert len(seen) == 1


@pytest.mark.parametrize("status", [400, 413, 422])
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"meta":{"error":"name cannot be blank"}}', "name cannot be blank"),
        (b'{"meta":{"errors":["first","second"]}}', "first; second"),
        (b'{"errors":[{"reason":"invalid","field":"batch","message":"too many"}]}',
         "too many (field batch, invalid)"),
        (b'{"errors":["plain text"]}', "plain text"),
        (b'{"error":"flat error"}', "flat error"),
        (b"<html>Request Entity Too Large</html>", None),
        (b"", None),
        (b'{"meta":{}}', None),
    ],
)
def test_whole_request_refused(make: Callable[..., Transport], status: int, body: bytes,
                               message: str | None) -> None:
    handler, seen = scripted(httpx.Response(status, content=body))
    outcome = make(handler).post(BATCH, BODY)
    expected = message if message is not None else f"HTTP {status}"
    assert outcome == Outcome(status, "refused", message=expected)
    assert len(seen) == 1


def test_credentials_are_removed_before_a_message_is_shortened() -> None:
    redact = Config("site", "SECRETKEY123XYZ", US).redact
    body = json.dumps({"meta": {"error": "x" * 290 + " SECRETKEY123XYZ"}}).encode()
    message = api_message(body, 400, redact)
    assert "SECRET" not in message and message.endswith(" [redacte…")
    doc = {"errors": [{"batch_index": 0, "message": "y" * 295 + "SECRETKEY123XYZ"}]}
    ((_, text),) = partial_errors(json.dumps(doc).encode(), redact)
    assert "SECRET" not in text and text.startswith("y" * 295 + "[")


def test_api_messages_are_short_and_on_one_line() -> None:
    message = api_message(json.dumps({"meta": {"error": "a\nb " + "x" * 1000}}).encode(), 400)
    assert message.startswith("a b xxx") and len(message) == 300 and message.endswith("…")


@pytest.mark.parametrize("status", [401, 403])
def test_credentials_refused_abort_at_once(make: Callable[..., Transport], retries: list[str],
                                           status: int) -> None:
    handler, seen = scripted(json_response(status, {"meta": {"error": "Unauthorized request"}}))
    with pytest.raises(AbortError) as info:
        make(handler).post(BATCH, BODY)
    assert info.value.message == f"Customer.io refused the credentials (HTTP {status})"
    assert info.value.hint == (
        "check the site id, the API key and the region (--region us|eu, or --base-url)")
    assert info.value.exit_code == 5
    assert len(seen) == 1 and retries == []


def test_404_aborts_naming_the_url(make: Callable[..., Transport], retries: list[str]) -> None:
    handler, seen = scripted(json_response(404, {"meta": {"error": "Not Found"}}))
    with pytest.raises(AbortError) as info:
        make(handler).post("/api/v1/customers/a%40b.com/events", BODY)
    assert info.value.message == ("Customer.io answered HTTP 404 (not found) for "
                                  f"POST {US}/api/v1/customers/a%40b.com/events")
    assert info.value.exit_code == 5
    assert len(seen) == 1 and retries == []


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_aborts_saying_the_region_looks_wrong(make: Callable[..., Transport],
                                                       status: int) -> None:
    location = "https://track-eu.customer.io/api/v2/batch"
    handler, seen = scripted(httpx.Response(status, headers={"Location": location}))
    with pytest.raises(AbortError) as info:
        make(handler).post(BATCH, BODY)
    assert info.value.message == (
        f"Customer.io redirected POST {US}/api/v2/batch to {location} (HTTP {status}): "
        "the region or base URL looks wrong")
    assert "--region eu" in info.value.hint
    assert len(seen) == 1


@pytest.mark.parametrize("status", [402, 405, 409, 415])
def test_other_client_errors_abort(make: Callable[..., Transport], status: int) -> None:
    handler, seen = scripted(json_response(status, {"meta": {"error": "nope"}}))
    with pytest.raises(AbortError, match=f"answered HTTP {status} for POST .*: nope$"):
        make(handler).post(BATCH, BODY)
    assert len(seen) == 1


# -- retries ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_retried_statuses(make: Callable[..., Transport], retries: list[str],
                          status: int) -> None:
    handler, seen = scripted(httpx.Response(status), httpx.Response(200, content=b"{}"))
    assert make(handler).post(BATCH, BODY) == Outcome(200, "ok", retries=1)
    assert retries == [f"HTTP {status}"]
    assert len(seen) == 2 and seen[0].content == seen[1].content == BODY


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), "connection refused"),
        (httpx.ConnectError("[Errno -2] Name or service not known"), "host name not found"),
        (httpx.ConnectError("something else"), "cannot connect"),
        (httpx.ConnectTimeout("timed out"), "connect timeout (30 s)"),
        (httpx.ReadTimeout("timed out"), "read timeout (30 s)"),
        (httpx.WriteTimeout("timed out"), "write timeout (30 s)"),
        (httpx.PoolTimeout("timed out"), "no free connection (30 s)"),
        (httpx.RemoteProtocolError("Server disconnected"), "connection dropped"),
        (httpx.ReadError("[Errno 104] Connection reset by peer"), "connection reset"),
        (httpx.WriteError("[Errno 32] Broken pipe"), "connection reset"),
        (httpx.ProxyError("bad proxy"), "ProxyError"),
    ],
)
def test_transport_errors_are_retried(make: Callable[..., Transport], retries: list[str],
                                      error: Exception, reason: str) -> None:
    handler, seen = scripted(error, httpx.Response(200, content=b"{}"))
    assert make(handler).post(BATCH, BODY) == Outcome(200, "ok", retries=1)
    assert retries == [reason]


def test_full_jitter_backoff_with_a_seeded_rng(make: Callable[..., Transport],
                                               fake_time: FakeTime, retries: list[str]) -> None:
    handler, seen = scripted(httpx.Response(503))
    with pytest.raises(AbortError) as info:
        make(handler, max_retries=10, rng=random.Random(42)).post(BATCH, BODY)
    same = random.Random(42)
    expected = [same.uniform(0, min(30, 0.5 * 2**attempt)) for attempt in range(10)]
    assert fake_time.sleeps == expected
    for attempt, delay in enumerate(fake_time.sleeps):
        assert 0 <= delay <= min(30.0, 0.5 * 2**attempt)
    assert len(seen) == 11 and retries == ["HTTP 503"] * 10
    assert info.value.message == "Customer.io did not answer after 10 retries: HTTP 503"
    assert info.value.hint == ("check the network and status.customer.io, "
                               "then run the same command again: it resumes")
    assert info.value.exit_code == 5


def test_backoff_never_exceeds_the_cap(make: Callable[..., Transport],
                                       fake_time: FakeTime) -> None:
    handler, _ = scripted(httpx.Response(500))
    with pytest.raises(AbortError):
        make(handler, max_retries=40, rng=random.Random(1)).post(BATCH, BODY)
    assert max(fake_time.sleeps) <= 30 and max(fake_time.sleeps[8:]) > 15


def test_no_retries_allowed(make: Callable[..., Transport]) -> None:
    handler, seen = scripted(httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(AbortError, match="did not answer after 0 retries: connection refused"):
        make(handler, max_retries=0).post(BATCH, BODY)
    assert len(seen) == 1


def test_one_retry_is_singular(make: Callable[..., Transport]) -> None:
    handler, _ = scripted(httpx.Response(502))
    with pytest.raises(AbortError, match="after 1 retry: HTTP 502$"):
        make(handler, max_retries=1).post(BATCH, BODY)


@pytest.mark.parametrize(("header", "minimum"), [("7", 7.0), ("2.5", 2.5), ("100000", 60.0)])
def test_retry_after_seconds_is_a_minimum(make: Callable[..., Transport], fake_time: FakeTime,
                                          header: str, minimum: float) -> None:
    handler, _ = scripted(httpx.Response(429, headers={"Retry-After": header}),
                          httpx.Response(200, content=b"{}"))
    assert make(handler).post(BATCH, BODY).retries == 1
    assert fake_time.sleeps == [minimum]


def test_retry_after_smaller_than_the_jitter_does_not_shorten_it(
        make: Callable[..., Transport], fake_time: FakeTime) -> None:
    handler, _ = scripted(*[httpx.Response(503, headers={"Retry-After": "0"})] * 6,
                          httpx.Response(200, content=b"{}"))
    make(handler, rng=random.Random(3)).post(BATCH, BODY)
    same = random.Random(3)
    assert fake_time.sleeps == [same.uniform(0, min(30, 0.5 * 2**n)) for n in range(6)]


def http_date(timestamp: float) -> str:
    return format_datetime(datetime.fromtimestamp(timestamp, UTC), usegmt=True)


def test_retry_after_http_date_against_the_wall_clock(make: Callable[..., Transport],
                                                      fake_time: FakeTime) -> None:
    handler, _ = scripted(httpx.Response(429, headers={"Retry-After": http_date(NOW + 20)}),
                          httpx.Response(200, content=b"{}"))
    make(handler).post(BATCH, BODY)
    assert fake_time.sleeps == [20.0]


def test_retry_after_http_date_against_the_server_date(make: Callable[..., Transport],
                                                       fake_time: FakeTime) -> None:
    server_now = NOW - 3600  # the server's clock differs from ours: its Date header counts
    headers = {"Retry-After": http_date(server_now + 12), "Date": http_date(server_now)}
    handler, _ = scripted(httpx.Response(503, headers=headers), httpx.Response(200))
    make(handler).post(BATCH, BODY)
    assert fake_time.sleeps == [12.0]


def test_unparseable_retry_after_is_ignored(make: Callable[..., Transport],
                                            fake_time: FakeTime) -> None:
    handler, _ = scripted(httpx.Response(429, headers={"Retry-After": "soon"}),
                          httpx.Response(200))
    make(handler).post(BATCH, BODY)
    assert len(fake_time.sleeps) == 1 and 0 <= fake_time.sleeps[0] <= 0.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None), ("", None), ("  ", None), ("soon", None), ("nan", None),
        ("0", 0.0), ("-5", 0.0), (" 42 ", 42.0), ("61", 60.0), ("inf", 60.0),
        (http_date(NOW + 50), 50.0), (http_date(NOW - 90), 0.0), (http_date(NOW + 9999), 60.0),
        ("Tue, 14 Nov 2023 22:14:20 -0000", 60.0),  # no zone: read as UTC
        ("Tue, 14 Nov 2023 22:13:50 -0000", 30.0),
    ],
)
def test_retry_after_values(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value, NOW) == expected


def test_a_long_retry_after_is_capped_at_60_s_and_announced(
        make: Callable[..., Transport], fake_time: FakeTime) -> None:
    """Issue 9 item 14: one wait is at most 60 s, and the user is told what cio waits for."""
    notes: list[str] = []
    handler, _ = scripted(httpx.Response(429, headers={"Retry-After": "100000"}),
                          httpx.Response(503, headers={"Retry-After": "12"}),
                          httpx.Response(200, content=b"{}"))
    assert make(handler, on_wait=notes.append).post(BATCH, BODY).retries == 2
    assert fake_time.sleeps == [60.0, 12.0]
    assert notes == [
        "waiting 60 s before retry 1 of 8: HTTP 429 (Retry-After 100000 s; "
        "cio waits at most 60 s at a time)",
        "waiting 12 s before retry 2 of 8: HTTP 503 (Retry-After 12 s)",
    ]


def test_long_backoffs_are_announced_short_ones_are_not(
        make: Callable[..., Transport], fake_time: FakeTime) -> None:
    notes: list[str] = []
    handler, _ = scripted(*[httpx.Response(503)] * 6, httpx.Response(200, content=b"{}"))
    make(handler, on_wait=notes.append, rng=random.Random(3)).post(BATCH, BODY)
    long = [w for w in fake_time.sleeps if w >= 1]
    assert long and len(notes) == len(long)
    assert all(n.startswith("waiting ") and n.endswith(": HTTP 503") for n in notes)


def test_the_timeout_is_a_deadline_for_the_whole_answer(
        make: Callable[..., Transport], fake_time: FakeTime, retries: list[str]) -> None:
    """Issue 9 item 13: an answer that keeps arriving, a byte at a time, still times out."""

    def drip() -> Iterator[bytes]:
        for byte in b"{}" + b" " * 30:
            fake_time.now += 0.4  # each piece comes well within a per-read timeout
            yield bytes([byte])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_Drip(drip()))

    with pytest.raises(AbortError) as caught:
        make(handler, timeout=3, max_retries=1).post(BATCH, BODY)
    assert caught.value.message == (
        "Customer.io did not answer after 1 retry: timeout (no whole answer within 3 s)")
    assert retries == ["timeout (no whole answer within 3 s)"]


class _Drip(httpx.SyncByteStream):
    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        return self._pieces


# -- get_json ---------------------------------------------------------------------------------


def test_get_json(make: Callable[..., Transport], retries: list[str]) -> None:
    doc = {"url": US, "region": "us", "environment_id": 1}
    handler, seen = scripted(httpx.Response(503), json_response(200, doc))
    assert make(handler).get_json("/api/v1/accounts/region") == (200, doc)
    assert retries == ["HTTP 503"] and seen[1].method == "GET"


def test_get_json_tolerates_other_answers(make: Callable[..., Transport]) -> None:
    handler, _ = scripted(httpx.Response(400, content=b"<html>"))
    assert make(handler).get_json("/api/v1/accounts/region") == (400, None)


def test_get_json_aborts_like_post(make: Callable[..., Transport]) -> None:
    handler, _ = scripted(httpx.Response(401))
    with pytest.raises(AbortError, match=r"refused the credentials \(HTTP 401\)"):
        make(handler).get_json("/api/v1/accounts/region")


# -- pacing -----------------------------------------------------------------------------------


def most_in_one_second(starts: list[float]) -> int:
    """The largest number of starts inside any half-open window [t, t + 1)."""
    ordered = sorted(starts)
    return max(sum(1 for s in ordered if t <= s < t + 1) for t in ordered)


@pytest.mark.parametrize("rate", [1.0, 3.0, 10.0, 100.0])
def test_pacer_never_exceeds_the_rate(fake_time: FakeTime, rate: float) -> None:
    pacer = Pacer(rate, fake_time.clock, fake_time.sleep)
    starts = []
    for n in range(int(rate * 5)):
        pacer.acquire()
        starts.append(fake_time.now)
        fake_time.now += 0.3 / rate if n % 3 else 0.0  # callers arrive at uneven times
    assert most_in_one_second(starts) == rate
    assert starts[-1] - starts[0] == pytest.approx((len(starts) - 1) / rate)


def test_pacer_with_a_fractional_rate_rounds_up(fake_time: FakeTime) -> None:
    pacer = Pacer(2.5, fake_time.clock, fake_time.sleep)
    starts = []
    for _ in range(20):
        pacer.acquire()
        starts.append(fake_time.now)
    assert most_in_one_second(starts) == 3
    assert starts[-1] - starts[0] == pytest.approx(19 / 2.5)


def test_pacer_does_not_bank_idle_time(fake_time: FakeTime) -> None:
    pacer = Pacer(10, fake_time.clock, fake_time.sleep)
    pacer.acquire()
    fake_time.now += 60
    starts = []
    for _ in range(15):
        pacer.acquire()
        starts.append(fake_time.now)
    assert most_in_one_second(starts) == 10


def test_pacer_is_thread_safe() -> None:
    slept: list[float] = []
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            slept.append(seconds)

    pacer = Pacer(20, lambda: 0.0, sleep)  # frozen clock: each start is 0 + the time it slept

    def work() -> None:
        for _ in range(25):
            pacer.acquire()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts = [0.0] * (200 - len(slept)) + slept
    assert len(starts) == 200 and len(set(starts)) == 200
    assert most_in_one_second(starts) == 20


def test_slow_down_and_speed_up(fake_time: FakeTime) -> None:
    pacer = Pacer(100, fake_time.clock, fake_time.sleep)
    pacer.slow_down()
    assert pacer.current_rate == 50
    pacer.slow_down()  # the same burst of 429s: halved once
    assert pacer.current_rate == 50
    fake_time.now += 0.1
    pacer.slow_down()
    assert pacer.current_rate == 25
    pacer.speed_up()
    assert pacer.current_rate == pytest.approx(25.05)  # a step a success: ~5% a second
    for _ in range(10):
        fake_time.now += 1
        pacer.slow_down()
    assert pacer.current_rate == 1
    for _ in range(2000):
        pacer.speed_up()
    assert pacer.current_rate == 100


def test_a_429_keeps_most_of_what_the_server_took_in_the_last_second(
    fake_time: FakeTime,
) -> None:
    pacer = Pacer(200, fake_time.clock, fake_time.sleep)
    for _ in range(20):  # a server that takes 20 a second
        fake_time.now += 0.01
        pacer.speed_up()
    for _ in range(5):
        fake_time.now += 0.1
        pacer.slow_down()
    assert pacer.current_rate == pytest.approx(18)  # 200, 100, 50, 25, then 90% of 20
    fake_time.now += 1  # nothing taken for a second: halving goes on
    pacer.slow_down()
    assert pacer.current_rate == pytest.approx(9)


def test_slow_down_never_goes_below_a_small_configured_rate(fake_time: FakeTime) -> None:
    pacer = Pacer(0.5, fake_time.clock, fake_time.sleep)
    pacer.slow_down()
    assert pacer.current_rate == 0.5


def test_slower_rate_spaces_starts_further(fake_time: FakeTime) -> None:
    pacer = Pacer(10, fake_time.clock, fake_time.sleep)
    pacer.acquire()
    pacer.slow_down()
    pacer.acquire()
    pacer.acquire()
    assert fake_time.sleeps == pytest.approx([0.1, 0.2])


@pytest.mark.parametrize("rate", [0, -1, math.nan])
def test_pacer_needs_a_positive_rate(rate: float) -> None:
    with pytest.raises(ValueError, match="rate must be positive"):
        Pacer(rate, lambda: 0.0, lambda seconds: None)


def test_a_gzip_body_is_compressed_once_and_sent_alike_on_each_retry(
    fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    compressed: list[bytes] = []
    real = gzip.compress

    def counting(data: bytes, level: int) -> bytes:
        compressed.append(data)
        return real(data, level)

    monkeypatch.setattr(gzip, "compress", counting)  # the module the transport calls
    handler, seen = scripted(httpx.Response(503), httpx.Response(503), httpx.Response(200))
    transport = Transport(dataclasses.replace(CONFIG, gzip=True), clock=fake_time.clock,
                          sleep=fake_time.sleep, rate=1e9, http=httpx.MockTransport(handler))  # fmt: skip
    with transport:
        assert transport.post(BATCH, BODY) == Outcome(200, "ok", retries=2)
    assert compressed == [BODY], "compressed once, not again for each retry"
    assert [r.headers["Content-Encoding"] for r in seen] == ["gzip"] * 3
    assert [gzip.decompress(r.content) for r in seen] == [BODY] * 3


def test_429_slows_the_transport_and_success_speeds_it_up(make: Callable[..., Transport]) -> None:
    handler, _ = scripted(httpx.Response(429), httpx.Response(200))
    transport = make(handler, rate=100)
    transport.post(BATCH, BODY)
    assert transport.pacer.current_rate == pytest.approx(50.05)


def test_every_attempt_takes_a_token(make: Callable[..., Transport],
                                     fake_time: FakeTime) -> None:
    attempts: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(fake_time.now)
        return httpx.Response(503 if len(attempts) < 4 else 200)

    make(handler, rate=1, rng=random.Random(5)).post(BATCH, BODY)
    gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    assert len(attempts) == 4 and min(gaps) >= 1


# -- end to end, against the fake server on 127.0.0.1 ----------------------------------------


def e2e(url: str, *, site_id: str = "site", api_key: str = "key", **options: object
        ) -> tuple[Transport, list[float], list[str]]:
    """A real Transport to ``url``; backoff sleeps are recorded, not slept."""
    sleeps: list[float] = []
    reasons: list[str] = []
    settings: dict[str, object] = {"sleep": sleeps.append, "rate": 1e6, "timeout": 5,
                                   "on_retry": reasons.append, **options}
    transport = Transport(Config(site_id, api_key, url), **settings)  # type: ignore[arg-type]
    return transport, sleeps, reasons


def batch_body(*names: str) -> bytes:
    ops = [dict(OP, name=name, id=ULID[:-1] + "ABCDEFGHJK"[n]) for n, name in enumerate(names)]
    return json.dumps({"batch": ops}).encode()


def test_e2e_200_stores_the_events(fake_cio: FakeCio) -> None:
    transport, _, reasons = e2e(fake_cio.url)
    with transport:
        assert transport.post(BATCH, BODY) == Outcome(200, "ok")
    assert fake_cio.events == [{"identifiers": {"id": "u1"}, "name": "purchase", "id": ULID,
                                "timestamp": 1700000000, "attributes": {}}]
    assert reasons == [] and fake_cio.requests[0].auth_ok


def test_e2e_207_names_the_refused_op(fake_cio: FakeCio) -> None:
    transport, _, _ = e2e(fake_cio.url)
    with transport:
        outcome = transport.post(BATCH, batch_body("purchase", "api_reject", "signup"))
    assert outcome.kind == "partial" and outcome.status == 207
    assert outcome.errors == ((1, "rejected by fake server (field name, invalid)"),)
    assert [e["name"] for e in fake_cio.events] == ["purchase", "signup"]


def test_e2e_v1_path_with_an_encoded_identifier(fake_cio: FakeCio) -> None:
    transport, _, _ = e2e(fake_cio.url)
    body = json.dumps({"name": "signup", "data": {}, "id": ULID}).encode()
    with transport:
        assert transport.post("/api/v1/customers/a%2Bb%40x.com/events", body).kind == "ok"
    assert fake_cio.events[0]["identifiers"] == {"email": "a+b@x.com"}


def test_e2e_whole_request_refused(fake_cio: FakeCio) -> None:
    fake_cio.script([("reject_whole", 413)])
    transport, _, _ = e2e(fake_cio.url)
    with transport:
        outcome = transport.post(BATCH, BODY)
    assert outcome == Outcome(413, "refused", message="whole request rejected by fake server")


def test_e2e_429_with_retry_after(fake_cio: FakeCio) -> None:
    fake_cio.script([("status", 429, {"Retry-After": "1"}, b"")])
    transport, sleeps, reasons = e2e(fake_cio.url)
    with transport:
        assert transport.post(BATCH, BODY) == Outcome(200, "ok", retries=1)
        assert transport.pacer.current_rate < 1e6
    assert reasons == ["HTTP 429"] and max(sleeps) == 1.0
    assert len(fake_cio.events) == 1


@pytest.mark.parametrize(
    ("fault", "reason"),
    [(("status", 503), "HTTP 503"), (("drop",), "connection dropped"),
     (("drop_before_read",), "connection dropped")],
)
def test_e2e_retried_then_success(fake_cio: FakeCio, fault: tuple[object, ...],
                                  reason: str) -> None:
    fake_cio.script([fault])
    transport, _, reasons = e2e(fake_cio.url)
    with transport:
        assert transport.post(BATCH, BODY) == Outcome(200, "ok", retries=1)
    assert reasons == [reason]
    assert list(fake_cio.events_by_id) == [ULID]


def test_e2e_timeout_retried_then_success(fake_cio: FakeCio) -> None:
    fake_cio.script([("delay", 2)])
    transport, _, reasons = e2e(fake_cio.url, timeout=0.5)
    with transport:
        assert transport.post(BATCH, BODY) == Outcome(200, "ok", retries=1)
    assert reasons == ["read timeout (0.5 s)"]
    assert ULID in fake_cio.events_by_id


def test_e2e_wrong_key_aborts(fake_cio: FakeCio) -> None:
    transport, _, reasons = e2e(fake_cio.url, api_key="wrong")
    with transport, pytest.raises(AbortError) as info:
        transport.post(BATCH, BODY)
    assert info.value.message == "Customer.io refused the credentials (HTTP 401)"
    assert info.value.exit_code == 5
    assert reasons == [] and len(fake_cio.requests) == 1


def test_e2e_check_region(fake_cio: FakeCio) -> None:
    transport, _, _ = e2e(fake_cio.url)
    with transport:
        status, doc = transport.get_json("/api/v1/accounts/region")
    assert (status, doc) == (200, {"url": US, "region": "us", "environment_id": 1})


def test_e2e_unknown_path_aborts_naming_the_url(fake_cio: FakeCio) -> None:
    transport, _, _ = e2e(fake_cio.url)
    with transport, pytest.raises(AbortError) as info:
        transport.post("/api/v2/nope", BODY)
    assert info.value.message.endswith(f"for POST {fake_cio.url}/api/v2/nope")


def test_e2e_server_down_aborts_after_the_retries(fake_cio: FakeCio) -> None:
    fake_cio.down()
    transport, sleeps, reasons = e2e(fake_cio.url, max_retries=3)
    with transport, pytest.raises(AbortError) as info:
        transport.post(BATCH, BODY)
    assert info.value.message == "Customer.io did not answer after 3 retries: connection refused"
    assert reasons == ["connection refused"] * 3 and len(sleeps) >= 3


def test_e2e_threads_share_one_transport(fake_cio: FakeCio) -> None:
    fake_cio.fail_every(7, ("status", 503), ("drop",))
    transport, _, _ = e2e(fake_cio.url)  # a client per thread: four of them
    outcomes: list[Outcome] = []

    def work(worker: int) -> None:
        for n in range(10):
            op = dict(OP, id=f"01HF7YAT00E0P353317TQ8S{worker}{n:02d}")
            outcomes.append(transport.post(BATCH, json.dumps({"batch": [op]}).encode()))

    with transport:
        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(outcomes) == 40 and {o.kind for o in outcomes} == {"ok"}
    assert len(fake_cio.events_by_id) == 40 and sum(o.retries for o in outcomes) >= 5


# -- no credential in any message -------------------------------------------------------------

SECRET_SITE, SECRET_KEY = "SITESECRET77", "SECRETKEY123"


def leaks(text: str) -> bool:
    token = base64.b64encode(f"{SECRET_SITE}:{SECRET_KEY}".encode()).decode()
    return any(secret in text for secret in (SECRET_SITE, SECRET_KEY, token))


FAULTS = [("status", 503), ("drop",), ("drop_before_read",), ("accept_then_drop",), ("delay", 1),
          ("status", 403), ("status", 422, {}, b"bad"),
          ("status", 301, {"Location": "https://track-eu.customer.io/api/v2/batch"}),
          ("status", 405, {}, b'{"meta":{"error":"method"}}')]


def failures(fake: FakeCio, transport: Transport) -> Iterator[Callable[[], object]]:
    """Requests that fail in every way the server can make them fail (one call each)."""
    yield lambda: transport.post("/api/v2/nope", BODY)
    for fault in FAULTS:
        fake.script([fault, fault])
        yield lambda: transport.post(BATCH, BODY)
        fake.clear_faults()
    yield lambda: transport.post(BATCH, batch_body("api_reject"))
    yield lambda: transport.get_json("/api/v1/nope")
    fake.down()
    yield lambda: transport.post(BATCH, BODY)


def test_no_credential_in_any_error(fake_cio: FakeCio) -> None:
    texts: list[str] = []
    wrong, _, _ = e2e(fake_cio.url, site_id=SECRET_SITE, api_key=SECRET_KEY)
    with wrong, pytest.raises(AbortError) as info:
        wrong.post(BATCH, BODY)
    texts += [str(info.value), repr(info.value), info.value.hint,
              "".join(traceback.format_exception(info.value))]
    with FakeCio(SECRET_SITE, SECRET_KEY) as fake:
        transport, _, reasons = e2e(fake.url, site_id=SECRET_SITE, api_key=SECRET_KEY,
                                    max_retries=1, timeout=0.3)
        texts += [repr(transport), str(transport)]
        with transport:
            for call in failures(fake, transport):
                try:
                    texts.append(repr(call()))
                except AbortError as error:
                    assert error.__cause__ is None and error.__context__ is None
                    texts += [str(error), repr(error), error.hint, repr(error.args),
                              "".join(traceback.format_exception(error))]
    texts += reasons
    assert len(texts) > 30
    assert [text for text in texts if leaks(text)] == []


def test_e2e_credentials_echoed_by_the_server_are_redacted() -> None:
    """Issue 9 item 16: text from the network never carries the credentials out."""
    site, key = "f00d5173", "SECRETKEY123XYZ"
    token = base64.b64encode(f"{site}:{key}".encode()).decode()
    with FakeCio(site, key, echo=True) as fake:
        fake.script([("status", 409, {}, b'{"meta":{"error":"conflict"}}'),
                     ("status", 302, {"Location": f"https://x.example/?t={token}&k={key}"}, b"")])
        transport, _, _ = e2e(fake.url, site_id=site, api_key=key)
        with transport:
            texts = [api_error(lambda: transport.post(BATCH, BODY)),
                     api_error(lambda: transport.post(BATCH, BODY))]
            partial = transport.post(BATCH, batch_body("purchase", "api_reject"), ops=2)
            texts.append(partial.errors[0][1])
            refused = transport.post("/api/v1/customers/u1/events",
                                     json.dumps({"name": "api_reject", "id": ULID}).encode())
            texts.append(refused.message)
    assert texts[0].startswith("Customer.io answered HTTP 409 for POST")
    assert "conflict [you sent Authorization: Basic [redacted], that is [redacted]: site " \
           "[redacted], key [redacted]]" in texts[0]
    assert "to https://x.example/?t=[redacted]&k=[redacted]" in texts[1]
    assert texts[2].startswith("rejected by fake server [you sent Authorization: Basic [redacted]")
    assert texts[3].startswith("rejected by fake server [you sent Authorization: Basic [redacted]")
    for text in texts:
        assert site not in text and key not in text and token not in text


def api_error(call: Callable[[], object]) -> str:
    with pytest.raises(AbortError) as caught:
        call()
    return caught.value.message


def test_the_watchdog_shuts_a_connection_still_open_at_its_deadline() -> None:
    """What ends a slow answer exactly at --timeout, whatever the server's pace."""
    watchdog = _Watchdog(time.monotonic)
    late, late_peer = socket.socketpair()
    done, done_peer = socket.socketpair()
    try:
        start = time.monotonic()
        watchdog.watch(start + 0.3, late)
        watchdog.release(watchdog.watch(start + 0.1, done))
        late_peer.sendall(b"{")  # a first piece, then nothing: a read would wait forever
        assert late.recv(10) == b"{"
        late.settimeout(5)
        assert late.recv(10) == b"", "shut down at the deadline"
        assert 0.25 <= time.monotonic() - start < 2
        done.settimeout(0.3)
        done_peer.sendall(b"ok")
        assert done.recv(10) == b"ok", "a released connection is left alone"
    finally:
        watchdog.close()
        for sock in (late, late_peer, done, done_peer):
            sock.close()
