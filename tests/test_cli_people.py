"""``--kind people`` end to end (SPEC section 13), through the real CLI against the fake
server on 127.0.0.1, which stores Track identify ops and Pipelines identify calls in
``people``. Every body is checked against Customer.io's OpenAPI files
(tests/openapi_support.py), as the event bodies are.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from tests.cli_support import (
    assert_accounting,
    cio,
    kill_after,
    old,
    read_out,
    read_rejects,
    summary,
    write_csv,
)
from tests.fakecio import FakeCio, Reply
from tests.openapi_support import assert_pipelines_batch, assert_track_batch

ROOT = Path(__file__).resolve().parent.parent
NO_ENV: dict[str, str | None] = {
    "CIO_SITE_ID": None, "CIO_API_KEY": None, "CIO_REGION": None, "CIO_BASE_URL": None,
    "CIO_API": None, "CIO_PIPELINES_KEY": None, "GITHUB_ACTIONS": None,
}  # fmt: skip
PK = "pipekey-5f2c"
HEADER = ["_cio_customer_id", "email", "first_name", "plan", "seats", "created_at",
          "_cio_timestamp"]  # fmt: skip
T = old(10)
ISO_T = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(T))
CREATED = 1709287200  # 2024-03-01T10:00:00Z
NOTE = (
    "note: adding or updating people can make them join segments and start segment-triggered"
    " campaigns, as a recent event can; and Customer.io may skip an update whose"
    " _cio_timestamp is older than the person's last change (it still answers 200)"
)
ROWS = [
    ["u1", "ann@example.com", "Ann", "pro", "3", "2024-03-01T10:00:00Z", str(T)],
    ["u2", "bob@example.com", "", "free", "1", "1709287200000", ""],
    ["u1", "ann@example.com", "Ann", "team", "5", "2024-03-01 11:00:00+01:00", str(T + 60)],
]


def people_file(tmp_path: Path, rows: list[list[str]] | None = None,
                header: list[str] | None = None) -> Path:  # fmt: skip
    """A people CSV in ``tmp_path``."""
    return write_csv(tmp_path / "people.csv", header or HEADER, ROWS if rows is None else rows)


def track(url: str, path: Path, *flags: str, env: dict[str, str | None] | None = None) -> Result:
    """``cio import PATH --kind people`` to the Track API at ``url``, ``--json``."""
    return cio("import", path, "--kind", "people", "--base-url", url, "--site-id", "site",
               "--api-key", "key", "--json", *flags, env=NO_ENV | (env or {}))  # fmt: skip


def pipes(url: str, path: Path, *flags: str) -> Result:
    """``cio import PATH --kind people --api pipelines`` to ``url``, ``--json``."""
    return cio("import", path, "--kind", "people", "--api", "pipelines", "--base-url", url,
               "--pipelines-key", PK, "--json", *flags, env=NO_ENV)  # fmt: skip


def finished(result: Result, code: int) -> dict[str, Any]:
    """The --json summary of a run that ended with ``code``; the accounting holds."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    s = summary(result)
    assert_accounting(s)
    assert "by_name" not in s, "a person has no event name"
    return s


EXPECTED_TRACK: list[dict[str, Any]] = [
    {"type": "person", "identifiers": {"id": "u1"}, "action": "identify", "timestamp": T,
     "attributes": {"created_at": CREATED, "email": "ann@example.com", "first_name": "Ann",
                    "plan": "pro", "seats": 3}},
    {"type": "person", "identifiers": {"id": "u2"}, "action": "identify",
     "attributes": {"created_at": CREATED, "email": "bob@example.com", "plan": "free",
                    "seats": 1}},
    {"type": "person", "identifiers": {"id": "u1"}, "action": "identify", "timestamp": T + 60,
     "attributes": {"created_at": CREATED, "email": "ann@example.com", "first_name": "Ann",
                    "plan": "team", "seats": 5}},
]  # fmt: skip


def test_track_identify_ops_exactly_as_spec_13_valid_and_stored_in_file_order(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    path = people_file(tmp_path)
    out = tmp_path / "out.ndjson"
    dry = cio("import", path, "--kind", "people", "--dry-run", "--out", out, "--json", env=NO_ENV)
    finished(dry, 0)
    lines = read_out(out)
    for line in lines:
        assert_track_batch(line)
    assert [op for line in lines for op in line["batch"]] == EXPECTED_TRACK
    assert all("id" not in op and "name" not in op for op in EXPECTED_TRACK)
    s = finished(track(fake_cio.url, path), 0)
    assert s["sent"] == 3 and s["columns"]["created_at"]["type"] == "int"
    assert [p["attributes"]["plan"] for p in fake_cio.people] == ["pro", "free", "team"]
    assert [p["timestamp"] for p in fake_cio.people] == [T, None, T + 60]
    assert fake_cio.events == [], "no event is sent"


def test_pipelines_identify_calls_exactly_as_spec_13_valid_in_strict_mode(
    tmp_path: Path,
) -> None:
    path = people_file(tmp_path)
    with FakeCio(pipelines_key=PK) as fake:
        s = finished(pipes(fake.url, path), 0)
        calls = fake.calls
        assert all(r.strict for r in fake.requests), "X-Strict-Mode: 1"
    assert s["sent"] == 3
    assert_pipelines_batch({"batch": calls})
    ids = [c.pop("messageId") for c in calls]
    assert len(set(ids)) == 3 and all(len(i) == 26 for i in ids)
    traits = [op["attributes"] for op in EXPECTED_TRACK]
    assert calls == [
        {"type": "identify", "userId": "u1", "traits": traits[0], "timestamp": ISO_T},
        {"type": "identify", "userId": "u2", "traits": traits[1]},
        {"type": "identify", "userId": "u1", "traits": traits[2],
         "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(T + 60))},
    ]  # fmt: skip
    again = cio("import", path, "--kind", "people", "--api", "pipelines", "--dry-run", "--out",
                tmp_path / "again.ndjson", "--quiet", env=NO_ENV)  # fmt: skip
    assert again.exit_code == 0
    assert [c["messageId"] for c in read_out(tmp_path / "again.ndjson")[0]["batch"]] == ids, (
        "the same row gives the same messageId on every run"
    )


def test_update_only_adds_update_on_track_and_is_a_usage_error_with_pipelines(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    path = people_file(tmp_path, [["u1", "", "", "pro", "", "", ""], ["u2", "", "", "", "", "", ""]])
    finished(track(fake_cio.url, path, "--update-only"), 0)
    assert [p["attributes"] for p in fake_cio.people] == [
        {"plan": "pro", "_update": True}, {"_update": True}
    ]
    refused = pipes(fake_cio.url, path, "--update-only")
    assert refused.exit_code == 2
    assert "--update-only cannot be sent with --api pipelines" in refused.stderr
    events = cio("import", path, "--update-only", "--dry-run", env=NO_ENV)
    assert events.exit_code == 2 and "--update-only goes with --kind people" in events.stderr


def test_clear_empty_sends_null_where_the_default_leaves_the_attribute(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    path = people_file(tmp_path, [["u1", "", "Ann", "", "2", "", ""]])
    finished(track(fake_cio.url, path), 0)
    finished(track(fake_cio.url, path, "--clear-empty", "--restart"), 0)
    kept, cleared = (p["attributes"] for p in fake_cio.people)
    assert kept == {"first_name": "Ann", "seats": 2}
    assert cleared == {"created_at": None, "email": None, "first_name": "Ann", "plan": None,
                       "seats": 2}  # fmt: skip
    null = cio("import", path, "--kind", "people", "--dry-run", "--json", "--null-value", "Ann",
               "--clear-empty", "--out", tmp_path / "o.ndjson", env=NO_ENV)  # fmt: skip
    assert summary(null)["columns"]["first_name"]["empty"] == 1
    assert read_out(tmp_path / "o.ndjson")[0]["batch"][0]["attributes"]["first_name"] is None


def test_email_must_be_an_address_and_created_at_takes_every_timestamp_form(
    tmp_path: Path,
) -> None:
    forms = ["1709287200", "1709287200000", "1709287200.9", "2024-03-01T10:00:00Z",
             "2024-03-01T11:00:00+01:00", "2024-03-01 10:00:00 UTC", "2024-03-01T10:00:00.5+0000"]  # fmt: skip
    rows = [[f"u{i}", "a@b.co", "", "", "", f, ""] for i, f in enumerate(forms)]
    rows += [["bad1", "not an email", "", "", "", "", ""],
             ["bad2", "Ann <a@b.co>", "", "", "", "", ""],
             ["bad3", "a@b.co", "", "", "", "yesterday", ""],
             ["bad4", "a@b.co", "", "", "", "2024-03-01", ""]]  # fmt: skip
    path = people_file(tmp_path, rows)
    out = tmp_path / "out.ndjson"
    result = cio("validate", path, "--kind", "people", "--json", env=NO_ENV)
    s = finished(result, 1)
    assert s["errors"] == {"email_invalid": 2, "created_at_invalid": 1, "timestamp_no_zone": 1}
    _, rejects = read_rejects(tmp_path / "people.csv.rejects.csv")
    assert {r["_cio_customer_id"]: r["_cio_error"] for r in rejects} == {
        "bad1": "email 'not an email' is not an email address",
        "bad2": "email 'Ann <a@b.co>' is not an email address",
        "bad3": "created_at 'yesterday' is not a timestamp: use Unix seconds, Unix milliseconds,"
        " or ISO-8601 with Z or an offset",
        "bad4": "created_at '2024-03-01' has no time zone: add Z or an offset, or pass"
        " --assume-tz ZONE",
    }
    dry = cio("import", path, "--kind", "people", "--dry-run", "--out", out, "--assume-tz", "UTC",
              "--quiet", env=NO_ENV)  # fmt: skip
    assert dry.exit_code == 1
    sent = [op["attributes"] for op in read_out(out)[0]["batch"]]
    assert [a["created_at"] for a in sent] == [CREATED] * len(forms) + [CREATED - 10 * 3600]
    refused = cio("validate", path, "--kind", "people", "--type", "created_at=string")
    assert refused.exit_code == 2 and "created_at is a reserved key" in refused.stderr


class Refusing(FakeCio):
    """A fake that refuses with 400 every batch holding the person ``poison``."""

    def route(self, method: str, raw_path: str, auth_ok: bool, body: bytes,
              strict: bool = False) -> Reply:  # fmt: skip
        if auth_ok and b'"id":"poison"' in body:
            return 400, {}, b'{"meta":{"error":"poisoned person in this batch"}}'
        return super().route(method, raw_path, auth_ok, body, strict)


def test_207_and_400_refusals_of_single_people_go_to_the_rejects_file(tmp_path: Path) -> None:
    rows = [[f"u{i}", "", "", "pro", str(i), "", str(T)] for i in range(40)]
    rows[5][0], rows[30][0] = "api_reject", "poison"
    path = people_file(tmp_path, rows)
    with Refusing("site", "key") as fake:
        s = finished(track(fake.url, path, "--batch-bytes", "3000", "--quiet"), 1)
        stored = {p["identifiers"]["id"] for p in fake.people}
    assert s["sent"] == 38 and s["rejected"] == 2 and s["errors"] == {"api_refused": 2}
    assert stored == {f"u{i}" for i in range(40)} - {"u5", "u30"}
    header, rejects = read_rejects(tmp_path / "people.csv.rejects.csv")
    assert header == [*HEADER, "_cio_row", "_cio_error"]
    assert [(r["_cio_row"], r["_cio_customer_id"]) for r in rejects] == [
        ("7", "api_reject"), ("32", "poison")
    ]
    assert "rejected by fake server" in rejects[0]["_cio_error"]
    assert "poisoned person in this batch" in rejects[1]["_cio_error"]


def test_an_update_too_large_for_a_batch_is_rejected_with_the_fix(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    path = people_file(tmp_path, [["u1", "", "", "x" * 33_000, "", "", ""],
                                  ["u2", "", "", "pro", "", "", ""]])  # fmt: skip
    s = finished(track(fake_cio.url, path, "--quiet"), 1)
    assert s["rejected"] == 1 and s["errors"] == {"too_large": 1}
    _, rejects = read_rejects(tmp_path / "people.csv.rejects.csv")
    assert rejects[0]["_cio_error"].startswith("the person's update is 33,")
    assert "split its attributes over several rows of the person" in rejects[0]["_cio_error"]
    assert [p["identifiers"] for p in fake_cio.people] == [{"id": "u2"}]


def test_identical_rows_are_duplicates_and_json_reports_as_for_events(tmp_path: Path) -> None:
    rows = [["u1", "a@b.co", "", "pro", "1", "", ""], ["a@b.co", "", "", "pro", "", "", ""],
            ["u1", "a@b.co", "", "pro", "1", "", ""], ["cio_9", "", "", "", "", "", ""]]  # fmt: skip
    path = people_file(tmp_path, rows)
    result = cio("validate", path, "--kind", "people", "--identifier", "per-row", "--json")
    s = finished(result, 0)
    assert (s["rows"], s["sent"], s["duplicates"]) == (4, 3, 1)
    assert s["identifiers"] == {"id": 1, "email": 1, "cio_id": 1}
    assert s["recent"] == 0, "a person's update has no 72-hour window"
    assert list(s["columns"]) == ["email", "first_name", "plan", "seats", "created_at"]
    assert s["columns"]["seats"] == {"type": "int", "empty": 2, "blocker_row": None}
    mixed = cio("validate", path, "--kind", "people")
    assert mixed.exit_code == 3 and "mixes ids" in mixed.stderr


def test_a_file_of_people_without_kind_gets_the_hint_and_event_columns_are_refused(
    tmp_path: Path,
) -> None:
    path = people_file(tmp_path)
    result = cio("validate", path)
    assert result.exit_code == 3
    assert result.stderr.endswith(
        "people.csv: missing required column _cio_name\nhint: if each row is a person (an"
        " identifier and attributes), not an event, pass --kind people; the header has"
        " '_cio_customer_id', 'email', 'first_name', 'plan', 'seats', 'created_at',"
        " '_cio_timestamp'\n"
    )
    mapped = write_csv(tmp_path / "users.csv", ["user_id", "plan"], [["u1", "pro"]])
    hinted = cio("validate", mapped)
    assert "pass --kind people" in hinted.stderr and "--map user_id=_cio_customer_id" in (
        hinted.stderr
    )
    events = write_csv(tmp_path / "events.csv", ["_cio_customer_id", "event", "plan"], [])
    assert "--kind people" not in cio("validate", events).stderr, "it looks like events"
    named = write_csv(tmp_path / "named.csv", ["_cio_name", "_cio_customer_id"], [["a", "u1"]])
    refused = cio("validate", named, "--kind", "people")
    assert refused.exit_code == 3
    assert "--kind people: the file has a _cio_name column (column 1)" in refused.stderr
    assert "pass --map _cio_name=- to drop the column" in refused.stderr
    config = tmp_path / "cio.toml"
    config.write_text('kind = "people"\n', encoding="utf-8")
    assert cio("validate", path, "--config", config).exit_code == 0


def test_the_note_is_said_once_before_a_real_import_and_in_the_step_summary(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    path = people_file(tmp_path)
    step = tmp_path / "step.md"
    env: dict[str, str | None] = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(step)}
    result = track(fake_cio.url, path, env=env)
    finished(result, 0)
    assert result.stderr.count(NOTE) == 1
    report = step.read_text(encoding="utf-8")
    assert report.count("**Note**: adding or updating people can make them join segments") == 1
    assert "older than the person's last change" in report and "Events per name" not in report
    assert "72-hour" not in report and "**Update time**" in report
    dry = cio("import", path, "--kind", "people", "--dry-run", "--quiet", env=NO_ENV)
    assert dry.exit_code == 0 and "segment" not in dry.stderr, "said before a real import only"


def test_shards_split_people_by_person_and_their_union_is_the_file(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    rows = [[f"u{i % 25}", "", "", f"p{i}", str(i), "", str(T + i)] for i in range(100)]
    rows[7][1] = "broken"
    path = people_file(tmp_path, rows)
    shards: dict[str, set[str]] = {}
    rejected: list[str] = []
    for i in (1, 2, 3):
        fake_cio.reset()
        result = track(fake_cio.url, path, "--shard", f"{i}/3", "--quiet")
        s = finished(result, 1 if s_rejected(result) else 0)
        plans = [p["attributes"]["plan"] for p in fake_cio.people]
        shards[f"{i}/3"] = {p["identifiers"]["id"] for p in fake_cio.people}
        assert s["shard"] == f"{i}/3" and len(plans) == s["sent"]
        per_person: dict[str, list[int]] = {}
        for p in fake_cio.people:
            per_person.setdefault(p["identifiers"]["id"], []).append(p["attributes"]["seats"])
        assert all(v == sorted(v) for v in per_person.values()), "each person in file order"
        rejects = tmp_path / f"people.csv.shard-{i}-of-3.rejects.csv"
        if rejects.exists():
            rejected += [r["_cio_row"] for r in read_rejects(rejects)[1]]
    assert sum(len(v) for v in shards.values()) == 25 and set().union(*shards.values()) == {
        f"u{i}" for i in range(25)
    }
    assert rejected == ["9"], "the rejected row is in its person's shard only"


def s_rejected(result: Result) -> int:
    """The rejected rows a --json summary counts."""
    return int(json.loads(result.stdout)["rejected"])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIO_", "GITHUB_"))}
    return env | {"CIO_SITE_ID": "site", "CIO_API_KEY": "key", "PYTHONPATH": str(ROOT)}


def test_sigterm_then_resume_stores_each_update_once(tmp_path: Path) -> None:
    rows = [[f"u{i}", "", "", f"plan {i}", str(i), "", str(T)] for i in range(1500)]
    path = people_file(tmp_path, rows)
    cmd = [sys.executable, "-m", "cio_cli", "import", str(path), "--kind", "people",
           "--base-url", "", "--batch-bytes", "4000", "--concurrency", "2", "--quiet", "--json"]  # fmt: skip
    with FakeCio("site", "key", delay=0.03) as fake:
        cmd[cmd.index("--base-url") + 1] = fake.url
        proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        limit = time.monotonic() + 30
        while len(fake.requests) < 20:
            assert proc.poll() is None and time.monotonic() < limit, "no signal before the end"
            time.sleep(0.002)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 143
        first = json.loads(out)
        assert 0 < first["sent"] < 1500 and len(fake.people) == first["sent"]
        fake.delay = 0.0
        done = subprocess.run(cmd, env=_env(), capture_output=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr.decode()
        s = json.loads(done.stdout)
    assert s["resumed"] == first["sent"] and s["sent"] == 1500
    seats = sorted(p["attributes"]["seats"] for p in fake.people)
    assert seats == list(range(1500)), "every update stored once"


@pytest.mark.parametrize("api", ["track", "pipelines"])
def test_kill_9_then_resume_stores_every_update_and_repeats_only_what_was_in_flight(
    tmp_path: Path, api: str
) -> None:
    """A kill -9 loses no update and repeats at most the requests in flight (2 here, of at
    most 40 ops each at 4000 bytes). Under Pipelines a repeat carries the first call's
    messageId, which Customer.io drops; a Track identify op has no id, and a repeat is the
    same update with the same timestamp again."""
    rows = [[f"u{i}", "", "", f"plan {i}", str(i), "", str(T)] for i in range(1500)]
    path = people_file(tmp_path, rows)
    cmd = [sys.executable, "-m", "cio_cli", "import", str(path), "--kind", "people",
           "--api", api, "--batch-bytes", "4000", "--concurrency", "2", "--quiet"]  # fmt: skip
    env = _env() | {"CIO_PIPELINES_KEY": PK}
    with FakeCio("site", "key", pipelines_key=PK, delay=0.03) as fake:
        cmd += ["--base-url", fake.url]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        kill_after(proc, lambda: len(fake.requests), 20)
        fake.delay = 0.0
        done = subprocess.run(cmd + ["--json"], env=env, capture_output=True, timeout=60,
                              check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr.decode()
        people = fake.people
    by_seats: dict[int, list[object]] = {}
    for p in people:
        by_seats.setdefault(int(p["attributes"]["seats"]), []).append(p["id"])
    assert sorted(by_seats) == list(range(1500)), "every update stored"
    assert len(people) - 1500 <= 2 * 40, "repeats only what was in flight"
    if api == "pipelines":
        assert all(len(set(ids)) == 1 and ids[0] for ids in by_seats.values())


@pytest.mark.parametrize("flag", ["--skip-recent"])
def test_the_window_flags_of_events(tmp_path: Path, flag: str) -> None:
    path = people_file(tmp_path)
    result = cio("import", path, "--kind", "people", "--dry-run", flag)
    assert result.exit_code == 2
    assert "--skip-recent goes with events: a person's update has no 72-hour window" in (
        result.stderr
    )


def test_every_input_the_events_path_reads_gives_the_same_people(tmp_path: Path) -> None:
    path = people_file(tmp_path)
    text = path.read_text(encoding="utf-8")
    gz = tmp_path / "people.csv.gz"
    gz.write_bytes(gzip.compress(text.encode("utf-8")))
    bodies = []
    for source, stdin in ((path, None), (gz, None), ("-", text)):
        out = tmp_path / "out.ndjson"
        result = cio("import", source, "--kind", "people", "--dry-run", "--out", out, "--quiet",
                     input=stdin, env=NO_ENV)  # fmt: skip
        assert result.exit_code == 0, result.stderr
        bodies.append(out.read_bytes())
    assert bodies[0] == bodies[1] == bodies[2]
    assert [op for line in read_out(out) for op in line["batch"]] == EXPECTED_TRACK


def test_a_finished_people_import_reruns_as_already_imported(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    path = people_file(tmp_path)
    finished(track(fake_cio.url, path, "--quiet"), 0)
    again = track(fake_cio.url, path, "--quiet")
    s = finished(again, 0)
    assert "already imported" in again.stderr and s["resumed"] == 3
    assert len(fake_cio.people) == 3, "nothing sent again"
