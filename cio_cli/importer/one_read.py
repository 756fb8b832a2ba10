"""Both passes in one read of the file, for a dry run.

Pass 2 needs the column types of the whole file, so it normally reads the file
again once pass 1 is over. A dry run sends nothing and decides nothing between
the passes, so it can do pass 2's work on each chunk as pass 1 reads it, with
the types known so far: those of the chunks before it and its own. (A worker
may start before the chunks ahead of it are counted; the main thread then
encodes that chunk again with the types it should have had.) The result
stands when every chunk typed each column it has values in as the whole file
does; that is true unless some column's type widens part-way (numbers, then a
word), and then what was counted and written is thrown away and pass 2 runs
as usual.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from cio_cli.check.contract import Layout, ReadOptions
from cio_cli.check.inference import Stats
from cio_cli.check.rows import Checked, check_rows, in_window
from cio_cli.importer.emit import Emit, Judged, Sink, emit_with, judge
from cio_cli.importer.scan import InputFile, Progress, Scan, Scanning, kinds_of
from cio_cli.record.counts import Counts
from cio_cli.record.rejects import remove_file


def scan_and_emit(
    inp: InputFile,
    opts: ReadOptions,
    how: Emit,
    counts: Counts,
    sink: Sink,
    progress: Progress | None = None,
) -> Scan | None:
    """Pass 1 and pass 2 of a dry run in one read: the scan, or None if the types widened.

    Pass 2's own loop (``emit_with``) reads the file, as ``ScanAsYouGo``.
    With None, nothing was added to ``counts``; the caller starts ``sink`` over
    and runs pass 2 (``emit``), which starts the rejects file over. An error
    (an unimportable file) removes the rejects file.
    """
    reading = ScanAsYouGo(inp, opts, how)
    mine = Counts()
    try:
        if not emit_with(reading, inp, how, mine, sink, progress):
            return None
    except BaseException:
        inp.rejects_written = False
        remove_file(inp.rejects_path)
        raise
    counts.add(mine)
    return reading.scanned


class ScanAsYouGo:
    """Pass 1 folded in as pass 2 reads: each chunk judged with the types known so far."""

    def __init__(self, inp: InputFile, opts: ReadOptions, how: Emit) -> None:
        self.inp, self.opts, self.how = inp, opts, how
        self.scanning = Scanning(inp, opts)
        self.window = in_window(how.now, inp.lay)
        self.settled: dict[str, str] = {}  # column -> the one type every chunk so far gave it
        self.widened = False
        self.scanned: Scan | None = None

    def work(self, df: pl.DataFrame, plain: bool) -> Read:
        """Pass 1's findings on a chunk and, unless the types widened, its verdicts."""
        lay, how = self.inp.lay, self.how
        stats = self.scanning.infer.stats(df)
        checked = check_rows(df, lay, self.opts, how.now, how.counted())
        recent = checked.good.filter(self.window).get_column("_row")
        read = Read(stats, df, checked, plain, kinds_of(checked.identified), recent)
        if not self.widened:
            known = self.scanning.infer.copy()
            known.add(stats)
            read.types = known.types()
            read.judged = judge(df, checked, lay, how, read.types, plain)
        return read

    def take(self, result: Read, first_row: int) -> Judged | None:
        """Count the chunk; its verdicts, typed as the file so far, unless the types widened."""
        self.scanning.fold(first_row, result.df.height, result.stats, result.kinds, result.recent)
        if not self.widened:
            types = self.scanning.infer.types()
            self.widened = not _take(result, types, self.settled, self.inp.lay, self.how)
        return None if self.widened else result.judged

    def shown(self, counts: Counts) -> Counts:
        """Pass 2's counts; once the types widened, only the rows read."""
        return counts if not self.widened else Counts(rows=self.scanning.result.rows)

    def end(self, stopped: bool) -> bool:
        """The scan (``self.scanned``); True if every chunk typed each column as the file does."""
        scanned = self.scanned = self.scanning.finish()
        same = all(_sent_as(scanned.types[c]) == _sent_as(t) for c, t in self.settled.items())
        return not self.widened and same


@dataclass
class Read:
    """One chunk as a worker left it: pass 1's findings and, if typed, pass 2's verdicts."""

    stats: Stats
    df: pl.DataFrame
    checked: Checked
    plain: bool
    kinds: pl.DataFrame  # per identifier kind: rows, first row
    recent: pl.Series  # rows in the window that pass every rule
    types: dict[str, str] = field(default_factory=dict)
    judged: Judged | None = None


def _take(read: Read, now: dict[str, str], settled: dict[str, str], lay: Layout, how: Emit) -> bool:
    """Make ``read.judged`` typed as the file so far; False if an earlier chunk was typed otherwise.

    ``now`` holds the types of every chunk up to this one. A worker that started
    before the chunks ahead of it were counted may have typed this chunk
    narrower; it is then encoded again here.
    """
    if read.judged is None:
        return False
    filled = [col for col, st in read.stats.items() if st.n]
    if any(read.types[col] != now[col] for col in filled):
        read.judged = judge(read.df, read.checked, lay, how, now, read.plain)
    for col in filled:
        if _sent_as(settled.setdefault(col, now[col])) != _sent_as(now[col]):
            return False
    return True


def _sent_as(kind: str) -> str:
    """Kinds that send the same cells as the same bytes: an integer goes out as written
    in an int column and in a float one, so a column of integers that later turns
    float needs no second pass."""
    return "float" if kind == "int" else kind
