"""``cio import --dry-run --out``: request bodies, typing, packing, ids, the 72-hour window,
the ``--json`` summary and ``--help``.

SPEC sections 1, 2 (values), 3 (window, dedup ids), 4 (bodies and sizes), 5 (rejects
re-import) and 6 (summary, exit codes).
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.cli_support import (
    BASE,
    SUMMARY_KEYS,
    assert_accounting,
    block_bytes,
    check_rows,
    cio,
    csv_text,
    dry_run,
    is_ulid,
    old,
    read_out,
    read_rejects,
    recent,
    summary,
    write_csv,
    write_raw,
)
from tests.fakecio import FakeCio

T = old(10)


# -- the op ------------------------------------------------------------------------


def test_batch_body_bytes_are_exact(tmp_path: Path) -> None:
    out = check_rows(tmp_path, BASE, [["signup", "u1", str(T), "pro"]])
    assert out.code == 0
    (op,) = out.ops
    assert is_ulid(op["id"])
    expected = (
        '{"batch":[{"type":"person","action":"event","identifiers":{"id":"u1"},'
        f'"name":"signup","id":"{op["id"]}","timestamp":{T},"attributes":{{"plan":"pro"}}}}]}}\n'
    )
    assert out.out_bytes == expected.encode()
    assert out.summary["requests"] == 1 and out.summary["sent"] == 1


def test_op_shape_for_each_identifier_kind_and_without_timestamp(tmp_path: Path) -> None:
    rows = [["a", "u1", str(T), "x"], ["b", "cio_9", "", "y"], ["c", "u3", "", ""]]
    out = check_rows(tmp_path, BASE, rows)
    assert out.code == 0
    ids = [op.pop("id") for op in out.ops]
    assert all(is_ulid(i) for i in ids) and len(set(ids)) == 3
    assert out.ops == [
        {"type": "person", "action": "event", "identifiers": {"id": "u1"}, "name": "a",
         "timestamp": T, "attributes": {"plan": "x"}},
        {"type": "person", "action": "event", "identifiers": {"cio_id": "cio_9"}, "name": "b",
         "attributes": {"plan": "y"}},
        {"type": "person", "action": "event", "identifiers": {"id": "u3"}, "name": "c",
         "attributes": {}},
    ]  # fmt: skip
    emails = check_rows(tmp_path, BASE, [["a", "ann@example.com", str(T), "x"]])
    assert emails.ops[0]["identifiers"] == {"email": "ann@example.com"}


def test_compact_json_and_unescaped_non_ascii(tmp_path: Path) -> None:
    header = [*BASE, "note"]
    rows = [["café ☕", "ü1", str(T), "naïve, \"quoted\"", "tab\there\\back\nnl 😀"]]
    out = check_rows(tmp_path, header, rows)
    assert out.code == 0
    raw = out.out_bytes
    assert "café ☕".encode() in raw and "😀".encode() in raw
    assert b"\\u" not in raw, "non-ASCII is not escaped"
    assert b'"plan":"na\xc3\xafve, \\"quoted\\""' in raw
    (op,) = out.ops
    assert op["attributes"]["note"] == "tab\there\\back\nnl 😀"
    assert op["identifiers"] == {"id": "ü1"}
    assert json.dumps(out.lines[0], separators=(",", ":"), ensure_ascii=False).encode() + b"\n" == raw


# -- types ---------------------------------------------------------------------------

TYPE_CASES: list[tuple[str, list[str], list[Any]]] = [
    ("integers and decimals are numbers", ["23.45", "200", "-7", "0"], [23.45, 200, -7, 0]),
    ("plain decimals", ["0.1", "-2.5", "3.0"], [0.1, -2.5, 3.0]),
    ("trailing zeros of one scale are numbers", ["1.50", "2", "272.20", "200.00"],
     [1.5, 2, 272.2, 200.0]),
    ("a trailing zero among other scales keeps strings", ["2.9", "2.10", "3"],
     ["2.9", "2.10", "3"]),
    ("16 significant digits keep strings", ["0.1234567890123456", "1"],
     ["0.1234567890123456", "1"]),
    ("1e5 keeps strings", ["1e5", "2"], ["1e5", "2"]),
    ("01234 keeps strings", ["01234", "2"], ["01234", "2"]),
    ("+3 keeps strings", ["+3", "2"], ["+3", "2"]),
    ("1,000 keeps strings", ["1,000", "2"], ["1,000", "2"]),
    ("007 keeps strings", ["007", "1"], ["007", "1"]),
    ("one word keeps strings", ["12", "n/a"], ["12", "n/a"]),
    ("true/false are booleans", ["true", "false", "true"], [True, False, True]),
    ("booleans in any case", ["true", "False", "TRUE"], [True, False, True]),
    ("t/f are booleans", ["t", "f", "t"], [True, False, True]),
    ("T/F keep strings", ["T", "F"], ["T", "F"]),
    ("t and true do not mix", ["t", "true"], ["t", "true"]),
    ("booleans and numbers mixed", ["true", "1"], ["true", "1"]),
    ("spaces keep strings", [" 5", "6"], [" 5", "6"]),
]


@pytest.mark.parametrize(("values", "expected"), [c[1:] for c in TYPE_CASES],
                         ids=[c[0] for c in TYPE_CASES])  # fmt: skip
def test_type_inference(tmp_path: Path, values: list[str], expected: list[Any]) -> None:
    header = [*BASE, "amount"]
    rows = [["e", f"u{i}", str(T), "p", v] for i, v in enumerate(values)]
    out = check_rows(tmp_path, header, rows)
    assert out.code == 0
    got = [op["attributes"]["amount"] for op in out.ops]
    assert got == expected
    assert [type(g) for g in got] == [type(e) for e in expected]
    decoded = out.out_bytes.decode()
    for want in expected:  # integers as written, decimals in their shortest form
        assert f'"amount":{json.dumps(want)}' in decoded


def test_types_string_keeps_every_value_a_string(tmp_path: Path) -> None:
    header = [*BASE, "amount", "flag"]
    rows = [["e", "u1", str(T), "p", "23.45", "true"], ["e", "u2", str(T), "p", "200", "false"]]
    out = check_rows(tmp_path, header, rows, "--types", "string")
    assert [op["attributes"] for op in out.ops] == [
        {"plan": "p", "amount": "23.45", "flag": "true"},
        {"plan": "p", "amount": "200", "flag": "false"},
    ]  # fmt: skip


def test_inference_ignores_ragged_rows_but_not_other_rejects(tmp_path: Path) -> None:
    header = [*BASE, "amount", "count"]
    rows = [["e", "u1", str(T), "p", "5", "1"], ["e", "u2", str(T), "p", "abc", "2", "extra"],
            ["", "u3", str(T), "p", "6", "n/a"]]  # fmt: skip
    out = check_rows(tmp_path, header, rows)
    assert out.code == 1
    assert out.ops[0]["attributes"] == {"plan": "p", "amount": 5, "count": "1"}


def test_inference_sees_the_whole_file_across_chunks(tmp_path: Path) -> None:
    header = [*BASE, "amount", "flag"]
    rows = [["e", f"u{i}", str(T - i), "p" * 20, str(i), "true"] for i in range(600)]
    rows.append(["e", "last", str(T), "p", "n/a", "maybe"])
    path = write_csv(tmp_path / "late.csv", header, rows)
    with block_bytes(4096) as chunks:
        out = dry_run(path)
    assert chunks and min(chunks) > 5
    assert out.ops[0]["attributes"] == {"plan": "p" * 20, "amount": "0", "flag": "true"}
    assert all(isinstance(op["attributes"]["amount"], str) for op in out.ops)


SINGLE_OVERRIDES: list[tuple[str, list[str], list[Any], list[str]]] = [
    ("json", ['{"b":[1,2,{"c":null}],"a":"x"}', "[1, 2]", "3", '"s"'],
     [{"b": [1, 2, {"c": None}], "a": "x"}, [1, 2], 3, "s"], ["{not json", "nope"]),
    ("int", ["007", "12", "-3"], [7, 12, -3], ["1.5", "abc"]),
    ("float", ["1", "2.5", "-0.25"], [1.0, 2.5, -0.25], ["abc"]),
    ("bool", ["true", "false"], [True, False], ["maybe"]),
    ("string", ["200", "true", "1.5"], ["200", "true", "1.5"], []),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "good", "expected", "bad"), SINGLE_OVERRIDES,
                         ids=[c[0] for c in SINGLE_OVERRIDES])  # fmt: skip
def test_type_override(tmp_path: Path, kind: str, good: list[str], expected: list[Any],
                       bad: list[str]) -> None:  # fmt: skip
    header = [*BASE, "col"]
    rows = [["e", f"u{i}", str(T), "p", v] for i, v in enumerate(good + bad)]
    out = check_rows(tmp_path, header, rows, "--type", f"col={kind}")
    assert out.code == (1 if bad else 0)
    got = [op["attributes"]["col"] for op in out.ops]
    assert got == expected
    assert [type(g) for g in got] == [type(e) for e in expected]
    assert sorted(out.reasons) == list(range(2 + len(good), 2 + len(good) + len(bad)))
    for row, cell in zip(sorted(out.reasons), bad, strict=True):
        assert out.reasons[row].startswith(f"col {cell!r} is not")
        assert f"--type col={kind}" in out.reasons[row]


def test_type_overrides(tmp_path: Path) -> None:
    header = [*BASE, "meta", "zip", "ratio", "ok", "code"]
    rows = [
        ["e", "u1", str(T), "p", '{"b":[1,2,{"c":null}],"a":"x"}', "007", "1", "true", "200"],
        ["e", "u2", str(T), "p", "[1, 2]", "12", "2.5", "false", "300"],
        ["e", "u3", str(T), "p", "{not json", "", "", "", ""],
        ["e", "u4", str(T), "p", "", "1.5", "", "", ""],
        ["e", "u5", str(T), "p", "", "", "abc", "", ""],
        ["e", "u6", str(T), "p", "", "", "", "maybe", ""],
    ]
    flags = ["--type", "meta=json", "--type", "zip=int", "--type", "ratio=float",
             "--type", "ok=bool", "--type", "code=string"]  # fmt: skip
    out = check_rows(tmp_path, header, rows, *flags)
    assert out.code == 1
    first, second = (op["attributes"] for op in out.ops)
    assert first == {"plan": "p", "meta": {"b": [1, 2, {"c": None}], "a": "x"}, "zip": 7,
                     "ratio": 1.0, "ok": True, "code": "200"}  # fmt: skip
    assert second == {"plan": "p", "meta": [1, 2], "zip": 12, "ratio": 2.5, "ok": False,
                      "code": "300"}  # fmt: skip
    assert isinstance(first["zip"], int) and isinstance(first["ratio"], float)
    assert sorted(out.reasons) == [4, 5, 6, 7]
    assert "meta '{not json'" in out.reasons[4] and "JSON" in out.reasons[4]
    assert "zip '1.5'" in out.reasons[5]
    assert "ratio 'abc'" in out.reasons[6]
    assert "ok 'maybe'" in out.reasons[7]


@pytest.mark.parametrize("flag", ["nosuch=int", "plan=decimal", "plan", "_cio_name=int"])
def test_bad_type_override_is_a_usage_error(tmp_path: Path, flag: str) -> None:
    path = write_csv(tmp_path / "e.csv", BASE, [["e", "u1", str(T), "p"]])
    result = cio("import", path, "--dry-run", "--type", flag)
    assert result.exit_code == 2, result.stderr
    assert "--type" in result.stderr


@pytest.mark.parametrize("key", ["recipient", "from_address", "reply_to", "currency", "revenue", "value"])
def test_type_override_on_a_reserved_key_is_a_usage_error(tmp_path: Path, key: str) -> None:
    cell = {"currency": "USD", "revenue": "12.5", "value": "3"}.get(key, "a@example.com")
    path = write_csv(tmp_path / "e.csv", [*BASE, key], [["e", "u1", str(T), "p", cell]])
    for kind in ("int", "json", "string"):
        result = cio("import", path, "--dry-run", "--type", f"{key}={kind}")
        assert result.exit_code == 2, result.stderr
        assert f"--type {key}={kind}: {key} is a reserved key whose type is fixed" in result.stderr
        assert f"leave out --type {key}" in result.stderr


def test_empty_cells_are_left_out_and_dotted_keys_stay_flat(tmp_path: Path) -> None:
    header = [*BASE, "property.subproperty", "a.b.c", "empty"]
    rows = [["e", "u1", str(T), "", "x", "1", ""], ["e", "u2", str(T), "p", "", "", ""]]
    out = check_rows(tmp_path, header, rows)
    assert [op["attributes"] for op in out.ops] == [
        {"property.subproperty": "x", "a.b.c": 1}, {"plan": "p"}
    ]  # fmt: skip


def test_empty_cells_are_left_out_when_the_column_needs_escaping(tmp_path: Path) -> None:
    """A column whose other cells hold quotes, backslashes or newlines: empty is still absent."""
    rows = [["e", "u1", str(T), 'say "hi"'], ["e", "u2", str(T), ""], ["e", "u3", str(T), "a\nb"],
            ["e", "u4", str(T), ""]]  # fmt: skip
    out = check_rows(tmp_path, BASE, rows)
    assert [op["attributes"] for op in out.ops] == [{"plan": 'say "hi"'}, {}, {"plan": "a\nb"}, {}]
    assert b"null" not in out.out_bytes


def test_ids_do_not_depend_on_neighbouring_rows(tmp_path: Path) -> None:
    """The same row gets the same id whatever else is in the file."""
    alone = check_rows(tmp_path, BASE, [["e", "u1", str(T), ""]])
    with_quotes = check_rows(tmp_path, BASE, [["e", "u1", str(T), ""], ["e", "u2", str(T), '"']])
    assert with_quotes.ops[0]["id"] == alone.ops[0]["id"]


def test_headers_are_used_as_written(tmp_path: Path) -> None:
    header = [*BASE, "First Name", "café", " spaced "]
    out = check_rows(tmp_path, header, [["e", "u1", str(T), "p", "Ann", "x", "y"]])
    assert out.ops[0]["attributes"] == {"plan": "p", "First Name": "Ann", "café": "x", " spaced ": "y"}


# -- packing -------------------------------------------------------------------------


def test_batch_bytes_splits_bodies(tmp_path: Path) -> None:
    rows = [["evt", f"user-{i}", str(T - i), f"plan {i} " + "x" * (i % 40)] for i in range(300)]
    path = write_csv(tmp_path / "many.csv", BASE, rows)
    single = dry_run(path)
    assert len(single.lines) == 1
    split = dry_run(path, "--batch-bytes", "2000")
    raw_lines = split.out_bytes.splitlines()
    assert len(raw_lines) > 10
    assert all(len(line) <= 2000 for line in raw_lines)
    assert all(set(line) == {"batch"} for line in split.lines)
    assert split.ops == single.ops, "same ops, same order, only cut differently"
    assert split.summary["requests"] == len(raw_lines)
    assert split.summary["sent"] == 300


def test_default_batch_bytes_stays_under_475000(tmp_path: Path) -> None:
    rows = [["evt", f"user-{i}", str(T - i), "y" * 200] for i in range(4000)]
    out = dry_run(write_csv(tmp_path / "big.csv", BASE, rows))
    raw_lines = out.out_bytes.splitlines()
    assert len(raw_lines) >= 2
    assert all(len(line) <= 475_000 for line in raw_lines)
    assert len(out.ops) == 4000


@pytest.mark.parametrize("value", ["999", "500001", "-1"])
def test_batch_bytes_out_of_range_is_a_usage_error(tmp_path: Path, value: str) -> None:
    path = write_csv(tmp_path / "e.csv", BASE, [["e", "u1", str(T), "p"]])
    result = cio("import", path, "--dry-run", "--batch-bytes", value)
    assert result.exit_code == 2


def test_large_op_goes_alone_through_v1(tmp_path: Path) -> None:
    big = "x" * 33_000
    rows = [["small", "u0", str(T), "p"], ["big", "user/1 #2 ü", str(T), big],
            ["big", "cio_7", "", big], ["small", "u3", str(T), "q"]]  # fmt: skip
    out = check_rows(tmp_path, BASE, rows)
    assert out.code == 0
    v1 = [line for line in out.lines if "path" in line]
    assert [op["identifiers"]["id"] for op in out.ops] == ["u0", "u3"]
    assert len(v1) == 2 and out.summary["sent"] == 4 and out.summary["requests"] == 3
    first, second = v1
    assert set(first) == {"path", "body"}
    assert first["path"] == "/api/v1/customers/user%2F1%20%232%20%C3%BC/events"
    assert set(first["body"]) == {"name", "data", "timestamp", "id"}
    assert first["body"]["name"] == "big" and first["body"]["data"] == {"plan": big}
    assert first["body"]["timestamp"] == T and is_ulid(first["body"]["id"])
    assert second["path"] == "/api/v1/customers/cio_7/events"
    assert set(second["body"]) == {"name", "data", "id"}, "no timestamp key without one"
    for raw in out.out_bytes.splitlines():
        assert b": " not in raw[:200] and b", " not in raw[:200], "compact JSON"


def test_op_over_batch_bytes_goes_through_v1(tmp_path: Path) -> None:
    rows = [["e", "u1", str(T), "x" * 1500], ["e", "u2", str(T), "small"]]
    out = check_rows(tmp_path, BASE, rows, "--batch-bytes", "1000")
    paths = [line.get("path") for line in out.lines]
    assert "/api/v1/customers/u1/events" in paths
    assert [op["identifiers"]["id"] for op in out.ops] == ["u2"]
    assert all(len(raw) <= 1000 for raw in out.out_bytes.splitlines() if raw.startswith(b'{"batch"'))


def test_v1_op_and_batch_ids_agree(tmp_path: Path) -> None:
    """The same event has the same id whichever endpoint carries it."""
    rows = [["e", "u1", str(T), "x" * 1500]]
    via_v1 = check_rows(tmp_path, BASE, rows, "--batch-bytes", "1000")
    via_v2 = check_rows(tmp_path, BASE, rows)
    assert via_v1.lines[0]["body"]["id"] == via_v2.ops[0]["id"]


# -- ids and duplicates --------------------------------------------------------------


def test_ids_are_deterministic_and_duplicates_counted(tmp_path: Path) -> None:
    rows = [["e", "u1", str(T), "p"], ["e", "u2", str(T), "p"], ["e", "u1", str(T), "p"],
            ["  e ", " u1", str(T), "p"], ["e", "u1", str(T), "other"], ["e", "u1", str(T + 1), "p"],
            ["e", "u1", "", "p"], ["e", "u1", "", "p"]]  # fmt: skip
    path = write_csv(tmp_path / "dup.csv", BASE, rows)
    first = dry_run(path)
    second = dry_run(path)
    assert first.out_bytes == second.out_bytes
    assert first.summary["duplicates"] == 3
    assert first.summary["sent"] == 5
    assert first.summary["rejected"] == 0
    ids = [op["id"] for op in first.ops]
    assert len(set(ids)) == 5
    assert [op["identifiers"]["id"] for op in first.ops] == ["u1", "u2", "u1", "u1", "u1"]


def test_ids_do_not_depend_on_column_order_file_name_or_chunking(tmp_path: Path) -> None:
    header = [*BASE, "amount"]
    rows = [["e", f"u{i}", str(T - i), f"p{i}", str(i)] for i in range(200)]
    a = dry_run(write_csv(tmp_path / "a.csv", header, rows))
    order = [4, 3, 1, 2, 0]
    b = dry_run(write_csv(tmp_path / "b.csv", [header[i] for i in order],
                          [[r[i] for i in order] for r in rows]))  # fmt: skip
    with block_bytes(1024):
        c = dry_run(tmp_path / "a.csv", "--batch-bytes", "3000")
    ids = [op["id"] for op in a.ops]
    assert [op["id"] for op in b.ops] == ids
    assert [op["id"] for op in c.ops] == ids
    assert a.out_bytes == b.out_bytes


def test_duplicates_across_chunks(tmp_path: Path) -> None:
    rows = [["e", f"u{i % 700}", str(T - i % 700), f"p{i % 700}"] for i in range(2100)]
    path = write_csv(tmp_path / "dups.csv", BASE, rows)
    whole = dry_run(path)
    with block_bytes(2048) as chunks:
        chunked = dry_run(path)
    assert chunks and min(chunks) > 10
    for out in (whole, chunked):
        assert out.summary["sent"] == 700 and out.summary["duplicates"] == 1400
        assert [op["identifiers"]["id"] for op in out.ops] == [f"u{i}" for i in range(700)]
    assert chunked.out_bytes == whole.out_bytes


def test_given_ids_make_otherwise_identical_rows_distinct(tmp_path: Path) -> None:
    header = [*BASE, "_cio_id"]
    rows = [["e", "u1", str(T), "p", "01ARZ3NDEKTSV4RRFFQ69G5FAV"],
            ["e", "u1", str(T), "p", "01ARZ3NDEKTSV4RRFFQ69G5FAW"],
            ["e", "u1", str(T), "p", "01ARZ3NDEKTSV4RRFFQ69G5FAW"]]  # fmt: skip
    out = check_rows(tmp_path, header, rows)
    assert [op["id"] for op in out.ops] == ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "01ARZ3NDEKTSV4RRFFQ69G5FAW"]
    assert out.summary["duplicates"] == 1


# -- rejects file round trip ---------------------------------------------------------


def test_rejects_file_can_be_fixed_and_reimported_as_is(tmp_path: Path) -> None:
    header = [*BASE, "amount"]
    rows = [["e", "u1", str(T), "p", "5"], ["", "u2", str(T), "p", "6"],
            ["e", "u3", "yesterday", "p", "7"], ["e", "u4", str(T), "p", "8"]]  # fmt: skip
    path = write_csv(tmp_path / "events.csv", header, rows)
    first = dry_run(path)
    assert first.code == 1
    rejects = tmp_path / "events.csv.rejects.csv"
    rej_header, rej_rows = read_rejects(rejects)
    assert rej_header == [*header, "_cio_row", "_cio_error"]
    fixed_rows = [dict(r) for r in rej_rows]
    fixed_rows[0]["_cio_name"] = "e"
    fixed_rows[1]["_cio_timestamp"] = str(T)
    fixed = write_csv(tmp_path / "fixed.csv", rej_header, [[r[h] for h in rej_header] for r in fixed_rows])
    again = dry_run(fixed)
    assert again.code == 0
    assert [op["attributes"] for op in again.ops] == [{"plan": "p", "amount": 6}, {"plan": "p", "amount": 7}]
    reference = dry_run(write_csv(tmp_path / "ref.csv", header,
                                  [["e", "u2", str(T), "p", "6"], ["e", "u3", str(T), "p", "7"]]))  # fmt: skip
    assert [op["id"] for op in again.ops] == [op["id"] for op in reference.ops], \
        "the old _cio_row/_cio_error cells play no part in the event"  # fmt: skip


def test_rejects_of_a_rejects_file_replace_the_old_columns(tmp_path: Path) -> None:
    header = [*BASE, "_cio_row", "_cio_error"]
    rows = [["", "u1", str(T), "p", "7", "_cio_name is empty"], ["e", "u2", str(T), "p", "9", "old"]]
    out = check_rows(tmp_path, header, rows)
    assert out.code == 1
    assert out.ops[0]["attributes"] == {"plan": "p"}
    assert out.rejects_header == [*BASE, "_cio_row", "_cio_error"]
    assert out.rejects == [{"_cio_name": "", "_cio_customer_id": "u1", "_cio_timestamp": str(T),
                            "plan": "p", "_cio_row": "2", "_cio_error": "_cio_name is empty"}]  # fmt: skip


def test_rejects_columns_are_in_input_order_with_raw_text(tmp_path: Path) -> None:
    header = ["plan", "_cio_timestamp", "_cio_customer_id", "amount", "_cio_name"]
    rows = [["p", f" {T} ", "  u1 ", "0012", ""]]
    out = check_rows(tmp_path, header, rows)
    assert out.rejects_header == [*header, "_cio_row", "_cio_error"]
    assert [out.rejects[0][h] for h in header] == rows[0]


# -- the 72-hour window --------------------------------------------------------------


def window_rows() -> list[list[str]]:
    """Rows 2..8: old, recent, none, 71 h, 73 h, ms recent, ISO recent."""
    return [
        ["old", "u1", str(T), "p"],
        ["recent", "u2", str(recent(1)), "p"],
        ["none", "u3", "", "p"],
        ["edge-in", "u4", str(recent(71)), "p"],
        ["edge-out", "u5", str(recent(73)), "p"],
        ["ms", "u6", str(recent(2) * 1000), "p"],
        ["old2", "u7", str(T - 5), "p"],
    ]


def test_window_is_reported_and_included_by_default(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "w.csv", BASE, window_rows())
    out = dry_run(path)
    assert out.code == 0, "dry run exits as if --allow-recent"
    assert out.summary["recent"] == 4
    assert out.summary["skipped_recent"] == 0
    assert [op["name"] for op in out.ops] == ["old", "recent", "none", "edge-in", "edge-out", "ms", "old2"]
    human = cio("import", path, "--dry-run")
    assert human.exit_code == 0
    assert "4 event(s) have no timestamp or one within the last 72 hours (rows 3, 4, 5, 7)" in human.stderr
    assert "--allow-recent" in human.stderr and "--skip-recent" in human.stderr
    checked = cio("validate", path, "--json")
    assert checked.exit_code == 0
    assert summary(checked)["recent"] == 4


def test_window_lists_only_the_first_rows(tmp_path: Path) -> None:
    rows = [["e", f"u{i}", "", "p"] for i in range(12)]
    path = write_csv(tmp_path / "w.csv", BASE, rows)
    result = cio("validate", path)
    assert result.exit_code == 0
    assert "12 event(s)" in result.stderr
    assert "(rows 2, 3, 4, 5, 6, ...)" in result.stderr


def test_skip_recent_moves_window_rows_to_rejects(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "w.csv", BASE, window_rows())
    out = dry_run(path, "--skip-recent")
    assert out.code == 0, "rows left out by an explicit --skip-recent alone exit 0 (SPEC 6)"
    assert out.summary["skipped_recent"] == 4
    assert out.summary["recent"] == 4, "recent counts the rows before any skip"
    assert out.summary["sent"] == 3 and out.summary["rejected"] == 0
    assert [op["name"] for op in out.ops] == ["old", "edge-out", "old2"]
    assert sorted(out.reasons) == [3, 4, 5, 7]
    assert all("72 hours" in r and "--allow-recent" in r for r in out.reasons.values())
    assert [r["_cio_name"] for r in out.rejects] == ["recent", "none", "edge-in", "ms"]


def test_skip_recent_with_invalid_rows(tmp_path: Path) -> None:
    rows = [*window_rows(), ["", "u8", "", "p"]]
    out = check_rows(tmp_path, BASE, rows, "--skip-recent")
    assert out.code == 1, "a rejected row still makes exit 1"
    assert out.summary["rejected"] == 1 and out.summary["skipped_recent"] == 4
    assert out.summary["recent"] == 4, "an invalid row is not counted in the window"
    assert sorted(out.reasons) == [3, 4, 5, 7, 9]


def test_allow_and_skip_recent_together_is_a_usage_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "w.csv", BASE, window_rows())
    result = cio("import", path, "--dry-run", "--allow-recent", "--skip-recent")
    assert result.exit_code == 2


def test_real_import_refuses_the_window_without_a_terminal(tmp_path: Path, fake_cio: FakeCio) -> None:
    path = write_csv(tmp_path / "w.csv", BASE, window_rows())
    secret = "sekrit-api-key-4711"
    env: dict[str, str | None] = {"CIO_SITE_ID": "site-id-0815", "CIO_API_KEY": secret,
                                  "CIO_BASE_URL": fake_cio.url}  # fmt: skip
    result = cio("import", path, env=env)
    if result.exit_code == 2 and "not built" in result.stderr:
        pytest.skip("sending is not built yet, and it refuses before the window check: "
                    + result.stderr.strip())  # fmt: skip
    assert result.exit_code == 4, result.stderr
    assert "--allow-recent" in result.stderr and "--skip-recent" in result.stderr
    assert "rows 3, 4, 5, 7" in result.stderr
    assert fake_cio.requests == [], "nothing is sent"
    assert secret not in result.stderr + result.stdout


# -- --json, several files, usage ----------------------------------------------------


def test_json_summary_keys_and_counts(tmp_path: Path) -> None:
    rows = [*window_rows(), ["", "u9", str(T), "p"], ["old", "u1", str(T), "p"],
            ["signed up", "u10", str(T), "p"]]  # fmt: skip
    path = write_csv(tmp_path / "s.csv", BASE, rows)
    out_file = tmp_path / "out.ndjson"
    result = cio("import", path, "--dry-run", "--json", "--out", out_file, "--skip-recent")
    assert result.exit_code == 1
    s = summary(result)
    assert set(s) == SUMMARY_KEYS
    assert s["command"] == "import" and s["files"] == [str(path)] and s["dry_run"] is True
    assert (s["rows"], s["sent"], s["rejected"], s["skipped_recent"], s["duplicates"]) == (10, 4, 1, 4, 1)
    assert s["recent"] == 4 and s["resumed"] == 0 and s["retries"] == 0
    assert s["warnings"] == {"name_format": 1, "timestamp_ms": 1}
    assert s["errors"] == {"name_empty": 1}
    assert s["requests"] == len(read_out(out_file)) == 1
    assert s["rejects_file"] == str(tmp_path / "s.csv.rejects.csv")
    assert s["exit_code"] == 1
    assert isinstance(s["duration_s"], float | int) and s["duration_s"] >= 0
    assert isinstance(s["events_per_s"], float | int)
    assert_accounting(s)
    assert result.stderr == "", "--json prints nothing for people but errors"


def test_quiet_still_prints_the_summary_table(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "q.csv", BASE, [["e", "u1", str(T), "p"]])
    result = cio("import", path, "--dry-run", "--quiet")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "rows" in result.stderr and "exit code" in result.stderr


def test_several_files_share_one_out_and_keep_their_own_rejects(tmp_path: Path) -> None:
    a = write_csv(tmp_path / "a.csv", BASE, [["e", "u1", str(T), "p"], ["", "u2", str(T), "p"]])
    b = write_csv(tmp_path / "b.csv", BASE, [["e", "u3", str(T), "q"], ["", "u4", str(T), "q"],
                                             ["e", "u1", str(T), "p"]])  # fmt: skip
    out_file = tmp_path / "out.ndjson"
    result = cio("import", a, b, "--dry-run", "--json", "--out", out_file)
    assert result.exit_code == 1
    s = summary(result)
    assert s["files"] == [str(a), str(b)]
    assert s["rows"] == 5 and s["rejected"] == 2
    assert_accounting(s)
    ids = [op["identifiers"]["id"] for line in read_out(out_file) for op in line["batch"]]
    assert ids[:2] == ["u1", "u3"]
    assert sorted(s["rejects_file"]) == sorted([str(tmp_path / "a.csv.rejects.csv"),
                                               str(tmp_path / "b.csv.rejects.csv")])  # fmt: skip
    assert [r["_cio_customer_id"] for r in read_rejects(tmp_path / "a.csv.rejects.csv")[1]] == ["u2"]
    assert [r["_cio_customer_id"] for r in read_rejects(tmp_path / "b.csv.rejects.csv")[1]] == ["u4"]


def test_one_unimportable_file_stops_all_before_anything(tmp_path: Path) -> None:
    good = write_csv(tmp_path / "good.csv", BASE, [["e", "u1", str(T), "p"], ["", "u2", str(T), "p"]])
    mixed = write_csv(tmp_path / "mixed.csv", BASE, [["e", "u1", str(T), "p"], ["e", "a@b.co", str(T), "p"]])
    out_file = tmp_path / "out.ndjson"
    result = cio("import", good, mixed, "--dry-run", "--out", out_file)
    assert result.exit_code == 3
    assert not out_file.exists() or out_file.read_bytes() == b""
    assert not (tmp_path / "good.csv.rejects.csv").exists()


def test_rejects_option_with_several_files_is_a_usage_error(tmp_path: Path) -> None:
    a = write_csv(tmp_path / "a.csv", BASE, [["e", "u1", str(T), "p"]])
    b = write_csv(tmp_path / "b.csv", BASE, [["e", "u2", str(T), "p"]])
    for cmd in (["validate"], ["import", "--dry-run"]):
        result = cio(*cmd, a, b, "--rejects", tmp_path / "r.csv")
        assert result.exit_code == 2
        assert "--rejects" in result.stderr


def test_no_rejects_file_when_nothing_is_rejected(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", BASE, [["e", "u1", str(T), "p"]])
    out = dry_run(path)
    assert out.code == 0 and out.summary["rejects_file"] is None
    assert not (tmp_path / "e.csv.rejects.csv").exists()


@pytest.mark.parametrize("command", ["validate", "import"])
def test_help_lists_exit_codes_and_environment(command: str) -> None:
    result = cio(command, "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for code in ("0", "1", "2", "3", "4", "5", "130"):
        assert re.search(rf"(^|[\s;:,]){code}\s", text), f"exit code {code} in --help"
    assert "CIO_SITE_ID" in text and "CIO_API_KEY" in text
    assert "Exit codes" in text


def test_dry_run_output_mirrors_a_user_fixing_a_csv(tmp_path: Path) -> None:
    """A CSV as people export it (CRLF, BOM, quoted cells) dry-runs to the expected ops."""
    text = "\ufeff" + csv_text([*BASE, "Order Total", "items"], [
        ["Order Completed", "cust-1", str(T), "gold", "19.99", "3"],
        ["Order Completed", "cust-2", str(T - 60), "silver, annual", "5.00", "1"],
    ], newline="\r\n")  # fmt: skip
    out = dry_run(write_raw(tmp_path / "export.csv", text))
    assert out.code == 0
    assert [op["attributes"] for op in out.ops] == [
        {"plan": "gold", "Order Total": 19.99, "items": 3},
        {"plan": "silver, annual", "Order Total": 5.0, "items": 1},
    ], "5.00 is a number (SPEC section 2: trailing zeros keep a column numeric)"  # fmt: skip
    assert out.summary["warnings"] == {"name_format": 2}


# -- issue 9: --type COL=json keeps every number exactly, and refuses what it cannot send ---


def test_json_numbers_are_sent_exactly_as_written(tmp_path: Path) -> None:
    """Issue 9 item 5: 123456789012345678901234567890 became 1.2345678901234568e+29, 1e-400 0.0."""
    cells = ["123456789012345678901234567890", "1e-400", "-1E+400",
             '{"b":[0.1000000000000000055511151231257827], "a":18446744073709551616}',
             '{"b":1.10,"a":[1E5,-0,12345678901234567890,2.5]}']  # fmt: skip
    rows = [["e", f"u{i}", str(T), "p", cell] for i, cell in enumerate(cells)]
    rows.append(["e", "big", str(T), "p", '{"n":-98765432109876543210987654321,"pad":"' + "y" * 33_000 + '"}'])
    out = check_rows(tmp_path, [*BASE, "x"], rows, "--type", "x=json")
    assert out.code == 0, out.reasons
    sent = out.out_bytes.decode()
    for text in ['"x":123456789012345678901234567890}', '"x":1e-400}', '"x":-1E+400}',
                 '"x":{"a":18446744073709551616,"b":[0.1000000000000000055511151231257827]}}',
                 # values orjson keeps exactly are written as before, so their ids do not change
                 '"x":{"a":[100000.0,0,12345678901234567890,2.5],"b":1.1}}']:  # fmt: skip
        assert text in sent, text
    (v1,) = [line for line in out.lines if "path" in line]
    assert v1["path"] == "/api/v1/customers/big/events"
    assert '"n":-98765432109876543210987654321,' in sent, "the lone v1 request keeps it too"


def test_json_nested_deeper_than_cio_can_send_is_rejected(tmp_path: Path) -> None:
    """Issue 9 item 10: 300 levels of nesting crashed with 'TypeError: Recursion limit reached'."""
    cells = ["[" * 254 + "]" * 254, "[" * 300 + "]" * 300, '{"a":' * 2000 + "1" + "}" * 2000,
             "[" * 100_000 + "]" * 100_000, "[NaN]"]  # fmt: skip
    rows = [["e", f"u{i}", str(T), "p", cell] for i, cell in enumerate(cells)]
    for command in ("import", "validate"):
        out = check_rows(tmp_path, [*BASE, "x"], rows, "--type", "x=json", command=command)
        assert out.code == 1
        assert out.summary["sent"] == 1 and out.summary["rejected"] == 4
        deep = "nests arrays or objects more than 254 levels deep, which cio cannot send (--type x=json)"
        assert out.reasons[3] == "x '" + "[" * 60 + "...' " + deep
        assert out.reasons[4].endswith("...' " + deep) and out.reasons[5].endswith("...' " + deep)
        assert out.reasons[6] == "x '[NaN]' is not valid JSON (--type x=json)"


def test_send_event_data_keeps_every_number_exactly() -> None:
    """The same JSON reading as --type COL=json: before, -d n:=1e-400 sent 0.0."""
    result = cio("send-event", "--person", "u1", "--name", "signup", "--timestamp", str(T),
                 "--id", "01HZX3K6Y8N1V2B7Q9W4T5R6S7", "-d", "big:=123456789012345678901234567890",
                 "-d", "tiny:=1e-400", "-d", "revenue=12.50",
                 "--data", '{"nested":{"b":1.10,"a":[18446744073709551616]}}', "--dry-run", "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    # revenue=12.50 is numeric text: sent as written, as a CSV cell is
    assert ('"data":{"nested":{"b":1.1,"a":[18446744073709551616]},"big":123456789012345678901234567890,'
            '"tiny":1e-400,"revenue":12.50}') in result.stdout  # fmt: skip


def test_send_event_data_nested_too_deep_is_refused() -> None:
    deep = "[" * 300 + "]" * 300
    result = cio("send-event", "--person", "u1", "--name", "signup", "-d", f"x:={deep}", "--dry-run")
    assert result.exit_code == 3
    assert "error: x '" + "[" * 60 + "...' nests arrays or objects more than 254 levels deep," \
        " which cio cannot send" in " ".join(result.stderr.split())  # fmt: skip


# -- output files: never an input, writable, never wider than the input ---------------


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (symlinks as their target's name), to see what a run touched."""
    return {
        str(p.relative_to(root)): (str(p.readlink()).encode() if p.is_symlink() else p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_symlink() or p.is_file()
    }


def _bad_file(tmp_path: Path) -> Path:
    """A CSV with one good row and one rejected row (row 3)."""
    return write_csv(tmp_path / "s.csv", BASE, [["e", "u1", str(T), "p"], ["e", "", str(T), "p"]])


@pytest.mark.parametrize("alias", ["same", "dotted", "hard link", "symlink"])
@pytest.mark.parametrize("flag", ["--rejects", "--out"])
def test_an_output_that_is_the_input_is_a_usage_error_and_touches_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, alias: str, flag: str
) -> None:
    monkeypatch.chdir(tmp_path)
    _bad_file(tmp_path)
    given = {"same": "s.csv", "dotted": "./s.csv", "hard link": "h.csv", "symlink": "l.csv"}[alias]
    if alias == "hard link":
        (tmp_path / "h.csv").hardlink_to(tmp_path / "s.csv")
    if alias == "symlink":
        (tmp_path / "l.csv").symlink_to("s.csv")
    before = _tree(tmp_path)
    command = ["validate"] if flag == "--rejects" else ["import", "--dry-run"]
    for json_flag in ([], ["--json"]):
        result = cio(*command, "s.csv", flag, given, *json_flag)
        assert result.exit_code == 2, (result.stdout, result.stderr)
        shown = Path(given)  # a Path option: ./s.csv is shown s.csv
        assert f"error: {flag} {shown} is the input file s.csv\n" in result.stderr
        assert "hint: nothing was written; give " + flag + " another path" in result.stderr
        assert _tree(tmp_path) == before, "no file created, truncated or removed"
    s = summary(result)
    assert s["exit_code"] == 2 and s["error"] == f"{flag} {shown} is the input file s.csv"


def test_out_and_rejects_on_one_file_is_a_usage_error(tmp_path: Path) -> None:
    path = _bad_file(tmp_path)
    (tmp_path / "o.ndjson").write_text("keep\n")
    (tmp_path / "link.ndjson").hardlink_to(tmp_path / "o.ndjson")
    before = _tree(tmp_path)
    for out, rejects in [("new.ndjson", "new.ndjson"), ("o.ndjson", "link.ndjson")]:
        result = cio("import", path, "--dry-run", "--out", tmp_path / out,
                     "--rejects", tmp_path / rejects)  # fmt: skip
        assert result.exit_code == 2
        assert (f"error: --out {tmp_path / out} and --rejects {tmp_path / rejects} "
                "are the same file\n") in result.stderr  # fmt: skip
        assert "hint: nothing was written; give each output its own path" in result.stderr
        assert _tree(tmp_path) == before


def test_an_input_given_twice_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _bad_file(tmp_path)
    (tmp_path / "h.csv").hardlink_to(tmp_path / "s.csv")
    before = _tree(tmp_path)
    for files, message in [
        (["s.csv", "s.csv"], "s.csv is given twice"),
        (["s.csv", "./s.csv"], "s.csv and ./s.csv are the same file"),
        (["s.csv", "h.csv"], "s.csv and h.csv are the same file"),
    ]:
        result = cio("import", *files, "--dry-run")
        assert result.exit_code == 2
        assert f"error: {message}\nhint: give each file once\n" in result.stderr
    assert _tree(tmp_path) == before


def test_an_input_that_is_the_rejects_file_of_another_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fixing a rejects file, then validating both: the first input's rejects would replace
    the second input."""
    monkeypatch.chdir(tmp_path)
    _bad_file(tmp_path)
    write_csv(tmp_path / "s.csv.rejects.csv", BASE, [["e", "u9", str(T), "p"]])
    before = _tree(tmp_path)
    result = cio("validate", "s.csv", "s.csv.rejects.csv")
    assert result.exit_code == 2
    assert ("error: the rejects file s.csv.rejects.csv is the input file s.csv.rejects.csv\n"
            in result.stderr)  # fmt: skip
    assert _tree(tmp_path) == before


def test_unwritable_outputs_are_usage_errors_before_reading(tmp_path: Path) -> None:
    path = _bad_file(tmp_path)
    (tmp_path / "plain").write_text("")
    (tmp_path / "dir").mkdir()
    before = _tree(tmp_path)
    cases: list[tuple[list[str | Path], str, str]] = [
        (["--out", tmp_path / "plain" / "o.ndjson"],
         f"--out {tmp_path / 'plain' / 'o.ndjson'}: {tmp_path / 'plain'} is not a directory",
         "give --out another path"),
        (["--rejects", tmp_path / "dir"], f"--rejects {tmp_path / 'dir'}: Is a directory",
         "give --rejects another path"),
    ]  # fmt: skip
    for flags, why, hint in cases:
        result = cio("import", path, "--dry-run", "--json", *flags)
        assert result.exit_code == 2, (result.stdout, result.stderr)
        assert summary(result) | {"duration_s": 0} == {
            "command": "import", "files": [str(path)], "rows": 0, "sent": 0, "rejected": 0,
            "skipped_recent": 0, "duplicates": 0, "recent": 0, "resumed": 0, "warnings": {},
            "errors": {}, "by_reason": {}, "by_name": {}, "first_timestamp": None,
            "last_timestamp": None, "columns": {}, "requests": 0, "retries": 0,
            "rejects_file": None, "dry_run": True, "duration_s": 0, "events_per_s": 0.0,
            "exit_code": 2,
            "error": f"cannot write {why}", "hint": hint,
        }  # fmt: skip
        assert _tree(tmp_path) == before


def test_missing_directories_of_out_and_rejects_are_created(tmp_path: Path) -> None:
    path = _bad_file(tmp_path)
    out, rejects = tmp_path / "new" / "o.ndjson", tmp_path / "other" / "deep" / "r.csv"
    result = cio("import", path, "--dry-run", "--quiet", "--out", out, "--rejects", rejects)
    assert result.exit_code == 1, result.stderr
    assert len(read_out(out)) == 1 and [r["_cio_row"] for r in read_rejects(rejects)[1]] == ["3"]


@pytest.mark.parametrize("flag", ["--out", "--rejects"])
def test_a_write_failing_part_way_stops_with_exit_5_naming_the_file(flag: str,
                                                                     tmp_path: Path) -> None:  # fmt: skip
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    path = _bad_file(tmp_path)
    what = "--out /dev/full" if flag == "--out" else "the rejects file /dev/full"
    command = ["import", "--dry-run"] if flag == "--out" else ["validate"]
    result = cio(*command, path, flag, "/dev/full", "--json")
    assert result.exit_code == 5, (result.stdout, result.stderr)
    s = summary(result)
    assert s["exit_code"] == 5 and s["dry_run"] is True
    assert s["error"] == f"cannot write {what}: No space left on device"
    assert s["hint"] == "free some space or choose another path"
    assert f"error: cannot write {what}: No space left on device\n" in result.stderr


@pytest.fixture
def umask_0() -> Any:
    """Run with umask 0, so the modes seen are the ones cio asked for."""
    old_mask = os.umask(0)
    yield
    os.umask(old_mask)


@pytest.mark.usefixtures("umask_0")
@pytest.mark.parametrize(("input_mode", "want"), [(0o600, 0o600), (0o640, 0o640),
                                                   (0o644, 0o644), (0o666, 0o644),
                                                   (0o400, 0o600), (0o604, 0o604)])  # fmt: skip
def test_rejects_and_out_get_the_input_permission_bits_at_most_0644(
    tmp_path: Path, input_mode: int, want: int
) -> None:
    path = _bad_file(tmp_path)
    path.chmod(input_mode)
    out = tmp_path / "o.ndjson"
    for command in (["import", "--dry-run", "--out", out], ["validate"]):
        assert cio(*command, path, "--quiet").exit_code == 1
        assert stat.S_IMODE((tmp_path / "s.csv.rejects.csv").stat().st_mode) == want
    assert stat.S_IMODE(out.stat().st_mode) == want


@pytest.mark.usefixtures("umask_0")
def test_an_existing_out_file_is_narrowed_to_the_input_bits(tmp_path: Path) -> None:
    path = _bad_file(tmp_path)
    path.chmod(0o600)
    out = tmp_path / "o.ndjson"
    out.write_text("old\n")
    out.chmod(0o664)
    assert cio("import", path, "--dry-run", "--quiet", "--out", out).exit_code == 1
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and len(read_out(out)) == 1


@pytest.mark.usefixtures("umask_0")
def test_rejects_of_stdin_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = csv_text(BASE, [["e", "u1", str(T), "p"], ["e", "", str(T), "p"]])
    assert cio("validate", "-", "--quiet", input=text).exit_code == 1
    assert stat.S_IMODE((tmp_path / "stdin.rejects.csv").stat().st_mode) == 0o600
