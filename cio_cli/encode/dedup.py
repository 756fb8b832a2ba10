"""Duplicate detection: the fingerprints of a chunk, the events seen before, the first row
of each given ``_cio_id``.

``Seen`` keeps an 8-byte fingerprint per distinct event, the one thing that
grows with the file: sorted runs of UInt64 merged like a log-structured tree,
so checking a chunk costs a binary search per run. Runs stop merging at
``MERGED`` fingerprints (8 MB), so that a merge never holds two big runs and
their union at once: past that, memory grows by the 8 bytes and no more.

``FirstUse`` keeps the first row of each given ``_cio_id`` (16 bytes per id,
only for files with that column), so that an id used again by different
content is found.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

MARK_BITS = 26  # Seen's bitmap: 2**26 bits
MERGED = 1 << 20  # runs of this many entries or more are not merged further


@dataclass(frozen=True)
class Fingerprints:
    """A chunk's fingerprints, sorted once (in a worker thread) for ``Seen``."""

    query: pl.Series  # the fingerprints, sorted
    distinct: pl.Series  # in sorted order: first of its value within the chunk
    inverse: pl.Series  # gather with this to go from sorted order back to row order
    slots: pl.Series  # in sorted order: each one's place in ``Seen``'s bitmap
    index: pl.Series  # 0, 1, 2, ...: positions in sorted order

    @classmethod
    def of(cls, fps: pl.Series) -> Fingerprints:
        """Sort a chunk's fingerprints and note the first of each value."""
        order = fps.arg_sort()
        n = len(fps)
        rank = pl.int_range(0, n, dtype=pl.UInt32, eager=True)
        inverse = pl.zeros(n, dtype=pl.UInt32, eager=True).scatter(order, rank)  # order's inverse
        query = fps.gather(order)
        distinct = fps.is_first_distinct().gather(order)
        return cls(query, distinct, inverse, _slots(query), rank)


class Seen:
    """A set of 64-bit fingerprints kept as a few sorted runs (sizes like a binary counter).

    A bitmap of the fingerprints' top 26 bits (8 MB) is checked first: only a
    fingerprint whose bit is already set (one seen before, or a rare collision)
    is looked for in the runs. It runs on the main thread, chunk after chunk: what
    can be done beforehand is done by ``Fingerprints.of`` in a worker, and the rest
    takes few calls into polars' thread pool (which the workers keep busy).
    """

    def __init__(self) -> None:
        self.runs: list[pl.Series] = []
        self.marks = pl.zeros(1 << MARK_BITS, dtype=pl.Boolean, eager=True)

    def first_seen(self, fps: Fingerprints) -> pl.Series:
        """Per row: True when its fingerprint was not seen before; remember the new ones."""
        fresh = fps.distinct
        maybe = self.marks[fps.slots]
        self.marks.scatter(fps.slots, True)
        if self.runs and maybe.any():
            known = in_runs(self.runs, fps.query.filter(maybe))
            if known.any():
                fresh = fresh.clone().scatter(fps.index.filter(maybe).filter(known), False)
        new = fps.query.filter(fresh)
        if len(new):
            self.runs.append(new)
            while _merging([len(r) for r in self.runs]):
                last = self.runs.pop().to_frame("f")
                self.runs[-1] = self.runs[-1].to_frame("f").merge_sorted(last, "f").to_series()
        return fresh[fps.inverse]

    def contains(self, fps: pl.Series) -> pl.Series:
        """Per fingerprint: was it seen before? (Nothing is remembered.)"""
        return in_runs(self.runs, fps)

    def __len__(self) -> int:
        return sum(len(r) for r in self.runs)


def in_runs(runs: list[pl.Series], wanted: pl.Series) -> pl.Series:
    """Per value of ``wanted``: is it in one of the sorted ``runs``? (One polars call.)"""
    if not runs or not len(wanted):
        return pl.repeat(False, len(wanted), dtype=pl.Boolean, eager=True)
    want = pl.lit(wanted)
    found = []
    for run in runs:
        values = pl.lit(run)
        near = values.search_sorted(want).clip(0, len(run) - 1)
        found.append(values.gather(near) == want)
    return pl.select(pl.any_horizontal(found)).to_series()


def _slots(fps: pl.Series) -> pl.Series:
    """Each fingerprint's place in the bitmap: its top ``MARK_BITS`` bits."""
    return (fps // (1 << (64 - MARK_BITS))).cast(pl.UInt32)


@dataclass(frozen=True)
class IdKeys:
    """A chunk's given ``_cio_id``s as 64-bit keys, sorted once (in a worker thread) for
    ``FirstUse``; rows are counted from the chunk's first row."""

    keys: pl.Series  # per row, in row order; null where the row gives no id
    rows: pl.Series  # per row (Int64)
    ordered: pl.DataFrame  # k (the keys, nulls left out, sorted) and r (their rows)
    slots: pl.Series  # in ``ordered``'s order: each key's place in the bitmap
    twice: bool  # some key is given twice within the chunk

    @classmethod
    def of(cls, keys: pl.Series, rows: pl.Series) -> IdKeys:
        """Key, sort and check the chunk's ids."""
        ordered = pl.DataFrame({"k": keys, "r": rows}).drop_nulls("k").sort("k", "r")
        k = ordered.get_column("k")
        twice = bool((k == k.shift(1)).any())
        return cls(keys, rows, ordered, _slots(k), twice)


class FirstUse:
    """The row that first used each given ``_cio_id`` (by a 64-bit key of the id).

    Kept as sorted runs of (key, row) merged like ``Seen``'s, 16 bytes per id, with
    ``Seen``'s bitmap in front, so that a chunk of new ids costs a few calls;
    only for files with a ``_cio_id`` column.
    """

    def __init__(self) -> None:
        self.runs: list[pl.DataFrame] = []  # columns k (sorted), r
        self.marks = pl.zeros(1 << MARK_BITS, dtype=pl.Boolean, eager=True)

    def firsts(self, ids: IdKeys, first_row: int) -> pl.Series | None:
        """Per row: the row that first used its key (itself if it is the first; rows
        counted from the file's first, the chunk starting at ``first_row``); null without
        a key. None when every key is new (each row is its own first). Remembers the new
        keys."""
        k = ids.ordered.get_column("k")
        maybe = self.marks[ids.slots]
        self.marks.scatter(ids.slots, True)
        runs = [run.get_column("k") for run in self.runs]
        if not ids.twice and not (maybe.any() and in_runs(runs, k.filter(maybe)).any()):
            rows = ids.ordered.get_column("r") + first_row
            self._remember(pl.DataFrame({"k": k, "r": rows}))
            return None
        return self._looked_up(ids.keys, ids.rows + first_row)

    def _looked_up(self, keys: pl.Series, rows: pl.Series) -> pl.Series:
        """``firsts`` the long way: some key was given before, or twice in the chunk."""
        here = pl.DataFrame({"k": keys, "r": rows}).drop_nulls("k")
        seen = here.group_by("k").agg(pl.col("r").min()).sort("k")
        key, first = seen.get_column("k"), seen.get_column("r")
        for run in self.runs:
            run_keys = run.get_column("k")
            near = run_keys.search_sorted(key).clip(0, run.height - 1)
            hit = run_keys.gather(near) == key
            if hit.any():
                earlier = run.get_column("r").gather(near)
                first = pl.select(pl.when(hit).then(earlier).otherwise(first)).to_series()
        self._remember(seen.filter(first == seen.get_column("r")))
        return keys.replace_strict(key, first, default=None, return_dtype=pl.Int64)

    def _remember(self, new: pl.DataFrame) -> None:
        if new.height:
            self.runs.append(new)
            while _merging([r.height for r in self.runs]):
                last = self.runs.pop()
                self.runs[-1] = self.runs[-1].merge_sorted(last, "k")


def _merging(sizes: list[int]) -> bool:
    """Merge the last two runs: the last is as long as the one before it, and the one
    before it is still under ``MERGED``."""
    return len(sizes) > 1 and sizes[-1] >= sizes[-2] and sizes[-2] < MERGED
