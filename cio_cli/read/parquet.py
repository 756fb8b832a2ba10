"""Reading Parquet input: batches of rows as text cells, and what the file's types say.

The file is streamed by polars' own scanner, ``scan_parquet(...).collect_batches(
chunk_size=BATCH_ROWS)`` (bounded memory: a few batches in flight, never the file; the
method is marked unstable in polars' docs, so tests/test_cli_formats.py pins its use).
Each batch becomes the chunk every reader yields (read/files.py): text cells ``c0 ..``
plus ``_row``, ``_nf``, ``_extra``. A value's text is what a CSV export of it holds:
integers, decimals (``19.90``), booleans (``true``), floats (``1.5``, ``NaN``),
timestamps in ISO-8601 (a zoned one in UTC with ``Z``, a naive one without an offset,
so it needs ``--assume-tz`` as text does), dates (``2024-01-31``), times of day with their
fraction (``12:34:56.789``), durations in ISO-8601 (``P1DT2H3.5S``); structs, lists and
maps as their JSON. ``declared`` then says what the type means for sending: strings,
dates and times are strings (never re-typed), floats are floats, a decimal of a fixed
scale is a number, nested values are JSON; integers and booleans are typed by the same
rule as a CSV column's text, so the same events give the same bodies. Row 1 is the
first record: Parquet has no header row.

Where the file lies is the ``Place``'s business (read/places.py): its ``location()`` is
a path, or a URL that polars' own cloud reader reads by ranged GETs (the footer, then one
row group at a time), so an object in a bucket streams in memory as a local file does,
with no local copy. Each pass ends by asking the place whether it is still the input
first seen (an object's ETag), as the CSV reader's byte checks do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import polars as pl
from polars.datatypes import DataTypeClass

from cio_cli.errors import UnimportableError
from cio_cli.read.files import WORKERS, Chunk, nulled, ordered_map
from cio_cli.read.places import Place

T = TypeVar("T")
BATCH_ROWS = 25_000  # rows a chunk: about the rows of a 2 MB CSV block, so memory is alike
ISO = "%Y-%m-%dT%H:%M:%S%.f"
CLOCK = "%H:%M:%S%.f"  # a Time's text: 12:34:56.789, 00:00:00
STRINGS = (pl.String, pl.Categorical, pl.Enum, pl.Date, pl.Datetime, pl.Time, pl.Duration)
NESTED = (pl.Struct, pl.List, pl.Array)
HINT = "export the file as Parquet again (cio reads it with polars)"


def declared_kind(dtype: pl.DataType) -> str | None:
    """How a Parquet column's type is sent: string, float, decimal, json, binary, or
    None (integers, booleans: typed by the rule for text)."""
    if isinstance(dtype, pl.Binary):
        return "binary"
    if isinstance(dtype, STRINGS):
        return "string"
    if dtype.is_float():
        return "float"
    if isinstance(dtype, pl.Decimal):
        return "decimal" if (dtype.scale or 0) > 0 else None
    if isinstance(dtype, NESTED):
        return "json"
    return None


def as_text(col: str, dtype: pl.DataType) -> pl.Expr:
    """The text of a Parquet column's values (null stays null), as a CSV export holds it."""
    cell = pl.col(col)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return cell.dt.to_string(ISO)
        return cell.dt.convert_time_zone("UTC").dt.to_string(ISO + "Z")
    if isinstance(dtype, pl.Date):
        return cell.dt.to_string("%Y-%m-%d")
    if isinstance(dtype, pl.Time):
        return cell.dt.to_string(CLOCK)  # a cast drops the fraction: 12:34:56.789 -> 12:34:56
    if isinstance(dtype, pl.Duration):
        return cell.dt.to_string("iso")  # P400DT2H4.000005S: no cast to text exists
    if isinstance(dtype, NESTED):
        wrapped = pl.struct(cell.alias("v")).struct.json_encode()
        return pl.when(cell.is_not_null()).then(wrapped.str.slice(5).str.strip_suffix("}"))
    text = cell.cast(pl.String)
    return pl.when(text != "").then(text)  # an empty string is an empty cell, as in CSV


def from_text(col: str, dtype: pl.DataType) -> pl.Expr:
    """The inverse of ``as_text``: a rejects file's text cells back in the input's type."""
    cell = pl.col(col)
    if isinstance(dtype, pl.Datetime):
        zone = dtype.time_zone
        fmt = ISO if zone is None else ISO + "Z"
        parsed = cell.str.to_datetime(fmt, time_unit=dtype.time_unit, strict=False)
        if zone is None:
            return parsed
        return parsed.dt.replace_time_zone("UTC").dt.convert_time_zone(zone)
    if isinstance(dtype, pl.Date):
        return cell.str.to_date("%Y-%m-%d", strict=False)
    if isinstance(dtype, pl.Time):
        return cell.str.to_time(CLOCK, strict=False)
    if isinstance(dtype, pl.Duration):
        return _iso_duration(cell).cast(dtype)
    if isinstance(dtype, NESTED):
        return cell.str.json_decode(_listed(dtype)).cast(dtype)
    if isinstance(dtype, pl.Boolean):
        return pl.when(cell.is_not_null()).then(cell == "true")
    if isinstance(dtype, pl.Null):
        return cell.cast(dtype)  # a column of nulls only: still of no type
    return cell.cast(dtype, strict=False)


def _listed(dtype: pl.DataType | DataTypeClass) -> pl.DataType | DataTypeClass:
    """``dtype`` with every fixed-size array a list: polars decodes JSON into lists only."""
    if isinstance(dtype, pl.Array | pl.List):
        return pl.List(_listed(dtype.inner))
    if isinstance(dtype, pl.Struct):
        return pl.Struct({f.name: _listed(f.dtype) for f in dtype.fields})
    return dtype


def _iso_duration(cell: pl.Expr) -> pl.Expr:
    """A duration from the ISO-8601 text ``as_text`` writes (``-P1DT2H3M4.5S``: days at
    most, no months), to the nanosecond."""

    def part(unit: str) -> pl.Expr:
        return cell.str.extract(rf"(\d+){unit}", 1).cast(pl.Int64).fill_null(0)

    fraction = cell.str.extract(r"\.(\d+)S", 1).str.pad_end(9, "0").cast(pl.Int64).fill_null(0)
    whole = pl.duration(
        days=part("D"), hours=part("H"), minutes=part("M"), seconds=part("(?:\\.\\d+)?S"),
        nanoseconds=fraction, time_unit="ns",
    )  # fmt: skip
    return pl.when(cell.str.starts_with("-")).then(-whole).when(cell.is_not_null()).then(whole)


class ParquetSource:
    """One Parquet input, read in batches as many times as asked (a ``formats.Source``)."""

    format = "parquet"

    def __init__(self, place: Place) -> None:
        self.place = place
        self.path = place.beside  # what outputs are named after
        self.size = place.size
        self.nulls: tuple[str, ...] = ()
        try:
            self.schema = self._scan().collect_schema()
            self.rows = int(self._scan().select(pl.len()).collect().item())
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise self._unreadable(exc) from exc
        self.header = list(self.schema)
        kinds = {name: declared_kind(dtype) for name, dtype in self.schema.items()}
        self.declared = {name: k for name, k in kinds.items() if k and k != "binary"}
        self.unsendable = [name for name, k in kinds.items() if k == "binary"]

    def _scan(self) -> pl.LazyFrame:
        """polars' scanner on the place: a path, or a URL read by ranges (footer, then
        row groups) with the store's credentials; never a pattern, never hive columns."""
        where, options = self.place.location()
        return pl.scan_parquet(
            where, storage_options=options, glob=False, hive_partitioning=False
        )

    def _unreadable(self, exc: BaseException) -> UnimportableError:
        """The file cannot be read as Parquet; polars' message names a URL as given (a
        signature in its query): a remote input shows only the error's kind."""
        why = str(exc) if self.place.location()[1] is None else type(exc).__name__
        return UnimportableError(f"the file cannot be read as Parquet ({why})", HINT)

    def batches(self) -> Iterator[pl.DataFrame]:
        """The file's rows in batches of ``BATCH_ROWS``, as polars reads them; before and
        after, the place must still be the input first seen (polars' ranged reads are not
        pinned to an ETag as ``Place.open()`` is)."""
        self.place.unchanged()
        try:
            yield from self._scan().collect_batches(chunk_size=BATCH_ROWS)
        except pl.exceptions.PolarsError as exc:
            raise self._unreadable(exc) from exc
        self.place.unchanged()

    def cells(self, batch: pl.DataFrame) -> pl.DataFrame:
        """A batch as text cells ``c<i>``, numbered from 0, ``--null-value`` applied."""
        df = batch.select(
            (
                pl.lit(None, dtype=pl.String) if name in self.unsendable else as_text(name, dtype)
            ).alias(f"c{i}")
            for i, (name, dtype) in enumerate(self.schema.items())
        )
        df = df.with_columns(
            pl.int_range(0, df.height, dtype=pl.Int64).alias("_row"),
            pl.lit(len(self.header), dtype=pl.Int32).alias("_nf"),
            pl.lit(None, dtype=pl.String).alias("_extra"),
        )
        return nulled(df, self.nulls)

    def chunks(
        self,
        work: Callable[[pl.DataFrame, bool], T],
        columns: Callable[[], list[int] | None] | None = None,
    ) -> Iterator[Chunk[T]]:
        """``work`` over every batch in worker threads; yielded in file order, the first
        record being row 1."""

        def job(batch: pl.DataFrame) -> T:
            return work(self.cells(batch), False)

        row, total = 1, max(self.rows, 1)
        for batch, result in ordered_map(job, self.batches(), WORKERS):
            yield Chunk(result, row, batch.height, self.size * (row - 1 + batch.height) // total)
            row += batch.height
