"""Checks on a chunk's raw UTF-8 bytes, and record boundaries.

A chunk must end on a record boundary: after a newline with an even number of
quotes before it. Before a chunk parsed by polars is trusted, its bytes must
be valid UTF-8 and have exactly ``(columns - 1)`` separators per record, with
no quote inside unquoted text; ``plain_text`` says whether any cell needs JSON
escaping at all.
"""

from __future__ import annotations

import csv
import io
import re

import polars as pl

DOUBLED_QUOTE = re.compile(rb'""')  # a regex finds it twice as fast as bytes' ``in``
STRAY_QUOTE = r'[^,"\r\n]"[^,"\r\n]'  # never in well-formed CSV: text on both sides of a quote
_NOT_MARKS = bytes(b for b in range(256) if b not in b'",')
_SAMPLE = 1 << 16  # bytes in which has_stray_quote counts quotes
_TEXT_AS_X = bytes(b if b in b'",\r\n' else ord("x") for b in range(256))
_NOT_KEPT = bytes(b for b in range(256) if b >= 0x20 and b not in b'\\",')


def marks_of(data: bytes) -> bytes:
    """What the checks below look at in ``data``, in one pass over it: its quotes, commas,
    backslashes and control characters (newlines among them), in order."""
    return data.translate(None, _NOT_KEPT)


def plain_text(data: bytes, records: int, marks: bytes | None = None) -> bool:
    """True when no cell in ``data`` holds a quote, backslash or control character.

    Only record ends may be newlines (one per record, CRLF allowed); a quote
    inside a cell is written doubled, so no ``""`` may appear either.
    ``marks`` is ``marks_of(data)``, when the caller has it.
    """
    marks = marks_of(data) if marks is None else marks
    if b'""' in marks and DOUBLED_QUOTE.search(data):  # few "" in marks unless in data
        return False
    special = marks.translate(None, b'",')
    lines = special.count(b"\n")
    if len(special) != lines + special.count(b"\r\n"):
        return False  # a tab, backslash, lone CR or other control character
    ends = lines + (0 if data.endswith(b"\n") else 1)
    return ends == records


def separators_match(
    body: bytes, df: pl.DataFrame, ncols: int, blank: int, marks: bytes | None = None
) -> bool | None:
    """True when every non-blank record of ``body`` has exactly ``ncols`` fields.

    Polars pads short rows (long ones make it refuse the chunk), so the
    separators are counted in the bytes: every comma, less those inside
    quoted fields. A short row breaks the equality. None when a quote stands
    inside unquoted text (``12" pizza``): polars may then pair quotes across
    lines, so the body must be read by the csv module.
    """
    if df.height == 0:
        return not body.strip()
    if b'"' not in body:
        commas = body.count(b",")
    elif has_stray_quote(body):
        return None
    else:
        commas = commas_outside_quotes(body, marks)
    return commas == (ncols - 1) * (df.height - blank)


def has_stray_quote(data: bytes) -> bool:
    """True when a quote in UTF-8 ``data`` has text on both sides (``STRAY_QUOTE``).

    Both ways run in polars, without the GIL. Where quotes are few, the regex skips from
    quote to quote; where they are many (quoted JSON cells), every byte but quotes, commas
    and newlines becomes ``x`` (a UTF-8 character's bytes too) and the literal ``x"x`` is
    found faster than the regex checks each quote.
    """
    if data.count(b'"', 0, _SAMPLE) * 64 < min(len(data), _SAMPLE):  # under 1 quote in 64 bytes
        return bool(pl.Series([data]).cast(pl.String).str.contains(STRAY_QUOTE).item())
    return bool(pl.Series([data.translate(_TEXT_AS_X)]).bin.contains(b'x"x').item())


def commas_outside_quotes(data: bytes, kept: bytes | None = None) -> int:
    """Commas after an even number of quotes; with an odd number, also the last quote and
    the commas after it (what removing each ``"[^"]*"`` from left to right leaves).
    ``kept`` is ``marks_of(data)``, when the caller has it."""
    marks = (marks_of(data) if kept is None else kept).translate(None, _NOT_MARKS)  # " and ,
    # A doubled quote changes no other mark's parity: dropped, few quotes are left to split on.
    runs = marks.replace(b'""', b"").split(b'"')  # even runs are outside quotes
    commas = len(b"".join(runs[::2]))
    if len(runs) % 2 == 0:  # an odd number of quotes
        commas += len(marks) - marks.rfind(b'"')
    return commas


def utf8_text(data: bytes) -> str:
    """The text of ``data``; ``BadText`` naming the record (counted from 0) if not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadText(count_records(data[: exc.start]), exc) from exc


class BadText(Exception):
    """Invalid text in a body: which record (from 0) and the decoding error."""

    def __init__(self, record: int, error: UnicodeDecodeError) -> None:
        super().__init__(str(error))
        self.record = record
        self.error = error
        self.at = error.start  # the byte of the file, once the reader knows where the body is


def first_record_end(buf: bytes) -> int | None:
    """Offset just past the first record's newline, or None if not in ``buf``."""
    pos = 0
    quotes = 0
    while True:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            return None
        quotes += buf.count(b'"', pos, nl)
        if quotes % 2 == 0:
            return nl + 1
        pos = nl + 1


def last_record_end(buf: bytes, odd: bool = False) -> int | None:
    """Offset just past the last newline with an even number of quotes before it.

    ``odd``: the text before ``buf`` holds an odd number of quotes.
    """
    total = buf.count(b'"') + odd
    end = len(buf)
    after = 0
    while True:
        nl = buf.rfind(b"\n", 0, end)
        if nl < 0:
            return None
        after += buf.count(b'"', nl, end)
        if (total - after) % 2 == 0:
            return nl + 1
        end = nl


def count_records(prefix: bytes) -> int:
    """Complete records in ``prefix`` as the csv module reads them (to name a row in an error).

    Quote parity alone would merge the rows around a stray quote (``12" pizza``),
    which the csv module reads as text. A blank line after the complete lines tells
    whether the last of them ends inside a quoted field: the reader then swallows it.
    """
    text = prefix.decode("utf-8", errors="replace")
    complete = text[: text.rfind("\n") + 1]
    try:
        return sum(1 for _ in csv.reader(io.StringIO(complete + "\n"))) - 1
    except csv.Error:  # a lone CR in an unquoted field, say: count by quote parity
        return _records_by_parity(prefix)


def _records_by_parity(prefix: bytes) -> int:
    count = 0
    quotes = 0
    for line in prefix.split(b"\n")[:-1]:
        quotes += line.count(b'"')
        if quotes % 2 == 0:
            count += 1
    return count
