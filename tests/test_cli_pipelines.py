"""``--api pipelines`` end to end (SPEC section 7), through the real CLI against the fake
server on 127.0.0.1, which speaks the Pipelines API in strict mode when ``X-Strict-Mode: 1``
comes, and otherwise answers 200 and drops invalid calls, as Customer.io does.

Every body cio builds here is checked against Customer.io's OpenAPI files
(tests/openapi_support.py): Pipelines batch and single calls, Track v2 batches and v1 events.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from cio_cli.config import resolve
from cio_cli.errors import UsageError
from cio_cli.send import transport
from tests.cli_support import (
    SUMMARY_KEYS,
    assert_accounting,
    cio,
    dry_run,
    kill_after,
    old,
    read_out,
    read_rejects,
    summary,
    write_csv,
)
from tests.fakecio import FakeCio
from tests.openapi_support import (
    assert_pipelines_batch,
    assert_pipelines_track,
    assert_track_batch,
    assert_track_customer_event,
)

ROOT = Path(__file__).resolve().parent.parent
PK = "pipekey-5f2c"  # a key of no region: Basic "key:"
BEARER = "pk_us_3b9e1f"  # a region-prefixed key: Bearer
NO_ENV: dict[str, str | None] = {
    "CIO_SITE_ID": None, "CIO_API_KEY": None, "CIO_REGION": None, "CIO_BASE_URL": None,
    "CIO_API": None, "CIO_PIPELINES_KEY": None,
}  # fmt: skip
HEADER = ["_cio_name", "_cio_customer_id", "_cio_timestamp", "plan", "amount", "note"]
T = old(10)
ISO_T = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(T))
TOO_LARGE = "over 32 KB: the Pipelines API has no larger form"


def rows_for(n: int, name: str = "purchase") -> list[list[str]]:
    """``n`` valid, distinct, old rows: ints, text with commas and non-ASCII, empty cells."""
    out = []
    for i in range(n):
        note = "" if i % 5 == 0 else f"order {i}, café ☕"
        out.append([name, f"user{i}", str(T - i), ["free", "pro"][i % 2], str(i * 3), note])
    return out


def pipe(url: str, path: Path, *flags: str, key: str = PK,
         env: dict[str, str | None] | None = None) -> Result:  # fmt: skip
    """``cio import PATH --api pipelines --base-url URL --pipelines-key KEY --quiet --json``."""
    return cio("import", path, "--api", "pipelines", "--base-url", url, "--pipelines-key", key,
               "--quiet", "--json", *flags, env=NO_ENV | (env or {}))  # fmt: skip


def finished(result: Result, code: int) -> dict[str, Any]:
    """The --json summary of a run that finished with ``code``; the accounting holds."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    s = summary(result)
    assert set(s) - {"error", "hint"} == SUMMARY_KEYS and s["exit_code"] == code
    assert_accounting(s)
    return s


def calls_of(path: Path, *flags: str) -> list[dict[str, Any]]:
    """The calls a Pipelines dry run would send, each batch body checked against the schema."""
    plan = dry_run(path, "--api", "pipelines", *flags)
    for line in plan.lines:
        assert set(line) == {"batch"}, "Pipelines sends only batches from a file"
        assert_pipelines_batch(line)
    return [call for line in plan.lines for call in line["batch"]]


def stored(call: dict[str, Any]) -> dict[str, Any]:
    """A call as the fake stores it."""
    person = "userId" if "userId" in call else "anonymousId"
    return {"identifiers": {person: call[person]}, "name": call["event"],
            "id": call["messageId"], "timestamp": call.get("timestamp"),
            "attributes": call.get("properties", {}), "api": "pipelines"}  # fmt: skip


def assert_strict(fake: FakeCio) -> None:
    """Every request carried the key and ``X-Strict-Mode: 1``."""
    requests = fake.requests
    assert requests and all(r.auth_ok for r in requests), "every request carried the key"
    assert all(r.strict for r in requests), "X-Strict-Mode: 1 on every request"


@pytest.fixture
def fake() -> Any:
    """A fake Customer.io whose Pipelines key is ``PK``."""
    with FakeCio(pipelines_key=PK) as server:
        yield server


# -- the wire format ---------------------------------------------------------------------


def test_a_call_is_exactly_the_contracts_and_its_message_id_is_tracks_id(tmp_path: Path) -> None:
    rows = [["purchase", "42", str(T), "pro", "7", "a, b"], ["signup", "43", "", "", "", ""]]
    path = write_csv(tmp_path / "events.csv", HEADER, rows)
    calls = calls_of(path, "--allow-recent")
    assert calls == [
        {"type": "track", "userId": "42", "event": "purchase",
         "properties": {"amount": 7, "note": "a, b", "plan": "pro"}, "timestamp": ISO_T,
         "messageId": calls[0]["messageId"]},
        {"type": "track", "userId": "43", "event": "signup", "messageId": calls[1]["messageId"]},
    ]  # fmt: skip
    raw = (tmp_path / "events.csv.out.ndjson").read_text(encoding="utf-8")
    track = dry_run(path, "--allow-recent")
    attributes = track.out_bytes.decode().split('"attributes":')[1].split("}")[0]
    assert f'"properties":{attributes}}}' in raw, "the same keys, types and order as Track's"
    assert_track_batch(track.lines[0])
    assert [op["id"] for op in track.ops] == [c["messageId"] for c in calls]
    assert list(track.ops[0]["attributes"].items()) == list(calls[0]["properties"].items())


def test_a_call_over_32_kb_is_rejected_with_its_reason(tmp_path: Path) -> None:
    rows = [*rows_for(3), ["big", "u9", str(T), "x" * 40_000, "1", ""]]
    rows.append(["mid", "u8", str(T), "y" * 2_000, "1", ""])
    path = write_csv(tmp_path / "events.csv", HEADER, rows)
    plan = dry_run(path, "--api", "pipelines")
    assert plan.code == 1 and plan.reasons == {5: TOO_LARGE}
    assert plan.summary["sent"] == 4 and len(plan.lines) == 1
    small = dry_run(path, "--api", "pipelines", "--batch-bytes", "1000")
    assert small.reasons[5] == TOO_LARGE
    assert small.reasons[6].startswith("over --batch-bytes: the Pipelines API has no larger form")
    assert small.reasons[6].endswith(" bytes): raise --batch-bytes") and len(small.reasons) == 2
    track = dry_run(path)  # Track sends it alone through v1 instead
    (single,) = [line for line in track.lines if "path" in line]
    assert single["path"] == "/api/v1/customers/u9/events"
    assert_track_customer_event(single["body"])


def test_emails_and_cio_ids_are_unimportable_unless_identifier_id(tmp_path: Path) -> None:
    rows = [["purchase", "a@example.com", str(T), "", "", ""], ["x", "cio_3", str(T), "", "", ""]]
    path = write_csv(tmp_path / "events.csv", HEADER, rows)
    for command in ("import", "validate"):
        args = ["--dry-run"] if command == "import" else []
        result = cio(command, path, "--api", "pipelines", *args, env=NO_ENV)
        assert result.exit_code == 3, result.stderr
        assert "emails (1 rows, first at row 2)" in result.stderr
        assert "cio_ids (1 rows, first at row 3)" in result.stderr
        assert "hint: use --api track" in result.stderr and "--identifier id" in result.stderr
    calls = calls_of(path, "--identifier", "id")
    assert [c["userId"] for c in calls] == ["a@example.com", "cio_3"]
    assert cio("validate", path, "--quiet", env=NO_ENV | {"CIO_API": "pipelines"}).exit_code == 3
    assert cio("validate", path, "--quiet", "--identifier", "id", env=NO_ENV).exit_code == 0


# -- import against the fake ---------------------------------------------------------------


def test_import_stores_every_call_of_the_dry_run_in_strict_mode(
    tmp_path: Path, fake: FakeCio
) -> None:
    path = write_csv(tmp_path / "events.csv", HEADER, rows_for(300))
    calls = calls_of(path, "--batch-bytes", "8000")
    s = finished(pipe(fake.url, path, "--batch-bytes", "8000"), 0)
    assert s["sent"] == 300 and s["requests"] == len(fake.requests) > 5
    assert fake.events_by_id == {c["messageId"]: stored(c) for c in calls}
    assert not fake.duplicate_ids
    assert_strict(fake)
    assert all(r.path == "/v1/batch" for r in fake.requests)


def test_a_bearer_key_is_sent_as_a_bearer_token(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "events.csv", HEADER, rows_for(5))
    with FakeCio(pipelines_key=BEARER) as fake:
        finished(pipe(fake.url, path, key=BEARER), 0)
        assert len(fake.events_by_id) == 5
        assert_strict(fake)
    config = resolve(None, None, None, "http://x.test", {}, "pipelines", BEARER)
    assert transport.Transport(config)._client.headers["Authorization"] == f"Bearer {BEARER}"
    basic = resolve(None, None, None, "http://x.test", {}, "pipelines", PK)
    token = base64.b64encode(f"{PK}:".encode()).decode()
    assert transport.Transport(basic)._client.headers["Authorization"] == f"Basic {token}"


def test_a_refused_call_is_bisected_alone_and_rejected_with_customerios_message(
    tmp_path: Path, fake: FakeCio
) -> None:
    """The fake drops an invalid call with 200 unless X-Strict-Mode: 1 comes: were the header
    missing, the api_reject row would be lost and the run would end 0."""
    rows = rows_for(40)
    rows[17][0] = "api_reject"
    path = write_csv(tmp_path / "events.csv", HEADER, rows)
    calls = calls_of(path)
    s = finished(pipe(fake.url, path), 1)
    assert (s["sent"], s["rejected"]) == (39, 1)
    _, rejects = read_rejects(tmp_path / "events.csv.rejects.csv")
    assert [(r["_cio_row"], r["_cio_error"]) for r in rejects] == [
        ("19", "refused by Customer.io: rejected by fake server")
    ]
    assert set(fake.events_by_id) == {c["messageId"] for c in calls} - {calls[17]["messageId"]}
    assert [r.status for r in fake.requests].count(400) >= 2, "split until alone"
    assert_strict(fake)


def test_without_the_header_the_fake_drops_invalid_calls_with_200(fake: FakeCio) -> None:
    """The permissive mode the test above relies on (as Customer.io behaves)."""
    call = {"type": "track", "userId": "1", "event": "api_reject", "messageId": "m"}
    body = json.dumps({"batch": [call]}).encode()
    assert fake.route("POST", "/v1/batch", True, body, strict=False)[0] == 200
    assert fake.route("POST", "/v1/batch", True, body, strict=True)[0] == 400
    assert fake.events == []


def test_401_aborts_with_exit_5_and_the_pipelines_hint(tmp_path: Path, fake: FakeCio) -> None:
    path = write_csv(tmp_path / "events.csv", HEADER, rows_for(5))
    result = pipe(fake.url, path, key="pk_us_wrongkey")
    assert result.exit_code == 5, result.stderr
    assert "Customer.io refused the credentials (HTTP 401)" in result.stderr
    assert "--pipelines-key" in result.stderr and "wrongkey" not in result.stderr + result.stdout
    assert fake.events == [] and len(fake.requests) == 1


@pytest.mark.parametrize(
    "faults",
    [
        [("status", 429, {"Retry-After": "0"}, b""), ("status", 429)],
        [("status", 500), ("status", 503, {"Retry-After": "0"}, b"")],
        [("drop",), ("drop_before_read",)],
        [("accept_then_drop",)],
    ],
    ids=["429", "5xx", "dropped", "accepted-then-dropped"],
)
def test_429_5xx_and_dropped_connections_are_retried(
    tmp_path: Path, fake: FakeCio, monkeypatch: pytest.MonkeyPatch, faults: list[Any]
) -> None:
    monkeypatch.setattr(transport, "BACKOFF_BASE", 0.01)
    path = write_csv(tmp_path / "events.csv", HEADER, rows_for(60))
    calls = calls_of(path, "--batch-bytes", "4000")
    fake.script(faults)
    s = finished(pipe(fake.url, path, "--batch-bytes", "4000", "--concurrency", "1"), 0)
    assert s["retries"] == len(faults)
    assert set(fake.events_by_id) == {c["messageId"] for c in calls}
    assert_strict(fake)


def test_retry_after_is_a_minimum(tmp_path: Path, fake: FakeCio) -> None:
    path = write_csv(tmp_path / "events.csv", HEADER, rows_for(3))
    fake.script([("status", 429, {"Retry-After": "1"}, b"")])
    started = time.monotonic()
    s = finished(pipe(fake.url, path), 0)
    assert time.monotonic() - started >= 1.0 and s["retries"] == 1
    assert len(fake.events_by_id) == 3


def test_gzip_bodies_are_decoded_by_the_server_and_limits_count_the_json(
    tmp_path: Path, fake: FakeCio
) -> None:
    path = write_csv(tmp_path / "events.csv", HEADER, rows_for(200))
    calls = calls_of(path, "--batch-bytes", "8000")
    s = finished(pipe(fake.url, path, "--gzip", "--batch-bytes", "8000"), 0)
    assert s["requests"] == len(read_out(tmp_path / "events.csv.out.ndjson"))
    assert all(r.encoding == "gzip" for r in fake.requests)
    assert fake.events_by_id == {c["messageId"]: stored(c) for c in calls}
    track = cio("import", path, "--gzip", "--dry-run", env=NO_ENV)
    assert track.exit_code == 2 and "--gzip goes with --api pipelines" in track.stderr


# -- credentials and choice ----------------------------------------------------------------


def test_missing_pipelines_key_names_its_flag_and_variable(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "events.csv", HEADER, rows_for(2))
    result = cio("import", path, "--api", "pipelines", "--base-url", "http://127.0.0.1:9",
                 env=NO_ENV | {"CIO_SITE_ID": "s", "CIO_API_KEY": "k"})  # fmt: skip
    assert result.exit_code == 2
    assert "missing credentials for --api pipelines: --pipelines-key or CIO_PIPELINES_KEY" in (
        result.stderr
    )
    track = cio("send-event", "--person", "1", "--name", "x", env=NO_ENV)
    assert track.exit_code == 2 and "--site-id or CIO_SITE_ID" in track.stderr


def test_only_the_pipelines_key_picks_pipelines_and_cio_api_wins(
    tmp_path: Path, fake: FakeCio
) -> None:
    path = write_csv(tmp_path / "events.csv", HEADER, rows_for(4))
    env = NO_ENV | {"CIO_PIPELINES_KEY": PK, "CIO_BASE_URL": fake.url}
    finished(cio("import", path, "--quiet", "--json", env=env), 0)
    assert len(fake.events_by_id) == 4 and fake.requests[0].path == "/v1/batch"
    both = env | {"CIO_SITE_ID": "site", "CIO_API_KEY": "key"}
    finished(cio("import", path, "--quiet", "--json", "--restart", env=both), 0)
    assert fake.requests[-1].path == "/api/v2/batch", "track when both are given"
    again = both | {"CIO_API": "pipelines"}
    finished(cio("import", path, "--quiet", "--json", "--restart", env=again), 0)
    assert fake.requests[-1].path == "/v1/batch"
    bad = cio("check", env=env | {"CIO_API": "smoke"})
    assert bad.exit_code == 2 and "CIO_API 'smoke' is not one of track|pipelines" in bad.stderr


def test_a_region_prefixed_key_picks_its_host_and_a_disagreeing_region_is_exit_2() -> None:
    eu = resolve(None, None, None, None, {}, "pipelines", "sk_eu_77")
    assert eu.base_url == "https://cdp-eu.customer.io"
    us = resolve(None, None, "us", None, {}, "pipelines", "other")
    assert us.base_url == "https://cdp.customer.io"
    assert resolve(None, None, "eu", None, {}, "pipelines", "k").base_url.endswith("cdp-eu.customer.io")
    with pytest.raises(UsageError, match="the Pipelines key is for the EU region, but --region says us"):
        resolve(None, None, "us", None, {}, "pipelines", "sk_eu_77")
    result = cio("check", "--api", "pipelines", env=NO_ENV | {"CIO_PIPELINES_KEY": "pk_eu_1",
                                                             "CIO_REGION": "us"})  # fmt: skip
    assert result.exit_code == 2 and "but CIO_REGION says us" in result.stderr
    assert "pk_eu_1" not in result.stderr


# -- send-event and check ------------------------------------------------------------------


def test_send_event_posts_one_call_to_v1_track(fake: FakeCio) -> None:
    args = ["send-event", "--api", "pipelines", "--base-url", fake.url, "--pipelines-key", PK,
            "--name", "purchase", "-d", "plan=pro", "-d", "n:=3", "--timestamp", str(T),
            "--id", "01ARZ3NDEKTSV4RRFFQ69G5FAV"]  # fmt: skip
    dry = cio(*args, "--person", "42", "--dry-run", env=NO_ENV)
    line = json.loads(dry.stdout)
    assert line == {"path": "/v1/track", "body": {
        "type": "track", "userId": "42", "event": "purchase", "properties": {"plan": "pro", "n": 3},
        "timestamp": ISO_T, "messageId": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}}  # fmt: skip
    assert_pipelines_track(line["body"])
    assert cio(*args, "--person", "42", env=NO_ENV).exit_code == 0
    assert cio(*args, "--anonymous-id", "anon-1", "--id", "01ARZ3NDEKTSV4RRFFQ69G5FAW",
               env=NO_ENV).exit_code == 0  # fmt: skip
    assert [e["identifiers"] for e in fake.events] == [{"userId": "42"}, {"anonymousId": "anon-1"}]
    assert fake.events[0]["attributes"] == {"plan": "pro", "n": 3}
    assert [r.path for r in fake.requests] == ["/v1/track", "/v1/track"]
    assert_strict(fake)
    for call in fake.calls:
        assert_pipelines_track(call)
    refused = cio(*args, "--person", "42", "--name", "api_reject", env=NO_ENV)
    assert refused.exit_code == 1 and "rejected by fake server" in refused.stderr


@pytest.mark.parametrize(("given", "sent"), [
    (f"{T}.993908", ".993Z"), (f"{T}993", ".993Z"), (f"{T}.5", ".500Z"), (str(T), ".000Z"),
    (time.strftime("%Y-%m-%dT%H:%M:%S.0421Z", time.gmtime(T)), ".042Z"),
    (time.strftime("%Y-%m-%d %H:%M:%S.7+00:00", time.gmtime(T)), ".700Z"),
])  # fmt: skip
def test_send_event_keeps_the_milliseconds_of_its_timestamp(given: str, sent: str) -> None:
    args = ["send-event", "--name", "purchase", "--person", "42", "--timestamp", given,
            "--id", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "--dry-run"]  # fmt: skip
    body = json.loads(cio(*args, "--api", "pipelines", "--pipelines-key", PK, env=NO_ENV).stdout)
    assert body["body"]["timestamp"] == ISO_T.removesuffix(".000Z") + sent
    assert_pipelines_track(body["body"])
    track = json.loads(cio(*args, "--site-id", "s", "--api-key", "k", env=NO_ENV).stdout)
    assert track["body"]["timestamp"] == T  # Track: whole seconds, as before


def test_check_posts_an_empty_batch_in_strict_mode(fake: FakeCio) -> None:
    env = NO_ENV | {"CIO_BASE_URL": fake.url}
    ok = cio("check", "--api", "pipelines", "--pipelines-key", PK, env=env)
    assert ok.exit_code == 0 and "credentials ok" in ok.stderr
    assert [(r.method, r.path, r.body_size) for r in fake.requests] == [("POST", "/v1/batch", 12)]
    assert_strict(fake)
    bad = cio("check", "--api", "pipelines", "--pipelines-key", "nope", env=env)
    assert bad.exit_code == 5 and "nope" not in bad.stderr
    fake.script([("status", 400, {}, b'{"meta":{"error":"empty batch"}}')])
    assert cio("check", "--api", "pipelines", "--pipelines-key", PK, env=env).exit_code == 0


# -- the journal -----------------------------------------------------------------------------


def test_the_journal_resumes_only_the_same_api(tmp_path: Path, fake: FakeCio) -> None:
    path = write_csv(tmp_path / "events.csv", HEADER, rows_for(20))
    finished(pipe(fake.url, path), 0)
    journal = (tmp_path / "events.csv.cio-journal").read_text(encoding="utf-8")
    assert f"pipelines {fake.url}#key-sha256=" in journal and PK not in journal
    again = pipe(fake.url, path)
    assert finished(again, 0)["resumed"] == 20 and "already imported" in again.stderr
    assert len(fake.requests) == 1
    track = cio("import", path, "--base-url", fake.url, "--site-id", "site", "--api-key", "key",
                "--quiet", "--json", env=NO_ENV)  # fmt: skip
    s = finished(track, 0)
    assert s["resumed"] == 0 and s["sent"] == 20, "another API's journal does not resume"
    assert sum(1 for e in fake.events if "api" not in e) == 20


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIO_")}
    return env | {"CIO_PIPELINES_KEY": PK, "PYTHONPATH": str(ROOT)}


def test_kill_9_during_a_pipelines_import_then_rerun_stores_every_event_once(
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path / "events.csv", HEADER, rows_for(1500))
    calls = calls_of(path, "--batch-bytes", "4000")
    cmd = [sys.executable, "-m", "cio_cli", "import", str(path), "--api", "pipelines",
           "--base-url", "", "--batch-bytes", "4000", "--concurrency", "2", "--quiet", "--json"]
    with FakeCio(pipelines_key=PK, delay=0.03) as fake:
        cmd[cmd.index("--base-url") + 1] = fake.url
        proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        kill_after(proc, lambda: len(fake.requests), 25)
        time.sleep(0.2)  # answers still sleeping finish
        fake.delay = 0.0
        before = len(fake.events_by_id)
        assert 0 < before < 1500
        done = subprocess.run(cmd, env=_env(), capture_output=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr.decode()
        s = json.loads(done.stdout)
        assert s["resumed"] > 0 and s["sent"] == 1500
        assert set(fake.events_by_id) == {c["messageId"] for c in calls}, "every event stored"
        in_flight = 2 * max(len(line["batch"]) for line in read_out(tmp_path / "events.csv.out.ndjson"))
        assert sum(fake.duplicate_ids.values()) <= in_flight, "at most the requests in flight again"


@pytest.mark.parametrize("key", [PK, BEARER])
def test_a_server_echoing_the_key_never_gets_it_shown_or_stored(tmp_path: Path, key: str) -> None:
    rows = rows_for(6)
    rows[2][0] = "api_reject"
    path = write_csv(tmp_path / "events.csv", HEADER, rows)
    with FakeCio(pipelines_key=key, echo=True) as fake:
        result = pipe(fake.url, path, key=key)
        assert result.exit_code == 1, result.stderr
        rejects = (tmp_path / "events.csv.rejects.csv").read_text(encoding="utf-8")
        assert "[redacted]" in rejects
        wrong = pipe(fake.url, path, "--restart", key=key + "x")
        assert wrong.exit_code == 5
    token = base64.b64encode(f"{key}:".encode()).decode()
    texts = [result.stdout, result.stderr, wrong.stdout, wrong.stderr, rejects]
    texts += [p.read_text(encoding="utf-8") for p in tmp_path.glob("events.csv.*")]
    assert all(key not in t and token.rstrip("=") not in t for t in texts)


# -- anonymous visitors under Pipelines (SPEC section 8) ----------------------------------


def test_anonymous_rows_ride_in_the_batches_with_the_same_ids_as_tracks(
    tmp_path: Path, fake: FakeCio
) -> None:
    header = ["_cio_name", "_cio_customer_id", "_cio_anonymous_id", "_cio_timestamp", "page"]
    rows = [["page_viewed", "", f"anon_{i % 7}", str(T - i), f"/p{i}"] for i in range(40)]
    rows += [["signed_up", f"user{i}", "", str(T - 100 - i), ""] for i in range(10)]
    path = write_csv(tmp_path / "visits.csv", header, rows)
    calls = calls_of(path, "--batch-bytes", "4000")  # each batch body checked against the schema
    anonymous = [c for c in calls if "anonymousId" in c]
    assert len(anonymous) == 40 and all("userId" not in c for c in anonymous)
    assert anonymous[0] == {"type": "track", "anonymousId": "anon_0", "event": "page_viewed",
                            "properties": {"page": "/p0"}, "timestamp": ISO_T,
                            "messageId": anonymous[0]["messageId"]}  # fmt: skip
    track = dry_run(path)  # under Track each anonymous event is a v1 request of its own
    track_ids = [line["body"]["id"] for line in track.lines if "path" in line]
    track_ids += [op["id"] for op in track.ops]
    assert sorted(track_ids) == sorted(c["messageId"] for c in calls)
    result = pipe(fake.url, path, "--batch-bytes", "4000")
    assert result.exit_code == 0, result.stderr
    s = summary(result)
    assert (s["sent"], s["anonymous"], s["requests"]) == (50, 40, len(fake.requests))
    assert s["requests"] < 10, "anonymous calls are batched, not sent one by one"
    assert fake.events_by_id == {c["messageId"]: stored(c) for c in calls}
    assert_strict(fake)


# -- the name_format warning is the Track API's (SPEC section 10) ---------------------------


def test_name_format_is_explained_under_track_and_not_raised_under_pipelines(
    tmp_path: Path,
) -> None:
    rows = [["Video Started", "u1", str(T), "", "", ""], ["purchase", "u2", str(T), "", "", ""]]
    path = write_csv(tmp_path / "events.csv", HEADER, rows)
    track = cio("validate", path, env=NO_ENV)
    assert track.exit_code == 0, track.stderr
    assert ("warning: name_format: 1 event name(s) have spaces or * + |; Customer.io's Journeys"
            " pages advise names like new_sign_up. The events are sent as they are"
            ) in " ".join(track.stderr.split())  # fmt: skip
    assert summary(cio("validate", path, "--json", env=NO_ENV))["warnings"] == {"name_format": 1}
    pipelines = cio("validate", path, "--api", "pipelines", env=NO_ENV)
    assert pipelines.exit_code == 0 and "name_format" not in pipelines.stderr
    assert summary(cio("validate", path, "--api", "pipelines", "--json", env=NO_ENV))[
        "warnings"] == {}  # fmt: skip


# -- issue 22's smaller items ----------------------------------------------------------------


def test_identifier_email_counts_and_names_the_rows_that_are_emails(tmp_path: Path) -> None:
    """Rows without @ are rejected by --identifier email; the exit-3 message counts only the
    rows that are emails, and names the first of them (not row 2, an id)."""
    rows = [["e", "usr_001582", str(T), "", "", ""], ["e", "usr_2", str(T), "", "", ""],
            ["e", "a@example.com", str(T), "", "", ""], ["e", "b@example.com", str(T), "", "", ""]]  # fmt: skip
    path = write_csv(tmp_path / "events.csv", HEADER, rows)
    result = cio("validate", path, "--api", "pipelines", "--identifier", "email", env=NO_ENV)
    assert result.exit_code == 3, result.stderr
    assert (
        "events.csv: the file has emails (2 rows, first at row 4) in _cio_customer_id, and the"
        " Pipelines API identifies people by userId only (plain ids)"
    ) in " ".join(result.stderr.split())
    ids = write_csv(tmp_path / "ids.csv", HEADER, rows[:2])
    only_ids = dry_run(ids, "--api", "pipelines", "--identifier", "email")
    assert only_ids.code == 1 and only_ids.summary["errors"] == {"not_email": 2}


def test_send_event_under_pipelines_draws_no_name_format_note(fake: FakeCio) -> None:
    """SPEC 10: no name_format warning with --api pipelines, files and send-event alike."""
    eid = "01J0000000ABCDEFGHJKMNPQRS"
    result = cio("send-event", "--api", "pipelines", "--base-url", fake.url, "--pipelines-key",
                 PK, "--person", "u1", "--name", "Order Completed", "--timestamp", str(T),
                 "--id", eid, env=NO_ENV)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "spaces" not in result.stderr and "name_format" not in result.stderr
    assert [c["event"] for c in fake.calls] == ["Order Completed"]
    track = cio("send-event", "--person", "u1", "--name", "Order Completed", "--timestamp",
                str(T), "--id", eid, "--site-id", "s", "--api-key", "k", "--dry-run", env=NO_ENV)  # fmt: skip
    assert track.exit_code == 0
    assert "note: the event name 'Order Completed' has spaces or * + |: sent as is" in track.stderr


def test_a_journal_of_the_other_api_says_the_api_changed(tmp_path: Path, fake: FakeCio) -> None:
    path = write_csv(tmp_path / "events.csv", HEADER, rows_for(5))
    finished(pipe(fake.url, path), 0)
    track = cio("import", path, "--base-url", fake.url, "--site-id", "site", "--api-key", "key",
                "--quiet", env=NO_ENV)  # fmt: skip
    assert track.exit_code == 0, track.stderr
    assert (
        "not resuming: the journal is for the Pipelines API, and this run sends to the Track"
        " API; starting over"
    ) in " ".join(track.stderr.split())
    assert "another destination" not in track.stderr
    back = pipe(fake.url, path)
    assert "the journal is for the Track API, and this run sends to the Pipelines API" in (
        " ".join(back.stderr.split())
    )

