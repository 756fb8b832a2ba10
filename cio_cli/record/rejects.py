"""The rejects file: every row not sent, with its raw cells and the reason; and the
permission bits of every file a run writes (``output_mode``, ``create``, ``narrow_mode``).

Columns are the input's (minus any ``_cio_row``/``_cio_error`` it had), in
order, then ``_cio_row`` and ``_cio_error``. Lines end in CRLF (RFC 4180), so
that a cell holding a bare CR is quoted too. The file is UTF-8 and is created
only when the first row is written, so a clean run leaves none behind (and an
old one from an earlier run is removed, so it never describes another run).
It gets the input's permission bits, never wider than 0644 (``output_mode``).
"""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

import orjson
import polars as pl

from cio_cli.check.contract import ERROR, LINE, NULLED, RAW_LINE, ROW, Layout
from cio_cli.errors import OutputError

if TYPE_CHECKING:
    from cio_cli.read.formats import Source


def remove_file(path: Path) -> None:
    """Remove ``path`` if it is a regular file; never a symlink, a device or a directory
    (``--rejects /dev/null`` as root must not delete ``/dev/null``)."""
    if path.is_file() and not path.is_symlink():
        path.unlink(missing_ok=True)


def output_mode(inputs: list[Path]) -> int:
    """Permission bits for a file written from ``inputs``: the bits every input has,
    never wider than 0644, always readable and writable by the owner. An input that
    is not a regular file (a pipe, stdin) counts as 0600."""
    mode = 0o644
    for path in inputs:
        try:
            st = path.stat()
        except OSError:
            st = None
        mode &= stat.S_IMODE(st.st_mode) if st and stat.S_ISREG(st.st_mode) else 0o600
    return mode | 0o600


def create(path: Path, mode: int) -> int:
    """Open ``path`` for writing, truncated, creating it (and missing directories) with
    ``mode`` (less the umask); an existing regular file is narrowed to ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    st = os.fstat(fd)
    if stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) & ~mode:
        os.fchmod(fd, stat.S_IMODE(st.st_mode) & mode)
    return fd


def narrow_mode(path: Path, mode: int) -> None:
    """Take away from ``path`` (a regular file, if it exists) the bits ``mode`` lacks."""
    try:
        st = path.stat()
        if stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) & ~mode:
            os.chmod(path, stat.S_IMODE(st.st_mode) & mode)
    except FileNotFoundError:
        pass


class RejectsWriter:
    """Appends rejected rows to the rejects file, creating it on first use (a CSV file;
    ``NdjsonRejects`` and ``ParquetRejects`` write the other formats' files).

    A write that fails raises ``OutputError``; later writes are dropped (the rows
    are in no journal, so the next run judges them again), letting the requests in
    flight finish before the run stops.
    """

    header_line = True  # the CSV file's first line names the columns

    def __init__(
        self, path: Path, lay: Layout, like: Path | None = None, nulls: tuple[str, ...] = ()
    ) -> None:
        self.path = path
        self.lay = lay
        self.nulls = nulls  # --null-value: a cell it emptied is written as read
        self.mode = output_mode([like]) if like is not None else 0o644
        self.written = 0
        self.failed = False
        self._file: IO[str] | None = None

    def __enter__(self) -> RejectsWriter:
        remove_file(self.path)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Flush and close the file if it was opened."""
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError as exc:
                if not self.failed:
                    self.failed = True
                    raise OutputError.writing(f"the rejects file {self.path}", exc) from None

    def write(self, df: pl.DataFrame, reason_col: str) -> None:
        """Write the rows of ``df`` (raw cells, ``_row``) with the reason in ``reason_col``."""
        if df.height == 0 or self.failed:
            return
        cols = [f"c{i}" for i in self.lay.kept]
        marks = df.get_column(NULLED).to_list() if NULLED in df.columns else [None] * df.height
        rows = df.select([*cols, "_row", reason_col]).iter_rows()
        records = [self._as_read(r, m) for r, m in zip(rows, marks, strict=True)]
        try:
            self._put(records, df)
        except OSError as exc:
            self.failed = True
            raise OutputError.writing(f"the rejects file {self.path}", exc) from None
        self.written += df.height

    def names(self) -> list[str]:
        """The rejects file's columns: the input's kept ones, then ``_cio_row``, ``_cio_error``."""
        return [self.lay.header[i] for i in self.lay.kept] + [ROW, ERROR]

    def _put(self, records: list[list[object]], df: pl.DataFrame) -> None:
        """Append rows (each cell as read, then the row number and the reason) as CSV."""
        out = self._open()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerows(records)
        out.flush()

    def _as_read(self, record: tuple[object, ...], marks: object) -> list[object]:
        """A row's cells, ``_cio_row`` and reason, each cell as read: one that
        ``--null-value`` emptied gets its text back (from ``marks``, the ``NULLED`` cell)."""
        out = ["" if v is None else v for v in record]
        if isinstance(marks, str):
            where = {i: k for k, i in enumerate(self.lay.kept)}
            for mark in marks.split(";"):
                cell, _, text = mark.partition(":")
                if int(cell) in where:
                    out[where[int(cell)]] = self.nulls[int(text)]
        return out

    def _open(self) -> IO[str]:
        if self._file is None:
            fd = create(self.path, self.mode)
            self._file = open(fd, "w", encoding="utf-8", newline="")  # noqa: SIM115
            if self.header_line:
                csv.writer(self._file, lineterminator="\r\n").writerow(self.names())
        return self._file


class NdjsonRejects(RejectsWriter):
    """The rejects file of an NDJSON input: each row as the object it was read from (its
    keys as read, values of their JSON type), plus ``_cio_row`` and ``_cio_error``; a line
    that was not an object as ``_cio_line``. ``declared``: the source's, by key."""

    header_line = False

    def __init__(self, path: Path, lay: Layout, like: Path | None, nulls: tuple[str, ...],
                 declared: dict[str, str]) -> None:  # fmt: skip
        super().__init__(path, lay, like, nulls)
        self.declared = declared

    def _put(self, records: list[list[object]], df: pl.DataFrame) -> None:
        out = self._open()
        lines = df.get_column(RAW_LINE).to_list() if RAW_LINE in df.columns else []
        keys = self.names()[:-2]
        for at, record in enumerate(records):
            line = lines[at] if lines else None
            obj: dict[str, object] = {} if line is None else {LINE: line}
            for key, cell in zip(keys, record, strict=False):
                if cell != "":
                    as_text = self.declared.get(key) == "string"
                    obj[key] = cell if as_text else orjson.Fragment(str(cell))
            obj[ROW], obj[ERROR] = record[-2], record[-1]
            out.write(orjson.dumps(obj).decode() + "\n")
        out.flush()


class ParquetRejects(RejectsWriter):
    """The rejects file of a Parquet input: the rows with the input's column types (text
    cells read back by ``read/parquet.py``'s ``from_text``), plus ``_cio_row`` (Int64) and
    ``_cio_error``. Rows are written in parts of ``PART_ROWS`` and joined when it closes."""

    PART_ROWS = 50_000

    def __init__(self, path: Path, lay: Layout, like: Path | None, nulls: tuple[str, ...],
                 schema: Mapping[str, pl.DataType]) -> None:  # fmt: skip
        super().__init__(path, lay, like, nulls)
        self.schema = schema
        self.buffer: list[list[object]] = []
        self.parts: list[Path] = []

    def _put(self, records: list[list[object]], df: pl.DataFrame) -> None:
        self.buffer += records
        if len(self.buffer) >= self.PART_ROWS:
            self._flush()

    def _flush(self) -> None:
        from cio_cli.read.parquet import from_text

        if not self.buffer:
            return
        names = self.names()
        columns = list(zip(*self.buffer, strict=True))
        text = pl.DataFrame(
            [pl.Series(n, [None if v == "" else str(v) for v in c], dtype=pl.String)
             for n, c in zip(names[:-2], columns, strict=False)]
            + [pl.Series(ROW, columns[-2], dtype=pl.Int64),
               pl.Series(ERROR, columns[-1], dtype=pl.String)]
        )  # fmt: skip
        typed = text.select(
            *(from_text(n, self.schema[n]).alias(n) for n in names[:-2]), ROW, ERROR
        )
        part = self.path.with_name(f".{self.path.name}.part{len(self.parts)}")
        typed.write_parquet(part)
        self.parts.append(part)
        self.buffer = []

    def close(self) -> None:
        """Join the parts into the rejects file (created with the input's permissions)."""
        try:
            self._flush()
            if self.parts:
                os.close(create(self.path, self.mode))
                pl.scan_parquet(self.parts).sink_parquet(self.path)
        except (OSError, pl.exceptions.PolarsError) as exc:
            if not self.failed:
                self.failed = True
                failure = OSError(str(exc))
                raise OutputError.writing(f"the rejects file {self.path}", failure) from None
        finally:
            for part in self.parts:
                part.unlink(missing_ok=True)
            self.parts = []


def rejects_writer(path: Path, lay: Layout, source: Source) -> RejectsWriter:
    """The rejects file's writer for an input, in the input's own format."""
    if source.format == "parquet":
        return ParquetRejects(path, lay, source.path, source.nulls, source.schema)  # type: ignore[attr-defined]
    if source.format == "ndjson":
        return NdjsonRejects(path, lay, source.path, source.nulls, source.declared)
    return RejectsWriter(path, lay, source.path, source.nulls)
