"""The rejects file keeps every cell as read (SPEC section 5): a cell that ``--null-value``
emptied keeps its text there, whatever path the row took to the file (a rule, a reused id,
``--skip-recent``, another shard's row, the csv module's reader, a 207 of a real import).

Without it a mistaken null marker (``0``, an event name) would erase the real values from
the very file the user fixes and imports again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

import cio_cli.read.fallback as fallback
from tests.cli_support import BASE, cio, old, read_rejects, recent, summary, write_csv, write_raw
from tests.fakecio import FakeCio

ULID = "01HQ3Z0000000000000000000A"


def rejected(path: Path) -> list[list[str]]:
    """The rejects file's rows as lists, its header first."""
    header, rows = read_rejects(path)
    return [header, *([r[h] for h in header] for r in rows)]


def test_validate_keeps_the_null_marked_text_of_rejected_rows(tmp_path: Path) -> None:
    t = str(old())
    path = write_csv(tmp_path / "f.csv", BASE, [
        ["ev", "u1", t, "NULL"],       # the name is a null marker by mistake
        ["ok", "", t, "NULL"],         # rejected for its id; plan read as empty
        ["ev", "u3", "bad", "gold"],   # two reasons
        ["ok", "u4", t, "NULL"],       # sent, without plan
    ])  # fmt: skip
    done = cio("validate", path, "--null-value", "ev", "--null-value", "NULL", "--json")
    assert done.exit_code == 1, done.stderr
    assert summary(done)["rejected"] == 3
    assert rejected(tmp_path / "f.csv.rejects.csv") == [
        [*BASE, "_cio_row", "_cio_error"],
        ["ev", "u1", t, "NULL", "2", "_cio_name is empty"],
        ["ok", "", t, "NULL", "3", "_cio_customer_id is empty"],
        ["ev", "u3", "bad", "gold", "4", "_cio_name is empty; _cio_timestamp 'bad' is not a"
         " timestamp: use Unix seconds, Unix milliseconds, or ISO-8601 with Z or an offset"],
    ]  # fmt: skip


def test_dry_run_shards_reused_ids_and_skipped_rows_keep_the_text(tmp_path: Path) -> None:
    t, r = str(old()), str(recent())
    header = [*BASE, "_cio_id"]
    path = write_csv(tmp_path / "e.csv", header, [
        ["buy", "u1", t, "0", ULID],
        ["buy", "u2", t, "0", ULID],   # the id of row 2 again
        ["buy", "u3", r, "0", ""],     # recent: skipped
        ["0", "u4", t, "pro", ""],     # the name is the null marker
        ["0", "u5", t, "pro", ""],
    ])  # fmt: skip
    flags = ["--null-value", "0", "--skip-recent", "--json"]
    whole = cio("import", path, "--dry-run", *flags)
    assert whole.exit_code == 1, whole.stderr
    rows = rejected(tmp_path / "e.csv.rejects.csv")
    assert [row[:5] for row in rows[1:]] == [
        ["buy", "u2", t, "0", ULID], ["buy", "u3", r, "0", ""],
        ["0", "u4", t, "pro", ""], ["0", "u5", t, "pro", ""],
    ]  # fmt: skip
    for shard in ("1/2", "2/2"):
        one = cio("import", path, "--dry-run", "--shard", shard, *flags)
        assert one.exit_code in (0, 1), one.stderr
        assert rejected(tmp_path / "e.csv.rejects.csv") == rows, shard


def test_rows_read_by_the_csv_module_keep_the_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a stray quote the rest of the file is read line by line (read/fallback.py)."""
    used: list[int] = []
    lenient = fallback.lenient_records

    def spy(lines: Iterable[str]) -> Iterator[list[str] | fallback.Unreadable]:
        used.append(1)
        return lenient(lines)

    monkeypatch.setattr(fallback, "lenient_records", spy)
    t = old()
    text = ",".join(BASE) + f'\nok,u1,{t},12" pizza\nN/A,u2,{t},N/A\nok,,{t},N/A\n'
    path = write_raw(tmp_path / "cr.csv", text)
    done = cio("validate", path, "--null-value", "N/A", "--json")
    assert done.exit_code == 1, done.stderr
    assert used, "the csv module's reader was not used"
    assert [row[:5] for row in rejected(tmp_path / "cr.csv.rejects.csv")[1:]] == [
        ["N/A", "u2", str(t), "N/A", "3"],
        ["ok", "", str(t), "N/A", "4"],
    ]


@pytest.mark.parametrize("api", ["track", "pipelines"])
def test_rows_refused_by_the_api_keep_the_text(tmp_path: Path, api: str) -> None:
    t = str(old())
    path = write_csv(tmp_path / "e.csv", BASE, [
        ["buy", "u1", t, "NULL"], ["api_reject", "u2", t, "NULL"], ["buy", "u3", t, "pro"],
    ])  # fmt: skip
    with FakeCio("site", "key", pipelines_key="key") as fake:
        creds = ["--site-id", "site", "--api-key", "key"] if api == "track" else [
            "--pipelines-key", "key"]  # fmt: skip
        done = cio("import", path, "--api", api, *creds, "--base-url", fake.url,
                   "--null-value", "NULL", "--json")  # fmt: skip
        assert done.exit_code == 1, done.stderr
        assert summary(done)["errors"] == {"api_refused": 1}
        sent = {e["identifiers"].get("id", e["identifiers"].get("userId")): e["attributes"]
                for e in fake.events}  # fmt: skip
    assert sent == {"u1": {}, "u3": {"plan": "pro"}}
    assert [row[:5] for row in rejected(tmp_path / "e.csv.rejects.csv")[1:]] == [
        ["api_reject", "u2", t, "NULL", "3"]
    ]


def test_a_column_dropped_or_renamed_by_map_keeps_its_header_and_text(tmp_path: Path) -> None:
    t = str(old())
    path = write_csv(tmp_path / "w.csv", ["event", "user", "ts", "plan", "note"],
                     [["", "u1", t, "gold", "NULL"]])  # fmt: skip
    done = cio("validate", path, "--map", "event=_cio_name", "--map", "user=_cio_customer_id",
               "--map", "ts=_cio_timestamp", "--map", "plan=-", "--map", "note=comment",
               "--null-value", "NULL", "--json")  # fmt: skip
    assert done.exit_code == 1, done.stderr
    assert rejected(tmp_path / "w.csv.rejects.csv") == [
        ["event", "user", "ts", "plan", "note", "_cio_row", "_cio_error"],
        ["", "u1", t, "gold", "NULL", "2", "_cio_name is empty"],
    ]
