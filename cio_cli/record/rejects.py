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
from pathlib import Path
from types import TracebackType
from typing import IO

import polars as pl

from cio_cli.check.contract import ERROR, NULLED, ROW, Layout
from cio_cli.errors import OutputError


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
    """Appends rejected rows to the rejects file, creating it on first use.

    A write that fails raises ``OutputError``; later writes are dropped (the rows
    are in no journal, so the next run judges them again), letting the requests in
    flight finish before the run stops.
    """

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
        try:
            out = self._open()
            cols = [f"c{i}" for i in self.lay.kept]
            nulled = [NULLED] if NULLED in df.columns else []
            writer = csv.writer(out, lineterminator="\r\n")
            for record in df.select([*cols, "_row", reason_col, *nulled]).iter_rows():
                writer.writerow(self._as_read(record, len(cols)))
            out.flush()
        except OSError as exc:
            self.failed = True
            raise OutputError.writing(f"the rejects file {self.path}", exc) from None
        self.written += df.height

    def _as_read(self, record: tuple[object, ...], ncells: int) -> list[object]:
        """A row's cells, ``_cio_row`` and reason, each cell as read: one that
        ``--null-value`` emptied gets its text back (from ``NULLED``, after the reason)."""
        out = ["" if v is None else v for v in record[: ncells + 2]]
        marks = record[ncells + 2] if len(record) > ncells + 2 else None
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
            header = [self.lay.header[i] for i in self.lay.kept] + [ROW, ERROR]
            csv.writer(self._file, lineterminator="\r\n").writerow(header)
        return self._file
