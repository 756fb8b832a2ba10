"""Issue 26 and SPEC section 9's additions, through the real CLI under GitHub Actions:
``--max-rejected N|P%`` (validate, a dry run and a real import decide alike, on the whole
file's rows the row rules reject, shards included; above it a real import sends nothing),
its ``--json`` object and step-summary line, and the step summary's heading (command, file,
shard).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_support import BASE, cio, old, read_rejects, recent, summary, write_csv
from tests.fakecio import FakeCio

SITE, KEY = "site-26", "key-26"
NO_NAME = "_cio_name is empty"
VALID = 200


def export(tmp_path: Path, invalid: int = 2, recents: int = 3, refused: int = 0) -> Path:
    """``VALID`` old valid rows, ``invalid`` rows without a name, ``recents`` rows in the
    72-hour window, ``refused`` rows the test server refuses (named ``api_reject``)."""
    rows = [["purchase", f"u{i}", str(old() - i), "pro"] for i in range(VALID)]
    rows += [["", f"bad{i}", str(old()), "pro"] for i in range(invalid)]
    rows += [["signup", f"new{i}", str(recent()), "free"] for i in range(recents)]
    rows += [["api_reject", f"r{i}", str(old()), "x"] for i in range(refused)]
    return write_csv(tmp_path / "events.csv", BASE, rows)


def actions(step: Path, fake: FakeCio | None = None) -> dict[str, str | None]:
    """A GitHub Actions step's environment: credentials only when ``fake`` receives them."""
    env: dict[str, str | None] = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(step)}
    env |= {"CIO_SITE_ID": None, "CIO_API_KEY": None, "CIO_BASE_URL": None, "CIO_API": None}
    if fake is not None:
        env |= {"CIO_SITE_ID": SITE, "CIO_API_KEY": KEY, "CIO_BASE_URL": fake.url}
    return env | {"CIO_REGION": None}


def test_within_the_threshold_validate_and_every_shard_exit_0_each_event_stored_once(
    tmp_path: Path,
) -> None:
    path = export(tmp_path)  # 205 rows: 1% allows 2, and 2 are rejected
    step = tmp_path / "step.md"
    result = cio("validate", path, "--max-rejected", "1%", "--json", env=actions(step))
    assert result.exit_code == 0, result.stderr
    s = summary(result)
    want = {"threshold": "1%", "rows": 205, "rejected": 2, "limit": 2, "decision": "within"}
    assert s["max_rejected"] == want and s["rejected"] == 2 and s["exit_code"] == 0
    assert "::error file=" in result.stderr  # the rejected rows are still annotated
    people = cio("validate", path, "--max-rejected", "1%", env=actions(tmp_path / "other.md"))
    assert people.exit_code == 0
    assert (
        "warning: 2 of 205 row(s) rejected by the row rules; --max-rejected 1% allows 2:"
        " within: they do not make exit 1; see the rejects file" in people.stderr
    )
    assert [r["_cio_row"] for r in read_rejects(Path(f"{path}.rejects.csv"))[1]] == ["202", "203"]
    assert "**--max-rejected 1%**: 2 of 205 row(s) rejected" in step.read_text()
    with FakeCio(SITE, KEY) as fake:
        for i in (1, 2, 3):
            result = cio(
                "import", path, "--max-rejected", "1%", "--skip-recent", "--shard", f"{i}/3",
                "--json", env=actions(step, fake),
            )  # fmt: skip
            assert result.exit_code == 0, (i, result.stdout, result.stderr)
            assert summary(result)["max_rejected"] == want  # the whole file's, each
        ids = [e["id"] for e in fake.events]
        names = {e["name"] for e in fake.events}
    assert len(ids) == len(set(ids)) == VALID and names == {"purchase"}
    text = step.read_text()
    for i in (1, 2, 3):
        assert f"### cio import `{path}` (shard {i}/3)\n" in text
    assert f"### cio validate `{path}`\n" in text


def test_above_the_threshold_nothing_is_sent_and_every_mode_exits_1(tmp_path: Path) -> None:
    path = export(tmp_path, invalid=3)  # 206 rows: 1% allows 2, and 3 are rejected
    step = tmp_path / "step.md"
    want = {"threshold": "1%", "rows": 206, "rejected": 3, "limit": 2, "decision": "above"}
    for args in (["validate"], ["import", "--dry-run", "--skip-recent", "--shard", "2/3"]):
        result = cio(*args, path, "--max-rejected", "1%", "--json", env=actions(step))
        assert result.exit_code == 1, (args, result.stderr)
        assert summary(result)["max_rejected"] == want
    with FakeCio(SITE, KEY) as fake:
        result = cio(
            "import", path, "--max-rejected", "1%", "--skip-recent", "--shard", "1/3", "--json",
            env=actions(step, fake),
        )  # fmt: skip
        assert fake.requests == [] and fake.events == []
    assert result.exit_code == 1, result.stderr
    s = summary(result)
    assert s["max_rejected"] == want and s["sent"] == 0 and s["requests"] == 0
    assert s["error"] == (
        "nothing sent: 3 of 206 row(s) rejected by the row rules; --max-rejected 1% allows 2:"
        " above"
    )
    assert "error: nothing sent: 3 of 206 row(s)" in result.stderr
    assert not Path(f"{path}.shard-1-of-3.cio-journal").exists()
    assert "**--max-rejected 1%**: 3 of 206 row(s) rejected by the row rules" in step.read_text()


def test_a_count_threshold_rows_the_api_refused_still_exit_1(tmp_path: Path) -> None:
    path = export(tmp_path, invalid=2, recents=0, refused=1)
    with FakeCio(SITE, KEY) as fake:
        result = cio("import", path, "--max-rejected", "2", "--json", env=actions(tmp_path / "s", fake))
        assert len(fake.events) == VALID
    assert result.exit_code == 1, result.stderr
    s = summary(result)
    assert s["max_rejected"]["decision"] == "within" and s["errors"]["api_refused"] == 1


def test_skipped_recent_rows_are_not_rejected_and_zero_allows_none(tmp_path: Path) -> None:
    path = export(tmp_path, invalid=0)
    with FakeCio(SITE, KEY) as fake:
        result = cio(
            "import", path, "--max-rejected", "0", "--skip-recent", "--json",
            env=actions(tmp_path / "s", fake),
        )  # fmt: skip
        assert len(fake.events) == VALID
    assert result.exit_code == 0, result.stderr
    s = summary(result)
    assert s["skipped_recent"] == 3 and s["max_rejected"]["rejected"] == 0
    one_bad = export(tmp_path, invalid=1, recents=0)
    assert cio("validate", one_bad, "--max-rejected", "0").exit_code == 1


def test_the_config_file_sets_it_and_a_rerun_keeps_exit_0(tmp_path: Path) -> None:
    path = export(tmp_path, recents=0)
    config = tmp_path / "cio.toml"
    config.write_text('max_rejected = "2"\n')
    env = actions(tmp_path / "s")
    assert cio("validate", path, "--config", config, env=env).exit_code == 0
    assert cio("validate", path, env=env).exit_code == 1  # without it: as before
    with FakeCio(SITE, KEY) as fake:
        first = cio("import", path, "--config", config, env=actions(tmp_path / "s", fake))
        again = cio("import", path, "--config", config, env=actions(tmp_path / "s", fake))
        assert len(fake.events) == VALID
    assert (first.exit_code, again.exit_code) == (0, 0), (first.stderr, again.stderr)
    assert "already imported" in again.stderr


@pytest.mark.parametrize("value", ["-1", "101%", "abc", "1.5", "%", "5 %", "-0%", "1e3"])
def test_a_malformed_threshold_is_a_usage_error(tmp_path: Path, value: str) -> None:
    path = export(tmp_path, recents=0)
    for command in (["validate"], ["import", "--dry-run"]):
        result = cio(*command, path, "--max-rejected", value)
        assert result.exit_code == 2, (command, value, result.stderr)
        assert "--max-rejected takes N (a whole number of rows, 0 or more) or P%" in result.stderr
