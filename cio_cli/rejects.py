"""The rejects file: every row not sent, with its raw cells and the reason; and the checks
every output file (rejects, ``--out``, journal) passes before a run starts.

Columns are the input's (minus any ``_cio_row``/``_cio_error`` it had), in
order, then ``_cio_row`` and ``_cio_error``. Lines end in CRLF (RFC 4180), so
that a cell holding a bare CR is quoted too. The file is UTF-8 and is created
only when the first row is written, so a clean run leaves none behind (and an
old one from an earlier run is removed, so it never describes another run).
It gets the input's permission bits, never wider than 0644 (``output_mode``).
"""

from __future__ import annotations

import csv
import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import polars as pl

from cio_cli.errors import OutputError, UsageError
from cio_cli.header import ERROR, ROW, Layout


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

    def __init__(self, path: Path, lay: Layout, like: Path | None = None) -> None:
        self.path = path
        self.lay = lay
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
            writer = csv.writer(out, lineterminator="\r\n")
            for record in df.select([*cols, "_row", reason_col]).iter_rows():
                writer.writerow(["" if v is None else v for v in record])
            out.flush()
        except OSError as exc:
            self.failed = True
            raise OutputError.writing(f"the rejects file {self.path}", exc) from None
        self.written += df.height

    def _open(self) -> IO[str]:
        if self._file is None:
            fd = create(self.path, self.mode)
            self._file = open(fd, "w", encoding="utf-8", newline="")  # noqa: SIM115
            header = [self.lay.header[i] for i in self.lay.kept] + [ROW, ERROR]
            csv.writer(self._file, lineterminator="\r\n").writerow(header)
        return self._file


@dataclass(frozen=True)
class Output:
    """A file a run will write: how messages name it, and how to pick another path."""

    label: str  # "--rejects r.csv", "the rejects file a.csv.rejects.csv", "the journal ..."
    path: Path
    hint: str
    replaced: bool = False  # a regular file there is removed and written anew
    appended: bool = False  # ... or, when it exists, appended to (a journal that resumes)
    lazy: bool = False  # written only if needed: its writability is not checked up front


def check_outputs(inputs: list[tuple[str, Path]], outputs: list[Output]) -> None:
    """Before a run reads or writes anything: every output must be another file than
    every input and every other output, and writable. Usage errors (exit 2)."""
    for i, (shown, path) in enumerate(inputs):
        for other, other_path in inputs[:i]:
            if same_file(path, other_path):
                same = f"{other} and {shown} are the same file"
                raise UsageError(f"{shown} is given twice" if shown == other else same,
                                 "give each file once")
    for i, out in enumerate(outputs):
        for shown, path in inputs:
            if same_file(out.path, path):
                raise UsageError(
                    f"{out.label} is the input file {shown}", f"nothing was written; {out.hint}"
                )
        for before in outputs[:i]:
            if same_file(out.path, before.path):
                raise UsageError(
                    f"{before.label} and {out.label} are the same file",
                    "nothing was written; give each output its own path",
                )
    for out in outputs:
        why = "" if out.lazy else unwritable(out.path, out.replaced, out.appended)
        if why:
            raise UsageError(f"cannot write {out.label}: {why}", out.hint)


def same_file(a: Path, b: Path) -> bool:
    """Do ``a`` and ``b`` name one regular file (hard links and symlinks included)? Paths
    that do not exist yet are compared resolved. Devices and pipes are never the same:
    ``--out /dev/null --rejects /dev/null`` is fine."""
    try:
        sa, sb = a.stat(), b.stat()
    except OSError:
        return a.resolve() == b.resolve()
    return stat.S_ISREG(sa.st_mode) and (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def unwritable(path: Path, replaced: bool = False, appended: bool = False) -> str:
    """Why ``path`` cannot be written ("" when it can, as far as can be told without
    writing). Missing directories are created later, so the nearest existing one counts."""
    try:
        st: os.stat_result | None = path.stat()
    except FileNotFoundError:
        st = None
    except OSError as exc:  # a file in the way of a directory, a loop of symlinks...
        if exc.errno != errno.ENOTDIR:
            return exc.strerror or str(exc)
        st = None
    if st is None:
        return _cannot_create(path)
    if stat.S_ISDIR(st.st_mode):
        return os.strerror(errno.EISDIR)
    renewed = replaced and stat.S_ISREG(st.st_mode) and not path.is_symlink()
    if (appended or not renewed) and not os.access(path, os.W_OK):
        return _denied(path)
    return _cannot_create(path) if renewed else ""


def _cannot_create(path: Path) -> str:
    """Why ``path`` cannot be created: its nearest existing directory is not writable."""
    parent = path.resolve().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{_denied(parent)} (the directory {parent})"
    return ""


def _denied(path: Path) -> str:
    """The OS reason a write to ``path`` is refused: a read-only file system or permissions."""
    try:
        readonly = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        readonly = False
    return os.strerror(errno.EROFS if readonly else errno.EACCES)
