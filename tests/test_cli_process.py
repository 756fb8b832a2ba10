"""The ``cio`` entry point as a process: what a CI job sees when streams are closed or it is
interrupted while reading standard input."""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakecio import FakeCio

HEADER = "_cio_name,_cio_customer_id,_cio_timestamp\n"
TYPO = "_cio_nmae,_cio_customer_id\nx,y\n"  # exit 3: unknown _cio_ column


def shell(cmd: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``cio`` (as ``python -m cio_cli``) through sh, so a test can close its streams."""
    cio = f"{sys.executable} -m cio_cli"
    return subprocess.run(
        ["sh", "-c", cmd.replace("cio ", cio + " ", 1)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_exit_code_survives_a_closed_stderr(tmp_path: Path) -> None:
    (tmp_path / "typo.csv").write_text(TYPO)
    assert shell("cio validate --quiet typo.csv", tmp_path).returncode == 3
    assert shell("cio validate --quiet typo.csv 2>&-", tmp_path).returncode == 3


def test_exit_code_survives_a_closed_stdout(tmp_path: Path) -> None:
    (tmp_path / "ok.csv").write_text(HEADER + "purchase,u1,1600000000\n")
    done = shell("cio validate --quiet ok.csv >&-", tmp_path)
    assert done.returncode == 0
    assert "Traceback" not in done.stderr


def _ctrl_c_allowed() -> None:
    """In the child: SIGINT as at a terminal, even when the suite runs with it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_while_spooling_stdin_leaves_no_file(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "cio_cli", "import", "-", "--dry-run", "--quiet"]
    with subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_ctrl_c_allowed,
    ) as proc:
        assert proc.stdin is not None
        proc.stdin.write((HEADER + "purchase,u1,1600000000\n" * 1000).encode())
        proc.stdin.flush()
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob("cio-stdin-*")) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert list(tmp_path.glob("cio-stdin-*")), "cio never started spooling stdin"
        proc.send_signal(signal.SIGINT)
        # With polars loaded the signal may land on one of its threads, so the blocked read
        # only returns (and the interrupt only takes effect) once more input comes.
        time.sleep(0.2)
        with contextlib.suppress(BrokenPipeError):  # it may have stopped already: fine
            proc.stdin.write(b"purchase,u2,1600000000\n")
            proc.stdin.close()
        assert proc.wait(timeout=30) == 130
    assert list(tmp_path.glob("cio-stdin-*")) == []


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_sigterm_while_reading_exits_143_and_leaves_no_file(
    tmp_path: Path, json_flag: list[str]
) -> None:
    """Issue 9 item 20: SIGTERM before sending (here while spooling stdin) stops as Ctrl-C
    does there, cleaning up, and exits 143 instead of dying on the signal; with --json the
    CI job still gets its one object on stdout."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "cio_cli", "import", "-", "--dry-run", "--quiet", *json_flag]
    with subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:  # fmt: skip
        assert proc.stdin is not None and proc.stderr is not None and proc.stdout is not None
        proc.stdin.write((HEADER + "purchase,u1,1600000000\n" * 1000).encode())
        proc.stdin.flush()
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob("cio-stdin-*")) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert list(tmp_path.glob("cio-stdin-*")), "cio never started spooling stdin"
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)  # as for Ctrl-C, the blocked read may return only once input comes
        with contextlib.suppress(BrokenPipeError):  # or cio has already gone
            proc.stdin.write(b"purchase,u2,1600000000\n")
            proc.stdin.close()
        assert proc.wait(timeout=30) == 143
        assert "terminated" in proc.stderr.read().decode()
        out = proc.stdout.read().decode()
    if json_flag:
        obj = json.loads(out)
        assert (obj["exit_code"], obj["error"], obj["command"]) == (143, "terminated (SIGTERM)", "import")
    else:
        assert out == ""
    assert list(tmp_path.glob("cio-stdin-*")) == []


# -- output files ---------------------------------------------------------------------


@pytest.mark.parametrize(("bad_rows", "code"), [(0, 0), (1, 1)])
def test_a_closed_pipe_on_out_dev_stdout_ends_quietly_with_the_summary_code(
    tmp_path: Path, bad_rows: int, code: int
) -> None:
    """``cio import f.csv --dry-run --out /dev/stdout | head -1``: head leaves after a line."""
    rows = ",u,1600000000\n" * bad_rows + "".join(
        f"purchase,u{i},1600000000\n" for i in range(20_000)
    )
    (tmp_path / "big.csv").write_text(HEADER + rows)
    cmd = [sys.executable, "-m", "cio_cli", "import", "big.csv", "--dry-run", "--quiet",
           "--out", "/dev/stdout"]  # fmt: skip
    with subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # as head -1 does: more than a pipe buffer is still to come
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == code, err
    assert first.startswith(b'{"batch":[{"type":"person"')
    assert "Traceback" not in err and "Exception ignored" not in err and "Broken" not in err
    assert re.search(rf"│ exit code +│ +{code} │", err), "the summary is printed"


def test_rejects_on_the_file_given_as_stdin_is_a_usage_error(tmp_path: Path) -> None:
    text = HEADER + "purchase,u1,1600000000\n,u2,1600000000\n"
    (tmp_path / "s.csv").write_text(text)
    done = shell("cio validate - --rejects s.csv < s.csv", tmp_path)
    assert done.returncode == 2, done.stderr
    assert "error: --rejects s.csv is the input file -\n" in done.stderr
    assert (tmp_path / "s.csv").read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv"]


@pytest.fixture
def user_dir(tmp_path: Path) -> Iterator[Callable[[bool], Path]]:
    """Make a directory the ``cio`` of ``as_user()`` can read, and write or not (read-only
    is mode 0555, which binds root too once ``as_user`` took away its power to ignore modes)."""
    made: list[Path] = []

    def make(writable: bool) -> Path:
        where = tmp_path / f"dir{len(made)}"
        where.mkdir()
        where.chmod(0o755 if writable else 0o555)
        made.append(where)
        return where

    yield make
    for where in made:
        where.chmod(0o755)


@pytest.fixture
def read_only_dir(user_dir: Callable[[bool], Path]) -> Path:
    """A directory the ``cio`` of ``as_user()`` can read but not write."""
    return user_dir(False)


# As root: stay root (the checkout and its venv may lie under a 0700 home directory that no
# other user can enter), but without the capabilities that override file modes, so that a
# mode of 0555 or 0444 stops root's cio as it stops anyone's (capabilities(7)).
NO_DAC = ["--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]


def as_user(args: list[str], cwd: Path, env: dict[str, str] | None = None,
            read_only: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run ``cio ARGS`` in ``cwd`` bound by file modes (as root: without the capabilities
    that override them), ``cwd`` made read-only first unless told not to."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot drop the power to write")
        prefix = [setpriv, *NO_DAC]
    if read_only:
        cwd.chmod(0o555)
    return subprocess.run([*prefix, sys.executable, "-m", "cio_cli", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip


def test_rejects_in_a_read_only_directory_is_a_usage_error(read_only_dir: Path) -> None:
    (read_only_dir / "s.csv").write_text(HEADER + "purchase,u1,1600000000\n")
    done = as_user(["validate", "s.csv", "--rejects", "r.csv", "--json"], read_only_dir)
    assert done.returncode == 2, done.stderr
    why = f"cannot write --rejects r.csv: Permission denied (the directory {read_only_dir})"
    assert f"error: {why}\nhint: give --rejects another path\n" in done.stderr
    assert '"exit_code":2,"error":"' + why + '","hint":"give --rejects another path"}' in done.stdout
    assert sorted(p.name for p in read_only_dir.iterdir()) == ["s.csv"]


def test_validate_of_a_read_only_directory_needs_no_rejects_until_a_row_is_rejected(
    read_only_dir: Path,
) -> None:
    (read_only_dir / "ok.csv").write_text(HEADER + "purchase,u1,1600000000\n")
    (read_only_dir / "bad.csv").write_text(HEADER + "purchase,,1600000000\n")
    assert as_user(["validate", "ok.csv", "--quiet"], read_only_dir).returncode == 0
    done = as_user(["validate", "bad.csv", "--quiet"], read_only_dir)
    assert done.returncode == 5, done.stderr
    assert ("error: cannot write the rejects file bad.csv.rejects.csv: Permission denied\n"
            in done.stderr)  # fmt: skip
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("flags", [[], ["--rejects", "/dev/null"]])
def test_a_journal_in_a_read_only_directory_stops_before_any_request(
    read_only_dir: Path, fake_cio: FakeCio, flags: list[str]
) -> None:
    """Named first, even before the rejects file beside it: --rejects alone is no way out."""
    (read_only_dir / "s.csv").write_text(HEADER + "purchase,u1,1600000000\n")
    env = {**os.environ, "CIO_SITE_ID": "site", "CIO_API_KEY": "key", "CIO_BASE_URL": fake_cio.url}
    done = as_user(["import", "s.csv", *flags, "--json"], read_only_dir, env)
    assert done.returncode == 2, done.stderr
    assert ("error: cannot write the journal s.csv.cio-journal: Permission denied "
            f"(the directory {read_only_dir})\nhint: the journal is kept beside the input:"
            " move the input to a directory you can write\n") in done.stderr  # fmt: skip
    assert fake_cio.requests == []


def test_a_journal_cio_cannot_append_to_stops_before_any_request(
    user_dir: Callable[[bool], Path], fake_cio: FakeCio
) -> None:
    """A journal left by another user (say, an earlier run under sudo): resuming would
    append to it."""
    where = user_dir(True)
    (where / "s.csv").write_text(HEADER + "purchase,u1,1600000000\n")
    journal = where / "s.csv.cio-journal"
    journal.write_text("H {}\n")
    journal.chmod(0o444)
    env = {**os.environ, "CIO_SITE_ID": "site", "CIO_API_KEY": "key", "CIO_BASE_URL": fake_cio.url}
    done = as_user(["import", "s.csv", "--json"], where, env, read_only=False)
    assert done.returncode == 2, done.stderr
    assert ("error: cannot write the journal s.csv.cio-journal: Permission denied\n"
            in done.stderr)  # fmt: skip
    assert fake_cio.requests == [] and journal.read_text() == "H {}\n"


def _file_size_limit(limit: int) -> Callable[[], None]:
    """In the child: files cannot grow past ``limit`` bytes (a write past it fails with
    EFBIG, as on a full disk), whoever runs the test."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_journal_write_failing_mid_run_stops_cleanly_and_the_rerun_resumes(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    rows = "".join(f"purchase,u{i},1600000000\n" for i in range(300))
    (tmp_path / "s.csv").write_text(HEADER + rows)
    env = {**os.environ, "CIO_SITE_ID": "site", "CIO_API_KEY": "key", "CIO_BASE_URL": fake_cio.url}
    cmd = [sys.executable, "-m", "cio_cli", "import", "s.csv", "--batch-bytes", "1000",
           "--json", "--quiet"]  # fmt: skip
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60, preexec_fn=_file_size_limit(400))  # fmt: skip
    assert done.returncode == 5, done.stderr
    assert "Traceback" not in done.stderr
    s = json.loads(done.stdout)
    assert s["error"] == "cannot write the journal s.csv.cio-journal: File too large"
    assert s["hint"].startswith("free some space or choose another path; then run the same")
    assert 0 < s["sent"] < 300
    assert len(fake_cio.events) == s["sent"], "the requests in flight were finished"
    again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    resumed = json.loads(again.stdout)["resumed"]
    assert 0 < resumed <= s["sent"], "the rows the journal kept are not sent again"
    assert {e["identifiers"]["id"] for e in fake_cio.events} == {f"u{i}" for i in range(300)}
    assert len(fake_cio.events) == 300 + s["sent"] - resumed, "only unjournalled rows twice"


def test_polars_allocator_is_set_up_unless_the_user_did() -> None:
    """``main`` gives polars' allocator one arena and a 1 s decay (docs/internals.md, "How it
    works") before polars loads; a value the user set is left alone."""
    from cio_cli import cli

    env: dict[str, str] = {}
    cli.set_allocator(env)
    assert env == {"_RJEM_MALLOC_CONF": "narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0"}
    mine = {"_RJEM_MALLOC_CONF": "narenas:4"}
    cli.set_allocator(mine)
    assert mine == {"_RJEM_MALLOC_CONF": "narenas:4"}
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, cio_cli.cli; print('polars' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout == "False\n"  # so the setting is in place when polars loads
