"""Warehouse value forms (SPEC section 10): timestamps, booleans, currency, UUID ids.

Each form goes through the real CLI: a CSV dry run (``--out``, the rejects file, the
summary, the exit code) and, where send-event takes the same value, ``cio send-event``.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from ulid import ULID as PyUlid

from tests.cli_support import block_bytes, check_rows, cio, dry_run, write_csv

ULID = "01J0000000ABCDEFGHJKMNPQRS"
HEADER = ["_cio_name", "_cio_customer_id", "_cio_timestamp"]
FORMS_MSG = "use Unix seconds, Unix milliseconds, or ISO-8601 with Z or an offset"
WAREHOUSE = {  # each form, and the Unix seconds it means
    "2024-03-01 10:00:00 UTC": 1_709_287_200,  # BigQuery
    "2024-03-01 10:00:00.123 +0000": 1_709_287_200,  # Snowflake
    "2024-03-01 10:00:00+00": 1_709_287_200,  # Postgres
    "2024-03-01T10:00:00.123456789Z": 1_709_287_200,  # nanoseconds
    "2024-03-01 10:00:00.5 -0530": 1_709_307_000,
    "2024-03-01T10:00:00+0100": 1_709_283_600,
}
REFUSED = ["2024-03-01T10:00:00.1234567891Z", "2024-03-01 10:00:00 Z", "2024-03-01 10:00:00 utc",
           "2024-03-01 10:00:00UTC", "2024-03-01 10:00:00  +0000"]  # fmt: skip


def dry_event(*args: str) -> tuple[int, dict[str, Any]]:
    """``cio send-event --dry-run --json ARGS``: the exit code and the JSON it printed."""
    result = cio("send-event", "--dry-run", "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def test_warehouse_timestamps_are_read_in_a_file(tmp_path: Path) -> None:
    rows = [["e", f"u{i}", ts] for i, ts in enumerate(WAREHOUSE)]
    got = check_rows(tmp_path, HEADER, rows)
    assert (got.code, got.summary["rejected"]) == (0, 0)
    assert [op["timestamp"] for op in got.ops] == list(WAREHOUSE.values())


def test_other_forms_keep_their_message(tmp_path: Path) -> None:
    got = check_rows(tmp_path, HEADER, [["e", "u", ts] for ts in REFUSED])
    assert got.code == 1 and not got.ops
    assert got.reasons == {
        i + 2: f"_cio_timestamp '{ts}' is not a timestamp: {FORMS_MSG}" for i, ts in enumerate(REFUSED)
    }


def test_a_warehouse_time_without_zone_still_needs_one(tmp_path: Path) -> None:
    rows = [["e", "u", "2024-03-01 10:00:00.123456789"]]
    got = check_rows(tmp_path, HEADER, rows)
    assert got.reasons == {2: "_cio_timestamp '2024-03-01 10:00:00.123456789' has no time zone:"
                              " add Z or an offset, or pass --assume-tz ZONE"}  # fmt: skip
    got = check_rows(tmp_path, HEADER, rows, "--assume-tz", "UTC")
    assert [op["timestamp"] for op in got.ops] == [1_709_287_200]


def test_send_event_reads_the_same_forms() -> None:
    for ts, seconds in WAREHOUSE.items():
        code, obj = dry_event("--person=u1", "--name=n", f"--timestamp={ts}")
        assert (code, obj["request"]["body"]["timestamp"]) == (0, seconds)
    for ts in REFUSED:
        code, obj = dry_event("--person=u1", "--name=n", f"--timestamp={ts}")
        assert (code, obj["error"]) == (3, f"--timestamp '{ts}' is not a timestamp")


BOOL_FORMS = "use true/false, t/f, yes/no, y/n or 1/0 (any case)"
TRUE_CELLS = ["true", "TRUE", "t", "T", "yes", "Yes", "y", "Y", "1", " t "]
FALSE_CELLS = ["false", "False", "f", "F", "no", "NO", "n", "N", "0"]


def test_bool_forms_under_type_bool(tmp_path: Path) -> None:
    cells = TRUE_CELLS + FALSE_CELLS + ["maybe", "tru", "2", "ja"]
    rows = [["e", f"u{i}", "1700000000", cell] for i, cell in enumerate(cells)]
    got = check_rows(tmp_path, [*HEADER, "first"], rows, "--type", "first=bool")
    assert got.code == 1
    assert [op["attributes"]["first"] for op in got.ops] == [True] * 10 + [False] * 9
    bad = {i + 2: c for i, c in enumerate(cells) if i >= 19}
    assert got.reasons == {
        row: f"first '{cell}' is not a bool (--type first=bool): {BOOL_FORMS}"
        for row, cell in bad.items()
    }



CURRENCY_MSG = "currency '{}' is not a three-letter ISO 4217 code such as USD"


def test_currency_in_any_case_is_sent_upper_cased(tmp_path: Path) -> None:
    cells = ["usd", "Eur", "gbP", "USD", "xyz", "us", " usd"]
    rows = [["e", f"u{i}", "1700000000", cell] for i, cell in enumerate(cells)]
    got = check_rows(tmp_path, [*HEADER, "currency"], rows)
    assert got.code == 1
    assert [op["attributes"]["currency"] for op in got.ops] == ["USD", "EUR", "GBP", "USD"]
    assert got.reasons == {i + 2: CURRENCY_MSG.format(c) for i, c in enumerate(cells) if i >= 4}
    assert [r["currency"] for r in got.rejects] == ["xyz", "us", " usd"]  # as written


def test_usd_and_lower_case_usd_are_one_event(tmp_path: Path) -> None:
    """The id is derived from what is sent: ``usd`` and ``USD`` make the same event."""
    rows = [["e", "u1", "1700000000", "usd"], ["e", "u1", "1700000000", "USD"]]
    got = check_rows(tmp_path, [*HEADER, "currency"], rows)
    assert (got.summary["sent"], got.summary["duplicates"]) == (1, 1)


def test_send_event_upper_cases_currency() -> None:
    code, obj = dry_event("--person=u1", "--name=n", "-d", "currency=usd", "--id=" + ULID)
    assert (code, obj["request"]["body"]["data"]) == (0, {"currency": "USD"})
    code, obj = dry_event("--person=u1", "--name=n", "-d", "currency=usdx")
    assert (code, obj["error"]) == (3, CURRENCY_MSG.format("usdx"))


UUIDS = [
    "0190a0b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",  # v7, lower case
    "F47AC10B-58CC-4372-A567-0E02B2C3D479",  # v4, upper case
    "6ba7b8109dad11d180b400c04fd430c8",  # v1, no hyphens
]
ID_HINT = "drop the _cio_id column (or empty the cell) so that cio derives each id from its row"


def ulid_of(text: str) -> str:
    """What python-ulid makes of a UUID: the reference for cio's column-wise conversion."""
    return str(PyUlid.from_uuid(uuid.UUID(text)))


def test_a_uuid_id_is_sent_as_the_ulid_of_its_bits(tmp_path: Path) -> None:
    rows = [["e", f"u{i}", "1700000000", u] for i, u in enumerate(UUIDS)]
    rows += [["e", "u9", "1700000000", ULID], ["e", "u8", "1700000000", ""]]
    got = check_rows(tmp_path, [*HEADER, "_cio_id"], rows)
    assert (got.code, got.summary["sent"], got.summary["uuid_ids"]) == (0, 5, 3)
    ids = [op["id"] for op in got.ops]
    assert ids[:4] == [*map(ulid_of, UUIDS), ULID]
    assert ids[0] == "01J2GB5GYMFSFRN6RC3MQ3YJJV"  # 0x0190a0b2... in base 32


def test_the_human_summary_counts_uuid_ids(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", [*HEADER, "_cio_id"], [["e", "u", "1700000000", UUIDS[0]]])
    result = cio("import", path, "--dry-run", "--quiet")
    assert result.exit_code == 0, result.stderr
    assert "of which ids from UUIDs" in result.stderr
    plain = cio("import", write_csv(tmp_path / "p.csv", HEADER, [["e", "u", "1700000000"]]),
                "--dry-run", "--quiet")  # fmt: skip
    assert "UUID" not in plain.stderr


def test_no_uuid_ids_key_without_uuids(tmp_path: Path) -> None:
    got = check_rows(tmp_path, [*HEADER, "_cio_id"], [["e", "u", "1700000000", ULID]])
    assert "uuid_ids" not in got.summary


def test_other_ids_are_rejected_with_the_hint(tmp_path: Path) -> None:
    bad = ["0190a0b2-c3d47e5f-8a9b-0c1d2e3f4a5b", "0190a0b2c3d47e5f8a9b0c1d2e3f4a5", "12345",
           "{F47AC10B-58CC-4372-A567-0E02B2C3D479}", "0190a0b2-c3d4-7e5f-8a9b-0c1d2e3f4a5g"]  # fmt: skip
    rows = [["e", f"u{i}", "1700000000", b] for i, b in enumerate(bad)]
    got = check_rows(tmp_path, [*HEADER, "_cio_id"], rows)
    assert got.code == 1 and not got.ops
    assert got.reasons == {
        i + 2: f"_cio_id '{b}' is not a valid ULID (26 characters of Crockford base32) or UUID;"
        f" {ID_HINT}"
        for i, b in enumerate(bad)
    }
    assert [r["_cio_id"] for r in got.rejects] == bad


def test_a_uuid_and_its_ulid_are_one_id(tmp_path: Path) -> None:
    same = ulid_of(UUIDS[1])
    rows = [["e", "u1", "1700000000", UUIDS[1]], ["e", "u1", "1700000000", same],  # a duplicate
            ["e", "u2", "1700000000", same.lower()]]  # other content, same id  # fmt: skip
    got = check_rows(tmp_path, [*HEADER, "_cio_id"], rows)
    assert (got.summary["sent"], got.summary["duplicates"], got.summary["rejected"]) == (1, 1, 1)
    assert got.reasons[4].startswith(f"_cio_id '{same.lower()}' is already used by row 2 ")
    rows = [["e", "u1", "1700000000", same], ["e", "u2", "1700000000", UUIDS[1].lower()]]
    got = check_rows(tmp_path, [*HEADER, "_cio_id"], rows)
    assert got.reasons[3].startswith(f"_cio_id '{UUIDS[1].lower()}' is already used by row 2 ")


def test_send_event_takes_a_uuid_id() -> None:
    for given in UUIDS:
        code, obj = dry_event("--person=u1", "--name=n", f"--id= {given} ")
        assert (code, obj["request"]["body"]["id"]) == (0, ulid_of(given))
    code, obj = dry_event("--person=u1", "--name=n", "--id=12345")
    assert (code, obj["error"]) == (
        3, "--id '12345' is not a valid ULID (26 characters of Crockford base32) or UUID")  # fmt: skip
    assert obj["hint"] == "pass a ULID or a UUID, or leave out --id for a new random id"


def test_uuid_ids_across_chunks(tmp_path: Path) -> None:
    """Chunks with and without UUIDs (the conversion is skipped where none is)."""
    rows = [["e", f"u{i}", "1700000000", ULID if i == 0 else ""] for i in range(3000)]
    rows += [["e", f"v{i}", "1700000000", str(uuid.UUID(int=i))] for i in range(3000)]
    path = write_csv(tmp_path / "e.csv", [*HEADER, "_cio_id"], rows)
    with block_bytes(8192):
        got = dry_run(path)
    assert (got.summary["sent"], got.summary["uuid_ids"]) == (6000, 3000)
    assert [op["id"] for op in got.ops[3000:]] == [ulid_of(str(uuid.UUID(int=i))) for i in range(3000)]
