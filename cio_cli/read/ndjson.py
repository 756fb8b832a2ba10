"""Reading NDJSON input (``.ndjson``, ``.jsonl``, and their ``.gz``): one JSON object a line.

The file is streamed in blocks cut after their last newline; each line is parsed by
orjson (``json`` for integers beyond 64 bits). An object's keys are the columns: the
header is every key of the file in the order first seen, found by one survey of the file
when it is opened (the two passes read it again), with the JSON types each key holds.
A key absent from a line is an empty cell; ``null`` is empty too. A line that is not a
JSON object (an array, a number, broken JSON) is a rejected row, not the end of the
file; a blank line is skipped but counted, so row N is line N (row 1 is the first line:
there is no header). Cells are text as every reader gives them (read/files.py), plus
``_line``: the line as read when it is not an object, for the rejects file (or an object's
``_cio_line``: a rejects file imported again keeps the line it holds).

What a key's values are decides how it is sent (``declared``): a key with an object or
an array anywhere is JSON (every value sent as it is); else a key with a string is a
string column (never re-typed); a key of numbers or booleans only is typed by the rule
for text, which keeps an integer an integer and a boolean a boolean.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TypeVar

import orjson
import polars as pl

from cio_cli.check.contract import LINE as KEPT_LINE
from cio_cli.check.contract import RAW_LINE as LINE
from cio_cli.read.files import (
    WORKERS,
    Chunk,
    Tell,
    is_gzip,
    nulled,
    ordered_map,
    read_block,
    unzipped,
)
from cio_cli.read.places import Place

T = TypeVar("T")
BLOCK = 2 << 20


def _loads(line: bytes) -> Any:
    """The JSON value of a line; ValueError when it is not JSON."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:  # integers beyond 64 bits, 1e400, NaN: orjson refuses
        return json.loads(line, parse_float=_as_written, parse_constant=orjson.Fragment)


def _as_written(text: str) -> float | orjson.Fragment:
    """A JSON number as a float, or as its own text when no double holds it (1e400 would be
    inf, written back as null)."""
    value = float(text)
    return value if math.isfinite(value) else orjson.Fragment(text)


def _kind(value: Any) -> str:
    if isinstance(value, dict | list):
        return "json"
    if isinstance(value, str):
        return "string"
    return "null" if value is None else "scalar"


def _text(value: Any, as_json: bool) -> str | None:
    """A value's cell: a string as is (JSON text in a JSON column), anything else as JSON."""
    if value is None or value == "":
        return None  # an empty string is an empty cell, as in CSV
    if isinstance(value, str) and not as_json:
        return value
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class NdjsonSource:
    """One NDJSON input, read as many times as asked, never whole (a ``formats.Source``)."""

    format = "ndjson"

    def __init__(self, place: Place) -> None:
        self.place = place
        self.path = place.beside  # what outputs are named after
        self.size = place.size
        self.nulls: tuple[str, ...] = ()
        self.unsendable: list[str] = []
        self.header, self.declared = self._survey()
        self._json = [self.declared.get(h) == "json" for h in self.header]

    def _open(self) -> tuple[BinaryIO, Tell]:
        """The place's bytes read forward (a file, or an object's GET), gunzipped when
        they are gzip; and how many of its bytes were read."""
        raw = self.place.open()
        return unzipped(raw, is_gzip(raw))

    def bodies(self) -> Iterator[tuple[bytes, int]]:
        """Runs of whole lines, each with how many bytes of the file were read."""
        stream, raw = self._open()
        with stream:
            carry = b""
            while block := read_block(stream, BLOCK):
                cut = block.rfind(b"\n")
                if cut < 0:
                    carry += block
                    continue
                yield carry + block[: cut + 1], raw.done()
                carry = block[cut + 1 :]
            if carry:
                yield carry, raw.done()

    def _survey(self) -> tuple[list[str], dict[str, str]]:
        """Every key in the order first seen, and what its values make of it."""
        kinds: dict[str, set[str]] = {}
        for data, _ in self.bodies():
            for line in data.split(b"\n"):
                if not line.strip():
                    continue
                try:
                    record = _loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    for key, value in record.items():
                        kinds.setdefault(key, set()).add(_kind(value))
        declared = {}
        for key, found in kinds.items():
            if "json" in found:
                declared[key] = "json"
            elif "string" in found:
                declared[key] = "string"
        return list(kinds), declared

    def cells(self, data: bytes) -> tuple[pl.DataFrame, int]:
        """The lines of ``data`` as text cells (blank lines left out, numbered from 0 with
        them), and how many lines there were."""
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        ncols = len(self.header)
        columns: list[list[str | None]] = [[] for _ in range(ncols)]
        rows: list[int] = []
        nf: list[int] = []
        extra: list[str | None] = []
        raw: list[str | None] = []
        for at, line in enumerate(lines):
            if not line.strip():
                continue
            rows.append(at)
            record, why = _record(line)
            if record is None:
                nf.append(-1)
                extra.append(why)
                raw.append(line.decode("utf-8", "replace").rstrip("\r"))
                for cells in columns:
                    cells.append(None)
                continue
            nf.append(ncols)
            extra.append(None)
            kept = record.get(KEPT_LINE)  # a rejects file's line imported again, as it was
            raw.append(kept if isinstance(kept, str) else None)
            for cells, key, as_json in zip(columns, self.header, self._json, strict=True):
                cells.append(_text(record.get(key), as_json))
        df = pl.DataFrame(
            [pl.Series(f"c{i}", cells, dtype=pl.String) for i, cells in enumerate(columns)]
            + [
                pl.Series("_row", rows, dtype=pl.Int64),
                pl.Series("_nf", nf, dtype=pl.Int32),
                pl.Series("_extra", extra, dtype=pl.String),
                pl.Series(LINE, raw, dtype=pl.String),
            ]
        )
        return nulled(df, self.nulls), len(lines)

    def chunks(
        self,
        work: Callable[[pl.DataFrame, bool], T],
        columns: Callable[[], list[int] | None] | None = None,
    ) -> Iterator[Chunk[T]]:
        """``work`` over every run of lines in worker threads; yielded in file order, the
        first line being row 1. Before and after, the place must still be the input first
        seen: the header and the types are the survey's, and pass 2 sends what pass 1 judged
        (the row count alone misses a line edited in place)."""

        def job(body: tuple[bytes, int]) -> tuple[int, T]:
            df, lines = self.cells(body[0])
            return lines, work(df, False)

        self.place.unchanged()
        row = 1
        for (_, done), (lines, result) in ordered_map(job, self.bodies(), WORKERS):
            yield Chunk(result, row, lines, done)
            row += lines
        self.place.unchanged()


def _record(line: bytes) -> tuple[dict[str, Any] | None, str]:
    """The object of a line, or None and why the row is rejected."""
    shown = line.decode("utf-8", "replace").strip()
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    try:
        value = _loads(line)
    except (ValueError, UnicodeDecodeError):
        return None, f"is not valid JSON: {shown}"
    if not isinstance(value, dict):
        return None, f"is not a JSON object (one object a line): {shown}"
    return value, ""
