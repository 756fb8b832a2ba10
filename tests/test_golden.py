"""Golden test: ``cio import --dry-run --out`` and ``cio validate`` give the same bytes as before.

Issue 10 rebuilds the package and must change no behaviour. This test runs, like a user,
``cio import FILE --dry-run --out OUT --json`` (and ``cio validate FILE --json``) on every
file in ``sample_csvs/`` (with the flags its README row suggests) and on a generated file of
100,000 rows with every kind of column (``tests/golden/generate.py``, seeded, no clock), and
compares with what the code wrote at commit 2001da7 (``tests/golden/golden.json``):

- the exit code and the ``--json`` summary (keys in the same order), less ``duration_s`` and
  ``events_per_s``;
- every file the run wrote (the ``--out`` file, each rejects file), byte for byte: small
  files are kept whole under ``tests/golden/files/<case>/`` (a failure shows the diff),
  large ones as SHA-256 and size.

Re-record only when a behaviour change is intended, and say so in the commit:

    python tests/golden/record.py            # every case
    python tests/golden/record.py CASE...    # some cases (names as in golden.json)

then review ``git diff tests/golden/``: it shows exactly which outputs changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import chdir
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli_support import cio
from tests.golden.generate import write_inputs

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_csvs"
GOLDEN = Path(__file__).resolve().parent / "golden"
GOLDEN_JSON = GOLDEN / "golden.json"
GOLDEN_FILES = GOLDEN / "files"
WHOLE_MAX = 64 * 1024  # files up to this size are kept whole
VOLATILE = ("duration_s", "events_per_s")
OUT = "out.ndjson"
NO_CIO_ENV: dict[str, str | None] = dict.fromkeys(
    ("CIO_SITE_ID", "CIO_API_KEY", "CIO_REGION", "CIO_BASE_URL"), None
)
GENERATED = ("events_ids.csv", "events_emails.csv.gz")


@dataclass(frozen=True)
class Case:
    """One run of ``cio``: the command, its input files (``-`` = stdin) and its flags."""

    name: str
    command: str
    files: tuple[str, ...]
    flags: tuple[str, ...] = ()
    stdin: str | None = None  # the file fed on stdin, when ``files`` is ``("-",)``

    @property
    def argv(self) -> list[str]:
        """The arguments after ``cio``."""
        if self.command == "import":
            return ["import", *self.files, "--dry-run", "--out", OUT, "--json", *self.flags]
        return ["validate", *self.files, "--json", *self.flags]

    @property
    def generated(self) -> bool:
        """Whether the case reads the generated files (not ``sample_csvs/``)."""
        return any(f in GENERATED for f in self.files)


# sample_csvs/warehouse_export.toml as flags (the case runs in a folder of its own)
WAREHOUSE_FLAGS = ("--map", "event_name=_cio_name", "--map", "user_id=_cio_customer_id",
                   "--map", "occurred_at=_cio_timestamp", "--null-value", "NULL",
                   "--null-value", "\\N", "--type", "properties=json")  # fmt: skip

SAMPLE_RUNS: list[tuple[str, str, tuple[str, ...], bool]] = [
    # (case name, sample file, flags, import only)
    ("clean_backfill", "clean_backfill.csv", (), False),
    ("clean_backfill_gz", "clean_backfill.csv.gz", (), False),
    ("crlf_bom_multiline", "crlf_bom_multiline.csv", (), False),
    ("emails", "emails.csv", (), False),
    ("header_typo", "header_typo.csv", (), False),
    ("iso_and_ms_timestamps", "iso_and_ms_timestamps.csv", (), False),
    ("mixed_identifiers", "mixed_identifiers.csv", (), False),
    ("mixed_identifiers_id", "mixed_identifiers.csv", ("--identifier", "id"), False),
    ("mixed_identifiers_email", "mixed_identifiers.csv", ("--identifier", "email"), False),
    ("recent_no_timestamp", "recent_no_timestamp.csv", (), False),
    ("recent_no_timestamp_skip", "recent_no_timestamp.csv", ("--skip-recent",), True),
    ("row_errors", "row_errors.csv", (), False),
    ("row_errors_semantic", "row_errors.csv", ("--allow-semantic",), False),
    ("row_errors_utc", "row_errors.csv", ("--assume-tz", "UTC"), False),
    ("typed_columns", "typed_columns.csv", (), False),
    ("typed_columns_meta_json", "typed_columns.csv", ("--type", "meta=json"), False),
    ("typed_columns_strings", "typed_columns.csv", ("--types", "string"), False),
    ("unclosed_quote", "unclosed_quote.csv", (), False),
    ("warehouse_export", "warehouse_export.csv", WAREHOUSE_FLAGS, False),
]

CASES: list[Case] = [
    *(Case(f"import_{n}", "import", (f,), flags) for n, f, flags, _ in SAMPLE_RUNS),
    *(
        Case(f"validate_{n}", "validate", (f,), flags)
        for n, f, flags, only in SAMPLE_RUNS
        if not only
    ),
    Case(
        "import_stdin_row_errors",
        "import",
        ("-",),
        ("--rejects", "stdin.rejects.csv"),
        stdin="row_errors.csv",
    ),
    Case("import_generated", "import", GENERATED, ("--type", "meta=json")),
    Case(
        "import_generated_emails_small_batches",
        "import",
        GENERATED[1:],
        ("--type", "meta=json", "--skip-recent", "--batch-bytes", "20000"),
    ),
    Case("validate_generated_emails", "validate", GENERATED[1:], ("--type", "meta=json")),
]


def digest(data: bytes) -> dict[str, Any]:
    """SHA-256 and size of some bytes."""
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def stage(case: Case, folder: Path, generated: Path) -> bytes | None:
    """Copy the case's inputs into ``folder``; return the stdin bytes, if any."""
    folder.mkdir(parents=True)
    for name in case.files:
        if name != "-":
            source = generated / name if case.generated else SAMPLES / name
            shutil.copyfile(source, folder / name)
    return None if case.stdin is None else (SAMPLES / case.stdin).read_bytes()


def invoke(case: Case, folder: Path, stdin: bytes | None, process: bool) -> tuple[int, str]:
    """Run ``cio`` in ``folder`` (in-process, or as ``python -m cio_cli``): exit code, stdout."""
    if process:
        env = {k: v for k, v in os.environ.items() if k not in NO_CIO_ENV}
        cmd = [sys.executable, "-m", "cio_cli", *case.argv]
        done = subprocess.run(cmd, cwd=folder, input=stdin or b"", capture_output=True, env=env)
        return done.returncode, done.stdout.decode("utf-8")
    with chdir(folder):
        result = cio(*case.argv, input=stdin, env=NO_CIO_ENV)
    return result.exit_code, result.stdout


def run(
    case: Case, folder: Path, generated: Path, process: bool = False
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Run the case in ``folder``: its record (as in golden.json) and the files it wrote."""
    stdin = stage(case, folder, generated)
    before = {p.name for p in folder.iterdir()}
    code, stdout = invoke(case, folder, stdin, process)
    lines = stdout.splitlines()
    assert len(lines) == 1, f"stdout should be one JSON line: {stdout!r}"
    summary = {k: v for k, v in json.loads(lines[0]).items() if k not in VOLATILE}
    written = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name not in before}
    record = {
        "argv": case.argv,
        "stdin": case.stdin,
        "exit_code": code,
        "summary": summary,
        "written": {name: digest(data) for name, data in written.items()},
    }
    return record, written


def load_golden() -> dict[str, Any]:
    """The recorded cases, by name."""
    golden: dict[str, Any] = json.loads(GOLDEN_JSON.read_text(encoding="utf-8"))
    return golden


def as_text(data: bytes) -> str:
    """Bytes shown for a diff (invalid UTF-8 escaped, line endings kept visible)."""
    return data.decode("utf-8", errors="backslashreplace").replace("\r", "\\r")


def compare(case: Case, record: dict[str, Any], written: dict[str, bytes]) -> None:
    """Fail with a readable difference when the run differs from the recorded one."""
    expected = load_golden()["cases"][case.name]
    assert record["argv"] == expected["argv"], "the case changed: re-record it"
    assert record["exit_code"] == expected["exit_code"], record["summary"]
    assert record["summary"] == expected["summary"]
    same_order = json.dumps(record["summary"]) == json.dumps(expected["summary"])
    assert same_order, "the --json summary's keys come in another order"
    assert sorted(written) == sorted(expected["written"]), "a different set of files written"
    for name, data in written.items():
        whole = GOLDEN_FILES / case.name / name
        if whole.exists():
            assert as_text(data) == as_text(whole.read_bytes()), f"{case.name}: {name} differs"
        assert digest(data) == expected["written"][name], f"{case.name}: {name} differs"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The generated inputs, written once for the module."""
    folder = tmp_path_factory.mktemp("generated")
    write_inputs(folder)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_generated_inputs_are_the_recorded_ones(generated: Path) -> None:
    """The generator still writes the inputs the golden data was recorded from."""
    inputs = load_golden()["generated_inputs"]
    for name in GENERATED:
        got = digest((generated / name).read_bytes())
        assert got == inputs[name], f"{name} changed: the generator, not cio, differs"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_same_output_as_recorded(case: Case, generated: Path, tmp_path: Path) -> None:
    """The exit code, ``--json`` summary and every written file are as recorded."""
    record, written = run(case, tmp_path / "run", generated)
    compare(case, record, written)


PROCESS_CASES = ["import_row_errors", "import_stdin_row_errors", "validate_header_typo"]


@pytest.mark.parametrize("name", PROCESS_CASES)
def test_same_output_as_a_process(name: str, generated: Path, tmp_path: Path) -> None:
    """``python -m cio_cli`` (a real process, real pipes) gives the recorded output too."""
    case = next(c for c in CASES if c.name == name)
    record, written = run(case, tmp_path / "run", generated, process=True)
    compare(case, record, written)


def test_every_case_is_recorded() -> None:
    """golden.json holds exactly the cases above (none forgotten, none stale)."""
    assert sorted(load_golden()["cases"]) == sorted(c.name for c in CASES)


def record(names: list[str], work: Path) -> None:
    """Re-run the cases (all, or those named) and write their golden data."""
    chosen = [c for c in CASES if not names or c.name in names]
    unknown = set(names) - {c.name for c in chosen}
    assert not unknown, f"no such case: {sorted(unknown)}"
    generated = work / "generated"
    generated.mkdir()
    write_inputs(generated)
    keep = bool(names) and GOLDEN_JSON.exists()  # some cases: keep the others
    golden = load_golden() if keep else {"cases": {}}
    golden["generated_inputs"] = {n: digest((generated / n).read_bytes()) for n in GENERATED}
    for case in chosen:
        rec, written = run(case, work / case.name, generated)
        golden["cases"][case.name] = rec
        shutil.rmtree(GOLDEN_FILES / case.name, ignore_errors=True)
        for name, data in written.items():
            if len(data) <= WHOLE_MAX:
                (GOLDEN_FILES / case.name).mkdir(parents=True, exist_ok=True)
                (GOLDEN_FILES / case.name / name).write_bytes(data)
        print(f"{case.name}: exit {rec['exit_code']}, wrote {sorted(written)}")
    golden["cases"] = dict(sorted(golden["cases"].items()))
    text = json.dumps(golden, indent=1, ensure_ascii=False) + "\n"  # key order kept
    GOLDEN_JSON.write_text(text, encoding="utf-8")
