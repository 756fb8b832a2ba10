"""``cio send-event`` and ``cio check``: one event through Track API v1, and the region check.

``build_event`` applies the row rules of SPEC section 3 to one event given by flags;
``send_event`` posts it (a dry run only returns the request); ``check`` asks
``GET /api/v1/accounts/region`` and compares the workspace region with the one cio is set up
for. ``run_send_event``/``run_check`` turn every CioError into the result's ``error``, and
``emit`` prints a result: people's lines on stderr, ``--json`` or a dry-run request on stdout.
No message here holds a credential: they name flags and variables, never values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import quote

import orjson
from ulid import ULID

from cio_cli import header as rules
from cio_cli.config import DEFAULT_REGION, REGION_HOSTS, Config, base_url_for, resolve
from cio_cli.errors import AbortError, CioError, InvalidEventError, UsageError
from cio_cli.transport import Transport

REGION_PATH = "/api/v1/accounts/region"
_EMAIL, _NUMBER = re.compile(rules.EMAIL_RE), re.compile(rules.JSON_NUMBER_RE)
_ZONED, _NAIVE = re.compile(rules.ISO_ZONED_RE, re.A), re.compile(rules.ISO_NAIVE_RE, re.A)
_ULID, _PLAIN = re.compile(rules.ULID_RE), re.compile(r"-?[0-9]+(\.[0-9]+)?", re.A)
_SEMANTIC = frozenset(s.lower() for s in rules.SEMANTIC)
_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")
_FORMS = "use Unix seconds, Unix milliseconds, or ISO-8601 with Z or an offset"
_NAMES = {"us": "US", "eu": "EU"}


@dataclass(frozen=True)
class SingleEvent:
    """One v1 request ready to send (``path``, compact JSON ``body``) and what it says."""

    path: str
    body: bytes
    name: str
    target: str  # "person 'x'" or "anonymous 'y'", for messages
    event_id: str
    timestamp: int | None
    recent: bool
    notes: tuple[str, ...] = ()

    def request(self) -> dict[str, Any]:
        """``{"path": ..., "body": {...}}``, the body embedded byte for byte."""
        return {"path": self.path, "body": orjson.Fragment(self.body)}


def _show(value: object) -> str:
    """A value in single quotes for a message, cut at 60 characters."""
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return "'" + (text if len(text) <= 60 else text[:60] + "...") + "'"


def _check_name(name: str, allow_semantic: bool) -> list[str]:
    size = len(name.encode())
    if not name:
        raise InvalidEventError("the event name is empty", hint="pass --name NAME")
    if size > 100:
        raise InvalidEventError(f"the event name is {size} bytes; Customer.io allows at most 100")
    if name.lower() in _SEMANTIC and not allow_semantic:
        raise InvalidEventError(
            f"the event name {_show(name)} is a semantic event that deletes or changes people",
            hint="pass --allow-semantic to send it anyway",
        )
    if re.search(r"[ *+|]", name):
        return [
            f"note: the event name {_show(name)} has spaces or * + |: sent as is, "
            "but such names are awkward to match in segments and campaigns"
        ]
    return []


def _target(person: str | None, anonymous_id: str | None) -> tuple[str, str, str | None]:
    """``(path, description, anonymous id or None)``, by the rules of the two flags."""
    if (person is None) == (anonymous_id is None):
        raise UsageError(
            "give exactly one of --person and --anonymous-id",
            hint="--person ID for a known person, --anonymous-id A for a visitor",
        )
    if anonymous_id is not None:
        if not anonymous_id.strip():
            raise InvalidEventError("--anonymous-id is empty")
        return "/api/v1/events", f"anonymous {_show(anonymous_id.strip())}", anonymous_id.strip()
    who = (person or "").strip()
    if not who:
        raise InvalidEventError("--person is empty", hint="pass an id, an email or cio_<id>")
    if (size := len(who.encode())) > 150:
        raise InvalidEventError(f"--person is {size} bytes; Customer.io allows at most 150")
    return f"/api/v1/customers/{quote(who, safe='')}/events", f"person {_show(who)}", None


def parse_timestamp(text: str | None, now: float) -> tuple[int | None, list[str]]:
    """Unix seconds from ``--timestamp`` (None when absent or blank), and notes.

    Accepted: Unix seconds (decimals floored), Unix milliseconds (any value >= 1e11), ISO-8601
    with ``Z`` or an offset (``T`` or a space, fractions of a second). InvalidEventError for
    ISO-8601 without a zone, anything else, later than now + 10 minutes, or before 1970.
    """
    t, notes = (text or "").strip(), []
    if not t:
        return None, []
    if _PLAIN.fullmatch(t):
        value = Decimal(t)
        if value >= rules.MS_FROM:
            value /= 1000
            notes.append(f"note: --timestamp {t} was read as Unix milliseconds")
        ts = int(value.to_integral_value(rounding="ROUND_FLOOR"))
    elif _ZONED.fullmatch(t):
        ts = _iso_seconds(t)
    elif _NAIVE.fullmatch(t):
        raise InvalidEventError(
            f"--timestamp {_show(t)} has no time zone",
            hint="add Z or an offset, e.g. 2024-05-01T12:00:00Z or +02:00",
        )
    else:
        raise InvalidEventError(f"--timestamp {_show(t)} is not a timestamp", hint=_FORMS)
    if ts > int(now) + rules.FUTURE_S:
        raise InvalidEventError(
            f"--timestamp {_show(t)} is in the future",
            hint="check the value and its unit (seconds or milliseconds)",
        )
    if ts < 0:
        raise InvalidEventError(f"--timestamp {_show(t)} is before 1970", hint=_FORMS)
    return ts, notes


def _iso_seconds(text: str) -> int:
    iso = text[:10] + "T" + text[11:]
    try:
        when = datetime.fromisoformat(iso[:-1] + "+00:00" if iso[-1] in "Zz" else iso)
    except ValueError:
        raise InvalidEventError(
            f"--timestamp {_show(text)} is not a timestamp", hint=_FORMS
        ) from None
    return (when - _EPOCH) // timedelta(seconds=1)


def _data_object(text: str) -> dict[str, Any]:
    """The object of ``--data JSON`` or ``--data @file``."""
    what, raw = "--data", text.encode()
    if text.startswith("@"):
        what = f"--data {text}"
        try:
            raw = Path(text[1:]).read_bytes().removeprefix(b"\xef\xbb\xbf")
        except OSError as exc:
            raise UsageError(
                f"cannot read {what}: {exc.strerror or type(exc).__name__}",
                hint="--data @FILE reads a JSON object from FILE",
            ) from None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UsageError(
            f"{what} is not valid JSON ({exc})",
            hint="""give a JSON object, e.g. --data '{"plan":"pro"}'""",
        ) from None
    if not isinstance(doc, dict):
        raise UsageError(
            f"{what} must be a JSON object, not {_show(doc)}",
            hint="""for example --data '{"plan":"pro","seats":3}'""",
        )
    return doc


def _pair(pair: str) -> tuple[str, Any]:
    """``key=value``: the string; ``key:=JSON``: the parsed value."""
    key, sep, value = pair.partition("=")
    if not sep or key in ("", ":"):
        raise UsageError(
            f"-d {pair!r} is not key=value or key:=JSON",
            hint="for example -d plan=pro or -d seats:=3",
        )
    if not key.endswith(":"):
        return key, value
    try:
        return key[:-1], orjson.loads(value)
    except orjson.JSONDecodeError:
        raise UsageError(
            f"-d {pair!r}: {value!r} is not valid JSON",
            hint="""use -d key=value for a string, or -d 'key:="text"'""",
        ) from None


def parse_data(pairs: list[str], data_json: str | None) -> dict[str, Any]:
    """The event data: ``--data`` first, then each ``-d`` in order (later ones win)."""
    data = _data_object(data_json) if data_json is not None else {}
    data.update(_pair(pair) for pair in pairs)
    return data


def _number(key: str, value: Any) -> int | float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        try:
            number: int | float = orjson.loads(value.strip())
            return number
        except orjson.JSONDecodeError:
            pass  # too large for a double
    raise InvalidEventError(
        f"{key} {_show(value)} is not a number", hint=f"for example -d {key}:=12.5"
    )


def check_data(data: dict[str, Any]) -> tuple[bytes, list[str]]:
    """Apply the reserved-key and size rules: the data's compact JSON, and notes.

    ``revenue`` and ``value`` given as numeric text become numbers (in ``data`` too).
    """
    for key in rules.EMAIL_KEYS:
        if key in data and not (isinstance(data[key], str) and _EMAIL.fullmatch(data[key])):
            raise InvalidEventError(f"{key} {_show(data[key])} is not an email address")
    for key in rules.NUMBER_KEYS:
        if key in data:
            data[key] = _number(key, data[key])
    currency = data.get(rules.CURRENCY_KEY)
    if rules.CURRENCY_KEY in data and not (
        isinstance(currency, str) and currency in rules.ISO_4217
    ):
        raise InvalidEventError(
            f"currency {_show(currency)} is not a three-letter ISO 4217 code such as USD"
        )
    encoded = orjson.dumps(data)
    if len(encoded) > 100_000:
        raise InvalidEventError(
            f"the event data is {len(encoded):,} bytes of JSON; Customer.io allows at most 100,000"
        )
    found = [key for key in rules.EMAIL_KEYS if key in data]
    verb = "overrides" if len(found) == 1 else "override"
    return encoded, [
        f"note: {', '.join(found)} {verb} the addresses of emails this event triggers"
    ] if found else []


def build_event(
    person: str | None,
    anonymous_id: str | None,
    name: str,
    data_pairs: list[str],
    data_json: str | None,
    timestamp: str | None,
    event_id: str | None,
    allow_semantic: bool,
    now: float,
) -> SingleEvent:
    """Check one event against the rules (SPEC section 3) and build its v1 request.

    UsageError (exit 2) for flags that make no sense, InvalidEventError (exit 3) for an
    event that breaks a rule. Without ``event_id`` a fresh random ULID is used, so running
    the same command again sends a second event; pass ``--id`` to make a rerun a duplicate
    that Customer.io ignores.
    """
    path, target, anonymous = _target(person, anonymous_id)
    name = name.strip()
    notes = _check_name(name, allow_semantic)
    data = parse_data(data_pairs, data_json)
    ts, ts_notes = parse_timestamp(timestamp, now)
    given = (event_id or "").strip()
    if event_id is not None and not _ULID.fullmatch(given):
        raise InvalidEventError(
            f"--id {_show(given)} is not a valid ULID (26 characters of Crockford base32)"
        )
    data_bytes, data_notes = check_data(data)
    eid = given or str(ULID())
    if not given:
        notes.append(
            f"note: no --id, so a new one was made: running this again sends another "
            f"event; pass --id {eid} to make a retry a duplicate"
        )
    recent = ts is None or ts >= int(now) - rules.WINDOW_S
    if recent:
        why = "no --timestamp" if ts is None else "the timestamp is within the last 72 hours"
        notes.append(f"note: {why}: this event can trigger live campaigns and send messages")
    body: dict[str, Any] = {"name": name, "data": orjson.Fragment(data_bytes)}
    body |= {"timestamp": ts} if ts is not None else {}
    body |= {"id": eid} | ({"anonymous_id": anonymous} if anonymous is not None else {})
    return SingleEvent(
        path, orjson.dumps(body), name, target, eid, ts, recent, (*notes, *ts_notes, *data_notes)
    )


@dataclass(frozen=True)
class Connection:
    """Credential and HTTP options shared by send-event and check (None: not given)."""

    site_id: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    region: str | None = None
    base_url: str | None = None
    timeout: float = 30.0
    max_retries: int = 8

    def check_flags(self, env: Mapping[str, str]) -> str:
        """Check --timeout, --max-retries, --region and --base-url; the base URL."""
        if not 0 <= self.max_retries <= 100:
            raise UsageError("--max-retries must be between 0 and 100")
        if not 0 < self.timeout <= 600:
            raise UsageError("--timeout must be above 0 and at most 600 seconds")
        return base_url_for(self.region, self.base_url, env)

    def config(self, env: Mapping[str, str]) -> Config:
        """The Config; UsageError naming flag and variable when credentials are missing."""
        return resolve(self.site_id, self.api_key, self.region, self.base_url, env)

    def transport(self, config: Config) -> Transport:
        """A Transport with this timeout and retry budget (close it after use)."""
        return Transport(config, timeout=self.timeout, max_retries=self.max_retries)


class _Result:
    """What send-event and check results share: the error, if any, and how to print."""

    error: CioError | None

    @property
    def exit_code(self) -> int:
        """0, or the exit code of the error."""
        return 0 if self.error is None else self.error.exit_code

    def lines(self) -> list[str]:
        """Lines for people (stderr), printed before the error."""
        raise NotImplementedError

    def stdout(self) -> str:
        """What goes on stdout without --json."""
        return ""

    def as_json(self) -> dict[str, Any]:
        """The --json object."""
        raise NotImplementedError

    def _error_json(self) -> dict[str, Any]:
        exc = self.error
        return {} if exc is None else {"error": exc.message, "hint": exc.hint}


@dataclass(frozen=True)
class SendResult(_Result):
    """What became of one send-event: sent, a dry run, refused, or stopped by an error."""

    event: SingleEvent | None
    dry_run: bool
    sent: bool = False
    status: int | None = None
    error: CioError | None = None

    def lines(self) -> list[str]:
        """The event's notes, then what happened to it."""
        ev = self.event
        if ev is None:
            return []
        done = f"sent {_show(ev.name)} to {ev.target} (id {ev.event_id}, HTTP {self.status})"
        if self.dry_run:
            done = f"dry run: {_show(ev.name)} to {ev.target} not sent; request on stdout"
        return [*ev.notes, *([done] if self.error is None else [])]

    def stdout(self) -> str:
        """The dry run's request ``{"path","body"}`` as one JSON line."""
        ok = self.dry_run and self.error is None and self.event is not None
        return json_line(self.event.request()) if ok and self.event is not None else ""

    def as_json(self) -> dict[str, Any]:
        """``{"command":"send-event","sent","dry_run","path","id","status","recent",...}``."""
        ev = self.event
        obj = {
            "command": "send-event",
            "sent": self.sent,
            "dry_run": self.dry_run,
            "path": ev and ev.path,
            "id": ev and ev.event_id,
            "status": self.status,
            "recent": ev and ev.recent,
            "exit_code": self.exit_code,
        }
        if ev is not None and self.dry_run and self.error is None:
            obj["request"] = ev.request()
        return obj | self._error_json()


def send_event(event: SingleEvent, transport: Transport | None, dry_run: bool) -> SendResult:
    """POST the event, unless ``dry_run`` (then nothing is sent and ``transport`` may be None).

    200: sent (exit 0). A refusal (400/413/422) is a result whose error (exit 1) holds the
    API's message. AbortError propagates (credentials refused, 404, unreachable: exit 5).
    """
    if dry_run or transport is None:
        return SendResult(event, dry_run=True)
    outcome = transport.post(event.path, event.body)
    if outcome.kind == "ok":
        return SendResult(event, False, sent=True, status=outcome.status)
    message = outcome.message or "; ".join(text for _, text in outcome.errors)
    refused = CioError(
        f"Customer.io refused the event: {message or outcome.status}",
        hint="fix the event, then send it again",
    )
    return SendResult(event, False, status=outcome.status, error=refused)


def run_send_event(
    build: Callable[[], SingleEvent], conn: Connection, env: Mapping[str, str], dry_run: bool
) -> SendResult:
    """Check the flags, build, then send (or not); every CioError becomes the result's error.

    A dry run needs no credentials.
    """
    event: SingleEvent | None = None
    try:
        conn.check_flags(env)
        event = build()
        if dry_run:
            return send_event(event, None, True)
        with conn.transport(conn.config(env)) as transport:
            return send_event(event, transport, False)
    except CioError as exc:
        return SendResult(event, dry_run, error=exc)


def expected_region(region: str | None, base_url: str, env: Mapping[str, str]) -> str:
    """The region cio is set up for: the host's when ``base_url`` is a Customer.io host;
    otherwise (a proxy, a test server) ``--region``, else ``CIO_REGION``, else ``us``.
    """
    for name, host in REGION_HOSTS.items():
        if base_url.rstrip("/") == host:
            return name
    chosen = (region or "").strip() or (env.get("CIO_REGION") or "").strip()
    return (chosen or DEFAULT_REGION).lower()


@dataclass(frozen=True)
class CheckResult(_Result):
    """The workspace region as Customer.io reports it, and the one cio is set up for."""

    expected_region: str | None
    region: str | None = None
    url: str | None = None
    environment_id: object = None
    error: CioError | None = None

    def lines(self) -> list[str]:
        """One line when the credentials work."""
        if self.region is None:
            return []
        return [
            f"credentials ok: workspace region {self.region} ({self.url}), environment "
            f"{self.environment_id}; cio is set up for {self.expected_region}"
        ]

    def as_json(self) -> dict[str, Any]:
        """``{"command":"check","ok","region","expected_region","url","environment_id",...}``."""
        obj = {
            "command": "check",
            "ok": self.error is None,
            "region": self.region,
            "expected_region": self.expected_region,
            "url": self.url,
            "environment_id": self.environment_id,
            "exit_code": self.exit_code,
        }
        return obj | self._error_json()


def _wrong_region(region: str, expected: str, base_url: str) -> CioError:
    home, used = _NAMES.get(region, region), _NAMES.get(expected, expected)
    why = (
        "the US host redirects EU traffic, and cio does not follow redirects"
        if region == "eu"
        else f"the {used} host does not serve a {home} workspace"
    )
    return CioError(  # exit 1
        f"your workspace is in the {home}: pass --region {region} or set CIO_REGION={region}",
        hint=f"cio is set up for the {used} ({base_url}): {why}; a --base-url or CIO_BASE_URL "
        f"must lead to {REGION_HOSTS.get(region, 'the right host')}",
    )


def check(config: Config, transport: Transport, expected: str) -> CheckResult:
    """GET /api/v1/accounts/region and compare with ``expected`` (see ``expected_region``).

    Exit codes: 0, the credentials work and the region is right; 1, they work but the region
    is wrong (the error names the flag to pass); AbortError (exit 5) propagates when the
    credentials are refused or Customer.io cannot be reached.
    """
    status, doc = transport.get_json(REGION_PATH)
    region = doc.get("region") if isinstance(doc, dict) else None
    if status != 200 or not isinstance(doc, dict) or not isinstance(region, str):
        raise AbortError(
            f"Customer.io answered HTTP {status} to GET {REGION_PATH} without a region",
            hint="check --base-url",
        )
    region, url = region.strip().lower(), doc.get("url")
    wrong = None if region == expected else _wrong_region(region, expected, config.base_url)
    return CheckResult(
        expected, region, url if isinstance(url, str) else None, doc.get("environment_id"), wrong
    )


def run_check(conn: Connection, env: Mapping[str, str]) -> CheckResult:
    """Resolve the configuration and ``check``; every CioError becomes the result's error."""
    expected: str | None = None
    try:
        expected = expected_region(conn.region, conn.check_flags(env), env)
        config = conn.config(env)
        with conn.transport(config) as transport:
            return check(config, transport, expected)
    except CioError as exc:
        return CheckResult(expected, error=exc)


class Sink(Protocol):
    """What ``emit`` needs of a Reporter (report.py), without importing rich."""

    json_mode: bool
    out: TextIO

    def note(self, text: str) -> None: ...

    def error(self, exc: CioError) -> None: ...


def json_line(obj: Mapping[str, Any]) -> str:
    """One compact JSON line."""
    return orjson.dumps(obj).decode() + "\n"


def emit(result: _Result, sink: Sink) -> int:
    """Print a result: lines, then the error, on stderr; JSON or a dry-run request on stdout."""
    for line in result.lines():
        sink.note(line)
    if result.error is not None:
        sink.error(result.error)
    text = json_line(result.as_json()) if sink.json_mode else result.stdout()
    if text:
        sink.out.write(text)
        sink.out.flush()
    return result.exit_code
