"""Every figure is true (SPEC 6, issue 21 item 5): what the summary, the plain lines and the
rejects file say is what happened to the rows, also after an interruption or in a shard.

The invariant over many runs (complete, SIGTERM at random points, sharded, resumed) is in
tests/test_figures_invariant.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cio_cli.record import progress, top
from tests.cli_support import cio, old, read_rejects, recent, summary, write_csv
from tests.fakecio import FakeCio
from tests.test_cli_send import NO_ENV, send

HEADER = ["_cio_name", "_cio_customer_id", "_cio_timestamp", "n"]


def rows_of(n: int, bad: int = 0, late: int = 0) -> list[list[str]]:
    """``n`` good rows, then ``bad`` without a name, then ``late`` in the 72-hour window."""
    t = old(10)
    rows = [["buy", f"u{i}", str(t - i), str(i)] for i in range(n)]
    rows += [["", f"b{i}", str(t), "x"] for i in range(bad)]
    return rows + [["buy", f"r{i}", str(recent()), "y"] for i in range(late)]


def test_more_rows_line_counts_what_the_rejects_file_holds(tmp_path: Path) -> None:
    """Skipped recent rows are in the rejects file: the line after the first rows counts
    them too (before, '... and 3 more rejected row(s)' beside a file of 10 rows)."""
    path = write_csv(tmp_path / "e.csv", HEADER, rows_of(5, bad=8, late=2))
    result = cio("import", path, "--dry-run", "--skip-recent")
    assert result.exit_code == 1
    _, rejected = read_rejects(tmp_path / "e.csv.rejects.csv")
    assert len(rejected) == 10
    shown = [line for line in result.stderr.splitlines() if line.startswith("row ")]
    assert len(shown) == 5
    assert f"... and {10 - 5} more rejected or skipped row(s)" in result.stderr


def test_no_zero_table_before_a_refused_import(tmp_path: Path, fake_cio: FakeCio) -> None:
    """Exit 4 after reading every row: the error says why; no table of zeros says 'rows 0'."""
    path = write_csv(tmp_path / "e.csv", HEADER, rows_of(300, late=3))
    args: list[str | Path] = ["import", path, "--base-url", fake_cio.url, "--site-id", "site", "--api-key", "key"]
    result = cio(*args, env=NO_ENV)
    assert result.exit_code == 4, result.stderr
    assert "error: nothing sent: 3 event(s) have no timestamp" in result.stderr
    assert "exit code" not in result.stderr and "duplicates" not in result.stderr


def test_no_zero_table_before_an_unimportable_file(tmp_path: Path) -> None:
    header = ["_cio_name", "_cio_customer_id", "_cio_timestamp"]
    rows = [["buy", f"u{i}", str(old())] for i in range(300)] + [["buy", "a@b.co", str(old())]]
    path = write_csv(tmp_path / "mixed.csv", header, rows)
    result = cio("validate", path)
    assert result.exit_code == 3, result.stderr
    assert "error: " in result.stderr
    assert "exit code" not in result.stderr and "duplicates" not in result.stderr


def test_the_checking_line_of_a_real_import_claims_no_rejects_it_does_not_know(
    tmp_path: Path, fake_cio: FakeCio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pass 1 of a real import applies the rules only to recent rows: its lines said
    '0 rejected' for a file with 40 rejected rows. Pass 2's lines count them."""
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.0)
    path = write_csv(tmp_path / "e.csv", HEADER, rows_of(60, bad=40))
    args: list[str | Path] = ["import", path, "--base-url", fake_cio.url, "--site-id", "site", "--api-key", "key"]
    result = cio(*args, env=NO_ENV)
    assert result.exit_code == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if "%:" in line]
    checking = [line for line in lines if line.startswith("checking")]
    sending = [line for line in lines if line.startswith("sending")]
    assert checking and sending, lines
    assert not any("rejected" in line for line in checking), checking
    assert "40 rejected" in sending[-1]


def test_events_per_s_of_an_already_imported_rerun_counts_no_journalled_event(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    path = write_csv(tmp_path / "e.csv", HEADER, rows_of(50))
    assert send(fake_cio.url, path).exit_code == 0
    again = summary(send(fake_cio.url, path))
    assert again["sent"] == again["resumed"] == 50
    assert again["events_per_s"] == 0


def test_a_207_entry_without_a_message_says_so_once(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", HEADER, rows_of(3))
    body = b'{"errors":[{"batch_index":1}]}'
    with FakeCio("site", "key") as fake:
        fake.script([("status", 207, {}, body)])
        result = send(fake.url, path)
    assert result.exit_code == 1, result.stderr
    _, rejected = read_rejects(tmp_path / "e.csv.rejects.csv")
    assert [(r["_cio_row"], r["_cio_error"]) for r in rejected] == [
        ("3", "refused by Customer.io (without a message)")
    ]
    assert summary(result)["by_reason"] == {"refused by Customer.io (without a message)": 1}


# -- bounded (SPEC 6, issue 21 item 4) -----------------------------------------------------


def test_by_reason_keeps_the_top_100_and_other(tmp_path: Path) -> None:
    """150 rows, each with its own bad timestamp: 100 reasons and 'other' (50), adding up to
    the exact totals in errors."""
    rows = [["buy", f"u{i}", f"when {i}", "x"] for i in range(150)] + rows_of(3)
    path = write_csv(tmp_path / "e.csv", HEADER, rows)
    result = cio("validate", path, "--json")
    s = summary(result)
    assert len(s["by_reason"]) == 101 and s["by_reason"]["other"] == 50
    assert sum(s["by_reason"].values()) == sum(s["errors"].values()) == s["rejected"] == 150
    human = cio("validate", path)
    assert "rejected rows by reason (top 3 of 150):" in human.stderr


def test_past_the_kept_names_the_top_stays_exact_and_the_sum_true(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting keeps ``top.KEEP`` names (here 20) once more than twice as many were seen:
    a name with many events keeps its exact count, the rest go to 'other', and a real name
    'other' is counted under it too once names are left out."""
    monkeypatch.setattr(top, "KEEP", 20)
    t = old(10)
    rows = [[f"n{i}", f"u{i}", str(t), "x"] for i in range(500)]
    rows += [["buy", f"b{i}", str(t - i), "y"] for i in range(200)]
    rows += [["other", f"o{i}", str(t - i), "y"] for i in range(7)]
    path = write_csv(tmp_path / "e.csv", HEADER, rows)
    s = summary(cio("import", path, "--dry-run", "--json"))
    assert s["sent"] == 707 and sum(s["by_name"].values()) == 707
    assert s["by_name"]["buy"] == 200 and s["by_name"]["other"] > 7
    assert len(s["by_name"]) <= 101
    human = cio("import", path, "--dry-run")
    assert "buy 200" in human.stderr and "(over " in human.stderr


def test_a_journal_stores_the_top_reasons_not_all(tmp_path: Path, fake_cio: FakeCio) -> None:
    """The finished journal's report keeps 100 reasons and 'other' (not one per reason: 100,000
    reasons made an 11.9 MB record that every rerun loaded); the rerun reports the same."""
    rows = [["buy", f"u{i}", f"when {i}", "x"] for i in range(300)] + rows_of(3)
    path = write_csv(tmp_path / "e.csv", HEADER, rows)
    first = summary(send(fake_cio.url, path))
    assert len(first["by_reason"]) == 101
    journal = tmp_path / "e.csv.cio-journal"
    assert journal.stat().st_size < 20_000
    again = summary(send(fake_cio.url, path))
    assert again["by_reason"] == first["by_reason"] and again["by_name"] == first["by_name"]
