"""The journal, resume and interruptions of ``cio import``, end to end.

SPEC section 5 ("Journal and resume", "Ctrl-C") and the exit codes 0, 5 and 130 of section 6.
Every import here is a real ``python -m cio_cli import`` process sending to ``FakeCio`` on
127.0.0.1 (served from threads of this process). The fake answers slowly enough (``delay``)
that a test can ``kill -9`` or Ctrl-C the import after the server saw a chosen number of
requests; the file is cut into ~100 requests with a small ``--batch-bytes``.

What "the final state equals an uninterrupted run" means here: after the rerun, the events the
server stored, by id and content, are exactly the ops of ``cio import --dry-run --out`` (ids are
deterministic), and the events received more than once are at most ``concurrency x`` the ops of
the largest request (the requests in flight at the crash).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from cio_cli.config import Config
from cio_cli.encode.batches import Request
from cio_cli.record import journal
from cio_cli.record.journal import Acked
from cio_cli.send.sender import HttpSink
from cio_cli.send.track import TRACK
from cio_cli.send.transport import Transport
from tests.cli_support import SUMMARY_KEYS, assert_accounting, cio, dry_run, old, read_rejects
from tests.fakecio import FakeCio

ROOT = Path(__file__).resolve().parent.parent
SITE, KEY = "site-7d1f0c", "key-93ab5e"
ROWS = 1500
BATCH = "4000"  # ~21 events a request: ~80 requests for ROWS rows
CONCURRENCY = 2
DELAY = 0.03  # seconds before each answer, for the tests that interrupt an import
HEADER = "_cio_name,_cio_customer_id,_cio_timestamp,plan,amount,note\n"
WAIT = 30.0  # no single step of a test should ever take this long
Event = dict[str, Any]


# -- the data and what it should become ---------------------------------------------------


@dataclass
class Plan:
    """A CSV and what an uninterrupted import of it stores at the server."""

    data: bytes
    events: dict[str, Event]  # id -> event as the fake stores it (refused ones left out)
    ids: dict[int, str]  # record number -> id, for every row that is sent
    requests: int  # requests of the whole file
    max_ops: int  # ops in the largest request

    @property
    def bound(self) -> int:
        """The most events a crash may make the rerun send twice: the requests in flight."""
        return CONCURRENCY * self.max_ops

    def ids_of(self, rows: set[int]) -> set[str]:
        return {self.ids[r] for r in rows}


def clean_csv(n: int = ROWS) -> bytes:
    """``n`` valid, distinct, old rows (record numbers 2..n+1)."""
    t = old(10)
    lines = [HEADER]
    for i in range(n):
        note = f'"order {i}, café"' if i % 3 else f"plain {i}"
        lines.append(f"purchase,user{i},{t - i},{['free', 'pro'][i % 2]},{i * 3},{note}\n")
    return "".join(lines).encode()


def plan_of(data: bytes, where: Path) -> Plan:
    """Dry-run ``data`` (in a directory of its own) and read what would be sent."""
    where.mkdir(parents=True, exist_ok=True)
    path = where / "events.csv"
    path.write_bytes(data)
    plan = dry_run(path, "--batch-bytes", BATCH)
    sizes = [len(line["batch"]) for line in plan.lines]
    assert plan.summary["requests"] == len(sizes) > 20
    rejected = set(plan.reasons)
    # Rows that are sent, in order: every row not rejected and not a repeat of an earlier one.
    body = data.decode().splitlines()[1:]
    seen: set[str] = set()
    sent_rows = []
    for number, text in enumerate(body, start=2):
        if number in rejected or text in seen:
            continue
        seen.add(text)
        sent_rows.append(number)
    assert len(sent_rows) == len(plan.ops)
    events = {}
    for op in plan.ops:
        if op["name"] != "api_reject":  # the fake refuses these (207)
            events[op["id"]] = {"identifiers": op["identifiers"], "name": op["name"],
                                "id": op["id"], "timestamp": op.get("timestamp"),
                                "attributes": op.get("attributes", {})}  # fmt: skip
    ids = {row: op["id"] for row, op in zip(sent_rows, plan.ops, strict=True)}
    return Plan(data, events, ids, len(sizes), max(sizes))


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return plan_of(clean_csv(), tmp_path_factory.mktemp("plan"))


@pytest.fixture
def csv_path(tmp_path: Path, clean: Plan) -> Path:
    path = tmp_path / "events.csv"
    path.write_bytes(clean.data)
    return path


def journal_of(csv: Path) -> Path:
    return csv.with_name(csv.name + ".cio-journal")


# -- running cio ----------------------------------------------------------------------------


def env_for(site: str = SITE, key: str = KEY) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIO_")}
    return env | {"CIO_SITE_ID": site, "CIO_API_KEY": key, "PYTHONPATH": str(ROOT)}


def command(csv: Path | str, url: str, *flags: str, json_out: bool = True) -> list[str]:
    return [sys.executable, "-m", "cio_cli", "import", str(csv), "--base-url", url,
            "--batch-bytes", BATCH, "--concurrency", str(CONCURRENCY), "--quiet",
            *(["--json"] if json_out else []), *flags]  # fmt: skip


@dataclass
class Done:
    """A finished ``cio import`` process."""

    code: int
    stdout: str
    stderr: str

    @property
    def summary(self) -> dict[str, Any]:
        lines = self.stdout.splitlines()
        assert len(lines) == 1, (self.code, self.stdout, self.stderr)
        doc = json.loads(lines[0])
        assert isinstance(doc, dict)
        assert set(doc) - {"error", "hint"} == SUMMARY_KEYS
        return doc


class Running:
    """A ``cio import`` process under way; stdout and stderr go to files, read at any time."""

    def __init__(self, cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.out, self.err = cwd / f"out.{time.monotonic_ns()}", cwd / f"err.{time.monotonic_ns()}"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def signal(self, sig: int) -> None:
        assert self.proc.poll() is None, f"cio ended before the signal:\n{self.stderr()}"
        self.proc.send_signal(sig)

    def wait(self, timeout: float = WAIT) -> Done:
        code = self.proc.wait(timeout=timeout)
        return Done(code, self.out.read_text(encoding="utf-8"), self.stderr())


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """Start ``cio import`` processes; any still running at the end of the test is killed."""
    started: list[Running] = []

    def go(cmd: list[str], env: dict[str, str] | None = None) -> Running:
        run = Running(cmd, tmp_path, env or env_for())
        started.append(run)
        return run

    yield go
    for run in started:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


def run_cio(cmd: list[str], cwd: Path, env: dict[str, str] | None = None,
            stdin: bytes | None = None) -> Done:  # fmt: skip
    proc = subprocess.run(cmd, cwd=cwd, env=env or env_for(), input=stdin, capture_output=True,
                          timeout=WAIT * 2, check=False)  # fmt: skip
    return Done(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def wait_for_requests(fake: FakeCio, n: int, run: Running) -> None:
    """Until the server has answered (or is answering) ``n`` requests."""
    limit = time.monotonic() + WAIT
    while len(fake.requests) < n:
        assert run.proc.poll() is None, (
            f"cio ended after {len(fake.requests)} requests, before {n}:\n{run.stderr()}"
        )
        assert time.monotonic() < limit, f"only {len(fake.requests)} requests, waiting for {n}"
        time.sleep(0.002)


def settle(fake: FakeCio, quiet: float = 0.25) -> None:
    """Until the server stored nothing new for ``quiet`` s (answers still sleeping finish)."""
    last, since = fake.stats()["accepted"], time.monotonic()
    while time.monotonic() - since < quiet:
        time.sleep(0.02)
        now = fake.stats()["accepted"]
        if now != last:
            last, since = now, time.monotonic()


# -- the journal as a reader sees it -------------------------------------------------------


@dataclass
class Read:
    """A journal file read with the module's own reader."""

    records: list[tuple[str, str]]
    whole: bool  # every byte belongs to an intact record
    rows: set[int]
    done: bool


def read_journal(path: Path) -> Read:
    good, records = journal._read(path)
    acked = Acked.parse([p for k, p in records if k == "A"])
    rows = {r for a, b in zip(acked.starts, acked.ends, strict=True) for r in range(a, b + 1)}
    return Read(records, good == path.stat().st_size, rows,
                any(k == "D" for k, _ in records))  # fmt: skip


def jline(kind: str, payload: str) -> bytes:
    """A journal record, built from the documented format (``KIND PAYLOAD CRC32\\n``)."""
    text = f"{kind} {payload}"
    return f"{text} {zlib.crc32(text.encode()):08x}\n".encode()


def jheader(csv: Path, url: str, site: str = SITE) -> bytes:
    doc = {"version": 1, "fingerprint": journal.file_digest(csv),
           "destination": TRACK.destination(Config(site, KEY, url))}  # fmt: skip
    return jline("H", json.dumps(doc, separators=(",", ":")))


# -- what the server holds ------------------------------------------------------------------


def assert_complete(fake: FakeCio, plan: Plan) -> None:
    """The server stored exactly the events of an uninterrupted run, contents included."""
    stored = fake.events_by_id
    missing, extra = plan.events.keys() - stored.keys(), stored.keys() - plan.events.keys()
    assert not missing and not extra, f"{len(missing)} missing, {len(extra)} unexpected"
    assert stored == plan.events


def resent(fake: FakeCio) -> int:
    return sum(fake.duplicate_ids.values())


def assert_journal_true(read: Read, fake: FakeCio, plan: Plan) -> None:
    """The journal only ever names rows the server really stored, and misses at most the
    rows of the requests in flight."""
    stored = set(fake.events_by_id)
    claimed = plan.ids_of(read.rows)
    assert claimed <= stored, f"{len(claimed - stored)} journalled rows the server never got"
    assert len(stored - claimed) <= plan.bound, (len(stored - claimed), plan.bound)


def assert_resumed(done: Done, fake: FakeCio, plan: Plan, before: Read) -> dict[str, Any]:
    """A rerun after an interruption: exit 0, skips the journalled rows, completes the set."""
    assert done.code == 0, done.stderr
    s = done.summary
    assert s["exit_code"] == 0
    assert s["rows"] == ROWS and s["sent"] == ROWS, s
    assert s["resumed"] == len(before.rows), (s, len(before.rows))
    assert_accounting(s)
    settle(fake)
    assert_complete(fake, plan)
    assert resent(fake) <= plan.bound, (resent(fake), plan.bound)
    return s


def assert_finished_journal(path: Path, rows: int = ROWS) -> None:
    after = read_journal(path)
    assert after.whole and after.done
    assert [k for k, _ in after.records].count("H") == 1
    assert after.records[0][0] == "H"
    assert len(after.rows) == rows
    raw = path.read_bytes()
    assert SITE.encode() not in raw and KEY.encode() not in raw


# -- kill -9 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("when", ["early", "middle", "last batch"])
def test_kill_9_then_rerun_resumes(
    when: str, csv_path: Path, clean: Plan, start: Callable[..., Running]
) -> None:
    with FakeCio(SITE, KEY, delay=DELAY) as fake:
        if when == "middle":  # every 4th answer is late: requests complete out of order
            fake.fail_every(4, ("delay", 0.12))
        run = start(command(csv_path, fake.url))
        if when == "early":
            wait_for_requests(fake, 3, run)
        elif when == "middle":
            wait_for_requests(fake, clean.requests // 2, run)
        else:  # the last requests answer slowly, so the kill lands while they are in flight
            wait_for_requests(fake, clean.requests - 4, run)
            fake.delay = 0.6
            wait_for_requests(fake, clean.requests - 1, run)
        run.signal(signal.SIGKILL)
        assert run.wait().code == -signal.SIGKILL
        fake.clear_faults()
        fake.delay = 0.0
        settle(fake)
        before = read_journal(journal_of(csv_path))
        assert not before.done
        assert before.records and before.records[0][0] == "H"
        assert_journal_true(before, fake, clean)
        if when == "middle":
            starts = [int(p.split("-")[0]) for k, p in before.records if k == "A"]
            assert starts != sorted(starts), "no request completed out of order"
        if when == "last batch":
            assert len(before.rows) >= ROWS - clean.bound
        stored_before = len(fake.events_by_id)

        done = run_cio(command(csv_path, fake.url), csv_path.parent)
        s = assert_resumed(done, fake, clean, before)
        assert s["requests"] <= clean.requests
        # The rerun sent the rows the server lacked, and at most the in-flight ones again.
        assert s["sent"] - s["resumed"] <= ROWS - stored_before + clean.bound
        assert_finished_journal(journal_of(csv_path))


# -- Ctrl-C ---------------------------------------------------------------------------------


def test_ctrl_c_finishes_in_flight_saves_and_resumes(
    csv_path: Path, clean: Plan, start: Callable[..., Running]
) -> None:
    with FakeCio(SITE, KEY, delay=DELAY) as fake:
        run = start(command(csv_path, fake.url))
        wait_for_requests(fake, clean.requests // 3, run)
        run.signal(signal.SIGINT)
        first = run.wait()
        assert first.code == 130, first.stderr
        assert "stopping: finishing the requests in flight" in first.stderr
        s = first.summary
        assert s["exit_code"] == 130 and not s["dry_run"]
        assert "interrupted" in s["error"]
        assert "run the same command again" in s["hint"] and "resumes" in s["hint"]
        assert "run the same command again" in first.stderr
        settle(fake)
        before = read_journal(journal_of(csv_path))
        assert before.whole and not before.done
        # Everything in flight was finished and journalled: journal == server, exactly.
        assert clean.ids_of(before.rows) == set(fake.events_by_id)
        assert s["sent"] == len(before.rows) > 0
        assert s["sent"] < ROWS
        assert s["rows"] == ROWS

        done = run_cio(command(csv_path, fake.url), csv_path.parent)
        assert_resumed(done, fake, clean, before)
        assert resent(fake) == 0, "rows finished before the Ctrl-C were sent again"
        assert_finished_journal(journal_of(csv_path))


def test_second_ctrl_c_exits_at_once_and_the_journal_holds(
    csv_path: Path, clean: Plan, start: Callable[..., Running]
) -> None:
    with FakeCio(SITE, KEY, delay=DELAY) as fake:
        run = start(command(csv_path, fake.url))
        wait_for_requests(fake, clean.requests // 3, run)
        fake.delay = 1.5  # from now on, answers take 1.5 s: the requests in flight hang
        time.sleep(0.2)
        run.signal(signal.SIGINT)
        limit = time.monotonic() + 5
        while "stopping:" not in run.stderr():
            assert time.monotonic() < limit, run.stderr()
            time.sleep(0.01)
        second = time.monotonic()
        run.signal(signal.SIGINT)
        done = run.wait()
        took = time.monotonic() - second
        assert done.code == 130
        assert took < 0.75, f"the second Ctrl-C took {took:.2f} s to exit"
        assert done.stdout == ""  # exited at once: no summary

        before = read_journal(journal_of(csv_path))
        assert before.whole and not before.done
        fake.delay = 0.0
        time.sleep(max(0.0, 1.6 - (time.monotonic() - second)))  # the hung answers store
        settle(fake)
        assert_journal_true(before, fake, clean)

        rerun = run_cio(command(csv_path, fake.url), csv_path.parent)
        assert_resumed(rerun, fake, clean, before)
        assert_finished_journal(journal_of(csv_path))


def test_ctrl_c_waits_no_longer_than_the_timeout(
    csv_path: Path, clean: Plan, start: Callable[..., Running]
) -> None:
    """SPEC 5: the first Ctrl-C lets requests in flight finish, *bounded by the timeout*, and
    exits 130. A request that is still unanswered after --timeout must not be retried."""
    timeout = 1.0
    with FakeCio(SITE, KEY, delay=DELAY) as fake:
        run = start(command(csv_path, fake.url, "--timeout", str(timeout), "--max-retries", "3"))
        wait_for_requests(fake, 10, run)
        fake.delay = 6.0  # the server stops answering
        time.sleep(0.2)
        run.signal(signal.SIGINT)
        pressed = time.monotonic()
        try:
            done = run.wait(timeout=timeout + 2)
        except subprocess.TimeoutExpired:
            run.proc.kill()
            run.proc.wait()
            pytest.fail(f"still running {timeout + 2:g} s after Ctrl-C with --timeout"
                        f" {timeout:g} (requests in flight are retried after Ctrl-C)")  # fmt: skip
        took = time.monotonic() - pressed
        read = read_journal(journal_of(csv_path))
        assert read.whole and not read.done
        assert done.code == 130, (took, done.stdout, done.stderr)
        assert took < timeout + 2


# -- exit 5 -----------------------------------------------------------------------------------


def test_server_gone_exits_5_then_rerun_completes(
    csv_path: Path, clean: Plan, start: Callable[..., Running]
) -> None:
    with FakeCio(SITE, KEY, delay=DELAY) as fake:
        run = start(command(csv_path, fake.url, "--max-retries", "2", "--timeout", "2"))
        wait_for_requests(fake, clean.requests // 3, run)
        fake.down()
        done = run.wait()
        assert done.code == 5, done.stderr
        s = done.summary
        assert s["exit_code"] == 5
        assert "run the same command again: it resumes" in s["hint"]
        assert "run the same command again: it resumes" in done.stderr
        before = read_journal(journal_of(csv_path))
        assert before.whole and not before.done
        assert s["sent"] == len(before.rows) > 0
        settle(fake)
        assert_journal_true(before, fake, clean)

        fake.up()
        fake.delay = 0.0
        rerun = run_cio(command(csv_path, fake.url), csv_path.parent)
        assert_resumed(rerun, fake, clean, before)
        assert_finished_journal(journal_of(csv_path))


def test_credentials_refused_midway_keep_the_journal_and_say_rerun_resumes(
    csv_path: Path, clean: Plan, start: Callable[..., Running]
) -> None:
    """Issue item 4: exit 5 for credentials refused keeps the journal, and the message tells
    the user that running the command again resumes."""
    with FakeCio(SITE, KEY, delay=DELAY) as fake:
        run = start(command(csv_path, fake.url))
        wait_for_requests(fake, clean.requests // 3, run)
        fake.script([("status", 401, {}, b'{"meta":{"error":"Unauthorized request"}}')])
        done = run.wait()
        assert done.code == 5, done.stderr
        s = done.summary
        before = read_journal(journal_of(csv_path))
        assert before.whole and not before.done and before.rows
        settle(fake)
        assert_journal_true(before, fake, clean)

        fake.delay = 0.0
        rerun = run_cio(command(csv_path, fake.url), csv_path.parent)
        assert_resumed(rerun, fake, clean, before)
        said = f"{s['error']} {s['hint']}"
        assert "again" in said and "resume" in said, f"exit 5 message: {said!r}"


# -- the journal on disk: torn, another file, another destination --------------------------


@pytest.mark.parametrize(
    "tail",
    [b"A 602-1400 3f", jline("A", "602-1400").replace(b"602-1400", b"602-1450"), b"\x00" * 40],
    ids=["half-a-line", "wrong-crc", "zeros"],
)
def test_torn_last_record_is_ignored(csv_path: Path, clean: Plan, tail: bytes) -> None:
    with FakeCio(SITE, KEY) as fake:
        good = (jheader(csv_path, fake.url) + jline("A", "200-601") + jline("A", "2-99")
                + jline("A", "100-199"))  # fmt: skip
        journal_of(csv_path).write_bytes(good + tail)
        done = run_cio(command(csv_path, fake.url), csv_path.parent)
        assert done.code == 0, done.stderr
        s = done.summary
        assert s["resumed"] == 600 and s["sent"] == ROWS
        # Rows 2..601 were not sent; every other row was, the torn record's ones included.
        acked = clean.ids_of(set(range(2, 602)))
        assert set(fake.events_by_id) == clean.events.keys() - acked
        assert resent(fake) == 0
        after = journal_of(csv_path).read_bytes()
        assert after.startswith(good) and tail not in after
        assert_finished_journal(journal_of(csv_path))


def test_journal_of_a_changed_file_is_not_resumed(
    csv_path: Path, clean: Plan, tmp_path: Path
) -> None:
    with FakeCio(SITE, KEY) as fake:
        first = run_cio(command(csv_path, fake.url), tmp_path)
        assert first.code == 0 and first.summary["sent"] == ROWS
        assert read_journal(journal_of(csv_path)).done
        edited = clean.data.replace(b",user7,", b",user7b,", 1)
        assert edited != clean.data
        csv_path.write_bytes(edited)
        changed = plan_of(edited, tmp_path / "plan")
        fake.reset()

        done = run_cio(command(csv_path, fake.url, json_out=False), tmp_path)
        assert done.code == 0, done.stderr
        assert (
            "not resuming: the file changed since the journal was written; starting over"
            in done.stderr
        )
        assert "already imported" not in done.stderr
        assert "already acknowledged" not in done.stderr
        assert_complete(fake, changed)
        assert len(fake.events) == ROWS
        assert len(fake.requests) == changed.requests
        assert_finished_journal(journal_of(csv_path))
        assert journal.file_digest(csv_path) in read_journal(journal_of(csv_path)).records[0][1]


def test_journal_of_another_destination_is_not_resumed(
    csv_path: Path, clean: Plan, tmp_path: Path
) -> None:
    with FakeCio(SITE, KEY) as fake:
        first = run_cio(command(csv_path, fake.url), tmp_path)
        assert first.code == 0 and first.summary["sent"] == ROWS
        port, url = fake.port, fake.url
    other_site = "site-other-42"
    # Same base URL (same port), another site id.
    with FakeCio(other_site, KEY, port=port) as other:
        assert other.url == url
        done = run_cio(command(csv_path, url, json_out=False), tmp_path,
                       env=env_for(site=other_site))  # fmt: skip
        assert done.code == 0, done.stderr
        assert "not resuming: the journal is for another destination" in done.stderr
        assert "already imported" not in done.stderr
        assert_complete(other, clean)
        assert len(other.events) == ROWS
        raw = journal_of(csv_path).read_bytes()
        assert other_site.encode() not in raw and KEY.encode() not in raw
        assert TRACK.destination(Config(other_site, KEY, url)).encode() in raw
        assert read_journal(journal_of(csv_path)).done


# -- finished journals, --restart, dry runs, stdin ------------------------------------------


def test_finished_journal_says_already_imported_until_restart(
    csv_path: Path, clean: Plan, tmp_path: Path
) -> None:
    with FakeCio(SITE, KEY) as fake:
        first = run_cio(command(csv_path, fake.url), tmp_path)
        assert first.code == 0 and first.summary["sent"] == ROWS
        assert first.summary["resumed"] == 0
        assert_complete(fake, clean)
        assert_finished_journal(journal_of(csv_path))
        requests = len(fake.requests)

        again = run_cio(command(csv_path, fake.url, json_out=False), tmp_path)
        assert again.code == 0, again.stderr
        assert f"already imported ({ROWS:,} rows acknowledged); nothing sent" in again.stderr
        assert "--restart" in again.stderr
        again_json = run_cio(command(csv_path, fake.url), tmp_path)
        assert again_json.code == 0
        s = again_json.summary
        assert s["sent"] == s["resumed"] == s["rows"] == ROWS
        assert s["requests"] == 0 and s["exit_code"] == 0
        assert len(fake.requests) == requests, "an already imported file sent requests"

        restart = run_cio(command(csv_path, fake.url, "--restart", json_out=False), tmp_path)
        assert restart.code == 0, restart.stderr
        assert "--restart: the journal is ignored" in restart.stderr
        assert "already imported" not in restart.stderr and "resuming" not in restart.stderr
        assert len(fake.events) == 2 * ROWS
        assert fake.duplicate_ids == dict.fromkeys(clean.events, 1)
        assert_finished_journal(journal_of(csv_path))


def test_restart_ignores_a_partial_journal(csv_path: Path, clean: Plan, tmp_path: Path) -> None:
    with FakeCio(SITE, KEY) as fake:
        journal_of(csv_path).write_bytes(jheader(csv_path, fake.url) + jline("A", "2-1200"))
        done = run_cio(command(csv_path, fake.url, "--restart"), tmp_path)
        assert done.code == 0, done.stderr
        s = done.summary
        assert s["resumed"] == 0 and s["sent"] == ROWS and s["requests"] == clean.requests
        assert_complete(fake, clean)
        assert len(fake.events) == ROWS
        assert_finished_journal(journal_of(csv_path))


def test_dry_run_and_validate_never_read_or_write_a_journal(
    csv_path: Path, clean: Plan, tmp_path: Path
) -> None:
    env: dict[str, str | None] = {"CIO_SITE_ID": SITE, "CIO_API_KEY": KEY,
                                  "CIO_BASE_URL": "http://127.0.0.1:9"}  # fmt: skip
    out = tmp_path / "out.ndjson"

    def both() -> None:
        dry = cio("import", csv_path, "--dry-run", "--json", "--out", out, "--batch-bytes",
                  BATCH, env=env)  # fmt: skip
        assert dry.exit_code == 0, dry.stderr
        doc = json.loads(dry.stdout)
        assert doc["sent"] == ROWS and doc["resumed"] == 0
        assert doc["requests"] == clean.requests
        checked = cio("validate", csv_path, "--json", env=env)
        assert checked.exit_code == 0, checked.stderr
        assert json.loads(checked.stdout)["resumed"] == 0

    both()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.csv", "out.ndjson"]
    for kept in (
        jheader(csv_path, "http://127.0.0.1:9") + jline("A", "2-1000"),
        jheader(csv_path, "http://127.0.0.1:9") + jline("A", f"2-{ROWS + 1}") + jline("D", "x"),
        b"H not a journal at all",
    ):
        journal_of(csv_path).write_bytes(kept)
        stamp = journal_of(csv_path).stat().st_mtime_ns
        both()
        assert journal_of(csv_path).read_bytes() == kept
        assert journal_of(csv_path).stat().st_mtime_ns == stamp
        assert not journal_of(csv_path).with_name("events.csv.cio-journal.tmp").exists()


def test_stdin_has_no_journal(tmp_path: Path) -> None:
    data = clean_csv(300)
    with FakeCio(SITE, KEY) as fake:
        for _ in range(2):
            done = run_cio(command("-", fake.url), tmp_path, stdin=data)
            assert done.code == 0, done.stderr
            assert done.summary["resumed"] == 0 and done.summary["sent"] == 300
        assert not [p for p in tmp_path.rglob("*") if "journal" in p.name]
        assert len(fake.events) == 600 and len(fake.events_by_id) == 300  # sent twice


# -- refused and rejected rows are judged again -----------------------------------------------


def messy_csv() -> tuple[bytes, set[int], set[int], int]:
    """1,200 rows with invalid rows (no customer id), exact repeats and rows the fake refuses.

    Returns the data, the invalid rows, the refused rows and the number of repeats.
    """
    t = old(10)
    lines, invalid, refused, repeats = [HEADER], set(), set(), 0
    for i in range(1200):
        number = i + 2
        if i % 97 == 5:
            invalid.add(number)
            lines.append(f"purchase,,{t - i},free,{i},bad {i}\n")
        elif i % 89 == 7:
            refused.add(number)
            lines.append(f"api_reject,user{i},{t - i},free,{i},refused {i}\n")
        elif i % 101 == 50:
            repeats += 1
            lines.append(lines[-1])
        else:
            lines.append(f"purchase,user{i},{t - i},pro,{i},ok {i}\n")
    return "".join(lines).encode(), invalid, refused, repeats


def test_an_acknowledged_batch_is_journalled_before_the_main_thread_handles_it(
    tmp_path: Path,
) -> None:
    """The worker that gets the acknowledgement journals the batch's rows at once, so that
    an answer waiting for a busy main thread is not lost to a ``kill -9``: a crash resends
    at most the requests in flight (``Plan.bound``), not also the answers not yet handled."""
    path = tmp_path / "events.csv.cio-journal"
    log, _ = journal.Journal.open(path, "f" * 64, "https://track.customer.io", restart=False)
    http = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    transport = Transport(Config(SITE, KEY, "https://track.customer.io"), rate=1e6, http=http)
    sink = HttpSink(transport, CONCURRENCY)
    sink.journal = log
    events = pl.DataFrame({"_row": [5, 6, 7], "_op": ['{"type":"person"}'] * 3})
    try:
        sink._start(Request("/api/v2/batch", None, events, (b'{"batch":[', b"]}")))
        limit = time.monotonic() + WAIT
        while sink._done.empty():  # answered; the main thread handles nothing meanwhile
            assert time.monotonic() < limit, "no answer"
            time.sleep(0.005)
        assert read_journal(path).rows == {5, 6, 7}
    finally:
        sink.close()
        log.close()


def test_refused_rows_are_sent_again_and_the_rejects_file_is_complete(
    tmp_path: Path, start: Callable[..., Running]
) -> None:
    data, invalid, refused, repeats = messy_csv()
    plan = plan_of(data, tmp_path / "plan")
    path = tmp_path / "events.csv"
    path.write_bytes(data)
    with FakeCio(SITE, KEY, delay=DELAY) as fake:
        run = start(command(path, fake.url))
        wait_for_requests(fake, plan.requests // 2, run)
        run.signal(signal.SIGKILL)
        run.wait()
        settle(fake)
        before = read_journal(journal_of(path))
        assert before.rows and not before.rows & (invalid | refused), "refused rows journalled"
        fake.delay = 0.0
        rejects = path.with_name("events.csv.rejects.csv")
        rejects.unlink(missing_ok=True)

        done = run_cio(command(path, fake.url), tmp_path)
        assert done.code == 1, done.stderr
        s = done.summary
        assert_accounting(s)
        assert s["rows"] == 1200 and s["duplicates"] == repeats
        assert s["rejected"] == len(invalid) + len(refused)
        assert s["resumed"] == len(before.rows)
        assert s["sent"] == 1200 - repeats - len(invalid) - len(refused)
        _, rows = read_rejects(rejects)
        assert sorted(int(r["_cio_row"]) for r in rows) == sorted(invalid | refused)
        settle(fake)
        assert_complete(fake, plan)
        assert resent(fake) <= plan.bound


def test_already_imported_summary_keeps_the_accounting(tmp_path: Path) -> None:
    """SPEC 6: rows == sent + duplicates + rejected + skipped_recent for a finished import,
    also for the rerun of a finished file, which sends nothing ("already imported")."""
    t = old(10)
    path = tmp_path / "events.csv"
    rows = [f"purchase,u1,{t},a,1,x", f"purchase,u1,{t},a,1,x", f"purchase,,{t},b,2,y",
            f"purchase,u4,{t},d,4,w"]  # fmt: skip
    path.write_text(HEADER + "\n".join(rows) + "\n")
    with FakeCio(SITE, KEY) as fake:
        first = run_cio(command(path, fake.url), tmp_path)
        assert first.code == 1, first.stderr  # one row rejected
        assert_accounting(first.summary)
        again = run_cio(command(path, fake.url), tmp_path)
        assert again.code == 1, "the first run rejected a row: the rerun stays red"
        s = again.summary
        assert s["requests"] == 0 and s["rows"] == 4 and s["sent"] == s["resumed"] == 2
        assert_accounting(s)
        assert len(fake.events) == 2


def test_refused_rows_are_not_journalled_and_a_rerun_sends_nothing_acknowledged(
    tmp_path: Path,
) -> None:
    t = old(10)
    path = tmp_path / "events.csv"
    rows = [f"purchase,u1,{t},a,1,x", f"api_reject,u2,{t},b,2,y", f"purchase,u3,{t},c,3,z"]
    path.write_text(HEADER + "\n".join(rows) + "\n")
    with FakeCio(SITE, KEY) as fake:
        first = run_cio(command(path, fake.url), tmp_path)
        assert first.code == 1, first.stderr
        assert first.summary["rejected"] == 1 and first.summary["sent"] == 2
        assert read_journal(journal_of(path)).rows == {2, 4}
        again = run_cio(command(path, fake.url), tmp_path)
        s = again.summary
        assert_accounting(s)
        assert s["resumed"] == 2 and s["sent"] == 2
        assert len(fake.events) == 2 and not fake.duplicate_ids


# -- issue 9: journals of other destinations kept, one import at a time, a file that changes,
# -- a finished journal first, SIGTERM ---------------------------------------------------------


def test_a_run_with_a_wrong_site_id_keeps_the_journal_and_the_right_rerun_resumes(
    csv_path: Path, clean: Plan, start: Callable[..., Running], tmp_path: Path
) -> None:
    """Item 6: stop half-way, run once with a wrong CIO_SITE_ID (401, exit 5), then run right:
    it resumes, sending no acknowledged event again."""
    with FakeCio(SITE, KEY, delay=DELAY) as fake:
        run = start(command(csv_path, fake.url))
        wait_for_requests(fake, clean.requests // 2, run)
        run.signal(signal.SIGINT)
        assert run.wait().code == 130
        settle(fake)
        before = read_journal(journal_of(csv_path))
        assert before.rows and not before.done
        fake.delay = 0.0

        wrong = run_cio(command(csv_path, fake.url), tmp_path, env=env_for(site="site-wrong"))
        assert wrong.code == 5, wrong.stderr
        assert wrong.summary["sent"] == 0
        assert "not resuming: the journal is for another destination" in wrong.stderr
        assert "that journal is kept as events.csv.cio-journal." in wrong.stderr

        done = run_cio(command(csv_path, fake.url, json_out=False), tmp_path)
        assert done.code == 0, done.stderr
        assert "the journal kept for this file and destination" in done.stderr
        assert f"resuming: {len(before.rows):,} rows were already acknowledged" in done.stderr
        settle(fake)
        assert_complete(fake, clean)
        assert resent(fake) == 0, "acknowledged events were sent again"
        assert_finished_journal(journal_of(csv_path))


def test_restart_with_wrong_credentials_keeps_the_finished_journal(
    csv_path: Path, clean: Plan, tmp_path: Path
) -> None:
    """Item 6: --restart ignores the journal, but does not destroy it before the new run has
    its own: a --restart refused at once (401) leaves the import finished."""
    with FakeCio(SITE, KEY) as fake:
        assert run_cio(command(csv_path, fake.url), tmp_path).code == 0
        finished = journal_of(csv_path).read_bytes()
        wrong = run_cio(command(csv_path, fake.url, "--restart"), tmp_path,
                        env=env_for(key="key-wrong"))  # fmt: skip
        assert wrong.code == 5, wrong.stderr
        assert "--restart: the journal is ignored" in wrong.stderr
        assert journal_of(csv_path).read_bytes() == finished
        again = run_cio(command(csv_path, fake.url, json_out=False), tmp_path)
        assert again.code == 0, again.stderr
        assert f"already imported ({ROWS:,} rows acknowledged); nothing sent" in again.stderr
        assert len(fake.events) == ROWS


def test_a_second_import_of_the_same_file_exits_5_at_once(
    csv_path: Path, clean: Plan, start: Callable[..., Running], tmp_path: Path
) -> None:
    """Item 7: while one import runs, a second one of the same file sends nothing, exit 5."""
    with FakeCio(SITE, KEY, delay=DELAY) as fake:
        first = start(command(csv_path, fake.url))
        wait_for_requests(fake, 5, first)
        fake.delay = 0.3  # the first import is still sending while the second one runs
        second = run_cio(command(csv_path, fake.url, json_out=False), tmp_path)
        assert first.proc.poll() is None, "the first import ended before the second one"
        assert second.code == 5, second.stderr
        assert f"another cio is importing this file (pid {first.proc.pid})" in second.stderr
        assert "Traceback" not in second.stderr
        fake.delay = 0.0
        assert first.wait().code == 0
        settle(fake)
        assert_complete(fake, clean)
        assert resent(fake) == 0, "the second import sent events"
        assert_finished_journal(journal_of(csv_path))
        assert not journal_of(csv_path).with_name("events.csv.cio-journal.lock").exists()
        # Once the first import is over, the file can be imported again: "already imported".
        again = run_cio(command(csv_path, fake.url), tmp_path)
        assert again.code == 0 and again.summary["requests"] == 0


def big_csv(rows: int, start: int = 0) -> bytes:
    """Rows of about 230 bytes: a few MB span several reading blocks."""
    t = old(10)
    return "".join(
        f"purchase,user{i},{t - i},pro,{i},{'x' * 200}\n" for i in range(start, start + rows)
    ).encode()


def test_rows_added_during_an_import_stop_it_with_exit_5_after_the_requests_in_flight(
    tmp_path: Path, start: Callable[..., Running]
) -> None:
    """Item 18: the file grows while it is sent: the requests in flight are finished and
    journalled, then cio stops (exit 5) saying how many were sent and that the file changed."""
    path = tmp_path / "events.csv"
    path.write_bytes(HEADER.encode() + big_csv(13_000))  # 3 MB: three 1 MB blocks
    env = env_for() | {"CIO_BLOCK_MB": "1", "CIO_WORKERS": "1"}  # no reading ahead
    with FakeCio(SITE, KEY, delay=0.3) as fake:
        run = start(command(path, fake.url, "--batch-bytes", "200000", "--concurrency", "1"),
                    env=env)  # fmt: skip
        wait_for_requests(fake, 1, run)
        with open(path, "ab") as f:
            f.write(big_csv(2_000, start=13_000))
        fake.delay = 0.0
        done = run.wait()
        assert done.code == 5, done.stderr
        s = done.summary
        assert s["exit_code"] == 5
        assert "changed while cio was sending it" in s["error"]
        assert f"{s['sent']:,} event(s) were sent and journalled" in s["error"]
        assert "changed while cio was sending it" in done.stderr
        assert "run the same command again once the file is complete" in s["hint"]
        settle(fake)
        journalled = read_journal(journal_of(path))
        assert journalled.whole and not journalled.done
        # Every request in flight was finished and journalled: journal == server == sent.
        assert 0 < s["sent"] == len(journalled.rows) == len(fake.events_by_id) < 13_000
        assert not fake.duplicate_ids

        rerun = run_cio(command(path, fake.url, "--batch-bytes", "200000"), tmp_path, env=env)
        assert rerun.code == 0, rerun.stderr
        assert rerun.summary["sent"] == rerun.summary["rows"] == 15_000
        settle(fake)
        assert len(fake.events_by_id) == 15_000


def window_csv() -> bytes:
    """Old rows, and two rows in the 72-hour window (one an hour old, one without time)."""
    t, now = old(10), int(time.time())
    lines = [HEADER] + [f"purchase,user{i},{t - i},pro,{i},old {i}\n" for i in range(40)]
    lines += [f"purchase,recent1,{now - 3600},pro,1,recent\n", "purchase,recent2,,pro,2,none\n"]
    return "".join(lines).encode()


def test_a_finished_import_answers_already_imported_before_the_window(tmp_path: Path) -> None:
    """Item 19: once every row was sent (recent ones with --allow-recent), a rerun says
    "already imported": no exit 4 without the flag, and --skip-recent writes no delivered
    row to the rejects file."""
    path = tmp_path / "events.csv"
    path.write_bytes(window_csv())
    rejects = tmp_path / "events.csv.rejects.csv"
    with FakeCio(SITE, KEY) as fake:
        first = run_cio(command(path, fake.url, "--allow-recent"), tmp_path)
        assert first.code == 0, first.stderr
        assert first.summary["sent"] == 42 and not rejects.exists()

        plain = run_cio(command(path, fake.url, json_out=False), tmp_path)
        assert plain.code == 0, plain.stderr
        assert "already imported (42 rows acknowledged); nothing sent" in plain.stderr
        assert "72 hours" not in plain.stderr

        skip = run_cio(command(path, fake.url, "--skip-recent"), tmp_path)
        assert skip.code == 0, skip.stderr
        s = skip.summary
        assert s["sent"] == s["resumed"] == s["rows"] == 42
        assert s["skipped_recent"] == 0 and s["requests"] == 0
        assert not rejects.exists(), "delivered rows were written to the rejects file"
        assert len(fake.events) == 42


def test_sigterm_finishes_in_flight_prints_the_summary_and_resumes(
    csv_path: Path, clean: Plan, start: Callable[..., Running]
) -> None:
    """Item 20: SIGTERM (a CI runner cancelling, docker stop) is a first Ctrl-C: the requests
    in flight are finished and journalled, the summary is printed, exit 143."""
    with FakeCio(SITE, KEY, delay=DELAY) as fake:
        run = start(command(csv_path, fake.url))
        wait_for_requests(fake, clean.requests // 3, run)
        run.signal(signal.SIGTERM)
        first = run.wait()
        assert first.code == 143, first.stderr
        assert "stopping: finishing the requests in flight" in first.stderr
        s = first.summary
        assert s["exit_code"] == 143 and not s["dry_run"]
        assert s["error"] == "terminated (SIGTERM): the requests in flight were finished"
        assert "run the same command again" in s["hint"]
        settle(fake)
        before = read_journal(journal_of(csv_path))
        assert before.whole and not before.done
        assert clean.ids_of(before.rows) == set(fake.events_by_id)
        assert 0 < s["sent"] == len(before.rows) < ROWS

        done = run_cio(command(csv_path, fake.url), csv_path.parent)
        assert_resumed(done, fake, clean, before)
        assert resent(fake) == 0


def test_sigterm_waits_no_longer_than_the_timeout_and_prints_the_summary(
    csv_path: Path, clean: Plan, start: Callable[..., Running]
) -> None:
    """Item 20: the wait for the requests in flight after SIGTERM is bounded by --timeout."""
    timeout = 1.0
    with FakeCio(SITE, KEY, delay=DELAY) as fake:
        run = start(command(csv_path, fake.url, "--timeout", str(timeout), "--max-retries", "3"))
        wait_for_requests(fake, 10, run)
        fake.delay = 6.0  # the server stops answering
        time.sleep(0.2)
        run.signal(signal.SIGTERM)
        pressed = time.monotonic()
        done = run.wait(timeout=timeout + 4)
        assert time.monotonic() - pressed < timeout + 2
        assert done.code == 143, done.stderr
        assert done.summary["exit_code"] == 143
        read = read_journal(journal_of(csv_path))
        assert read.whole and not read.done


def test_the_same_file_twice_in_one_import_is_a_usage_error(csv_path: Path, tmp_path: Path) -> None:
    """Its two journals would be one: the second copy would be sent again in full."""
    with FakeCio(SITE, KEY) as fake:
        twice = run_cio(command(csv_path, fake.url, json_out=False)
                        + [str(tmp_path / "." / csv_path.name)], tmp_path)  # fmt: skip
        assert twice.code == 2, twice.stderr
        assert "is given twice" in twice.stderr
        assert fake.requests == [] and not journal_of(csv_path).exists()
