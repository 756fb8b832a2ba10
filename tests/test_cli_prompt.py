"""The 72-hour window's prompt at a terminal (SPEC section 3, issue 22 item 5).

A real import with events in the window asks, when stdin and stderr are a terminal, whether
to send them: ``y`` sends them, ``n`` sends nothing (exit 4), ``s`` skips them exactly as
``--skip-recent`` does (the rest is sent, they go to the rejects file, exit 0). Each test
runs ``python -m cio_cli import`` on a pseudo-terminal, answers the prompt, and reads what
the fake Customer.io on 127.0.0.1 stored.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.cli_support import BASE, assert_accounting, old, read_rejects, recent, write_csv
from tests.fakecio import FakeCio

ROOT = Path(__file__).resolve().parent.parent
SKIPPED = (
    "skipped: no timestamp or one within the last 72 hours, so it can trigger campaigns;"
    " send it later with --allow-recent"
)
WAIT = 30.0


def at_a_terminal(tmp_path: Path, url: str, answer: str) -> tuple[int, str, str]:
    """``cio import`` of a file with 2 recent rows among 5, stdin and stderr on a pty, the
    prompt answered with ``answer``: (exit code, stdout, what the terminal showed)."""
    rows = [["e", f"u{i}", str(recent() if i in (1, 3) else old()), "p"] for i in range(5)]
    path = write_csv(tmp_path / "events.csv", BASE, rows)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIO_")}
    env |= {"PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "cio_cli", "import", str(path), "--base-url", url,
           "--site-id", "site", "--api-key", "key", "--json"]  # fmt: skip
    master, slave = pty.openpty()
    with subprocess.Popen(cmd, stdin=slave, stdout=subprocess.PIPE, stderr=slave, env=env,
                          cwd=tmp_path) as proc:  # fmt: skip
        os.close(slave)
        shown, answered = b"", False
        limit = time.monotonic() + WAIT
        while time.monotonic() < limit:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
            if not answered and b"[y/n/s]" in shown:
                os.write(master, answer.encode() + b"\n")
                answered = True
            if proc.poll() is not None and not ready or b"[y/n]" in shown:
                break
        if proc.poll() is None and not answered:
            proc.kill()  # a prompt without the s answer: nothing to answer
        out = proc.stdout.read().decode() if proc.stdout else ""
        code = proc.wait(timeout=WAIT)
    os.close(master)
    assert answered, shown.decode(errors="replace")
    return code, out, shown.decode(errors="replace")


def test_s_at_the_prompt_skips_the_recent_events_as_skip_recent(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    code, out, shown = at_a_terminal(tmp_path, fake_cio.url, "s")
    assert "Send these 2 event(s) now?" in shown
    assert "y = send them, n = send nothing, s = skip them" in shown
    assert code == 0, shown
    s = json.loads(out)
    assert (s["sent"], s["skipped_recent"], s["rejected"], s["exit_code"]) == (3, 2, 0, 0)
    assert_accounting(s)
    assert sorted(e["identifiers"]["id"] for e in fake_cio.events) == ["u0", "u2", "u4"]
    _, rows = read_rejects(tmp_path / "events.csv.rejects.csv")
    assert [(r["_cio_row"], r["_cio_error"]) for r in rows] == [("3", SKIPPED), ("5", SKIPPED)]


def test_n_at_the_prompt_sends_nothing(tmp_path: Path, fake_cio: FakeCio) -> None:
    code, out, shown = at_a_terminal(tmp_path, fake_cio.url, "N")
    assert code == 4, shown
    assert json.loads(out)["exit_code"] == 4 and fake_cio.events == []
