"""What ``--help`` and ``--version`` show (issue 10, item 6): the choices of each choice
option, the options grouped in panels, readable metavars, the environment variable of each
credential option; and that reading those variables changed nothing a user sees."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cio_cli import __version__
from tests.cli_support import cio

PANELS = ("Input", "Safety", "Sending", "Credentials", "Output")
CREDENTIAL_VARS = ("CIO_SITE_ID", "CIO_API_KEY", "CIO_REGION", "CIO_BASE_URL")


@pytest.fixture(autouse=True)
def _no_cio_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CREDENTIAL_VARS:
        monkeypatch.delenv(name, raising=False)


def help_of(command: str) -> str:
    result = cio(command, "--help")
    assert result.exit_code == 0
    return result.stdout


def rows(text: str, option: str) -> str:
    """The row of ``option`` in a help panel, spaces squeezed (``--region [us|eu] ...``)."""
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        cells = line.strip("│ ").split()
        if cells and cells[0] == option:
            return " ".join(cells)
    raise AssertionError(f"{option} not in --help")


def test_version_prints_cio_and_the_version() -> None:
    result = cio("--version")
    assert (result.exit_code, result.stdout) == (0, f"cio {__version__}\n")
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    assert "--version" in cio("--help").stdout


@pytest.mark.parametrize("command", ["validate", "import"])
def test_help_shows_the_choices_of_each_choice_option(command: str) -> None:
    text = help_of(command)
    assert rows(text, "--identifier").startswith("--identifier [auto|id|email|per-row] ")
    assert rows(text, "--timestamp-unit").startswith("--timestamp-unit [auto|s|ms] ")
    assert rows(text, "--types").startswith("--types [auto|string] ")


@pytest.mark.parametrize("command", ["import", "send-event", "check"])
def test_help_shows_each_credential_option_with_its_variable(command: str) -> None:
    text = help_of(command)
    assert rows(text, "--region").startswith("--region [us|eu] ")
    for option, var in zip(("--site-id", "--api-key", "--region"), CREDENTIAL_VARS, strict=False):
        assert f"[env var: {var}]" in rows(text, option)
    assert "[env var: CIO_BASE_URL]" in text


def test_help_groups_the_options_in_panels() -> None:
    titles = {
        command: re.findall(r"╭─ (\w+) ─", help_of(command))
        for command in ("validate", "import", "send-event", "check")
    }
    assert titles["import"] == ["Arguments", "Options", *PANELS]
    assert titles["validate"] == ["Arguments", "Options", "Input", "Safety", "Output"]
    assert titles["send-event"] == ["Options", *PANELS]
    assert titles["check"] == ["Options", "Sending", "Credentials", "Output"]


def test_help_shows_readable_metavars() -> None:
    text = help_of("import")
    assert re.search(r"Usage: \S+ import \[OPTIONS\] FILE\.\.\. *\n", text)
    assert "list[str]" not in text and "<bool>" not in text and "<str>" not in text
    assert rows(text, "--out").startswith("--out FILE ")
    assert rows(text, "--timeout").startswith("--timeout SECONDS ")
    assert rows(text, "--dry-run").startswith("--dry-run Send nothing")
    assert rows(help_of("send-event"), "--id").startswith("--id ULID ")


def test_help_never_shows_a_credential_from_the_environment() -> None:
    env: dict[str, str | None] = {
        "CIO_SITE_ID": "site-7f3a",
        "CIO_API_KEY": "key-9c1e",
        "CIO_BASE_URL": "http://h:1",
    }
    for command in ("import", "send-event", "check"):
        text = cio(command, "--help", env=env).stdout
        assert "site-7f3a" not in text and "key-9c1e" not in text and "http://h:1" not in text


def test_a_wrong_choice_is_refused_in_cios_words_as_before(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("_cio_name,_cio_customer_id,_cio_timestamp\npurchase,u1,1600000000\n")
    for flag, value, choices in (
        ("--identifier", "ID", "auto|id|email|per-row"),
        ("--timestamp-unit", "sec", "auto|s|ms"),
        ("--types", "strings", "auto|string"),
    ):
        result = cio("validate", str(path), flag, value, "--json")
        assert result.exit_code == 2
        assert f"error: {flag} {value!r} is not one of {choices}" in result.stderr
        assert json.loads(result.stdout)["error"] == f"{flag} {value!r} is not one of {choices}"


def test_region_keeps_any_case_and_its_own_message() -> None:
    ok = cio("send-event", "--person", "u1", "--name", "x", "--region", " EU ", "--dry-run")
    assert ok.exit_code == 0
    bad = cio("send-event", "--person", "u1", "--name", "x", "--region", "mars", "--dry-run")
    assert bad.exit_code == 2
    assert "unknown region 'mars' (from --region)" in bad.stderr
    bad = cio(
        "send-event", "--person", "u1", "--name", "x", "--dry-run", env={"CIO_REGION": "mars"}
    )
    assert bad.exit_code == 2
    assert "unknown region 'mars' (from CIO_REGION)" in bad.stderr


def test_a_typed_region_still_beats_cio_base_url() -> None:
    """The contract's order: --base-url, --region, CIO_BASE_URL, CIO_REGION. A base URL that
    cannot be used in CIO_BASE_URL is never looked at when --region is typed."""
    env: dict[str, str | None] = {"CIO_BASE_URL": "ftp://nowhere"}
    args = ("send-event", "--person", "u1", "--name", "x", "--dry-run")
    assert cio(*args, "--region", "eu", env=env).exit_code == 0
    result = cio(*args, env=env)
    assert result.exit_code == 2
    assert "error: CIO_BASE_URL must be an http:// or https:// URL with a host" in result.stderr


def test_usage_errors_stay_plain_text() -> None:
    result = cio("import")
    assert result.exit_code == 2
    assert "Error: Missing argument 'files'." in result.stderr
    assert "╭" not in result.stderr


@pytest.mark.parametrize("command", ["validate", "import"])
def test_help_lists_cio_config_among_the_environment_variables(command: str) -> None:
    """Issue 22: each command's --help lists its environment variables; --config's is one."""
    environment = help_of(command).split("Environment:", 1)[1]
    line = next(row for row in environment.splitlines() if "CIO_CONFIG" in row)
    assert " ".join(line.split()) == "CIO_CONFIG a TOML file of long options (--config)"
