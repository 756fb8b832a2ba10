"""SPEC section 9 (GitHub Actions and the report) and the exit code of section 6 for
``--skip-recent``: the annotation lines byte for byte, the Markdown step summary's tables,
the ``--json`` report keys, and nothing of it outside GitHub Actions.

Every run goes through the real CLI with ``GITHUB_ACTIONS=true`` and a temporary
``GITHUB_STEP_SUMMARY`` in its environment (or without them, to check that nothing appears).
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import Result

from tests.cli_support import BASE, block_bytes, cio, read_rejects, recent, summary, write_csv
from tests.fakecio import FakeCio

MARCH_1 = 1_709_287_200  # 2024-03-01T10:00:00Z
SKIP = (
    "skipped: no timestamp or one within the last 72 hours, so it can trigger campaigns;"
    " send it later with --allow-recent"
)
NO_NAME = "_cio_name is empty"
NO_ID = "_cio_customer_id is empty"
BAD_TS = (
    "_cio_timestamp 'soon' is not a timestamp: use Unix seconds, Unix milliseconds, or"
    " ISO-8601 with Z or an offset"
)
SECRET_SITE, SECRET_KEY = "f00d5173", "SECRETKEY123XYZ"


def actions(summary_file: Path, **more: str | None) -> dict[str, str | None]:
    """The environment of a GitHub Actions step (no Customer.io credentials)."""
    env: dict[str, str | None] = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary_file)}
    env |= {"CIO_SITE_ID": None, "CIO_API_KEY": None, "CIO_BASE_URL": None, "CIO_API": None}
    return env | more


def mixed(tmp_path: Path, name: str = "events.csv") -> Path:
    """Valid rows of three names, a duplicate, rejected rows (one with three broken rules)
    and two rows in the 72-hour window."""
    rows = [
        ["purchase", "u1", str(MARCH_1), "pro"],  # row 2
        ["", "u2", str(MARCH_1 + 60), "pro"],  # 3: no name
        ["signup", "u3", str(MARCH_1 + 3600), "free"],  # 4
        ["", "", "soon", "x"],  # 5: three reasons
        ["purchase", "u1", str(MARCH_1), "pro"],  # 6: a duplicate of row 2
        ["purchase", "u4", str(recent()), "pro"],  # 7: recent
        ["refund", "u5", str(MARCH_1 - 86_400), "pro"],  # 8: the earliest
        ["signup", "u6", "", "free"],  # 9: no timestamp (recent)
        ["purchase", "u7", str(MARCH_1 + 7200), "team"],  # 10: the latest
    ]
    return write_csv(tmp_path / name, BASE, rows)


def lines(text: str) -> list[str]:
    return text.splitlines()


# -- annotations -----------------------------------------------------------------------


def test_annotations_for_rejected_and_skipped_rows_byte_for_byte(tmp_path: Path) -> None:
    path = mixed(tmp_path)
    step = tmp_path / "step.md"
    result = cio("import", path, "--dry-run", "--skip-recent", env=actions(step))
    assert result.exit_code == 1, result.stderr
    f = str(path)
    assert result.stdout == (
        f"::error file={f},line=3,title=cio::{NO_NAME}\n"
        f"::error file={f},line=5,title=cio::{NO_NAME}; {NO_ID}; {BAD_TS}\n"
        f"::warning file={f},line=7,title=cio::{SKIP}\n"
        f"::warning file={f},line=9,title=cio::{SKIP}\n"
    )
    assert "::" not in result.stderr


def test_with_json_stdout_stays_pure_json_and_annotations_go_to_stderr(tmp_path: Path) -> None:
    path = mixed(tmp_path)
    result = cio("validate", path, "--json", env=actions(tmp_path / "step.md"))
    assert result.exit_code == 1
    s = summary(result)  # exactly one JSON line on stdout
    assert s["rejected"] == 2
    notes = [line for line in lines(result.stderr) if line.startswith("::")]
    assert notes == [
        f"::error file={path},line=3,title=cio::{NO_NAME}",
        f"::error file={path},line=5,title=cio::{NO_NAME}; {NO_ID}; {BAD_TS}",
    ]


def test_ten_annotations_of_each_kind_then_one_notice_with_the_totals(tmp_path: Path) -> None:
    rows = [["", f"u{i}", str(MARCH_1), "p"] for i in range(12)]
    rows += [["late", f"v{i}", "", "p"] for i in range(11)]
    rows += [["ok", "w", str(MARCH_1), "p"]]
    path = write_csv(tmp_path / "many.csv", BASE, rows)
    result = cio("import", path, "--dry-run", "--skip-recent", env=actions(tmp_path / "s.md"))
    assert result.exit_code == 1
    out = lines(result.stdout)
    assert out[:10] == [f"::error file={path},line={r},title=cio::{NO_NAME}" for r in range(2, 12)]
    assert out[10:20] == [f"::warning file={path},line={r},title=cio::{SKIP}" for r in range(14, 24)]
    assert out[20:] == [
        "::notice title=cio::12 row(s) rejected and 11 skipped as recent in all; the first 10"
        f" of each are annotated; every one is in {path}.rejects.csv"
    ]


def test_annotations_escape_the_path_and_the_reason(tmp_path: Path) -> None:
    """Property values escape % CR LF : and ,; the message escapes %, and shows a line break
    from the input as ``\\r\\n`` (SPEC 6: shown, never obeyed), as every output does."""
    folder = tmp_path / "a,b:c%d"
    folder.mkdir()
    rows = [["purchase", "u1", "50%,\r\nx:y", "p"]]
    path = write_csv(folder / "e,1:2%.csv", BASE, rows)
    result = cio("validate", path, env=actions(tmp_path / "s.md"))
    assert result.exit_code == 1
    shown = str(path).replace("%", "%25").replace(":", "%3A").replace(",", "%2C")
    reason = (
        "_cio_timestamp '50%25,\\r\\nx:y' is not a timestamp: use Unix seconds, Unix"
        " milliseconds, or ISO-8601 with Z or an offset"
    )
    assert result.stdout == f"::error file={shown},line=2,title=cio::{reason}\n"
    _, rejects = read_rejects(Path(f"{path}.rejects.csv"))
    assert rejects[0]["_cio_error"].startswith("_cio_timestamp '50%,\r\nx:y' is not")


def test_several_files_each_row_names_its_own_file(tmp_path: Path) -> None:
    first = write_csv(tmp_path / "one.csv", BASE, [["", "u1", str(MARCH_1), "p"]])
    second = write_csv(tmp_path / "two.csv", BASE, [["ok", "u1", str(MARCH_1), "p"],
                                                     ["ok", "", str(MARCH_1), "p"]])  # fmt: skip
    result = cio("import", first, second, "--dry-run", env=actions(tmp_path / "s.md"))
    assert result.exit_code == 1
    assert result.stdout == (
        f"::error file={first},line=2,title=cio::{NO_NAME}\n"
        f"::error file={second},line=3,title=cio::{NO_ID}\n"
    )


def test_nothing_outside_github_actions(tmp_path: Path) -> None:
    path = mixed(tmp_path)
    step = tmp_path / "step.md"
    for value in (None, "false", "1"):
        env = actions(step, GITHUB_ACTIONS=value)
        plain = cio("import", path, "--dry-run", "--skip-recent", env=env)
        assert plain.exit_code == 1 and plain.stdout == ""
        assert "::" not in plain.stderr
        as_json = cio("validate", path, "--json", env=env)
        assert "::" not in as_json.stderr and summary(as_json)["rejected"] == 2
    assert not step.exists()


# -- the step summary ------------------------------------------------------------------


def test_the_step_summary_has_the_counts_the_outcome_and_the_tops(tmp_path: Path) -> None:
    path = mixed(tmp_path)
    step = tmp_path / "step.md"
    step.write_text("earlier step\n", encoding="utf-8")
    result = cio("import", path, "--dry-run", "--skip-recent", env=actions(step))
    assert result.exit_code == 1
    text = step.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n"), "appended, never overwritten"
    assert f"### cio import `{path}` (dry run)\n" in text
    assert (
        "| | count |\n|---|---:|\n| rows | 9 |\n| would send | 4 |\n| duplicates | 1 |\n"
        "| rejected | 2 |\n| skipped (recent) | 2 |\n| in 72-hour window | 2 |\n| requests | 1 |\n"
    ) in text
    assert (
        "**Exit code 1**: finished, but some rows were rejected or undeliverable: see the"
        " rejects file\n"
    ) in text
    assert "**Event time**: 2024-02-29T10:00:00Z to 2024-03-01T12:00:00Z\n" in text
    assert (
        "**Rejected rows per reason** (top 3 of 3)\n\n| reason | rows |\n|---|---:|\n"
        f"| {NO_NAME} | 2 |\n| {NO_ID} | 1 |\n| {BAD_TS} | 1 |\n"
    ) in text
    assert (
        "**Events per name** (top 3 of 3)\n\n| name | events |\n|---|---:|\n"
        "| purchase | 2 |\n| refund | 1 |\n| signup | 1 |\n"
    ) in text
    assert f"**Rejects file**: `{path}.rejects.csv`\n" in text


def test_the_step_summary_of_a_clean_run_and_of_an_unimportable_file(tmp_path: Path) -> None:
    step = tmp_path / "step.md"
    clean = write_csv(tmp_path / "clean.csv", BASE, [["ok", "u1", str(MARCH_1), "p"]])
    assert cio("validate", clean, env=actions(step)).exit_code == 0
    broken = write_csv(tmp_path / "broken.csv", ["name", "who"], [["ok", "u1"]])
    assert cio("validate", broken, env=actions(step)).exit_code == 3
    first, second = step.read_text(encoding="utf-8").split("### ")[1:]
    assert first.startswith("cio validate `")
    assert "**Exit code 0**: finished: no row was rejected or undeliverable" in first
    assert "| ok | 1 |" in first and "Rejects file" not in first
    assert "**Exit code 3**: the file cannot be imported at all" in second
    assert "**Error**: " in second and "broken.csv" in second


def test_a_step_summary_that_cannot_be_written_is_a_warning(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "clean.csv", BASE, [["ok", "u1", str(MARCH_1), "p"]])
    result = cio("validate", path, env=actions(tmp_path / "no" / "such" / "dir.md"))
    assert result.exit_code == 0
    assert "warning: cannot write the step summary" in result.stderr


def test_markdown_cells_keep_the_table_whole(tmp_path: Path) -> None:
    rows = [["a|b<i>", "u1", str(MARCH_1), "p"], ["a|b<i>", "", str(MARCH_1), "p"]]
    path = write_csv(tmp_path / "e.csv", BASE, rows)
    step = tmp_path / "step.md"
    cio("validate", path, env=actions(step))
    assert "| a\\|b&lt;i&gt; | 1 |\n" in step.read_text(encoding="utf-8")


# -- the report in --json and the human summary ------------------------------------------


def test_json_report_keys(tmp_path: Path) -> None:
    """by_reason counts a row with three broken rules under each; by_name leaves out
    duplicates and skipped rows; the time range is that of the events to send."""
    path = mixed(tmp_path)
    for args in (("validate",), ("import", "--dry-run", "--skip-recent")):
        s = summary(cio(*args, path, "--json"))
        assert s["by_reason"] == {NO_NAME: 2, NO_ID: 1, BAD_TS: 1}
        assert list(s["by_reason"]) == [NO_NAME, NO_ID, BAD_TS], "commonest first, then by text"
        if args[0] == "validate":  # the recent rows are events to send too
            assert s["by_name"] == {"purchase": 3, "signup": 2, "refund": 1}
        else:
            assert s["by_name"] == {"purchase": 2, "refund": 1, "signup": 1}
            assert list(s["by_name"]) == ["purchase", "refund", "signup"]
            assert (s["first_timestamp"], s["last_timestamp"]) == (
                "2024-02-29T10:00:00Z", "2024-03-01T12:00:00Z")  # fmt: skip
        assert sum(s["by_name"].values()) == s["sent"]


def test_by_name_keeps_the_top_100_by_count_then_name(tmp_path: Path) -> None:
    rows = [[f"n{i:03}", f"u{i}-{k}", str(MARCH_1 + i), "p"] for i in range(120) for k in range(1 + i % 3)]
    path = write_csv(tmp_path / "names.csv", BASE, rows)
    s = summary(cio("import", path, "--dry-run", "--json"))
    want = sorted(((f"n{i:03}", 1 + i % 3) for i in range(120)), key=lambda kv: (-kv[1], kv[0]))
    assert list(s["by_name"].items()) == [*want[:100], ("other", sum(n for _, n in want[100:]))]
    assert sum(s["by_name"].values()) == s["sent"]


def test_the_report_adds_up_over_many_chunks(tmp_path: Path) -> None:
    """Chunks with and without duplicates, more chunks than are kept apart before summing."""
    base = [[("a", "bb", "ccc")[i % 3], f"u{i}", str(MARCH_1 + i), "p"] for i in range(250)]
    rows = base + base[:100] + [["", "x", str(MARCH_1), "p"]] * 40 + base[100:]
    path = write_csv(tmp_path / "big.csv", BASE, rows)
    with block_bytes(256) as chunks:
        s = summary(cio("import", path, "--dry-run", "--json"))
    assert sum(chunks) > 40
    assert s["duplicates"] == 250 and s["sent"] == 250
    assert s["by_name"] == {"a": 84, "bb": 83, "ccc": 83}
    assert s["by_reason"] == {NO_NAME: 40}
    assert (s["first_timestamp"], s["last_timestamp"]) == ("2024-03-01T10:00:00Z", "2024-03-01T10:04:09Z")


def test_no_timestamps_gives_null_and_an_empty_file_empty_keys(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "none.csv", BASE, [["ok", "u1", "", "p"]])
    s = summary(cio("import", path, "--dry-run", "--json", "--allow-recent"))
    assert s["by_name"] == {"ok": 1}
    assert s["first_timestamp"] is None and s["last_timestamp"] is None
    empty = write_csv(tmp_path / "empty.csv", BASE, [])
    s = summary(cio("validate", empty, "--json"))
    assert (s["by_reason"], s["by_name"], s["first_timestamp"]) == ({}, {}, None)


def test_the_human_summary_shows_the_report_compactly(tmp_path: Path) -> None:
    path = mixed(tmp_path)
    result = cio("import", path, "--dry-run", "--skip-recent")
    err = result.stderr
    assert "rejected rows by reason (top 3 of 3):\n" in err
    assert f"  2 x {NO_NAME}\n" in err and f"  1 x {NO_ID}\n" in err
    assert "purchase 2, refund 1, signup 1" in err
    assert "2024-02-29T10:00:00Z to 2024-03-01T12:00:00Z" in err


# -- --skip-recent alone exits 0 (SPEC 6) ------------------------------------------------


def test_skip_recent_alone_exits_0_and_rejected_rows_still_1(tmp_path: Path) -> None:
    rows = [["ok", "u1", str(MARCH_1), "p"], ["late", "u2", "", "p"]]
    path = write_csv(tmp_path / "w.csv", BASE, rows)
    result = cio("import", path, "--dry-run", "--skip-recent", "--json")
    s = summary(result)
    assert result.exit_code == 0 and s["exit_code"] == 0 and s["skipped_recent"] == 1
    _, rejects = read_rejects(tmp_path / "w.csv.rejects.csv")
    assert [r["_cio_row"] for r in rejects] == ["3"], "still in the rejects file"
    bad = write_csv(tmp_path / "b.csv", BASE, [*rows, ["", "u3", str(MARCH_1), "p"]])
    assert cio("import", bad, "--dry-run", "--skip-recent").exit_code == 1


# -- a real import ---------------------------------------------------------------------


def real_import(url: str, path: Path, step: Path, *flags: str) -> Result:
    env = actions(step, CIO_SITE_ID=SECRET_SITE, CIO_API_KEY=SECRET_KEY)
    return cio("import", path, "--base-url", url, "--quiet", *flags, env=env)


def test_a_real_import_reports_refused_rows_and_never_a_credential(tmp_path: Path) -> None:
    """Rows the API refused (its message echoing the credentials) are annotated, counted by
    reason and left out of by_name; no credential appears in any output."""
    rows = [["purchase", f"u{i}", str(MARCH_1 + i), "p"] for i in range(5)]
    rows[1][0] = rows[3][0] = "api_reject"
    path = write_csv(tmp_path / "events.csv", BASE, rows)
    step = tmp_path / "step.md"
    with FakeCio(SECRET_SITE, SECRET_KEY, echo=True) as fake:
        human = real_import(fake.url, path, step)
        as_json = real_import(fake.url, path, step, "--restart", "--json")
    assert human.exit_code == as_json.exit_code == 1
    s = summary(as_json)
    assert s["sent"] == 3 and s["rejected"] == 2 and s["by_name"] == {"purchase": 3}
    assert sum(s["by_reason"].values()) == 2 and s["errors"] == {"api_refused": 2}
    (reason,) = s["by_reason"]
    assert reason.startswith("refused by Customer.io: ")
    errors = [line for line in lines(human.stdout) if line.startswith("::error ")]
    assert [line.split(",title")[0] for line in errors] == [
        f"::error file={path},line=3", f"::error file={path},line=5"]  # fmt: skip
    texts = [human.stdout, human.stderr, as_json.stdout, as_json.stderr,
             step.read_text(encoding="utf-8")]  # fmt: skip
    assert "**Exit code 1**" in texts[-1] and "| sent | 3 |" in texts[-1]
    for text in texts:
        for secret in (SECRET_SITE, SECRET_KEY):
            assert secret not in text
    assert json.dumps(s).count("redacted") >= 1
