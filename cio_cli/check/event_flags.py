"""One event given by flags (``cio send-event``): SPEC section 3's rules, and its request.

``build_event`` checks the person or anonymous id, the name, the data (``-d k=v``,
``-d k:=JSON``, ``--data JSON|@file``), the timestamp and the id; the API builds the
request of the one event (``Api.single``; Track: v1). Every limit, pattern and message
comes from the rule table in ``check/rule_table.py``, the one the CSV rules
(``check/rows.py``) read too.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import orjson

from cio_cli.check import contract
from cio_cli.check import rule_table as c
from cio_cli.errors import InvalidEventError, UsageError

_EMAIL, _NUMBER = re.compile(c.EMAIL_INVALID.pattern), re.compile(c.NOT_A_NUMBER.pattern)
_ZONED = re.compile(c.TIMESTAMP_ZONED_RE, re.A)
_FRACTION = re.compile(r":[0-9]{2}[.,]([0-9]+)", re.A)  # an ISO time's fraction of a second
_NAIVE = re.compile(c.TIMESTAMP_NO_ZONE.pattern, re.A)
_ULID, _PLAIN = re.compile(c.ID_INVALID.pattern), re.compile(c.TIMESTAMP_NUMBER_RE, re.A)
_UUID = re.compile(c.ID_UUID_RE)
_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")
NAME, PERSON, TIMESTAMP, ID = "the event name", "--person", "--timestamp", "--id"
ANONYMOUS = "--anonymous-id"
DATA = "the event data"


class OneRequest(Protocol):
    """What ``build_event`` needs of the chosen API (``send/api.py``'s ``Api``)."""

    name_format_warning: bool  # names with spaces or ``* + |`` draw a note (``apis.Facts``)

    def single(
        self, name: str, data: bytes, ts: int | None, event_id: str, person: str | None,
        anonymous: str | None, *, ms: int = 0,
    ) -> tuple[str, bytes]:  # fmt: skip
        """``(path, body)`` of one event sent alone."""
        ...


@dataclass(frozen=True)
class SingleEvent:
    """One request ready to send (``path``, compact JSON ``body``) and what it says."""

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


def show(value: object) -> str:
    """A value in single quotes for a message, cut at 60 characters."""
    text = value if isinstance(value, str) else orjson.dumps(_clip(value, 62)).decode()
    return "'" + (text if len(text) <= 60 else text[:60] + "...") + "'"


def _clip(value: object, room: int) -> object:
    """``value`` with what nests deeper than ``room`` levels cut (its text starts alike)."""
    if room == 0:
        return None
    if isinstance(value, list):
        return [_clip(v, room - 1) for v in value]
    if isinstance(value, dict):
        return {k: _clip(v, room - 1) for k, v in value.items()}
    return value


def broken(rule: c.Rule, field: str, value: object = "", size: int = 0) -> InvalidEventError:
    """The error for a broken rule of the contract, its field named as send-event names it."""
    return InvalidEventError(rule.text(field, show(value), size), hint=rule.hint())


def _check_name(name: str, allow_semantic: bool, api: OneRequest) -> list[str]:
    """The name's rules; the note on spaces or ``* + |`` only where the API's docs advise
    against them (``Api.name_format_warning``: Track, not Pipelines), as for files."""
    size = len(name.encode())
    if not name:
        raise broken(c.NAME_EMPTY, NAME)
    if size > c.NAME_TOO_LONG.limit:
        raise broken(c.NAME_TOO_LONG, NAME, size=size)
    if name.lower() in c.SEMANTIC_NAMES and not allow_semantic:
        raise broken(c.SEMANTIC_NAME, NAME, name)
    if api.name_format_warning and re.search(c.NAME_ODD_RE, name):
        return [
            f"note: the event name {show(name)} has spaces or * + |: sent as is, "
            "but such names are awkward to match in segments and campaigns"
        ]
    return []


def _target(person: str | None, anonymous_id: str | None) -> tuple[str, str | None, str | None]:
    """``(description, person or None, anonymous id or None)``, by the rules of the two flags."""
    if (person is None) == (anonymous_id is None):
        raise UsageError(
            "give exactly one of --person and --anonymous-id",
            hint="--person ID for a known person, --anonymous-id A for a visitor",
        )
    if anonymous_id is not None:
        rules = c.ANONYMOUS_ID_EMPTY, c.ANONYMOUS_ID_TOO_LONG
        anonymous = _identifier(anonymous_id, ANONYMOUS, *rules)
        return f"anonymous {show(anonymous)}", None, anonymous
    who = _identifier(person or "", PERSON, c.CUSTOMER_ID_EMPTY, c.CUSTOMER_ID_TOO_LONG)
    return f"person {show(who)}", who, None


def _identifier(value: str, flag: str, empty: c.Rule, too_long: c.Rule) -> str:
    """The person or anonymous id trimmed; InvalidEventError when empty or too long."""
    value = value.strip(c.WHITESPACE)
    if not value:
        raise broken(empty, flag)
    if (size := len(value.encode())) > too_long.limit:
        raise broken(too_long, flag, size=size)
    return value


def parse_timestamp(text: str | None, now: float) -> tuple[int | None, int, list[str]]:
    """Unix seconds from ``--timestamp`` (None when absent or blank), the milliseconds
    within that second (truncated, as a CSV cell's: Pipelines sends them), and notes.

    Accepted: Unix seconds (decimals floored), Unix milliseconds (any value >= 1e11), ISO-8601
    with ``Z`` or an offset (``T`` or a space, fractions of a second). InvalidEventError for
    ISO-8601 without a zone, anything else, later than now + 10 minutes, or before 1970.
    """
    t, notes = (text or "").strip(c.WHITESPACE), []
    if not t:
        return None, 0, []
    if _PLAIN.fullmatch(t):
        value = Decimal(t)
        if value >= contract.MS_FROM:
            value /= 1000
            notes.append(f"note: --timestamp {t} was read as Unix milliseconds")
        ts = int(value.to_integral_value(rounding="ROUND_FLOOR"))
        ms = int((value - ts) * 1000)
    elif _ZONED.fullmatch(t):
        ts = _iso_seconds(t)
        fraction = _FRACTION.search(t)
        ms = int(fraction.group(1)[:3].ljust(3, "0")) if fraction else 0
    elif _NAIVE.fullmatch(t):
        raise broken(c.TIMESTAMP_NO_ZONE, TIMESTAMP, t)
    else:
        raise broken(c.TIMESTAMP_INVALID, TIMESTAMP, t)
    if ts > int(now) + c.TIMESTAMP_FUTURE.limit:
        raise broken(c.TIMESTAMP_FUTURE, TIMESTAMP, t)
    if ts < 0:
        raise broken(c.TIMESTAMP_BEFORE_1970, TIMESTAMP, t)
    return ts, ms, notes


def _iso_seconds(text: str) -> int:
    """Unix seconds of an ISO-8601 time with a zone; a leap second (``:60``) is the next
    minute's first, as a CSV cell reads it."""
    iso = text[:10] + "T" + text[11:].replace(" ", "")
    iso = iso[:-3] + "Z" if iso.endswith("UTC") else iso
    leap = iso[16:19] == ":60"
    iso = iso[:17] + "59" + iso[19:] if leap else iso
    try:
        when = datetime.fromisoformat(iso[:-1] + "+00:00" if iso[-1] in "Zz" else iso)
    except ValueError:
        raise broken(c.TIMESTAMP_INVALID, TIMESTAMP, text) from None
    return (when - _EPOCH) // timedelta(seconds=1) + leap


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
        doc = contract.load_json(raw)
    except (ValueError, RecursionError) as exc:
        raise UsageError(
            f"{what} is not valid JSON ({exc})",
            hint="""give a JSON object, e.g. --data '{"plan":"pro"}'""",
        ) from None
    if not isinstance(doc, dict):
        raise UsageError(
            f"{what} must be a JSON object, not {show(doc)}",
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
        return key[:-1], contract.load_json(value)
    except (ValueError, RecursionError):
        raise UsageError(
            f"-d {pair!r}: {value!r} is not valid JSON",
            hint="""use -d key=value for a string, or -d 'key:="text"'""",
        ) from None


def parse_data(pairs: list[str], data_json: str | None) -> dict[str, Any]:
    """The event data: ``--data`` first, then each ``-d`` in order (later ones win)."""
    data = _data_object(data_json) if data_json is not None else {}
    data.update(_pair(pair) for pair in pairs)
    return data


def _number(key: str, value: Any) -> orjson.Fragment:
    """A JSON number (from ``load_json``) or numeric text, sent as written (as a CSV cell is),
    within a double's range (a CSV cell is not held to it: see check/rule_table.py)."""
    text = orjson.dumps(value).decode() if isinstance(value, orjson.Fragment) else value
    text = text.strip(c.WHITESPACE) if isinstance(text, str) else text
    if isinstance(text, str) and _NUMBER.fullmatch(text):
        try:
            orjson.loads(text)
            return orjson.Fragment(text)
        except orjson.JSONDecodeError:
            pass  # too large for a double
    raise InvalidEventError(
        c.NOT_A_NUMBER.text(key, show(value)), hint=f"for example -d {key}:=12.5"
    )


def check_data(data: dict[str, Any]) -> tuple[bytes, list[str]]:
    """Apply the reserved-key and size rules: the data's compact JSON, and notes.

    ``revenue`` and ``value`` given as numeric text become numbers (in ``data`` too).
    """
    for key in contract.EMAIL_KEYS:
        if key in data and not (isinstance(data[key], str) and _EMAIL.fullmatch(data[key])):
            raise broken(c.EMAIL_INVALID, key, data[key])
    for key in contract.NUMBER_KEYS:
        if key in data:
            data[key] = _number(key, data[key])
    currency = data.get(contract.CURRENCY_KEY)
    if contract.CURRENCY_KEY in data:
        if not (isinstance(currency, str) and currency.upper() in contract.ISO_4217):
            raise broken(c.CURRENCY_INVALID, contract.CURRENCY_KEY, currency)
        data[contract.CURRENCY_KEY] = currency.upper()  # sent upper-cased, as a CSV cell is
    encoded = _encode(data)
    if len(encoded) > c.DATA_TOO_LARGE.limit:
        raise broken(c.DATA_TOO_LARGE, DATA, size=len(encoded))
    found = [key for key in contract.EMAIL_KEYS if key in data]
    verb = "overrides" if len(found) == 1 else "override"
    return encoded, [
        f"note: {', '.join(found)} {verb} the addresses of emails this event triggers"
    ] if found else []


def _encode(data: dict[str, Any]) -> bytes:
    """The data's compact JSON, each value within the depth limit, as a CSV row's data is."""
    parts = []
    for key, value in data.items():
        try:
            parts.append(orjson.dumps(key) + b":" + orjson.dumps(value))
        except orjson.JSONEncodeError:  # more levels than orjson writes
            raise broken(c.DATA_TOO_DEEP, key, value) from None
    return b"{" + b",".join(parts) + b"}"


def ulid_text(bits: int) -> str:
    """The 26 characters of the ULID of a 128-bit number, as python-ulid writes it (its
    import costs a start 5-10 ms: it loads importlib.metadata for its version)."""
    return "".join(contract.CROCKFORD[(bits >> shift) & 31] for shift in range(125, -1, -5))


def new_ulid() -> str:
    """A fresh ULID: the time in milliseconds, then 80 random bits."""
    return ulid_text((time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10)))


def _given_id(event_id: str | None) -> str:
    """``--id`` trimmed ("" when not given): a ULID as written, a UUID as the ULID of its
    128 bits (as a ``_cio_id`` cell); InvalidEventError for anything else."""
    given = (event_id or "").strip(c.WHITESPACE)
    if event_id is None or _ULID.fullmatch(given):
        return given
    if _UUID.fullmatch(given):
        return ulid_text(uuid.UUID(given).int)
    raise broken(c.ID_INVALID, ID, given)


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
    api: OneRequest,
) -> SingleEvent:
    """Check one event against the rules (SPEC section 3) and build its request (``api``:
    the chosen API's).

    UsageError (exit 2) for flags that make no sense, InvalidEventError (exit 3) for an
    event that breaks a rule. Without ``event_id`` a fresh random ULID is used, so running
    the same command again sends a second event; pass ``--id`` to make a rerun a duplicate
    that Customer.io ignores.
    """
    target, who, anonymous = _target(person, anonymous_id)
    name = name.strip(c.WHITESPACE)
    notes = _check_name(name, allow_semantic, api)
    data = parse_data(data_pairs, data_json)
    ts, ms, ts_notes = parse_timestamp(timestamp, now)
    given = _given_id(event_id)
    data_bytes, data_notes = check_data(data)
    eid = given or new_ulid()
    if not given:
        notes.append(
            f"note: no --id, so a new one was made: running this again sends another "
            f"event; pass --id {eid} to make a retry a duplicate"
        )
    recent = ts is None or ts >= int(now) - contract.WINDOW_S
    if recent:
        why = "no --timestamp" if ts is None else "the timestamp is within the last 72 hours"
        notes.append(f"note: {why}: this event can trigger live campaigns and send messages")
    path, body = api.single(name, data_bytes, ts, eid, who, anonymous, ms=ms)
    return SingleEvent(path, body, name, target, eid, ts, recent, (*notes, *ts_notes, *data_notes))
