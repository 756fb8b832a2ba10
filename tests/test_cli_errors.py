"""Issue 10 item 4, one way out: every command reports an error the same way.

People read ``error: MESSAGE`` then ``hint: HINT`` (when there is one) on stderr; with
``--json`` stdout holds the command's one object, with ``exit_code``, ``error`` and ``hint``
(``""`` when there is none). That holds for Ctrl-C and SIGTERM too, whatever the command.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli_support import BASE, SUMMARY_KEYS, cio, old, summary, write_csv
from tests.fakecio import FakeCio

NO_CREDENTIALS: dict[str, str | None] = {
    "CIO_SITE_ID": None, "CIO_API_KEY": None, "CIO_REGION": None, "CIO_BASE_URL": None,
}  # fmt: skip
SEND_KEYS = {"command", "sent", "dry_run", "path", "id", "status", "recent", "exit_code"}
CHECK_KEYS = {"command", "ok", "region", "expected_region", "url", "environment_id", "exit_code"}
CREDENTIALS = "missing credentials: --site-id or CIO_SITE_ID, and --api-key or CIO_API_KEY"
TIMEOUT = "--timeout must be above 0 and at most 600 seconds"


def _cases(tmp_path: Path) -> list[tuple[list[str], int, str, set[str]]]:
    """(arguments, exit code, error, keys of the object) for a failing run of each command."""
    csv = write_csv(tmp_path / "e.csv", BASE, [["purchase", "u1", str(old()), "gold"]])
    return [
        (["validate", str(tmp_path / "none.csv")], 2, f"no such file: {tmp_path / 'none.csv'}",
         SUMMARY_KEYS),
        (["import", str(csv)], 2, CREDENTIALS, SUMMARY_KEYS),
        (["send-event", "--person", "u1", "--name", "x", "--timeout", "0"], 2, TIMEOUT, SEND_KEYS),
        (["send-event", "--person", "u1", "--name", ""], 3, "the event name is empty", SEND_KEYS),
        (["check", "--timeout", "0"], 2, TIMEOUT, CHECK_KEYS),
        (["check"], 2, CREDENTIALS, CHECK_KEYS),
    ]  # fmt: skip


@pytest.mark.parametrize("case", range(6))
def test_every_command_reports_an_error_one_way(tmp_path: Path, case: int) -> None:
    args, code, error, keys = _cases(tmp_path)[case]
    human = cio(*args, env=NO_CREDENTIALS)
    assert human.exit_code == code
    assert human.stdout == ""
    lines = human.stderr.splitlines()
    at = lines.index(f"error: {error}")
    hint = lines[at + 1].removeprefix("hint: ") if at + 1 < len(lines) else ""
    assert lines[at + 1 :] == ([f"hint: {hint}"] if hint else [])

    machine = cio(*args, "--json", env=NO_CREDENTIALS)
    assert machine.exit_code == code
    assert f"error: {error}" in machine.stderr.splitlines()  # people still read it
    obj = summary(machine)
    assert set(obj) == keys | {"error", "hint"}
    assert (obj["exit_code"], obj["error"], obj["hint"]) == (code, error, hint)


def test_a_refused_event_is_reported_like_any_error(fake_cio: FakeCio) -> None:
    args = ["send-event", "--person", "u1", "--name", "api_reject", "--timestamp", str(old()),
            "--id", "01J00000000000000000000000", "--base-url", fake_cio.url,
            "--site-id", "site", "--api-key", "key"]  # fmt: skip
    human = cio(*args)
    assert human.exit_code == 1
    assert human.stderr.splitlines()[-2:] == [
        "error: Customer.io refused the event: rejected by fake server",
        "hint: fix the event, then send it again",
    ]
    obj = summary(cio(*args, "--json"))
    assert set(obj) == SEND_KEYS | {"error", "hint"}
    assert (obj["exit_code"], obj["status"]) == (1, 400)
    assert obj["hint"] == "fix the event, then send it again"


@pytest.mark.parametrize("command", ["send-event", "check"])
@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_sigterm_while_waiting_for_customerio(command: str, json_flag: list[str]) -> None:
    """SIGTERM while send-event or check waits for an answer: exit 143 with ``error:`` on
    stderr, as every command says it, and with --json the command's own object (not an
    import's summary) with ``error`` and ``hint``."""
    what = ["--person", "u1", "--name", "x", "--timestamp", str(old())]
    args = [command, *(what if command == "send-event" else []), *json_flag]
    env = {**os.environ, "CIO_SITE_ID": "site", "CIO_API_KEY": "key"}
    with FakeCio(delay=5) as fake:
        cmd = [sys.executable, "-m", "cio_cli", *args, "--base-url", fake.url, "--max-retries", "0"]
        with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
            deadline = time.monotonic() + 30
            while not fake._connections and time.monotonic() < deadline:
                time.sleep(0.02)
            assert fake._connections, "cio never asked the server"
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        assert proc.returncode == 143
    assert "error: terminated (SIGTERM)" in err.decode().splitlines()
    if not json_flag:
        assert out == b""
        return
    obj = json.loads(out)
    assert set(obj) == (SEND_KEYS if command == "send-event" else CHECK_KEYS) | {"error", "hint"}
    assert (obj["command"], obj["exit_code"]) == (command, 143)
    assert (obj["error"], obj["hint"]) == ("terminated (SIGTERM)", "")


@pytest.mark.parametrize("command", [["validate"], ["import", "--dry-run"]])
def test_sigterm_before_sending_says_error_like_the_rest(
    tmp_path: Path, command: list[str]
) -> None:
    """validate and import stopped early (here while spooling stdin) say ``error:`` too."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "cio_cli", *command, "-", "--quiet"]
    pipe = subprocess.PIPE
    with subprocess.Popen(cmd, cwd=tmp_path, env=env, stdin=pipe, stderr=pipe) as proc:
        assert proc.stdin is not None and proc.stderr is not None
        proc.stdin.write(("_cio_name,_cio_customer_id\n" + "x,u1\n" * 1000).encode())
        proc.stdin.flush()
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob("cio-stdin-*")) and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)  # the blocked read may return only once more input comes
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(b"x,u2\n")
            proc.stdin.close()
        assert proc.wait(timeout=30) == 143
        assert proc.stderr.read().decode().splitlines() == ["error: terminated (SIGTERM)"]
