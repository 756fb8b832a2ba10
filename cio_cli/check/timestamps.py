"""Timestamps as polars expressions: every accepted form to Unix seconds.

Unix seconds (integer or decimal, floored), Unix milliseconds (``--timestamp-unit``,
or ``auto``: any value of at least 100000000000), ISO-8601 with ``Z`` or an
offset, and ISO-8601 without one only under ``--assume-tz``. ``forms()`` looks
at a chunk first, so that a chunk of plain integers skips the costly branches.
"""

from __future__ import annotations

import polars as pl

from cio_cli.check.contract import ISO_NAIVE_RE, ISO_ZONED_RE, MS_FROM, Layout, ReadOptions, Unit
from cio_cli.check.rule_table import TIMESTAMP_NUMBER_RE as NUMERIC


def forms(df: pl.DataFrame, lay: Layout) -> tuple[bool, bool]:
    """Whether some timestamp in the chunk is not a plain number, or has decimals."""
    if lay.timestamp is None:
        return False, False
    t = pl.col(lay.timestamp)
    whole = t.cast(pl.Int64, strict=False)
    signed = t.str.starts_with("+").any()  # polars casts "+5"; the contract refuses it
    if df.select((whole.null_count() == t.null_count()) & ~signed).item():
        return False, False  # every timestamp is a plain integer (or empty)
    plain = t.is_null() | t.str.contains(NUMERIC)
    found = df.select(
        (~plain).any().alias("text"), t.str.contains(".", literal=True).any().alias("dec")
    ).row(0)
    return bool(found[0]), bool(found[1])


def text(lay: Layout) -> pl.Expr:
    """The trimmed timestamp cell; null when empty."""
    assert lay.timestamp is not None
    cell = pl.col(lay.timestamp).str.strip_chars()
    return pl.when(cell != "").then(cell)


def _trimmed(lay: Layout) -> pl.Expr:
    """The trimmed timestamp cell, ``""`` kept: ``seconds``, ``millis`` and ``read_as_ms``
    read ``""`` as they read null (no branch takes it), and each use of ``text`` costs a
    second trim and a comparison (an eager ``select`` computes it again at every use)."""
    assert lay.timestamp is not None
    return pl.col(lay.timestamp).str.strip_chars()


def prepared(lay: Layout, textual: bool, decimals: bool) -> pl.Expr | None:
    """What ``seconds`` and ``read_as_ms`` read of each timestamp cell, to compute once
    as a column (an eager ``select`` computes a subexpression again at every use): the
    trimmed text, or a chunk of plain integers as Int64 (read the same, since every cell
    casts). None where they read the cell as it is (Unix seconds with decimals)."""
    if lay.timestamp is None or (decimals and not textual):
        return None
    cell = pl.col(lay.timestamp)
    return _trimmed(lay) if textual else cell.cast(pl.Int64, strict=False)


def _cell(lay: Layout, textual: bool, ready: str | None) -> pl.Expr:
    """The timestamp cell as ``seconds`` and ``read_as_ms`` read it: the column ``ready``
    (``prepared``), or else trimmed when ``textual``."""
    assert lay.timestamp is not None
    if ready is not None:
        return pl.col(ready)
    return _trimmed(lay) if textual else pl.col(lay.timestamp)


def seconds(
    lay: Layout, opts: ReadOptions, textual: bool, decimals: bool, ready: str | None = None
) -> pl.Expr:
    """Unix seconds from every accepted form; null when absent or unreadable.

    Without ``textual`` every timestamp is a plain number (untrimmed) and the
    costly ISO-8601 branches are left out. ``ready`` names a column holding ``prepared``.
    """
    if lay.timestamp is None:
        return pl.lit(None, dtype=pl.Int64)
    t = _cell(lay, textual, ready)
    whole = t.cast(pl.Int64, strict=False)
    if not textual and not decimals:
        return (
            pl.when(
                whole >= MS_FROM
                if opts.timestamp_unit == "auto"
                else pl.lit(opts.timestamp_unit == "ms")
            )
            .then(whole // 1000)
            .otherwise(whole)
        )
    frac = t.cast(pl.Float64, strict=False)
    numeric = t.str.contains(NUMERIC)
    is_ms = _is_ms(frac, opts.timestamp_unit)
    from_int = pl.when(is_ms).then(whole // 1000).otherwise(whole)
    from_dec = pl.when(is_ms).then(frac / 1000).otherwise(frac).floor().cast(pl.Int64)
    seconds = pl.when(t.str.contains(".", literal=True)).then(from_dec).otherwise(from_int)
    if not textual:
        return seconds
    read = pl.when(numeric).then(seconds).when(t.str.contains(ISO_ZONED_RE)).then(_zoned(t))
    if opts.assume_tz is None:  # a time without a zone is null, as a row of no form is
        return read.cast(pl.Int64)
    return read.when(t.str.contains(ISO_NAIVE_RE)).then(_naive(t, opts.assume_tz)).cast(pl.Int64)


def millis(lay: Layout, opts: ReadOptions, textual: bool, decimals: bool) -> pl.Expr:
    """The milliseconds within the second ``_ts`` of each timestamp (0-999), from its text
    and truncated: the first three digits of a fraction (``41.993908`` → 993, Unix seconds
    or ISO-8601), or the last three of Unix milliseconds. A decimal whose float rounds
    up to the next second (``…41.9999999``) keeps that second's 0. Null without a
    timestamp. Needs ``_ts``."""
    if lay.timestamp is None:
        return pl.lit(None, dtype=pl.Int64)
    t = _trimmed(lay) if textual else pl.col(lay.timestamp)
    is_ms = _is_ms(t.cast(pl.Float64, strict=False), opts.timestamp_unit)
    if not textual and not decimals:
        return pl.when(is_ms).then(t.cast(pl.Int64, strict=False) % 1000).otherwise(0)
    fraction = t.str.extract(r"\.([0-9]+)", 1).str.pad_end(3, "0").str.slice(0, 3)
    from_fraction = fraction.cast(pl.Int64).fill_null(0)
    whole = t.str.extract(r"^([0-9]+)", 1).cast(pl.Int64, strict=False)
    numeric = t.str.contains(NUMERIC)
    seconds = pl.when(is_ms).then(whole // 1000).otherwise(whole)
    sub = pl.when(is_ms).then(whole % 1000).otherwise(from_fraction)
    return (
        pl.when(pl.col("_ts").is_null())
        .then(None)
        .when(~numeric)
        .then(from_fraction)
        .when(seconds == pl.col("_ts"))
        .then(sub)
        .otherwise(0)
    )


def read_as_ms(lay: Layout, opts: ReadOptions, textual: bool, ready: str | None = None) -> pl.Expr:
    """True where ``--timestamp-unit auto`` read a number as milliseconds (a warning).
    ``ready`` names a column holding ``prepared``."""
    if lay.timestamp is None or opts.timestamp_unit != "auto":
        return pl.lit(False)
    t = _cell(lay, textual, ready)
    number = t.cast(pl.Float64, strict=False)  # decimals too: 1610000000000.5 is read as ms
    if textual:
        number = pl.when(t.str.contains(NUMERIC)).then(number)
    return (number >= MS_FROM).fill_null(False)


def _is_ms(value: pl.Expr, unit: Unit) -> pl.Expr:
    if unit == "ms":
        return pl.lit(True)
    if unit == "s":
        return pl.lit(False)
    return value >= MS_FROM


def _zoned(t: pl.Expr) -> pl.Expr:
    """Unix seconds of a timestamp of ``ISO_ZONED_RE``. Literal rewrites, no regex: ``:00``
    seconds where character 16 is not the seconds' colon, `` UTC`` as ``Z``, the date's ``T``
    or ``t`` as a space (no other ``T`` or ``t`` is left); then ``%#z`` reads ``Z``, ``z``
    and an offset with or without a space before it, a colon or minutes."""
    minutes = pl.concat_str([t.str.slice(0, 16), pl.lit(":00"), t.str.slice(16)])
    iso = pl.when(t.str.slice(16, 1) == ":").then(t).otherwise(minutes)
    iso = iso.str.replace(" UTC", "Z", literal=True).str.replace_many(["T", "t"], [" ", " "])
    parsed = iso.str.to_datetime("%Y-%m-%d %H:%M:%S%.f %#z", strict=False, time_unit="ms")
    return parsed.dt.epoch("s")


def _naive(t: pl.Expr, zone: str | None) -> pl.Expr:
    if zone is None:
        return pl.lit(None, dtype=pl.Int64)
    local = _wall_clock(t).dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    return local.dt.epoch("s")


def _wall_clock(t: pl.Expr) -> pl.Expr:
    """A timestamp without a zone as a naive datetime (null if it is not one)."""
    iso = (
        t.str.replace(r"^(\d{4}-\d{2}-\d{2})$", "${1}T00:00:00")
        .str.replace(r"^(\d{4}-\d{2}-\d{2})[Tt ]", "${1}T")
        .str.replace(r"T(\d{2}:\d{2})$", "T${1}:00")
    )
    return iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="ms")


def skipped_by_clocks(t: pl.Expr, zone: str) -> pl.Expr:
    """True for a time without a zone that does not exist in ``zone`` (clocks jump past it)."""
    wall = _wall_clock(t)
    local = wall.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    return t.str.contains(ISO_NAIVE_RE) & wall.is_not_null() & local.is_null()
