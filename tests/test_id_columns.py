"""The column-wise ULIDs of ``encode/events.py`` are python-ulid's, on many random inputs.

A given ``_cio_id`` UUID is sent as ``ULID.from_uuid`` of it (any case, with or without its
dashes, blanks around it trimmed); a ULID as written. A derived id is
``ULID.from_bytes`` of the time in milliseconds (6 bytes) and the hash's first 80 bits. The
expressions ``cio`` used before (``old_uuid_as_ulid``, ``old_ulid``: 10-bit gathers) are
kept here as second references.
"""

from __future__ import annotations

import uuid

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from ulid import ULID

from cio_cli.encode.events import HALVES, PAIRS, _ulid, given_id

COL = "_cio_id"


def old_uuid_as_ulid(uuids: pl.Expr) -> pl.Expr:
    """The expression before: seven hex slices, thirteen 10-bit gathers."""
    digits = uuids.str.replace_all("-", "", literal=True)
    top = digits.str.slice(0, 2).str.to_integer(base=16, strict=False)
    parts = [pl.lit(PAIRS).gather(top.cast(pl.UInt32))]
    for i in range(6):
        v = digits.str.slice(2 + 5 * i, 5).str.to_integer(base=16, strict=False)
        parts += [pl.lit(PAIRS).gather((v // 1024).cast(pl.UInt32))]
        parts += [pl.lit(PAIRS).gather((v % 1024).cast(pl.UInt32))]
    return pl.concat_str(parts)


def reference(cell: str | None) -> str | None:
    """A cell as sent, by python-ulid."""
    if cell is None:
        return None
    text = cell.strip()
    return str(ULID.from_uuid(uuid.UUID(text))) if len(text) > 26 else text


BITS = st.one_of(st.integers(0, (1 << 128) - 1), st.sampled_from([0, (1 << 128) - 1, 1 << 127]))


@st.composite
def uuid_cells(draw: st.DrawFn) -> str:
    """A UUID as a file may hold it: 8-4-4-4-12 or 32 hex digits, any case, maybe padded."""
    text = str(uuid.UUID(int=draw(BITS)))
    if draw(st.booleans()):
        text = text.replace("-", "")
    case = draw(st.sampled_from(["lower", "upper", "mixed"]))
    if case == "upper":
        text = text.upper()
    elif case == "mixed":
        flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
        text = "".join(c.upper() if f else c for c, f in zip(text, flips, strict=True))
    pad = st.sampled_from(["", " ", "\t", "  "])
    return draw(pad) + text + draw(pad)


ULIDS = st.builds(lambda n: str(ULID.from_int(n)), st.integers(0, (1 << 128) - 1))
CELLS = st.one_of(uuid_cells(), uuid_cells(), ULIDS, st.none())


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(CELLS, min_size=1, max_size=40))
def test_given_ids_are_python_ulids_of_the_uuids(cells: list[str | None]) -> None:
    df = pl.DataFrame({COL: cells}, schema={COL: pl.String})
    sent = given_id(df, COL).to_list()
    assert sent == [reference(cell) for cell in cells]
    given = pl.col(COL).str.strip_chars()
    old = pl.when(given.str.len_bytes() > 26).then(old_uuid_as_ulid(given)).otherwise(given)
    assert sent == df.select(old).to_series().to_list()


def old_ulid() -> list[pl.Expr]:
    """The derived id's pieces before: thirteen 10-bit gathers."""
    millis = pl.col("_ts").fill_null(0) * 1000
    tens = [millis // (1 << b) % 1024 for b in (40, 30, 20, 10, 0)]
    tens += [pl.col(half) // (1 << b) % 1024 for half in HALVES for b in (30, 20, 10, 0)]
    return [pl.lit(PAIRS).gather(v.cast(pl.UInt32)) for v in tens]


SECONDS = st.one_of(st.none(), st.integers(0, ((1 << 48) - 1) // 1000), st.just(0))
FORTY = st.one_of(st.integers(0, (1 << 40) - 1), st.sampled_from([0, (1 << 40) - 1]))


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.tuples(SECONDS, FORTY, FORTY), min_size=1, max_size=40))
def test_derived_ids_are_python_ulids_of_time_and_hash(
    rows: list[tuple[int | None, int, int]],
) -> None:
    schema = {"_ts": pl.Int64, HALVES[0]: pl.UInt64, HALVES[1]: pl.UInt64}
    df = pl.DataFrame(rows, schema=schema, orient="row")
    sent = df.select(pl.concat_str(_ulid())).to_series().to_list()
    hashed = [((ts or 0) * 1000).to_bytes(6, "big") + (h0 << 40 | h1).to_bytes(10, "big")
              for ts, h0, h1 in rows]  # fmt: skip
    assert sent == [str(ULID.from_bytes(b)) for b in hashed]
    assert sent == df.select(pl.concat_str(old_ulid())).to_series().to_list()
