"""A ``--type COL=json`` column is read a whole chunk at a time (``canonical_column``); every
cell must come out exactly as ``canonical_json`` gives it alone, refusal reason included.
"""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cio_cli.check.values import canonical_column, canonical_json

NUMBERS = [
    "0", "-0", "1", "01", "+1", ".5", "1.", "1.10", "2.5e3", "1E-7", "-1e+2", "1e400",
    "1e-400", "1e-310", "9007199254740993", "12345678901234567", "18446744073709551616",
    "-9223372036854775809", "123456789012345678901234567890", "0.1000000000000000055511",
    "3.141592653589793", "1.0000000000000002", "123456789012345.6", "NaN", "Infinity", "-",
]  # fmt: skip
number = st.sampled_from(NUMBERS) | st.from_regex(
    r"\A-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?\Z"
)
space = st.sampled_from(["", " ", "\n", "\t", "\r\n"])
scalar = number | st.sampled_from(['"a"', '"ü"', '"1.5e3"', '""', "true", "false", "null"])


def _array(items: list[str]) -> str:
    return "[" + ",".join(items) + "]"


def _object(pairs: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f'"{k}":{v}' for k, v in pairs) + "}"


value = st.recursive(
    scalar,
    lambda inner: (
        st.lists(inner, max_size=4).map(_array)
        | st.lists(st.tuples(st.sampled_from(["b", "a", "é", "a"]), inner), max_size=4).map(_object)
    ),
    max_leaves=12,
)
deep = st.integers(240, 1100).flatmap(
    lambda n: st.sampled_from(["[" * n + "]" * n, '{"a":' * n + "1" + "}" * n, "[" * n])
)
junk = st.text(alphabet='{}[]":,0123456789.eE-+ tnrulfasx\\', max_size=20)


@st.composite
def cells(draw: st.DrawFn) -> str | None:
    """A cell: valid JSON (maybe padded or cut), numbers, junk, deep nesting, null, blank."""
    kind = draw(st.sampled_from(["json", "json", "json", "cut", "junk", "deep", "null", "blank"]))
    if kind == "null":
        return None
    if kind == "blank":
        return draw(space)
    if kind == "junk":
        return draw(junk)
    text = draw(deep) if kind == "deep" else draw(space) + draw(value) + draw(space)
    if kind == "cut" and text:
        at = draw(st.integers(0, len(text) - 1))
        return text[:at] + text[at + 1 :]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(cells(), max_size=30))
def test_each_cell_is_what_canonical_json_gives(texts: list[str | None]) -> None:
    found, why = canonical_column(pl.Series("c0", texts, dtype=pl.String))
    assert list(zip(found.to_list(), why.to_list(), strict=True)) == [
        canonical_json(t) for t in texts
    ]
