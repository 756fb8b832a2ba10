"""Helpers for the end-to-end tests: run ``cio`` like a user and read what it leaves behind.

Every run goes through Typer's ``CliRunner`` (stdout and stderr kept apart). A run that
ends in an exception other than ``SystemExit`` is a crash, never an exit code: ``cio()``
fails the test with the traceback instead of letting a crash pass for "exit 1".
"""

from __future__ import annotations

import csv
import gzip
import json
import signal
import subprocess
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner, Result

import cio_cli.read.files as source
from cio_cli.cli import app

DAY = 86_400
HOUR = 3_600
BASE = ["_cio_name", "_cio_customer_id", "_cio_timestamp", "plan"]
ULID_CHARS = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
SUMMARY_KEYS = {
    "command", "files", "rows", "sent", "rejected", "skipped_recent", "duplicates", "recent",
    "resumed", "warnings", "errors", "columns", "requests", "retries", "rejects_file", "dry_run",
    "duration_s", "events_per_s", "exit_code", "by_reason", "by_name", "first_timestamp",
    "last_timestamp",
}  # fmt: skip


def old(days: float = 10) -> int:
    """Unix seconds well outside the 72-hour window (default: ten days ago)."""
    return int(time.time() - days * DAY)


def recent(hours: float = 1) -> int:
    """Unix seconds inside the 72-hour window (default: an hour ago)."""
    return int(time.time() - hours * HOUR)


def csv_cell(cell: str, quote_all: bool = False) -> str:
    """One cell as RFC 4180 wants it: quoted when it holds a comma, quote, CR or LF.

    (Python's csv writer leaves a lone CR unquoted when the line terminator is LF, which
    makes a file that standard readers split differently; this never does.)
    """
    if quote_all or any(c in cell for c in ',"\r\n'):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def csv_line(cells: Sequence[str], newline: str = "\n", quote_all: bool = False) -> str:
    """One record, with its line ending. A record of one empty cell is written ``""``."""
    if len(cells) == 1 and cells[0] == "":
        return '""' + newline
    return ",".join(csv_cell(c, quote_all) for c in cells) + newline


def csv_text(header: Sequence[str], rows: Sequence[Sequence[str]], newline: str = "\n",
             quote_all: bool = False) -> str:  # fmt: skip
    """A CSV document, quoting only when needed (or every cell)."""
    return "".join(csv_line(r, newline, quote_all) for r in [header, *rows])


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    """Write ``header`` and ``rows`` as a UTF-8 CSV file at ``path``."""
    path.write_text(csv_text(header, rows), encoding="utf-8", newline="")
    return path


def write_raw(path: Path, data: str | bytes) -> Path:
    """Write exact text (UTF-8, no newline translation) or bytes to ``path``."""
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def write_gz(path: Path, data: str) -> Path:
    """Write ``data`` gzip-compressed (UTF-8) to ``path``."""
    path.write_bytes(gzip.compress(data.encode("utf-8")))
    return path


def cio(*args: str | Path, input: bytes | str | None = None,
        env: dict[str, str | None] | None = None) -> Result:  # fmt: skip
    """Run ``cio ARGS`` in-process; fail on a crash (an exception that is not an exit)."""
    result = CliRunner().invoke(app, [str(a) for a in args], input=input, env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert result.exc_info is not None
        trace = "".join(traceback.format_exception(*result.exc_info))
        pytest.fail(f"cio {' '.join(map(str, args))} crashed:\n{trace}\nstderr:\n{result.stderr}")
    return result


def summary(result: Result) -> dict[str, Any]:
    """The ``--json`` object: stdout must hold exactly one JSON object and nothing else."""
    lines = result.stdout.splitlines()
    assert len(lines) == 1, f"stdout should be one JSON line, got {result.stdout!r}"
    obj = json.loads(lines[0])
    assert isinstance(obj, dict)
    return obj


def read_rejects(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows of a rejects file (UTF-8 CSV)."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [dict(zip(header, rec, strict=True)) for rec in reader]
    return header, rows


def read_out(path: Path) -> list[dict[str, Any]]:
    """Every line of an ``--out`` file, parsed."""
    raw = path.read_bytes()
    assert raw == b"" or raw.endswith(b"\n"), "every --out line ends with a newline"
    return [json.loads(line) for line in raw.splitlines()]


def ops_of(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The v2 batch ops of an ``--out`` file, in order (v1 lines left out)."""
    return [op for line in lines if "batch" in line for op in line["batch"]]


def assert_accounting(s: dict[str, Any]) -> None:
    """The invariant of a finished run: every row is exactly one of four things."""
    assert s["rows"] == s["sent"] + s["duplicates"] + s["rejected"] + s["skipped_recent"], s


@dataclass
class Outcome:
    """One ``cio import --dry-run --json --out`` (or ``validate --json``) run, read back."""

    result: Result
    summary: dict[str, Any]
    rejects: list[dict[str, str]] = field(default_factory=list)
    rejects_header: list[str] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    out_bytes: bytes = b""

    @property
    def code(self) -> int:
        """The exit code."""
        return self.result.exit_code

    @property
    def ops(self) -> list[dict[str, Any]]:
        """The v2 ops of every batch body, in order."""
        return ops_of(self.lines)

    @property
    def reasons(self) -> dict[int, str]:
        """``_cio_error`` by ``_cio_row`` (as an int)."""
        return {int(r["_cio_row"]): r["_cio_error"] for r in self.rejects}


def dry_run(path: Path, *flags: str, command: str = "import") -> Outcome:
    """Run ``cio import PATH --dry-run --json --out`` (or ``validate PATH --json``)."""
    out = path.with_name(path.name + ".out.ndjson")
    rejects = path.with_name(path.name + ".rejects.csv")
    if command == "import":
        result = cio("import", path, "--dry-run", "--json", "--out", out, *flags)
    else:
        result = cio("validate", path, "--json", *flags)
    assert result.exit_code in (0, 1), (result.exit_code, result.stdout, result.stderr)
    s = summary(result)
    anonymous = "_cio_anonymous_id" in path.read_bytes().split(b"\n", 1)[0].decode("utf-8", "replace")
    uuids = {"uuid_ids"} if s.get("uuid_ids") else set()  # only when a _cio_id was a UUID
    uuids |= {"identifiers"} if "per-row" in flags else set()  # only with --identifier per-row
    assert set(s) == SUMMARY_KEYS | ({"anonymous"} if anonymous else set()) | uuids
    assert_accounting(s)
    outcome = Outcome(result, s)
    if rejects.exists():
        outcome.rejects_header, outcome.rejects = read_rejects(rejects)
    if command == "import":
        outcome.out_bytes = out.read_bytes()
        outcome.lines = read_out(out)
    return outcome


def check_rows(tmp_path: Path, header: Sequence[str], rows: Sequence[Sequence[str]],
               *flags: str, command: str = "import") -> Outcome:  # fmt: skip
    """Write a CSV of ``rows`` and dry-run it; see ``dry_run``."""
    return dry_run(write_csv(tmp_path / "events.csv", header, rows), *flags, command=command)


def is_ulid(text: str) -> bool:
    """A canonical (upper-case Crockford base32) ULID."""
    return len(text) == 26 and text[0] in "01234567" and set(text) <= ULID_CHARS


@contextmanager
def block_bytes(size: int) -> Iterator[list[int]]:
    """Make ``cio`` read its input in blocks of ``size`` bytes, so files span many chunks.

    Yields a list that receives, per pass over a file, how many record runs (chunks)
    the reader produced, so a test can check that chunking really happened.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(source, "BLOCK_BYTES", size)
        cls = source.CsvSource
        original_init: Callable[..., None] = cls.__init__
        original_bodies: Callable[..., Iterator[Any]] | None = getattr(cls, "bodies", None)
        counts: list[int] = []

        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            original_init(self, *args, **kwargs)
            if hasattr(self, "block_bytes"):
                self.block_bytes = size

        mp.setattr(cls, "__init__", init)
        if original_bodies is not None:
            wrapped_bodies = original_bodies

            def bodies(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
                counts.append(0)
                for body in wrapped_bodies(self, *args, **kwargs):
                    counts[-1] += 1
                    yield body

            mp.setattr(cls, "bodies", bodies)
        yield counts


@contextmanager
def csv_module_only() -> Iterator[None]:
    """Make polars refuse every chunk, so ``cio`` parses every chunk with the csv module."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise pl.exceptions.ComputeError("refused by the test: use the csv module")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pl, "read_csv", refuse)
        yield


def kill_after(proc: subprocess.Popen[Any], requests: Callable[[], int], count: int) -> None:
    """``kill -9`` ``proc`` once ``requests()`` (a server's count) reaches ``count``; it must
    still be running then (a run that ended first proves nothing)."""
    try:
        limit = time.monotonic() + 30
        while requests() < count:
            assert proc.poll() is None and time.monotonic() < limit, "no kill before the end"
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
