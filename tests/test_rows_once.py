"""The row rules (``check/rows.py``) compute each trimmed cell once and leave out the rules
that hold for no row of a chunk: they split rows, tally rules and word messages as the
rules did before issue 27's second round, kept here as the reference (``old_check_rows``,
``old_identify``, ``old_name_rules``, ``old_timestamp_rules``, ``old_seconds``), on
generated chunks: ids and names blank, padded, long, emails; every timestamp form, plain
integers alone too; the ``_cio_anonymous_id`` and people layouts; ``--assume-tz``,
``--timestamp-unit``, ``--identifier`` and an API that keeps milliseconds. Type inference
(``check/inference.py``) counts each chunk as ``old_stats`` did (every integer cast), on
integers short, long and beyond 2**53, decimals, booleans, null texts and JSON."""

from __future__ import annotations

from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cio_cli.check import inference, rows, timestamps
from cio_cli.check import rule_table as c
from cio_cli.check.contract import (
    EVENT_ID,
    ISO_NAIVE_RE,
    ISO_ZONED_RE,
    MS_FROM,
    NAME,
    TIMESTAMP,
    Layout,
    ReadOptions,
    layout,
)
from cio_cli.check.inference import ColumnStats, Inference, Stats
from cio_cli.check.rule_table import TIMESTAMP_NUMBER_RE as NUMERIC
from cio_cli.check.values import json_cells

# -- the reference: the rules as they were ---------------------------------------------


def old_seconds(lay: Layout, opts: ReadOptions, textual: bool, decimals: bool) -> pl.Expr:
    """``timestamps.seconds`` before: every cell trimmed at each use, the naive branch always."""
    if lay.timestamp is None:
        return pl.lit(None, dtype=pl.Int64)
    t = timestamps._trimmed(lay) if textual else pl.col(lay.timestamp)
    whole = t.cast(pl.Int64, strict=False)
    if not textual and not decimals:
        auto = opts.timestamp_unit == "auto"
        big = whole >= MS_FROM if auto else pl.lit(opts.timestamp_unit == "ms")
        return pl.when(big).then(whole // 1000).otherwise(whole)
    frac = t.cast(pl.Float64, strict=False)
    is_ms = timestamps._is_ms(frac, opts.timestamp_unit)
    from_int = pl.when(is_ms).then(whole // 1000).otherwise(whole)
    from_dec = pl.when(is_ms).then(frac / 1000).otherwise(frac).floor().cast(pl.Int64)
    seconds = pl.when(t.str.contains(".", literal=True)).then(from_dec).otherwise(from_int)
    if not textual:
        return seconds
    return (
        pl.when(t.str.contains(NUMERIC))
        .then(seconds)
        .when(t.str.contains(ISO_ZONED_RE))
        .then(timestamps._zoned(t))
        .when(t.str.contains(ISO_NAIVE_RE))
        .then(timestamps._naive(t, opts.assume_tz))
        .cast(pl.Int64)
    )


def old_identify(
    df: pl.DataFrame, lay: Layout, opts: ReadOptions, forms: tuple[bool, bool] | None = None
) -> pl.DataFrame:
    textual, decimals = forms if forms is not None else timestamps.forms(df, lay)
    person, anonymous = rows._filled(lay.customer_id), rows._filled(lay.anonymous_id)
    df = df.with_columns(
        _cid=person if lay.anonymous_id is None else pl.coalesce(person, anonymous),
        _ts=old_seconds(lay, opts, textual, decimals),
        _ms=timestamps.read_as_ms(lay, opts, textual),
    )
    if lay.anonymous_id is None:
        return df.with_columns(_kind=rows._kind(opts))
    alone = person.is_null() & anonymous.is_not_null()
    kind = pl.when(alone).then(pl.lit(c.ANONYMOUS_KIND)).otherwise(rows._kind(opts))
    return df.with_columns(_kind=kind)


def old_timestamp_rules(
    rules: rows._Rules, lay: Layout, opts: ReadOptions, now: int, textual: bool
) -> None:
    if lay.timestamp is None:
        return
    t = timestamps.text(lay) if textual else pl.col(lay.timestamp)
    ts = pl.col("_ts")
    naive = t.str.contains(c.TIMESTAMP_NO_ZONE.pattern) if textual else pl.lit(False)
    if opts.assume_tz is None:
        rules.broken(c.TIMESTAMP_NO_ZONE, naive, TIMESTAMP, t)
    unreadable = t.is_not_null() & ts.is_null()
    rule = c.TIMESTAMP_INVALID
    why = rows._lits(*rows._message(rule, TIMESTAMP, t, None), rule.csv_suffix())
    if opts.assume_tz is None:
        unreadable = unreadable & ~naive
    elif textual:
        gap = (
            f" is a local time that does not exist in {opts.assume_tz}: the clocks jump past it"
            " (daylight saving time); add an offset or correct it"
        )
        why = (
            pl.when(timestamps.skipped_by_clocks(t, opts.assume_tz))
            .then(rows._lits(f"{TIMESTAMP} ", rows._quoted(t), gap))
            .otherwise(why)
        )
    rules.error(rule.code, unreadable, why)
    future = ts > now + c.TIMESTAMP_FUTURE.limit
    rules.broken(c.TIMESTAMP_FUTURE, future, TIMESTAMP, t)
    rules.broken(c.TIMESTAMP_BEFORE_1970, ts < 0, TIMESTAMP, t)
    rules.warn("timestamp_ms", pl.col("_ms") & ts.is_not_null())


def old_name_rules(rules: rows._Rules, opts: ReadOptions, df: pl.DataFrame) -> None:
    name = pl.col("_name")
    rules.broken(c.NAME_EMPTY, name.is_null(), NAME)
    rows._too_long(rules, c.NAME_TOO_LONG, name, NAME)
    odd = name.str.contains(c.NAME_ODD_RE)
    if not df.select(odd.any()).item():
        return
    if not opts.allow_semantic:
        semantic = name.str.to_lowercase().is_in(c.SEMANTIC_NAMES)
        rules.broken(c.SEMANTIC_NAME, semantic, NAME, name)
    if opts.warn_name_format:
        rules.warn("name_format", odd)


def old_check_rows(
    df: pl.DataFrame, lay: Layout, opts: ReadOptions, now: int, counted: pl.Expr | None = None
) -> rows.Checked:
    name = pl.col(lay.name).str.strip_chars() if lay.name else pl.lit(None, pl.String)
    forms = timestamps.forms(df, lay)
    textual = forms[0]
    df = old_identify(df, lay, opts, forms).with_columns(_name=pl.when(name != "").then(name))
    if opts.millis:
        df = df.with_columns(_sub=timestamps.millis(lay, opts, *forms))
    if counted is not None:
        df = df.with_columns(_in=counted)
    df = json_cells(df, lay, opts)
    rules = rows._Rules()
    rows._field_count(rules, lay)
    if lay.people is None:
        old_name_rules(rules, opts, df)
    rows._person_rules(rules, lay, opts)
    old_timestamp_rules(rules, lay, opts, now, textual)
    if lay.people is not None:
        df = rows._attribute_rules(rules, df, lay, opts)
    if lay.event_id is not None:
        eid = pl.col(lay.event_id).str.strip_chars()
        ulid, uuid = eid.str.contains(c.ID_INVALID.pattern), eid.str.contains(c.ID_UUID_RE)
        bad_id = eid.is_not_null() & ~ulid & ~uuid
        rules.broken(c.ID_INVALID, bad_id, EVENT_ID, eid)
    if lay.people is None:
        rows._data_rules(rules, lay, opts)
    mask = df.select(pl.any_horizontal(cond for _, cond, _ in rules.errors)).to_series()
    bad, good = rows.split(df, mask)
    mine = (good, bad) if counted is None else (good.filter("_in"), bad.filter("_in"))
    warnings = rows._sums(mine[0], [(code, cond) for code, cond in rules.warnings])
    errors = rows._sums(mine[1], [(code, cond) for code, cond, _ in rules.errors])
    if bad.height:
        messages = [pl.when(cond).then(msg) for _, cond, msg in rules.errors]
        raw = lay.raw(bad.columns) + ([] if counted is None else ["_in"])
        err = pl.concat_str(messages, separator="; ", ignore_nulls=True)
        broken = mine[1].select(pl.concat_list(messages).alias("_r"))
        reasons = broken.explode("_r").drop_nulls()
        bad = bad.select(*raw, "_row", _err=err)
        return rows.Checked(good, bad, errors, warnings, df, rows.tally(reasons.get_column("_r")))
    return rows.Checked(good, bad, errors, warnings, df)


# -- generated chunks ---------------------------------------------------------------------


def pick(*choices: str) -> st.SearchStrategy[str]:
    return st.sampled_from(choices)


IDS = st.one_of(
    st.none(),
    pick("", " ", "\t", "user1", " user1 ", "a@b.co", " a@b.co", "cio_123", "x" * 151, "é"),
    st.text(alphabet=" \tab@_c", max_size=6),
)
NAMES = st.one_of(
    st.none(), pick("", " ", "buy", " buy ", "two words", "a*b", "a|b", "User Deleted", "n" * 120)
)
# fmt: off
STAMPS = st.one_of(
    st.none(),
    pick("", " ", "abc", "-5", "0", "1610000000", " 1610000000 ", "1610000000.5",
         "1610000000123", "99999999999999", "+5", "2021-01-07", " 2021-01-07 06:15 ",
         "2021-01-07T06:15:11", "2021-01-07 06:13:20 UTC", "2021-01-07T06:13:20Z",
         "2021-01-07 06:13:57.068 +0000", "2021-13-45 06:15:11Z", "2021-03-28 02:30",
         "3000-01-01T00:00:00Z", "1969-12-31T23:59:59Z"),
)
# fmt: on
INTS = st.one_of(st.none(), st.integers(-5, 10**14).map(str))
# fmt: off
EIDS = st.one_of(
    st.none(),
    pick("", " ", "01ARZ3NDEKTSV4RRFFQ69G5FAV", " 01arz3ndektsv4rrffq69g5fav ",
         "81ARZ3NDEKTSV4RRFFQ69G5FAV", "4935b675-f501-4841-86f7-c9eab38cf45a",
         "4935B675F501484186F7C9EAB38CF45A", "4935b675-f501-4841-86f7-c9eab38cf45", "x"),
)
# fmt: on
HEADERS = [
    ["_cio_name", "_cio_customer_id", "_cio_timestamp", "_cio_id", "email", "revenue", "plan"],
    ["_cio_name", "_cio_customer_id", "_cio_anonymous_id", "_cio_timestamp"],
    ["_cio_name", "_cio_anonymous_id"],
    ["_cio_customer_id", "email", "created_at", "plan"],  # people
]
OPTIONS = st.fixed_dictionaries(
    {
        "assume_tz": st.sampled_from([None, "Europe/Paris"]),
        "timestamp_unit": pick("auto", "s", "ms"),
        "identifier": pick("auto", "id", "email", "per-row"),
        "api": pick("track", "pipelines"),
        "allow_semantic": st.booleans(),
    }
)


@st.composite
def chunks(draw: Any) -> tuple[pl.DataFrame, Layout, ReadOptions]:
    shape = draw(st.integers(0, len(HEADERS) - 1))
    opts = ReadOptions(**draw(OPTIONS), kind="people" if shape == 3 else "events")
    lay = layout(HEADERS[shape], people=opts.people)
    n = draw(st.integers(1, 30))
    stamps = draw(st.sampled_from([STAMPS, INTS]))
    by_key = {"_cio_name": NAMES, "_cio_timestamp": stamps, "_cio_id": EIDS, "created_at": STAMPS}
    cells = {
        f"c{i}": draw(st.lists(by_key.get(key, IDS), min_size=n, max_size=n))
        for i, key in enumerate(HEADERS[shape])
    }
    df = pl.DataFrame(cells, schema=dict.fromkeys(cells, pl.String)).with_columns(
        pl.int_range(0, n, dtype=pl.Int64).alias("_row"),
        pl.lit(lay.ncols, dtype=pl.Int32).alias("_nf"),
        pl.lit(None, dtype=pl.String).alias("_extra"),
    )
    return df, lay, opts


def same(new: rows.Checked, old: rows.Checked) -> None:
    assert new.good.equals(old.good)
    assert new.bad.equals(old.bad)
    assert new.identified.equals(old.identified)
    assert (new.errors, new.warnings, new.reasons) == (old.errors, old.warnings, old.reasons)
    assert list(new.errors) == list(old.errors)


NOW = 1_700_000_000


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunk=chunks())
def test_rules_split_tally_and_word_rows_as_before(
    chunk: tuple[pl.DataFrame, Layout, ReadOptions],
) -> None:
    df, lay, opts = chunk
    same(rows.check_rows(df, lay, opts, NOW), old_check_rows(df, lay, opts, NOW))
    assert rows.identify(df, lay, opts).equals(old_identify(df, lay, opts))


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.one_of(EIDS, st.text(alphabet="0123456789abcdefABZ-", max_size=40))))
def test_one_regex_takes_the_ulids_and_uuids_the_two_took(ids: list[str | None]) -> None:
    cell = pl.col("id")
    got = pl.DataFrame({"id": ids}, schema={"id": pl.String}).select(
        new=cell.str.contains(rows.ID_FORMS),
        old=cell.str.contains(c.ID_INVALID.pattern) | cell.str.contains(c.ID_UUID_RE),
    )
    assert got.get_column("new").to_list() == got.get_column("old").to_list()


# -- type inference ------------------------------------------------------------------------


def old_stats(self: Inference, df: pl.DataFrame) -> Stats:
    """``Inference.stats`` before: every integer counted with ``is_whole_number``."""
    cols = {c: self.counted(c) for c in self.open_columns() if c in df.columns}
    if not cols:
        return {}
    whole = inference.whole_rows(df, self.lay.ncols)
    exprs = []
    for col, families in cols.items():
        cell = pl.col(col)
        counts = [cell.is_not_null().sum()]
        counts += [
            inference.fits(cell, f).sum()
            if f != "number"
            else inference.is_whole_number(cell).sum()
            for f in families
        ]
        exprs.append(pl.concat_list(counts).alias(col))
    found = whole.select(exprs).row(0, named=True)
    stats = {
        col: ColumnStats(int(v[0]), fits=dict(zip(cols[col], map(int, v[1:]), strict=True)))
        for col, v in found.items()
    }
    inference._add_decimals(whole, stats)
    inference._add_json(whole, stats, [c for c in stats if c not in self.not_json])
    tracks = {c: list(self.tracks.get(c, {}).items()) for c in stats}
    before = {
        c: {f: t.misfits if t.first is None else inference.MAX_MISFITS + 1 for f, t in fs}
        for c, fs in tracks.items()
    }
    inference._add_misfits(whole, stats, before)
    return stats


# fmt: off
VALUES = st.one_of(
    st.none(),
    st.integers(-(2**64), 2**64).map(str),
    st.integers(-(2**53) - 2, -(2**53) + 2).map(str),
    st.integers(2**53 - 2, 2**53 + 2).map(str),
    st.integers(10**14 - 2, 10**16 + 2).map(str),
    st.decimals(places=3, allow_nan=False, allow_infinity=False).map(str),
    pick("0", "-0", "007", "+5", "1.50", "2.10", "1e5", "true", "F", "t", "f", "NULL", "\\N",
         "{\"a\": 1}", "[1]", " 12", "123456789012345.5", "-1234567890123456"),
)
# fmt: on


NUMBERS = st.one_of(  # a column of integers, some long, a few not
    st.none(),
    st.integers(-(2**54), 2**54).map(str),
    st.integers(10**14 - 2, 10**16 + 2).map(str),
    st.integers(-5, 5).map(str),
    pick("1.5", "NULL", "x", "1234567890123456789012"),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    chunks=st.lists(
        st.lists(st.tuples(VALUES, NUMBERS), min_size=1, max_size=40), min_size=1, max_size=4
    ),
)
def test_inference_counts_each_chunk_as_before(
    chunks: list[list[tuple[str | None, str | None]]],
) -> None:
    lay = layout(["_cio_name", "_cio_customer_id", "a", "b"])
    new, old = Inference(lay, ReadOptions()), Inference(lay, ReadOptions())
    first = 0
    for rows_ in chunks:
        df = pl.DataFrame(
            {"c2": [a for a, _ in rows_], "c3": [b for _, b in rows_]},
            schema={"c2": pl.String, "c3": pl.String},
        ).with_columns(
            pl.int_range(0, len(rows_), dtype=pl.Int64).alias("_row"),
            pl.lit(lay.ncols, dtype=pl.Int32).alias("_nf"),
        )
        got, want = new.stats(df), old_stats(old, df)
        assert got == want
        new.add(got, first)
        old.add(want, first)
        first += len(rows_)
    assert (new.types(), new.nearly()) == (old.types(), old.nearly())
