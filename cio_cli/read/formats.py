"""Which reader reads an input, and the one protocol every reader keeps (no polars here).

A format comes from ``--format``, else from the input's name (``.parquet``; ``.ndjson``,
``.jsonl`` and their ``.gz``; anything else is CSV). The first bytes are then looked at:
bytes that contradict the format (Parquet's ``PAR1`` read as CSV, gzip data in a file whose
name does not end in ``.gz``, a CSV file named ``.parquet``) make the file unimportable,
naming what the bytes show and the flag that reads them so, never an encoding.

Every reader (``read/files.py``'s CSV, ``read/parquet.py``, ``read/ndjson.py``) is a
``Source``: a header, chunks of text cells numbered by record, and what its own types say
of each column (``declared``). The checking and encoding never ask which one it is. Each
reader reads its bytes from a ``Place`` (read/places.py: a local file or an object in a
bucket), which it asks nothing about where the bytes lie: CSV and NDJSON read
``Place.open()`` forward; Parquet hands ``Place.location()`` to polars' own scanner,
which seeks to the footer and reads the row groups by range, locally or from the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from cio_cli.errors import UnimportableError
from cio_cli.read.urls import is_url, object_name

if TYPE_CHECKING:
    import polars as pl

    from cio_cli.read.files import Chunk
    from cio_cli.read.places import Place

T = TypeVar("T")
NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".ndjson.gz", ".jsonl.gz")
REJECTS_SUFFIX = {"csv": ".rejects.csv", "parquet": ".rejects.parquet", "ndjson": ".rejects.ndjson"}
SHOWN = {"csv": "CSV", "parquet": "Parquet", "ndjson": "NDJSON"}


class Source(Protocol):
    """One input, read as many times as asked, never whole.

    ``header`` names the columns (a CSV file's first row; a Parquet file's schema; an
    NDJSON file's keys in the order first seen). ``chunks`` yields, in file order, ``work``
    applied to frames of text cells ``c0 .. c{n-1}`` (null when empty) with ``_row``
    (numbered from 0 in the chunk; ``Chunk.first_row`` is its record number), ``_nf`` and
    ``_extra`` (read/files.py). ``declared`` says, by header name, how the file's own
    types send a column (``ReadOptions.declared``).
    """

    place: Place  # where its bytes lie
    path: Path  # what its outputs are named after (``Place.beside``)
    size: int
    header: list[str]
    nulls: tuple[str, ...]
    format: str
    declared: dict[str, str]
    unsendable: list[str]  # columns no JSON can carry (Parquet's binary)

    def chunks(
        self,
        work: Callable[[pl.DataFrame, bool], T],
        columns: Callable[[], list[int] | None] | None = None,
    ) -> Iterator[Chunk[T]]:
        """``work`` over every chunk, in file order (see read/files.py's ``CsvSource``)."""
        ...


def by_name(name: str, given: str | None) -> str:
    """The format of input ``name``: ``--format`` if given, else its name's ending."""
    if given is not None:
        return given
    low = _named(name).lower()
    if low.endswith(".parquet"):
        return "parquet"
    if low.endswith(NDJSON_SUFFIXES):
        return "ndjson"
    return "csv"


def _named(name: str) -> str:
    """An input's name as its format is told by: a URL's object name (no query string)."""
    return object_name(name) if is_url(name) else name


def rejects_suffix(fmt: str) -> str:
    """The rejects file's ending for an input of format ``fmt``."""
    return REJECTS_SUFFIX[fmt]


def shown_by_bytes(head: bytes) -> str | None:
    """What the first bytes of a file show: parquet, gzip, ndjson, or None (text)."""
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return "ndjson"
    return None


def check_bytes(place: Place, name: str, fmt: str, given: bool) -> None:
    """UnimportableError (exit 3) when the input's first bytes contradict ``fmt``.

    ``given``: the format came from ``--format`` (then gzip data is read as compressed
    text whatever the name); ``name`` is the input as the user gave it.
    """
    head = place.first(64)
    name = _named(name)
    shows = shown_by_bytes(head)
    gz = name.lower().endswith(".gz") or name == "-" or given
    if shows == "gzip" and (fmt == "parquet" or not gz):
        raise _contradicts(fmt, "gzip-compressed data", _gzip_fix(name, fmt))
    if fmt == "parquet" and shows != "parquet" and head:
        what = "NDJSON (its first line is a JSON object)" if shows == "ndjson" else "text"
        flag = "--format ndjson" if shows == "ndjson" else "--format csv"
        raise _contradicts(fmt, what, f"pass {flag}, or export the file as Parquet again")
    if fmt != "parquet" and shows == "parquet":
        raise _contradicts(fmt, "Parquet (it starts with PAR1)", "pass --format parquet")
    if fmt == "csv" and shows == "ndjson":
        raise _contradicts(
            fmt, "NDJSON (its first line is a JSON object, not a header)", "pass --format ndjson"
        )


def _gzip_fix(name: str, fmt: str) -> str:
    if fmt == "parquet":
        return "decompress it first (gunzip): Parquet compresses inside the file"
    return f"name it with .gz at the end (for example {Path(name).name}.gz), or pass --format {fmt}"


def _contradicts(fmt: str, what: str, fix: str) -> UnimportableError:
    return UnimportableError(f"the file is read as {SHOWN[fmt]}, but its bytes are {what}", fix)


def open_source(place: Place, name: str, fmt: str, given: bool, encoding: str) -> Source:
    """The reader of one input, wherever it lies (raises UnimportableError when it cannot
    be read)."""
    check_bytes(place, name, fmt, given)
    if fmt == "parquet":
        from cio_cli.read.parquet import ParquetSource

        return ParquetSource(place)
    if fmt == "ndjson":
        from cio_cli.read.ndjson import NdjsonSource

        return NdjsonSource(place)
    from cio_cli.read.files import CsvSource

    return CsvSource(place, encoding)
