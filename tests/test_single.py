"""``cio send-event`` and ``cio check`` (SPEC sections 1, 3 and 4; cio_cli/send_event.py, credentials_check.py).

The rules are tested on ``build_event`` directly; sending and checking run end to end through
a throwaway Typer app that registers the very command functions meant for cli.py (between the
``cli.py snippet`` markers below), over real HTTP to the fake Track API on 127.0.0.1.
"""

from __future__ import annotations

import io
import json
import re
import socket
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cio_cli import credentials_check, send_event
from cio_cli.check import event_flags
from cio_cli.cli import app  # the real commands, as a user runs them
from cio_cli.config import Credentials
from cio_cli.errors import InvalidEventError, UsageError
from cio_cli.one_request import Connection, report_result
from cio_cli.record.report import Reporter
from cio_cli.send.track import TRACK, v1_body
from tests.fakecio import FakeCio

NOW = 1_750_000_000.0
OLD = int(NOW) - 10 * 86_400
ULID = "01J0000000ABCDEFGHJKMNPQRS"
SEND_KEYS = {"command", "sent", "dry_run", "path", "id", "status", "recent", "exit_code"}
CHECK_KEYS = {"command", "ok", "region", "expected_region", "url", "environment_id", "exit_code"}


@pytest.fixture(autouse=True)
def _no_cio_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CIO_SITE_ID", "CIO_API_KEY", "CIO_REGION", "CIO_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def build(*, person: str | None = "u1", anonymous_id: str | None = None, name: str = "purchase",
          d: list[str] | None = None, data: str | None = None, ts: str | None = str(OLD),
          event_id: str | None = ULID, semantic: bool = False) -> event_flags.SingleEvent:
    """``build_event`` with defaults: person u1, an old timestamp, a given id."""
    return event_flags.build_event(person, anonymous_id, name, d or [], data, ts, event_id,
                              semantic, NOW, TRACK)


def body_of(event: event_flags.SingleEvent) -> dict[str, Any]:
    doc = json.loads(event.body)
    assert isinstance(doc, dict)
    return doc


def invalid(**kwargs: Any) -> InvalidEventError:
    with pytest.raises(InvalidEventError) as info:
        build(**kwargs)
    assert info.value.exit_code == 3
    return info.value


def usage(**kwargs: Any) -> UsageError:
    with pytest.raises(UsageError) as info:
        build(**kwargs)
    assert info.value.exit_code == 2
    return info.value


def cio(*args: str, env: Mapping[str, str] | None = None) -> Result:
    """Run the throwaway app; a crash fails the test instead of passing for an exit code."""
    result = CliRunner().invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert result.exc_info is not None
        pytest.fail("".join(traceback.format_exception(*result.exc_info)))
    return result


def one_json(result: Result) -> dict[str, Any]:
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    obj = json.loads(lines[0])
    assert isinstance(obj, dict)
    return obj


def creds(fake: FakeCio, key: str = "key", site: str = "site") -> list[str]:
    return ["--site-id", site, "--api-key", key, "--base-url", fake.url]


# -- who -------------------------------------------------------------------------------


def test_exactly_one_of_person_and_anonymous_id() -> None:
    for person, anon in ((None, None), ("u1", "a1")):
        err = usage(person=person, anonymous_id=anon)
        assert err.message == "give exactly one of --person and --anonymous-id"


def test_person_is_trimmed_and_percent_encoded_as_a_whole() -> None:
    event = build(person="  a+b@x.com ")
    assert event.path == "/api/v1/customers/a%2Bb%40x.com/events"
    assert build(person="a/b c").path == "/api/v1/customers/a%2Fb%20c/events"


def test_person_empty_or_too_long() -> None:
    assert invalid(person="   ").message == "--person is empty"
    assert build(person="é" * 75).path  # 150 bytes is fine
    assert invalid(person="é" * 75 + "x").message == (
        "--person is 151 bytes; Customer.io allows at most 150")


def test_anonymous_path_and_body() -> None:
    event = build(person=None, anonymous_id=" visitor-7 ", d=["plan=pro"])
    assert event.path == "/api/v1/events"
    assert event.body == (
        f'{{"name":"purchase","data":{{"plan":"pro"}},"timestamp":{OLD},"id":"{ULID}",'
        '"anonymous_id":"visitor-7"}').encode()
    assert invalid(person=None, anonymous_id=" ").message == "--anonymous-id is empty"


def test_person_body_matches_v1_body_of_the_csv_path() -> None:
    event = build(d=["plan=pro", "seats:=3"])
    assert event.body == v1_body("purchase", '{"plan":"pro","seats":3}', OLD, ULID)
    no_ts = build(ts=None)
    assert no_ts.body == v1_body("purchase", "{}", None, ULID)
    assert "timestamp" not in body_of(no_ts)


# -- name ------------------------------------------------------------------------------


def test_name_is_trimmed_and_must_not_be_empty() -> None:
    assert body_of(build(name="  signup  "))["name"] == "signup"
    err = invalid(name="   ")
    assert err.message == "the event name is empty"


def test_name_over_100_bytes() -> None:
    assert build(name="n" * 100).name == "n" * 100
    err = invalid(name="é" * 51)
    assert err.message == "the event name is 102 bytes; Customer.io allows at most 100"


@pytest.mark.parametrize("name", ["User Deleted", "user deleted", " DELETE PERSON "])
def test_semantic_names_need_allow_semantic(name: str) -> None:
    err = invalid(name=name)
    assert err.message == (f"the event name '{name.strip()}' is a semantic event that deletes "
                           "or changes people")
    assert "--allow-semantic" in err.hint
    assert build(name=name, semantic=True).name == name.strip()


def test_names_with_spaces_or_symbols_are_sent_with_a_note() -> None:
    for name in ("order placed", "a*b", "a+b", "a|b"):
        event = build(name=name)
        assert body_of(event)["name"] == name
        assert any("has spaces or * + |" in note for note in event.notes)
    assert not any("* + |" in note for note in build(name="order_placed").notes)


# -- data ------------------------------------------------------------------------------


def test_d_pairs_string_versus_typed() -> None:
    pairs = ["plan=pro", "seats:=3", "n=3", "ok:=true", "tags:=[1,\"a\"]", "eq=a=b",
             "nested:={\"x\":{\"y\":null}}", "empty="]
    assert body_of(build(d=pairs))["data"] == {
        "plan": "pro", "seats": 3, "n": "3", "ok": True, "tags": [1, "a"], "eq": "a=b",
        "nested": {"x": {"y": None}}, "empty": ""}


@pytest.mark.parametrize("pair", ["noequals", "=x", ":=1"])
def test_d_pair_without_key_or_equals_is_usage(pair: str) -> None:
    err = usage(d=[pair])
    assert err.message == f"-d {pair!r} is not key=value or key:=JSON"


def test_d_typed_value_with_bad_json_is_usage_naming_the_d() -> None:
    err = usage(d=["plan:=pro"])
    assert err.message == "-d 'plan:=pro': 'pro' is not valid JSON"
    assert "-d key=value" in err.hint


def test_data_json_then_d_pairs_override() -> None:
    data = '{"plan":"free","seats":2,"deep":{"a":[1]}}'
    assert body_of(build(data=data, d=["plan=pro"]))["data"] == {
        "plan": "pro", "seats": 2, "deep": {"a": [1]}}


def test_data_must_be_a_json_object() -> None:
    assert usage(data="[1,2]").message == "--data must be a JSON object, not '[1,2]'"
    assert usage(data="{nope").message.startswith("--data is not valid JSON (")


def test_data_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_bytes(b'\xef\xbb\xbf{"plan": "pro", "price": 29.99}\n')
    assert body_of(build(data=f"@{path}"))["data"] == {"plan": "pro", "price": 29.99}
    missing = tmp_path / "nope.json"
    err = usage(data=f"@{missing}")
    assert err.message == f"cannot read --data @{missing}: No such file or directory"
    path.write_text("[]")
    assert usage(data=f"@{path}").message == f"--data @{path} must be a JSON object, not '[]'"


def test_email_overrides_must_be_emails() -> None:
    event = build(d=["recipient=ann@example.com", "from_address=Shop <shop@example.com>"])
    assert body_of(event)["data"]["from_address"] == "Shop <shop@example.com>"
    assert any("recipient, from_address override the" in note for note in event.notes)
    assert any("reply_to overrides the" in n for n in build(d=["reply_to=a@b.co"]).notes)
    assert invalid(d=["reply_to=nobody"]).message == "reply_to 'nobody' is not an email address"
    assert invalid(d=["recipient:=1"]).message == "recipient '1' is not an email address"


def test_revenue_and_value_must_be_numbers_and_numeric_text_becomes_a_number() -> None:
    data = body_of(build(d=["revenue=12.5", "value= 3 "]))["data"]
    assert data == {"revenue": 12.5, "value": 3}
    assert body_of(build(data='{"revenue": "1e3"}'))["data"]["revenue"] == 1000.0
    assert body_of(build(d=["value:=7"]))["data"]["value"] == 7
    assert invalid(d=["revenue=12,50"]).message == "revenue '12,50' is not a number"
    assert invalid(d=["value:=true"]).message == "value 'true' is not a number"
    assert invalid(d=["revenue=01"]).message == "revenue '01' is not a number"
    assert invalid(d=["revenue=1e999"]).message == "revenue '1e999' is not a number"


def test_currency_must_be_iso_4217() -> None:
    assert body_of(build(d=["currency=EUR"]))["data"]["currency"] == "EUR"
    # SPEC section 10: any case, sent upper-cased
    assert body_of(build(d=["currency=usd"]))["data"]["currency"] == "USD"
    err = invalid(d=["currency=usdx"])
    assert err.message == "currency 'usdx' is not a three-letter ISO 4217 code such as USD"
    assert invalid(d=["currency:=840"]).message.startswith("currency '840' is not")


def test_data_over_100000_bytes_is_invalid() -> None:
    fits = "x" * (100_000 - len('{"k":""}'))
    assert len(build(d=[f"k={fits}"]).body) > 100_000
    err = invalid(d=[f"k={fits}x"])
    assert err.message == "the event data is 100001 bytes of JSON; Customer.io allows at most 100000"


# -- timestamp -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1700000000", 1_700_000_000),
        (" 1700000000.999 ", 1_700_000_000),
        ("1700000000123", 1_700_000_000),
        ("1700000000999.9", 1_700_000_000),
        ("0", 0),
        ("2023-11-14T22:13:20Z", 1_700_000_000),
        ("2023-11-14t22:13:20z", 1_700_000_000),
        ("2023-11-14 22:13:20.75Z", 1_700_000_000),
        ("2023-11-15T00:13:20+02:00", 1_700_000_000),
        ("2023-11-15T00:13:20+0200", 1_700_000_000),
        ("2023-11-15T00:13+02", 1_699_999_980),
        ("2023-11-14T17:13:20.123456789-05:00", 1_700_000_000),
    ],
)
def test_timestamp_forms(text: str, expected: int) -> None:
    event = build(ts=text)
    assert event.timestamp == expected == body_of(event)["timestamp"]


def test_milliseconds_are_noted() -> None:
    assert any("read as Unix milliseconds" in n for n in build(ts="1700000000123").notes)
    assert not any("milliseconds" in n for n in build(ts="1700000000").notes)


def test_blank_timestamp_means_none() -> None:
    assert build(ts="  ").timestamp is None


def test_naive_iso_needs_a_zone() -> None:
    for text in ("2024-05-01T12:00:00", "2024-05-01", "2024-05-01 12:00"):
        err = invalid(ts=text)
        assert err.message == f"--timestamp '{text}' has no time zone"
        assert "Z or an offset" in err.hint


@pytest.mark.parametrize("text", ["yesterday", "1.7e9", "+1700000000", "2024-13-01T00:00:00Z",
                                  "2024-05-01T12:00:00+25:00", "１７００００００００"])
def test_unreadable_timestamps(text: str) -> None:
    err = invalid(ts=text)
    assert err.message == f"--timestamp '{text}' is not a timestamp"


def test_future_and_before_1970() -> None:
    assert build(ts=str(int(NOW) + 600)).timestamp == int(NOW) + 600
    assert invalid(ts=str(int(NOW) + 601)).message == f"--timestamp '{int(NOW) + 601}' is in the future"
    assert invalid(ts="-1").message == "--timestamp '-1' is before 1970"
    assert invalid(ts="-0.5").message == "--timestamp '-0.5' is before 1970"
    assert invalid(ts="1969-12-31T23:59:59Z").message.endswith("is before 1970")


def test_recent_is_no_timestamp_or_the_last_72_hours() -> None:
    assert build(ts=None).recent and build(ts=str(int(NOW) - 3600)).recent
    assert build(ts=str(int(NOW) - 72 * 3600)).recent
    assert not build(ts=str(int(NOW) - 72 * 3600 - 1)).recent
    notes = build(ts=None).notes
    assert any("no --timestamp: this event can trigger live campaigns" in n for n in notes)
    assert not any("campaigns" in n for n in build().notes)


# -- id --------------------------------------------------------------------------------


def test_given_id_must_be_a_ulid() -> None:
    assert body_of(build(event_id=f" {ULID} "))["id"] == ULID
    err = invalid(event_id="not-a-ulid")
    assert err.message == (  # SPEC section 10: a UUID is an id too
        "--id 'not-a-ulid' is not a valid ULID (26 characters of Crockford base32) or UUID"
    )
    assert invalid(event_id="").message.startswith("--id '' is not a valid ULID")
    assert invalid(event_id="81J0000000ABCDEFGHJKMNPQRS").message.startswith("--id '81J")


def test_without_id_each_run_gets_a_fresh_ulid_and_a_note() -> None:
    first, second = build(event_id=None), build(event_id=None)
    assert first.event_id != second.event_id
    assert len(first.event_id) == 26 and body_of(first)["id"] == first.event_id
    assert any(f"pass --id {first.event_id}" in n for n in first.notes)


# -- send-event end to end -----------------------------------------------------------------


def test_dry_run_prints_the_request_and_needs_no_credentials(fake_cio: FakeCio) -> None:
    result = cio("send-event", "--person", "a+b@x.com", "--name", "signup", "-d", "plan=pro",
                 "--timestamp", str(OLD), "--id", ULID, "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        '{"path":"/api/v1/customers/a%2Bb%40x.com/events","body":{"name":"signup",'
        f'"data":{{"plan":"pro"}},"timestamp":{OLD},"id":"{ULID}"}}}}\n')
    assert "dry run" in result.stderr and "not sent" in result.stderr
    assert fake_cio.requests == []


def test_dry_run_json_summary_holds_the_request() -> None:
    result = cio("send-event", "--anonymous-id", "v1", "--name", "signup", "--dry-run", "--json")
    assert result.exit_code == 0
    obj = one_json(result)
    assert set(obj) == SEND_KEYS | {"request"}
    assert obj["sent"] is False and obj["dry_run"] is True and obj["recent"] is True
    assert obj["request"]["path"] == obj["path"] == "/api/v1/events"
    assert obj["request"]["body"]["anonymous_id"] == "v1"
    assert obj["request"]["body"]["id"] == obj["id"] and obj["status"] is None


def test_send_stores_the_event_with_the_given_id(fake_cio: FakeCio) -> None:
    result = cio("send-event", "--person", "a+b@x.com", "--name", "purchase", "-d", "plan=pro",
                 "-d", "seats:=3", "--data", '{"revenue":"9.5","currency":"EUR"}',
                 "--timestamp", str(OLD), "--id", ULID, *creds(fake_cio))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert f"sent 'purchase' to person 'a+b@x.com' (id {ULID}, HTTP 200)" in result.stderr
    assert [r.path for r in fake_cio.requests] == ["/api/v1/customers/a%2Bb%40x.com/events"]
    assert fake_cio.events_by_id[ULID] == {
        "identifiers": {"email": "a+b@x.com"}, "name": "purchase", "id": ULID,
        "timestamp": OLD,
        "attributes": {"revenue": 9.5, "currency": "EUR", "plan": "pro", "seats": 3}}


def test_send_anonymous_and_json_summary(fake_cio: FakeCio) -> None:
    result = cio("send-event", "--anonymous-id", "visitor-7", "--name", "viewed", "--json",
                 *creds(fake_cio))
    assert result.exit_code == 0, result.stderr
    obj = one_json(result)
    assert set(obj) == SEND_KEYS
    assert obj | {"id": None} == {"command": "send-event", "sent": True, "dry_run": False,
                                  "path": "/api/v1/events", "id": None, "status": 200,
                                  "recent": True, "exit_code": 0}
    (event,) = fake_cio.events
    assert event["identifiers"] == {"anonymous_id": "visitor-7"}
    assert event["id"] == obj["id"] and event["timestamp"] is None


def test_recent_event_is_a_note_not_a_prompt(fake_cio: FakeCio) -> None:
    recent = str(int(time.time()) - 3600)
    result = cio("send-event", "--person", "u1", "--name", "n", "--timestamp", recent,
                 "--id", ULID, *creds(fake_cio))
    assert result.exit_code == 0
    assert "within the last 72 hours: this event can trigger live campaigns" in result.stderr
    assert fake_cio.events_by_id[ULID]["timestamp"] == int(recent)


def test_credentials_from_the_environment(fake_cio: FakeCio) -> None:
    env = {"CIO_SITE_ID": "site", "CIO_API_KEY": "key", "CIO_BASE_URL": fake_cio.url}
    result = cio("send-event", "--person", "u1", "--name", "n", "--id", ULID, env=env)
    assert result.exit_code == 0, result.stderr
    assert ULID in fake_cio.events_by_id


def test_refused_event_exits_1_with_the_api_message(fake_cio: FakeCio) -> None:
    result = cio("send-event", "--person", "u1", "--name", "api_reject", *creds(fake_cio))
    assert result.exit_code == 1
    assert "error: Customer.io refused the event: rejected by fake server" in result.stderr
    fake_cio.script([("reject_whole", 422)])
    result = cio("send-event", "--person", "u1", "--name", "ok", "--json", *creds(fake_cio))
    assert result.exit_code == 1
    obj = one_json(result)
    assert obj["sent"] is False and obj["status"] == 422 and obj["exit_code"] == 1
    assert obj["error"] == "Customer.io refused the event: whole request rejected by fake server"
    assert fake_cio.events == []


def test_wrong_key_exits_5_with_the_credentials_hint(fake_cio: FakeCio) -> None:
    result = cio("send-event", "--person", "u1", "--name", "n", *creds(fake_cio, key="wrong"))
    assert result.exit_code == 5
    assert "Customer.io refused the credentials (HTTP 401)" in result.stderr
    assert "check the site id, the API key and the region" in result.stderr
    assert len(fake_cio.requests) == 1  # never retried
    result = cio("send-event", "--person", "u1", "--name", "n", "--json",
                 *creds(fake_cio, key="wrong"))
    obj = one_json(result)
    assert obj["exit_code"] == 5 and obj["sent"] is False and "region" in obj["hint"]


def test_invalid_event_exits_3_and_sends_nothing(fake_cio: FakeCio) -> None:
    result = cio("send-event", "--person", "u1", "--name", "User Deleted", "--json",
                 *creds(fake_cio))
    assert result.exit_code == 3
    obj = one_json(result)
    assert set(obj) == SEND_KEYS | {"error", "hint"}
    assert obj["path"] is None and obj["sent"] is False and "--allow-semantic" in obj["hint"]
    assert "error: the event name 'User Deleted' is a semantic event" in result.stderr
    assert fake_cio.requests == []


def test_missing_credentials_and_bad_flags_exit_2(fake_cio: FakeCio) -> None:
    result = cio("send-event", "--person", "u1", "--name", "n", "--base-url", fake_cio.url)
    assert result.exit_code == 2
    assert "missing credentials: --site-id or CIO_SITE_ID, and --api-key or CIO_API_KEY" in (
        result.stderr)
    result = cio("send-event", "--person", "u1", "--name", "n", "--timeout", "0",
                 *creds(fake_cio))
    assert result.exit_code == 2 and "--timeout must be above 0 and at most 600 seconds" in result.stderr
    result = cio("send-event", "--person", "u1", "--name", "n", "--dry-run", "--region", "ap")
    assert result.exit_code == 2 and "unknown region 'ap'" in result.stderr
    result = cio("send-event", "--name", "n", *creds(fake_cio))
    assert result.exit_code == 2 and "exactly one of --person and --anonymous-id" in result.stderr
    assert fake_cio.requests == []


def test_unreachable_exits_5() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: refused
        result = cio("send-event", "--person", "u1", "--name", "n", "--site-id", "s",
                     "--api-key", "k", "--base-url", url, "--max-retries", "0")
        assert result.exit_code == 5
        assert "did not answer after 0 retries: connection refused" in result.stderr
        result = cio("check", "--site-id", "s", "--api-key", "k", "--base-url", url,
                     "--max-retries", "0", "--json")
        assert result.exit_code == 5 and one_json(result)["ok"] is False


def test_credentials_never_appear_in_any_output() -> None:
    site, key = "SITEID987", "SECRETKEY123"
    with FakeCio(site_id=site, api_key=key, region="eu") as fake:
        good = ["--site-id", site, "--api-key", key, "--base-url", fake.url]
        bad = ["--site-id", site, "--api-key", key + "X", "--base-url", fake.url]
        env = {"CIO_SITE_ID": site, "CIO_API_KEY": key, "CIO_BASE_URL": fake.url}
        runs = [
            cio("send-event", "--person", "u1", "--name", "n", *good),
            cio("send-event", "--person", "u1", "--name", "n", "--json", *good),
            cio("send-event", "--person", "u1", "--name", "n", *bad),
            cio("send-event", "--person", "u1", "--name", "n", "--json", *bad),
            cio("send-event", "--person", "u1", "--name", "api_reject", "--json", *good),
            cio("send-event", "--person", "u1", "--name", "n", "--timestamp", "x", *good),
            cio("send-event", "--person", "u1", "--name", "n", "--dry-run", *good),
            cio("send-event", "--person", "u1", "--name", "n", env=env),
            cio("check", *good), cio("check", "--json", *good),
            cio("check", *bad), cio("check", "--json", *bad), cio("check", env=env),
        ]
    assert [r.exit_code for r in runs] == [0, 0, 5, 5, 1, 3, 0, 0, 1, 1, 5, 5, 1]
    for result in runs:
        for secret in (site, key):
            assert secret not in result.stdout + result.stderr


# -- check -------------------------------------------------------------------------------


def test_check_ok(fake_cio: FakeCio) -> None:
    result = cio("check", *creds(fake_cio))
    assert result.exit_code == 0, result.stderr
    assert "credentials ok: workspace region us (https://track.customer.io)" in result.stderr
    result = cio("check", "--json", *creds(fake_cio))
    assert one_json(result) == {
        "command": "check", "ok": True, "region": "us", "expected_region": "us",
        "url": "https://track.customer.io", "environment_id": 1, "exit_code": 0}
    assert [r.path for r in fake_cio.requests] == ["/api/v1/accounts/region"] * 2


def test_check_wrong_region_exits_1_and_says_how_to_fix_it() -> None:
    with FakeCio(region="eu") as fake:
        result = cio("check", *creds(fake))
        assert result.exit_code == 1
        assert ("error: your workspace is in the EU: pass --region eu or set CIO_REGION=eu"
                in result.stderr)
        assert "US host redirects EU traffic" in result.stderr
        obj = one_json(cio("check", "--json", *creds(fake)))
        assert set(obj) == CHECK_KEYS | {"error", "hint"}
        assert (obj["ok"], obj["region"], obj["expected_region"], obj["exit_code"]) == (
            False, "eu", "us", 1)
        assert cio("check", "--region", "eu", *creds(fake)).exit_code == 0
        assert cio("check", *creds(fake), env={"CIO_REGION": "eu"}).exit_code == 0
    with FakeCio(region="us") as fake:
        result = cio("check", "--region", "eu", *creds(fake))
        assert result.exit_code == 1
        assert "your workspace is in the US: pass --region us or set CIO_REGION=us" in (
            result.stderr)


def test_check_refused_credentials_exit_5(fake_cio: FakeCio) -> None:
    result = cio("check", *creds(fake_cio, key="nope"))
    assert result.exit_code == 5
    assert "refused the credentials (HTTP 401)" in result.stderr
    obj = one_json(cio("check", "--json", *creds(fake_cio, site="nope")))
    assert obj["ok"] is False and obj["region"] is None and obj["exit_code"] == 5
    assert cio("check", "--base-url", fake_cio.url).exit_code == 2


@pytest.mark.parametrize(
    ("region", "base_url", "env", "expected"),
    [
        (None, "https://track.customer.io", {}, "us"),
        (None, "https://track-eu.customer.io/", {"CIO_REGION": "us"}, "eu"),
        (None, "http://127.0.0.1:9", {}, "us"),
        ("EU", "http://127.0.0.1:9", {}, "eu"),
        (None, "http://proxy:8080", {"CIO_REGION": "eu"}, "eu"),
        ("us", "http://proxy:8080", {"CIO_REGION": "eu"}, "us"),
    ],
)
def test_expected_region(region: str | None, base_url: str, env: dict[str, str],
                         expected: str) -> None:
    assert credentials_check.expected_region(region, base_url, env) == expected


# -- plumbing ---------------------------------------------------------------------------


def test_help_lists_exit_codes_and_environment() -> None:
    for command, codes in (("send-event", "01235"), ("check", "0125")):
        text = cio(command, "--help").stdout
        for code in codes:
            assert re.search(rf"\n +{code} +\w", text), (command, code)
        assert "CIO_API_KEY" in text and "CIO_REGION" in text


def test_run_send_event_and_report_result_with_a_reporter_on_stringio(fake_cio: FakeCio) -> None:
    err, out = io.StringIO(), io.StringIO()
    conn = Connection(Credentials("site", "key", None, fake_cio.url))
    result = send_event.run_send_event(lambda: build(), conn, {}, dry_run=False)
    assert (result.sent, result.status, result.exit_code) == (True, 200, 0)
    assert report_result(result, Reporter(False, False, err=err, out=out)) == 0
    assert out.getvalue() == "" and "HTTP 200" in err.getvalue()
    assert ULID in fake_cio.events_by_id
    assert "key" not in repr(conn) and "site" not in repr(conn)


# -- issue 9: base URL and proxies, dot ids, echoed credentials -----------------------------

PROXY_VARS = ("ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY", "all_proxy", "https_proxy", "http_proxy")


@pytest.mark.parametrize("command", ["send-event", "check"])
@pytest.mark.parametrize(
    ("url", "env", "message"),
    [
        ("http://[::1", {},
         "--base-url is not a valid URL: its IPv6 address is not valid (a missing ']'?)"),
        ("http://" + "a" * 64 + ".com", {},
         "--base-url is not a valid URL: a label of its host name is over 63 characters"),
        ("http://xn--zz.com", {},
         "--base-url is not a valid URL: its host name has a label 'xn--zz' that is not valid"
         " punycode (IDNA)"),
        ("http://127.0.0.1:1", {"HTTPS_PROXY": "ftp://user:pw-secret@x"},
         "the proxy setting HTTPS_PROXY cannot be used: its scheme is ftp://; cio can use"
         " http://, https:// and socks5:// proxies"),
    ],
)  # fmt: skip
def test_bad_base_url_or_proxy_exits_2_for_send_event_and_check(
    monkeypatch: pytest.MonkeyPatch, command: str, url: str, env: dict[str, str], message: str
) -> None:
    """Issue 9 item 12: a usage error with a clear message, no traceback, nothing sent."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    event = ["--person", "u1", "--name", "n"] if command == "send-event" else []
    result = cio(command, *event, "--site-id", "s", "--api-key", "k", "--base-url", url,
                 "--json", env=env)
    assert result.exit_code == 2, result.stderr
    assert f"error: {message}\n" in result.stderr
    assert one_json(result)["error"] == message
    assert "pw-secret" not in result.stdout + result.stderr


def test_a_socks_proxy_without_socksio_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    if importlib.util.find_spec("socksio") is not None:
        pytest.skip("socksio is installed here")
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    result = cio("check", "--site-id", "s", "--api-key", "k", "--base-url", "http://127.0.0.1:1",
                 env={"ALL_PROXY": "socks5://user:pw-secret@127.0.0.1:1080"})
    assert result.exit_code == 2
    assert result.stderr == (
        "error: the proxy setting ALL_PROXY cannot be used: a SOCKS proxy needs the socksio "
        "package, which is not installed\n"
        "hint: install socksio beside cio (pip install socksio), or unset ALL_PROXY\n")


@pytest.mark.parametrize(("person", "segment"), [(".", "%2E"), ("..", "%2E%2E")])
def test_a_person_of_dots_is_sent_to_its_own_path(fake_cio: FakeCio, person: str,
                                                  segment: str) -> None:
    """Issue 9 item 15: never /customers/events (404) nor /api/v1/events (anonymous)."""
    path = f"/api/v1/customers/{segment}/events"
    dry = cio("send-event", "--person", person, "--name", "n", "--id", ULID, "--dry-run")
    assert json.loads(dry.stdout)["path"] == path
    result = cio("send-event", "--person", person, "--name", "n", "--id", ULID,
                 "--timestamp", str(OLD), *creds(fake_cio))
    assert result.exit_code == 0, result.stderr
    assert [r.path for r in fake_cio.requests] == [path]
    assert fake_cio.events_by_id[ULID]["identifiers"] == {"id": person}


def test_credentials_a_server_echoes_are_not_shown_by_send_event() -> None:
    """Issue 9 item 16: the API's message is shown with the credentials removed."""
    site, key = "f00d5173", "SECRETKEY123XYZ"
    with FakeCio(site, key, echo=True) as fake:
        args = ["--site-id", site, "--api-key", key, "--base-url", fake.url]
        runs = [cio("send-event", "--person", "u1", "--name", "api_reject", *args),
                cio("send-event", "--person", "u1", "--name", "api_reject", "--json", *args)]
    assert [r.exit_code for r in runs] == [1, 1]
    assert ("error: Customer.io refused the event: rejected by fake server [you sent "
            "Authorization: Basic [redacted], that is [redacted]: site [redacted], key "
            "[redacted]]\n") in runs[0].stderr
    assert one_json(runs[1])["error"].endswith("key [redacted]]")
    for result in runs:
        for secret in (site, key, "ZjAwZDUxNzM6U0VDUkVUS0VZMTIzWFla"):
            assert secret not in result.stdout + result.stderr
