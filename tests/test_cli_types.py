"""SPEC section 2's typing rule and section 10's columns report, through the real CLI.

Decimals of up to 15 significant digits are numbers (``272.20`` is sent as ``272.2``),
``true``/``false`` in any case and ``t``/``f`` are booleans, and the report says each
column's type as sent, its empty cells, and what kept a nearly typed column a string.
"""

from __future__ import annotations

import json
import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import polars as pl
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.cli_support import (
    BASE,
    block_bytes,
    check_rows,
    cio,
    dry_run,
    old,
    summary,
    write_csv,
)
from tests.fakecio import FakeCio

T = str(old())
NO_ENV: dict[str, str | None] = dict.fromkeys(
    ("CIO_SITE_ID", "CIO_API_KEY", "CIO_REGION", "CIO_BASE_URL", "CIO_API", "CIO_PIPELINES_KEY",
     "CIO_CONFIG"), None)  # fmt: skip


def attributes(out: bytes) -> list[str]:
    """The ``attributes`` object of each op in an ``--out`` file, as the bytes sent."""
    return re.findall(r'"attributes":(\{[^{}]*\})', out.decode())


def rows_of(*columns: list[str]) -> list[list[str]]:
    """Rows of BASE plus the given columns (one list of cells per column)."""
    return [["buy", f"u{i}", T, "p", *cells] for i, cells in enumerate(zip(*columns, strict=True))]


# -- the typing rule, as sent --------------------------------------------------------------


def test_decimals_with_trailing_zeros_and_booleans_are_sent_typed(tmp_path: Path) -> None:
    got = check_rows(tmp_path, [*BASE, "price", "qty", "paid", "first"], rows_of(
        ["272.20", "1.50", "200.00", "0.01"],
        ["1", "2", "", "40"],
        ["TRUE", "false", "False", "true"],
        ["t", "f", "", "t"],
    ))  # fmt: skip
    assert got.code == 0
    assert attributes(got.out_bytes) == [
        '{"first":true,"paid":true,"plan":"p","price":272.2,"qty":1}',
        '{"first":false,"paid":false,"plan":"p","price":1.5,"qty":2}',
        '{"paid":false,"plan":"p","price":200.0}',
        '{"first":true,"paid":true,"plan":"p","price":0.01,"qty":40}',
    ]


def test_integers_stay_as_written_in_a_column_with_decimals(tmp_path: Path) -> None:
    got = check_rows(tmp_path, [*BASE, "n"], rows_of(["200", "272.2", "-0", "9007199254740992",
                                                      "0.000001234"]))  # fmt: skip
    assert [a.split('"n":')[1].split(",")[0] for a in attributes(got.out_bytes)] == [
        "200", "272.2", "-0", "9007199254740992", "1.234e-6",
    ]  # fmt: skip
    assert got.summary["columns"]["n"]["type"] == "float"


def test_t_and_true_in_one_column_stay_strings(tmp_path: Path) -> None:
    got = check_rows(tmp_path, [*BASE, "flag", "sex"], rows_of(["t", "true", "f"], ["F", "F", "M"]))
    assert attributes(got.out_bytes) == [
        '{"flag":"t","plan":"p","sex":"F"}',
        '{"flag":"true","plan":"p","sex":"F"}',
        '{"flag":"f","plan":"p","sex":"M"}',
    ]
    only_f = check_rows(tmp_path, [*BASE, "sex"], rows_of(["F", "F"]))
    assert attributes(only_f.out_bytes)[0] == '{"plan":"p","sex":"F"}', "T/F are not booleans"


def test_values_a_double_cannot_hold_keep_the_column_strings(tmp_path: Path) -> None:
    tiny, huge = "0." + "0" * 320 + "1", "9" * 15 + "0" * 300 + ".0"
    zero = "0." + "0" * 330 + "1"  # its float is 0.0
    for cell in ("0.1234567890123456", tiny, zero, huge, "1e5", "01.5", "+1.5", ".5", "1."):
        got = check_rows(tmp_path, [*BASE, "x"], rows_of([cell, "1.5"]))
        assert [op["attributes"]["x"] for op in got.ops] == [cell, "1.5"], cell
    fine = check_rows(tmp_path, [*BASE, "x"], rows_of(["0." + "0" * 300 + "1", "123456789012345.0"]))
    assert [op["attributes"]["x"] for op in fine.ops] == [1e-301, 123456789012345.0]


def test_polars_writes_floats_as_orjson_does() -> None:
    """Decimals are sent as polars' Float64 -> String text: the same as orjson's."""
    texts = ["272.20", "200.0", "0.000001234", "123456789012345.0", "1e16", "0.1", "-2.5e-300"]
    floats = [float(t) for t in texts] + [1 / 3, 2**60 + 0.0, 5e-324, 1.7976931348623157e308]
    shown = pl.Series(floats).cast(pl.String).to_list()
    assert shown == [orjson.dumps(f).decode() for f in floats]


@settings(max_examples=200, deadline=None, database=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_polars_and_orjson_agree_on_any_float(x: float) -> None:
    assert pl.Series([x]).cast(pl.String).item() == orjson.dumps(x).decode()


# -- the rule round-trips: a hypothesis test through the CLI -------------------------------

INT = re.compile(r"-?(0|[1-9][0-9]*)")
DEC = re.compile(r"-?(0|[1-9][0-9]*)\.[0-9]+")
JUNK = ["n/a", "1e5", "01", "+3", " 5", "NULL", "T", "yes", "1,000", "0." + "0" * 330 + "1",
        "0." + "0" * 320 + "1", "1" + "0" * 400 + ".0"]


def is_number(cell: str) -> bool:
    """SPEC section 2, written plainly: an integer within 2**53 or a decimal a double holds."""
    if INT.fullmatch(cell):
        return abs(int(cell)) <= 2**53
    if not DEC.fullmatch(cell):
        return False
    digits = cell.replace("-", "").replace(".", "").strip("0")
    x = float(cell)
    normal = not digits or abs(x) >= sys.float_info.min  # not 0.0, not subnormal
    return len(digits) <= 15 and abs(x) < float("inf") and normal


def decimals() -> st.SearchStrategy[str]:
    """Plain decimals, trailing zeros and long fractions included."""
    whole = st.integers(0, 10**12).map(str)
    fraction = st.text("0123456789", min_size=1, max_size=8)
    sign = st.sampled_from(["", "-"])
    return st.builds(lambda s, w, f: f"{s}{w}.{f}", sign, whole, fraction)


def cells() -> st.SearchStrategy[list[str]]:
    """One column: a family of values, with empty cells and now and then a junk string."""
    ints = st.integers(-(2**54), 2**54).map(str)
    families = [
        st.one_of(decimals(), ints),
        ints,
        st.sampled_from(["true", "false", "TRUE", "False", "tRuE"]),
        st.sampled_from(["t", "f"]),
    ]
    column = st.sampled_from(families).flatmap(
        lambda fam: st.lists(st.one_of(fam, st.just(""), fam), min_size=1, max_size=12)
    )
    junk = st.lists(st.sampled_from(JUNK), max_size=1)
    return st.builds(lambda c, j: c + j, column, junk).flatmap(st.permutations)


def expected_kind(column: list[str]) -> str:
    """What SPEC section 2 makes of a column."""
    values = [c for c in column if c]
    if values and all(is_number(c) for c in values):
        fractions = [c.split(".")[1] for c in values if "." in c]
        padded = any(len(f) > 1 and f.endswith("0") for f in fractions)
        one_scale = len({len(f) for f in fractions}) == 1 and len(fractions) > 1
        return "string" if padded and not one_scale else "number"  # numbers keep their meaning
    if values and all(c.lower() in ("true", "false") for c in values):
        return "bool"
    if values and all(c in ("t", "f") for c in values):
        return "bool"
    return "string"


def same_value(cell: str, sent: Any, kind: str) -> bool:
    """Does what was sent parse back to the cell's value?"""
    if kind == "bool":
        return isinstance(sent, bool) and sent == (cell.lower() in ("true", "t"))
    if kind == "string":
        return isinstance(sent, str) and sent == cell
    if INT.fullmatch(cell):
        return type(sent) is int and sent == int(cell)
    return type(sent) is float and Decimal(cell) == Decimal(repr(sent))


@settings(max_examples=25, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
@given(column=cells())
def test_what_cio_sends_parses_back_to_the_same_values(tmp_path: Path, column: list[str]) -> None:
    got = check_rows(tmp_path, [*BASE, "x"], rows_of(column))
    assert got.code == 0
    kind = expected_kind(column)
    sent = [op["attributes"] for op in got.ops]
    assert len(sent) == len(column)
    for cell, attrs in zip(column, sent, strict=True):
        if not cell:
            assert "x" not in attrs, "empty cells are left out"
        else:
            assert same_value(cell, attrs["x"], kind), (cell, attrs["x"], kind)
    shown = got.summary["columns"]["x"]
    assert shown["empty"] == column.count("")
    assert shown["type"] in ({"int", "float"} if kind == "number" else {kind})


# -- the columns report --------------------------------------------------------------------


def human(path: Path, *flags: str) -> str:
    """The stderr of ``cio validate PATH`` (the summary table and the columns report)."""
    result = cio("validate", path, *flags)
    assert result.exit_code in (0, 1), result.stderr
    return result.stderr


def col(kind: str, empty: int = 0, blocker: int | None = None) -> dict[str, Any]:
    """One entry of ``columns`` in ``--json``."""
    return {"type": kind, "empty": empty, "blocker_row": blocker}


def test_a_null_blocked_price_names_its_row_and_the_null_value_flag(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", [*BASE, "price"], rows_of(["272.20", "", "NULL", "1.50"]))
    got = dry_run(path, command="validate")
    assert got.summary["columns"] == {"plan": col("string"), "price": col("string", 1, 4)}
    text = human(path)
    assert re.search(r"^price +string \* +1$", text, re.M), text
    assert (
        "* 'price' is sent as strings because of row 4 ('NULL'): pass --null-value NULL"
        " to send it as float"
    ) in text
    fixed = dry_run(path, "--null-value", "NULL", command="validate")
    assert fixed.summary["columns"]["price"] == col("float", 2)
    assert "sent as strings" not in human(path, "--null-value", "NULL")


def test_one_n_a_in_a_column_of_integers_names_the_type_flag(tmp_path: Path) -> None:
    qty = [str(i) for i in range(150)]
    qty[120] = "n/a"
    path = write_csv(tmp_path / "e.csv", [*BASE, "qty"], rows_of(qty))
    got = dry_run(path)
    assert got.summary["columns"]["qty"] == col("string", 0, 122)
    assert (
        "* 'qty' is sent as strings because of row 122 ('n/a'): pass --type qty=int to send"
        " it as int; rows that do not fit are then rejected"
    ) in human(path)
    typed = dry_run(path, "--type", "qty=int")
    assert typed.summary["columns"]["qty"] == col("int")
    assert typed.summary["rejected"] == 1 and typed.code == 1


def test_a_column_of_many_words_is_a_string_without_a_blocker(tmp_path: Path) -> None:
    qty = [str(i) for i in range(150)]
    qty[10] = qty[20] = "n/a"  # 2 of 150: over 1%
    got = check_rows(tmp_path, [*BASE, "qty"], rows_of(qty))
    assert got.summary["columns"]["qty"] == col("string")


def test_t_f_json_mapped_dropped_and_reserved_columns(tmp_path: Path) -> None:
    header = ["event_name", "user_id", "ts", "is_first", "props", "internal", "currency",
              "revenue", "recipient", "cost"]  # fmt: skip
    rows = [
        ["buy", "u1", T, "t", '{"a":1}', "x", "usd", "12.50", "a@example.com", "1.5"],
        ["buy", "u2", T, "f", "", "y", "EUR", "3", "", "T"],
    ]
    path = write_csv(tmp_path / "e.csv", header, rows)
    flags = ("--map", "event_name=_cio_name", "--map", "user_id=_cio_customer_id",
             "--map", "ts=_cio_timestamp", "--map", "internal=-", "--map", "cost=price",
             "--type", "props=json")  # fmt: skip
    got = dry_run(path, *flags)
    assert got.code == 0
    assert got.summary["columns"] == {
        "is_first": col("bool"),
        "props": col("json", 1),
        "currency": col("string"),
        "revenue": col("float"),
        "recipient": col("string", 1),
        "price": col("string"),
    }
    assert list(got.summary["columns"]) == ["is_first", "props", "currency", "revenue",
                                            "recipient", "price"], "header order"  # fmt: skip
    text = human(path, *flags)
    for line in (r"is_first +bool +0", r"props +json +1", r"revenue +float +0", r"price +string +0"):
        assert re.search(f"^{line}$", text, re.M), (line, text)
    strings = dry_run(path, *flags, "--types", "string")
    assert strings.summary["columns"]["is_first"] == col("string")


def test_several_files_give_one_report_merged_by_key(tmp_path: Path) -> None:
    a = write_csv(tmp_path / "a.csv", [*BASE, "n", "b"], rows_of(["1", ""], ["t", "f"]))
    b = write_csv(tmp_path / "b.csv", [*BASE, "n", "b"], rows_of(["1.5", ""], ["NULL", "t"]))
    result = cio("import", a, b, "--dry-run", "--json")
    assert summary(result)["columns"] == {
        "plan": col("string"),
        "n": col("float", 2),
        "b": col("string", 0, 2),
    }
    text = cio("validate", a, b).stderr
    assert f"* 'b' is sent as strings because of row 2 of {b} ('NULL'): pass --null-value" in text


def test_the_report_counts_across_chunks_with_file_row_numbers(tmp_path: Path) -> None:
    n = [str(i) for i in range(400)]
    n[350] = "2.5"  # an integer column turns float late: one read still does
    n[380] = "\\N"
    path = write_csv(tmp_path / "e.csv", [*BASE, "n"], rows_of(n))
    with block_bytes(2048) as chunks:
        got = dry_run(path)
    assert chunks and chunks[0] > 3, chunks
    assert got.summary["columns"]["n"] == col("string", 0, 382)
    with block_bytes(2048):
        fixed = dry_run(path, "--null-value", "\\N")
    assert fixed.summary["columns"]["n"] == col("float", 1)
    sent = [op["attributes"].get("n") for op in fixed.ops]
    assert sent[349:352] == [349, 2.5, 351]


def test_the_json_report_is_one_object_per_key(tmp_path: Path) -> None:
    got = check_rows(tmp_path, [*BASE, "a b", "é"], rows_of(["1", "2"], ["", ""]))
    raw = json.loads(got.result.stdout)["columns"]
    assert raw == {"plan": col("string"), "a b": col("int"), "é": col("string", 2)}


# -- the warehouse sample ------------------------------------------------------------------

SAMPLES = Path(__file__).resolve().parent.parent / "sample_csvs"
WAREHOUSE_FLAGS = ("--map", "event_name=_cio_name", "--map", "user_id=_cio_customer_id",
                   "--map", "occurred_at=_cio_timestamp", "--null-value", "NULL",
                   "--null-value", "\\N", "--type", "properties=json")  # fmt: skip


def test_the_warehouse_sample_imports_as_it_is_with_its_config_file(tmp_path: Path) -> None:
    path = tmp_path / "warehouse_export.csv"
    path.write_bytes((SAMPLES / "warehouse_export.csv").read_bytes())
    config = str(SAMPLES / "warehouse_export.toml")
    by_file = dry_run(path, "--config", config)
    assert by_file.code == 0, by_file.result.stderr
    s = by_file.summary
    assert (s["rows"], s["sent"], s["rejected"], s["recent"], s["warnings"]) == (30, 30, 0, 0, {})
    assert s["columns"] == {
        "product": col("string"),
        "price": col("float", 4),
        "currency": col("string", 4),
        "properties": col("json", 7),
        "is_first_purchase": col("bool", 7),
    }
    assert dry_run(path, *WAREHOUSE_FLAGS).out_bytes == by_file.out_bytes
    first = by_file.ops[0]
    assert first["timestamp"] == 1709287200, "2024-03-01 10:00:00 UTC"
    assert first["attributes"] == {"currency": "USD", "is_first_purchase": True, "price": 272.2,
                                   "product": "Standing Desk",
                                   "properties": {"coupon": "SPRING10", "items": 1}}  # fmt: skip
    validated = cio("validate", path, "--config", config)
    assert validated.exit_code == 0 and "sent as strings" not in validated.stderr
    maps_only = cio("validate", path, *WAREHOUSE_FLAGS[:6]).stderr
    assert "* 'price' is sent as strings because of row 4 ('NULL'): pass --null-value NULL" in (
        maps_only
    )


def test_one_capital_t_in_a_t_f_column_names_the_bool_flag(tmp_path: Path) -> None:
    first = ["t", "f"] * 75
    first[99] = "T"
    path = write_csv(tmp_path / "e.csv", [*BASE, "first"], rows_of(first))
    assert dry_run(path).summary["columns"]["first"] == col("string", 0, 101)
    assert (
        "* 'first' is sent as strings because of row 101 ('T'): pass --type first=bool to send"
        " it as bool; rows that do not fit are then rejected"
    ) in human(path)
    typed = dry_run(path, "--type", "first=bool")
    assert typed.summary["columns"]["first"] == col("bool") and typed.code == 0
    assert [op["attributes"]["first"] for op in typed.ops][96:100] == [True, False, True, True], "T is true"


def test_a_real_import_reports_its_columns_and_sends_them_typed(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    path = write_csv(tmp_path / "e.csv", [*BASE, "price", "paid"],
                     rows_of(["272.20", "NULL"], ["t", "f"]))  # fmt: skip
    result = cio("import", path, "--base-url", fake_cio.url, "--site-id", "site", "--api-key",
                 "key", "--json", "--quiet", env=NO_ENV)  # fmt: skip
    s = summary(result)
    assert result.exit_code == 0 and s["sent"] == 2
    assert s["columns"] == {"plan": col("string"), "price": col("string", 0, 3),
                            "paid": col("bool")}  # fmt: skip
    assert sorted(e["attributes"]["paid"] for e in fake_cio.events) == [False, True]
    again = cio("import", path, "--base-url", fake_cio.url, "--site-id", "site", "--api-key",
                "key", env=NO_ENV)  # fmt: skip
    assert again.exit_code == 0 and "already imported" in again.stderr
    assert "* 'price' is sent as strings because of row 3 ('NULL')" in again.stderr
