"""A dry run of one file reads it once when every chunk types its columns alike.

The oracle is the two-pass path: ``cio import A B --dry-run`` reads every file
twice, so the first file's requests and rejects there are what a one-read dry
run of A must write, byte for byte.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cio_cli.record import progress
from tests.cli_support import BASE, block_bytes, cio, dry_run, old, read_rejects, write_csv

T = old(10)
HEADER = [*BASE[:3], "amount", "note"]


def _rows(late: str | None) -> list[list[str]]:
    """600 rows over many 2 KB chunks: numbers, rejected rows, duplicates; ``late`` at the end."""
    rows = []
    for i in range(600):
        name = "" if i % 97 == 5 else "purchase"  # rejected: empty name
        rows.append([name, f"u{i % 250}", str(T - i % 250), str(i % 250), f"n{i % 250}"])
    if late is not None:
        rows.append(["purchase", "last", str(T), late, "x"])
    return rows


def _two_pass(path: Path, tmp_path: Path) -> tuple[bytes, bytes]:
    """The requests and the rejects file of ``path`` as the two-pass path writes them."""
    twin = tmp_path / "twin" / path.name
    twin.parent.mkdir()
    shutil.copy(path, twin)
    out = tmp_path / "two-pass.ndjson"
    alone = cio("import", twin, "--dry-run", "--out", out)
    assert alone.exit_code == 1, alone.stderr
    single = out.read_bytes()
    shutil.copy(twin.with_name(twin.name + ".rejects.csv"), tmp_path / "alone.rejects.csv")
    with block_bytes(2048) as chunks:
        both = cio("import", path, twin, "--dry-run", "--out", out)
    assert both.exit_code == 1, both.stderr
    assert len(chunks) == 4, "two files, each read twice"
    written = out.read_bytes()
    assert written.endswith(single)
    return written[: len(written) - len(single)], path.with_name(
        path.name + ".rejects.csv"
    ).read_bytes()


def test_one_read_when_the_types_hold_and_the_same_bytes_as_two(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "steady.csv", HEADER, _rows(late="7"))
    requests, rejects = _two_pass(path, tmp_path)
    with block_bytes(2048) as chunks:
        out = dry_run(path, "--batch-bytes", "3000")
    assert len(chunks) == 1 and chunks[0] > 5, "one read, many chunks"
    s = out.summary
    assert (s["rows"], s["rejected"], s["duplicates"], s["sent"]) == (601, 7, 343, 251)
    assert [int(r["_cio_row"]) for r in out.rejects] == [7 + 97 * k for k in range(7)]
    assert all(isinstance(op["attributes"]["amount"], int) for op in out.ops)
    with block_bytes(2048):
        again = dry_run(path)
    assert again.out_bytes == requests
    assert path.with_name("steady.csv.rejects.csv").read_bytes() == rejects


def test_a_type_widening_late_reads_again_and_keeps_nothing_twice(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "late.csv", HEADER, _rows(late="n/a"))
    requests, rejects = _two_pass(path, tmp_path)
    with block_bytes(2048) as chunks:
        out = dry_run(path)
    assert len(chunks) == 2, "amount widened to text in the last chunk: pass 2 reads again"
    s = out.summary
    assert (s["rows"], s["rejected"], s["duplicates"], s["sent"]) == (601, 7, 343, 251)
    assert len(out.rejects) == 7, "the first read's rejected rows are not kept twice"
    assert all(isinstance(op["attributes"]["amount"], str) for op in out.ops)
    assert out.out_bytes == requests
    assert path.with_name("late.csv.rejects.csv").read_bytes() == rejects


def test_validate_reads_once_too(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "steady.csv", HEADER, _rows(late=None))
    with block_bytes(2048) as chunks:
        out = dry_run(path, command="validate")
    assert len(chunks) == 1
    assert out.summary["sent"] == 250 and out.summary["rejected"] == 7


def test_an_unimportable_file_leaves_no_payloads_and_no_rejects(tmp_path: Path) -> None:
    rows = _rows(late=None) + [["purchase", "a@example.com", str(T), "1", "x"]]
    path = write_csv(tmp_path / "mixed.csv", HEADER, rows)
    out_file = tmp_path / "payloads.ndjson"
    out_file.write_text("from an earlier run\n")
    with block_bytes(2048) as chunks:
        result = cio("import", path, "--dry-run", "--out", out_file)
    assert result.exit_code == 3
    assert len(chunks) == 1
    assert "mixes ids (600 rows" in result.stderr
    assert not out_file.exists(), "no requests of a file that cannot be imported"
    assert not path.with_name("mixed.csv.rejects.csv").exists()


def test_out_to_a_pipe_like_file_reads_twice(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "steady.csv", HEADER, _rows(late=None))
    with block_bytes(2048) as chunks:
        result = cio("import", path, "--dry-run", "--out", "/dev/null")
    assert result.exit_code == 1
    assert len(chunks) == 2, "/dev/null cannot be started over, so pass 2 writes it alone"
    _, rejected = read_rejects(path.with_name("steady.csv.rejects.csv"))
    assert len(rejected) == 7


def test_text_in_the_first_chunk_then_numbers_still_reads_once(tmp_path: Path) -> None:
    """Workers may type later chunks before the first is counted; those are encoded again."""
    rows = _rows(late=None)
    rows[0][3] = "A-1"  # amount is text from row 2 on, numbers everywhere else
    path = write_csv(tmp_path / "sku.csv", HEADER, rows)
    requests, rejects = _two_pass(path, tmp_path)
    with block_bytes(2048) as chunks:
        out = dry_run(path)
    assert len(chunks) == 1
    assert all(isinstance(op["attributes"]["amount"], str) for op in out.ops)
    assert out.out_bytes == requests
    assert path.with_name("sku.csv.rejects.csv").read_bytes() == rejects


def test_a_symlinked_out_gets_two_passes_and_survives_an_unimportable_file(
    tmp_path: Path,
) -> None:
    rows = _rows(late=None) + [["purchase", "a@example.com", str(T), "1", "x"]]
    path = write_csv(tmp_path / "mixed.csv", HEADER, rows)
    target = tmp_path / "target.ndjson"
    target.write_text("kept\n")
    link = tmp_path / "link.ndjson"
    link.symlink_to(target)
    with block_bytes(2048) as chunks:
        result = cio("import", path, "--dry-run", "--out", link)
    assert result.exit_code == 3
    assert len(chunks) == 1, "pass 1 stopped the run; pass 2 never started"
    assert link.is_symlink() and target.read_text() == "kept\n"
    steady = write_csv(tmp_path / "steady.csv", HEADER, _rows(late=None))
    with block_bytes(2048) as chunks:
        result = cio("import", steady, "--dry-run", "--out", link)
    assert result.exit_code == 1
    assert len(chunks) == 2
    assert link.is_symlink() and target.read_text().startswith('{"batch":[')


def test_a_symlinked_rejects_path_is_written_through_not_removed(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "steady.csv", HEADER, _rows(late=None))
    target = tmp_path / "target.csv"
    target.write_text("old\n")
    link = tmp_path / "rejects-link.csv"
    link.symlink_to(target)
    result = cio("import", path, "--dry-run", "--rejects", link)
    assert result.exit_code == 1
    assert link.is_symlink()
    _, rejected = read_rejects(target)
    assert len(rejected) == 7


def test_progress_of_a_dry_run_says_checking_in_both_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.0)
    path = write_csv(tmp_path / "late.csv", HEADER, _rows(late="n/a"))
    with block_bytes(2048) as chunks:
        result = cio("validate", path)
    assert len(chunks) == 2
    lines = [line for line in result.stderr.splitlines() if "%:" in line]
    assert lines and all(line.startswith("checking ") for line in lines), lines
    assert lines[-1].startswith("checking 100%: 601 rows")
