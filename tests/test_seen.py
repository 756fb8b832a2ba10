"""``Seen`` against a Python set: the first of each fingerprint, in file order, across chunks."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cio_cli.encode import dedup
from cio_cli.encode.dedup import Fingerprints, Seen

fingerprint = st.one_of(
    st.integers(0, 2**64 - 1), st.integers(0, 40), st.integers(2**64 - 40, 2**64 - 1)
)
chunks = st.lists(st.lists(fingerprint, max_size=30), max_size=12)
id_chunks = st.lists(st.lists(st.none() | fingerprint, max_size=30), max_size=12)  # None: no id


def reference(data: list[list[int]]) -> list[list[bool]]:
    seen: set[int] = set()
    out = []
    for chunk in data:
        flags = []
        for fp in chunk:
            flags.append(fp not in seen)
            seen.add(fp)
        out.append(flags)
    return out


@pytest.mark.parametrize("merged", [1 << 20, 8], ids=["runs-merge", "runs-stop-merging-at-8"])
@pytest.mark.parametrize("mark_bits", [26, 2], ids=["bitmap", "every-slot-collides"])
@settings(max_examples=150, deadline=None)
@given(data=chunks)
def test_first_seen_matches_a_set(mark_bits: int, merged: int, data: list[list[int]]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dedup, "MARK_BITS", mark_bits)
        mp.setattr(dedup, "MERGED", merged)
        seen = Seen()
        got = [
            seen.first_seen(Fingerprints.of(pl.Series(c, dtype=pl.UInt64))).to_list() for c in data
        ]
    assert got == reference(data)
    assert len(seen) == len({fp for c in data for fp in c})


@pytest.mark.parametrize("merged", [1 << 20, 8], ids=["runs-merge", "runs-stop-merging-at-8"])
@pytest.mark.parametrize("mark_bits", [26, 2], ids=["bitmap", "every-slot-collides"])
@settings(max_examples=150, deadline=None)
@given(data=id_chunks)
def test_first_use_names_the_first_row_of_each_key(
    mark_bits: int, merged: int, data: list[list[int | None]]
) -> None:
    """``FirstUse`` (a _cio_id's first row) against a dict, keys over the whole 64-bit range."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dedup, "MARK_BITS", mark_bits)
        mp.setattr(dedup, "MERGED", merged)
        first_use = dedup.FirstUse()
        known: dict[int, int] = {}
        row = 0
        for chunk in data:
            rows = list(range(row, row + len(chunk)))
            keys = pl.Series(chunk, dtype=pl.UInt64)
            ids = dedup.IdKeys.of(keys, pl.Series(range(len(chunk)), dtype=pl.Int64))
            got = first_use.firsts(ids, row)
            row += len(chunk)
            pairs = list(zip(chunk, rows, strict=True))
            want = [None if k is None else known.setdefault(k, r) for k, r in pairs]
            own = [None if k is None else r for k, r in pairs]
            assert (own if got is None else got.to_list()) == want


def test_big_runs_stop_merging() -> None:
    """Past ``MERGED`` fingerprints, runs are kept apart (a merge never holds two big runs
    and their union at once), and a fingerprint in any of them is still found."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dedup, "MERGED", 8)
        seen = Seen()
        for start in range(0, 64, 4):
            chunk = pl.Series(range(start, start + 4), dtype=pl.UInt64)
            assert seen.first_seen(Fingerprints.of(chunk)).all()
        sizes = [len(r) for r in seen.runs]
        assert sizes == [8] * 8
        again = pl.Series([0, 13, 63, 64], dtype=pl.UInt64)
        assert seen.first_seen(Fingerprints.of(again)).to_list() == [False, False, False, True]
