"""The report's invariant over many runs (SPEC 6 "Every figure is bounded and true", issue 21):
complete, interrupted by SIGTERM at random points, sharded, resumed, and dry runs.

After every run: ``sum(by_name) == sent`` and ``by_name`` is the events the server holds (or
``--out`` holds, in a dry run); ``first_timestamp``/``last_timestamp`` are those events'
range; ``anonymous`` and ``uuid_ids`` count those events; the rejects file holds
``rejected + skipped_recent`` rows, with ``by_reason`` adding up to ``errors``; a shard's
rows, rejects and events are its people's (a row without a person is shard 1's).
"""

from __future__ import annotations

import hashlib
import json
import random
import signal
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.cli_support import old, read_out, read_rejects, recent, write_csv
from tests.fakecio import FakeCio
from tests.test_cli_resume import KEY, SITE, Running, command, env_for, run_cio, settle

HEADER = ["_cio_name", "_cio_customer_id", "_cio_anonymous_id", "_cio_timestamp", "_cio_id", "n"]
NAMES = ["buy", "view", "sign_up", "api_reject"]  # the fake refuses api_reject (a 207)


def make_rows(rng: random.Random, n: int) -> list[list[str]]:
    """Good rows of people and a few anonymous ones, UUID ids on some, a few bad and
    recent rows."""
    t = old(20)
    rows = []
    for i in range(n):
        name = rng.choice(NAMES) if rng.random() > 0.05 else ""  # no name: rejected
        person = f"u{rng.randrange(40)}" if rng.random() > 0.03 else ""
        anon = "" if person or rng.random() < 0.3 else f"a{i}"
        ts = str(t + rng.randrange(100_000)) if rng.random() > 0.03 else str(recent())
        given = str(uuid.UUID(int=rng.getrandbits(128))) if rng.random() < 0.2 else ""
        rows.append([name, person, anon, ts, given, str(i)])
    return rows


def shard_of(row: list[str], n: int) -> int:
    """SPEC 9: the person's SHA-256, first 8 bytes, modulo N, plus 1; no person: shard 1."""
    person = row[1] or row[2]
    if not person:
        return 1
    return int.from_bytes(hashlib.sha256(person.encode()).digest()[:8], "big") % n + 1


def iso(ts: int | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check(s: dict[str, Any], events: list[dict[str, Any]], rows: list[list[str]],
          rejects: Path, shard: tuple[int, int] | None = None) -> None:  # fmt: skip
    """The invariant for one run's summary ``s``; ``events``: what was sent (normalized as the
    fake stores them, ``n`` in the attributes); ``rows``: the file's data rows."""
    assert sum(s["by_name"].values()) == s["sent"] == len(events), s
    assert s["by_name"] == dict(Counter(e["name"] for e in events)), s["by_name"]
    stamps = [int(e["timestamp"]) for e in events]
    assert (s["first_timestamp"], s["last_timestamp"]) == (
        iso(min(stamps, default=None)), iso(max(stamps, default=None))
    )
    by_n = {int(e["attributes"]["n"]): e for e in events}
    assert s.get("uuid_ids", 0) == sum(1 for k in by_n if rows[k][4]), "uuid_ids"
    assert s["anonymous"] == sum(1 for k in by_n if not rows[k][1]), "anonymous"
    written = read_rejects(rejects)[1] if rejects.exists() else []
    assert len(written) == s["rejected"] + s["skipped_recent"], (len(written), s)
    assert sum(s["by_reason"].values()) == sum(s["errors"].values()), s
    if shard is not None:
        i, n = shard
        assert all(shard_of(rows[int(r["_cio_row"]) - 2], n) == i for r in written)
        assert all(shard_of(rows[k], n) == i for k in by_n)
        assert s["rows"] <= sum(1 for r in rows if shard_of(r, n) == i)


def sent_events(fake: FakeCio) -> list[dict[str, Any]]:
    return list(fake.events_by_id.values())


def out_events(path: Path) -> list[dict[str, Any]]:
    """The events of a dry run's ``--out`` file, shaped as the fake stores them."""
    found = []
    for line in read_out(path):
        for op in line["batch"] if "batch" in line else [line["body"]]:
            found.append({"name": op["name"], "timestamp": op["timestamp"],
                          "attributes": op.get("attributes") or op.get("data") or {}})  # fmt: skip
    return found


def real(csv: Path, fake: FakeCio, *flags: str, stop_at: int | None = None) -> dict[str, Any]:
    """One real import; with ``stop_at``, SIGTERM once the server saw that many requests
    (if it is still running then)."""
    cmd = command(csv, fake.url, "--skip-recent", *flags)
    if stop_at is None:
        done = run_cio(cmd, csv.parent)
        assert done.code in (0, 1), done.stderr
        return dict(json.loads(done.stdout))
    run = Running(cmd, csv.parent, env_for())
    while len(fake.requests) < stop_at and run.proc.poll() is None:
        time.sleep(0.002)
    if run.proc.poll() is None:
        run.proc.send_signal(signal.SIGTERM)
    done = run.wait()
    assert done.code in (0, 1, 143), done.stderr
    settle(fake, 0.05)
    return dict(json.loads(done.stdout))


def test_every_figure_describes_what_was_sent_over_many_runs(tmp_path: Path) -> None:
    rng = random.Random(21)
    rows = make_rows(rng, 500)
    csv = write_csv(tmp_path / "e.csv", HEADER, rows)
    rejects = tmp_path / "e.csv.rejects.csv"
    with FakeCio(SITE, KEY) as whole:  # complete: how many requests a run makes
        check(real(csv, whole, "--restart"), sent_events(whole), rows, rejects)
        total = len(whole.requests)
    for stop_at in rng.sample(range(2, total - 2), 3):  # interrupted, then resumed
        with FakeCio(SITE, KEY, delay=0.02) as fake:
            s = real(csv, fake, "--restart", stop_at=stop_at)
            check(s, sent_events(fake), rows, rejects)
            s = real(csv, fake)
            check(s, sent_events(fake), rows, rejects)
            # duration_s is rounded to the millisecond: allow that half-millisecond
            shortest = max(s["duration_s"] - 0.0005, 1e-6)
            assert s["events_per_s"] <= (s["sent"] - s["resumed"]) / shortest + 0.1
    for i in (1, 2):  # sharded: interrupted, then resumed
        part = tmp_path / f"e.csv.shard-{i}-of-2.rejects.csv"
        with FakeCio(SITE, KEY, delay=0.02) as fake:
            s = real(csv, fake, "--shard", f"{i}/2", stop_at=rng.randrange(2, total // 2))
            check(s, sent_events(fake), rows, part, (i, 2))
            s = real(csv, fake, "--shard", f"{i}/2")
            check(s, sent_events(fake), rows, part, (i, 2))
    for i in (1, 2, 3):  # sharded dry runs
        out = tmp_path / f"{i}.ndjson"
        cmd = [sys.executable, "-m", "cio_cli", "import", str(csv), "--dry-run", "--json",
               "--skip-recent", "--out", str(out), "--shard", f"{i}/3"]  # fmt: skip
        done = run_cio(cmd, tmp_path)
        s = json.loads(done.stdout)
        check(s, out_events(out), rows, tmp_path / f"e.csv.shard-{i}-of-3.rejects.csv", (i, 3))
