"""Pass 1: read each file once, before anything is sent.

``scan`` infers column types, counts identifier kinds (a file mixing ids and emails is
refused under ``--identifier auto``; ``per-row`` sends each row by its own kind; an API that
does not take a kind refuses it first) and finds the events in the campaign-trigger window,
so that the run can ask about them before pass 2 (importer/emit.py) sends a single request.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cio_cli.check.contract import DROP, NULL_TEXTS, Layout, ReadOptions, layout
from cio_cli.check.inference import Inference, Nearly, Stats
from cio_cli.check.rows import check_rows, identify, in_window, split
from cio_cli.errors import UnimportableError
from cio_cli.read.files import NeedAllColumns
from cio_cli.read.formats import Source, by_name, open_source
from cio_cli.read.places import Place
from cio_cli.record.counts import FIRST_ROWS, Column, Counts

Progress = Callable[[str, int, "Counts"], None]
PERSON_KINDS = ("email", "cio_id", "id")  # the kinds of _cio_customer_id, in messages' order


@dataclass
class Scan:
    """What the first pass learnt about a file."""

    types: dict[str, str]
    nearly: dict[str, Nearly] = field(default_factory=dict)  # string columns nearly typed
    rows: int = 0
    recent: int = 0
    recent_rows: list[int] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    first_of_kind: dict[str, int] = field(default_factory=dict)
    ruled: int = 0  # rows the row rules reject (counted only when ``scan(every_rule=True)``)


@dataclass
class InputFile:
    """One input: where it is, how it is shown, where its rejects go."""

    source: Source
    shown: str
    rejects_path: Path
    lay: Layout
    opts: ReadOptions = field(default_factory=ReadOptions)  # with what the file's types say
    scan: Scan | None = None
    rejects_written: bool = False
    spooled: bool = False  # stdin or a pipe, read into a temporary file: no journal


def open_input(place: Place, shown: str, rejects_path: Path, opts: ReadOptions) -> InputFile:
    """Open an input in its format, wherever it lies, and check its header (raises
    UnimportableError)."""
    fmt = by_name(shown, opts.format)
    source = open_source(place, shown, fmt, opts.format is not None, opts.encoding)
    source.nulls = opts.null_values
    lay = layout(source.header, opts.type_overrides, opts.column_map, opts.people)
    _refuse_unsendable(source, opts)
    return InputFile(source, shown, rejects_path, lay, with_declared(source, lay, opts))


def with_declared(source: Source, lay: Layout, opts: ReadOptions) -> ReadOptions:
    """``opts`` with what the file's own types say of its data columns (by data key):
    sent as string, float or json as under ``--type`` (which wins), or numbers of a
    fixed scale. Under ``--types string`` only nested values stay JSON."""
    declared = {}
    for col, key in lay.data:
        kind = source.declared.get(source.header[int(col[1:])])
        if kind is not None and key not in opts.reserved_types and key not in opts.type_overrides:
            if opts.types == "auto" or kind == "json":
                declared[key] = kind
    if not declared:
        return opts
    fixed = {k: v for k, v in declared.items() if v != "decimal"}
    return dataclasses.replace(
        opts, type_overrides={**fixed, **opts.type_overrides}, declared=declared
    )


def _refuse_unsendable(source: Source, opts: ReadOptions) -> None:
    """A binary column that ``--map`` does not drop: the file is unimportable."""
    kept = [c for c in source.unsendable if opts.column_map.get(c) != DROP]
    if kept:
        raise UnimportableError(
            f"column {kept[0]!r} holds binary data, which JSON cannot carry",
            f"leave it out with --map {shlex.quote(kept[0] + '=-')}",
        )


class Scanning:
    """Pass 1's findings so far, folded in chunk by chunk (in file order)."""

    def __init__(self, inp: InputFile, opts: ReadOptions) -> None:
        self.inp = inp
        self.opts = opts
        self.infer = Inference(inp.lay, opts)
        self.result = Scan(types={})

    def fold(
        self,
        first_row: int,
        size: int,
        stats: Stats,
        kinds: pl.DataFrame,
        recent: pl.Series,
        ruled: int = 0,
    ) -> None:
        """Count a chunk: its rows, column statistics, identifier kinds, rows in the window
        and, when every rule was applied, the rows they reject."""
        self.infer.add(stats, first_row)
        result = self.result
        result.rows += size
        result.ruled += ruled
        for kind, n, first in kinds.iter_rows():
            if kind is None:
                continue
            result.kinds[kind] += n
            result.first_of_kind.setdefault(kind, first_row + first)
        result.recent += len(recent)
        room = FIRST_ROWS - len(result.recent_rows)
        result.recent_rows += [first_row + r for r in recent.head(room).to_list()]

    def finish(self) -> Scan:
        """The column types; raises UnimportableError when ids and emails are mixed, or when
        the API does not take a kind of ``_cio_customer_id`` the file has."""
        result = self.result
        result.types = self.infer.types()
        result.nearly = self.infer.nearly()
        refused = [k for k in PERSON_KINDS if result.kinds[k] and k not in self.opts.person_kinds]
        if refused:  # first: under such an API, --identifier per-row would not help
            raise _not_taken(result, refused, self.opts.api)
        if self.opts.identifier == "auto" and result.kinds["id"] and result.kinds["email"]:
            raise _mixed(result)
        self.inp.scan = result
        return result


# types as the columns report names them
REPORTED = {"tf": "bool", "reserved_number": "float", "seconds": "int"}


def column_report(inp: InputFile, found: Scan, empty: Mapping[str, int]) -> dict[str, Column]:
    """The columns report of one file, by data key in header order: each column's type as
    sent, its empty cells, and what kept a nearly typed column a string."""
    report: dict[str, Column] = {}
    for col, key in sorted(inp.lay.data, key=lambda ck: int(ck[0][1:])):
        kind = found.types[col].removeprefix("as_")
        column = report[key] = Column(REPORTED.get(kind, kind), empty.get(key, 0))
        if (nearly := found.nearly.get(col)) is not None:
            column.blocker_row, column.blocker_text = nearly.row, nearly.text
            column.becomes, column.file = nearly.kind, inp.shown
            if nearly.text in NULL_TEXTS and nearly.kind != "json":
                column.fix = f"--null-value {shlex.quote(nearly.text)}"
            else:
                column.fix = f"--type {shlex.quote(f'{key}={nearly.kind}')}"
    return report


def kinds_of(known: pl.DataFrame) -> pl.DataFrame:
    """Per identifier kind: how many rows, and the first (chunk) row number."""
    return known.group_by("_kind").agg(pl.len().alias("n"), pl.col("_row").min().alias("first"))


def scan(
    inp: InputFile,
    opts: ReadOptions,
    now: int,
    progress: Progress | None = None,
    every_rule: bool = False,
) -> Scan:
    """Pass 1: types, identifier kinds and the campaign-trigger window; with
    ``every_rule`` (--max-rejected before a real import), also how many rows the row rules
    reject, every column read and every rule applied to every row."""
    scanning = Scanning(inp, opts)
    infer = scanning.infer
    window = in_window(now, inp.lay)
    shown = Counts()

    def work(df: pl.DataFrame, plain: bool) -> tuple[Stats, pl.DataFrame, int, pl.Series, int]:
        stats = infer.stats(df)
        if every_rule:
            checked = check_rows(df, inp.lay, opts, now)
            recent = checked.good.filter(window).get_column("_row")
            return stats, kinds_of(checked.identified), df.height, recent, checked.bad.height
        known = identify(df, inp.lay, opts)
        maybe, _ = split(known, known.select(window).to_series())
        if maybe.height:  # only rows in the window need every rule now
            if sum(c[0] == "c" and c[1:].isdigit() for c in df.columns) < inp.lay.ncols:
                raise NeedAllColumns
            maybe = check_rows(maybe.drop("_cid", "_ts", "_kind", "_ms"), inp.lay, opts, now).good
        return stats, kinds_of(known), df.height, maybe.get_column("_row"), 0

    def columns() -> list[int]:
        lay = inp.lay
        needed = {lay.customer_id, lay.anonymous_id, lay.timestamp, *infer.open_columns()}
        return sorted(int(c[1:]) for c in needed if c is not None)

    projected = columns if inp.lay.timestamp is not None and not every_rule else None
    for chunk in inp.source.chunks(work, projected):
        stats, kinds, size, recent, ruled = chunk.result
        scanning.fold(chunk.first_row, size, stats, kinds, recent, ruled)
        if progress:
            shown.rows = scanning.result.rows
            progress("checking", chunk.bytes_done, shown)
    return scanning.finish()


def _not_taken(result: Scan, kinds: list[str], api: str) -> UnimportableError:
    shown = {"email": "emails", "cio_id": "cio_ids", "id": "ids"}
    found = " and ".join(
        f"{shown[k]} ({result.kinds[k]} rows, first at row {result.first_of_kind[k]})"
        for k in kinds
    )
    return UnimportableError(
        f"the file has {found} in _cio_customer_id, and the {api.capitalize()} API identifies"
        " people by userId only (plain ids)",
        "use --api track, which takes emails and cio_ ids, or pass --identifier id to send"
        " the values as plain user ids",
    )


def _mixed(result: Scan) -> UnimportableError:
    ids, emails = result.kinds["id"], result.kinds["email"]
    first_id, first_email = result.first_of_kind["id"], result.first_of_kind["email"]
    return UnimportableError(
        f"the file mixes ids ({ids} rows, first at row {first_id}) and emails"
        f" ({emails} rows, first at row {first_email}) in _cio_customer_id;"
        " Customer.io's own importer refuses such a file too",
        "pass --identifier per-row to send each row by its own kind (an email as an email,"
        " an id as an id), or --identifier id (send every value as an id), or --identifier"
        " email (reject the rows without @), or split the file by kind",
    )
