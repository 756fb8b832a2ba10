"""The rejects file: every row not sent, with its raw cells and the reason.

Columns are the input's (minus any ``_cio_row``/``_cio_error`` it had), in
order, then ``_cio_row`` and ``_cio_error``. Lines end in CRLF (RFC 4180), so
that a cell holding a bare CR is quoted too. The file is UTF-8 and is created
only when the first row is written, so a clean run leaves none behind (and an
old one from an earlier run is removed, so it never describes another run).
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import TracebackType
from typing import IO

import polars as pl

from cio_cli.header import ERROR, ROW, Layout


def remove_file(path: Path) -> None:
    """Remove ``path`` if it is a regular file; never a symlink, a device or a directory
    (``--rejects /dev/null`` as root must not delete ``/dev/null``)."""
    if path.is_file() and not path.is_symlink():
        path.unlink(missing_ok=True)


class RejectsWriter:
    """Appends rejected rows to the rejects file, creating it on first use."""

    def __init__(self, path: Path, lay: Layout) -> None:
        self.path = path
        self.lay = lay
        self.written = 0
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
            self._file.close()
            self._file = None

    def write(self, df: pl.DataFrame, reason_col: str) -> None:
        """Write the rows of ``df`` (raw cells, ``_row``) with the reason in ``reason_col``."""
        if df.height == 0:
            return
        out = self._open()
        cols = [f"c{i}" for i in self.lay.kept]
        writer = csv.writer(out, lineterminator="\r\n")
        for record in df.select([*cols, "_row", reason_col]).iter_rows():
            writer.writerow(["" if v is None else v for v in record])
        self.written += df.height
        out.flush()

    def _open(self) -> IO[str]:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115
            header = [self.lay.header[i] for i in self.lay.kept] + [ROW, ERROR]
            csv.writer(self._file, lineterminator="\r\n").writerow(header)
        return self._file
