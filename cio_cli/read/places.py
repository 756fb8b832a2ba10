"""Where an input lies: a local file, or an object in a bucket or behind an https URL.

Every reader (CSV, Parquet, NDJSON: read/formats.py) reads its bytes through a ``Place``:
its first bytes for the format check (``first``), a new stream from the first byte each
time it asks (``open``: CSV and NDJSON read forward), where polars' own scanners find it
(``location``: Parquet seeks to its footer and reads row groups by range), whether it is
still the input first seen (``unchanged``), the size for the progress display, a
fingerprint for the journal, and the path its outputs are named after (``beside``). The
checking and encoding never ask which kind of place it is.

    LocalFile        a path on this machine (stdin and pipes are spooled to one first)
    RemoteObject     s3:// gs:// az:// https://, read by obstore (read/buckets.py)

How a URL is shown (never with its secrets) and where its outputs go: read/urls.py.
Nothing here loads obstore: a local run never pays for it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO, Protocol

from cio_cli.errors import FileChangedError, UsageError
from cio_cli.read.urls import holds_url, is_url, looks_like_url, shown_name


class Place(Protocol):
    """Where one input's bytes are, and how to read them again from the start."""

    shown: str  # the input as every output names it: a path, or a URL without secrets
    beside: Path  # outputs are named after it: the file itself, or ./<object name>
    size: int  # bytes as stored (compressed or not), for the progress display

    def first(self, size: int) -> bytes:
        """The input's first ``size`` bytes (fewer if it is shorter)."""
        ...

    def open(self) -> BinaryIO:
        """A new stream of the input's bytes from the first (the caller closes it)."""
        ...

    def location(self) -> tuple[str, dict[str, int] | None]:
        """What polars' own scanners read (a path, or the URL as given) and the storage
        options they need with it (None for a local file); never shown."""
        ...

    def unchanged(self) -> None:
        """``FileChangedError`` unless the input is still the one first seen."""
        ...

    def fingerprint(self) -> str:
        """What the journal keys this input on (no secret in it)."""
        ...


class LocalFile:
    """A file on this machine."""

    def __init__(self, path: Path, shown: str | None = None) -> None:
        self.path = path
        self.shown = str(path) if shown is None else shown
        self.beside = path
        stat = path.stat()
        self.size = stat.st_size
        self._stamp = (stat.st_size, stat.st_mtime_ns)

    def first(self, size: int) -> bytes:
        """The file's first ``size`` bytes."""
        with open(self.path, "rb") as probe:
            return probe.read(size)

    def open(self) -> BinaryIO:
        """The file, opened for reading."""
        return open(self.path, "rb")  # noqa: SIM115 - the caller closes it

    def location(self) -> tuple[str, dict[str, int] | None]:
        """The file's path."""
        return str(self.path), None

    def unchanged(self) -> None:
        """The file's size and modification time are still those first seen."""
        stat = self.path.stat()
        if (stat.st_size, stat.st_mtime_ns) != self._stamp:
            raise FileChangedError(
                f"{self.shown} changed while cio was reading it",
                "run again once the file is complete",
            )

    def fingerprint(self) -> str:
        """SHA-256 and size of the file's bytes (as stored, compressed or not)."""
        with open(self.path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
            size = f.tell()  # the bytes hashed, even if the file grows meanwhile
        return f"sha256:{digest}:{size}"


def place_of(arg: str) -> Place:
    """The place ``arg`` names (not stdin): a local file must exist (exit 2 otherwise, as
    for a missing object); a URL is asked for its size and ETag (read/buckets.py)."""
    if is_url(arg):
        from cio_cli.read.buckets import RemoteObject  # obstore loads for URLs only

        return RemoteObject.head(arg)
    if looks_like_url(arg):  # http://, s3a://...: never echoed whole (a query may sign it)
        raise UsageError(
            f"{shown_name(arg)}: cio reads s3://, gs://, az:// and https:// URLs, not"
            f" {arg.partition('://')[0]}://",
            "give the object as one of those (https:// for a web address), or download it first",
        )
    path = Path(arg)
    if not path.is_file() and holds_url(arg):  # " https://...": pasted with a space or quotes
        raise UsageError(
            f"no such file: {shown_name(arg)}",
            "a URL starts with its scheme (s3://, gs://, az://, https://): remove the spaces"
            " or quotes before it",
        )
    if not path.is_file():
        raise UsageError(f"no such file: {arg}", "check the path")
    return LocalFile(path, arg)


def expand(args: list[str]) -> list[str]:
    """``args`` with each URL pattern (a ``*`` in the object's name) replaced by the URLs
    of the objects it matches, in name order; no match is exit 2, as a missing file."""
    if not any(is_url(a) and "*" in a for a in args):
        return args
    from cio_cli.read.buckets import matching

    out: list[str] = []
    for arg in args:
        out += matching(arg) if is_url(arg) and "*" in arg else [arg]
    return out
