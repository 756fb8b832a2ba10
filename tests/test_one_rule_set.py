"""One rule set: ``cio send-event`` and a one-row CSV judge an event alike (SPEC section 3).

For random names, people, timestamps, data and ids, ``cio send-event ... --dry-run --json``
and ``cio import ROW.csv --dry-run --out`` must reach the same verdict, give the same reason
(the field named as a flag on one side, as a column on the other), and, when the event is
valid, build the same event: name, person, id (when given), timestamp and data.

The data travels as JSON on both sides: ``--data OBJECT`` for send-event, one column per
key under ``--type KEY=json`` for the CSV (``--types string`` so that nothing is inferred);
the reserved keys (``revenue``, ``currency``, ``recipient``...), whose type is fixed, travel
as text (``-d key=text`` and a plain cell). A top-level non-object (``--data 3``) has no CSV
form: a CSV row's data is always an object of its columns, so it is left out here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cio_cli.check.contract import SEMANTIC
from cio_cli.check.rule_table import WHITESPACE
from tests.cli_support import cio, read_out, read_rejects, write_csv

ULID = "01J0000000ABCDEFGHJKMNPQRS"
NOW = int(time.time())
LABELS = {  # send-event names a field by its flag, a CSV row by its column
    "the event name": "_cio_name",
    "--person": "_cio_customer_id",
    "--anonymous-id": "_cio_anonymous_id",
    "--timestamp": "_cio_timestamp",
    "--id": "_cio_id",
    "the event data": "data",
}
RESERVED_TEXT = {
    "revenue": ["12.5", "3", "-0.25", "1e3", "abc", " 7 ", "1,000", "0x10", "NaN", "+3"],
    "value": ["200", "2.50", "x"],
    "currency": ["USD", "EUR", "usd", "XYZ", "US", " USD"],
    "recipient": ["a@b.co", "Ann <a@b.co>", "nope", "a@b", "x y@b.co"],
    "from_address": ["ops@example.com", "@x.com"],
    "reply_to": ["r@x.io", "r@x"],
}

_chars = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
_word = st.text(_chars, max_size=12)
_space = st.sampled_from(["", " ", "  ", "\t", "\u00a0", "\u3000", "\x1f", "\x85", "\u2028"])

names = st.one_of(
    _word,
    st.builds(lambda a, b, c: a + b + c, _space, _word, _space),
    st.sampled_from([*SEMANTIC, "user deleted", "a b", "a*b", "a+b", "a|b", "plain_name"]),
    st.builds(lambda n, tail: "é" * n + tail, st.integers(45, 52), st.sampled_from(["", "x"])),
)
people = st.one_of(
    _word,
    st.builds(lambda a, b, c: a + b + c, _space, _word, _space),
    st.builds(lambda u, d: f"{u}@{d}.com", _word, st.sampled_from(["x", "ex ample", "é"])),
    st.builds(lambda t: "cio_" + t, _word),
    st.builds(lambda n, tail: "é" * n + tail, st.integers(70, 76), st.sampled_from(["", "x"])),
    st.sampled_from(["u1", "a+b@x.com", "cio_03000001", ".", "..", "a/b c", "%2F"]),
)
_old = st.integers(0, NOW - 4 * 86_400)
_iso = st.builds(
    lambda s, sep, frac, zone: (
        time.strftime(f"%Y-%m-%d{sep}%H:%M:%S", time.gmtime(s)) + frac + zone
    ),
    _old,
    st.sampled_from(["T", " ", "t"]),
    st.sampled_from(["", ".5", ".123456", ".123456789", ".1234567891"]),
    st.sampled_from(["Z", "z", "+02:00", "-0530", "+01", "", "+2:00", "UTC", "+25:00",
                     " UTC", " +0000", "+00", " -05", " Z", " utc", "  +0000"]),  # fmt: skip
)
timestamps = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "",
            " ",
            "abc",
            "12:00",
            "2024-05-01",
            "2024-02-30T00:00:00Z",
            "-1",
            "1e9",
            "0x10",
            "+5",
            "1_000",
            "99999999999",
            "100000000000",
            "0",
            ".5",
            "2024-05-01T12:00Z",
            "2024-05-01T25:00:00Z",
            "١٢٣",
            "2016-12-31T23:59:60Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:00:00-00:00",
            "2024-05-01T12:00:00+14:30",
            "2024-05-01T12:00:00.Z",
            "1970-01-01T00:00:00+01:00",
        ]
    ),
    _old.map(str),
    _old.map(lambda s: str(s * 1000 + 7)),
    st.builds(lambda s, f: f"{s}.{f}", _old, st.sampled_from(["0", "5", "999", "25"])),
    st.builds(lambda s, f: f"{s * 1000}.{f}", _old, st.sampled_from(["0", "5"])),
    st.integers(NOW + 3_600, NOW + 10**9).map(str),
    st.integers(-(10**12), -1).map(str),
    st.builds(lambda s, pad: pad + s + pad, _old.map(str), _space),
    _iso,
)
_key = st.text(
    st.characters(categories=("L", "N"), include_characters="_ .-"), min_size=1, max_size=8
).filter(
    lambda k: (
        not k.strip().lower().startswith("_cio_") and k not in RESERVED_TEXT and k.strip() != ""
    )
)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.text(_chars, max_size=10)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
_big = st.integers(99_960, 100_010).map(lambda n: {"big": "x" * n})
_deep = st.integers(250, 258).map(lambda n: {"deep": json.loads("[" * n + "]" * n)})
datas = st.one_of(st.dictionaries(_key, _json, max_size=4), _big, _deep)
reserved = st.dictionaries(st.sampled_from(sorted(RESERVED_TEXT)), st.just(""), max_size=2).flatmap(
    lambda d: st.fixed_dictionaries({k: st.sampled_from(RESERVED_TEXT[k]) for k in d})
)
ids = st.one_of(st.none(), st.just(ULID), st.sampled_from([  # not "": see test_empty_id
    ULID.lower(), " " + ULID, "81J0000000ABCDEFGHJKMNPQRS", ULID[:-1], ULID + "0",
    "01J0000000ABCDEFGHJKMNPQRI", "x", "0190a0b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
    " 0190A0B2C3D47E5F8A9B0C1D2E3F4A5B", "0190a0b2-c3d47e5f-8a9b-0c1d2e3f4a5b",
    "0190a0b2-c3d4-7e5f-8a9b-0c1d2e3f4a5g", "{0190a0b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b}"]))  # fmt: skip
Verdict = tuple[bool, str, dict[str, Any]]  # valid, the reason if not, the event if so


def compact(value: Any) -> str:
    """A JSON value as send-event writes it (so that messages quote the same text)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def event_of(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """What a v1 request says: name, person (or anonymous id), id, timestamp, data."""
    who = body["anonymous_id"] if path == "/api/v1/events" else unquote(path.split("/")[4])
    return {"name": body["name"], "person": who, "id": body["id"],
            "timestamp": body.get("timestamp"), "data": body["data"]}  # fmt: skip


def send_event(name: str, person: str, ts: str | None, data: dict[str, Any],
               text: dict[str, str], eid: str | None, flag: str = "--person") -> Verdict:  # fmt: skip
    """The verdict of ``cio send-event --dry-run --json``, fields named as columns."""
    args = ["send-event", f"{flag}={person}", f"--name={name}", "--dry-run", "--json",
            f"--data={compact(data)}"]  # fmt: skip
    args += [a for k, v in text.items() for a in ("-d", f"{k}={v}")]
    args += [f"--timestamp={ts}"] if ts is not None else []
    args += [f"--id={eid}"] if eid is not None else []
    result = cio(*args)
    obj = json.loads(result.stdout)
    assert result.exit_code in (0, 3), (result.exit_code, obj)
    if result.exit_code:
        reason = obj["error"]
        for flag, column in LABELS.items():
            reason = reason.replace(flag, column, 1) if reason.startswith(flag) else reason
        return False, reason, {}
    return True, "", event_of(obj["request"]["path"], obj["request"]["body"])


def one_row(tmp: Path, name: str, person: str, ts: str | None, data: dict[str, Any],
            text: dict[str, str], eid: str | None,
            column: str = "_cio_customer_id") -> Verdict:  # fmt: skip
    """The verdict of a one-row CSV through ``cio import --dry-run --out``: every reason."""
    header = ["_cio_name", column] + ["_cio_timestamp"] * (ts is not None)
    header += ["_cio_id"] * (eid is not None) + [*data, *text]
    row = [name, person, *([ts] if ts is not None else []), *([eid] if eid is not None else [])]
    row += [compact(v) for v in data.values()] + list(text.values())
    path = write_csv(tmp / "row.csv", header, [row])
    out, rejects = tmp / "out.ndjson", tmp / "rejects.csv"
    for stale in (out, rejects):
        stale.unlink(missing_ok=True)
    types = [a for k in data for a in ("--type", f"{k}=json")]
    result = cio("import", path, "--dry-run", "--quiet", "--allow-recent", "--types", "string",
                 "--out", out, "--rejects", rejects, *types)  # fmt: skip
    assert result.exit_code in (0, 1), (result.exit_code, result.stderr)
    if result.exit_code:
        _, rows = read_rejects(rejects)
        assert len(rows) == 1, rows
        why = rows[0]["_cio_error"]
        for key in data:  # the flag that made the cell JSON, which send-event has not
            why = why.replace(f" (--type {key}=json)", "")
        return False, why, {}
    (op,) = [op for line in read_out(out) for op in line.get("batch", [line])]
    if "path" in op:  # an anonymous op, or one over 32,000 bytes, goes alone through v1
        return True, "", event_of(op["path"], op["body"])
    ((_, who),) = op["identifiers"].items()
    return True, "", {"name": op["name"], "person": who, "id": op["id"],
                      "timestamp": op.get("timestamp"), "data": op["attributes"]}  # fmt: skip


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(names, people, timestamps, datas, reserved, ids)
def test_send_event_and_a_csv_row_agree(tmp_path: Path, name: str, person: str, ts: str | None,
                                        data: dict[str, Any], text: dict[str, str],
                                        eid: str | None) -> None:  # fmt: skip
    ok, reason, event = send_event(name, person, ts, data, text, eid)
    row_ok, reasons, row_event = one_row(tmp_path, name, person, ts, data, text, eid)
    assert ok == row_ok, (reason, reasons)
    if not ok:
        assert reason in reasons  # send-event stops at its first broken rule
    else:
        if eid is None:  # send-event makes a random id, a row a derived one
            event["id"] = row_event["id"]
        assert event == row_event


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(names, people, timestamps, datas, reserved, ids)
def test_send_event_and_an_anonymous_row_agree(tmp_path: Path, name: str, visitor: str,
                                               ts: str | None, data: dict[str, Any],
                                               text: dict[str, str],
                                               eid: str | None) -> None:  # fmt: skip
    """``--anonymous-id`` and a file of ``_cio_anonymous_id`` (SPEC section 8): one verdict."""
    ok, reason, event = send_event(name, visitor, ts, data, text, eid, "--anonymous-id")
    row_ok, reasons, row_event = one_row(tmp_path, name, visitor, ts, data, text, eid,
                                         "_cio_anonymous_id")  # fmt: skip
    assert ok == row_ok, (reason, reasons)
    if not ok and reason == "_cio_anonymous_id is empty":  # documented in check/rule_table.py
        assert "no person: fill _cio_customer_id or _cio_anonymous_id" in reasons
    elif not ok:
        assert reason in reasons
    else:
        if eid is None:
            event["id"] = row_event["id"]
        assert event == row_event


def test_an_anonymous_id_over_150_bytes_is_refused_alike(tmp_path: Path) -> None:
    visitor = "é" * 75 + "x"
    verdict = send_event("n", visitor, OLD, {}, {}, ULID, "--anonymous-id")
    assert verdict[:2] == (False, "_cio_anonymous_id is 151 bytes; Customer.io allows at most 150")
    assert one_row(tmp_path, "n", visitor, OLD, {}, {}, ULID, "_cio_anonymous_id")[1] == (
        verdict[1]
    )


# -- the disagreements the property test found, fixed toward the CSV rules -------------------

OLD = str(NOW - 10 * 86_400)


def dry_event(*args: str) -> dict[str, Any]:
    """The request ``cio send-event --person ... --dry-run`` prints, parsed."""
    result = cio("send-event", *args, "--dry-run", f"--id={ULID}")
    assert result.exit_code == 0, result.stderr
    request = json.loads(result.stdout)
    assert isinstance(request, dict)
    return request


def test_trimmed_means_what_a_csv_cell_loses() -> None:
    # \x1f is not white space to a CSV row (nor to Unicode): it stays; \u2028 goes.
    request = dry_event("--person=\x1fu1\u2028", "--name=\u3000x\x1f", f"--timestamp=\u2028{OLD} ")
    assert request["path"] == "/api/v1/customers/%1Fu1/events"
    body = request["body"]
    assert (body["name"], body["timestamp"]) == ("x\x1f", int(OLD))


def test_data_nests_as_deep_as_a_csv_column_may() -> None:
    fits = {"deep": json.loads("[" * 254 + "]" * 254)}  # 255 levels with the data object
    assert dry_event("--person=u1", "--name=n", f"--data={compact(fits)}")["body"]["data"] == fits
    result = cio("send-event", "--person=u1", "--name=n", "--dry-run", "--data",
                 compact({"deep": json.loads("[" * 255 + "]" * 255)}))  # fmt: skip
    assert result.exit_code == 3
    assert result.stderr.splitlines()[-1] == (
        "error: deep '" + "[" * 60 + "...' nests arrays or objects more than 254 levels deep,"
        " which cio cannot send"
    )


def test_numeric_text_for_revenue_is_sent_as_written() -> None:
    result = cio("send-event", "--person=u1", "--name=n", "--dry-run", "-d", "revenue= 1e3 ",
                 "-d", "value=2.50", f"--timestamp={OLD}", f"--id={ULID}")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert '"data":{"revenue":1e3,"value":2.50}' in result.stdout


def test_data_too_large_says_what_a_csv_row_says() -> None:
    big = compact({"k": "x" * 100_000})
    result = cio("send-event", "--person=u1", "--name=n", "--dry-run", "--data", big)
    assert result.exit_code == 3
    assert "error: the event data is 100008 bytes of JSON; Customer.io allows at most 100000" in (
        result.stderr
    )


def test_empty_id_is_refused_unlike_an_empty_cell() -> None:
    """A documented difference (check/rule_table.py): an empty flag is a mistake, an empty cell absent."""
    result = cio("send-event", "--person=u1", "--name=n", "--dry-run", "--id=")
    assert result.exit_code == 3
    assert "error: --id '' is not a valid ULID (26 characters of Crockford base32)" in (
        result.stderr
    )


def test_a_signed_timestamp_is_refused_in_a_file_of_integers(tmp_path: Path) -> None:
    # polars reads "+5" as an integer; the contract's Unix seconds have no sign but "-"
    path = write_csv(tmp_path / "e.csv", ["_cio_name", "_cio_customer_id", "_cio_timestamp"],
                     [["n", "u1", "+5"], ["n", "u2", OLD]])  # fmt: skip
    result = cio("import", path, "--dry-run", "--quiet", "--rejects", tmp_path / "r.csv")
    assert result.exit_code == 1
    _, rows = read_rejects(tmp_path / "r.csv")
    assert [(r["_cio_row"], r["_cio_error"]) for r in rows] == [
        ("2", "_cio_timestamp '+5' is not a timestamp: use Unix seconds, Unix milliseconds,"
              " or ISO-8601 with Z or an offset")]  # fmt: skip
    assert (
        cio("send-event", "--person=u1", "--name=n", "--timestamp=+5", "--dry-run").exit_code == 3
    )


@pytest.mark.xfail(strict=True, reason="left for a decision: the CSV path floors a double")
def test_a_decimal_beyond_a_double_is_floored_alike(tmp_path: Path) -> None:
    # SPEC: decimals floored. send-event floors the exact decimal (1699999999); the CSV path
    # reads it as a double first, which rounds it up to 1700000000.
    ts = "1699999999.99999999999"
    assert dry_event("--person=u1", "--name=n", f"--timestamp={ts}")["body"]["timestamp"] == (
        1_699_999_999
    )
    verdict = one_row(tmp_path, "n", "u1", ts, {}, {}, ULID)
    assert verdict[2]["timestamp"] == 1_699_999_999


def test_a_leap_second_is_read_as_a_csv_cell_reads_it(tmp_path: Path) -> None:
    for ts, seconds in (("2016-12-31T23:59:60Z", 1_483_228_800), ("2016-12-31 12:34:60.5+00:00",
                        1_483_187_700)):  # fmt: skip
        assert dry_event("--person=u1", "--name=n", f"--timestamp={ts}")["body"]["timestamp"] == (
            seconds
        )
        assert one_row(tmp_path, "n", "u1", ts, {}, {}, ULID)[2]["timestamp"] == seconds


def test_whitespace_is_what_polars_trims() -> None:
    cells = [chr(i) + "a" + chr(i) for i in range(0x110000) if not 0xD800 <= i < 0xE000]
    trimmed = pl.Series(cells).str.strip_chars().to_list()
    assert trimmed == [cell.strip(WHITESPACE) for cell in cells]
