"""CI backfill jobs (SPEC section 9): ``--shard I/N``, ``--journal PATH`` and cheap reruns.

Shards: N dry runs of one file, ``--shard 1/N`` ... ``N/N``, hold between them exactly the
events of the unsharded dry run, each once, each person's in one shard; every shard judges
the whole file, and counts its own rows: its rejects file holds its own rejected rows (a row
without a person is shard 1's), so the shards' rejects files hold each rejected row once. A
kill -9 of one shard's real import and its rerun leave every event stored once.

``--journal PATH`` puts the journal there; with it stdin resumes. A rerun of a finished
import answers "already imported" from the counts its journal stored, without reading the
file (the file's chunks are never asked for).
"""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

import cio_cli.read.files as files
from cio_cli.check.contract import layout
from cio_cli.importer.emit import Emit, _ids_elsewhere
from cio_cli.record import journal
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
from tests.fakecio import FakeCio
from tests.test_cli_resume import (
    KEY,
    ROWS,
    SITE,
    Done,
    Running,
    clean_csv,
    command,
    env_for,
    jline,
    plan_of,
    read_journal,
    run_cio,
    settle,
    wait_for_requests,
)

HEADER = ["_cio_name", "_cio_customer_id", "_cio_anonymous_id", "_cio_timestamp", "n"]
SHARD_FORM = "--shard takes I/N, whole numbers with 1 <= I <= N <= 1024 (for example --shard 2/3)"


def shard_of(person: str, n: int) -> int:
    """SPEC 9: SHA-256 of the value, first 8 bytes big-endian, modulo N (shards from 1)."""
    return int.from_bytes(hashlib.sha256(person.encode()).digest()[:8], "big") % n + 1


def events_of(path: Path) -> list[tuple[str, str]]:
    """Every event of an ``--out`` file as (person, its JSON): batch ops and v1 bodies."""
    found = []
    for line in read_out(path):
        if "batch" in line:
            found += [(op["identifiers"]["id"], json.dumps(op, sort_keys=True))
                      for op in line["batch"]]  # fmt: skip
        else:  # an anonymous event goes alone (Track v1)
            found.append((line["body"]["anonymous_id"], json.dumps(line, sort_keys=True)))
    return found


def dry(path: Path, out: Path, *flags: str) -> dict[str, Any]:
    result = cio("import", path, "--dry-run", "--json", "--out", out, *flags)
    assert result.exit_code in (0, 1), result.stderr
    s = summary(result)
    assert_accounting(s)
    return s


# -- shards ---------------------------------------------------------------------------------

ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
ROW = st.tuples(
    st.sampled_from(["buy", "view", ""]),  # an empty name is a rejected row
    st.sampled_from(["", "u1", "u2", "Ünïcode", "u 4", "u5", "u6", "u7"]),
    st.sampled_from(["", "", "", "anon-1", "anon-2"]),
    st.integers(0, 3),
    st.sampled_from(["", "", "", ID, "01ARZ3NDEKTSV4RRFFQ69G5FAW"]),
)


def rejects_of(path: Path) -> set[tuple[str, str]]:
    """(row, reason) of every row in a rejects file (none when there is no file)."""
    if not path.exists():
        return set()
    return {(r["_cio_row"], r["_cio_error"]) for r in read_rejects(path)[1]}


@settings(
    max_examples=3,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=st.lists(ROW, min_size=1, max_size=40))
@example(rows=[("buy", "u1", "", 0, ID), ("buy", "u2", "", 1, ID), ("view", "u5", "", 2, ID),
               ("buy", "u1", "", 0, ID), ("", "u6", "", 1, ""), ("buy", "", "anon-1", 2, "")])  # fmt: skip
def test_shards_hold_exactly_the_events_of_the_whole_file(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, str, str, int, str]]
) -> None:
    """Also rows that reuse a ``_cio_id`` across people (so across shards): every shard
    rejects the later ones, as the whole file's run does."""
    where = tmp_path_factory.mktemp("shards")
    t = old(10)
    cells = [[name, cid, anon, str(t - k * 60), str(k), i] for name, cid, anon, k, i in rows]
    path = write_csv(where / "events.csv", [*HEADER, "_cio_id"], cells)
    whole = dry(path, where / "all.ndjson")
    want = Counter(e for _, e in events_of(where / "all.ndjson"))
    want_rejects = rejects_of(path.with_name("events.csv.rejects.csv"))
    for n in (1, 2, 3, 7):
        got: Counter[str] = Counter()
        totals: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        rejected: list[tuple[str, str]] = []
        for i in range(1, n + 1):
            out = where / f"{i}-of-{n}.ndjson"
            s = dry(path, out, "--shard", f"{i}/{n}")
            assert s["shard"] == f"{i}/{n}"
            totals.update({k: s[k] for k in ("rows", "sent", "rejected", "duplicates")})
            reasons.update(s["by_reason"])
            for person, event in events_of(out):
                assert shard_of(person, n) == i, (person, i, n)
                got[event] += 1
            mine = rejects_of(path.with_name(f"events.csv.shard-{i}-of-{n}.rejects.csv"))
            assert len(mine) == s["rejected"], "a shard's rejects file holds its rejected rows"
            rejected += mine
        assert got == want, f"N={n}: the shards' events differ from the whole file's"
        assert sorted(rejected) == sorted(want_rejects), "each rejected row in one shard"
        assert reasons == whole["by_reason"]
        assert totals == {k: whole[k] for k in ("rows", "sent", "rejected", "duplicates")}


def test_a_shard_counts_and_writes_its_own_rows(tmp_path: Path) -> None:
    t = old(10)
    people = [f"user{k}" for k in range(12)]
    rows = [["buy", p, "", str(t - k), str(k)] for k, p in enumerate(people)]
    rows += [["", "user0", "", str(t), "x"], ["buy", "", "", str(t), "y"]]  # rejected
    path = write_csv(tmp_path / "e.csv", HEADER, rows)
    mine = {p for p in people if shard_of(p, 2) == 1}
    s = dry(path, tmp_path / "o.ndjson", "--shard", "1/2")
    # user0's row (if shard 1's) and the row with no person (shard 1) are this shard's rejects
    rejected_here = 1 + (1 if "user0" in mine else 0)
    assert (s["rows"], s["sent"], s["rejected"]) == (
        len(mine) + rejected_here,
        len(mine),
        rejected_here,
    )
    assert s["rejects_file"] == str(tmp_path / "e.csv.shard-1-of-2.rejects.csv")
    _, rejected = read_rejects(tmp_path / "e.csv.shard-1-of-2.rejects.csv")
    assert [r["_cio_row"] for r in rejected] == (["14", "15"] if "user0" in mine else ["15"])
    assert sum(s["errors"].values()) == sum(s["by_reason"].values()) == rejected_here
    human = cio("import", path, "--dry-run", "--shard", "1/2")
    assert "shard" in human.stderr and "1/2" in human.stderr
    assert (
        "shard 1/2: the counts and the rejects file are this shard's rows (a row without a"
        " person is shard 1's); each shard checks the whole file" in human.stderr
    )
    plain = dry(path, tmp_path / "p.ndjson")
    assert "shard" not in plain


@pytest.mark.parametrize("value", ["0/3", "4/3", "3", "1/1025", "a/b", "1/0", "-1/3", "1/3/5", ""])
def test_a_malformed_shard_is_a_usage_error(tmp_path: Path, value: str) -> None:
    path = write_csv(tmp_path / "e.csv", HEADER, [["buy", "u1", "", str(old()), "1"]])
    result = cio("import", path, "--dry-run", "--shard", value)
    assert result.exit_code == 2
    assert f"error: {SHARD_FORM}; got {value!r}" in result.stderr
    assert not (tmp_path / "e.csv.shard-1-of-3.rejects.csv").exists()


def test_shard_with_stdin_is_a_usage_error(tmp_path: Path) -> None:
    result = cio("import", "-", "--dry-run", "--shard", "1/2", input="_cio_name\n")
    assert result.exit_code == 2
    assert "error: --shard cannot read stdin: every shard reads the whole file" in result.stderr
    assert "hint: save the input to a file and give each shard job its path" in result.stderr


def sharded_summary(done: Done) -> dict[str, Any]:
    lines = done.stdout.splitlines()
    assert len(lines) == 1, (done.code, done.stdout, done.stderr)
    doc = json.loads(lines[0])
    assert isinstance(doc, dict)
    return doc


def test_kill_9_of_one_shard_then_rerun_stores_every_event_once(tmp_path: Path) -> None:
    plan = plan_of(clean_csv(), tmp_path / "plan")
    path = tmp_path / "events.csv"
    path.write_bytes(plan.data)
    with FakeCio(SITE, KEY, delay=0.03) as fake:
        run = Running(command(path, fake.url, "--shard", "1/2"), tmp_path, env_for())
        try:
            wait_for_requests(fake, 10, run)
            run.signal(signal.SIGKILL)
            assert run.wait().code == -signal.SIGKILL
        finally:
            if run.proc.poll() is None:
                run.proc.kill()
        fake.delay = 0.0
        settle(fake)
        killed = set(fake.events_by_id)
        journal_1 = tmp_path / "events.csv.shard-1-of-2.cio-journal"
        assert not read_journal(journal_1).done and read_journal(journal_1).rows
        other = run_cio(command(path, fake.url, "--shard", "2/2"), tmp_path)
        again = run_cio(command(path, fake.url, "--shard", "1/2"), tmp_path)
        for done in (other, again):
            assert done.code == 0, done.stderr
            assert_accounting(sharded_summary(done))
        s1, s2 = sharded_summary(again), sharded_summary(other)
        assert s1["shard"] == "1/2" and s2["shard"] == "2/2"
        assert s1["resumed"] > 0 and s2["resumed"] == 0
        assert s1["rows"] + s2["rows"] == ROWS and s1["sent"] + s2["sent"] == ROWS
        assert fake.events_by_id == plan.events, "every event of the file, stored"
        resent = {i for i, n in fake.duplicate_ids.items() if n}
        assert resent <= killed, "only events of the killed run's requests in flight come twice"
        assert len(resent) <= plan.bound
        assert read_journal(journal_1).done
        assert read_journal(tmp_path / "events.csv.shard-2-of-2.cio-journal").done
        assert not (tmp_path / "events.csv.cio-journal").exists()


# -- --journal PATH -------------------------------------------------------------------------


def test_journal_path_holds_the_journal_and_its_lock(tmp_path: Path) -> None:
    path = tmp_path / "in" / "events.csv"
    path.parent.mkdir()
    path.write_bytes(clean_csv(300))
    kept = tmp_path / "cache" / "events.journal"
    kept.parent.mkdir()
    with FakeCio(SITE, KEY) as fake:
        first = run_cio(command(path, fake.url, "--journal", str(kept)), tmp_path)
        assert first.code == 0, first.stderr
        assert read_journal(kept).done and len(read_journal(kept).rows) == 300
        assert sorted(p.name for p in path.parent.iterdir()) == ["events.csv"]
        assert not kept.with_name("events.journal.lock").exists()
        again = run_cio(command(path, fake.url, "--journal", str(kept), json_out=False), tmp_path)
        assert again.code == 0, again.stderr
        assert "already imported (300 rows acknowledged); nothing sent" in again.stderr
        assert len(fake.events) == 300


def test_journal_takes_one_input_file(tmp_path: Path) -> None:
    a = write_csv(tmp_path / "a.csv", HEADER, [["buy", "u1", "", str(old()), "1"]])
    b = write_csv(tmp_path / "b.csv", HEADER, [["buy", "u2", "", str(old()), "1"]])
    result = cio("import", a, b, "--journal", tmp_path / "j", "--site-id", SITE, "--api-key", KEY,
                 "--base-url", "http://127.0.0.1:9")  # fmt: skip
    assert result.exit_code == 2
    assert "error: --journal takes one input file" in result.stderr
    assert "hint: leave it out: each file keeps <file>.cio-journal beside it" in result.stderr


def test_stdin_with_journal_resumes_after_kill_9_then_says_already_imported(
    tmp_path: Path,
) -> None:
    plan = plan_of(clean_csv(), tmp_path / "plan")
    source = tmp_path / "events.csv"
    source.write_bytes(plan.data)
    kept = tmp_path / "job.cio-journal"
    cmd = command("-", "", "--journal", str(kept))
    with FakeCio(SITE, KEY, delay=0.03) as fake:
        cmd[cmd.index("--base-url") + 1] = fake.url
        with open(source, "rb") as stdin:
            # the spool copy of stdin outlives a kill -9: kept in tmp_path, not in /tmp
            proc = subprocess.Popen(cmd, cwd=tmp_path, env=env_for() | {"TMPDIR": str(tmp_path)},
                                    stdin=stdin,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        kill_after(proc, lambda: len(fake.requests), 10)
        fake.delay = 0.0
        settle(fake)
        before = read_journal(kept)
        assert before.rows and not before.done
        assert journal.file_digest(source).split(":")[1] in before.records[0][1]
        again = run_cio(cmd, tmp_path, stdin=plan.data)
        assert again.code == 0, again.stderr
        s = sharded_summary(again)
        assert s["resumed"] == len(before.rows) and s["sent"] == ROWS
        assert fake.events_by_id == plan.events
        third = run_cio(cmd[:-3] + cmd[-2:], tmp_path, stdin=plan.data)  # without --json
        assert third.code == 0, third.stderr
        assert f"-: already imported ({ROWS:,} rows acknowledged); nothing sent" in third.stderr
        changed = run_cio(cmd, tmp_path, stdin=plan.data + b"purchase,late,1600000000,x,1,y\n")
        assert changed.code == 0, changed.stderr
        assert "not resuming: the file changed since the journal was written" in changed.stderr
        assert sharded_summary(changed)["resumed"] == 0


# -- cheap reruns ---------------------------------------------------------------------------


@pytest.fixture
def unread(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the chunks ``cio`` asks of any file (pass 1 and pass 2 both read chunks)."""
    asked: list[int] = []
    chunks = files.CsvSource.chunks

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(1)
        return chunks(self, *args, **kwargs)

    monkeypatch.setattr(files.CsvSource, "chunks", counted)
    return asked


def test_a_rerun_of_a_finished_import_hashes_the_file_without_reading_it(
    tmp_path: Path, unread: list[int]
) -> None:
    t = old(10)
    rows = [["buy", f"u{k}", "", str(t - k), str(k)] for k in range(50)]
    rows += [rows[3], ["", "u1", "", str(t), "bad"]]  # a duplicate and a rejected row
    path = write_csv(tmp_path / "e.csv", HEADER, rows)
    with FakeCio(SITE, KEY) as fake:
        flags = ["--site-id", SITE, "--api-key", KEY, "--base-url", fake.url, "--quiet"]
        first = cio("import", path, "--json", *flags)
        assert first.exit_code == 1, first.stderr
        s1 = summary(first)
        assert unread, "the first run reads the file"
        unread.clear()
        again = cio("import", path, "--json", *flags)
        assert again.exit_code == 1, "the first run rejected a row: the rerun stays red"
        assert unread == [], "the rerun read the file"
        s2 = summary(again)
        assert "e.csv: already imported (50 rows acknowledged); nothing sent" in again.stderr
        same = ("rows", "sent", "rejected", "duplicates", "skipped_recent", "recent", "errors",
                "warnings", "rejects_file", "by_name", "by_reason", "first_timestamp",
                "last_timestamp", "columns")  # fmt: skip
        assert {k: s2[k] for k in same} == {k: s1[k] for k in same}
        assert s2["by_name"] == {"buy": 50}, "the events per name come from the journal"
        assert (s2["resumed"], s2["requests"], s2["retries"], s2["exit_code"]) == (50, 0, 0, 1)
        assert_accounting(s2)
        human = cio("import", path, *flags)
        assert human.exit_code == 1 and unread == []
        assert "already imported" in human.stderr and "of which resumed" in human.stderr
        assert re.search(r"events per name\W+buy 50", human.stderr), human.stderr
        assert len(fake.events) == 50


def test_a_journal_finished_by_an_older_cio_still_answers_by_reading_the_file(
    tmp_path: Path, unread: list[int]
) -> None:
    path = write_csv(tmp_path / "e.csv", HEADER,
                     [["buy", f"u{k}", "", str(old()), str(k)] for k in range(20)])  # fmt: skip
    kept = tmp_path / "e.csv.cio-journal"
    with FakeCio(SITE, KEY) as fake:
        flags = ["--site-id", SITE, "--api-key", KEY, "--base-url", fake.url, "--json", "--quiet"]
        assert cio("import", path, *flags).exit_code == 0
        records = read_journal(kept).records
        assert records[-1][0] == "D" and '"rows":20' in records[-1][1]
        stamp = records[-1][1].split(" ")[0]  # the D of an older cio: a timestamp alone
        kept.write_bytes(b"".join(jline(k, p) for k, p in records[:-1]) + jline("D", stamp))
        unread.clear()
        again = cio("import", path, *flags)
        assert again.exit_code == 0, again.stderr
        assert "already imported (20 rows acknowledged)" in again.stderr
        assert unread, "without stored counts the rerun reads the file, as before"
        s = summary(again)
        assert (s["rows"], s["sent"], s["resumed"], s["requests"]) == (20, 20, 20, 0)
        assert len(fake.events) == 20


def test_a_shards_finished_journal_is_not_another_shards(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", HEADER,
                     [["buy", f"u{k}", "", str(old()), str(k)] for k in range(30)])  # fmt: skip
    kept = tmp_path / "one.journal"
    with FakeCio(SITE, KEY) as fake:
        flags = ["--site-id", SITE, "--api-key", KEY, "--base-url", fake.url, "--quiet",
                 "--journal", str(kept)]  # fmt: skip
        first = cio("import", path, "--shard", "1/2", "--json", *flags)
        assert first.exit_code == 0, first.stderr
        second = cio("import", path, "--shard", "2/2", "--json", *flags)
        assert second.exit_code == 0, second.stderr
        assert "not resuming: the journal is for shard 1/2; starting over" in second.stderr
        assert "already imported" not in second.stderr
        assert summary(first)["sent"] + summary(second)["sent"] == 30
        assert len(fake.events_by_id) == 30 == len(fake.events)


def test_an_already_imported_rerun_loads_neither_polars_nor_the_http_client(
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path / "e.csv", HEADER,
                     [["buy", f"u{k}", "", str(old()), str(k)] for k in range(20)])  # fmt: skip
    with FakeCio(SITE, KEY) as fake:
        first = run_cio(command(path, fake.url), tmp_path)
        assert first.code == 0, first.stderr
        cmd = command(path, fake.url)
        again = run_cio([cmd[0], "-X", "importtime", *cmd[1:]], tmp_path)
        assert again.code == 0, again.stderr
        loaded = {line.split("|")[-1].strip() for line in again.stderr.splitlines() if "|" in line}
        assert "polars" not in loaded and "httpx" not in loaded
        assert "e.csv: already imported (20 rows acknowledged); nothing sent" in again.stderr
        assert json.loads(again.stdout)["resumed"] == 20


def test_a_finished_file_beside_a_new_one_is_answered_and_the_other_sent(
    tmp_path: Path, unread: list[int]
) -> None:
    a = write_csv(tmp_path / "a.csv", HEADER,
                  [["buy", f"a{k}", "", str(old()), str(k)] for k in range(10)])  # fmt: skip
    b = write_csv(tmp_path / "b.csv", HEADER,
                  [["buy", f"b{k}", "", str(old()), str(k)] for k in range(7)])  # fmt: skip
    with FakeCio(SITE, KEY) as fake:
        flags = ["--site-id", SITE, "--api-key", KEY, "--base-url", fake.url, "--json", "--quiet"]
        assert cio("import", a, *flags).exit_code == 0
        unread.clear()
        both = cio("import", a, b, *flags)
        assert both.exit_code == 0, both.stderr
        assert "a.csv: already imported (10 rows acknowledged)" in both.stderr
        assert len(unread) == 2, "b.csv is read twice (both passes), a.csv not at all"
        s = summary(both)
        assert (s["rows"], s["sent"], s["resumed"], s["requests"]) == (17, 17, 10, 1)
        assert len(fake.events) == 17


def test_other_shards_rows_without_a_cio_id_are_no_use_of_one() -> None:
    """The reused-id check of one shard keys the other shards' given ids only: a row
    without ``_cio_id`` is no use of one (a null hashes to a value of its own in polars,
    which every such row would have shared)."""
    lay = layout(["_cio_name", "_cio_customer_id", "_cio_id"])
    assert lay.event_id is not None
    ulid = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    rows = pl.DataFrame({lay.event_id: [None, ulid, None], "_row": [0, 1, 2]})
    found = _ids_elsewhere(rows, lay, Emit(now=0, batch_bytes=475_000, shard=(1, 2)))
    assert found is not None
    assert found.get_column("_row").to_list() == [1]
