"""Both passes in one read of the file, for a dry run.

Pass 2 needs the column types of the whole file, so it normally reads the file
again once pass 1 is over. A dry run sends nothing and decides nothing between
the passes, so it can do pass 2's work on each chunk as pass 1 reads it,
typing each chunk's columns by that chunk alone. The result stands when every
chunk typed each column it has values in as the whole file does; that is true
unless some column's type widens part-way (numbers, then a word), and then
what was counted and written is thrown away and pass 2 runs as usual.
"""

from __future__ import annotations

import polars as pl

from cio_cli.events import warm_up
from cio_cli.header import ReadOptions
from cio_cli.infer import Inference, Stats
from cio_cli.pipeline import (
    Counts,
    Emit,
    Emitting,
    InputFile,
    Judged,
    Progress,
    Scan,
    Scanning,
    Sink,
    judge,
    kinds_of,
)
from cio_cli.rejects import RejectsWriter
from cio_cli.rules import check, in_window

ChunkTypes = dict[str, str]  # column -> type this chunk's own values give it


def scan_and_emit(
    inp: InputFile,
    opts: ReadOptions,
    how: Emit,
    counts: Counts,
    sink: Sink,
    progress: Progress | None = None,
) -> Scan | None:
    """Pass 1 and pass 2 of a dry run in one read: the scan, or None if the types widened.

    With None, nothing was added to ``counts``; the caller starts ``sink`` over
    and runs pass 2 (``emit``), which starts the rejects file over. An error
    (an unimportable file) removes the rejects file.
    """
    warm_up()
    scanning = Scanning(inp, opts)
    lay = inp.lay
    window = in_window(how.now)
    settled: dict[str, str] = {}  # column -> the one type every chunk so far gave it
    widened = False
    mine = Counts()

    def work(
        df: pl.DataFrame, plain: bool
    ) -> tuple[Stats, int, pl.DataFrame, pl.Series, Judged | None, ChunkTypes]:
        stats = scanning.infer.stats(df)
        checked = check(df, lay, opts, how.now)
        recent = checked.good.filter(window).get_column("_row")
        kinds = kinds_of(checked.identified)
        if widened:
            return stats, df.height, kinds, recent, None, {}
        own = Inference(lay, opts)
        own.add(stats)
        types = own.types()
        filled = {col: types[col] for col, (n, _, _) in stats.items() if n}
        return stats, df.height, kinds, recent, judge(df, checked, lay, how, types, plain), filled

    with RejectsWriter(inp.rejects_path, lay) as rejects:
        try:
            emitting = Emitting(how, mine, sink, rejects)
            for chunk in inp.source.chunks(work):
                stats, size, kinds, recent, judged, filled = chunk.result
                scanning.infer.add(stats)
                scanning.fold(chunk.first_row, size, kinds, recent)
                if not widened:
                    if judged is None or _conflicts(settled, filled):
                        widened = True
                    else:
                        emitting.take(judged, chunk.first_row)
                if progress:
                    progress("checking", chunk.bytes_done, mine if not widened else Counts())
            scanned = scanning.finish()
            if not widened and all(scanned.types[c] == t for c, t in settled.items()):
                emitting.finish()
                inp.rejects_written = rejects.written > 0
                counts.add(mine)
                return scanned
        except BaseException:
            rejects.close()
            rejects.path.unlink(missing_ok=True)
            raise
    return None


def _conflicts(settled: dict[str, str], filled: ChunkTypes) -> bool:
    """Note a chunk's column types; True when one differs from an earlier chunk's."""
    for col, kind in filled.items():
        if settled.setdefault(col, kind) != kind:
            return True
    return False
