"""Anonymous rows (SPEC section 8) under the Track API, through the real CLI.

A file may carry ``_cio_anonymous_id`` beside (or instead of) ``_cio_customer_id``; each row
names exactly one of the two. Under the Track API each anonymous event goes alone through
``POST /api/v1/events`` (its v2 batch takes none), paced and in flight like the batches, in
the same journal. The tests run ``cio`` like a user: dry runs and ``validate`` for messages,
rejects and ``--out``; real imports against the fake server on 127.0.0.1 for what is stored.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import ulid

from cio_cli.importer import run as importer_run
from tests.cli_support import (
    SUMMARY_KEYS,
    assert_accounting,
    cio,
    old,
    read_out,
    read_rejects,
    recent,
    summary,
    write_csv,
)
from tests.fakecio import FakeCio

SITE, KEY = "site", "key"
NO_ENV: dict[str, str | None] = dict.fromkeys(
    ("CIO_SITE_ID", "CIO_API_KEY", "CIO_REGION", "CIO_BASE_URL"), None
)
HEADER = ["_cio_name", "_cio_customer_id", "_cio_anonymous_id", "_cio_timestamp", "page"]
T = old(10)
NO_PERSON = "no person: fill _cio_customer_id or _cio_anonymous_id"
BOTH = (
    "both _cio_customer_id and _cio_anonymous_id: an event belongs to one person or one"
    " anonymous id"
)
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
TRACK_OPENAPI = REFERENCE / "customerio-track-openapi.json"


def mixed_rows(n: int) -> list[list[str]]:
    """``n`` old rows alternating a visitor's page view (anonymous) and a known person's event."""
    rows = []
    for i in range(n):
        if i % 2:
            rows.append(["signed_in", f"u{i}", "", str(T + i), f"/app/{i}"])
        else:
            rows.append(["page_viewed", "", f"anon-{i:04d}", str(T + i), f"/pricing?v={i}"])
    return rows


def dry(path: Path, *flags: str) -> tuple[Any, dict[str, Any], list[dict[str, Any]]]:
    """``cio import PATH --dry-run --json --out``: the result, its summary, its ``--out`` lines."""
    out = path.with_name(path.name + ".out.ndjson")
    result = cio("import", path, "--dry-run", "--json", "--out", out, *flags)
    assert result.exit_code in (0, 1), (result.exit_code, result.stdout, result.stderr)
    s = summary(result)
    assert_accounting(s)
    return result, s, read_out(out)


def send(url: str, path: Path, *flags: str) -> Any:
    """``cio import PATH`` for real against ``url``, ``--quiet --json``."""
    return cio("import", path, "--base-url", url, "--site-id", SITE, "--api-key", KEY,
               "--quiet", "--json", *flags, env=NO_ENV)  # fmt: skip


def reasons(path: Path) -> dict[int, str]:
    """``_cio_error`` by row number, from the rejects file beside ``path``."""
    _, rows = read_rejects(path.with_name(path.name + ".rejects.csv"))
    return {int(r["_cio_row"]): r["_cio_error"] for r in rows}


# -- the contract: columns and row rules ---------------------------------------------------------


def test_rows_with_neither_both_or_a_too_long_anonymous_id_are_rejected(tmp_path: Path) -> None:
    long = "a" * 151
    rows = [
        ["page_viewed", "", "anon-1", str(T), "/"],
        ["page_viewed", "", "  ", str(T), "/"],  # blank after trimming: neither
        ["signed_in", "u1", "anon-1", str(T), "/"],
        ["page_viewed", "", long, str(T), "/"],
        ["page_viewed", "", "é" * 75, str(T), "/"],  # 150 bytes: fits
        ["signed_in", " u2 ", "", str(T), "/"],
    ]
    path = write_csv(tmp_path / "events.csv", HEADER, rows)
    expected = {3: NO_PERSON, 4: BOTH,
                5: "_cio_anonymous_id is 151 bytes; Customer.io allows at most 150"}  # fmt: skip
    for command in ("validate", "import"):
        args = ["--dry-run", "--out", str(tmp_path / "out.ndjson")] if command == "import" else []
        result = cio(command, path, "--json", *args)
        assert result.exit_code == 1, result.stderr
        s = summary(result)
        assert (s["rows"], s["sent"], s["rejected"], s["anonymous"]) == (6, 3, 3, 2)
        assert s["errors"] == {"anonymous_id_too_long": 1, "customer_and_anonymous_id": 1,
                               "no_person": 1}  # fmt: skip
        assert reasons(path) == expected
    header, rejected = read_rejects(path.with_name("events.csv.rejects.csv"))
    assert header == [*HEADER, "_cio_row", "_cio_error"]
    assert rejected[1]["_cio_anonymous_id"] == "anon-1", "cells kept as written"
    human = cio("validate", path)
    assert f"row 3: {NO_PERSON}" in human.stderr and f"row 4: {BOTH}" in human.stderr


def test_a_file_of_anonymous_ids_only_needs_no_customer_id_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "visits.csv", ["_cio_name", "_cio_anonymous_id", "_cio_timestamp"],
                     [["page_viewed", "v1", str(T)], ["page_viewed", "", str(T)]])  # fmt: skip
    _, s, lines = dry(path)
    assert (s["sent"], s["rejected"], s["anonymous"], s["requests"]) == (1, 1, 1, 1)
    assert reasons(path) == {3: NO_PERSON}
    (line,) = lines
    assert line["path"] == "/api/v1/events"
    assert line["body"]["anonymous_id"] == "v1"


def test_neither_identifier_column_is_a_missing_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", ["_cio_name", "visitor"], [["page_viewed", "v1"]])
    result = cio("validate", path)
    assert result.exit_code == 3
    assert "missing required column _cio_customer_id" in result.stderr


def test_a_file_without_the_column_keeps_todays_message(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", HEADER[:2] + HEADER[3:],
                     [["signed_in", " ", str(T), "/"]])  # fmt: skip
    dry(path)
    assert reasons(path) == {2: "_cio_customer_id is empty"}


def test_anonymous_rows_do_not_count_toward_mixed_identifiers(tmp_path: Path) -> None:
    rows = [["signed_in", "a@example.com", "", str(T), "/"],
            ["page_viewed", "", "anon-7", str(T), "/"],
            ["signed_in", "b@example.com", "", str(T), "/"]]  # fmt: skip
    _, s, _ = dry(write_csv(tmp_path / "emails.csv", HEADER, rows))
    assert (s["sent"], s["anonymous"]) == (3, 1)
    rows.append(["signed_in", "u9", "", str(T), "/"])
    result = cio("validate", write_csv(tmp_path / "mixed.csv", HEADER, rows))
    assert result.exit_code == 3
    assert "the file mixes ids (1 rows, first at row 5) and emails (2 rows" in result.stderr


def test_identifier_email_rejects_no_anonymous_row(tmp_path: Path) -> None:
    rows = [["signed_in", "a@example.com", "", str(T), "/"], ["page_viewed", "", "anon-7", str(T), "/"]]
    _, s, _ = dry(write_csv(tmp_path / "e.csv", HEADER, rows), "--identifier", "email")
    assert (s["sent"], s["rejected"], s["anonymous"]) == (2, 0, 1)


# -- ids and the --out form -----------------------------------------------------------------------


def test_the_dedup_id_uses_the_kind_anonymous_id(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", HEADER, [["page_viewed", "", "anon-1", str(T), "/a"]])
    _, _, (line,) = dry(path)
    canon = json.dumps(["page_viewed", "anonymous_id", "anon-1", T, {"page": "/a"}],
                       separators=(",", ":"), sort_keys=True, ensure_ascii=False)  # fmt: skip
    digest = hashlib.sha256(canon.encode()).digest()
    expected = str(ulid.ULID.from_bytes((T * 1000).to_bytes(6, "big") + digest[:10]))
    assert line == {"path": "/api/v1/events", "body": {
        "anonymous_id": "anon-1", "name": "page_viewed", "data": {"page": "/a"},
        "timestamp": T, "id": expected}}  # fmt: skip
    raw = path.with_name("e.csv.out.ndjson").read_bytes()
    assert raw.startswith(b'{"path":"/api/v1/events","body":{"anonymous_id":"anon-1","name":')


def test_no_timestamp_key_without_a_timestamp_and_known_rows_batch(tmp_path: Path) -> None:
    rows = [["page_viewed", "", "anon-1", "", "/"], ["signed_in", "u1", "", str(T), "/"],
            ["signed_in", "u2", "", str(T), "/"]]  # fmt: skip
    _, s, lines = dry(write_csv(tmp_path / "e.csv", HEADER, rows))
    assert s["requests"] == 2 and s["recent"] == 1
    assert lines[0]["path"] == "/api/v1/events" and "timestamp" not in lines[0]["body"]
    assert [op["identifiers"] for op in lines[1]["batch"]] == [{"id": "u1"}, {"id": "u2"}]


@pytest.mark.skipif(not TRACK_OPENAPI.is_file(), reason="Customer.io's OpenAPI files are not "
                    f"beside the repository ({REFERENCE} is absent)")  # fmt: skip
def test_the_v1_anonymous_body_is_valid_for_customerio_openapi(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    doc = json.loads(TRACK_OPENAPI.read_text(encoding="utf-8"))
    post = doc["paths"]["/api/v1/events"]["post"]
    schema = {**post["requestBody"]["content"]["application/json"]["schema"],
              "components": doc["components"]}  # fmt: skip
    validator = jsonschema.Draft202012Validator(schema)
    rows = [["page_viewed", "", "anon-1", str(T), "/a"], ["page_viewed", "", "anon-2", "", ""],
            ["page_viewed", "", "é" * 75, str(T), "x" * 40_000]]  # fmt: skip
    _, _, lines = dry(write_csv(tmp_path / "e.csv", HEADER, rows))
    assert len(lines) == 3
    for line in lines:
        assert line["path"] == "/api/v1/events"
        errors = [e.message for e in validator.iter_errors(line["body"])]
        assert errors == [], (line["body"], errors)
    bad = validator.iter_errors({"anonymous_id": "a", "name": "n", "timestamp": "soon"})
    assert list(bad), "the schema is read: a text timestamp fails it"


# -- sending ----------------------------------------------------------------------------------


def test_mixed_rows_are_sent_in_batches_and_alone_each_stored_once(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    path = write_csv(tmp_path / "events.csv", HEADER, mixed_rows(40))
    _, planned, lines = dry(path)
    result = send(fake_cio.url, path)
    assert result.exit_code == 0, result.stderr
    s = summary(result)
    assert (s["sent"], s["anonymous"], s["requests"]) == (40, 20, 21)
    posts = [r.path for r in fake_cio.requests]
    assert posts.count("/api/v1/events") == 20 and posts.count("/api/v2/batch") == 1
    stored = fake_cio.events_by_id
    assert len(stored) == 40 and not fake_cio.duplicate_ids
    want = {line["body"]["id"] for line in lines if "path" in line}
    assert {i for i, e in stored.items() if "anonymous_id" in e["identifiers"]} == want
    assert stored[lines[0]["body"]["id"]]["identifiers"] == {"anonymous_id": "anon-0000"}
    assert planned["requests"] == s["requests"]


def test_a_failed_run_resumes_and_sends_no_event_twice(tmp_path: Path, fake_cio: FakeCio) -> None:
    path = write_csv(tmp_path / "events.csv", HEADER, mixed_rows(30))
    fake_cio.fail_every(7, ("status", 503, {}, b'{"meta":{"error":"down"}}'))
    first = send(fake_cio.url, path, "--max-retries", "0", "--concurrency", "1",
                 "--batch-bytes", "1000")  # fmt: skip
    assert first.exit_code == 5, first.stderr
    done = summary(first)["sent"]
    assert 0 < done < 30
    fake_cio.clear_faults()
    again = send(fake_cio.url, path, "--batch-bytes", "1000")
    assert again.exit_code == 0, again.stderr
    s = summary(again)
    assert (s["sent"], s["resumed"], s["anonymous"]) == (30, done, 15)
    assert len(fake_cio.events_by_id) == 30
    assert not fake_cio.duplicate_ids, "an acknowledged event was sent again"
    assert f"resuming: {done:,} rows were already acknowledged" in again.stderr
    third = send(fake_cio.url, path, "--batch-bytes", "1000")
    assert third.exit_code == 0 and "already imported" in third.stderr


def test_a_refused_anonymous_event_goes_to_the_rejects_file(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    rows = [["api_reject", "", "anon-1", str(T), "/"], ["page_viewed", "", "anon-2", str(T), "/"]]
    path = write_csv(tmp_path / "events.csv", HEADER, rows)
    result = send(fake_cio.url, path)
    assert result.exit_code == 1
    assert (summary(result)["sent"], summary(result)["rejected"]) == (1, 1)
    assert reasons(path) == {2: "refused by Customer.io: rejected by fake server"}


# -- the 72-hour window ---------------------------------------------------------------------------


def test_the_window_applies_to_anonymous_rows(tmp_path: Path, fake_cio: FakeCio) -> None:
    rows = [["page_viewed", "", "anon-1", str(recent()), "/"],
            ["page_viewed", "", "anon-2", "", "/"], ["page_viewed", "", "anon-3", str(T), "/"]]  # fmt: skip
    path = write_csv(tmp_path / "events.csv", HEADER, rows)
    _, s, _ = dry(path)
    assert s["recent"] == 2
    refused = send(fake_cio.url, path)
    assert refused.exit_code == 4 and fake_cio.requests == []
    skipped = send(fake_cio.url, path, "--skip-recent")
    assert skipped.exit_code == 0, skipped.stderr  # --skip-recent alone: exit 0 (SPEC 6)
    s = summary(skipped)
    assert (s["sent"], s["skipped_recent"], s["anonymous"]) == (1, 2, 1)
    assert sorted(reasons(path)) == [2, 3]
    assert [e["identifiers"] for e in fake_cio.events] == [{"anonymous_id": "anon-3"}]


# -- the summary ---------------------------------------------------------------------------------


def visitors(tmp_path: Path, n: int) -> Path:
    """A file of ``n`` old anonymous page views (one column of ids, no customer ids)."""
    rows = [["page_viewed", f"v{i}", str(T + i)] for i in range(n)]
    return write_csv(tmp_path / f"visits{n}.csv", ["_cio_name", "_cio_anonymous_id",
                                                    "_cio_timestamp"], rows)  # fmt: skip


NOTE = "one request each (the track API has no batch for them): --api pipelines sends them in batches"


def test_above_1000_anonymous_events_the_summary_suggests_pipelines(tmp_path: Path) -> None:
    many = cio("validate", visitors(tmp_path, 1001))
    assert many.exit_code == 0
    assert f"1,001 anonymous events would go {NOTE}" in many.stderr
    assert "of which anonymous" in many.stderr
    at = cio("import", visitors(tmp_path, 1000), "--dry-run")
    assert at.exit_code == 0 and "anonymous events would go" not in at.stderr


def test_the_note_after_a_real_import(
    tmp_path: Path, fake_cio: FakeCio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer_run, "MANY_ALONE", 2)  # the user sees 1,000: see above
    result = cio("import", visitors(tmp_path, 3), "--base-url", fake_cio.url, "--site-id", SITE,
                 "--api-key", KEY, "--quiet", env=NO_ENV)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert f"3 anonymous events went {NOTE}" in result.stderr
    assert len(fake_cio.events) == 3


def test_the_json_key_appears_only_with_the_column(tmp_path: Path) -> None:
    with_column = summary(cio("validate", visitors(tmp_path, 2), "--json"))
    keys = list(with_column)
    assert keys[keys.index("resumed") + 1] == "anonymous"
    assert [k for k in keys if k != "anonymous"] == [k for k in keys if k in SUMMARY_KEYS]
    plain = write_csv(tmp_path / "p.csv", ["_cio_name", "_cio_customer_id"], [["x", "u1"]])
    assert "anonymous" not in summary(cio("validate", plain, "--json"))


# -- send-event ---------------------------------------------------------------------------------


def test_send_event_anonymous_id_over_150_bytes(fake_cio: FakeCio) -> None:
    result = cio("send-event", "--anonymous-id", "é" * 76, "--name", "page_viewed",
                 "--base-url", fake_cio.url, "--site-id", SITE, "--api-key", KEY, env=NO_ENV)  # fmt: skip
    assert result.exit_code == 3
    assert "error: --anonymous-id is 152 bytes; Customer.io allows at most 150" in result.stderr
    assert fake_cio.requests == []
    fits = cio("send-event", "--anonymous-id", "é" * 75, "--name", "page_viewed", "--dry-run")
    assert fits.exit_code == 0, fits.stderr


def test_the_sample_file_does_what_its_readme_row_says(tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parent.parent / "sample_csvs" / "anonymous_visitors.csv"
    path = tmp_path / sample.name
    path.write_bytes(sample.read_bytes())
    _, s, lines = dry(path)
    assert (s["exit_code"], s["rows"], s["sent"], s["anonymous"], s["requests"]) == (0, 17, 17, 11, 12)
    alone = [line for line in lines if "path" in line]
    assert len(alone) == 11 and {line["path"] for line in alone} == {"/api/v1/events"}
    (batch,) = [line["batch"] for line in lines if "batch" in line]
    assert {op["identifiers"]["id"] for op in batch} == {"u_20931", "u_20944"}


def test_known_rows_keep_their_ids_when_the_column_is_added(tmp_path: Path) -> None:
    row = ["signed_in", "u1", str(T), "/a"]
    _, _, before = dry(write_csv(tmp_path / "a.csv", HEADER[:2] + HEADER[3:], [row]))
    _, _, after = dry(write_csv(tmp_path / "b.csv", HEADER, [row[:2] + [""] + row[2:]]))
    assert before == after
