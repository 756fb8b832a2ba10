"""``cio validate`` / ``cio import --dry-run`` end to end: header rules and every row rule.

SPEC sections 2 (header, reserved keys), 3 (row rules) and 6 (exit codes, warnings).
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.cli_support import (
    BASE,
    block_bytes,
    check_rows,
    cio,
    dry_run,
    is_ulid,
    old,
    read_rejects,
    recent,
    summary,
    write_csv,
    write_raw,
)
from tests.fakecio import FakeCio

SEMANTIC = [
    "User Deleted", "Delete Person", "Device Created or Updated", "Device Deleted",
    "User Suppressed", "User Unsuppressed", "Relationship Deleted", "Object Deleted",
    "Report Delivery Event", "Report Content Event",
]  # fmt: skip
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def iso(ts: int, offset_minutes: int = 0, fmt: str = "%Y-%m-%dT%H:%M:%S") -> str:
    """``ts`` as local ISO-8601 text at a UTC offset (without the offset suffix)."""
    zone = dt.timezone(dt.timedelta(minutes=offset_minutes))
    return dt.datetime.fromtimestamp(ts, zone).strftime(fmt)


def ulid_millis(ulid: str) -> int:
    """The 48-bit time part of a ULID, in ms."""
    value = 0
    for ch in ulid[:10]:
        value = value * 32 + CROCKFORD.index(ch)
    return value


# -- header ------------------------------------------------------------------------


def unimportable(path: Path, *flags: str) -> str:
    """Run validate and import --dry-run on ``path``: both exit 3 and send nothing.

    Returns validate's stderr (the human message).
    """
    out = path.with_name("out.ndjson")
    result = cio("validate", path, *flags)
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "error: " in result.stderr
    dry = cio("import", path, "--dry-run", "--out", out, *flags)
    assert dry.exit_code == 3, dry.stderr
    assert not out.exists() or out.read_bytes() == b"", "nothing may be written for exit 3"
    as_json = cio("validate", path, "--json", *flags)
    assert as_json.exit_code == 3
    assert summary(as_json)["exit_code"] == 3
    assert not path.with_name(path.name + ".rejects.csv").exists()
    return result.stderr


def test_missing_required_column_names_the_nearest_header(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", ["_cio_name", "customer_id", "plan"],
                     [["signup", "u1", "pro"]])  # fmt: skip
    err = unimportable(path)
    assert "missing required column _cio_customer_id" in err
    assert "'customer_id'" in err, "the hint names the column that was found"


def test_missing_name_column_without_a_near_match_lists_the_header(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", ["_cio_customer_id", "plan", "amount"],
                     [["u1", "pro", "3"]])  # fmt: skip
    err = unimportable(path)
    assert "missing required column _cio_name" in err
    assert "'plan'" in err and "'amount'" in err


def test_misspelt_cio_column_is_unimportable_with_a_hint(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", ["_cio_name", "_cio_customer_id", "_cio_timestmap", "plan"],
                     [["signup", "u1", str(old()), "pro"]])  # fmt: skip
    err = unimportable(path)
    assert "'_cio_timestmap'" in err
    assert "did you mean _cio_timestamp?" in err


@pytest.mark.parametrize("column", ["plan", "_cio_name", "_cio_timestamp"])
def test_duplicated_header_is_unimportable(tmp_path: Path, column: str) -> None:
    header = ["_cio_name", "_cio_customer_id", "_cio_timestamp", "plan", column]
    path = write_csv(tmp_path / "e.csv", header, [["signup", "u1", str(old()), "pro", "x"]])
    err = unimportable(path)
    assert f"the header names {column!r} twice" in err
    assert f"(columns {header.index(column) + 1} and 5)" in err


@pytest.mark.parametrize(
    ("written", "meant"),
    [("_CIO_NAME", "_cio_name"), (" _cio_name", "_cio_name"),
     ("_cio_customer_id ", "_cio_customer_id"), ("_Cio_Timestamp", "_cio_timestamp")],
)  # fmt: skip
def test_near_miss_header_is_reported_not_accepted(tmp_path: Path, written: str, meant: str) -> None:
    header = [written if h == meant else h for h in BASE]
    path = write_csv(tmp_path / "e.csv", header, [["signup", "u1", str(old()), "pro"]])
    err = unimportable(path)
    assert repr(written) in err, "the message shows the header as written"
    assert meant in err.replace(repr(written), ""), "and the name it should be"


def test_utf8_bom_on_header_is_accepted(tmp_path: Path) -> None:
    text = "\ufeff_cio_name,_cio_customer_id,_cio_timestamp,plan\r\n" f"signup,u1,{old()},pro\r\n"
    out = dry_run(write_raw(tmp_path / "bom.csv", text))
    assert out.code == 0
    assert [op["name"] for op in out.ops] == ["signup"]
    assert out.ops[0]["identifiers"] == {"id": "u1"}
    assert "\ufeff_cio_name" not in out.ops[0]["attributes"]


def test_file_with_only_the_required_columns(tmp_path: Path) -> None:
    out = check_rows(tmp_path, ["_cio_name", "_cio_customer_id"], [["signup", "u1"]])
    assert out.code == 0
    assert out.ops == [
        {"type": "person", "action": "event", "identifiers": {"id": "u1"}, "name": "signup",
         "id": out.ops[0]["id"], "attributes": {}}
    ]  # fmt: skip


def test_empty_file_is_unimportable(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "empty.csv", "")
    result = cio("validate", path)
    assert result.exit_code == 3
    assert "error: " in result.stderr


def test_header_only_file_is_fine(tmp_path: Path) -> None:
    out = check_rows(tmp_path, BASE, [])
    assert out.code == 0
    assert out.summary["rows"] == 0
    assert out.lines == []


# -- _cio_name ---------------------------------------------------------------------


def test_name_is_trimmed(tmp_path: Path) -> None:
    out = check_rows(tmp_path, BASE, [["  signup\t ", "u1", str(old()), "pro"]])
    assert out.code == 0
    assert out.ops[0]["name"] == "signup"


def test_empty_name_is_rejected_with_raw_cells_in_rejects(tmp_path: Path) -> None:
    ts = str(old())
    out = check_rows(tmp_path, BASE, [["", "u1", ts, "pro"], ["   ", "u2", ts, "basic"],
                                      ["ok", "u3", ts, "pro"]])  # fmt: skip
    assert out.code == 1
    assert out.summary["rejected"] == 2 and out.summary["sent"] == 1
    assert out.summary["errors"] == {"name_empty": 2}
    assert out.rejects_header == [*BASE, "_cio_row", "_cio_error"]
    assert out.rejects == [
        {"_cio_name": "", "_cio_customer_id": "u1", "_cio_timestamp": ts, "plan": "pro",
         "_cio_row": "2", "_cio_error": "_cio_name is empty"},
        {"_cio_name": "   ", "_cio_customer_id": "u2", "_cio_timestamp": ts, "plan": "basic",
         "_cio_row": "3", "_cio_error": "_cio_name is empty"},
    ]  # fmt: skip


def test_name_length_limit_is_100_utf8_bytes(tmp_path: Path) -> None:
    ts = str(old())
    rows = [["a" * 100, "u1", ts, "p"], ["a" * 101, "u2", ts, "p"],
            ["é" * 50, "u3", ts, "p"], ["é" * 51, "u4", ts, "p"]]  # fmt: skip
    out = check_rows(tmp_path, BASE, rows)
    assert out.code == 1
    assert [op["name"] for op in out.ops] == ["a" * 100, "é" * 50]
    assert sorted(out.reasons) == [3, 5]
    assert "101 bytes" in out.reasons[3] and "100" in out.reasons[3]
    assert "102 bytes" in out.reasons[5]
    assert out.summary["errors"] == {"name_too_long": 2}


def test_name_format_warning_counts_but_sends(tmp_path: Path) -> None:
    ts = str(old())
    names = ["signed up", "a*b", "a+b", "a|b", "signed_up", "Order.Completed"]
    out = check_rows(tmp_path, BASE, [[n, f"u{i}", ts, "p"] for i, n in enumerate(names)])
    assert out.code == 0
    assert [op["name"] for op in out.ops] == names
    assert out.summary["warnings"] == {"name_format": 4}
    assert out.rejects == []


def test_semantic_names_need_allow_semantic(tmp_path: Path) -> None:
    ts = str(old())
    rows = [[n, f"u{i}", ts, "p"] for i, n in enumerate(SEMANTIC)] + [["signup", "u99", ts, "p"]]
    refused = check_rows(tmp_path, BASE, rows)
    assert refused.code == 1
    assert refused.summary["rejected"] == len(SEMANTIC)
    assert [op["name"] for op in refused.ops] == ["signup"]
    for row, reason in refused.reasons.items():
        assert SEMANTIC[row - 2] in reason and "--allow-semantic" in reason
    allowed = check_rows(tmp_path, BASE, rows, "--allow-semantic")
    assert allowed.code == 0
    assert [op["name"] for op in allowed.ops] == [*SEMANTIC, "signup"]


def test_semantic_names_are_refused_by_validate_too(tmp_path: Path) -> None:
    out = check_rows(tmp_path, BASE, [["User Deleted", "u1", str(old()), "p"]], command="validate")
    assert out.code == 1
    assert out.summary["rejected"] == 1
    assert "--allow-semantic" in out.reasons[2]


# -- _cio_customer_id -------------------------------------------------------------


def test_customer_id_trimmed_empty_and_too_long(tmp_path: Path) -> None:
    ts = str(old())
    rows = [["e", " u1 ", ts, "p"], ["e", "", ts, "p"], ["e", "  ", ts, "p"],
            ["e", "x" * 150, ts, "p"], ["e", "x" * 151, ts, "p"], ["e", "é" * 76, ts, "p"]]  # fmt: skip
    out = check_rows(tmp_path, BASE, rows)
    assert out.code == 1
    assert [op["identifiers"] for op in out.ops] == [{"id": "u1"}, {"id": "x" * 150}]
    assert sorted(out.reasons) == [3, 4, 6, 7]
    assert out.reasons[3] == "_cio_customer_id is empty"
    assert out.reasons[4] == "_cio_customer_id is empty"
    assert "151 bytes" in out.reasons[6] and "150" in out.reasons[6]
    assert "152 bytes" in out.reasons[7]
    assert out.summary["errors"] == {"customer_id_empty": 2, "customer_id_too_long": 2}


def test_identifier_kinds_ids_with_cio_ids(tmp_path: Path) -> None:
    ts = str(old())
    out = check_rows(tmp_path, BASE, [["e", "42", ts, "p"], ["e", "cio_03000001", ts, "p"]])
    assert out.code == 0
    assert [op["identifiers"] for op in out.ops] == [{"id": "42"}, {"cio_id": "cio_03000001"}]


def test_identifier_kinds_emails_with_cio_ids(tmp_path: Path) -> None:
    ts = str(old())
    out = check_rows(tmp_path, BASE, [["e", "Bob@Example.com", ts, "p"], ["e", "cio_abc", ts, "p"]])
    assert out.code == 0
    assert [op["identifiers"] for op in out.ops] == [
        {"email": "Bob@Example.com"}, {"cio_id": "cio_abc"}
    ]  # fmt: skip


def test_mixed_ids_and_emails_is_unimportable(tmp_path: Path) -> None:
    ts = str(old())
    rows = [["e", "cio_1", ts, "p"], ["e", "u1", ts, "p"], ["e", "u2", ts, "p"],
            ["e", "a@example.com", ts, "p"], ["e", "u3", ts, "p"], ["e", "b@example.com", ts, "p"]]  # fmt: skip
    path = write_csv(tmp_path / "mixed.csv", BASE, rows)
    err = unimportable(path)
    assert "ids (3 rows, first at row 3)" in err
    assert "emails (2 rows, first at row 5)" in err
    assert "--identifier id" in err and "--identifier email" in err


def test_mixed_identifiers_found_across_chunks(tmp_path: Path) -> None:
    ts = str(old())
    rows = [["e", f"u{i}", ts, "p" * 30] for i in range(400)]
    rows.insert(350, ["e", "late@example.com", ts, "p"])
    rows.append(["e", "last@example.com", ts, "p"])
    path = write_csv(tmp_path / "late.csv", BASE, rows)
    with block_bytes(2048) as chunks:
        result = cio("validate", path)
    assert chunks and min(chunks) > 5
    assert result.exit_code == 3
    assert "ids (400 rows, first at row 2)" in result.stderr
    assert "emails (2 rows, first at row 352)" in result.stderr
    assert "late.csv" in result.stderr, "the message names the file"


def test_identifier_id_sends_every_value_as_an_id(tmp_path: Path) -> None:
    ts = str(old())
    rows = [["e", "u1", ts, "p"], ["e", "a@example.com", ts, "p"], ["e", "cio_x", ts, "p"]]
    out = check_rows(tmp_path, BASE, rows, "--identifier", "id")
    assert out.code == 0
    assert [op["identifiers"] for op in out.ops] == [
        {"id": "u1"}, {"id": "a@example.com"}, {"id": "cio_x"}
    ]  # fmt: skip


def test_identifier_email_rejects_rows_without_at(tmp_path: Path) -> None:
    ts = str(old())
    rows = [["e", "u1", ts, "p"], ["e", "a@example.com", ts, "p"], ["e", "cio_x", ts, "p"]]
    out = check_rows(tmp_path, BASE, rows, "--identifier", "email")
    assert out.code == 1
    assert [op["identifiers"] for op in out.ops] == [{"email": "a@example.com"}]
    assert sorted(out.reasons) == [2, 4]
    assert "'u1'" in out.reasons[2] and "email" in out.reasons[2]


def test_bad_identifier_choice_is_a_usage_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", BASE, [["e", "u1", str(old()), "p"]])
    result = cio("validate", path, "--identifier", "phone")
    assert result.exit_code == 2


# -- _cio_timestamp ----------------------------------------------------------------

T = old(10)


def _ts_cases() -> list[tuple[str, str, list[str], int | None | str]]:
    """(label, cell, flags, expected): expected is seconds, None (no timestamp) or "!reason"."""
    new_york = zoneinfo.ZoneInfo("America/New_York")
    naive = iso(T)
    local_ny = dt.datetime.fromtimestamp(T, new_york).replace(tzinfo=None)
    ny_text = local_ny.strftime("%Y-%m-%dT%H:%M:%S")
    date = iso(T, fmt="%Y-%m-%d")
    midnight = int(dt.datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=dt.UTC).timestamp())
    now = recent(0)
    return [
        ("seconds", str(T), [], T),
        ("decimal seconds are floored", f"{T}.999", [], T),
        ("milliseconds", str(T * 1000 + 999), [], T),
        ("ms threshold", "100000000000", [], 100_000_000),
        ("just under the ms threshold is seconds, far future", "99999999999", [], "!in the future"),
        ("--timestamp-unit s reads ms as seconds", str(T * 1000), ["--timestamp-unit", "s"], "!in the future"),
        ("--timestamp-unit ms", str(T * 1000), ["--timestamp-unit", "ms"], T),
        ("--timestamp-unit ms small value", "1500", ["--timestamp-unit", "ms"], 1),
        ("ISO Z", naive + "Z", [], T),
        ("ISO Z with fraction", naive + ".750Z", [], T),
        ("ISO +02:00", iso(T, 120) + "+02:00", [], T),
        ("ISO -05:30", iso(T, -330) + "-05:30", [], T),
        ("ISO +0200", iso(T, 120) + "+0200", [], T),
        ("ISO minutes only", iso(T, fmt="%Y-%m-%dT%H:%M") + "Z", [], T - T % 60),
        ("naive ISO refused", naive, [], "!--assume-tz"),
        ("naive ISO with --assume-tz UTC", naive, ["--assume-tz", "UTC"], T),
        ("naive ISO with --assume-tz New York", ny_text, ["--assume-tz", "America/New_York"], T),
        ("date only refused", date, [], "!--assume-tz"),
        ("date only with --assume-tz UTC", date, ["--assume-tz", "UTC"], midnight),
        ("future", str(now + 3600), [], "!in the future"),
        ("future ISO", iso(now + 7200) + "Z", [], "!in the future"),
        ("five minutes ahead is fine", str(now + 300), [], now + 300),
        ("before 1970", "-1", [], "!before 1970"),
        ("before 1970 ISO", "1969-12-31T23:59:59Z", [], "!before 1970"),
        ("garbage word", "yesterday", [], "!not a timestamp"),
        ("garbage digits", "12abc", [], "!not a timestamp"),
        ("impossible date", "2024-13-45T00:00:00Z", [], "!not a timestamp"),
        ("empty cell", "", [], None),
    ]


TS_CASES = _ts_cases()


@pytest.mark.parametrize(("cell", "flags", "expected"), [c[1:] for c in TS_CASES],
                         ids=[c[0] for c in TS_CASES])  # fmt: skip
def test_timestamp_forms(tmp_path: Path, cell: str, flags: list[str],
                         expected: int | None | str) -> None:  # fmt: skip
    rows = [["signup", "u1", cell, "pro"], ["other", "u2", str(T), "pro"]]
    out = check_rows(tmp_path, BASE, rows, *flags)
    if isinstance(expected, str):
        assert out.code == 1, out.result.stderr
        assert out.summary["rejected"] == 1
        assert list(out.reasons) == [2]
        assert expected[1:] in out.reasons[2]
        assert repr(cell) in out.reasons[2] or cell in out.reasons[2]
        assert out.rejects[0]["_cio_timestamp"] == cell, "the raw cell is kept"
        return
    assert out.code == 0, out.result.stderr
    first = out.ops[0]
    assert first["name"] == "signup"
    if expected is None:
        assert "timestamp" not in first
    else:
        assert first["timestamp"] == expected
        assert isinstance(first["timestamp"], int)


def test_milliseconds_are_counted_as_a_warning(tmp_path: Path) -> None:
    rows = [["e", "u1", str(T * 1000), "p"], ["e", "u2", str(T * 1000 + 5), "p"],
            ["e", "u3", str(T), "p"]]  # fmt: skip
    out = check_rows(tmp_path, BASE, rows)
    assert out.code == 0
    assert out.summary["warnings"] == {"timestamp_ms": 2}
    assert [op["timestamp"] for op in out.ops] == [T, T, T]


def test_decimal_milliseconds_are_counted_as_a_warning_too(tmp_path: Path) -> None:
    rows = [["e", "u1", f"{T * 1000}.5", "p"], ["e", "u2", f"{T}.5", "p"]]
    out = check_rows(tmp_path, BASE, rows)
    assert out.code == 0
    assert out.summary["warnings"] == {"timestamp_ms": 1}
    assert [op["timestamp"] for op in out.ops] == [T, T]


def test_no_timestamp_column_means_no_timestamp_key(tmp_path: Path) -> None:
    out = check_rows(tmp_path, ["_cio_name", "_cio_customer_id", "plan"], [["e", "u1", "pro"]])
    assert out.code == 0
    assert "timestamp" not in out.ops[0]
    assert out.summary["recent"] == 1


# -- _cio_id and derived ids ------------------------------------------------------


def test_given_cio_id_is_the_event_id_and_invalid_ones_are_rejected(tmp_path: Path) -> None:
    header = [*BASE, "_cio_id"]
    ts = str(T)
    good = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    rows = [["e", "u1", ts, "p", good], ["e", "u2", ts, "p", "not-a-ulid"],
            ["e", "u3", ts, "p", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ"], ["e", "u4", ts, "p", "01ARZ3NDEKTSV4RRFFQ69G5FA"],
            ["e", "u5", ts, "p", ""]]  # fmt: skip
    out = check_rows(tmp_path, header, rows)
    assert out.code == 1
    assert [op["identifiers"]["id"] for op in out.ops] == ["u1", "u5"]
    assert out.ops[0]["id"] == good
    assert "_cio_id" not in out.ops[0]["attributes"]
    assert is_ulid(out.ops[1]["id"]) and out.ops[1]["id"] != good
    assert sorted(out.reasons) == [3, 4, 5]
    assert all("ULID" in r for r in out.reasons.values())


def test_derived_ids_carry_the_event_time(tmp_path: Path) -> None:
    out = check_rows(tmp_path, BASE, [["e", "u1", str(T), "p"], ["e", "u2", "", "p"]])
    with_ts, without = out.ops
    assert is_ulid(with_ts["id"]) and is_ulid(without["id"])
    assert ulid_millis(with_ts["id"]) == T * 1000
    assert ulid_millis(without["id"]) == 0


# -- reserved keys -------------------------------------------------------------------

RESERVED = [*BASE, "recipient", "from_address", "reply_to", "revenue", "value", "currency"]


@pytest.mark.parametrize("key", ["recipient", "from_address", "reply_to"])
def test_reserved_email_key_must_be_an_email(tmp_path: Path, key: str) -> None:
    ts = str(T)
    cells = ["bob@example.com", "Shop <shop@example.com>", "bob", "x@", "no at sign", ""]
    out = check_rows(tmp_path, [*BASE, key], [["e", f"u{i}", ts, "p", c] for i, c in enumerate(cells)])
    assert out.code == 1
    assert [op["attributes"] for op in out.ops] == [
        {"plan": "p", key: "bob@example.com"}, {"plan": "p", key: "Shop <shop@example.com>"},
        {"plan": "p"},
    ]  # fmt: skip
    assert out.summary["warnings"] == {"email_override": 2}, "rows that carry the key"
    assert sorted(out.reasons) == [4, 5, 6]
    assert out.reasons[4] == f"{key} 'bob' is not an email address"
    assert out.reasons[5] == f"{key} 'x@' is not an email address"
    assert out.reasons[6] == f"{key} 'no at sign' is not an email address"


def test_all_three_email_keys_in_one_file(tmp_path: Path) -> None:
    ts = str(T)
    header = [*BASE, "recipient", "from_address", "reply_to"]
    rows = [
        ["e", "u1", ts, "p", "bob@example.com", "", ""],
        ["e", "u2", ts, "p", "", "shop@example.com", "help@example.com"],
        ["e", "u3", ts, "p", "bob", "", ""],
        ["e", "u4", ts, "p", "", "x@", "no at sign"],
        ["e", "u5", ts, "p", "", "", ""],
    ]
    out = check_rows(tmp_path, header, rows)
    assert out.code == 1
    assert [op["identifiers"]["id"] for op in out.ops] == ["u1", "u2", "u5"]
    assert out.summary["warnings"] == {"email_override": 2}, "rows, not cells"
    assert sorted(out.reasons) == [4, 5]
    assert "recipient 'bob'" in out.reasons[4]
    assert "from_address 'x@'" in out.reasons[5] and "reply_to 'no at sign'" in out.reasons[5]


@pytest.mark.parametrize("types", ["auto", "string"])
@pytest.mark.parametrize("key", ["revenue", "value"])
def test_revenue_and_value_are_numbers(tmp_path: Path, key: str, types: str) -> None:
    ts = str(T)
    cells = ["12.50", "3", "-0.5", "1e3", "abc", "1,000", "$5", ""]
    rows = [["e", f"u{i}", ts, "p", c] for i, c in enumerate(cells)]
    out = check_rows(tmp_path, [*BASE, key], rows, "--types", types)
    assert out.code == 1
    values = [op["attributes"].get(key) for op in out.ops]
    assert values == [12.5, 3, -0.5, 1000.0, None]
    assert isinstance(values[1], int) and isinstance(values[0], float)
    assert sorted(out.reasons) == [6, 7, 8]
    assert out.reasons[6] == f"{key} 'abc' is not a number"
    assert out.reasons[7] == f"{key} '1,000' is not a number"


def test_currency_is_an_iso_4217_code(tmp_path: Path) -> None:
    ts = str(T)
    cells = ["USD", "EUR", "JPY", "ZZZ", "US", "usdollar", ""]
    rows = [["e", f"u{i}", ts, "p", c] for i, c in enumerate(cells)]
    out = check_rows(tmp_path, [*BASE, "currency"], rows)
    assert out.code == 1
    assert [op["attributes"].get("currency") for op in out.ops] == ["USD", "EUR", "JPY", None]
    assert sorted(out.reasons) == [5, 6, 7]
    assert all("ISO 4217" in r for r in out.reasons.values())
    assert out.reasons[5].startswith("currency 'ZZZ'")


def test_all_reserved_keys_together(tmp_path: Path) -> None:
    ts = str(T)
    rows = [
        ["e", "u1", ts, "p", "bob@example.com", "", "", "12.50", "3", "USD"],
        ["e", "u2", ts, "p", "", "", "", "abc", "1,000", ""],
        ["e", "u3", ts, "p", "", "", "", "", "", "ZZZ"],
    ]
    out = check_rows(tmp_path, RESERVED, rows, "--types", "string")
    assert out.code == 1
    assert [op["attributes"] for op in out.ops] == [
        {"plan": "p", "recipient": "bob@example.com", "revenue": 12.5, "value": 3, "currency": "USD"}
    ]  # fmt: skip
    assert sorted(out.reasons) == [3, 4]
    assert "revenue 'abc'" in out.reasons[3] and "value '1,000'" in out.reasons[3]


# -- data size -----------------------------------------------------------------------


def test_data_over_100000_bytes_is_rejected(tmp_path: Path) -> None:
    overhead = len(b'{"plan":""}')
    ts = str(T)
    rows = [["e", "u1", ts, "x" * (100_000 - overhead)], ["e", "u2", ts, "x" * (100_001 - overhead)]]
    out = check_rows(tmp_path, BASE, rows)
    assert out.code == 1
    assert out.summary["sent"] == 1 and out.summary["rejected"] == 1
    assert list(out.reasons) == [3]
    assert "100001 bytes" in out.reasons[3] and "100000" in out.reasons[3]
    assert out.rejects[0]["plan"] == rows[1][3], "the raw cell is kept whole"
    (line,) = out.lines
    assert line["path"] == "/api/v1/customers/u1/events"
    assert line["body"]["data"] == {"plan": rows[0][3]}


# -- exit codes ----------------------------------------------------------------------


def test_validate_exit_codes_and_warnings(tmp_path: Path) -> None:
    clean = write_csv(tmp_path / "clean.csv", BASE, [["signed up", "u1", str(T), "p"]])
    result = cio("validate", clean, "--json")
    assert result.exit_code == 0, "warnings alone keep exit 0"
    s = summary(result)
    assert s["warnings"] == {"name_format": 1} and s["exit_code"] == 0
    assert s["command"] == "validate" and s["dry_run"] is True
    assert s["rejects_file"] is None
    assert not (tmp_path / "clean.csv.rejects.csv").exists(), "no rejects file for a clean run"

    dirty = write_csv(tmp_path / "dirty.csv", BASE, [["", "u1", str(T), "p"], ["e", "u2", str(T), "p"]])
    result = cio("validate", dirty, "--json")
    assert result.exit_code == 1
    s = summary(result)
    assert s["exit_code"] == 1 and s["rejected"] == 1 and s["sent"] == 1
    rejects = tmp_path / "dirty.csv.rejects.csv"
    assert s["rejects_file"] == str(rejects)
    _, rows = read_rejects(rejects)
    assert [r["_cio_row"] for r in rows] == ["2"]


def test_validate_human_output_goes_to_stderr(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", BASE, [["", "u1", str(T), "p"], ["e", "u2", str(T), "p"]])
    result = cio("validate", path)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "row 2: _cio_name is empty" in result.stderr
    assert str(tmp_path / "e.csv.rejects.csv") in result.stderr


def test_validate_rejects_option(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", BASE, [["", "u1", str(T), "p"]])
    target = tmp_path / "sub" / "bad rows.csv"
    result = cio("validate", path, "--rejects", target, "--json")
    assert result.exit_code == 1
    assert summary(result)["rejects_file"] == str(target)
    assert not (tmp_path / "e.csv.rejects.csv").exists()
    _, rows = read_rejects(target)
    assert rows[0]["_cio_error"] == "_cio_name is empty"


def test_unknown_file_is_a_usage_error(tmp_path: Path) -> None:
    result = cio("validate", tmp_path / "nope.csv")
    assert result.exit_code == 2
    assert "nope.csv" in result.stderr


def test_json_error_object_for_unimportable(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", ["_cio_name", "plan"], [["e", "p"]])
    result = cio("validate", path, "--json")
    assert result.exit_code == 3
    obj = json.loads(result.stdout)
    assert obj["exit_code"] == 3 and obj["command"] == "validate"
    assert "_cio_customer_id" in result.stderr


@pytest.mark.parametrize("command", ["validate", "import"])
def test_a_local_time_skipped_by_daylight_saving_says_so(tmp_path: Path, command: str) -> None:
    """Issue 9 item 21: 02:30 on 2024-03-10 does not exist in New York; it was 'not a timestamp'."""
    rows = [["e", "u1", "2024-03-10 02:30", "p"], ["e", "u2", "2024-03-10 03:30", "p"],
            ["e", "u3", "2024-03-10T02:59:59", "p"], ["e", "u4", "2024-02-30 01:00", "p"]]  # fmt: skip
    out = check_rows(tmp_path, BASE, rows, "--assume-tz", "America/New_York", command=command)
    assert out.summary["sent"] == 1
    gap = (" is a local time that does not exist in America/New_York: the clocks jump past it"
           " (daylight saving time); add an offset or correct it")  # fmt: skip
    assert out.reasons == {
        2: "_cio_timestamp '2024-03-10 02:30'" + gap,
        4: "_cio_timestamp '2024-03-10T02:59:59'" + gap,
        5: "_cio_timestamp '2024-02-30 01:00' is not a timestamp: use Unix seconds, Unix"
        " milliseconds, or ISO-8601 with Z or an offset",
    }


# -- issue 9 item 4: one _cio_id, two different events -------------------------------------

ID_A, ID_B = "01HZX3K6Y8N1V2B7Q9W4T5R6S7", "01HZX3K6Y8N1V2B7Q9W4T5R6S8"
REUSED = (" with different content: Customer.io keeps only the first event of an id;"
          " give this row its own _cio_id, or leave it empty to derive one")  # fmt: skip


def _id_rows(ts: int, filler: int = 0) -> list[list[str]]:
    """Row 2 uses ID_A; later rows reuse it, identically (a duplicate) or not (rejected)."""
    rows = [["e", "u1", str(ts), ID_A, "a"], ["e", "u2", str(ts), ID_B, "b"],
            ["e", "u3", str(ts), "", "c"]]  # fmt: skip
    rows += [["e", f"f{i}", str(ts - i), "", "x"] for i in range(filler)]
    rows += [["e", "u1", str(ts), ID_A, "a"],             # identical to row 2: a duplicate
             ["e", "u1", str(ts), ID_A, "CHANGED"],       # rejected
             ["e", "u9", str(ts), ID_A.lower(), "a"],     # the same id in lower case: rejected
             ["e", "u1", str(ts), ID_A, "CHANGED"]]       # identical to a rejected row: rejected
    return rows  # fmt: skip


@pytest.mark.parametrize("how", ["validate", "one read", "two passes", "many chunks"])
def test_a_cio_id_used_by_two_different_rows_rejects_the_later(tmp_path: Path, how: str) -> None:
    """Both were sent; Customer.io kept the first and silently dropped the second."""
    header = [*BASE[:3], "_cio_id", "plan"]
    filler = 400 if how == "many chunks" else 0
    rows = _id_rows(old(), filler)
    path = write_csv(tmp_path / "ids.csv", header, rows)
    flags = ["--type", "plan=string"]
    if how == "two passes":  # --out through a symlink: pass 2 reads the file again
        (tmp_path / "real.ndjson").touch()
        (tmp_path / "ids.csv.out.ndjson").symlink_to(tmp_path / "real.ndjson")
    with block_bytes(512) if how == "many chunks" else ExitStack():
        out = dry_run(path, *flags, command="validate" if how == "validate" else "import")
    first_reuse = 5 + filler
    assert out.code == 1
    s = out.summary
    assert (s["rows"], s["sent"], s["duplicates"], s["rejected"]) == (7 + filler, 3 + filler, 1, 3)
    assert s["errors"] == {"id_reused": 3}
    assert out.reasons == {
        first_reuse + 1: f"_cio_id '{ID_A}' is already used by row 2" + REUSED,
        first_reuse + 2: f"_cio_id '{ID_A.lower()}' is already used by row 2" + REUSED,
        first_reuse + 3: f"_cio_id '{ID_A}' is already used by row 2" + REUSED,
    }
    if how != "validate":
        assert [op["id"] for op in out.ops if op["id"] in (ID_A, ID_B)] == [ID_A, ID_B]
        assert next(op for op in out.ops if op["id"] == ID_A)["attributes"] == {"plan": "a"}


def test_a_reused_cio_id_is_not_sent_and_a_resumed_run_decides_the_same(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    header = [*BASE[:3], "_cio_id", "plan"]
    path = write_csv(tmp_path / "ids.csv", header, _id_rows(old(), 60))
    args: list[str | Path] = ["import", path, "--base-url", fake_cio.url, "--site-id", "site", "--api-key", "key",
            "--json", "--quiet", "--batch-bytes", "2000", "--concurrency", "1", "--max-retries", "0"]  # fmt: skip
    fake_cio.script([("delay", 0), ("status", 500)])
    first = cio(*args)
    assert first.exit_code == 5, first.stderr
    assert 0 < len(fake_cio.events) < 63
    fake_cio.clear_faults()
    again = cio(*args)
    assert again.exit_code == 1, again.stderr
    s = summary(again)
    assert s["resumed"] == len(fake_cio.events) - (s["sent"] - s["resumed"]) > 0
    assert (s["rows"], s["sent"], s["duplicates"], s["rejected"]) == (67, 63, 1, 3)
    stored = {e["id"]: e for e in fake_cio.events}
    assert len(stored) == len(fake_cio.events) == 63, "each event once"
    assert stored[ID_A]["attributes"] == {"plan": "a"} and ID_A.lower() not in stored
    _, rejects = read_rejects(tmp_path / "ids.csv.rejects.csv")
    assert [r["_cio_row"] for r in rejects] == ["66", "67", "68"]
    assert all(r["_cio_error"].endswith(REUSED) for r in rejects)
