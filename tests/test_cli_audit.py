"""Issue 26 item 4: ``--out FILE`` with a real import is an audit record of what was sent:
one JSON line per acknowledged request, ``{"status": <HTTP status>, "body": <the body as a
dry run writes it>}`` (after a 207, ``"refused"``: the positions of the ops refused), no
credential; after a resume, only that run's requests. Against the suite's test server.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_support import BASE, cio, old, summary, write_csv
from tests.fakecio import FakeCio

SITE, KEY = "site-audit-5173", "KEY-AUDIT-SECRET"


def export(tmp_path: Path, refused: int = 0) -> Path:
    rows = [["purchase", f"u{i}", str(old() - i), "pro"] for i in range(60)]
    rows += [["api_reject", f"r{i}", str(old()), "x"] for i in range(refused)]
    return write_csv(tmp_path / "events.csv", BASE, rows)


def env(fake: FakeCio) -> dict[str, str | None]:
    return {"CIO_SITE_ID": SITE, "CIO_API_KEY": KEY, "CIO_BASE_URL": fake.url,
            "CIO_REGION": None, "CIO_API": None, "GITHUB_ACTIONS": None}  # fmt: skip


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_acknowledged_request_is_written_with_its_status(tmp_path: Path) -> None:
    path, audit, dry = export(tmp_path), tmp_path / "sent.ndjson", tmp_path / "dry.ndjson"
    flags = ["--batch-bytes", "2000", "--concurrency", "1"]
    assert cio("import", path, "--dry-run", "--out", dry, *flags).exit_code == 0
    with FakeCio(SITE, KEY) as fake:
        result = cio("import", path, "--out", audit, "--json", *flags, env=env(fake))
        requests = fake.requests
        stored = fake.events
    assert result.exit_code == 0, result.stderr
    written = lines(audit)
    assert len(written) == len(requests) == summary(result)["requests"] > 3
    assert {line["status"] for line in written} == {200}
    assert [line["body"] for line in written] == lines(dry)  # bodies as the dry run writes them
    sent = [op["id"] for line in written for op in line["body"]["batch"]]  # type: ignore[index]
    assert sorted(sent) == sorted(e["id"] for e in stored)
    raw = audit.read_text()
    assert SITE not in raw and KEY not in raw


def test_a_207_is_written_whole_with_the_refused_positions(tmp_path: Path) -> None:
    path, audit = export(tmp_path, refused=1), tmp_path / "sent.ndjson"
    with FakeCio(SITE, KEY) as fake:
        result = cio("import", path, "--out", audit, env=env(fake))
    assert result.exit_code == 1
    (line,) = lines(audit)
    assert line["status"] == 207 and line["refused"] == [60]
    assert len(line["body"]["batch"]) == 61  # type: ignore[index]


def test_a_resumed_run_writes_only_its_own_requests(tmp_path: Path) -> None:
    path, audit = export(tmp_path), tmp_path / "sent.ndjson"
    flags = ["--batch-bytes", "2000", "--concurrency", "1", "--max-retries", "0"]
    with FakeCio(SITE, KEY) as fake:
        fake.script([("delay", 0), ("delay", 0), ("status", 503)])
        first = cio("import", path, "--out", audit, *flags, env=env(fake))
        assert first.exit_code == 5, first.stderr
        before = [op["id"] for line in lines(audit) for op in line["body"]["batch"]]  # type: ignore[index]
        assert len(lines(audit)) == 2
        again = cio("import", path, "--out", audit, *flags, env=env(fake))
        assert again.exit_code == 0, again.stderr
        after = [op["id"] for line in lines(audit) for op in line["body"]["batch"]]  # type: ignore[index]
        ids = [e["id"] for e in fake.events]
        rerun = cio("import", path, "--out", audit, *flags, env=env(fake))
    assert not set(before) & set(after) and sorted(before + after) == sorted(ids)
    assert len(ids) == 60
    assert "already imported" in rerun.stderr and audit.read_text() == ""


def test_journals_set_aside_are_named_and_none_of_this_version_is_removed(tmp_path: Path) -> None:
    """Issue 26 item 3: a journal of another destination is set aside (named in the note)
    and never removed while the file is the same: a later run to that destination resumes
    from it (removing it could send its rows again). Of the journals of earlier versions of
    the file, which no run can resume, the 3 set aside last stay and the note names the
    older ones it removed."""
    path = export(tmp_path)
    aside: list[str] = []
    for _ in range(5):
        with FakeCio(SITE, KEY) as fake:  # a new port: another destination each time
            result = cio("import", path, env=env(fake))
        assert result.exit_code == 0, result.stderr
        new = sorted(p.name for p in tmp_path.glob("events.csv.cio-journal.*"))
        added = [n for n in new if n not in aside and not n.endswith(".lock")]
        if aside or added:
            assert len(added) == 1 and f"that journal is kept as {added[0]}" in result.stderr
            aside += added
        assert "removed" not in result.stderr
    assert sorted(p.name for p in tmp_path.glob("events.csv.cio-journal.*")) == sorted(aside)
    with FakeCio(SITE, KEY) as fake:  # one destination, the file edited three times
        for version in range(3):
            with path.open("a") as f:
                f.write(f"purchase,v{version},{old()},pro\n")
            result = cio("import", path, env=env(fake))
            assert result.exit_code == 0, result.stderr
    left = sorted(p.name for p in tmp_path.glob("events.csv.cio-journal.*"))
    assert len(left) == 3 and not set(left) & set(aside[:4])
    assert "older journals set aside for earlier versions of the file were removed (" in (
        result.stderr
    )
