"""A retried CI job stays red (SPEC section 5): a rerun of a finished import says "already
imported", sends nothing and exits with the code that import had: 1 when it rejected rows,
saying how many and where the rejects file is, in the table, ``--json`` and the step summary.
``--restart`` ignores the journal. A journal finished by a ``cio`` that did not store the
code is read the safe way: 1 when it counted rejected rows.
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import Result

from tests.cli_support import BASE, cio, old, read_rejects, summary, write_csv
from tests.fakecio import FakeCio
from tests.test_cli_resume import jline, read_journal

SITE, KEY = "site", "key"
ALREADY = "e.csv: already imported (3 rows acknowledged); nothing sent"


def red_file(tmp_path: Path) -> Path:
    """Three good rows and two that the rules reject."""
    t = str(old())
    return write_csv(tmp_path / "e.csv", BASE, [
        ["buy", "u1", t, "a"], ["", "u2", t, "b"], ["buy", "u3", t, "c"],
        ["buy", "", t, "d"], ["buy", "u5", t, "e"],
    ])  # fmt: skip


def imported(url: str, *args: str | Path, env: dict[str, str | None] | None = None) -> Result:
    """``cio import ARGS`` against the fake server at ``url``."""
    return cio("import", *args, "--site-id", SITE, "--api-key", KEY, "--base-url", url,
               env=env)  # fmt: skip


def test_a_rerun_of_an_import_that_rejected_rows_exits_1_again(tmp_path: Path) -> None:
    path = red_file(tmp_path)
    rejects = tmp_path / "e.csv.rejects.csv"
    step = tmp_path / "step.md"
    ci: dict[str, str | None] = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(step)}
    with FakeCio(SITE, KEY) as fake:
        first = imported(fake.url, path, "--json")
        assert first.exit_code == 1, first.stderr
        assert summary(first)["rejected"] == 2 and len(fake.events) == 3
        before = read_rejects(rejects)
        requests = len(fake.requests)

        again = imported(fake.url, path, "--json", env=ci)
        assert again.exit_code == 1, again.stderr
        s = summary(again)
        assert (s["exit_code"], s["rejected"], s["sent"], s["resumed"]) == (1, 2, 3, 3)
        assert s["rejects_file"] == str(rejects) and s["requests"] == 0
        assert ALREADY in again.stderr
        assert (f"e.csv: that import rejected 2 row(s) and exited 1; so does this run: they are"
                f" in {rejects} (fix them there and import that file)") in again.stderr  # fmt: skip
        assert "**Exit code 1**" in step.read_text()
        assert read_rejects(rejects) == before, "the rerun changed the rejects file"

        human = imported(fake.url, path)
        assert human.exit_code == 1, human.stderr
        assert "that import rejected 2 row(s)" in human.stderr
        assert len(fake.requests) == requests and len(fake.events) == 3, "the reruns sent"

        restart = imported(fake.url, path, "--restart", "--json")
        assert restart.exit_code == 1, restart.stderr
        assert "already imported" not in restart.stderr
        assert len(fake.events) == 6, "--restart sends the good rows again"


def test_a_rerun_beside_a_new_file_stays_red(tmp_path: Path) -> None:
    """The rerun that reads the other file (importer/run.py) keeps the code too."""
    path = red_file(tmp_path)
    other = write_csv(tmp_path / "b.csv", BASE, [["buy", "b1", str(old()), "x"]])
    with FakeCio(SITE, KEY) as fake:
        assert imported(fake.url, path, "--json").exit_code == 1
        both = imported(fake.url, path, other, "--json")
        assert both.exit_code == 1, both.stderr
        s = summary(both)
        assert (s["rejected"], s["sent"], s["resumed"], s["exit_code"]) == (2, 4, 3, 1)
        assert "e.csv: that import rejected 2 row(s) and exited 1" in both.stderr
        assert len(fake.events) == 4


def test_a_green_import_reruns_green(tmp_path: Path) -> None:
    t = str(old())
    path = write_csv(tmp_path / "e.csv", BASE, [["buy", f"u{i}", t, "a"] for i in range(3)])
    with FakeCio(SITE, KEY) as fake:
        assert imported(fake.url, path).exit_code == 0
        again = imported(fake.url, path, "--json")
        assert again.exit_code == 0 and summary(again)["exit_code"] == 0
        assert ALREADY in again.stderr and "that import rejected" not in again.stderr


def test_a_journal_without_the_stored_code_is_read_the_safe_way(tmp_path: Path) -> None:
    """A D record with counts but no exit_code (a cio before this change): 1 when it counts
    rejected rows. A D without counts (an older cio still): the file is read again, and the
    rows its rules reject make exit 1."""
    path = red_file(tmp_path)
    kept = tmp_path / "e.csv.cio-journal"
    with FakeCio(SITE, KEY) as fake:
        assert imported(fake.url, path).exit_code == 1
        records = read_journal(kept).records
        kind, payload = records[-1]
        assert kind == "D" and '"exit_code":1' in payload
        older = payload.replace(',"exit_code":1', "")
        kept.write_bytes(b"".join(jline(k, p) for k, p in records[:-1]) + jline("D", older))
        again = imported(fake.url, path, "--json")
        assert again.exit_code == 1, again.stderr
        assert "that import rejected 2 row(s) and exited 1" in again.stderr

        oldest = payload.split(" ")[0]  # a timestamp alone
        kept.write_bytes(b"".join(jline(k, p) for k, p in records[:-1]) + jline("D", oldest))
        reread = imported(fake.url, path, "--json")
        assert reread.exit_code == 1, reread.stderr
        assert summary(reread)["rejected"] == 2 and ALREADY in reread.stderr
        assert len(fake.events) == 3
