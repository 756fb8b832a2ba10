"""Warehouse value forms (SPEC section 10): timestamps, booleans, currency, UUID ids.

Each form goes through the real CLI: a CSV dry run (``--out``, the rejects file, the
summary, the exit code) and, where send-event takes the same value, ``cio send-event``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli_support import check_rows, cio

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
