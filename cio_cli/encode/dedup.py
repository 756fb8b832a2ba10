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

    @classmethod
    def of(cls, fps: pl.Series) -> Fingerprints:
        """Sort a chunk's fingerprints and note the first of each value."""
        order = fps.arg_sort()
        n = len(fps)
        rank = pl.int_range(0, n, dtype=pl.UInt32, eager=True)
        inverse = pl.zeros(n, dtype=pl.UInt32, eager=True).scatter(order, rank)  # order's inverse
        return cls(fps.gather(order), fps.is_first_distinct().gather(order), inverse)


class Seen:
    """A set of 64-bit fingerprints kept as a few sorted runs (sizes like a binary counter).

    A bitmap of the fingerprints' top 26 bits (8 MB) is checked first: only a
    fingerprint whose bit is already set (one seen before, or a rare collision)
    is looked for in the runs.
    """

    def __init__(self) -> None:
        self.runs: list[pl.Series] = []
        self.marks = pl.zeros(1 << MARK_BITS, dtype=pl.Boolean, eager=True)

    def first_seen(self, fps: Fingerprints) -> pl.Series:
        """Per row: True when its fingerprint was not seen before; remember the new ones."""
        fresh = fps.distinct
        slots = (fps.query // (1 << (64 - MARK_BITS))).cast(pl.UInt32)
        maybe = self.marks.gather(slots)
        self.marks.scatter(slots, True)
        if self.runs and maybe.any():
            at = maybe.arg_true()
            wanted = fps.query.gather(at)
            known = pl.repeat(False, len(wanted), dtype=pl.Boolean, eager=True)
            for run in self.runs:
                near = run.search_sorted(wanted).clip(0, len(run) - 1)
                known = known | (run.gather(near) == wanted)
            if known.any():
                fresh = fresh.clone().scatter(at.filter(known), False)
        new = fps.query.filter(fresh)
        if len(new):
            self.runs.append(new)
            while _merging([len(r) for r in self.runs]):
                last = self.runs.pop().to_frame("f")
                self.runs[-1] = self.runs[-1].to_frame("f").merge_sorted(last, "f").to_series()
        return fresh.gather(fps.inverse)

    def contains(self, fps: pl.Series) -> pl.Series:
        """Per fingerprint: was it seen before? (Nothing is remembered.)"""
        known = pl.repeat(False, len(fps), dtype=pl.Boolean, eager=True)
        for run in self.runs:
            near = run.search_sorted(fps).clip(0, len(run) - 1)
            known = known | (run.gather(near) == fps)
        return known

    def __len__(self) -> int:
        return sum(len(r) for r in self.runs)


class FirstUse:
    """The row that first used each given ``_cio_id`` (by a 64-bit key of the id).

    Kept as sorted runs of (key, row) merged like ``Seen``'s, 16 bytes per id, with
    ``Seen``'s bitmap in front, so that a chunk of new ids costs a sort; only for
    files with a ``_cio_id`` column.
    """

    def __init__(self) -> None:
        self.runs: list[pl.DataFrame] = []  # columns k (sorted), r
        self.marks = pl.zeros(1 << MARK_BITS, dtype=pl.Boolean, eager=True)

    def firsts(self, keys: pl.Series, rows: pl.Series) -> pl.Series:
        """Per row: the row that first used its key (itself if it is the first); null
        without a key. Remembers the new keys."""
        here = pl.DataFrame({"k": keys, "r": rows}).drop_nulls("k").sort("k")
        k = here.get_column("k")
        slots = (k // (1 << (64 - MARK_BITS))).cast(pl.UInt32)
        maybe = self.marks.gather(slots)
        self.marks.scatter(slots, True)
        if not (k == k.shift(1)).any() and not self._known(k.filter(maybe)):
            self._remember(here)  # every id new: each row is its own first
            return pl.select(pl.when(keys.is_not_null()).then(rows)).to_series()
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

    def _known(self, wanted: pl.Series) -> bool:
        """Is any of ``wanted`` (sorted keys whose bitmap slot was set) in the runs?"""
        for run in self.runs if len(wanted) else ():
            run_keys = run.get_column("k")
            near = run_keys.search_sorted(wanted).clip(0, run.height - 1)
            if (run_keys.gather(near) == wanted).any():
                return True
        return False

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
