"""``cio import`` for real, end to end, against the fake Track API on 127.0.0.1.

SPEC sections 1 (credentials, options), 4 (sending: every response class, retries, backoff,
Retry-After, bisection, concurrency, rate) and 6 (summary, exit codes). Every test writes a
real CSV in ``tmp_path``, runs the CLI like a user would, and checks what the server stored
against what ``cio import --dry-run --out`` says would be sent: the same events, the same ids,
nothing lost and, after dedup by id, nothing twice.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from typer.testing import Result

from tests.cli_support import (
    BASE,
    SUMMARY_KEYS,
    Outcome,
    assert_accounting,
    block_bytes,
    cio,
    dry_run,
    old,
    read_rejects,
    recent,
    summary,
    write_csv,
)
from tests.fakecio import FakeCio, Reply, identifier_kind

SITE, KEY = "site", "key"
NO_ENV: dict[str, str | None] = {
    "CIO_SITE_ID": None, "CIO_API_KEY": None, "CIO_REGION": None, "CIO_BASE_URL": None,
}  # fmt: skip
HEADER = [*BASE, "amount", "vip", "note"]
T = old(10)
Event = dict[str, Any]
Hook = Callable[[str, str, bytes], Reply | None]


# -- helpers -------------------------------------------------------------------------


def rows_for(n: int, *, start: int = 0, name: str = "purchase") -> list[list[str]]:
    """``n`` valid, distinct, old rows of varied types (int, bool, text with commas, quotes and non-ASCII, empty)."""
    out = []
    for i in range(start, start + n):
        note = "" if i % 5 == 0 else f"order {i}, café ☕" if i % 3 else f'say "hi" {i}'
        out.append([name, f"user{i}", str(T - i), ["free", "pro"][i % 2],
                    str(i * 3), ["true", "false"][i % 2], note])  # fmt: skip
    return out


def write(tmp_path: Path, rows: Sequence[Sequence[str]], name: str = "events.csv") -> Path:
    """A CSV of ``HEADER`` and ``rows`` in ``tmp_path``."""
    return write_csv(tmp_path / name, HEADER, rows)


def send(url: str, path: Path, *flags: str | Path, env: dict[str, str | None] | None = None,
         site: str = SITE, key: str = KEY) -> Result:  # fmt: skip
    """``cio import PATH --base-url URL --site-id --api-key --quiet --json FLAGS``."""
    return cio("import", path, "--base-url", url, "--site-id", site, "--api-key", key,
               "--quiet", "--json", *flags, env=NO_ENV | (env or {}))  # fmt: skip


def expected(path: Path, *flags: str) -> tuple[Outcome, dict[str, Event]]:
    """The dry run of ``path`` and the events it would send, normalised like the fake's."""
    plan = dry_run(path, *flags)
    events: dict[str, Event] = {}
    for line in plan.lines:
        if "batch" in line:
            for op in line["batch"]:
                assert op["type"] == "person" and op["action"] == "event"
                events[op["id"]] = {"identifiers": op["identifiers"], "name": op["name"],
                                    "id": op["id"], "timestamp": op.get("timestamp"),
                                    "attributes": op.get("attributes", {})}  # fmt: skip
        else:
            ident = unquote(line["path"].split("/")[4])
            body = line["body"]
            events[body["id"]] = {"identifiers": {identifier_kind(ident): ident},
                                  "name": body["name"], "id": body["id"],
                                  "timestamp": body.get("timestamp"),
                                  "attributes": body.get("data") or {}}  # fmt: skip
    assert len(events) == plan.summary["sent"], "one op per sent row, ids distinct"
    return plan, events


def assert_stored(fake: FakeCio, want: dict[str, Event], *, repeats: bool = False) -> None:
    """The fake stored exactly ``want``: same ids, same content; repeats only if allowed."""
    events = fake.events
    got = {e["id"] for e in events}
    assert got == set(want), (
        f"missing {sorted(set(want) - got)[:5]}, unexpected {sorted(got - set(want))[:5]}"
    )
    for event in events:
        assert event == want[event["id"]], "every stored copy is the dry-run op"
    if not repeats:
        assert len(events) == len(want), f"duplicates on the server: {fake.duplicate_ids}"
    assert all(r.auth_ok for r in fake.requests), "every request carried the credentials"


def finished(result: Result, code: int) -> dict[str, Any]:
    """The --json summary of a run that finished with ``code``; the accounting holds."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    s = summary(result)
    assert set(s) == SUMMARY_KEYS and s["exit_code"] == code and s["dry_run"] is False
    assert_accounting(s)
    return s


def aborted(result: Result) -> dict[str, Any]:
    """The --json object of a run stopped with exit 5 (it carries ``error`` and ``hint``)."""
    assert result.exit_code == 5, (result.exit_code, result.stdout, result.stderr)
    s = summary(result)
    assert s["exit_code"] == 5 and s["error"] and s["hint"]
    assert "error: " in result.stderr and "hint: " in result.stderr
    return s


def settle(fake: FakeCio, count: int, within: float = 3.0) -> None:
    """Wait until the fake has recorded ``count`` requests (slow replies end after the run)."""
    deadline = time.monotonic() + within
    while len(fake.requests) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def statuses(fake: FakeCio) -> list[int | None]:
    """The status the fake answered to each request, in arrival order."""
    return [r.status for r in fake.requests]


class HookedFake(FakeCio):
    """A FakeCio whose authenticated requests first go to ``hook`` (None: answer normally).

    It also records when each request reached the API and how many were being answered at
    once (each request is held ``hold`` seconds inside the API).
    """

    def __init__(self, hook: Hook | None = None, hold: float = 0.0, **kwargs: Any) -> None:
        super().__init__(SITE, KEY, **kwargs)
        self.hook = hook
        self.hold = hold
        self.arrivals: list[float] = []
        self.in_flight = self.peak = 0
        self._gauge = threading.Lock()

    def route(self, method: str, raw_path: str, auth_ok: bool, body: bytes,
              strict: bool = False) -> Reply:
        with self._gauge:
            self.arrivals.append(time.monotonic())
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            if self.hold:
                time.sleep(self.hold)
            reply = self.hook(method, raw_path, body) if self.hook and auth_ok else None
            if reply is not None:
                return reply
            return super().route(method, raw_path, auth_ok, body, strict)
        finally:
            with self._gauge:
                self.in_flight -= 1


@pytest.fixture
def hooked() -> Iterator[Callable[..., HookedFake]]:
    """Start HookedFake servers (stopped after the test)."""
    started: list[HookedFake] = []

    def make(hook: Hook | None = None, hold: float = 0.0) -> HookedFake:
        fake = HookedFake(hook, hold)
        fake.start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()


# -- 200 ----------------------------------------------------------------------------


def test_happy_path_stores_exactly_the_dry_run(tmp_path: Path, fake_cio: FakeCio) -> None:
    big = "x" * 40_000  # an op over 32,000 bytes: sent alone through v1
    rows = [*rows_for(200), ["big", "u/1 ü", str(T), "pro", "1", "true", big],
            ["nots", "user-nt", "", "free", "2", "false", "no timestamp"],
            ["purchase", "cio_abc", str(T), "pro", "3", "true", "a cio_id"],
            rows_for(1)[0]]  # the same row again: a duplicate, never sent  # fmt: skip
    path = write(tmp_path, rows)
    plan, want = expected(path, "--batch-bytes", "8000", "--allow-recent")
    assert any("path" in line for line in plan.lines), "the big row goes through v1"
    assert plan.summary["requests"] > 3
    result = send(fake_cio.url, path, "--batch-bytes", "8000", "--allow-recent")
    s = finished(result, 0)
    assert s["sent"] == 203 and s["duplicates"] == 1 and s["rejected"] == 0
    assert s["retries"] == 0 and s["requests"] == plan.summary["requests"]
    assert s["rows"] == plan.summary["rows"] == 204
    assert_stored(fake_cio, want)
    assert statuses(fake_cio) == [200] * plan.summary["requests"]
    assert {r.path for r in fake_cio.requests} == {
        "/api/v2/batch",
        "/api/v1/customers/u%2F1%20%C3%BC/events",
    }
    assert fake_cio.events_by_id[want_id(want, "big")]["identifiers"] == {"id": "u/1 ü"}
    assert not (tmp_path / "events.csv.rejects.csv").exists()
    assert result.stderr == "", "--json --quiet: nothing on stderr for a clean run"


def want_id(want: dict[str, Event], name: str) -> str:
    """The id of the (only) expected event named ``name``."""
    (found,) = [i for i, e in want.items() if e["name"] == name]
    return found


def test_human_summary_on_stderr_and_nothing_on_stdout(tmp_path: Path, fake_cio: FakeCio) -> None:
    path = write(tmp_path, rows_for(30))
    _, want = expected(path)
    result = cio("import", path, "--base-url", fake_cio.url, "--site-id", SITE, "--api-key", KEY,
                 env=NO_ENV)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert "sent" in result.stderr and "30" in result.stderr
    assert_stored(fake_cio, want)


# -- 207 ----------------------------------------------------------------------------


def test_207_rejects_just_the_listed_rows_with_the_api_message(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    rows = rows_for(120)
    bad_at = [0, 1, 37, 59, 60, 119]  # first/last of batches and in between
    for i in bad_at:
        rows[i][0] = "api_reject"
    rows.append(["api_reject", "user-big", str(T), "pro", "1", "true", "y" * 40_000])  # v1: 400
    rows.append(rows_for(1, start=5)[0])  # a duplicate of row 5
    path = write(tmp_path, rows)
    plan, want = expected(path, "--batch-bytes", "6000")
    result = send(fake_cio.url, path, "--batch-bytes", "6000")
    s = finished(result, 1)
    assert s["rows"] == 122 and s["rejected"] == 7 and s["duplicates"] == 1
    assert s["sent"] == 114 and s["errors"] == {"api_refused": 7}
    assert s["rejects_file"] == str(tmp_path / "events.csv.rejects.csv")
    refused = {i for i, e in want.items() if e["name"] == "api_reject"}
    assert len(refused) == 7
    assert_stored(fake_cio, {i: e for i, e in want.items() if i not in refused})
    assert 207 in statuses(fake_cio) and 400 in statuses(fake_cio)
    header, rejects = read_rejects(tmp_path / "events.csv.rejects.csv")
    assert header == [*HEADER, "_cio_row", "_cio_error"]
    assert sorted(int(r["_cio_row"]) for r in rejects) == [i + 2 for i in bad_at] + [122]
    for r in rejects:
        assert r["_cio_error"].startswith("refused by Customer.io: rejected by fake server")
        assert [r[c] for c in HEADER] == rows[int(r["_cio_row"]) - 2], "raw cells as written"


# -- 400/413/422 on a whole batch: bisection ----------------------------------------


@pytest.mark.parametrize("code", [400, 413, 422])
def test_a_whole_batch_refused_once_is_split_and_every_row_arrives(
    tmp_path: Path, fake_cio: FakeCio, code: int
) -> None:
    path = write(tmp_path, rows_for(90))
    plan, want = expected(path, "--batch-bytes", "9000")
    fake_cio.script([("reject_whole", code)])
    s = finished(send(fake_cio.url, path, "--batch-bytes", "9000"), 0)
    assert s["sent"] == 90 and s["rejected"] == 0
    assert_stored(fake_cio, want)
    assert statuses(fake_cio).count(code) == 1
    assert len(fake_cio.requests) == plan.summary["requests"] + 2, "the refused one, in halves"


def test_bisection_isolates_the_rows_the_api_refuses(
    tmp_path: Path, hooked: Callable[..., HookedFake]
) -> None:
    poison = (b'"id":"poison-1"', b'"id":"poison-2"')

    def refuse_poison(method: str, path: str, body: bytes) -> Reply | None:
        if any(p in body for p in poison):
            return 400, {}, b'{"meta":{"errors":["poisoned row in this batch"]}}'
        return None

    fake = hooked(refuse_poison)
    rows = rows_for(100)
    rows[13][1], rows[70][1] = "poison-1", "poison-2"
    path = write(tmp_path, rows)
    plan, want = expected(path, "--batch-bytes", "30000")
    assert plan.summary["requests"] == 1, "one batch holds both poisoned rows"
    result = send(fake.url, path, "--batch-bytes", "30000", "--concurrency", "2")
    s = finished(result, 1)
    assert s["rejected"] == 2 and s["sent"] == 98 and s["errors"] == {"api_refused": 2}
    bad = {i for i, e in want.items() if str(e["identifiers"]["id"]).startswith("poison")}
    assert_stored(fake, {i: e for i, e in want.items() if i not in bad})
    _, rejects = read_rejects(tmp_path / "events.csv.rejects.csv")
    assert sorted(int(r["_cio_row"]) for r in rejects) == [15, 72]
    assert {r["_cio_error"] for r in rejects} == {
        "refused by Customer.io: poisoned row in this batch"
    }
    # two rows among 100: each isolated in about log2(100) rounds of two halves
    assert len(fake.requests) <= 1 + 2 * 2 * 7, len(fake.requests)
    assert fake.peak <= 2, "halves respect --concurrency too"


# -- 401/403/404: abort at once -----------------------------------------------------


def test_401_aborts_with_the_credentials_hint_and_nothing_stored(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    path = write(tmp_path, rows_for(60))
    result = send(fake_cio.url, path, "--batch-bytes", "5000", "--concurrency", "1",
                  key="wrong-key")  # fmt: skip
    s = aborted(result)
    for word in ("site id", "key", "region"):
        assert word in s["hint"] and word in result.stderr.lower()
    assert "401" in s["error"]
    assert fake_cio.events == []
    assert statuses(fake_cio) == [401], "stops at once: no retry, no further batch"
    assert s["retries"] == 0


def test_403_aborts_the_same_way(tmp_path: Path, fake_cio: FakeCio) -> None:
    fake_cio.fail_every(1, ("status", 403, {}, b'{"meta":{"error":"Forbidden"}}'))
    path = write(tmp_path, rows_for(60))
    s = aborted(send(fake_cio.url, path, "--batch-bytes", "5000", "--concurrency", "1"))
    assert "403" in s["error"]
    assert all(w in s["hint"] for w in ("site id", "key", "region"))
    assert fake_cio.events == [] and statuses(fake_cio) == [403]


def test_404_aborts_naming_the_url(tmp_path: Path, fake_cio: FakeCio) -> None:
    path = write(tmp_path, rows_for(10))
    result = send(fake_cio.url + "/wrong/prefix", path)
    s = aborted(result)
    url = f"{fake_cio.url}/wrong/prefix/api/v2/batch"
    assert url in s["error"] and url in result.stderr
    assert statuses(fake_cio) == [404] and fake_cio.events == []


# -- retried: 429, 5xx, timeouts, dropped connections -------------------------------


TRANSIENT: list[tuple[tuple[Any, ...], tuple[str, ...]]] = [
    (("status", 429, {}, b'{"meta":{"error":"rate limited"}}'), ()),
    (("status", 429, {"Retry-After": "0"}, b""), ()),
    (("status", 500, {}, b'{"meta":{"error":"boom"}}'), ()),
    (("status", 502, {}, b"<html>bad gateway</html>"), ()),
    (("status", 503, {"Retry-After": "0"}, b""), ()),
    (("status", 504, {}, b""), ()),
    (("delay", 1.0), ("--timeout", "0.3")),
    (("drop",), ()),
    (("drop_before_read",), ()),
    (("accept_then_drop",), ()),
]


@pytest.mark.parametrize(("fault", "flags"), TRANSIENT, ids=lambda v: "-".join(map(str, v[:2])))
def test_transient_failures_are_retried_and_nothing_is_lost(
    tmp_path: Path, fake_cio: FakeCio, fault: tuple[Any, ...], flags: tuple[str, ...]
) -> None:
    path = write(tmp_path, rows_for(60))
    plan, want = expected(path, "--batch-bytes", "6000")
    fake_cio.script([fault])
    s = finished(send(fake_cio.url, path, "--batch-bytes", "6000", "--max-retries", "2", *flags), 0)
    assert s["sent"] == 60 and s["retries"] == 1 and s["requests"] == plan.summary["requests"]
    settle(fake_cio, plan.summary["requests"] + 1)  # a delayed reply is recorded when it ends
    assert len(fake_cio.requests) == plan.summary["requests"] + 1
    repeats = fault[0] in ("delay", "accept_then_drop")  # the server did store the first try
    assert_stored(fake_cio, want, repeats=repeats)


def test_429_retry_after_seconds_is_waited_for(tmp_path: Path, fake_cio: FakeCio) -> None:
    path = write(tmp_path, rows_for(20))
    _, want = expected(path)
    fake_cio.script([("status", 429, {"Retry-After": "1"}, b"")])
    started = time.monotonic()
    s = finished(send(fake_cio.url, path), 0)
    assert time.monotonic() - started >= 1.0, "Retry-After is a minimum"
    assert s["retries"] == 1 and statuses(fake_cio) == [429, 200]
    assert_stored(fake_cio, want)


def test_429_retry_after_http_date_is_waited_for(
    tmp_path: Path, hooked: Callable[..., HookedFake]
) -> None:
    answered: list[int] = []

    def once_429(method: str, path: str, body: bytes) -> Reply | None:
        if answered:
            return None
        if time.time() % 1 > 0.9:  # keep the reply's Date header in this same second
            time.sleep(0.15)
        answered.append(1)
        return 429, {"Retry-After": formatdate(int(time.time()) + 1, usegmt=True)}, b""

    fake = hooked(once_429)
    path = write(tmp_path, rows_for(20))
    _, want = expected(path)
    s = finished(send(fake.url, path), 0)
    assert s["retries"] == 1 and statuses(fake) == [429, 200]
    assert fake.arrivals[1] - fake.arrivals[0] >= 0.9, "waited until the date"
    assert_stored(fake, want)


def test_timeout_is_the_timeout_option(tmp_path: Path, fake_cio: FakeCio) -> None:
    path = write(tmp_path, rows_for(10))
    fake_cio.delay = 0.4
    s = aborted(send(fake_cio.url, path, "--timeout", "0.1", "--max-retries", "1"))
    assert "timeout" in s["error"] and "0.1" in s["error"]
    settle(fake_cio, 2)
    assert len(fake_cio.requests) == 2, "one try and one retry"
    assert s["retries"] == 1, "--json counts the retries of a run that aborted too"


def test_max_retries_exhausted_stops_with_exit_5_and_says_run_again(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    fake_cio.fail_every(1, ("status", 503, {}, b'{"meta":{"error":"unavailable"}}'))
    path = write(tmp_path, rows_for(20))
    result = send(fake_cio.url, path, "--max-retries", "1")
    s = aborted(result)
    assert "503" in s["error"] and "1 retry" in s["error"]
    assert "again" in s["hint"] and "again" in result.stderr
    assert statuses(fake_cio) == [503, 503]
    assert fake_cio.events == [] and s["sent"] == 0
    assert s["retries"] == 1, "--json counts the retries of a run that aborted too"


def test_exhausted_midway_keeps_what_was_acknowledged_and_the_rerun_resumes(
    tmp_path: Path, hooked: Callable[..., HookedFake]
) -> None:
    down = [True]

    def down_for_user50(method: str, path: str, body: bytes) -> Reply | None:
        return (503, {}, b"") if down[0] and b'"id":"user50"' in body else None

    fake = hooked(down_for_user50)
    path = write(tmp_path, rows_for(120))
    plan, want = expected(path, "--batch-bytes", "3000")
    at = next(i for i, line in enumerate(plan.lines)
              if any(op["identifiers"]["id"] == "user50" for op in line["batch"]))  # fmt: skip
    before = [op["id"] for line in plan.lines[:at] for op in line["batch"]]
    assert 0 < len(before) < 100
    result = send(fake.url, path, "--batch-bytes", "3000", "--concurrency", "1",
                  "--max-retries", "2")  # fmt: skip
    s = aborted(result)
    assert "503" in s["error"] and "2 retries" in s["error"]
    assert s["sent"] == len(before), "acknowledged rows are counted in the partial summary"
    assert_stored(fake, {i: want[i] for i in before})
    assert statuses(fake) == [200] * at + [503] * 3, "nothing sent after the failing batch"
    assert s["retries"] == 2, "--json counts the retries of a run that aborted too"
    # SPEC 4/5: exit 5 keeps the journal and the same command resumes
    assert (tmp_path / "events.csv.cio-journal").exists()
    down[0] = False
    again = finished(send(fake.url, path, "--batch-bytes", "3000", "--concurrency", "1"), 0)
    assert again["sent"] == 120 and again["resumed"] == len(before)
    assert_stored(fake, want)  # every row once: acknowledged rows were not sent again


def test_an_abort_exits_at_once_even_with_a_request_in_backoff(
    tmp_path: Path, hooked: Callable[..., HookedFake]
) -> None:
    """401 on one request while another waits out a Retry-After: the process exits now."""

    def hook(method: str, path: str, body: bytes) -> Reply | None:
        if b'"id":"user0"' in body:
            return 429, {"Retry-After": "2"}, b""
        if b'"id":"user30"' in body:
            time.sleep(0.2)  # let the first request reach its backoff
            return 401, {}, b'{"meta":{"error":"Unauthorized request"}}'
        return None

    fake = hooked(hook)
    path = write(tmp_path, rows_for(60))
    args = ("import", path, "--base-url", fake.url, "--site-id", SITE, "--api-key", KEY,
            "--json", "--batch-bytes", "5000", "--concurrency", "4")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIO_")}
    with subprocess.Popen([sys.executable, "-m", "cio_cli", *map(str, args)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:  # fmt: skip
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the summary: the abort is decided
        decided = time.monotonic()
        proc.communicate(timeout=30)
        lingered = time.monotonic() - decided
    assert proc.returncode == 5 and '"exit_code":5' in line
    # the 429 halves the requests in flight (4 to 2), which still lets user30's request go
    # while user0's waits out its Retry-After: the 401 comes during that wait, no retry after
    assert statuses(fake)[0] == 429 and 401 in statuses(fake)
    assert statuses(fake).count(429) == 1, "user0 was not retried: the abort came first"
    assert lingered < 1.0, f"exit 5 printed, but the process lived {lingered:.1f} s longer"


def test_unreachable_api_exit_5(tmp_path: Path) -> None:
    path = write(tmp_path, rows_for(5))
    s = aborted(send("http://127.0.0.1:1", path, "--max-retries", "0"))
    assert "connection refused" in s["error"] and "0 retries" in s["error"]


def test_chaos_429_5xx_drops_nothing_lost_nothing_twice(tmp_path: Path, fake_cio: FakeCio) -> None:
    rows = rows_for(3000)
    rows += [rows[7], rows[2999], rows[1500]]  # exact repeats: duplicates, sent once
    path = write(tmp_path, rows)
    flags = ("--batch-bytes", "22000")
    plan, want = expected(path, *flags)
    assert 25 <= plan.summary["requests"] <= 40, plan.summary["requests"]
    fake_cio.fail_every(3,
                        ("status", 429, {}, b""),
                        ("status", 503, {"Retry-After": "0"}, b""),
                        ("drop",),
                        ("status", 429, {"Retry-After": "1"}, b""),
                        ("drop_before_read",),
                        ("status", 500, {}, b'{"errors":["internal"]}'),
                        ("accept_then_drop",),
                        ("status", 502, {}, b""),
                        ("delay", 1.0))  # fmt: skip
    result = send(fake_cio.url, path, *flags, "--concurrency", "4", "--max-retries", "6",
                  "--timeout", "0.5")  # fmt: skip
    s = finished(result, 0)
    assert s["sent"] == 3000 and s["duplicates"] == 3 and s["rejected"] == 0
    settle(fake_cio, plan.summary["requests"] + s["retries"])
    assert s["retries"] > 0 and s["retries"] == len(fake_cio.requests) - plan.summary["requests"]
    assert_stored(fake_cio, want, repeats=True)
    assert set(fake_cio.duplicate_ids) <= set(want)
    assert {429, 500, 502, 503, None} <= set(statuses(fake_cio)), "every fault was met"


# -- concurrency and rate -----------------------------------------------------------


def test_concurrency_is_used_and_never_exceeded(
    tmp_path: Path, hooked: Callable[..., HookedFake]
) -> None:
    fake = hooked(hold=0.05)
    path = write(tmp_path, rows_for(200))
    _, want = expected(path, "--batch-bytes", "3000")
    finished(send(fake.url, path, "--batch-bytes", "3000", "--concurrency", "3"), 0)
    assert fake.peak == 3
    assert_stored(fake, want)


def test_rate_is_never_exceeded(tmp_path: Path, hooked: Callable[..., HookedFake]) -> None:
    fake = hooked()
    path = write(tmp_path, rows_for(400))
    plan, want = expected(path, "--batch-bytes", "3000")
    n = plan.summary["requests"]
    assert n > 25
    finished(send(fake.url, path, "--batch-bytes", "3000", "--rate", "20"), 0)
    t = sorted(fake.arrivals)
    assert len(t) == n
    windows = [t[i + 20] - t[i] for i in range(len(t) - 20)]
    assert min(windows) >= 0.95, "21 starts never fit in one second at --rate 20"
    assert_stored(fake, want)


# -- credentials --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "named", "not_named"),
    [
        ((), ("--site-id", "CIO_SITE_ID", "--api-key", "CIO_API_KEY"), ()),
        (("--site-id", SITE), ("--api-key", "CIO_API_KEY"), ("--site-id", "CIO_SITE_ID")),
        (("--api-key", KEY), ("--site-id", "CIO_SITE_ID"), ("--api-key", "CIO_API_KEY")),
    ],
)
def test_missing_credentials_is_a_usage_error_before_reading(
    tmp_path: Path, fake_cio: FakeCio, flags: tuple[str, ...], named: tuple[str, ...],
    not_named: tuple[str, ...],
) -> None:  # fmt: skip
    path = write_csv(tmp_path / "bad.csv", ["nothing", "useful"], [["a", "b"]])  # exit 3 if read
    env = NO_ENV | {"CIO_BASE_URL": fake_cio.url}
    result = cio("import", path, "--quiet", *flags, env=env)
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    message = result.stderr.split("hint:")[0]
    for name in named:
        assert name in message
    for name in not_named:
        assert name not in message
    assert fake_cio.requests == []
    assert not (tmp_path / "bad.csv.rejects.csv").exists()


def test_credentials_and_base_url_from_the_environment(tmp_path: Path, fake_cio: FakeCio) -> None:
    path = write(tmp_path, rows_for(25))
    _, want = expected(path)
    env = NO_ENV | {"CIO_SITE_ID": SITE, "CIO_API_KEY": KEY, "CIO_BASE_URL": fake_cio.url}
    finished(cio("import", path, "--quiet", "--json", env=env), 0)
    assert_stored(fake_cio, want)


def test_flags_beat_the_environment(tmp_path: Path, fake_cio: FakeCio) -> None:
    path = write(tmp_path, rows_for(25))
    _, want = expected(path)
    env = NO_ENV | {
        "CIO_SITE_ID": "other",
        "CIO_API_KEY": "stale",
        "CIO_BASE_URL": "http://127.0.0.1:1",
    }
    finished(send(fake_cio.url, path, env=env), 0)
    assert_stored(fake_cio, want)


SECRET = "SECRETKEY123XYZ"


def run_cio(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m cio_cli ARGS`` in a child process, every output captured."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("CIO_")} | (env or {})
    return subprocess.run([sys.executable, "-m", "cio_cli", *map(str, args)], env=full,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def test_the_api_key_never_appears_anywhere(tmp_path: Path) -> None:
    secrets = [SECRET, base64.b64encode(f"{SITE}:{SECRET}".encode()).decode()]
    rows = rows_for(40)
    rows[3][0] = "api_reject"
    path = write(tmp_path, rows)
    creds = ("--site-id", SITE, "--api-key", SECRET)
    outputs: list[str] = []
    with FakeCio(SITE, SECRET) as good, FakeCio(SITE, "a-different-key") as refusing:
        good.script([("status", 503, {}, b""), ("drop",)])
        runs = [
            (run_cio("import", path, "--base-url", good.url, *creds, "--json"), 1),
            (run_cio("import", path, "--base-url", good.url, *creds, "--restart"), 1),
            (run_cio("import", path, "--base-url", refusing.url, *creds, "--json"), 5),
            (run_cio("import", path, "--base-url", refusing.url, *creds), 5),
            (run_cio("import", path, "--base-url", "http://127.0.0.1:1", *creds,
                     "--max-retries", "0", "--json"), 5),
            (run_cio("import", path, "--base-url", "http://127.0.0.1:1", *creds,
                     "--max-retries", "0"), 5),
            (run_cio("import", path, "--json", "--max-retries", "0",
                     env={"CIO_SITE_ID": SITE, "CIO_API_KEY": SECRET,
                          "CIO_BASE_URL": "http://127.0.0.1:1"}), 5),
            (run_cio("import", path, "--api-key", SECRET, "--base-url", good.url), 2),
            (run_cio("import", path, *creds, "--base-url", good.url, "--region", "mars"), 2),
        ]  # fmt: skip
        assert len(good.events_by_id) == 39 and len(good.events) == 2 * 39
    for proc, code in runs:
        assert proc.returncode == code, (proc.args, proc.returncode, proc.stderr)
        assert "Traceback" not in proc.stderr
        outputs += [proc.stdout, proc.stderr]
    outputs += [p.read_text(encoding="utf-8", errors="replace") for p in tmp_path.rglob("*")
                if p.is_file()]  # fmt: skip
    assert "rejected by fake server" in "".join(outputs), "the outputs were really read"
    for text in outputs:
        for secret in secrets:
            assert secret not in text


# -- running the same import again ---------------------------------------------------


def test_a_rerun_sends_the_rows_the_api_refused_again(tmp_path: Path, fake_cio: FakeCio) -> None:
    """SPEC 5: refused rows are not journalled, so the rerun sends them again (and only them)."""
    rows = rows_for(40)
    rows[3][0] = "api_reject"
    path = write(tmp_path, rows)
    _, want = expected(path)
    first = finished(send(fake_cio.url, path), 1)
    assert first["sent"] == 39 and first["rejected"] == 1
    stored = len(fake_cio.events)
    again = finished(send(fake_cio.url, path), 1)  # accounting: rows == sent + ... + rejected
    assert again["resumed"] == 39 and again["sent"] == 39 and again["rejected"] == 1
    _, rejects = read_rejects(tmp_path / "events.csv.rejects.csv")
    assert [r["_cio_row"] for r in rejects] == ["5"], "the rerun's rejects file is complete"
    assert len(fake_cio.events) == stored, "acknowledged rows are not sent again"
    assert fake_cio.requests[-1].status == 207, "the refused row was sent again"
    assert_stored(fake_cio, {i: e for i, e in want.items() if e["name"] != "api_reject"})


# -- the 72-hour window on a real import --------------------------------------------


def window_file(tmp_path: Path) -> tuple[Path, list[list[str]]]:
    rows = rows_for(10)
    rows[2][2], rows[6][2], rows[8][2] = str(recent(1)), str(recent(30)), ""
    return write(tmp_path, rows), rows


def test_window_without_a_terminal_refuses_and_sends_nothing(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    path, _ = window_file(tmp_path)
    result = send(fake_cio.url, path)
    assert result.exit_code == 4, (result.stdout, result.stderr)
    assert "--allow-recent" in result.stderr and "--skip-recent" in result.stderr
    assert fake_cio.requests == []


def test_window_allow_recent_sends_everything(tmp_path: Path, fake_cio: FakeCio) -> None:
    path, _ = window_file(tmp_path)
    _, want = expected(path, "--allow-recent")
    s = finished(send(fake_cio.url, path, "--allow-recent"), 0)
    assert s["sent"] == 10 and s["recent"] == 3
    assert_stored(fake_cio, want)


def test_window_skip_recent_sends_only_old_rows(tmp_path: Path, fake_cio: FakeCio) -> None:
    path, rows = window_file(tmp_path)
    _, want = expected(path, "--skip-recent")
    assert len(want) == 7
    s = finished(send(fake_cio.url, path, "--skip-recent"), 0)  # SPEC 6: skipped alone exits 0
    assert s["sent"] == 7 and s["skipped_recent"] == 3 and s["recent"] == 3
    assert_stored(fake_cio, want)
    _, rejects = read_rejects(tmp_path / "events.csv.rejects.csv")
    assert [int(r["_cio_row"]) for r in rejects] == [4, 8, 10]
    assert all("72 hours" in r["_cio_error"] for r in rejects)
    assert {e["attributes"]["amount"] for e in fake_cio.events} == {
        int(r[4]) for i, r in enumerate(rows) if i not in (2, 6, 8)
    }


# -- issue 9: the network side ---------------------------------------------------------


def test_an_unreadable_207_is_sent_again_and_nothing_is_lost(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    """Item 3: a 207 whose body is not JSON stores nothing and says nothing: resend it."""
    path = write(tmp_path, rows_for(200))
    plan, want = expected(path, "--batch-bytes", "6000")
    fake_cio.fail_every(2, ("unreadable_207",))
    s = finished(send(fake_cio.url, path, "--batch-bytes", "6000", "--concurrency", "1"), 0)
    unreadable = statuses(fake_cio).count(207)
    assert unreadable >= plan.summary["requests"] // 2 - 1 and s["retries"] == unreadable
    assert s["sent"] == 200 and s["rejected"] == 0
    assert_stored(fake_cio, want)


def test_a_207_that_stays_unreadable_aborts_with_nothing_counted_sent(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    path = write(tmp_path, rows_for(20))
    fake_cio.fail_every(1, ("unreadable_207",))
    s = aborted(send(fake_cio.url, path, "--max-retries", "1"))
    assert s["error"] == (
        "Customer.io did not answer after 1 retry: "
        "HTTP 207 with a body that does not say which events failed"
    )
    assert s["sent"] == 0 and statuses(fake_cio) == [207, 207] and fake_cio.events == []
    fake_cio.clear_faults()
    assert finished(send(fake_cio.url, path), 0)["sent"] == 20, "the rerun sends them all"


def test_a_slow_drip_answer_times_out_as_a_whole(tmp_path: Path, fake_cio: FakeCio) -> None:
    """Item 13: --timeout is a deadline for the whole request, not for each read."""
    path = write(tmp_path, rows_for(10))
    fake_cio.fail_every(1, ("drip", 0.3, 64))  # 19 s per answer, a byte every 0.3 s
    started = time.monotonic()
    s = aborted(send(fake_cio.url, path, "--timeout", "1", "--max-retries", "1"))
    took = time.monotonic() - started
    assert s["error"] == (
        "Customer.io did not answer after 1 retry: timeout (no whole answer within 1 s)"
    )
    assert took < 6, f"two attempts of at most 1 s each took {took:.1f} s (19 s each before)"
    assert s["sent"] == 0 and s["retries"] == 1


def _ctrl_c_allowed() -> None:
    """In the child: SIGINT as at a terminal, even when the suite runs with it ignored."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_the_first_ctrl_c_stops_a_slow_drip_within_the_timeout(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    import signal

    path = write(tmp_path, rows_for(10))
    fake_cio.fail_every(1, ("drip", 0.3, 200))  # 60 s per answer
    args = ("import", path, "--base-url", fake_cio.url, "--site-id", SITE, "--api-key", KEY,
            "--json", "--timeout", "2", "--max-retries", "8")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIO_")}
    with subprocess.Popen([sys.executable, "-m", "cio_cli", *map(str, args)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          preexec_fn=_ctrl_c_allowed) as proc:  # fmt: skip
        settle(fake_cio, 1, within=20)
        assert fake_cio.requests, "cio never sent its request"
        proc.send_signal(signal.SIGINT)
        pressed = time.monotonic()
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - pressed
    assert proc.returncode == 130, err
    assert took < 8, f"the first Ctrl-C took {took:.1f} s to stop cio (--timeout 2)"
    assert '"exit_code":130' in out and "Traceback" not in err
    assert (tmp_path / "events.csv.cio-journal").exists()


def test_a_long_retry_after_is_capped_and_said_on_stderr(
    tmp_path: Path, fake_cio: FakeCio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 14: one wait is at most RETRY_AFTER_CAP (60 s; 0.3 s here), and cio says so."""
    import cio_cli.send.transport as transport

    monkeypatch.setattr(transport, "RETRY_AFTER_CAP", 0.3)
    monkeypatch.setattr(transport, "BACKOFF_BASE", 0.01)  # the jitter stays under the cap
    monkeypatch.setattr(transport, "WAIT_NOTE_MIN", 0.2, raising=False)
    path = write(tmp_path, rows_for(20))
    _, want = expected(path)
    fake_cio.script([("status", 429, {"Retry-After": "100000"}, b"")])
    started = time.monotonic()
    result = send(fake_cio.url, path)
    s = finished(result, 0)
    assert time.monotonic() - started < 5
    assert (
        "waiting 0.3 s before retry 1 of 8: HTTP 429 "
        "(Retry-After 100000 s; cio waits at most 0.3 s at a time)\n" in result.stderr
    )
    assert s["retries"] == 1 and statuses(fake_cio) == [429, 200]
    assert_stored(fake_cio, want)


def test_customer_ids_of_dots_reach_their_own_v1_path(tmp_path: Path, fake_cio: FakeCio) -> None:
    """Item 15: '.' and '..' are sent as %2E and %2E%2E, never dropped or climbed."""
    big = "x" * 40_000  # over 32,000 bytes: sent alone through v1
    rows = [["big", ".", str(T), "pro", "1", "true", big],
            ["big", "..", str(T), "pro", "2", "true", big], *rows_for(3)]  # fmt: skip
    path = write(tmp_path, rows)
    plan, want = expected(path)
    paths = [line["path"] for line in plan.lines if "path" in line]
    assert paths == ["/api/v1/customers/%2E/events", "/api/v1/customers/%2E%2E/events"]
    finished(send(fake_cio.url, path), 0)
    got = sorted(r.path for r in fake_cio.requests if r.path.startswith("/api/v1/"))
    assert got == ["/api/v1/customers/%2E%2E/events", "/api/v1/customers/%2E/events"]
    assert {e["identifiers"]["id"] for e in fake_cio.events if e["name"] == "big"} == {".", ".."}
    assert_stored(fake_cio, want)


ECHO_SITE, ECHO_KEY = "f00d5173", "SECRETKEY123XYZ"


def echo_secrets() -> list[str]:
    pair = f"{ECHO_SITE}:{ECHO_KEY}".encode()
    return [ECHO_SITE, ECHO_KEY, pair.decode(), base64.b64encode(pair).decode().rstrip("=")]


def test_credentials_a_server_echoes_are_never_shown_or_stored(tmp_path: Path) -> None:
    """Item 16: stderr, --json's error and the rejects file never carry them."""
    rows = rows_for(30)
    rows[3][0] = "api_reject"  # refused in a 207, its message echoing the credentials
    rows.append(["api_reject", "u-big", str(T), "pro", "1", "true", "x" * 40_000])  # v1: 400
    path = write(tmp_path, rows)
    with FakeCio(ECHO_SITE, ECHO_KEY, echo=True) as fake:
        first = send(fake.url, path, site=ECHO_SITE, key=ECHO_KEY)
        s = finished(first, 1)
        fake.script([("status", 409, {}, b'{"meta":{"error":"conflict"}}')])
        second = aborted(send(fake.url, path, "--restart", site=ECHO_SITE, key=ECHO_KEY))
        human = cio("import", path, "--base-url", fake.url, "--site-id", ECHO_SITE,
                    "--api-key", ECHO_KEY, "--restart", env=NO_ENV)  # fmt: skip
    assert s["rejected"] == 2 and human.exit_code == 1
    _, rejects = read_rejects(tmp_path / "events.csv.rejects.csv")
    reasons = [r["_cio_error"] for r in rejects]
    assert len(reasons) == 2 and all(
        r.startswith("refused by Customer.io: rejected by fake server [you sent Authorization: "
                     "Basic [redacted], that is [redacted]: site [redacted], key [redacted]]")
        for r in reasons
    ), reasons  # fmt: skip
    assert second["error"].startswith("Customer.io answered HTTP 409 for POST")
    assert "conflict [you sent Authorization: Basic [redacted]" in second["error"]
    assert "rejected by fake server [you sent" in human.stderr
    texts = [first.stdout, first.stderr, human.stdout, human.stderr, json.dumps(second),
             (tmp_path / "events.csv.rejects.csv").read_text(encoding="utf-8")]
    for text in texts:
        for secret in echo_secrets():
            assert secret not in text, (secret, text[:300])


def _socksio_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("socksio") is not None


BAD_SETTINGS = [
    (("--base-url", "http://[::1"), {},
     "--base-url is not a valid URL: its IPv6 address is not valid (a missing ']'?)"),
    (("--base-url", "http://" + "a" * 64 + ".com"), {},
     "--base-url is not a valid URL: a label of its host name is over 63 characters"),
    (("--base-url", "http://xn--zz.com"), {},
     "--base-url is not a valid URL: its host name has a label 'xn--zz' that is not valid"
     " punycode (IDNA)"),
    (("--base-url", "http://127.0.0.1:99999"), {},
     "--base-url is not a valid URL: its port is not a number from 1 to 65535"),
    ((), {"CIO_BASE_URL": "http://user:pw-secret@[::1"},
     "CIO_BASE_URL is not a valid URL: its IPv6 address is not valid (a missing ']'?)"),
    ((), {"ALL_PROXY": "socks5://user:pw-secret@127.0.0.1:1080"},
     "the proxy setting ALL_PROXY cannot be used: a SOCKS proxy needs the socksio package,"
     " which is not installed"),
    ((), {"HTTPS_PROXY": "ftp://x"},
     "the proxy setting HTTPS_PROXY cannot be used: its scheme is ftp://; cio can use http://,"
     " https:// and socks5:// proxies"),
    ((), {"NO_PROXY": "localhost,::1,10.0.0.0/8,[::1"},
     "the proxy setting NO_PROXY cannot be used: an entry is not a valid host: its IPv6 address"
     " is not valid (a missing ']'?)"),
    ((), {"http_proxy": "http://user:pw-secret@[::1"},
     "the proxy setting http_proxy cannot be used: it is not a valid URL: its IPv6 address is"
     " not valid (a missing ']'?)"),
]  # fmt: skip


@pytest.mark.parametrize(("flags", "env", "message"), BAD_SETTINGS)
def test_bad_base_url_or_proxy_is_a_usage_error_before_anything_starts(
    tmp_path: Path, flags: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    """Item 12: exit 2 with a clear message, before the file is read or a journal made."""
    if "socksio" in message and _socksio_installed():
        pytest.skip("socksio is installed here")
    typo = tmp_path / "events.csv"
    typo.write_text("_cio_nmae,_cio_customer_id\nx,y\n")  # exit 3, were it read
    names = ("ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "all_proxy", "https_proxy",
             "http_proxy", "no_proxy")
    proxies: dict[str, str | None] = dict.fromkeys(names)
    args: list[str | Path] = ["import", typo, "--site-id", SITE, "--api-key", KEY, "--json"]
    if "CIO_BASE_URL" not in env:
        args += ["--base-url", "http://127.0.0.1:1"]
    result = cio(*args, *flags, env={**NO_ENV, **proxies, **env})
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert f"error: {message}\n" in result.stderr
    assert summary(result)["error"] == message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.csv"], "nothing made"
    assert "pw-secret" not in result.stdout + result.stderr


# -- output files on a real import ----------------------------------------------------


def test_a_rejects_file_failing_mid_run_finishes_the_requests_in_flight_and_resumes(
    tmp_path: Path, hooked: Callable[..., HookedFake]
) -> None:
    """A full disk under the rejects file (``/dev/full`` fails on the first flush), with
    the first rejected row far into the file: exit 5 naming the file; the requests in
    flight are finished and journalled, so the rerun sends every event exactly once."""
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    fake = hooked(hold=0.05)
    rows = rows_for(600)
    rows[450][1] = ""  # row 452: rejected, the first write to the rejects file
    path = write(tmp_path, rows)
    _, want = expected(path, "--batch-bytes", "3000")
    flags = ("--batch-bytes", "3000", "--concurrency", "4")
    with block_bytes(4096):
        s = aborted(send(fake.url, path, *flags, "--rejects", "/dev/full"))
    assert s["error"] == "cannot write the rejects file /dev/full: No space left on device"
    assert s["hint"] == ("free some space or choose another path; then run the same command"
                         " again: it resumes where this run stopped")  # fmt: skip
    assert 0 < s["sent"] < 599 and len(fake.events) == s["sent"], "nothing in flight abandoned"
    assert (tmp_path / "events.csv.cio-journal").exists()
    again = finished(send(fake.url, path, *flags), 1)
    assert again["resumed"] == s["sent"] and again["sent"] == 599 and again["rejected"] == 1
    assert_stored(fake, want)  # every event once: what was in flight had been journalled
    _, rejects = read_rejects(tmp_path / "events.csv.rejects.csv")
    assert [r["_cio_row"] for r in rejects] == ["452"]


def test_rejects_on_the_journal_is_a_usage_error_and_sends_nothing(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    path = write(tmp_path, rows_for(5))
    journal = tmp_path / "events.csv.cio-journal"
    result = send(fake_cio.url, path, "--rejects", journal)
    assert result.exit_code == 2
    assert summary(result)["error"] == (
        f"the journal {journal} and --rejects {journal} are the same file"
    )
    assert fake_cio.requests == [] and sorted(p.name for p in tmp_path.iterdir()) == ["events.csv"]


def test_journal_and_rejects_are_never_wider_than_the_input(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    rows = rows_for(5)
    rows[2][0] = "api_reject"
    path = write(tmp_path, rows)
    path.chmod(0o600)
    old_mask = os.umask(0o002)
    try:
        finished(send(fake_cio.url, path), 1)
    finally:
        os.umask(old_mask)
    for name in ("events.csv.cio-journal", "events.csv.rejects.csv"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
