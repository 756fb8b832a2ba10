"""Reading CSV input: files, .gz, stdin; bounded chunks; record numbering.

The file is streamed in blocks of about 2 MB. Each block is cut after the last
newline that has an even number of quote characters before it, so a chunk
always ends on a record boundary, and parsed by ``polars.read_csv`` with every
column as text. Polars cannot tell a short row from one with empty trailing
cells, so each new chunk's bytes are checked (``bytescan``): the separators
must be exactly ``(columns - 1)`` per non-blank record. A chunk that fails the
check (ragged rows) is parsed again, exactly, with Python's ``csv`` module
(``exact``); a chunk polars refuses, or with a stray quote inside an unquoted
field, switches the rest of the file to the ``csv`` module, which reads such
quotes literally. A quote still open at the end of the file, or closed only by
a quote in the middle of a later cell, makes the file unimportable (the csv
module's strict mode refuses both), as do CR-only line ends and a damaged .gz.

Every chunk comes out as a DataFrame of columns ``c0 .. c{n-1}`` (text, null
when empty) plus ``_row`` (the record number a spreadsheet shows: the header is
row 1), ``_nf`` (the number of fields the record had) and ``_extra`` (the extra
cells of a long row, as CSV text, else null). Blank lines are dropped, but the
rows after them keep counting them.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
import shutil
import sys
import tempfile
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Generic, TypeVar

import polars as pl

from cio_cli.check.contract import NULLED
from cio_cli.errors import FileChangedError, UnimportableError
from cio_cli.read import boundaries, fallback
from cio_cli.read.places import LocalFile, Place

A = TypeVar("A")
T = TypeVar("T")
WORKERS = int(os.environ.get("CIO_WORKERS", "0")) or min(4, os.cpu_count() or 1)
BLOCK_BYTES = int(os.environ.get("CIO_BLOCK_MB", "2")) << 20
MAX_CARRY_BYTES = 64 << 20
UTF8_NAMES = {"utf-8", "utf8", "utf_8", "utf-8-sig", "utf_8_sig", "u8"}
GZIP_HINT = "copy or compress the file again (gzip -t FILE checks a .gz file)"
ENCODING_HINT = "pass --encoding with the file's encoding, for example --encoding latin-1 or cp1252"


@dataclass
class Body:
    """A run of whole records as UTF-8 bytes, where it starts, how far the reader is."""

    data: bytes
    offset: int
    bytes_done: int
    refused: bool = False
    last: bool = False  # the end of the file: a quote may still be open in it


@dataclass
class Chunk(Generic[T]):
    """The work done on a run of records, and where those records are in the file."""

    result: T
    first_row: int
    records: int
    bytes_done: int


def ordered_map(fn: Callable[[A], T], items: Iterable[A], workers: int) -> Iterator[tuple[A, T]]:
    """``(item, fn(item))`` in order, computed ahead in threads, a few at a time."""
    if workers <= 1:
        for item in items:
            yield item, fn(item)
        return
    with ThreadPoolExecutor(workers) as pool:
        pending: deque[tuple[A, Future[T]]] = deque()
        try:
            for item in items:
                pending.append((item, pool.submit(fn, item)))
                if len(pending) > workers:
                    first, fut = pending.popleft()
                    yield first, fut.result()
            while pending:
                first, fut = pending.popleft()
                yield first, fut.result()
        finally:
            for _, fut in pending:
                fut.cancel()


class Tell:
    """Tracks how many bytes of the underlying (maybe compressed) file were read."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw

    def done(self) -> int:
        try:
            return self.raw.tell()
        except (OSError, ValueError):
            return 0


def read_block(stream: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes; a damaged .gz file is unimportable."""
    try:
        return stream.read(size)
    except EOFError as exc:
        raise UnimportableError(
            f"the gzip data ends too soon: the file is truncated ({exc})", GZIP_HINT
        ) from exc
    except gzip.BadGzipFile as exc:
        if "Not a gzipped" not in str(exc):
            raise UnimportableError(f"the gzip data is damaged ({exc})", GZIP_HINT) from exc
        raise UnimportableError(
            f"after the end of its gzip data, the file holds bytes that are not gzip ({exc})",
            GZIP_HINT,
        ) from exc
    except zlib.error as exc:
        raise UnimportableError(f"the gzip data is damaged ({exc})", GZIP_HINT) from exc


def spool_stdin(stream: BinaryIO | None = None) -> Path:
    """Copy standard input (or a pipe) to a temporary file: two passes read it twice."""
    fd, name = tempfile.mkstemp(prefix="cio-stdin-", suffix=".csv")
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(stream or sys.stdin.buffer, out, 1 << 20)
    except BaseException:  # Ctrl-C or a full disk while copying: leave no file behind
        os.unlink(name)
        raise
    return Path(name)


class CsvSource:
    """One CSV input, read as many times as asked, never whole, wherever it lies
    (``place``: a local file or an object in a bucket, read/places.py; a ``formats.Source``)."""

    format = "csv"

    def __init__(
        self, place: Place | Path, encoding: str = "utf-8", block_bytes: int = BLOCK_BYTES
    ) -> None:
        self.place = LocalFile(place) if isinstance(place, Path) else place
        self.path = self.place.beside  # where outputs are named after (the file, or ./name)
        self.encoding = encoding
        self.block_bytes = block_bytes
        self.nulls: tuple[str, ...] = ()  # --null-value: cells read as empty
        self.declared: dict[str, str] = {}  # text has no types of its own
        self.unsendable: list[str] = []
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise UnimportableError(
                f"unknown encoding {encoding!r}", "pass a Python codec name such as latin-1"
            ) from exc
        self.size = self.place.size
        self._gz: bool | None = None  # gzip bytes? known at the first read
        self._bom = 0  # bytes of a UTF-8 BOM at the start, for byte offsets in messages
        self.header, self._header_end = self._read_header()
        # body offset -> (CRC-32, plain text?) of a body that parsed exactly in an earlier pass
        self._verified: dict[int, tuple[int, bool]] = {}

    # -- opening and decoding -------------------------------------------------

    def _open(self) -> tuple[BinaryIO, Tell]:
        raw = self.place.open()
        if self._gz is None:
            self._gz = is_gzip(raw)
        return unzipped(raw, self._gz)

    def _utf8_blocks(self, stream: BinaryIO) -> Iterator[bytes]:
        """Yield the input as UTF-8 bytes, BOM removed, in blocks."""
        utf8 = self.encoding.lower() in UTF8_NAMES
        decoder = None if utf8 else codecs.getincrementaldecoder(self.encoding)("strict")
        first = True
        consumed = 0
        while True:
            raw = read_block(stream, self.block_bytes)
            block = raw
            if decoder is not None:
                try:
                    block = decoder.decode(raw, final=not raw).encode("utf-8")
                except UnicodeDecodeError as exc:
                    at = consumed + exc.start
                    raise self._decode_error(exc, self._row_at(at), at) from exc
                except UnicodeError as exc:  # UTF-16 without a BOM, say
                    raise UnimportableError(
                        f"the file is not {self.encoding} text ({exc})", ENCODING_HINT
                    ) from exc
            consumed += len(raw)
            if first:
                self._bom = len(block) - len(block := block.removeprefix(b"\xef\xbb\xbf"))
                first = False
            if block:
                yield block
            if not raw:
                return

    def _row_at(self, offset: int) -> int:
        """The record number holding (decoded) byte ``offset``: read the file again to it."""
        stream, _ = self._open()
        with stream:
            prefix = read_block(stream, offset).decode(self.encoding, errors="replace")
        return boundaries.count_records(prefix.encode("utf-8")) + 1

    def _decode_error(self, exc: UnicodeDecodeError, row: int, at: int) -> UnimportableError:
        """Invalid text in row ``row``, at byte ``at`` of the file (of its text, if .gz)."""
        of = " of the uncompressed text" if self._gzipped() else ""
        return UnimportableError(
            f"row {row} is not valid {self.encoding} text ({exc.reason} at byte {at}{of})",
            ENCODING_HINT,
        )

    def _gzipped(self) -> bool:
        return bool(self._gz)

    # -- the header -----------------------------------------------------------

    def _read_header(self) -> tuple[list[str], int]:
        stream, _ = self._open()
        with stream:
            buf = b""
            for block in self._utf8_blocks(stream):
                buf += block
                end = boundaries.first_record_end(buf)
                if end is not None:
                    break
                if len(buf) > MAX_CARRY_BYTES:
                    raise _unending_header(buf)
            else:
                end = len(buf)
                if buf.count(b'"') % 2:
                    raise _unending_header(buf)
        head = buf[:end]
        if not head.strip():
            raise UnimportableError(
                "the file is empty: no header row", "the first row must name the columns"
            )
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self._decode_error(exc, 1, self._bom + exc.start) from exc
        try:
            cells = next(csv.reader(io.StringIO(text)), [])
        except csv.Error as exc:
            raise _unreadable_header(head, exc) from exc
        return [c.removeprefix("\ufeff") for c in cells], end

    # -- records --------------------------------------------------------------

    def bodies(self) -> Iterator[Body]:
        """The data records as UTF-8 byte runs, each ending on a record boundary."""
        stream, tell = self._open()
        with stream:
            carry = b""  # the start of a record cut by the last block
            skip = self._header_end
            offset = self._header_end
            for block in self._utf8_blocks(stream):
                if skip:
                    take = min(skip, len(block))
                    block, skip = block[take:], skip - take
                odd = carry.count(b'"') % 2 == 1
                cut = boundaries.last_record_end(block, odd)
                if cut is None:
                    if len(carry) + len(block) > MAX_CARRY_BYTES:
                        yield Body(b"", offset, tell.done(), refused=True)
                        return
                    carry += block
                    continue
                data = b"".join((carry, memoryview(block)[:cut]))  # one copy, not two
                yield Body(data, offset, tell.done())
                offset += len(data)
                carry = block[cut:]
            if carry:
                yield Body(carry, offset, tell.done(), last=True)

    def parse(
        self, body: Body, columns: list[int] | None = None
    ) -> tuple[pl.DataFrame, bool] | None:
        """Parse one body (rows numbered from 0); None when polars refuses its quoting.

        With the frame comes whether no cell needs JSON escaping. A body seen
        in an earlier pass is trusted by its CRC-32 and not checked again.
        ``columns`` reads only those columns (by position), unless the body
        has rows that look blank, which need every column to be told apart.
        """
        if body.refused or body.last and body.data.count(b'"') % 2:
            return None  # the csv module reads it: a quote may be open at the end of the file
        crc, ncols = zlib.crc32(body.data), len(self.header)
        known = self._known(body.offset, crc)
        if known is None:
            self._text(body)  # BadText when it is not UTF-8
        crs = known is None and b"\r" in body.data
        if crs and body.data.count(b"\r") != body.data.count(b"\r\n"):
            return fallback.strict_records(body.data, ncols)  # polars drops lone CRs
        names = [f"c{i}" for i in (range(ncols) if columns is None else columns)]
        try:
            df = pl.read_csv(
                body.data,
                has_header=False,
                schema={f"c{i}": pl.String for i in range(ncols)},
                columns=columns,
                raise_if_empty=False,
            )
        except pl.exceptions.PolarsError:
            return fallback.strict_records(body.data, ncols)
        blank = _blank_rows(df, names)
        if blank and columns is not None:
            return self.parse(body)
        if known is None:
            marks = boundaries.marks_of(body.data)  # one pass over the bytes for both checks
            whole = boundaries.separators_match(body.data, df, ncols, blank, marks)
            if not whole:  # None: polars cannot be trusted here; False: ragged rows
                return None if whole is None else fallback.strict_records(body.data, ncols)
            plain = boundaries.plain_text(body.data, df.height, marks)
        else:
            plain = known[1]
        self._verified[body.offset] = (crc, plain)
        return _numbered(df, body.data, names, ncols, blank, plain), plain

    def _known(self, offset: int, crc: int) -> tuple[int, bool] | None:
        """What an earlier pass learnt of the body at ``offset``; the file must not have changed."""
        known = self._verified.get(offset)
        if known is not None and known[0] != crc:
            raise FileChangedError(
                f"{self.place.shown} changed while cio was reading it",
                "run again once the file is complete",
            )
        return known

    def _text(self, body: Body) -> str:
        """The body as text; ``BadText`` (placed in the file) when it is not UTF-8."""
        try:
            return boundaries.utf8_text(body.data)
        except boundaries.BadText as exc:
            exc.at = self._bom + body.offset + exc.error.start
            raise

    def slow_from(self, offset: int) -> Iterator[pl.DataFrame]:
        """Read from UTF-8 byte ``offset`` to the end with the csv module, in frames."""
        stream, _ = self._open()
        with stream:
            blocks = self._utf8_blocks(stream)
            head = b""
            for block in blocks:
                if offset >= len(block):
                    offset -= len(block)
                    continue
                head = block[offset:]
                break
            batch: list[list[str] | fallback.Unreadable] = []

            def bad_text(exc: UnicodeDecodeError, at: int) -> Exception:
                at += self._bom + offset
                return self._decode_error(exc, self._row_at(at), at)

            for record in fallback.lenient_records(fallback.lines(head, blocks, bad_text)):
                batch.append(record)
                if len(batch) >= fallback.SLOW_BATCH_ROWS:
                    yield fallback.frame(batch, len(self.header))
                    batch = []
            if batch:
                yield fallback.frame(batch, len(self.header))

    def chunks(
        self,
        work: Callable[[pl.DataFrame, bool], T],
        columns: Callable[[], list[int] | None] | None = None,
    ) -> Iterator[Chunk[T]]:
        """Parse every body and apply ``work`` to it in worker threads; yield in file order.

        ``work(df, plain)`` sees rows numbered from 0 within the chunk, and
        ``plain`` True when no cell of the chunk needs JSON escaping.
        ``columns()``, asked per chunk, may name the only columns ``work``
        needs; ``work`` raises ``NeedAllColumns`` to get the chunk whole.
        ``Chunk.first_row`` is the record number of that row 0, and
        ``Chunk.records`` the records (blank lines included) the chunk covered.
        """

        def job(body: Body) -> tuple[int | None, T | None]:
            return self._work_on(body, work, columns() if columns else None)

        next_row = 2
        results = ordered_map(job, self.bodies(), WORKERS)
        while True:
            try:
                item = next(results, None)
            except boundaries.BadText as exc:
                raise self._decode_error(exc.error, next_row + exc.record, exc.at) from exc
            if item is None:
                return
            body, (records, result) = item
            if records is None:
                yield from self._slowly(body, next_row, work)
                return
            assert result is not None
            yield Chunk(result, next_row, records, body.bytes_done)
            next_row += records

    def _work_on(
        self, body: Body, work: Callable[[pl.DataFrame, bool], T], columns: list[int] | None
    ) -> tuple[int | None, T | None]:
        """One chunk's parse and work, in a worker thread: the records it held and the
        result (the parsed frame is not kept: chunks waiting in line hold only results);
        (None, None) for the csv module."""
        parsed = self.parse(body, columns)
        if parsed is None:
            return None, None
        try:
            return parsed[0].height, work(self._cells(parsed[0]), parsed[1])
        except NeedAllColumns:
            parsed = self.parse(body)
            assert parsed is not None
            return parsed[0].height, work(self._cells(parsed[0]), parsed[1])

    def _cells(self, df: pl.DataFrame) -> pl.DataFrame:
        """A parsed chunk as ``work`` sees it: blank lines out, ``--null-value`` cells empty."""
        return nulled(_without_blanks(df), self.nulls)

    def _slowly(
        self, body: Body, first_row: int, work: Callable[[pl.DataFrame, bool], T]
    ) -> Iterator[Chunk[T]]:
        """The chunks from ``body`` to the end of the file, read by the csv module."""
        row = first_row
        try:
            for frame in self.slow_from(body.offset):
                found = work(self._cells(frame), False)
                yield Chunk(found, row, frame.height, body.bytes_done)
                row += frame.height
        except fallback.OpenQuote as exc:
            raise open_quote_error(first_row + exc.records, exc.mid_cell) from exc


def is_gzip(stream: BinaryIO) -> bool:
    """Whether a stream just opened starts with gzip's magic bytes (left to be read)."""
    peek = getattr(stream, "peek", None)
    return peek is not None and peek(2)[:2] == b"\x1f\x8b"


def unzipped(raw: BinaryIO, gz: bool) -> tuple[BinaryIO, Tell]:
    """``raw`` read forward, gunzipped when ``gz``; and how many of its bytes were read."""
    if gz:
        stream = gzip.GzipFile(fileobj=raw, mode="rb")
        stream.myfileobj = raw  # type: ignore[assignment]  # closed with it
        return stream, Tell(raw)  # type: ignore[return-value]
    return raw, Tell(raw)


CR_HINT = (
    "convert the line endings to LF or CRLF, for example: tr '\\r' '\\n' < in.csv > out.csv"
    " (or save the file again as CSV for Windows or Unix)"
)


def _unending_header(buf: bytes) -> UnimportableError:
    """The header (row 1) did not end: CR line endings, or a quote that is never closed."""
    if b"\r" in buf and b"\n" not in buf:
        return _unreadable_header(buf, None)
    if buf.count(b'"') % 2:
        return open_quote_error(1)
    return UnimportableError("the header row never ends", "check the quoting")


def _unreadable_header(head: bytes, exc: csv.Error | None) -> UnimportableError:
    """Row 1 holds a lone carriage return (CR) outside quotes, or the csv module refuses it."""
    if b"\r" not in head:
        return UnimportableError(f"row 1 (the header) cannot be read as CSV ({exc})", CR_HINT)
    if b"\n" not in head:
        return UnimportableError(
            "the file's lines end with a lone carriage return (CR, as in old Mac files),"
            " which cio does not take as the end of a row: row 1 (the header) never ends",
            CR_HINT,
        )
    return UnimportableError(
        "row 1 (the header) holds a carriage return (CR) that is not part of a line end",
        "remove it; if the file's lines end with CR, " + CR_HINT,
    )


def open_quote_error(row: int, mid_cell: bool = False) -> UnimportableError:
    """A quoted field opened in ``row`` is still open at the end of the file (or, with
    ``mid_cell``, a quote in the middle of a cell lines later closes it)."""
    what = (
        "runs on over the next lines until a quote in the middle of a later cell closes it:"
        " those lines would be part of that one cell"
        if mid_cell
        else "is never closed: everything after it, to the end of the file, would be that one cell"
    )
    return UnimportableError(
        f'row {row} opens a quoted field (a cell starting with ") that {what}',
        "close the quote where the cell ends (a quote that is part of the text is written"
        ' "" inside a quoted cell); the csv module in strict mode refuses such a file too',
    )


class NeedAllColumns(Exception):
    """Raised by a chunk's work when the columns it was given are not enough."""


def _numbered(
    df: pl.DataFrame, data: bytes, names: list[str], ncols: int, blank: int, plain: bool
) -> pl.DataFrame:
    """A parsed chunk with its row numbers (``_row``), field counts (``_nf``) and ``_extra``.

    Where the chunk has doubled quotes, cells polars read as ``""`` become empty (null), as
    unquoted empty cells are. ``blank`` says the chunk has rows that look blank.
    """
    if not plain and boundaries.DOUBLED_QUOTE.search(data):
        df = df.with_columns(pl.when(pl.col(n) != "").then(pl.col(n)).alias(n) for n in names)
    is_blank = pl.all_horizontal(pl.col(n).is_null() for n in names) if blank else False
    return df.with_columns(
        pl.int_range(0, df.height, dtype=pl.Int64).alias("_row"),
        pl.when(is_blank).then(0).otherwise(ncols).cast(pl.Int32).alias("_nf"),
        pl.lit(None, dtype=pl.String).alias("_extra"),
    )


def nulled(df: pl.DataFrame, nulls: tuple[str, ...]) -> pl.DataFrame:
    """``df`` with every cell equal to one of ``nulls`` (``--null-value``) made empty, and
    ``NULLED`` saying which cells were (null where none was): the rejects file keeps them."""
    cells = [c for c in df.columns if c[0] == "c" and c[1:].isdigit()]
    if not nulls or not cells:
        return df
    hit = df.select(pl.col(c).is_in(nulls).any() for c in cells).row(0) if df.height else ()
    cells = [c for c, found in zip(cells, hit, strict=True) if found]
    if not cells:  # every chunk has the column, for the frames put together later
        return df.with_columns(pl.lit(None, dtype=pl.String).alias(NULLED))
    marks = pl.concat_str([_marked(c, nulls) for c in cells], separator=";", ignore_nulls=True)
    return df.with_columns(
        *(pl.when(pl.col(c).is_in(nulls)).then(None).otherwise(pl.col(c)).alias(c) for c in cells),
        pl.when(marks != "").then(marks).alias(NULLED),
    )


def _marked(cell: str, nulls: tuple[str, ...]) -> pl.Expr:
    """``i:k`` where the cell ``c<i>`` is ``nulls[k]``, else null."""
    marks = (
        pl.when(pl.col(cell) == text).then(pl.lit(f"{cell[1:]}:{k}"))
        for k, text in enumerate(nulls)
    )
    return pl.coalesce(marks)


def _without_blanks(df: pl.DataFrame) -> pl.DataFrame:
    """Drop blank lines (``_nf == 0``); their numbers stay counted in ``_row``."""
    nf = df.get_column("_nf")
    return df.filter(nf != 0) if (nf == 0).any() else df


def _blank_rows(df: pl.DataFrame, names: list[str]) -> int:
    """Rows with every cell empty: blank lines (or rows of bare commas)."""
    if df.height == 0 or df.get_column(names[0]).null_count() == 0:
        return 0
    return int(df.select(pl.all_horizontal(pl.col(n).is_null() for n in names).sum()).item())
