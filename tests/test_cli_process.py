"""The ``cio`` entry point as a process: what a CI job sees when streams are closed or it is
interrupted while reading standard input."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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
        proc.stdin.write(b"purchase,u2,1600000000\n")
        proc.stdin.close()
        assert proc.wait(timeout=30) == 130
    assert list(tmp_path.glob("cio-stdin-*")) == []


def test_sigterm_while_reading_exits_143_and_leaves_no_file(tmp_path: Path) -> None:
    """Issue 9 item 20: SIGTERM before sending (here while spooling stdin) stops as Ctrl-C
    does there, cleaning up, and exits 143 instead of dying on the signal."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "cio_cli", "import", "-", "--dry-run", "--quiet"]
    with subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdin=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdin is not None and proc.stderr is not None
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
    assert list(tmp_path.glob("cio-stdin-*")) == []
