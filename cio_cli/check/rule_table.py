"""The row rules of SPEC section 3, declared once, as data (no polars).

Two evaluators read this table: ``check/rows.py``, ``check/timestamps.py`` and
``importer/emit.py`` build polars expressions from it for a CSV chunk, and
``check/event_flags.py`` applies it in plain Python to the one event of ``cio send-event``.
Each ``Rule`` holds its limit or pattern and its message; neither evaluator writes a limit,
a pattern or a message of its own. tests/test_one_rule_set.py checks that the two reach the
same verdict and build the same event.

A message names its field: the column in a CSV row (``_cio_name``), the flag or a phrase for
send-event (``the event name``, ``--person``). Where the two paths differ on purpose:

- the fix: a CSV message carries it after ``Rule.sep`` (the rejects file has one column);
  send-event prints it as the hint. ``flag_fix`` replaces it where the CSV fix names
  something send-event has not (``--assume-tz``) or send-event can say more (``--name``);
- send-event stops at its first broken rule; a CSV row lists every broken rule, joined by
  ``"; "``;
- an empty ``--id ''`` is refused (a flag given empty is a mistake, and a random id would
  defeat the retry it was meant for); an empty ``_cio_id`` cell means "no id", as every
  empty cell means "absent";
- a recent timestamp is a note for send-event, a count and a prompt for a file;
- a CSV data value too deep names its column and ``(--type KEY=json)``, the flag that made
  it JSON; send-event names the key alone;
- ``revenue``/``value`` beyond a double's range (``1e999``): send-event refuses it, a CSV
  cell is sent as written (left for a decision: changing the CSV path changes its output);
- a decimal timestamp with more digits than a double holds (``1699999999.99999999999``):
  send-event floors the exact value, as SPEC says; the CSV path floors its double, which
  may round up a second (left for a decision: the fix is on the CSV hot path);
- an empty ``--anonymous-id`` is "empty"; a CSV row with neither id is "no person" (a file
  with a ``_cio_anonymous_id`` column has two places for the one identifier). Both flags, or
  neither, are a usage error for send-event;
- ``--timestamp-unit``, ``--assume-tz``, ``--identifier`` and the mixed-identifier rule are
  CSV options: send-event reads timestamps as ``--timestamp-unit auto`` without a zone, and
  sends any identifier by the v1 path, whose kind Customer.io infers.
"""

from __future__ import annotations

from dataclasses import dataclass

from cio_cli.check.contract import (
    ADDR,
    EMAIL_RE,
    FUTURE_S,
    ISO_NAIVE_RE,
    ISO_ZONED_RE,
    JSON_NUMBER_RE,
    MAX_DEPTH,
    SEMANTIC,
    ULID_RE,
    UUID_RE,
)

# What "trimmed" removes: Unicode White_Space, as polars' ``str.strip_chars()`` (Rust's
# ``char::is_whitespace``) trims; Python's ``str.strip()`` would also take \x1c-\x1f.
WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
NAME_ODD_RE = r"[ *+|]"  # a warning: sent, but awkward to match in segments
TIMESTAMP_NUMBER_RE = r"^-?[0-9]+(\.[0-9]+)?$"  # Unix seconds or milliseconds
EMAIL_MARK, CIO_ID_PREFIX = "@", "cio_"  # what makes a customer id an email, a cio_id
FORMS = "use Unix seconds, Unix milliseconds, or ISO-8601 with Z or an offset"


@dataclass(frozen=True)
class Rule:
    """One rule: its code (the summary's key), its limit or pattern, and its message.

    ``message`` may name ``{field}``, ``{value}`` (quoted, cut at 60 characters),
    ``{size}`` and ``{limit}``.
    """

    code: str
    message: str
    limit: int = 0
    pattern: str = ""
    fix: str = ""
    sep: str = "; "
    flag_fix: str | None = None

    def text(self, field: str, value: str = "", size: int = 0) -> str:
        """The message with its fields filled in (send-event's error)."""
        return self.message.format(field=field, value=value, size=size, limit=self.limit)

    def hint(self) -> str:
        """What send-event prints as the hint."""
        return self.fix if self.flag_fix is None else self.flag_fix

    def csv_suffix(self) -> str:
        """What a CSV message carries after its text: the fix, after ``sep``."""
        return self.sep + self.fix if self.fix else ""


TOO_LONG = "{field} is {size} bytes; Customer.io allows at most {limit}"
NAME_EMPTY = Rule("name_empty", "{field} is empty", flag_fix="pass --name NAME")
NAME_TOO_LONG = Rule("name_too_long", TOO_LONG, limit=100)
SEMANTIC_NAME = Rule(
    "semantic_name",
    "{field} {value} is a semantic event that deletes or changes people",
    fix="pass --allow-semantic to send it",
)
CUSTOMER_ID_EMPTY = Rule(
    "customer_id_empty", "{field} is empty", flag_fix="pass an id, an email or cio_<id>"
)
CUSTOMER_ID_TOO_LONG = Rule("customer_id_too_long", TOO_LONG, limit=150)
ANONYMOUS_ID_EMPTY = Rule("anonymous_id_empty", "{field} is empty")
ANONYMOUS_ID_TOO_LONG = Rule("anonymous_id_too_long", TOO_LONG, limit=150)
NO_PERSON = Rule("no_person", "no person: fill _cio_customer_id or _cio_anonymous_id")
BOTH_PEOPLE = Rule(
    "customer_and_anonymous_id",
    "both _cio_customer_id and _cio_anonymous_id: an event belongs to one person or one"
    " anonymous id",
)
ANONYMOUS_KIND = "anonymous_id"  # the identifier kind of an anonymous row (its dedup id's too)
TIMESTAMP_NO_ZONE = Rule(
    "timestamp_no_zone",
    "{field} {value} has no time zone",
    pattern=ISO_NAIVE_RE,
    fix="add Z or an offset, or pass --assume-tz ZONE",
    sep=": ",
    flag_fix="add Z or an offset, e.g. 2024-05-01T12:00:00Z or +02:00",
)
TIMESTAMP_INVALID = Rule(
    "timestamp_invalid", "{field} {value} is not a timestamp", fix=FORMS, sep=": "
)
TIMESTAMP_FUTURE = Rule(
    "timestamp_future",
    "{field} {value} is in the future",
    limit=FUTURE_S,  # seconds after now
    flag_fix="check the value and its unit (seconds or milliseconds)",
)
TIMESTAMP_BEFORE_1970 = Rule(
    "timestamp_before_1970", "{field} {value} is before 1970", flag_fix=FORMS
)
ID_INVALID = Rule(
    "id_invalid",
    "{field} {value} is not a valid ULID (26 characters of Crockford base32) or UUID",
    pattern=ULID_RE,
    fix="drop the _cio_id column (or empty the cell) so that cio derives each id from its row",
    flag_fix="pass a ULID or a UUID, or leave out --id for a new random id",
)
ID_UUID_RE = UUID_RE  # also accepted: a UUID, sent as the ULID of the same 128 bits
DATA_TOO_LARGE = Rule(
    "data_too_large",
    "{field} is {size} bytes of JSON; Customer.io allows at most {limit}",
    limit=100_000,
)
DATA_TOO_DEEP = Rule(
    "json_invalid",
    "{field} {value} nests arrays or objects more than {limit} levels deep, which cio cannot send",
    limit=MAX_DEPTH,
)
EMAIL_INVALID = Rule(
    "email_override_invalid", "{field} {value} is not an email address", pattern=EMAIL_RE
)
EMAIL_ATTRIBUTE_INVALID = Rule(  # --kind people: a person's email attribute, a bare address
    "email_invalid", "{field} {value} is not an email address", pattern=rf"^{ADDR}$"
)
CREATED_AT_INVALID = Rule(  # --kind people: created_at takes every timestamp form
    "created_at_invalid", "{field} {value} is not a timestamp", fix=FORMS, sep=": "
)
NOT_A_NUMBER = Rule("not_a_number", "{field} {value} is not a number", pattern=JSON_NUMBER_RE)
CURRENCY_INVALID = Rule(
    "currency_invalid", "{field} {value} is not a three-letter ISO 4217 code such as USD"
)
SEMANTIC_NAMES = tuple(s.lower() for s in SEMANTIC)  # compared without case
TIMESTAMP_ZONED_RE = ISO_ZONED_RE
