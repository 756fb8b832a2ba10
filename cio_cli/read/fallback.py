"""Reading records exactly with Python's ``csv`` module, as chunk frames.

The path for what polars cannot be trusted with: a chunk with ragged rows is
parsed again strictly (``strict_records``); after a stray quote or a lone CR,
the rest of the file is read line by line (``lines`` and ``lenient_records``),
where a line the csv module cannot read becomes an ``Unreadable`` row that
keeps its raw text. ``frame`` builds the same frame shape as the fast path.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import polars as pl

SLOW_BATCH_ROWS = 20_000

csv.field_size_limit(2**31 - 1)


def lines(
    head: bytes, blocks: Iterable[bytes], bad_text: Callable[[UnicodeDecodeError, int], Exception]
) -> Iterator[str]:
    """Decoded lines (ends kept) of ``head`` then ``blocks``.

    ``bad_text(error, at)`` builds the error for invalid UTF-8 at byte ``at`` (from
    the start of ``head``).
    """
    pending = b""
    done = 0  # bytes before ``pending``
    for block in _prepend(head, blocks):
        data = pending + block
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            pending = data
            continue
        pending = data[cut:]
        yield from _split_nl(_decoded(data[:cut], done, bad_text))
        done += cut
    if pending:
        yield _decoded(pending, done, bad_text)


def _decoded(
    data: bytes, done: int, bad_text: Callable[[UnicodeDecodeError, int], Exception]
) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_text(exc, done + exc.start) from exc


def _split_nl(text: str) -> Iterator[str]:
    start = 0
    while True:
        end = text.find("\n", start)
        if end < 0:
            if start < len(text):
                yield text[start:]
            return
        yield text[start : end + 1]
        start = end + 1


def _prepend(head: bytes, blocks: Iterable[bytes]) -> Iterator[bytes]:
    yield head
    yield from blocks


class OpenQuote(Exception):
    """A quoted field still open at the end of the file (``mid_cell``: or closed by a quote
    in the middle of a cell lines later); ``records`` records came before its own."""

    def __init__(self, records: int, mid_cell: bool = False) -> None:
        super().__init__(f"a quoted field opened in record {records} is never closed")
        self.records = records
        self.mid_cell = mid_cell


_END = "\x1fcio: end of file"  # after the last line: '"' + _END + "\n"


def _with_end(lines: Iterable[str]) -> Iterator[str]:
    """The lines, the last one ending with a newline, then one that opens a quoted field.

    At a record boundary that line is a record of its own (the field ``_END`` and a
    newline); inside a quoted field it closes the field, which then ends with ``_END``.
    """
    last = None
    for line in lines:
        if last is not None:
            yield last
        last = line
    if last is not None:
        yield last if last.endswith("\n") else last + "\n"
    yield '"' + _END + "\n"


@dataclass
class Unreadable:
    """A line the csv module cannot read (a bare CR in an unquoted field, say)."""

    reason: str
    text: str


def lenient_records(lines: Iterable[str]) -> Iterator[list[str] | Unreadable]:
    """Records as the csv module reads them; an unreadable one becomes ``Unreadable``.

    A quoted field still open at the end of the file raises ``OpenQuote``, as the
    csv module's strict mode does (the lenient reader would end it silently).
    """
    last: list[str] = [""]
    spans: list[str] = []  # the lines of the record being read

    def remember() -> Iterator[str]:
        for line in _with_end(lines):
            last[0] = line
            spans.append(line)
            yield line

    reader = csv.reader(remember())
    ahead: list[str] | Unreadable | None = None  # one record behind: the end line is no record
    count = 0
    while True:
        try:
            record: list[str] | Unreadable = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            record = Unreadable(str(exc), last[0].rstrip("\r\n"))
        if ahead is not None:
            yield ahead
            count += 1
        if len(spans) > 1 and not spans[-1].startswith('"' + _END) and _closed_mid_cell(spans):
            raise OpenQuote(count, mid_cell=True)
        spans.clear()
        ahead = record
    if ahead != [_END + "\n"]:
        raise OpenQuote(count)


def _closed_mid_cell(spans: list[str]) -> bool:
    """A record over several lines whose quoted field a quote in the middle of a cell
    closes (``"Big order\\n...,"x"``): a quote left open that swallowed the lines after it.
    The csv module's strict mode refuses it; the lenient one reads on."""
    try:
        for _ in csv.reader(spans, strict=True):
            pass
    except csv.Error as exc:
        return "expected after" in str(exc)
    return False


def strict_records(data: bytes, ncols: int) -> tuple[pl.DataFrame, bool] | None:
    """Parse a body polars refused (long rows) or found ragged, exactly, with the csv module.

    None when the body's quoting does not close (a stray quote made the cut
    land inside a field): the caller then reads the rest of the file this way.
    """
    try:
        records = list(csv.reader(io.StringIO(data.decode("utf-8")), strict=True))
    except csv.Error:
        return None
    return frame(records, ncols), False


def frame(records: list[list[str]] | list[list[str] | Unreadable], ncols: int) -> pl.DataFrame:
    """Build a chunk frame from records parsed by the csv module.

    ``_nf`` is the number of fields, or -1 for an unreadable line, whose
    reason and text go to ``_extra``.
    """
    cols: list[list[str | None]] = [[] for _ in range(ncols)]
    nfs: list[int] = []
    extras: list[str | None] = []
    for rec in records:
        if isinstance(rec, Unreadable):
            nfs.append(-1)
            extras.append(f"cannot be read as CSV ({_plainly(rec.reason)}): {rec.text!r}")
            rec = []
        else:
            nfs.append(len(rec))
            extras.append(_csv_text(rec[ncols:]) if len(rec) > ncols else None)
        for i in range(ncols):
            cell = rec[i] if i < len(rec) else None
            cols[i].append(cell if cell else None)
    data: dict[str, pl.Series] = {
        f"c{i}": pl.Series(f"c{i}", cols[i], dtype=pl.String) for i in range(ncols)
    }
    n = len(records)
    data["_row"] = pl.Series("_row", range(n), dtype=pl.Int64)
    data["_nf"] = pl.Series("_nf", nfs, dtype=pl.Int32)
    data["_extra"] = pl.Series("_extra", extras, dtype=pl.String)
    return pl.DataFrame(data)


def _plainly(reason: str) -> str:
    """The csv module's reason, in the user's terms where it talks of Python."""
    if reason.startswith("new-line character seen in unquoted field"):
        return (
            "a carriage return (CR) outside quotes, which does not end a line here;"
            " if the file's lines end with CR, convert them to LF or CRLF"
        )
    return reason


def _csv_text(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()
