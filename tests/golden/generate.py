"""The seeded generator of the large golden input: two files with every kind of column.

``write_inputs(folder)`` writes ``events_ids.csv`` (100,000 records, customer ids) and
``events_emails.csv.gz`` (3,000 records, emails, CRLF, gzipped): the mixed rule wants ids
and emails in separate files. Everything is fixed by the seed and by constants: no clock,
no environment. Timestamps are years in the past (or empty, for rows in the 72-hour
window, or 2099, for a future one), so the output bytes do not depend on when the test runs.

Do not change what this writes without re-recording (see tests/test_golden.py): the test
checks the inputs' SHA-256 first, so a change here shows as "input changed", not as a
behaviour change.
"""

from __future__ import annotations

import gzip
import random
import re
from collections.abc import Sequence
from pathlib import Path

ID_ROWS = 100_000
EMAIL_ROWS = 3_000
BASE_S = 1_600_000_000  # 2020-09-13
ID_HEADER = [
    "_cio_customer_id", "_cio_name", "_cio_timestamp", "_cio_id", "plan", "city", "amount",
    "qty", "active", "meta", "note", "revenue", "currency", "recipient", "blob",
]  # fmt: skip
EMAIL_HEADER = [
    "_cio_timestamp", "_cio_customer_id", "_cio_name", "plan", "amount", "recipient", "meta",
]  # fmt: skip
NAMES = ["purchase", "signup", "page_view", "trial_started", "invoice_paid", "achat_réussi",
         "注文完了", "Order Completed"]  # fmt: skip
PLANS = ["free", "pro", "team", "enterprise", ""]
CITIES = ["Portland, OR", "Austin, TX", "Zürich", "東京", "São Paulo", "", "Lyon"]
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
NEEDS_QUOTES = re.compile('[,"\\r\\n]')


def cell(text: str) -> str:
    """One RFC 4180 cell: quoted when it holds a comma, a quote, CR or LF."""
    if NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def line(cells: Sequence[str], newline: str = "\n") -> str:
    """One record with its line ending."""
    return ",".join([cell(c) if NEEDS_QUOTES.search(c) else c for c in cells]) + newline


def number(rnd: random.Random, low: int, high: int) -> int:
    """A whole number in ``[low, high]`` (one C call: faster than ``randint``)."""
    return low + int(rnd.random() * (high - low + 1))


def ulid(rnd: random.Random) -> str:
    """A valid ULID from the seeded generator (128 bits: first character 0-7)."""
    bits = rnd.getrandbits(128)
    return "".join([CROCKFORD[(bits >> (5 * k)) & 31] for k in range(25, -1, -1)])


def timestamp(i: int, rnd: random.Random) -> str:
    """Unix seconds, ms, decimal seconds, ISO (Z, offsets, fractions), empty, or invalid."""
    if i % 100 == 9:
        return ""  # no timestamp: in the 72-hour window
    if i % 4999 == 0:
        return "yesterday"
    if i % 8999 == 0:
        return "4070908800"  # 2099: in the future
    t, kind = BASE_S + (i * 613) % 80_000_000, i % 10
    if kind < 3 or kind == 9:
        return str(t)
    if kind < 6:
        return [f"{t}000", f"{t}250", f"{t}.75"][kind - 3]
    day = 1 + i % 28
    if kind == 6:
        return f"2021-03-{day:02d}T{i % 24:02d}:{i % 60:02d}:05Z"
    if kind == 7:
        return f"2022-07-{day:02d}T10:20:30.{number(rnd, 0, 999):03d}+02:00"
    return f"2023-01-{day:02d}T23:59:59-07:00"


def customer_id(i: int, rnd: random.Random) -> str:
    """Mostly ``u<n>``; some ``cio_`` values (they mix with either kind); a few empty."""
    if i % 5003 == 0:
        return ""
    if i % 97 == 0:
        return f"cio_{number(rnd, 0, 16**6):06x}"
    return f"u{number(rnd, 1, 50_000)}"


def name(i: int) -> str:
    """An event name; a few empty or semantic ones (rejected)."""
    if i % 6007 == 0:
        return ""
    if i % 7001 == 0:
        return "User Deleted"
    return NAMES[i % len(NAMES)]


def json_meta(i: int, rnd: random.Random) -> str:
    """JSON for ``--type meta=json``: objects, arrays, scalars, empty, one invalid now and then."""
    if i % 3 == 0:
        return ""
    if i % 5009 == 0:
        return "{bad json"
    if i % 5 == 0:
        return f'{{"tier":"gold","n":{number(rnd, 0, 99)}}}'
    return ["", '["a","b, c"]', "42", '{"nested":{"ok":true,"ü":"東京"}}', "null"][i % 5]


def note(i: int) -> str:
    """Free text: quoted commas, doubled quotes, line breaks, non-ASCII."""
    if i % 17 == 0:
        return f'said "hi", then\nleft after {i} s'
    if i % 19 == 0:
        return f"multi\r\nline, CRLF inside 日本語 {i}"
    if i % 23 == 0:
        return f"émoji 🎉 order {i}"
    return f"order {i}"


def special(i: int, rnd: random.Random) -> tuple[str, str, str]:
    """``revenue``, ``currency``, ``recipient``: mostly valid, a few rejected values."""
    revenue = "" if i % 4 else f"{number(rnd, 1, 99999) / 100}"
    currency = "" if i % 4 else ["USD", "EUR", "JPY"][i % 3]
    recipient = f"gift{i}@example.com" if i % 31 == 0 else ""
    if i % 9001 == 0:
        revenue = "$12"
    if i % 9011 == 0:
        currency = "usdollars"
    if i % 9013 == 0:
        recipient = "n/a"
    return revenue, currency, recipient


def blob(i: int) -> str:
    """Empty but for a few huge cells: an op over 32,000 bytes (v1) or data over 100,000."""
    if i in (12_345, 67_890):
        return "x" * 40_000
    if i == 54_321:
        return "y" * 100_500
    return ""


def id_record(i: int, rnd: random.Random) -> list[str]:
    """One record of ``events_ids.csv``."""
    event_id = ulid(rnd) if i % 11 == 0 else ""
    if i % 7919 == 0:
        event_id = "not-a-ulid"
    amount = f"{number(rnd, 1, 99999) / 100}" if i % 7 else ""
    qty = str(number(rnd, 0, 20)) if i % 5 else ""
    active = ["true", "false", ""][i % 3]
    cells = [customer_id(i, rnd), name(i), timestamp(i, rnd), event_id, PLANS[i % 5],
             CITIES[i % 7], amount, qty, active, json_meta(i, rnd), note(i),
             *special(i, rnd), blob(i)]  # fmt: skip
    if i % 9973 == 0:
        cells.append("one too many")
    if i % 9967 == 0:
        cells = cells[:5]
    return cells


def ids_text() -> str:
    """The whole of ``events_ids.csv``; every 1,000th record repeats the one before."""
    rnd = random.Random(20_261_202)
    out = [line(ID_HEADER)]
    previous = ""
    for i in range(1, ID_ROWS + 1):
        text = previous if i % 1000 == 500 else line(id_record(i, rnd))
        out.append(text)
        previous = text
    return "".join(out)


def email_record(i: int, rnd: random.Random) -> list[str]:
    """One record of ``events_emails.csv.gz``."""
    who = [f"shopper{number(rnd, 1, 900)}@example.com", f"Jane+promo{i % 9}@Example.COM",
           f"cio_{i:06x}", f"françois{i % 5}@exemple.fr"][i % 4]  # fmt: skip
    if i % 1009 == 0:
        who = "no-dot@localhost"
    event = "" if i % 997 == 0 else NAMES[i % 5]
    stamp = "" if i % 250 == 7 else str(BASE_S - i * 3_601)
    amount = f"{number(rnd, 0, 5000) / 10}" if i % 2 else str(number(rnd, 1, 9))
    recipient = f"friend{i}@example.org" if i % 13 == 0 else ""
    meta = f'{{"visits":{i % 40},"src":"email, weekly"}}' if i % 2 else ""
    return [stamp, who, event, PLANS[i % 5], amount, recipient, meta]


def emails_text() -> str:
    """The whole of ``events_emails.csv.gz`` before compression (CRLF line endings)."""
    rnd = random.Random(7)
    out = [line(EMAIL_HEADER, "\r\n")]
    out += [line(email_record(i, rnd), "\r\n") for i in range(1, EMAIL_ROWS + 1)]
    return "".join(out)


def write_inputs(folder: Path) -> list[Path]:
    """Write both files into ``folder``; return their paths (ids first)."""
    ids = folder / "events_ids.csv"
    ids.write_bytes(ids_text().encode("utf-8"))
    emails = folder / "events_emails.csv.gz"
    emails.write_bytes(gzip.compress(emails_text().encode("utf-8"), mtime=0))
    return [ids, emails]
