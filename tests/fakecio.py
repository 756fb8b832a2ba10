"""A fake Customer.io Track API server for end-to-end tests and benchmarks.

It listens on 127.0.0.1 only, speaks HTTP/1.1 with keep-alive (Content-Length on every reply)
and behaves like the parts of the Track API that ``cio`` uses:

* HTTP Basic auth ``site_id:api_key``; anything else gets 401 ``{"meta":{"error":...}}``.
* ``GET /api/v1/accounts/region`` -> ``{"url", "region", "environment_id"}``.
* ``POST /api/v2/batch`` -> 200 ``{}``, 207 ``{"errors":[{"batch_index",...}]}`` for bad ops
  (the good ones are stored), 400 for a malformed body, 413 for a body >= 500,000 bytes.
* ``POST /api/v1/customers/{identifier}/events`` and ``POST /api/v1/events`` (anonymous).
* The Pipelines API: ``POST /v1/batch`` ``{"batch":[call,...]}`` and ``POST /v1/track`` (one
  call), ``track`` calls with ``userId`` or ``anonymousId``; auth by the Pipelines key
  (``pipelines_key=``) as ``Bearer KEY`` or Basic ``KEY:``. With ``X-Strict-Mode: 1`` an invalid
  call (or one named ``api_reject``) gets 400 ``{"meta":{"error"}}`` for the whole request;
  without it, as Customer.io does, 200 and the invalid calls are silently dropped. Bodies with
  ``Content-Encoding: gzip`` are decompressed first. Calls are stored by ``messageId``
  (normalized as below, ``identifiers`` ``{"userId"|"anonymousId": V}``, ``timestamp`` the
  ISO text, ``api`` ``"pipelines"``); ``calls`` keeps the raw calls as received.
* ``routes``: more POST paths, each answered by a function of the body (a test's own API).
* Anything else: 404. ``GET /_fake/stats`` (no auth, never recorded) returns counters as JSON,
  for benchmarks that run the server as a separate process.

Events named ``api_reject`` are refused (207 error or v1 400, message "rejected by fake
server"); pass ``reject=`` a predicate over the normalized event to change that, or ``None``.

People: a Track ``identify`` op (``{"type":"person","identifiers","action":"identify",
"timestamp"?,"attributes"}``, no ``name`` or ``id``) and a Pipelines ``identify`` call
(``userId``/``anonymousId``, ``traits``, ``timestamp``?, ``messageId``) are checked as such and
stored in ``people``, normalized to ``{"identifiers", "timestamp", "attributes", "id"}`` (``id``
the ``messageId``, None on Track; ``api`` ``"pipelines"`` for calls), every accepted update in
arrival order. A person whose identifier is ``api_reject`` is refused as an event named so is.

Accepted events are normalized to ``{"identifiers", "name", "id", "timestamp", "attributes"}``.
``events`` lists every accepted event, repeats included; ``events_by_id`` keeps the first event
per id and ``duplicate_ids`` counts the repeats (Customer.io ignores them). ``requests`` records
every request (method, path, whether Authorization was sent and valid, body size, status
answered or None when dropped, fault applied). Accessors return copies; all state is locked.

Faults apply to POST requests only (never to GET), one per request. ``script(faults)`` queues
faults consumed in order; ``fail_every(n, *faults)`` makes every n-th POST that took no
scripted fault get the next of ``faults`` (cycling); ``delay`` is a pause before every reply;
``cap_rate(n[, retry_after])`` answers 429 (with that ``Retry-After``, if any) to every POST
beyond ``n`` in the last second, as a server with a requests-per-second limit does.
Fault forms:

* ``("status", code[, headers[, body]])``: answer ``code`` with those headers and body bytes,
  e.g. ``("status", 429, {"Retry-After": "1"}, b"")``. Nothing is stored.
* ``("reject_whole", code)``: answer ``code`` (400/413/422...) with a ``{"meta":{"error"}}``
  body without storing anything.
* ``("drop",)``: read the request, then close the connection without answering.
* ``("drop_before_read",)``: close the connection right after the request headers.
* ``("accept_then_drop",)``: process and store the request normally, then close without
  answering (the client cannot know it was accepted: a retry sends duplicates).
* ``("delay", seconds)``: sleep (on top of ``delay``) and then answer normally.
* ``("unreadable_207"[, body])``: answer 207 with a body that is not JSON (default
  ``<html>Multi-Status</html>``; pass bytes for another one) and store nothing.
* ``("drip", seconds[, size])``: process and store the request normally, then send the answer's
  body (padded with spaces to ``size`` bytes, default 64) one byte every ``seconds``.

``echo=True`` makes the server quote the credentials it received (the Authorization header,
the decoded ``site:key``, the site id and the key) in every error body and 207 message, as a
careless proxy or API might: ``cio`` must never show them.

``down()`` closes the listening socket and every open connection; ``up()`` listens again on the
same port. Run ``python -m tests.fakecio --port 0 --delay 0.05`` to serve from a shell: the URL
is printed on the first line of stdout and SIGTERM/SIGINT stop it cleanly.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import gzip
import hmac
import re
import signal
import socket
import socketserver
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, cast
from urllib.parse import unquote

import orjson

HOST = "127.0.0.1"
MAX_REQUEST_BYTES = 500_000
MAX_OP_BYTES = 32_000
MAX_NAME_BYTES = 100
MAX_DATA_BYTES = 100_000
MAX_PERSON_ID_BYTES = 150
REJECT_MESSAGE = "rejected by fake server"
STATS_PATH = "/_fake/stats"
REGION_URLS = {"us": "https://track.customer.io", "eu": "https://track-eu.customer.io"}
IDENTIFIER_KEYS = ("id", "email", "cio_id")
FAULT_ARITY = {"status": (2, 4), "reject_whole": (2, 2), "drop": (1, 1),
               "drop_before_read": (1, 1), "accept_then_drop": (1, 1), "delay": (2, 2),
               "unreadable_207": (1, 2), "drip": (2, 3)}
UNREADABLE_207 = b"<html>Multi-Status</html>"
DRIP_SIZE = 64
_ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}", re.IGNORECASE)
_V1_CUSTOMER = re.compile(r"/api/v1/customers/([^/]+)/events")
_ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
PIPELINES_PATHS = ("/v1/batch", "/v1/track")
PIPELINES_PERSON_KEYS = ("userId", "anonymousId")

Fault = tuple[Any, ...]
Event = dict[str, Any]
Reply = tuple[int, dict[str, str], bytes]
Predicate = Callable[[Mapping[str, Any]], bool]
Problem = tuple[str, str]  # (field, message)


def reject_api_reject(event: Mapping[str, Any]) -> bool:
    """Default rejection predicate: refuse events named exactly ``api_reject``, and people
    (no ``name``) identified as ``api_reject``."""
    if "name" not in event:
        return "api_reject" in event["identifiers"].values()
    return event.get("name") == "api_reject"


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the server saw it (never the credentials themselves)."""

    method: str
    path: str
    has_auth: bool
    auth_ok: bool
    body_size: int
    status: int | None
    fault: str | None
    strict: bool = False  # X-Strict-Mode: 1 was sent
    encoding: str | None = None  # Content-Encoding as sent


def _error(status: int, message: str) -> Reply:
    return status, {}, orjson.dumps({"meta": {"error": message}})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _name_and_id_problem(doc: Mapping[str, Any], id_required: bool) -> Problem | None:
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        return "name", "name cannot be blank"
    if _utf8_len(name) > MAX_NAME_BYTES:
        return "name", f"name is longer than {MAX_NAME_BYTES} bytes"
    event_id = doc.get("id")
    if event_id is None and not id_required:
        return None
    if not isinstance(event_id, str) or not _ULID.fullmatch(event_id):
        return "id", "id must be a 26-character ULID"
    return None


def _identifiers_problem(identifiers: Any) -> str | None:
    if not isinstance(identifiers, dict) or len(identifiers) != 1:
        return "identifiers must hold exactly one of id, email, cio_id"
    ((key, value),) = identifiers.items()
    if key not in IDENTIFIER_KEYS:
        return "identifiers must hold exactly one of id, email, cio_id"
    if not isinstance(value, str) or not value:
        return f"identifiers.{key} must be a non-empty string"
    if key == "id" and _utf8_len(value) > MAX_PERSON_ID_BYTES:
        return f"identifiers.id is longer than {MAX_PERSON_ID_BYTES} bytes"
    return None


def _identify_problem(op: dict[str, Any]) -> Problem | None:
    """A Track ``identify`` op's problem: identifiers, an integer timestamp, attributes."""
    message = _identifiers_problem(op.get("identifiers"))
    if message:
        return "identifiers", message
    if "timestamp" in op and not _is_int(op["timestamp"]):
        return "timestamp", "timestamp must be an integer (Unix seconds)"
    if not isinstance(op.get("attributes", {}), dict):
        return "attributes", "attributes must be an object"
    extra = set(op) - {"type", "identifiers", "action", "timestamp", "attributes"}
    return ("", f"unexpected keys {sorted(extra)}") if extra else None


def op_problem(op: Any) -> Problem | None:
    """Return ``(field, message)`` if a batch op is invalid, else None."""
    if not isinstance(op, dict):
        return "", "operation must be an object"
    try:
        size = len(orjson.dumps(op))
    except orjson.JSONEncodeError:
        return "", "operation cannot be encoded"
    if size > MAX_OP_BYTES:
        return "", f"operation is larger than {MAX_OP_BYTES} bytes ({size})"
    if op.get("type") != "person":
        return "type", 'type must be "person"'
    if op.get("action") == "identify":
        return _identify_problem(op)
    if op.get("action") != "event":
        return "action", 'action must be "event"'
    message = _identifiers_problem(op.get("identifiers"))
    if message:
        return "identifiers", message
    if "timestamp" in op and not _is_int(op["timestamp"]):
        return "timestamp", "timestamp must be an integer (Unix seconds)"
    if "attributes" in op and not isinstance(op["attributes"], dict):
        return "attributes", "attributes must be an object"
    return _name_and_id_problem(op, id_required=True)


def call_problem(call: Any) -> Problem | None:
    """Return ``(field, message)`` if a Pipelines ``track`` call is invalid, else None."""
    if not isinstance(call, dict):
        return "", "call must be an object"
    size = len(orjson.dumps(call))
    if size > MAX_OP_BYTES:
        return "", f"call is larger than 32 KB ({size} bytes)"
    if call.get("type") not in ("track", "identify"):
        return "type", 'type must be "track" or "identify"'
    people = [k for k in PIPELINES_PERSON_KEYS if k in call]
    if len(people) != 1 or not isinstance(call[people[0]], str) or not call[people[0]]:
        return "userId", "exactly one of userId and anonymousId must be a non-empty string"
    if call["type"] == "identify":
        if not isinstance(call.get("traits", {}), dict):
            return "traits", "traits must be an object"
        return _stamp_problem(call)
    event = call.get("event")
    if not isinstance(event, str) or not event.strip():
        return "event", "event cannot be blank"
    if "properties" in call and not isinstance(call["properties"], dict):
        return "properties", "properties must be an object"
    return _stamp_problem(call)


def _stamp_problem(call: dict[str, Any]) -> Problem | None:
    stamp = call.get("timestamp")
    if "timestamp" in call and not (isinstance(stamp, str) and _ISO_MS.fullmatch(stamp)):
        return "timestamp", "timestamp must be ISO-8601 UTC with milliseconds"
    if "messageId" in call and not isinstance(call["messageId"], str):
        return "messageId", "messageId must be a string"
    return None


def identifier_kind(identifier: str) -> str:
    """Map a v1 path identifier to its key: ``email`` if it has "@", ``cio_id`` for ``cio_``."""
    if "@" in identifier:
        return "email"
    return "cio_id" if identifier.startswith("cio_") else "id"


def check_fault(fault: Fault) -> Fault:
    """Validate a fault tuple (see the module docstring) and return it."""
    arity = FAULT_ARITY.get(fault[0]) if isinstance(fault, tuple) and fault else None
    if arity is None or not arity[0] <= len(fault) <= arity[1]:
        raise ValueError(f"unknown fault {fault!r}; kinds: {sorted(FAULT_ARITY)}")
    return fault


class FakeCio:
    """The fake server. Use as ``with FakeCio() as fake: ... fake.url ...``."""

    def __init__(self, site_id: str = "site", api_key: str = "key", *, port: int = 0,
                 region: str = "us", delay: float = 0.0,
                 reject: Predicate | None = reject_api_reject, store_events: bool = True,
                 echo: bool = False,
                 routes: Mapping[str, Callable[[bytes], Reply]] | None = None,
                 pipelines_key: str = "pipekey") -> None:
        """Configure (not start) a server; ``port=0`` picks a free port at ``start()``.

        ``store_events=False`` keeps only counters and seen ids (for huge benchmarks);
        ``echo=True`` quotes the credentials received in error bodies (module docstring).
        """
        self.echo = echo
        self._routes = dict(routes or {})
        if region not in REGION_URLS:
            raise ValueError(f"region must be one of {sorted(REGION_URLS)}")
        self.delay = delay
        self.region = region
        self._credentials = f"{site_id}:{api_key}".encode()
        self._pipelines_key = pipelines_key
        self._port = port
        self._reject = reject
        self._store_events = store_events
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._script: deque[Fault] = deque()
        self._every: tuple[int, tuple[Fault, ...]] | None = None
        self._every_count = 0
        self._every_next = 0
        self._cap: tuple[float, str | None] | None = None
        self._cap_times: deque[float] = deque()
        self.reset()

    def __repr__(self) -> str:
        return f"FakeCio(port={self._port}, running={self.running})"

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (0 until first started)."""
        return self._port

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT``."""
        if not self._port:
            raise RuntimeError("FakeCio is not started")
        return f"http://{HOST}:{self._port}"

    @property
    def running(self) -> bool:
        """True while the listening socket is open."""
        return self._server is not None

    def start(self) -> FakeCio:
        """Listen (on the same port as before, if it was started already) and serve."""
        if self._server is None:
            server = _Server(self, self._port)
            self._port = server.server_address[1]
            self._thread = threading.Thread(target=server.serve_forever, args=(0.05,),
                                            name=f"fakecio-{self._port}", daemon=True)
            self._server = server
            self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listening socket and every connection; returns promptly. Idempotent."""
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            for conn in self._connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if thread is not None:
            thread.join(timeout=2)

    def down(self) -> None:
        """Make the server go away (connections refused) until ``up()``; same as ``stop()``."""
        self.stop()

    def up(self) -> None:
        """Listen again on the same port after ``down()``."""
        if not self._port:
            raise RuntimeError("up() needs a server that was started before")
        self.start()

    def __enter__(self) -> FakeCio:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- fault injection ---------------------------------------------------------------------

    def script(self, faults: Iterable[Fault]) -> None:
        """Queue faults for the next POST requests, one per request, in order."""
        checked = [check_fault(fault) for fault in faults]
        with self._lock:
            self._script.extend(checked)

    def fail_every(self, n: int, *faults: Fault) -> None:
        """Give every n-th POST (not taking a scripted fault) the next of ``faults``, cycling.

        ``fail_every(0)`` removes the policy.
        """
        checked = tuple(check_fault(fault) for fault in faults)
        with self._lock:
            self._every = (n, checked) if n > 0 and checked else None
            self._every_count = self._every_next = 0

    def cap_rate(self, per_second: float, retry_after: str | None = None) -> None:
        """Answer 429 to POSTs beyond ``per_second`` in the last second (0 removes the cap)."""
        with self._lock:
            self._cap = (per_second, retry_after) if per_second > 0 else None
            self._cap_times.clear()

    def _over_cap(self) -> Fault | None:
        """The 429 for a POST beyond the cap (lock held), or None (the POST is counted)."""
        if self._cap is None:
            return None
        limit, retry_after = self._cap
        now = time.monotonic()
        while self._cap_times and self._cap_times[0] <= now - 1.0:
            self._cap_times.popleft()
        if len(self._cap_times) >= limit:
            return ("status", 429, {"Retry-After": retry_after} if retry_after else {}, b"")
        self._cap_times.append(now)
        return None

    def clear_faults(self) -> None:
        """Drop queued faults and the ``fail_every`` policy (``delay`` is left alone)."""
        with self._lock:
            self._script.clear()
            self._every = None

    @property
    def faults_pending(self) -> int:
        """How many scripted faults are still queued."""
        with self._lock:
            return len(self._script)

    def _next_fault(self, method: str) -> Fault | None:
        if method != "POST":
            return None
        with self._lock:
            if self._script:
                return self._script.popleft()
            capped = self._over_cap()
            if capped is not None:
                return capped
            if self._every is None:
                return None
            n, faults = self._every
            self._every_count += 1
            if self._every_count % n:
                return None
            self._every_next += 1
            return faults[(self._every_next - 1) % len(faults)]

    # -- recorded state ----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget stored events, duplicates and recorded requests."""
        with self._lock:
            self._events: list[Event] = []
            self._by_id: dict[str, Event] = {}
            self._seen: set[str] = set()
            self._duplicates: Counter[str] = Counter()
            self._requests: list[RequestRecord] = []
            self._calls: list[Any] = []
            self._people: list[Event] = []
            self._accepted = 0

    @property
    def events(self) -> list[Event]:
        """Every accepted event, repeated ids included, in arrival order."""
        with self._lock:
            return list(self._events)

    @property
    def events_by_id(self) -> dict[str, Event]:
        """The first accepted event for each id (events without an id are not here)."""
        with self._lock:
            return dict(self._by_id)

    @property
    def duplicate_ids(self) -> Counter[str]:
        """id -> how many times it was received again after the first time."""
        with self._lock:
            return Counter(self._duplicates)

    @property
    def people(self) -> list[Event]:
        """Every accepted person's update (identify op or call), in arrival order."""
        with self._lock:
            return list(self._people)

    @property
    def calls(self) -> list[Any]:
        """Every Pipelines call received (raw JSON objects), stored or not, in arrival order."""
        with self._lock:
            return list(self._calls)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request (except ``/_fake/stats``), recorded just before it is answered."""
        with self._lock:
            return list(self._requests)

    def stats(self) -> dict[str, Any]:
        """Counters: requests, statuses, accepted events, unique ids, duplicates."""
        with self._lock:
            statuses = Counter(str(r.status) for r in self._requests)
            return {"requests": len(self._requests), "statuses": dict(statuses),
                    "accepted": self._accepted, "unique_ids": len(self._seen),
                    "duplicates": sum(self._duplicates.values())}

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def _store(self, events: list[Event]) -> None:
        with self._lock:
            for event in events:
                if "name" not in event:  # a person's update
                    self._accepted += 1
                    self._people.append(event)
                    continue
                self._accepted += 1
                event_id = event["id"]
                if event_id in self._seen:
                    self._duplicates[event_id] += 1
                elif event_id is not None:
                    self._seen.add(event_id)
                    if self._store_events:
                        self._by_id[event_id] = event
                if self._store_events:
                    self._events.append(event)

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # -- the API -----------------------------------------------------------------------------

    def auth_ok(self, header: str | None, path: str = "") -> bool:
        """Whether an Authorization header carries the configured credentials: Basic
        ``site:key`` (Track), or for a Pipelines path ``Bearer KEY`` or Basic ``KEY:``."""
        scheme, _, encoded = (header or "").partition(" ")
        if path.partition("?")[0] in PIPELINES_PATHS:
            return self._pipelines_auth_ok(scheme.lower(), encoded.strip())
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(decoded, self._credentials)

    def _pipelines_auth_ok(self, scheme: str, value: str) -> bool:
        if scheme == "bearer":
            return hmac.compare_digest(value.encode(), self._pipelines_key.encode())
        try:
            decoded = base64.b64decode(value, validate=True) if scheme == "basic" else b""
        except (binascii.Error, ValueError):
            return False
        return bool(decoded) and hmac.compare_digest(decoded, f"{self._pipelines_key}:".encode())

    def echoed(self, reply: Reply, auth: str | None) -> Reply:
        """``reply`` with the credentials received quoted in its error texts (echo mode)."""
        status, headers, body = reply
        if status < 400 and status != 207:
            return reply
        _, _, encoded = (auth or "").partition(" ")
        try:
            pair = base64.b64decode(encoded.strip()).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            pair = ""
        site, _, key = pair.partition(":")
        echo = f" [you sent Authorization: {auth}, that is {pair}: site {site}, key {key}]"
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return status, headers, body + echo.encode()
        return status, headers, orjson.dumps(_append_texts(doc, echo))

    def route(self, method: str, raw_path: str, auth_ok: bool, body: bytes,
              strict: bool = False) -> Reply:
        """Answer one request (no faults, no delay): ``(status, headers, body)``; ``strict``:
        X-Strict-Mode: 1 was sent (Pipelines)."""
        path = raw_path.partition("?")[0]
        if not auth_ok:
            return _error(401, "Unauthorized request")
        if method == "POST" and path in PIPELINES_PATHS and len(body) < MAX_REQUEST_BYTES:
            return self._pipelines(body, path == "/v1/batch", strict)
        if method == "GET" and path == "/api/v1/accounts/region":
            doc = {"url": REGION_URLS[self.region], "region": self.region, "environment_id": 1}
            return 200, {}, orjson.dumps(doc)
        if method == "POST" and len(body) >= MAX_REQUEST_BYTES:
            return _error(413, f"request body must be smaller than {MAX_REQUEST_BYTES} bytes")
        if method == "POST" and path in self._routes:
            return self._routes[path](body)
        if method == "POST" and path == "/api/v2/batch":
            return self._batch(body)
        if method == "POST" and path == "/api/v1/events":
            return self._v1(body, None)
        match = _V1_CUSTOMER.fullmatch(path)
        if method == "POST" and match:
            return self._v1(body, unquote(match.group(1)))
        return _error(404, "Not Found")

    def _rejected(self, event: Event) -> bool:
        return self._reject is not None and self._reject(event)

    def _batch(self, body: bytes) -> Reply:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _error(400, "request body is not valid JSON")
        ops = doc.get("batch") if isinstance(doc, dict) else None
        if not isinstance(ops, list) or not ops:
            return _error(400, 'body must be {"batch": [operation, ...]} with operations')
        errors: list[dict[str, Any]] = []
        good: list[Event] = []
        for index, op in enumerate(ops):
            problem = op_problem(op)
            if problem is None:
                event = {"identifiers": dict(op["identifiers"]), "name": op.get("name"),
                         "id": op.get("id"), "timestamp": op.get("timestamp"),
                         "attributes": op.get("attributes", {})}
                if op["action"] == "identify":
                    del event["name"]
                if not self._rejected(event):
                    good.append(event)
                    continue
                problem = ("name", REJECT_MESSAGE)
            errors.append({"batch_index": index, "reason": "invalid",
                           "field": problem[0], "message": problem[1]})
        self._store(good)
        return (207, {}, orjson.dumps({"errors": errors})) if errors else (200, {}, b"{}")

    def _pipelines(self, body: bytes, batch: bool, strict: bool) -> Reply:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _error(400, "request body is not valid JSON")
        calls = doc.get("batch") if batch and isinstance(doc, dict) else [doc]
        if not isinstance(calls, list):
            return _error(400, 'body must be {"batch": [call, ...]}')
        with self._lock:
            self._calls.extend(calls)
        good: list[Event] = []
        for call in calls:
            problem = call_problem(call)
            if problem is None:
                person = next(k for k in PIPELINES_PERSON_KEYS if k in call)
                event = {"identifiers": {person: call[person]}, "name": call.get("event"),
                         "id": call.get("messageId"), "timestamp": call.get("timestamp"),
                         "attributes": call.get("properties", {}), "api": "pipelines"}
                if call["type"] == "identify":
                    del event["name"]
                    event["attributes"] = call.get("traits", {})
                if not self._rejected(event):
                    good.append(event)
                    continue
                problem = ("event", REJECT_MESSAGE)
            if strict:
                return _error(400, problem[1])
        self._store(good)  # without strict mode: the invalid calls are dropped, 200 all the same
        return 200, {}, b"{}"

    def _v1(self, body: bytes, identifier: str | None) -> Reply:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _error(400, "request body is not valid JSON")
        if not isinstance(doc, dict):
            return _error(400, "request body must be a JSON object")
        if identifier is None:
            anonymous_id = doc.get("anonymous_id")
            if not isinstance(anonymous_id, str) or not anonymous_id:
                return _error(400, "anonymous_id cannot be blank")
            identifiers = {"anonymous_id": anonymous_id}
        else:
            identifiers = {identifier_kind(identifier): identifier}
        problem = _name_and_id_problem(doc, id_required=False)
        data, timestamp = doc.get("data"), doc.get("timestamp")
        if problem:
            return _error(400, problem[1])
        if timestamp is not None and not _is_int(timestamp):
            return _error(400, "timestamp must be an integer (Unix seconds)")
        if data is not None and not isinstance(data, dict):
            return _error(400, "data must be an object")
        if data and len(orjson.dumps(data)) > MAX_DATA_BYTES:
            return _error(400, f"data is larger than {MAX_DATA_BYTES} bytes")
        event = {"identifiers": identifiers, "name": doc["name"], "id": doc.get("id"),
                 "timestamp": timestamp, "attributes": data or {}}
        if self._rejected(event):
            return _error(400, REJECT_MESSAGE)
        self._store([event])
        return 200, {}, b"{}"


def _append_texts(doc: Any, echo: str) -> Any:
    """``doc`` with ``echo`` added to every error text (``error``, ``message``, ``errors``)."""
    if isinstance(doc, dict):
        return {k: v + echo if k in ("error", "message") and isinstance(v, str)
                else _append_texts(v, echo) for k, v in doc.items()}
    if isinstance(doc, list):
        return [x + echo if isinstance(x, str) else _append_texts(x, echo) for x in doc]
    return doc


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, fake: FakeCio, port: int) -> None:
        self.fake = fake
        super().__init__((HOST, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = HOST, self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # resets and broken pipes are expected
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024  # headers and body leave in one send; flushed after each request

    def version_string(self) -> str:
        """The Server header."""
        return "FakeCio/1.0"

    @property
    def fake(self) -> FakeCio:
        return cast(_Server, self.server).fake

    def setup(self) -> None:
        super().setup()
        self.fake._track(self.connection, add=True)

    def finish(self) -> None:
        self.fake._track(self.connection, add=False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def do_GET(self) -> None:
        """Serve a GET."""
        self._serve()

    def do_POST(self) -> None:
        """Serve a POST."""
        self._serve()

    do_PUT = do_PATCH = do_DELETE = do_POST

    def _serve(self) -> None:
        fake = self.fake
        if self.command == "GET" and self.path == STATS_PATH:
            self._send((200, {}, orjson.dumps(fake.stats())))
            return
        fault = fake._next_fault(self.command)
        kind: str | None = fault[0] if fault else None
        auth = self.headers.get("Authorization")
        auth_ok = fake.auth_ok(auth, self.path)
        strict = self.headers.get("X-Strict-Mode") == "1"
        encoding = self.headers.get("Content-Encoding")
        body = b"" if kind == "drop_before_read" else self._read_body()
        if body and encoding == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):
                body = None
        pause = fake.delay + (float(fault[1]) if fault and kind == "delay" else 0.0)
        if pause > 0 and kind != "drop_before_read":
            time.sleep(pause)
        reply: Reply | None = None  # None: close the connection without answering
        if body is None:
            status, _, payload = _error(400, "bad Content-Length or chunked body")
            reply = (status, {"Connection": "close"}, payload)
        elif fault and kind == "status":
            extra = fault[3] if len(fault) > 3 else b""
            payload = extra.encode() if isinstance(extra, str) else bytes(extra)
            reply = (int(fault[1]), dict(fault[2] if len(fault) > 2 else {}), payload)
        elif fault and kind == "reject_whole":
            reply = _error(int(fault[1]), "whole request rejected by fake server")
        elif fault and kind == "unreadable_207":
            reply = (207, {}, bytes(fault[1]) if len(fault) > 1 else UNREADABLE_207)
        elif kind not in ("drop", "drop_before_read"):
            reply = fake.route(self.command, self.path, auth_ok, body, strict)
            if kind == "accept_then_drop":
                reply = None
        if reply is not None and fake.echo:
            reply = fake.echoed(reply, auth)
        # Record before answering, so a client that saw the answer also sees the record.
        fake._record(RequestRecord(self.command, self.path, auth is not None, auth_ok,
                                   len(body or b""), reply[0] if reply else None, kind,
                                   strict, encoding))
        if reply is None:
            self._drop()
        elif fault and kind == "drip":
            self._drip(reply, float(fault[1]), int(fault[2]) if len(fault) > 2 else DRIP_SIZE)
        else:
            self._send(reply)

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return None
        return self.rfile.read(length) if length >= 0 else None

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        try:
            while size := int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        except ValueError:
            return None
        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(parts)

    def _send(self, reply: Reply) -> None:
        status, headers, body = reply
        self.send_response(status)
        merged = {"Content-Type": "application/json", **headers}
        merged["Content-Length"] = str(len(body))
        for name, value in merged.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _drip(self, reply: Reply, seconds: float, size: int) -> None:
        """Send the headers, then the body one byte every ``seconds`` (until the client goes)."""
        status, headers, body = reply
        body = body.ljust(size)
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers,
                            "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.flush()
        for i in range(len(body)):
            time.sleep(seconds)
            if not self.fake.running:
                break
            self.wfile.write(body[i:i + 1])
            self.wfile.flush()

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    """Serve from the command line until SIGTERM/SIGINT; the URL goes to stdout's first line."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakecio", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--site-id", default="site")
    parser.add_argument("--api-key", default="key")
    parser.add_argument("--pipelines-key", default="pipekey")
    parser.add_argument("--region", choices=sorted(REGION_URLS), default="us")
    parser.add_argument("--no-store", action="store_true", help="count events, keep no copies")
    parser.add_argument("--echo", action="store_true",
                        help="quote the credentials received in error bodies")
    args = parser.parse_args(argv)
    signals: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signals.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    fake = FakeCio(args.site_id, args.api_key, port=args.port, region=args.region,
                   delay=args.delay, store_events=not args.no_store, echo=args.echo,
                   pipelines_key=args.pipelines_key)
    with fake:
        print(fake.url, flush=True)
        while not signals:
            time.sleep(0.1)
    print(f"fakecio: {orjson.dumps(fake.stats()).decode()}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
