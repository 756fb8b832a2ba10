"""The CSV contract's names, the read options, and the header check (no polars).

``layout()`` reads the header: it finds the ``_cio_*`` columns, refuses a file
that cannot be imported (missing or misspelt columns, duplicates) and names the
nearest expected column.
"""

from __future__ import annotations

import codecs
import difflib
import json
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import orjson

from cio_cli.apis import facts
from cio_cli.errors import UnimportableError, UsageError

NAME = "_cio_name"
CUSTOMER_ID = "_cio_customer_id"
ANONYMOUS_ID = "_cio_anonymous_id"
TIMESTAMP = "_cio_timestamp"
EVENT_ID = "_cio_id"
ROW = "_cio_row"
ERROR = "_cio_error"
LINE = "_cio_line"  # an NDJSON rejects file's line that was not a JSON object, as read
IGNORED_COLUMNS = (ROW, ERROR, LINE)  # the rejects file's own columns: ignored in an input
# Beside a chunk's cells under --null-value: which cells it emptied and for which text
# ("i:k;..." for cell c<i> and null_values[k]), so the rejects file keeps the text as read.
NULLED = "_nulled"
KNOWN = (NAME, CUSTOMER_ID, TIMESTAMP, EVENT_ID, ROW, ERROR, ANONYMOUS_ID, LINE)
RAW_LINE = "_line"  # beside an NDJSON chunk's cells: a line that is not an object, as read
SEMANTIC = (
    "User Deleted",
    "Delete Person",
    "Device Created or Updated",
    "Device Deleted",
    "User Suppressed",
    "User Unsuppressed",
    "Relationship Deleted",
    "Object Deleted",
    "Report Delivery Event",
    "Report Content Event",
)
EMAIL_KEYS = ("recipient", "from_address", "reply_to")
NUMBER_KEYS = ("revenue", "value")
CURRENCY_KEY = "currency"
TYPE_NAMES = ("string", "int", "float", "bool", "json")
RESERVED_TYPES = {
    **dict.fromkeys(EMAIL_KEYS, "an email address, sent as a string"),
    **dict.fromkeys(NUMBER_KEYS, "a number, sent as written"),
    CURRENCY_KEY: "an ISO 4217 code, sent as a string",
}
# --kind people: the attributes whose rules and types are fixed (SPEC 13)
EMAIL_ATTRIBUTE = "email"
CREATED_AT = "created_at"
PEOPLE_RESERVED_TYPES = {
    EMAIL_ATTRIBUTE: "an email address, sent as a string",
    CREATED_AT: "a timestamp in any accepted form, sent as integer Unix seconds",
}
Kind = Literal["events", "people"]
KINDS = ("events", "people")
WINDOW_S = 72 * 3600
FUTURE_S = 600
MS_FROM = 100_000_000_000

ULID_RE = r"^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # a ULID's base32 digits, as written
_HEX = "[0-9A-Fa-f]"
UUID_RE = (  # any version, 8-4-4-4-12 or 32 hex digits, any case: the ULID of its 128 bits
    rf"^(?:{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}|{_HEX}{{32}})$"
)
ADDR = r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+"
EMAIL_RE = rf"^(?:{ADDR}|[^<>]*<{ADDR}>)$"
JSON_NUMBER_RE = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
INT_RE = r"^[+-]?[0-9]+$"
ISO_DATE = r"\d{4}-\d{2}-\d{2}"
ISO_TIME = r"\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"  # fractions of up to 9 digits
ISO_ZONE = r"(?:[Zz]| ?[+-]\d{2}(?::?\d{2})?| UTC)"  # +00:00, +0000, +00 (BigQuery: " UTC")
ISO_ZONED_RE = rf"^{ISO_DATE}[Tt ]{ISO_TIME}{ISO_ZONE}$"
ISO_NAIVE_RE = rf"^{ISO_DATE}(?:[Tt ]{ISO_TIME})?$"

LOOKALIKES = {  # what a column that --map should rename is often called
    NAME: ("event", "event_name", "action"),
    CUSTOMER_ID: ("user_id", "customer_id", "person_id", "email", "distinct_id"),
    TIMESTAMP: ("timestamp", "time", "occurred_at", "created_at", "event_time", "ts"),
}
NULL_TEXTS = ("NULL", "null", "\\N", "None", "NaN")  # warned about without --null-value
DROP = "-"  # --map SOURCE=- : the column is not sent
MAX_DEPTH = 254  # orjson writes no deeper nesting
Identifier = Literal["auto", "id", "email", "per-row"]
Unit = Literal["auto", "s", "ms"]


TEXT_ENCODINGS = "utf-8, latin-1, cp1252, utf-16 or another text encoding Python knows"


def text_encoding(name: str) -> None:
    """UsageError (exit 2) unless ``name`` is a text encoding Python knows: not a codec
    from bytes to bytes or text to text (base64, bz2, hex, quopri, rot13, uu, zlib)."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise UsageError(
            f"--encoding {name!r} is not an encoding Python knows",
            f"pass the file's text encoding: {TEXT_ENCODINGS}",
        ) from None
    if not getattr(info, "_is_text_encoding", True):  # as str.encode() refuses them
        raise UsageError(
            f"--encoding {name!r} is not a text encoding: the {info.name} codec turns bytes"
            " into bytes or text into text, so it cannot read a CSV file",
            f"pass the file's text encoding: {TEXT_ENCODINGS}",
        )


@dataclass(frozen=True)
class ReadOptions:
    """How rows are read and judged (shared by validate and import)."""

    identifier: Identifier = "auto"
    timestamp_unit: Unit = "auto"
    assume_tz: str | None = None
    types: Literal["auto", "string"] = "auto"
    type_overrides: dict[str, str] = field(default_factory=dict)
    encoding: str = "utf-8"
    allow_semantic: bool = False
    api: str = "track"  # --api: the API the events are for (``apis.FACTS``' name)
    column_map: dict[str, str] = field(default_factory=dict)  # --map SOURCE=TARGET ("-": drop)
    null_values: tuple[str, ...] = ()  # --null-value: cells read as empty
    format: str | None = None  # --format: csv, parquet or ndjson (None: by the file's name)
    # What a typed input (Parquet, NDJSON) says of a data column, by data key: "string",
    # "float", "json" (sent so, as under --type) or "decimal" (numbers of a fixed scale)
    declared: dict[str, str] = field(default_factory=dict)
    kind: Kind = "events"  # --kind: each row is an event, or adds or updates a person
    update_only: bool = False  # --update-only (people, Track): never create a person
    clear_empty: bool = False  # --clear-empty (people): an empty cell removes the attribute

    @property
    def people(self) -> People | None:
        """With ``--kind people``: how attributes are sent (the layout and the encoder read
        it); None for events."""
        if self.kind != "people":
            return None
        return People(update_only=self.update_only, clear_empty=self.clear_empty)

    @property
    def reserved_types(self) -> dict[str, str]:
        """The data keys whose type is fixed, for the kind of row: an event's ``recipient``,
        ``revenue``, ``currency`` ...; a person's ``email`` and ``created_at``."""
        return PEOPLE_RESERVED_TYPES if self.kind == "people" else RESERVED_TYPES

    @property
    def person_kinds(self) -> frozenset[str]:
        """The kinds of ``_cio_customer_id`` the API takes (``apis.Facts.person_kinds``)."""
        return facts(self.api).person_kinds

    @property
    def millis(self) -> bool:
        """Whether rows keep their milliseconds (``_sub``) for the API
        (``apis.Facts.millis``)."""
        return facts(self.api).millis

    @property
    def warn_name_format(self) -> bool:
        """Whether names with spaces or ``*`` ``+`` ``|`` draw a warning
        (``apis.Facts.name_format_warning``)."""
        return facts(self.api).name_format_warning

    def __post_init__(self) -> None:
        text_encoding(self.encoding)
        if self.assume_tz is not None:
            try:
                zoneinfo.ZoneInfo(self.assume_tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
                raise UsageError(
                    f"--assume-tz {self.assume_tz!r} is not a time zone",
                    "use an IANA name such as UTC, Europe/Paris or America/New_York",
                ) from exc
        for col, kind in self.type_overrides.items():
            if kind not in TYPE_NAMES:
                raise UsageError(
                    f"--type {col}={kind}: unknown type", f"use one of {', '.join(TYPE_NAMES)}"
                )
            if col in self.reserved_types:
                raise UsageError(
                    f"--type {col}={kind}: {col} is a reserved key whose type is fixed"
                    f" ({self.reserved_types[col]})",
                    f"leave out --type {col}",
                )


@dataclass(frozen=True)
class People:
    """``--kind people``: each row adds or updates one person (SPEC 13)."""

    update_only: bool = False  # "_update": true in the attributes (Track)
    clear_empty: bool = False  # an empty cell is sent as null (the attribute is removed)


@dataclass(frozen=True)
class Layout:
    """Where each role sits in the file: polars column names ``c<i>``. ``people`` is set
    for a file of people (``--kind people``): no ``name``, and its options."""

    header: tuple[str, ...]
    name: str | None
    customer_id: str | None  # None: a file of anonymous events only
    anonymous_id: str | None
    timestamp: str | None
    event_id: str | None
    data: tuple[tuple[str, str], ...]  # (column, key), sorted by key
    kept: tuple[int, ...]  # input columns written to the rejects file
    warnings: tuple[str, ...] = ()  # about the header (a timestamp-like column sent as data)
    people: People | None = None  # --kind people

    def key_of(self, key: str) -> str | None:
        """The column (``c<i>``) of the data key ``key``, or None."""
        return next((col for col, k in self.data if k == key), None)

    @property
    def ncols(self) -> int:
        """Number of columns in the header."""
        return len(self.header)

    def raw(self, columns: Sequence[str]) -> list[str]:
        """The columns that hold a row's cells as read, for the rejects file: every
        ``c<i>``, and ``NULLED`` and ``RAW_LINE`` when the frame (``columns``) has them."""
        extra = [c for c in (NULLED, RAW_LINE) if c in columns]
        return [f"c{i}" for i in range(self.ncols)] + extra


def layout(
    original: list[str],
    overrides: dict[str, str] | None = None,
    column_map: dict[str, str] | None = None,
    people: People | None = None,
) -> Layout:
    """Check the header and say where each column goes; raise if unimportable.

    ``column_map`` (``--map``) renames headers first (``-`` drops a column); the header
    rules then judge the renamed header, and the rejects file keeps the original one.
    ``_cio_name`` is required, and ``_cio_customer_id`` unless ``_cio_anonymous_id`` is
    there (a file may have both: each row then fills one). A file of people
    (``people``) needs ``_cio_customer_id`` alone and refuses the columns of events.
    """
    mapping = column_map or {}
    renamed = mapped_header(original, mapping)
    _refuse_empty_and_duplicates(renamed)
    found = {h: i for i, h in enumerate(renamed) if h is not None}
    header = list(found)
    for h, i in found.items():
        if h not in KNOWN and (h.strip().lower().startswith("_cio_") or h.strip() in KNOWN):
            raise _near_miss(h, i)
    pairs = [(o, r) for o, r in zip(original, renamed, strict=True) if r and o not in mapping]
    if people is not None:
        _refuse_event_columns(found)
    absent = [
        required
        for required in ((CUSTOMER_ID,) if people is not None else (NAME, CUSTOMER_ID))
        if required not in found and not (required == CUSTOMER_ID and ANONYMOUS_ID in found)
    ]
    if absent:
        raise _missing(absent, pairs, header, people is not None)
    for col in overrides or {}:
        if col not in found or col.startswith("_cio_"):
            raise UsageError(
                f"--type {col}=...: the file has no data column {col!r}",
                f"data columns: {', '.join(h for h in found if not h.startswith('_cio_'))}",
            )
    data = sorted((h, f"c{i}") for h, i in found.items() if h not in KNOWN)
    return Layout(
        header=tuple(original),
        name=_column(found, NAME),
        customer_id=_column(found, CUSTOMER_ID),
        anonymous_id=_column(found, ANONYMOUS_ID),
        timestamp=_column(found, TIMESTAMP),
        event_id=_column(found, EVENT_ID),
        data=tuple((col, key) for key, col in data),
        kept=tuple(i for i, h in enumerate(renamed) if h not in IGNORED_COLUMNS),
        warnings=() if people is not None else timestamp_warnings(pairs, header),
        people=people,
    )


def mapped_header(header: list[str], column_map: dict[str, str]) -> list[str | None]:
    """The header as ``--map`` renames it (None for a dropped column).

    UsageError (exit 2) for a SOURCE not in the header, or two columns given one name.
    """
    missing = [src for src in column_map if src not in header]
    if missing:
        shown = ", ".join(repr(h) for h in header[:12])
        raise UsageError(
            f"--map {', '.join(f'{m}=...' for m in missing)}: the header has no column"
            f" {' or '.join(repr(m) for m in missing)}",
            f"the header has {shown}",
        )
    renamed = [None if column_map.get(h) == DROP else column_map.get(h, h) for h in header]
    by_name: dict[str, list[str]] = {}
    for before, after in zip(header, renamed, strict=True):
        if after is not None:
            by_name.setdefault(after, []).append(before)
    for name, sources in by_name.items():
        if len(sources) > 1 and any(s in column_map for s in sources):
            raise UsageError(
                f"--map: {' and '.join(repr(s) for s in sources)} would both be named {name!r}",
                f"map only one of them to {name} (drop the other with --map COLUMN=-)",
            )
    return renamed


def _column(found: dict[str, int], name: str) -> str | None:
    """The polars name (``c<i>``) of an optional column, or None when the file has none."""
    return f"c{found[name]}" if name in found else None


def _refuse_empty_and_duplicates(header: list[str | None]) -> None:
    for i, h in enumerate(header):
        if h == "":
            raise UnimportableError(
                f"column {i + 1} of the header has no name",
                "name the column or remove it (a trailing comma in the header makes one)",
            )
    seen: dict[str, int] = {}
    for i, h in enumerate(header):
        if h is None:
            continue
        if h in seen:
            raise UnimportableError(
                f"the header names {h!r} twice (columns {seen[h] + 1} and {i + 1})",
                "rename or remove one of them",
            )
        seen[h] = i


def _near_miss(h: str, i: int) -> UnimportableError:
    norm = h.strip().lower()
    if norm in KNOWN:
        return UnimportableError(
            f"column {i + 1} is named {h!r}, which is not {norm!r}",
            f"rename it to {norm} exactly (column names are case-sensitive, no spaces)",
        )
    near = difflib.get_close_matches(norm, KNOWN, n=1, cutoff=0.5)
    hint = f"did you mean {near[0]}?" if near else f"cio knows {', '.join(KNOWN[:4])}"
    return UnimportableError(f"unknown column {h!r} (column {i + 1})", hint)


PEOPLE_ONLY = {  # columns of events that a file of people refuses, and why
    NAME: "a person has no event name",
    ANONYMOUS_ID: "people are added or updated by _cio_customer_id (an anonymous profile"
    " comes from its events)",
    EVENT_ID: "a person's update has no event id (cio derives one from the row)",
}
KIND_PEOPLE_HINT = (
    "if each row is a person (an identifier and attributes), not an event, pass --kind people"
)


def _refuse_event_columns(found: dict[str, int]) -> None:
    """With ``--kind people``: a ``_cio_name``, ``_cio_anonymous_id`` or ``_cio_id`` column
    makes the file unimportable (it is more likely a file of events than people)."""
    for col, why in PEOPLE_ONLY.items():
        if col in found:
            raise UnimportableError(
                f"--kind people: the file has a {col} column (column {found[col] + 1}), and {why}",
                f"for a file of events leave out --kind people; to import people from it,"
                f" pass --map {col}=- to drop the column",
            )


def _missing(
    absent: list[str], pairs: list[tuple[str, str]], header: list[str], people: bool = False
) -> UnimportableError:
    """One message naming every missing required column, with the ``--map`` to pass; a
    file of events that looks like people gets the hint ``--kind people`` first."""
    looks = {col: _looks_like(col, pairs) for col in (*absent, TIMESTAMP)}
    if TIMESTAMP in header or people:
        del looks[TIMESTAMP]
    parts = [
        f"{' or '.join(repr(s) for s in sources)} looks like {col}"
        for col, sources in looks.items()
        if sources
    ]
    maps = " ".join(f"--map {sources[0]}={col}" for col, sources in looks.items() if sources)
    people_like = not people and _looks_like_people(absent, looks, header)
    blind = [col for col in absent if not looks[col]]
    hint = f"{', '.join(parts)}: pass {maps}" if parts else ""
    if blind:
        mine = [h for h in header if h not in KNOWN]  # _cio_line is no misspelt _cio_name
        near = [n for col in blind for n in difflib.get_close_matches(col, mine, 1, 0.6)]
        near = [] if people_like else near  # first_name is no misspelt _cio_name
        shown = ", ".join(repr(h) for h in header[:12])
        found = f"the header has {shown}"
        if len(blind) == len(near) == 1:
            found = f"found {near[0]!r}: rename it to {blind[0]}"
        hint = f"{hint}; {found}" if hint else found
    if people_like:
        hint = f"{KIND_PEOPLE_HINT}; {hint}" if hint else KIND_PEOPLE_HINT
    plural = "s" if len(absent) > 1 else ""
    return UnimportableError(f"missing required column{plural} {', '.join(absent)}", hint)


def _looks_like_people(absent: list[str], looks: dict[str, list[str]], header: list[str]) -> bool:
    """No event name (nor a column like one), but an identifier and attributes."""
    if NAME not in absent or looks.get(NAME):
        return False
    ids = set(looks.get(CUSTOMER_ID, [])) | ({CUSTOMER_ID} & set(header))
    return bool(ids) and any(h not in KNOWN and h not in ids for h in header)


def _looks_like(col: str, pairs: list[tuple[str, str]]) -> list[str]:
    """The columns (as the file names them, not mapped by ``--map``) that look like ``col``."""
    names = LOOKALIKES.get(col, ())
    return [source for source, name in pairs if name.strip().lower() in names]


def timestamp_warnings(pairs: list[tuple[str, str]], header: list[str]) -> tuple[str, ...]:
    """A warning for each timestamp-like column of a file without ``_cio_timestamp``."""
    if TIMESTAMP in header:
        return ()
    return tuple(
        f"column {source!r} looks like a timestamp but is sent as data, and the events have"
        f" no timestamp: pass --map {source}={TIMESTAMP} to use it"
        for source in _looks_like(TIMESTAMP, pairs)
    )


def load_json(text: str | bytes) -> Any:
    """Parse JSON (CSV cells under ``--type COL=json``, send-event's data) keeping every
    number's value exactly, as an ``orjson.Fragment`` that ``orjson.dumps`` writes as is.

    A number is written as orjson writes it when that text has the same value
    (``1.10`` becomes ``1.1``), and as written otherwise (``1e-400``, integers beyond 64
    bits, more digits than a double holds). ValueError when ``text`` is not JSON
    (``NaN`` and ``Infinity`` are not); RecursionError when it nests very deep.
    """
    return json.loads(text, parse_int=json_number, parse_float=json_number, parse_constant=_no)


def json_number(number: str) -> orjson.Fragment:
    """A JSON number as orjson writes it if that keeps its value, else as written."""
    try:
        short = orjson.dumps(orjson.loads(number))
    except orjson.JSONDecodeError:  # beyond a double (1e400)
        return orjson.Fragment(number)
    same = Decimal(short.decode()) == Decimal(number)
    return orjson.Fragment(short if same else number)


def _no(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


ISO_4217 = tuple(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN
    ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD
    JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU
    MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD
    RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY
    TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD
    XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG ZWL""".split()
)
