"""The one HTTP client of cio: pacing, retries, backoff and response classes.  [httpx]

How ``Transport.post`` treats an answer:

    2xx but 207              Outcome "ok"
    207                      Outcome "partial": (batch_index, message) for each refused op
    400 413 422              Outcome "refused": the API's message (the whole request)
    401 403                  AbortError at once: credentials (never retried)
    3xx                      AbortError at once: the region or base URL looks wrong
    404, other 4xx           AbortError at once, naming the URL
    408 429 5xx, timeouts,   retried with full-jitter exponential backoff, Retry-After as a
    connection errors        minimum; AbortError after ``max_retries`` retries

Every attempt takes a token from the Pacer (at most ``rate`` starts a second); a 429 halves
the rate, a success creeps it back. No message built here contains a credential or a header:
messages come from status codes and exception class names, never from ``str()`` of an httpx
error, and no AbortError is chained to an httpx exception.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Literal

import httpx

from cio_cli import __version__
from cio_cli.config import Config
from cio_cli.errors import AbortError

BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 300.0
SLOWDOWN_COOLDOWN = 1.0  # seconds: a burst of 429s from parallel requests halves the rate once
SPEEDUP_FACTOR = 1.05
REFUSED = frozenset({400, 413, 422})
MESSAGE_LIMIT = 300
CREDENTIALS_HINT = "check the site id, the API key and the region (--region us|eu, or --base-url)"
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
        """Halve the rate (not below 1/s), at most once per second for a burst of 429s."""
        with self._lock:
            now = self._clock()
            if now - self._last_slowdown >= SLOWDOWN_COOLDOWN:
                self._last_slowdown = now
                self._rate = max(self._min_rate, self._rate / 2)

    def speed_up(self) -> None:
        """Creep back toward the configured rate (+5% per call)."""
        with self._lock:
            self._rate = min(self._max_rate, self._rate * SPEEDUP_FACTOR)


class Stopped(AbortError):
    """A ``post`` given up because ``Transport.stop()`` was called (Ctrl-C, or another abort)."""


class Transport:
    """One keep-alive ``httpx.Client`` shared by worker threads; ``post`` is thread-safe."""

    def __init__(
        self,
        config: Config,
        *,
        timeout: float = 30,
        max_retries: int = 8,
        rate: float = 100,
        concurrency: int = 8,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
        on_retry: Callable[[str], None] | None = None,
        http: httpx.BaseTransport | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._stopping = threading.Event()
        wait: Callable[[float], None] = sleep or self._wait  # waits end early on stop()
        self.pacer = Pacer(rate, clock, wait)
        self._base_url = config.base_url
        self._timeout, self._max_retries = timeout, max_retries
        self._sleep, self._wall_clock = wait, wall_clock
        self._rng = rng if rng is not None else random.Random()
        self._on_retry = on_retry
        self._client = httpx.Client(
            base_url=config.base_url,
            auth=httpx.BasicAuth(config.site_id, config.api_key),
            headers={"User-Agent": f"cio/{__version__}", "Content-Type": "application/json"},
            timeout=timeout,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            follow_redirects=False,
            transport=http,
        )

    def __repr__(self) -> str:
        return f"Transport(base_url={self._base_url!r})"

    def post(self, path: str, body: bytes) -> Outcome:
        """POST a JSON body to ``path`` (e.g. ``/api/v2/batch``); retries, then classifies."""
        response, retries = self._request("POST", path, body)
        status = response.status_code
        if status == 207:
            return Outcome(
                status, "partial", errors=partial_errors(response.content), retries=retries
            )
        if response.is_success:
            return Outcome(status, "ok", retries=retries)
        if status in REFUSED:
            return Outcome(
                status, "refused", message=api_message(response.content, status), retries=retries
            )
        raise AbortError(
            f"Customer.io answered HTTP {status} for {_where(response)}: "
            f"{api_message(response.content, status)}",
            hint="check --base-url, or a proxy between cio and Customer.io",
        )

    def get_json(self, path: str) -> tuple[int, object]:
        """GET ``path``; the status and the parsed JSON (None if not JSON). Same aborts."""
        response, _ = self._request("GET", path, None)
        return response.status_code, _load(response.content)

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def stop(self) -> None:
        """Make every waiting or retrying ``post`` give up now (AbortError), from any thread."""
        self._stopping.set()

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _request(self, method: str, path: str, body: bytes | None) -> tuple[httpx.Response, int]:
        """Send until an answer that is not retried; AbortError when retries run out."""
        retries = 0
        while True:
            self.pacer.acquire()
            if self._stopping.is_set():
                raise Stopped("stopped before this request was answered", hint=NETWORK_HINT)
            response, reason = self._attempt(method, path, body)
            if reason is None and response is not None:
                _raise_if_fatal(response)
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
            self._sleep(self._backoff(retries - 1, response))

    def _attempt(
        self, method: str, path: str, body: bytes | None
    ) -> tuple[httpx.Response | None, str | None]:
        """One request: (response, None) to keep, or (response or None, reason) to retry."""
        try:
            response = self._client.request(method, path, content=body)
        except httpx.TransportError as exc:  # timeouts, refused, reset, dropped
            return None, describe_error(exc, self._timeout)
        except httpx.DecodingError:
            return None, "undecodable response"
        status = response.status_code
        if status == 429:
            self.pacer.slow_down()
        retry = status in (408, 429) or status >= 500
        return response, (f"HTTP {status}" if retry else None)

    def _backoff(self, attempt: int, response: httpx.Response | None) -> float:
        """Full jitter, with a Retry-After header as the minimum."""
        delay = self._rng.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempt, 64)))
        if response is None:
            return delay
        now = _http_date(response.headers.get("Date")) or self._wall_clock()
        minimum = retry_after_seconds(response.headers.get("Retry-After"), now)
        return delay if minimum is None else max(minimum, delay)


def describe_error(exc: httpx.TransportError, timeout: float) -> str:
    """A short reason for a failed attempt, built without ``str(exc)``'s text."""
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


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date), capped; or None."""
    text = (value or "").strip()
    try:
        seconds = float(text) if text else math.nan
    except ValueError:
        when = _http_date(text)
        seconds = math.nan if when is None else when - now
    return None if math.isnan(seconds) else min(max(seconds, 0.0), RETRY_AFTER_CAP)


def _http_date(value: str | None) -> float | None:
    """An HTTP-date as a Unix time, or None."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _raise_if_fatal(response: httpx.Response) -> None:
    """Credentials refused, a redirect or a 404: abort before anything is retried."""
    status = response.status_code
    if status in (401, 403):
        raise AbortError(
            f"Customer.io refused the credentials (HTTP {status})", hint=CREDENTIALS_HINT
        )
    if 300 <= status < 400:
        target = _safe_url(response.headers.get("Location", ""))
        to = f" to {target}" if target else ""
        raise AbortError(
            f"Customer.io redirected {_where(response)}{to} (HTTP {status}): "
            "the region or base URL looks wrong",
            hint=REGION_HINT,
        )
    if status == 404:
        raise AbortError(
            f"Customer.io answered HTTP 404 (not found) for {_where(response)}",
            hint="check --base-url (paths are added to it: /api/v1/..., /api/v2/...)",
        )


def _where(response: httpx.Response) -> str:
    """``METHOD URL`` of the request that got this response, without any user info."""
    request = response.request
    return f"{request.method} {_safe_url(str(request.url))}"


def _safe_url(url: str) -> str:
    try:
        return _shorten(str(httpx.URL(url).copy_with(userinfo=b""))) if url else ""
    except (httpx.InvalidURL, TypeError, ValueError):
        return ""


def _load(body: bytes) -> object:
    """Parsed JSON, or None when the body is not JSON."""
    try:
        return json.loads(body) if body else None
    except (ValueError, RecursionError):
        return None


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def _op_error_text(item: Mapping[str, object]) -> str:
    """``"<message> (field <field>, <reason>)"``, skipping empty parts."""
    message, field, reason = (str(item.get(k) or "") for k in ("message", "field", "reason"))
    details = ", ".join(part for part in (f"field {field}" if field else "", reason) if part)
    if message and details:
        return f"{message} ({details})"
    return message or details


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
            x if isinstance(x, str) else _op_error_text(x)
            for x in items
            if isinstance(x, (str, dict))
        ]
    return [doc[k] for k in ("error", "message") if isinstance(doc.get(k), str)][:1]


def api_message(body: bytes, status: int) -> str:
    """The API's error message from any of its body shapes, else ``"HTTP <status>"``."""
    text = "; ".join(t for t in _texts(_load(body)) if t)
    return _shorten(text) if text.strip() else f"HTTP {status}"


def partial_errors(body: bytes) -> tuple[tuple[int, str], ...]:
    """``(batch_index, message)`` for each op a 207 body lists as refused."""
    doc = _load(body)
    items = doc.get("errors") if isinstance(doc, dict) else None
    found: list[tuple[int, str]] = []
    for item in items if isinstance(items, list) else []:
        index = item.get("batch_index") if isinstance(item, dict) else None
        if isinstance(index, int) and not isinstance(index, bool) and index >= 0:
            text = _shorten(_op_error_text(item)) or "refused by Customer.io"
            found.append((index, text))
    return tuple(found)
