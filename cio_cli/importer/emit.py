"""Pass 2: read each file again and turn every row into exactly one of: an event in a
request, a duplicate, a rejected row (a ``_cio_id`` already used by a row with other
content among them), or a skipped recent row, so that
``rows == sent + duplicates + rejected + skipped_recent``.

The one-read dry run (importer/one_read.py) is a mode of this pass: the same ``Emitting``
with the types known so far.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import polars as pl

from cio_cli.check.contract import NULL_TEXTS, Layout, ReadOptions
from cio_cli.check.inference import whole_rows
from cio_cli.check.rows import Checked, check_rows, in_window, message, split, tally
from cio_cli.check.rule_table import DATA_TOO_LARGE
from cio_cli.encode.batches import Packer, Request
from cio_cli.encode.dedup import Fingerprints, FirstUse, IdKeys, Seen
from cio_cli.encode.events import ULID_LENGTH, encode, given_id, in_shard
from cio_cli.errors import FileChangedError, OutputError
from cio_cli.importer.scan import InputFile, Progress, column_report
from cio_cli.record.counts import FIRST_ROWS, FLAGGED, Counts
from cio_cli.record.journal import Acked, Journal
from cio_cli.record.rejects import RejectsWriter, rejects_writer
from cio_cli.send.api import Api
from cio_cli.send.choice import choose

MAX_DATA_BYTES = DATA_TOO_LARGE.limit
REUSED = (
    " with different content: Customer.io keeps only the first event of an id;"
    " give this row its own _cio_id, or leave it empty to derive one"
)
SKIP_MESSAGE = (
    "skipped: no timestamp or one within the last 72 hours, so it can trigger campaigns;"
    " send it later with --allow-recent"
)
R = TypeVar("R")
_SIZE = pl.col("_op").str.len_bytes().alias("_size")  # for the packer, found in the worker
_GIVEN = pl.col("_eid")  # a _cio_id as sent: a UUID and its ULID are one id
_ID_KEY = pl.when(_GIVEN.is_not_null()).then(_GIVEN.str.to_uppercase().hash(7))  # null without


@dataclass
class Emit:
    """How pass 2 treats the window and packs requests, and the API it builds them for."""

    now: int
    batch_bytes: int
    api: Api = field(default_factory=lambda: choose())
    skip_recent: bool = False
    phase: str = "sending"
    acked: Acked | None = None
    stop: Callable[[], bool] = lambda: False
    shard: tuple[int, int] | None = None  # --shard I/N: only that shard's rows are encoded

    def counted(self) -> pl.Expr | None:
        """For ``check_rows``: is a row in this run's shard (None: every row is)."""
        return in_shard(self.shard) if self.shard is not None else None


@dataclass
class Judged:
    """One chunk after pass 2's rules, before dedup: every row in one frame."""

    rows: int
    rejected: pl.DataFrame  # raw cells, _row, _err (invalid, too large, or skipped)
    events: pl.DataFrame  # encoded events to send, before dedup
    fingerprints: Fingerprints
    errors: Counter[str]
    warnings: Counter[str]
    invalid: int
    skipped: int
    recent: int
    null_texts: Counter[tuple[str, str]] = field(default_factory=Counter)
    empty: Counter[str] = field(default_factory=Counter)  # empty cells by data key
    reasons: Counter[str] = field(default_factory=Counter)  # rejected rows per reason
    outside: int = 0  # rows of other shards (``rows`` counts them: the file's rows read)
    ids: IdKeys | None = None  # the given ``_cio_id``s: this chunk's, then other shards'
    ruled: int = 0  # rows the row rules rejected, this shard's
    ruled_file: int = 0  # rows the row rules rejected, every shard's


class Sink(Protocol):
    """Where pass 2's requests go: counted (and maybe written to ``--out``) by a dry run
    (``DryRunSink``, send/dry_run.py), or sent to the API (``HttpSink``, send/sender.py).
    The run treats both alike and never asks which one it holds."""

    journal: Journal | None  # the current file's: rows the API acknowledged are recorded there

    def send(self, req: Request, counts: Counts, rejects: RejectsWriter) -> None:
        """Deliver (or start delivering) one request; count what happened to its rows."""

    def drain(self, counts: Counts, rejects: RejectsWriter) -> None:
        """Finish everything under way."""

    def interrupt(self) -> None:
        """First Ctrl-C or SIGTERM: finish what is under way, retry nothing."""

    def close(self) -> None:
        """Release what the sink holds; requests still under way are abandoned."""


class Emitting:
    """Pass 2 after the rules: dedup, resumed rows, packing, and handing requests over."""

    def __init__(self, how: Emit, counts: Counts, sink: Sink, rejects: RejectsWriter) -> None:
        self.how = how
        self.counts = counts
        self.sink = sink
        self.rejects = rejects
        self.seen = Seen()
        self.ids = FirstUse()
        self.packer = Packer(how.batch_bytes, how.api)

    def take(self, judged: Judged, first_row: int) -> None:
        """Count one judged chunk, write its rejects, send every request it fills."""
        how, counts = self.how, self.counts
        events = _from(judged.events, first_row)
        fps, reused = judged.fingerprints, None
        if judged.ids is not None:
            events, fps, reused = self._reused_ids(events, fps, judged.ids, first_row)
        fresh = self.seen.first_seen(fps)
        unique, repeated = split(events, fresh)
        counts.duplicates += repeated.height
        if reused is not None:  # the same id and content as its first row: a duplicate
            again, reused = split(reused, self.seen.contains(reused.get_column("_fp")))
            counts.duplicates += again.height
        _account(judged, first_row, counts, self.rejects, reused)
        if how.acked is not None and len(how.acked):
            done, unique = split(unique, _is_acked(unique.get_column("_row"), how.acked))
            counts.count_sent(done)
            counts.resumed += done.height
        for req in self.packer.add(unique):
            if how.stop():
                break
            self._hand_over(req)

    def _hand_over(self, req: Request) -> None:
        """Give ``req`` to the sink; an event the API has no request for is rejected."""
        if req.refused is None:
            self.counts.requests += 1
            self.sink.send(req, self.counts, self.rejects)
            return
        rows = req.events.with_columns(_err=pl.lit(req.refused))
        self.rejects.write(rows, "_err")
        self.counts.sample(rows, "_err")
        self.counts.rejected += rows.height
        self.counts.errors["too_large"] += rows.height
        self.counts.reasons.add(req.refused, rows.height)
        self.counts.flag(rows.select("_row", "_err").head(FLAGGED).rows())

    def _reused_ids(
        self, events: pl.DataFrame, fps: Fingerprints, ids: IdKeys, first_row: int
    ) -> tuple[pl.DataFrame, Fingerprints, pl.DataFrame | None]:
        """Set aside the rows whose ``_cio_id`` an earlier row already used: the events
        left (and their fingerprints), and those rows with ``_err`` (None if none).
        Under ``--shard``, ``ids`` holds the other shards' events after this shard's: they
        count as uses too, so every shard rejects what the whole file's run rejects."""
        first = self.ids.firsts(ids, first_row)
        if first is None:  # every id is new
            return events, fps, None
        first = first.head(events.height)
        later = (first != events.get_column("_row")).fill_null(False)
        if not later.any():
            return events, fps, None
        reused, events = split(events.with_columns(_first=first), later)
        eid = self.rejects.lay.event_id
        assert eid is not None
        reason = pl.concat_str(
            pl.lit("_cio_id '"),
            pl.col(eid).str.strip_chars(),
            pl.lit("' is already used by row "),
            pl.col("_first").cast(pl.String),
            pl.lit(REUSED),
        )
        reused = reused.select(*self.rejects.lay.raw(reused.columns), "_row", "_fp", _err=reason)
        return events.drop("_first"), Fingerprints.of(events.get_column("_fp")), reused

    def finish(self) -> None:
        """Send the last, partly filled request (unless stopped); wait for all of them."""
        for req in self.packer.finish() if not self.how.stop() else ():
            self._hand_over(req)
        self.sink.drain(self.counts, self.rejects)


class Reading(Protocol[R]):
    """How pass 2 reads a file: after pass 1 knew the column types (``AfterScan``), or in
    the same read as pass 1, with the types known so far (``ScanAsYouGo``, importer/one_read.py)."""

    def work(self, df: pl.DataFrame, plain: bool) -> R:
        """One chunk, in a worker thread."""

    def take(self, result: R, first_row: int) -> Judged | None:
        """One chunk on the main thread, in file order: its verdicts, or None to send nothing."""

    def shown(self, counts: Counts) -> Counts:
        """What the progress line shows."""

    def end(self, stopped: bool) -> bool:
        """After the last chunk: does what was emitted stand (then the last request goes)?"""


class AfterScan:
    """Pass 2 proper: every chunk judged with the whole file's types, as pass 1 found them."""

    def __init__(self, inp: InputFile, opts: ReadOptions, how: Emit) -> None:
        assert inp.scan is not None, "scan() first"
        self.inp, self.opts, self.how, self.scanned = inp, opts, how, inp.scan
        self.rows = 0

    def work(self, df: pl.DataFrame, plain: bool) -> Judged:
        """Check and encode a chunk."""
        checked = check_rows(df, self.inp.lay, self.opts, self.how.now, self.how.counted())
        return judge(df, checked, self.inp.lay, self.how, self.scanned.types, plain)

    def take(self, result: Judged, first_row: int) -> Judged:
        """The chunk's verdicts; rows the first pass never saw (added since) end the run."""
        self.rows += result.rows
        if self.rows > self.scanned.rows:
            raise _changed(self.inp)
        return result

    def shown(self, counts: Counts) -> Counts:
        """Pass 2's counts so far."""
        return counts

    def end(self, stopped: bool) -> bool:
        """Always stands, unless rows are gone since pass 1 (``FileChangedError``)."""
        if self.rows < self.scanned.rows and not stopped:
            raise _changed(self.inp)
        return True


def emit(
    inp: InputFile,
    opts: ReadOptions,
    how: Emit,
    counts: Counts,
    sink: Sink,
    progress: Progress | None = None,
) -> None:
    """Pass 2: judge every row again, write rejects, hand every request to ``sink``.

    Rows in ``how.acked`` (journalled by an earlier run) count as sent and
    resumed and are not sent again. When ``how.stop()`` turns true, reading
    stops; requests already handed over are finished. A file that is not what
    pass 1 read (a chunk changed, rows added or gone) raises ``FileChangedError``
    once the requests already handed over are finished.
    """
    emit_with(AfterScan(inp, opts, how), inp, how, counts, sink, progress)


def emit_with(
    reading: Reading[R],
    inp: InputFile,
    how: Emit,
    counts: Counts,
    sink: Sink,
    progress: Progress | None = None,
) -> bool:
    """Read ``inp`` once as ``reading`` says, and emit its verdicts (``emit``); False when
    ``reading`` threw the result away at the end (nothing more is sent then)."""
    with rejects_writer(inp.rejects_path, inp.lay, inp.source) as rejects:
        emitting = Emitting(how, counts, sink, rejects)
        try:
            for chunk in inp.source.chunks(reading.work):
                judged = reading.take(chunk.result, chunk.first_row)
                if judged is not None:
                    emitting.take(judged, chunk.first_row)
                if progress:
                    progress(how.phase, chunk.bytes_done, reading.shown(counts))
                if how.stop():
                    break
            if not reading.end(how.stop()):
                return False
            assert inp.scan is not None
            counts.columns = column_report(inp, inp.scan, counts.empty)
            emitting.finish()
            return True
        except (FileChangedError, OutputError):  # finish (and journal) what is under way
            sink.drain(counts, rejects)
            raise
        finally:
            inp.rejects_written = rejects.written > 0


def _from(df: pl.DataFrame, first_row: int) -> pl.DataFrame:
    """``df`` with ``_row`` counted from the file's first row rather than the chunk's
    (direct calls, which polars' busy thread pool does not delay)."""
    if not first_row:
        return df
    at = df.get_column_index("_row")
    return df.clone().replace_column(at, df.to_series(at) + first_row)


def _changed(inp: InputFile) -> FileChangedError:
    return FileChangedError(
        f"{inp.source.place.shown} changed while cio was reading it",
        "run again once the file is complete",
    )


def _is_acked(rows: pl.Series, acked: Acked) -> pl.Series:
    """Per row: is it inside one of the acknowledged ranges?"""
    starts = pl.Series(acked.starts, dtype=pl.Int64)
    ends = pl.Series(acked.ends, dtype=pl.Int64)
    at = starts.search_sorted(rows, side="right").cast(pl.Int64) - 1
    inside = ends.gather(at.clip(0, len(ends) - 1)) >= rows
    return (at >= 0) & inside


def _account(
    judged: Judged,
    first_row: int,
    counts: Counts,
    rejects: RejectsWriter,
    reused: pl.DataFrame | None = None,
) -> None:
    """Count a judged chunk and write its rejected rows, and the rows whose id was used."""
    bad = _from(judged.rejected, first_row)
    if reused is not None and reused.height:
        more = reused.drop("_fp")
        bad = pl.concat([bad.select(more.columns), more]).sort("_row") if bad.height else more
        counts.rejected += reused.height
        counts.errors["id_reused"] += reused.height
    counts.sample(bad.head(FIRST_ROWS), "_err")
    _flag(bad, judged.skipped > 0, counts)
    counts.reasons.update(judged.reasons)
    if reused is not None and reused.height:
        counts.reasons.update(tally(reused.get_column("_err")))
    rejects.write(bad, "_err")
    counts.rows += judged.rows - judged.outside
    counts.rejected += judged.invalid
    counts.ruled += judged.ruled
    counts.ruled_file += judged.ruled_file
    counts.skipped_recent += judged.skipped
    counts.recent += judged.recent
    counts.errors.update(judged.errors)
    counts.null_texts.update(judged.null_texts)
    counts.empty.update(judged.empty)
    counts.warnings.update(judged.warnings)


def judge(
    df: pl.DataFrame,
    checked: Checked,
    lay: Layout,
    how: Emit,
    types: dict[str, str],
    plain: bool = False,
) -> Judged:
    """Encode a checked chunk (in a worker thread): what to reject, skip and send."""
    raw = [*lay.raw(df.columns), "_row"]
    mine, bad, others, elsewhere = _shard_of(checked, how)
    outside = 0 if elsewhere is None else elsewhere.height + others
    here = df if not outside else checked.identified.filter(pl.col("_in"))  # this shard's rows
    good, too_big = _too_large(encode(mine, lay, types, how.api, plain), raw, checked)
    parts = [bad, too_big]
    recent = good.select(in_window(how.now, lay)).to_series()
    n_recent = int(recent.sum())
    skipped = 0
    if how.skip_recent and n_recent:
        late, good = split(good, recent)
        parts.append(late.select(*raw, _err=pl.lit(SKIP_MESSAGE)))
        skipped = late.height
    parts = [p for p in parts if p.height]
    rejected = pl.concat(parts).sort("_row") if parts else bad
    keys: list[str | pl.Expr] = ["_op", "_fp", "_kind", "_name", "_ts", _SIZE]
    if lay.event_id is not None:  # ids given as UUIDs
        keys.append(
            (pl.col(lay.event_id).str.strip_chars().str.len_bytes() > ULID_LENGTH).alias("_uuid")
        )
    return Judged(
        df.height,
        rejected,
        good.select(*raw, *keys),
        Fingerprints.of(good.get_column("_fp")),
        checked.errors,
        checked.warnings,
        bad.height + too_big.height,
        skipped,
        n_recent,
        null_texts(here, lay, types),
        empty_cells(here, lay),
        checked.reasons,
        outside,
        _id_keys(good, lay, _ids_elsewhere(elsewhere, lay, how)),
        bad.height,
        checked.bad.height,
    )


def empty_cells(df: pl.DataFrame, lay: Layout) -> Counter[str]:
    """Empty cells of each data column (by key) in rows with the right number of fields."""
    whole = whole_rows(df, lay.ncols)
    return Counter({key: whole.get_column(col).null_count() for col, key in lay.data})


def _shard_of(
    checked: Checked, how: Emit
) -> tuple[pl.DataFrame, pl.DataFrame, int, pl.DataFrame | None]:
    """Under ``--shard``: the valid and rejected rows of this shard, how many rows the other
    shards reject (their rejects files hold them), and the others' valid rows (None
    without ``--shard``)."""
    if how.shard is None:
        return checked.good, checked.bad, 0, None
    good, elsewhere = split(checked.good, checked.good.get_column("_in"))
    bad, others = split(checked.bad, checked.bad.get_column("_in"))
    return good, bad.drop("_in"), others.height, elsewhere


def _ids_elsewhere(elsewhere: pl.DataFrame | None, lay: Layout, how: Emit) -> pl.DataFrame | None:
    """``_idk`` and ``_row`` of the other shards' events that give a ``_cio_id`` (not
    encoded: the id as sent, keyed as ``_id_keys`` does), for the reused-id check."""
    if elsewhere is None or lay.event_id is None or elsewhere.height == 0:
        return None
    if how.skip_recent:
        elsewhere = elsewhere.filter(~in_window(how.now, lay))
    given = given_id(elsewhere, lay.event_id).alias("_eid")
    return elsewhere.with_columns(given).select("_row", _idk=_ID_KEY).drop_nulls("_idk")


def _too_large(
    good: pl.DataFrame, raw: list[str], checked: Checked
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Events whose data is too large set aside with ``_err``, counted in ``checked``."""
    size = pl.col("_data_bytes")
    big, good = split(good, good.get_column("_data_bytes") > MAX_DATA_BYTES)
    too_big = big.select(*raw, _err=message(DATA_TOO_LARGE, "data", size=size))
    if big.height:
        checked.errors["data_too_large"] += big.height
        checked.reasons.update(tally(too_big.get_column("_err")))
    return good, too_big


def _flag(bad: pl.DataFrame, skipping: bool, counts: Counts) -> None:
    """Keep the first rejected rows and the first skipped rows for the annotations."""
    if bad.height == 0 or len(counts.flagged) + len(counts.flagged_skipped) >= 2 * FLAGGED:
        return
    rows = bad.select("_row", "_err")
    if not skipping:
        counts.flag(rows.head(FLAGGED).rows())
        return
    skipped = rows.get_column("_err") == SKIP_MESSAGE
    counts.flag(rows.filter(~skipped).head(FLAGGED).rows())
    counts.flag(rows.filter(skipped).head(FLAGGED).rows(), skipped=True)


def null_texts(
    df: pl.DataFrame, lay: Layout, types: dict[str, str] | None = None
) -> Counter[tuple[str, str]]:
    """Cells written as a null (``NULL``, ``\\N``, ...), by (column as the header names
    it, text): one sum per column, and a closer look only at columns that have some.
    Columns typed as numbers or booleans hold none (such a cell would make them strings)."""
    typed = {c for c, kind in (types or {}).items() if kind in ("int", "float", "bool", "tf")}
    cells = [f"c{i}" for i in lay.kept if f"c{i}" in df.columns and f"c{i}" not in typed]
    found: Counter[tuple[str, str]] = Counter()
    if not cells or df.height == 0:
        return found
    shortest = df.select(pl.col(c).str.len_bytes().min() for c in cells).row(0)
    cells = [c for c, n in zip(cells, shortest, strict=True) if n is not None and n <= 4]
    if not cells:  # no cell is as short as "NULL": the common case, one cheap pass
        return found
    sums = df.select(pl.col(c).is_in(NULL_TEXTS).sum() for c in cells).row(0)
    for col, n in zip(cells, sums, strict=True):
        if n:
            texts = df.get_column(col).filter(df.get_column(col).is_in(NULL_TEXTS))
            for text, k in texts.value_counts().iter_rows():
                found[(lay.header[int(col[1:])], text)] += k
    return found


def _id_keys(good: pl.DataFrame, lay: Layout, others: pl.DataFrame | None) -> IdKeys | None:
    """With a ``_cio_id`` column: a 64-bit key of each given id, to find one used twice (by
    rows with different content), this chunk's events' then ``others``' (``_idk``, ``_row``:
    the other shards' events)."""
    if lay.event_id is None:
        return None
    here = good.select("_row", _idk=_ID_KEY)
    if others is not None and others.height:
        here = pl.concat([here, others.select(here.columns)])
    return IdKeys.of(here.get_column("_idk"), here.get_column("_row"))
