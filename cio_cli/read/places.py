"""Where an input lies: a local file, or an object in a bucket or behind an https URL.

Every reader (CSV today; Parquet and NDJSON beside it) reads its bytes through a
``Place``: a new stream from the first byte each time it asks (``open``), the size
for the progress display, a fingerprint for the journal, and the path its outputs are
named after (``beside``). The checking and encoding never ask which kind of place it is.

    LocalFile        a path on this machine (stdin and pipes are spooled to one first)
    RemoteObject     s3:// gs:// az:// https://, read by obstore (read/buckets.py)

An input's URL may hold secrets: an https URL's query string (a presigned signature,
a SAS token) and any ``user:password@``. ``shown_name`` is the one form of an input that
goes anywhere (messages, ``--json``, the journal, the step summary): the query is
shown as ``?***`` and the password as ``***``. The URL as given is kept only to read.

Nothing here loads obstore: a local run never pays for it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import urlsplit, urlunsplit

from cio_cli.errors import UsageError

SCHEMES = ("s3", "gs", "az", "https")
HIDDEN = "***"


class Place(Protocol):
    """Where one input's bytes are, and how to read them again from the start."""

    shown: str  # the input as every output names it: a path, or a URL without secrets
    beside: Path  # outputs are named after it: the file itself, or ./<object name>
    size: int  # bytes as stored (compressed or not), for the progress display

    def open(self) -> BinaryIO:
        """A new stream of the input's bytes from the first (the caller closes it)."""
        ...

    def fingerprint(self) -> str:
        """What the journal keys this input on (no secret in it)."""
        ...


def is_url(arg: str) -> bool:
    """Is ``arg`` an object-storage or https URL (rather than a path or ``-``)?"""
    scheme, sep, _ = arg.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


def shown_name(arg: str) -> str:
    """``arg`` as outputs show it: a URL's query string as ``?***``, its password as
    ``***``, no fragment; paths and ``-`` as they are."""
    if not is_url(arg):
        return arg
    parts = urlsplit(arg)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:{HIDDEN}@{host}" if ":" in user else f"{HIDDEN}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, HIDDEN if parts.query else "", ""))


def object_name(arg: str) -> str:
    """The last segment of a URL's path (``part-000.csv``), the name local outputs take."""
    return urlsplit(arg).path.rstrip("/").rpartition("/")[2] or "object"


def beside(arg: str) -> Path:
    """The path an input's journal and rejects file are named after: the file itself, or
    for a URL its object name in the working directory."""
    return Path.cwd() / object_name(arg) if is_url(arg) else Path(arg)


class LocalFile:
    """A file on this machine."""

    def __init__(self, path: Path, shown: str | None = None) -> None:
        self.path = path
        self.shown = str(path) if shown is None else shown
        self.beside = path
        self.size = path.stat().st_size

    def open(self) -> BinaryIO:
        """The file, opened for reading."""
        return open(self.path, "rb")  # noqa: SIM115 - the caller closes it

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
    path = Path(arg)
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
