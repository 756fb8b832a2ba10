"""The zoned timestamps of a CSV (``check/timestamps.py``) read as the seven rewrites to one
form read them before issue 27, on generated edge cases: every form ``ISO_ZONED_RE`` lets
through (``T``, ``t`` or a space; with or without seconds and a fraction; ``Z``, ``z``,
`` UTC``, offsets with or without a space, a colon or minutes, out of range too) and dates
and times that do not exist."""

from __future__ import annotations

from unittest.mock import patch

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from cio_cli.check import timestamps
from cio_cli.check.contract import ISO_ZONED_RE, ReadOptions, layout


def seven_rewrites(t: pl.Expr) -> pl.Expr:
    """Unix seconds as ``timestamps._zoned`` read them before (the reference)."""
    iso = (
        t.str.replace(r"^(\d{4}-\d{2}-\d{2})[Tt ]", "${1}T")
        .str.replace(r"(?:[Zz]| UTC)$", "+00:00")
        .str.replace(" +", "+", literal=True)
        .str.replace(" -", "-", literal=True)
        .str.replace(r"([+-]\d{2})$", "${1}:00")
        .str.replace(r"([+-]\d{2})(\d{2})$", "${1}:${2}")
        .str.replace(r"T(\d{2}:\d{2})([+-])", "T${1}:00${2}")
    )
    parsed = iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="ms")
    return parsed.dt.epoch("s")


def pick(*choices: str) -> st.SearchStrategy[str]:
    return st.sampled_from(choices)


zoned = st.builds(
    lambda y, mo, d, sep, h, mi, s, frac, zone: f"{y}-{mo}-{d}{sep}{h}:{mi}{s}{frac if s else ''}{zone}",
    pick("1969", "1970", "2000", "2021", "2024", "0001", "9999"),
    pick("01", "02", "12", "13", "00"),
    pick("01", "28", "29", "30", "31", "00"),
    pick("T", "t", " "),
    pick("00", "12", "23", "24", "99"),
    pick("00", "59", "60"),
    pick("", ":00", ":59", ":60", ":61"),
    pick("", ".1", ".123", ".999999", ".123456789", ".0000001"),
    pick("Z", "z", " UTC", "+00:00", "-05:30", "+0000", " +0000", " -0800", "+00", "-03",
         "+23:59", "+24:00", "-99:99", "+14:60", "+05:45", " +05", " -05:30"),  # fmt: skip
)


@settings(max_examples=40, deadline=None)
@given(cells=st.lists(zoned, min_size=1, max_size=200))
def test_zoned_forms_read_as_the_seven_rewrites_read_them(cells: list[str]) -> None:
    df = pl.DataFrame({"t": cells}).filter(pl.col("t").str.contains(ISO_ZONED_RE))
    t = pl.col("t")
    got = df.select(new=timestamps._zoned(t), old=seven_rewrites(t))
    assert got.get_column("new").to_list() == got.get_column("old").to_list()


CELLS = st.one_of(
    st.none(),
    pick("", " ", "\t", "  ", "abc", "-5", "0", " 1610000000 ", "1610000000.5", "1610000000123",
         "1610000000123.7", "1e9", "nan", "2021-01-07", " 2021-01-07 06:15 ", "2021-01-07T06:15:11",
         "2021-13-45 06:15:11"),  # fmt: skip
    zoned,
    st.builds(lambda pad, z: pad + z + pad, pick(" ", "\t"), zoned),
)


@settings(max_examples=150, deadline=None, database=None)
@given(
    cells=st.lists(CELLS, min_size=1, max_size=60),
    unit=pick("auto", "s", "ms"),
    zone=st.sampled_from([None, "Europe/Paris"]),
)
def test_trimmed_cells_read_as_the_nulled_text_reads_them(
    cells: list[str | None], unit: str, zone: str | None
) -> None:
    """``seconds``, ``millis`` and ``read_as_ms`` read a blank cell trimmed to ``""`` as
    they read ``text``'s null (the reference: the same functions on ``text``)."""
    lay = layout(["_cio_customer_id", "_cio_name", "_cio_timestamp"])
    opts = ReadOptions(timestamp_unit=unit, assume_tz=zone)  # type: ignore[arg-type]
    assert lay.timestamp is not None
    df = pl.DataFrame({lay.timestamp: cells}, schema={lay.timestamp: pl.String})
    form = timestamps.forms(df, lay)

    def read() -> pl.DataFrame:
        with_ts = df.with_columns(_ts=timestamps.seconds(lay, opts, *form))
        return with_ts.select(
            "_ts",
            _sub=timestamps.millis(lay, opts, *form),
            _ms=timestamps.read_as_ms(lay, opts, form[0]),
        )

    got = read()
    with patch.object(timestamps, "_trimmed", timestamps.text):
        assert got.equals(read())
