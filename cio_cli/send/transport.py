"""The one HTTP client of cio: pacing, retries, backoff and response classes.  [httpx]

How ``Transport.post`` treats an answer:

    what the API calls it    (``Api.answer``, send/api.py: Track's in brackets)
      all accepted           Outcome "ok" (2xx but 207)
      some ops refused       Outcome "partial": (op index, message) for each refused op
                             (207); a body the API cannot read that way is retried (below)
      the request refused    Outcome "refused": the API's message (400 413 422)
    401 403                  AbortError at once: credentials (never retried)
    3xx                      AbortError at once: the region or base URL looks wrong
    404, other 4xx           AbortError at once, naming the URL
    408 429 5xx, timeouts,   retried with full-jitter exponential backoff, Retry-After as a
    connection errors        minimum (one wait at most RETRY_AFTER_CAP); AbortError after
                             ``max_retries`` retries

``timeout`` is a deadline for a whole attempt (connecting, sending, the whole answer): each
step may only wait for the time left, and the answer is checked against the deadline as each
piece of it arrives. Every attempt takes a token from the Pacer (at most ``rate`` starts a
second); a 429 halves the rate (keeping what the server takes), a success creeps it back. A
wait of a second or more before a retry is announced through ``on_wait``; each attempt's
round trip, and whether it is retried, through ``on_exchange`` (the sender's window,
send/window.py, sizes itself on them).

No message built here contains a credential or a header: messages come from status codes and
exception class names, never from ``str()`` of an httpx error, and no AbortError is chained to
an httpx exception. Text from the network (error bodies, 207 messages, a Location) passes
through ``Config.redact`` before it is put in any message.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import random
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Literal

import httpx

from cio_cli import __version__
from cio_cli.config import Config
from cio_cli.errors import AbortError, UsageError
from cio_cli.send.api import Api, item_text, load, shorten
from cio_cli.send.choice import choose

BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 60.0  # seconds: the longest single wait a Retry-After can ask for
WAIT_NOTE_MIN = 1.0  # seconds: a wait this long or longer is announced through on_wait
SLOWDOWN_COOLDOWN = 0.1  # seconds: a burst of 429s from parallel requests halves the rate once
RATE_KEPT = 0.9  # after a 429, the rate stays at least this share of the last second's successes
SPEEDUP_STEP = 0.05  # requests/s added a success: about 5% a second at any rate
NETWORK_HINT = (
    "check the network and status.customer.io, then run the same command again: it resumes"
)
REGION_HINT = "use --region eu for an EU workspace or --region us for a US one, or check --base-url"
_SPACING_SLACK = 1 + 1e-9  # keeps float rounding from fitting rate + 1 starts into a second
_DNS_WORDS = ("name or service", "name resolution", "nodename", "getaddrinfo", "no address")
_TIMEOUT_NAMES: dict[type[Exception], str] = {
    httpx.ConnectTimeout: "connect timeout",
    httpx.ReadTimeout: "read timeout",
    httpx.WriteTimeout: "write timeout",
    httpx.PoolTimeout: "no free connection",
}
Redact = Callable[[str], str]


class _Overdue(httpx.ReadTimeout):
    """The whole answer did not arrive before the attempt's deadline."""


class _TimeLeft:
    """Read by httpcore as a request's timeout settings: every step (connect, write, read,
    pool) may wait only for the time left until the deadline."""

    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        self._deadline, self._clock = deadline, clock

    def get(self, key: str, default: object = None) -> float:
        """The seconds left (at least a millisecond, so that a late step times out)."""
        del key, default
        return max(0.001, self._deadline - self._clock())


@dataclass(frozen=True)
class Outcome:
    """The final answer to one POST (after any retries)."""

    status: int
    kind: Literal["ok", "partial", "refused"]
    errors: tuple[tuple[int, str], ...] = ()
    message: str = ""
    retries: int = 0


class Pacer:
    """Spaces request starts so that no second holds more than ``rate`` of them; thread-safe.

    A token bucket of depth one: each start reserves the next slot, ``1/rate`` after the last.
    A 429 halves the rate (once a SLOWDOWN_COOLDOWN for a burst), but not below RATE_KEPT of
    the successes of the last second, which is what the server takes: under a server's own
    limit the rate settles just below it instead of collapsing. Each success adds
    SPEEDUP_STEP back, up to the rate asked for.
    """

    def __init__(
        self, rate: float, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        if not rate > 0:
            raise ValueError("rate must be positive")
        self._max_rate, self._min_rate, self._rate = rate, min(1.0, rate), rate
        self._clock, self._sleep = clock, sleep
        self._next = -math.inf
        self._last_slowdown = -math.inf
        self._successes: deque[float] = deque()  # when, over the last second
        self._lock = threading.Lock()

    @property
    def current_rate(self) -> float:
        """Starts per second allowed now."""
        with self._lock:
            return self._rate

    def acquire(self) -> None:
        """Block (through the injected sleep) until this caller may start a request."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + _SPACING_SLACK / self._rate
        if start > now:
            self._sleep(start - now)

    def slow_down(self) -> None:
        """A 429: halve the rate (once a cooldown), keeping what the server takes."""
        with self._lock:
            now = self._clock()
            halved = self._rate
            if now - self._last_slowdown >= SLOWDOWN_COOLDOWN:
                self._last_slowdown = now
                halved = self._rate / 2
            kept = RATE_KEPT * self._served(now)
            self._rate = min(self._rate, max(self._min_rate, halved, kept))

    def speed_up(self) -> None:
        """A success: creep back toward the configured rate."""
        with self._lock:
            now = self._clock()
            self._served(now)  # keeps the record to the last second
            self._successes.append(now)
            self._rate = min(self._max_rate, self._rate + SPEEDUP_STEP)

    def _served(self, now: float) -> int:
        """Successes in the last second (lock held)."""
        while self._successes and self._successes[0] <= now - 1.0:
            self._successes.popleft()
        return len(self._successes)


class _Paced(httpx.SyncByteStream):
    """A response body that raises ``_Overdue`` when a piece arrives after the deadline."""

    def __init__(
        self,
        stream: httpx.SyncByteStream,
        deadline: float,
        clock: Callable[[], float],
        request: httpx.Request,
    ) -> None:
        self._stream, self._deadline, self._clock, self._request = stream, deadline, clock, request

    def __iter__(self) -> Iterator[bytes]:
        for piece in self._stream:
            if self._clock() > self._deadline:
                raise _Overdue("the answer took too long", request=self._request)
            yield piece

    def close(self) -> None:
        """Close the underlying stream (the connection goes back to the pool or away)."""
        self._stream.close()


class _Watchdog:
    """Shuts down the connection of an answer still arriving at its deadline; one daemon
    thread per Transport, started on first use, asleep until the soonest deadline."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._due: dict[int, tuple[float, socket.socket]] = {}
        self._wake = threading.Condition()
        self._tickets = 0
        self._soonest = math.inf
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, deadline: float, sock: socket.socket) -> int:
        """Shut ``sock`` down at ``deadline`` unless released before; a ticket to release."""
        with self._wake:
            self._tickets += 1
            self._due[self._tickets] = (deadline, sock)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="cio-deadline", daemon=True)
                self._thread.start()
            if deadline < self._soonest:
                self._wake.notify()
            return self._tickets

    def release(self, ticket: int) -> None:
        """The answer is in (or given up): forget its deadline."""
        with self._wake:
            self._due.pop(ticket, None)

    def close(self) -> None:
        """Stop the thread."""
        with self._wake:
            self._closed = True
            self._wake.notify()

    def _run(self) -> None:
        with self._wake:
            while not self._closed:
                now = self._clock()
                for ticket, (deadline, sock) in list(self._due.items()):
                    if deadline <= now:
                        del self._due[ticket]
                        with contextlib.suppress(OSError):
                            socket.socket.shutdown(sock, socket.SHUT_RDWR)
                self._soonest = min((d for d, _ in self._due.values()), default=math.inf)
                self._wake.wait(None if self._soonest == math.inf else self._soonest - now)


class Stopped(AbortError):
    """A ``post`` given up because ``Transport.stop()`` was called (Ctrl-C, or another abort)."""


class Transport:
    """Keep-alive ``httpx.Client``s, one per worker thread; ``post`` is thread-safe."""

    def __init__(
        self,
        config: Config,
        *,
        timeout: float = 30,
        max_retries: int = 8,
        rate: float = 100,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
        on_retry: Callable[[str], None] | None = None,
        http: httpx.BaseTransport | None = None,
        wall_clock: Callable[[], float] = time.time,
        on_wait: Callable[[str], None] | None = None,
        on_exchange: Callable[[float, bool], None] | None = None,
    ) -> None:
        self._stopping = threading.Event()
        wait: Callable[[float], None] = sleep or self._wait  # waits end early on stop()
        self.pacer = Pacer(rate, clock, wait)
        self._base_url = config.base_url
        self._timeout, self._max_retries = timeout, max_retries
        self._clock, self._sleep, self._wall_clock = clock, wait, wall_clock
        self._rng = rng if rng is not None else random.Random()
        self._on_retry, self._on_wait, self._on_exchange = on_retry, on_wait, on_exchange
        self._redact: Redact = config.redact
        self._api: Api = choose(config.api)
        self._gzip = config.gzip
        self._watchdog = _Watchdog(clock)
        self._config, self._http = config, http
        self._tls = httpx.create_ssl_context()  # built once: each client would load the CAs
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._clients_lock = threading.Lock()
        self._client  # noqa: B018 - the calling thread's, now: bad settings fail here

    @property
    def _client(self) -> httpx.Client:
        """The calling thread's client, with its one keep-alive connection. A client per
        thread, not one shared pool: httpcore's pool looks at every connection it holds
        (polling each idle socket) for every request, which at 100 connections cost more
        CPU than the requests themselves."""
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = _client(self._config, self._timeout, self._tls, self._http)
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def __repr__(self) -> str:
        return f"Transport(base_url={self._base_url!r})"

    def post(self, path: str, body: bytes, ops: int | None = None) -> Outcome:
        """POST a JSON body to ``path`` (the API's batch path, or one event's); retries,
        then classifies as the API says (``Api.answer``).

        ``ops``: how many ops the body carries; an answer listing an op outside them is read
        as a body that cannot be trusted (retried like a 503).
        """
        response, retries = self._request("POST", path, body, ops)
        status, content = response.status_code, response.content
        answer = self._api.answer(status, content, ops)
        if answer is not None and answer.kind == "partial":
            errors = refusals(answer.errors, self._redact)
            return Outcome(status, "partial", errors=errors, retries=retries)
        if answer is not None and answer.kind == "ok":
            return Outcome(status, "ok", retries=retries)
        message = api_message(content, status, self._redact)
        if answer is not None and answer.kind == "refused":
            return Outcome(status, "refused", message=message, retries=retries)
        raise AbortError(
            f"Customer.io answered HTTP {status} for {_where(response)}: {message}",
            hint="check --base-url, or a proxy between cio and Customer.io",
        )

    def get_json(self, path: str) -> tuple[int, object]:
        """GET ``path``; the status and the parsed JSON (None if not JSON). Same aborts."""
        response, _ = self._request("GET", path, None, None)
        return response.status_code, load(response.content)

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def stop(self) -> None:
        """Make every waiting or retrying ``post`` give up now (AbortError), from any thread."""
        self._stopping.set()

    def close(self) -> None:
        """Close the connections."""
        self._watchdog.close()
        with self._clients_lock:
            for client in self._clients:
                client.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _request(
        self, method: str, path: str, body: bytes | None, ops: int | None
    ) -> tuple[httpx.Response, int]:
        """Send until an answer that is not retried; AbortError when retries run out.

        Under ``--gzip`` the body is compressed once here, not again for each retry."""
        headers = None
        if self._gzip and body is not None:  # --gzip: limits counted the JSON before this
            body, headers = gzip.compress(body, 6), {"Content-Encoding": "gzip"}
        retries = 0
        while True:
            self.pacer.acquire()
            if self._stopping.is_set():
                raise Stopped("stopped before this request was answered", hint=NETWORK_HINT)
            began = self._clock()
            response, reason = self._attempt(method, path, body, headers, ops)
            if self._on_exchange is not None:
                self._on_exchange(self._clock() - began, reason is not None)
            if reason is None and response is not None:
                _raise_if_fatal(response, self._redact, self._api)
                if response.is_success:
                    self.pacer.speed_up()
                return response, retries
            if retries >= self._max_retries:
                noun = "retry" if retries == 1 else "retries"
                raise AbortError(
                    f"Customer.io did not answer after {retries} {noun}: {reason}",
                    hint=NETWORK_HINT,
                )
            retries += 1
            if self._on_retry is not None:
                self._on_retry(reason or "")
            self._sleep(self._backoff(retries, response, reason or ""))

    def _attempt(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str] | None,
        ops: int | None,
    ) -> tuple[httpx.Response | None, str | None]:
        """One request: (response, None) to keep, or (response or None, reason) to retry."""
        try:
            response = self._exchange(method, path, body, headers)
        except httpx.TransportError as exc:  # timeouts, refused, reset, dropped
            return None, describe_error(exc, self._timeout)
        except httpx.DecodingError:
            return None, "undecodable response"
        status = response.status_code
        if status == 429:
            self.pacer.slow_down()
        answer = self._api.answer(status, response.content, ops)
        if answer is not None and answer.kind == "unreadable":
            return response, f"HTTP {status} with a body that does not say which events failed"
        retry = status in (408, 429) or status >= 500
        return response, (f"HTTP {status}" if retry else None)

    def _exchange(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str] | None
    ) -> httpx.Response:
        """One request whose whole answer is read before ``timeout`` seconds have passed."""
        deadline = self._clock() + self._timeout
        try:
            request = self._client.build_request(
                method, path, content=body, headers=headers,
                extensions={"timeout": _TimeLeft(deadline, self._clock)},
            )  # fmt: skip
            response = self._client.send(request, stream=True)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeError) as exc:
            raise UsageError(
                f"cio cannot send to {_safe_url(self._base_url)}: {type(exc).__name__}",
                hint="check --base-url (or CIO_BASE_URL) and the proxy settings",
            ) from None
        self._read_by(response, deadline)
        return response

    def _read_by(self, response: httpx.Response, deadline: float) -> None:
        """Read the body, or raise ``_Overdue`` once ``deadline`` has passed: each piece is
        checked as it arrives, and the watchdog shuts the connection of an answer still
        arriving at the deadline (a server sending a byte now and then)."""
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        ticket = self._watchdog.watch(deadline, sock) if sock is not None else None
        try:
            if isinstance(response.stream, httpx.SyncByteStream):
                response.stream = _Paced(response.stream, deadline, self._clock, response.request)
            response.read()
        except (httpx.ReadError, httpx.RemoteProtocolError):
            if self._clock() < deadline:
                raise
            raise _Overdue("the answer took too long", request=response.request) from None
        finally:
            if ticket is not None:
                self._watchdog.release(ticket)
            response.close()

    def _backoff(self, attempt: int, response: httpx.Response | None, reason: str) -> float:
        """Full jitter, with a Retry-After header (at most RETRY_AFTER_CAP) as the minimum.

        A wait of WAIT_NOTE_MIN seconds or more is announced through ``on_wait``.
        """
        delay = self._rng.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempt - 1, 64)))
        asked = None
        if response is not None:
            now = _http_date(response.headers.get("Date")) or self._wall_clock()
            asked = retry_after_seconds(response.headers.get("Retry-After"), now, cap=math.inf)
        wait = delay if asked is None else max(min(asked, RETRY_AFTER_CAP), delay)
        if self._on_wait is not None and wait >= WAIT_NOTE_MIN:
            self._on_wait(_wait_note(wait, attempt, self._max_retries, reason, asked))
        return wait


def _client(
    config: Config, timeout: float, tls: ssl.SSLContext, http: httpx.BaseTransport | None
) -> httpx.Client:
    """A thread's client; a UsageError (never quoting a setting) if httpx refuses the base URL
    or the proxy settings of the environment (``config.check_proxies`` catches them first)."""
    try:
        return httpx.Client(
            base_url=config.base_url,
            headers={
                "User-Agent": f"cio/{__version__}",
                "Content-Type": "application/json",
                **choose(config.api).auth_headers(config),
            },
            timeout=timeout,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            verify=tls,
            follow_redirects=False,
            transport=http,
        )
    except (ValueError, ImportError, UnicodeError, httpx.InvalidURL) as exc:
        raise UsageError(
            f"cio cannot use --base-url or the proxy settings: {type(exc).__name__}",
            hint="check --base-url (or CIO_BASE_URL) and ALL_PROXY, HTTPS_PROXY, HTTP_PROXY"
            " and NO_PROXY",
        ) from None


def _wait_note(wait: float, attempt: int, most: int, reason: str, asked: float | None) -> str:
    """``waiting 60 s before retry 2 of 8: HTTP 429 (Retry-After 100000 s, ...)``."""
    why = reason
    if asked is not None and asked > RETRY_AFTER_CAP:
        why += f" (Retry-After {asked:.6g} s; cio waits at most {RETRY_AFTER_CAP:g} s at a time)"
    elif asked is not None and asked >= wait:
        why += f" (Retry-After {asked:.3g} s)"
    return f"waiting {wait:.3g} s before retry {attempt} of {most}: {why}"


def describe_error(exc: httpx.TransportError, timeout: float) -> str:
    """A short reason for a failed attempt, built without ``str(exc)``'s text."""
    if isinstance(exc, _Overdue):
        return f"timeout (no whole answer within {timeout:g} s)"
    if isinstance(exc, httpx.TimeoutException):
        return f"{_TIMEOUT_NAMES.get(type(exc), 'timeout')} ({timeout:g} s)"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()  # inspected, never shown
        if "refused" in text:
            return "connection refused"
        if any(word in text for word in _DNS_WORDS):
            return "host name not found"
        return "TLS error" if "ssl" in text or "certificate" in text else "cannot connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection dropped"
    if isinstance(exc, httpx.NetworkError):
        return "connection reset"
    return type(exc).__name__


def retry_after_seconds(
    value: str | None, now: float, cap: float = RETRY_AFTER_CAP
) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date), capped; or None."""
    text = (value or "").strip()
    try:
        seconds = float(text) if text else math.nan
    except ValueError:
        when = _http_date(text)
        seconds = math.nan if when is None else when - now
    return None if math.isnan(seconds) else min(max(seconds, 0.0), cap)


def _http_date(value: str | None) -> float | None:
    """An HTTP-date as a Unix time, or None."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _raise_if_fatal(response: httpx.Response, redact: Redact, api: Api) -> None:
    """Credentials refused, a redirect or a 404: abort before anything is retried."""
    status = response.status_code
    if status in (401, 403):
        raise AbortError(
            f"Customer.io refused the credentials (HTTP {status})", hint=api.credentials_hint
        )
    if 300 <= status < 400:
        target = _safe_url(redact(response.headers.get("Location", "")))
        to = f" to {target}" if target else ""
        raise AbortError(
            f"Customer.io redirected {_where(response)}{to} (HTTP {status}): "
            "the region or base URL looks wrong",
            hint=REGION_HINT,
        )
    if status == 404:
        raise AbortError(
            f"Customer.io answered HTTP 404 (not found) for {_where(response)}",
            hint=api.paths_hint,
        )


def _where(response: httpx.Response) -> str:
    """``METHOD URL`` of the request that got this response, without any user info."""
    request = response.request
    return f"{request.method} {_safe_url(str(request.url))}"


def _safe_url(url: str) -> str:
    try:
        return shorten(str(httpx.URL(url).copy_with(userinfo=b""))) if url else ""
    except (httpx.InvalidURL, TypeError, ValueError):
        return ""


def _texts(doc: object) -> list[str]:
    """Error texts from ``{"meta":{"error"}}``, ``{"meta":{"errors"}}`` or ``{"errors"}``."""
    if not isinstance(doc, dict):
        return []
    meta = doc.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("error"), str):
        return [meta["error"]]
    items = meta.get("errors") if isinstance(meta, dict) else None
    items = items if isinstance(items, list) else doc.get("errors")
    if isinstance(items, list):
        return [
            x if isinstance(x, str) else item_text(x) for x in items if isinstance(x, (str, dict))
        ]
    return [doc[k] for k in ("error", "message") if isinstance(doc.get(k), str)][:1]


def _keep(text: str) -> str:
    return text


def api_message(body: bytes, status: int, redact: Redact = _keep) -> str:
    """The API's error message from any of its body shapes (``redact`` applied before it is
    shortened), else ``"HTTP <status>"``."""
    text = "; ".join(t for t in _texts(load(body)) if t)
    return shorten(redact(text)) if text.strip() else f"HTTP {status}"


def refusals(
    found: tuple[tuple[int, str], ...], redact: Redact = _keep
) -> tuple[tuple[int, str], ...]:
    """``(op index, message)`` for each op the API refused (messages redacted, then
    shortened; empty for a refusal without a message)."""
    return tuple((i, shorten(redact(text))) for i, text in found)
