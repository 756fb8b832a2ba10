"""A fast start (issue 10): ``cio --help``, ``cio send-event`` and ``cio check`` never load
polars, which only ``validate`` and ``import`` need. Each command runs as a process, the way
a CI job calls it, with ``-X importtime`` listing every module it loaded."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import typer

from tests.fakecio import FakeCio


def run_cio(*args: str, env: dict[str, str] | None = None) -> tuple[int, set[str]]:
    """Exit code of ``python -X importtime -m cio_cli ARGS`` and the top packages it loaded."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CIO_")}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cio_cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean | (env or {}),
    )
    loaded = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "cio_cli" in loaded, done.stderr[-2000:]  # the listing is really there
    return done.returncode, loaded


@pytest.mark.parametrize(
    "args",
    [
        ("send-event", "--person", "u1", "--name", "x", "--dry-run"),
        ("check", "--help"),
        ("send-event", "--help"),
        ("--help",),
    ],
    ids=["send-event-dry-run", "check-help", "send-event-help", "help"],
)
def test_these_commands_never_load_polars(args: tuple[str, ...]) -> None:
    code, loaded = run_cio(*args)
    assert code == 0
    assert "polars" not in loaded


def test_sending_an_event_and_checking_never_load_polars(fake_cio: FakeCio) -> None:
    env = {"CIO_SITE_ID": "site", "CIO_API_KEY": "key", "CIO_BASE_URL": fake_cio.url}
    code, loaded = run_cio("send-event", "--person", "u1", "--name", "x", "--quiet", env=env)
    assert (code, "polars" in loaded, "httpx" in loaded) == (0, False, True)
    code, loaded = run_cio("check", env=env)
    assert (code, "polars" in loaded) == (0, False)
    assert [r.path for r in fake_cio.requests] == [
        "/api/v1/customers/u1/events",
        "/api/v1/accounts/region",
    ]


def test_a_dry_run_of_one_event_loads_no_http_client() -> None:
    code, loaded = run_cio("send-event", "--person", "u1", "--name", "x", "--dry-run")
    assert (code, "httpx" in loaded, "polars" in loaded) == (0, False, False)


def test_validate_still_loads_what_it_needs(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text("_cio_name,_cio_customer_id,_cio_timestamp\npurchase,u1,1600000000\n")
    code, loaded = run_cio("validate", "--quiet", str(path))
    assert (code, "polars" in loaded) == (0, True)


def test_sending_and_checking_through_pipelines_never_load_polars() -> None:
    with FakeCio(pipelines_key="pk") as fake:
        env = {"CIO_API": "pipelines", "CIO_PIPELINES_KEY": "pk", "CIO_BASE_URL": fake.url}
        code, loaded = run_cio("send-event", "--person", "u1", "--name", "x", "--quiet", env=env)
        assert (code, "polars" in loaded, "httpx" in loaded) == (0, False, True)
        code, loaded = run_cio("check", env=env)
        assert (code, "polars" in loaded) == (0, False)
        assert [r.path for r in fake.requests] == ["/v1/track", "/v1/batch"]


@pytest.mark.skipif(
    typer.__version__.split(".")[:2] != ["0", "29"],
    reason="cio bypasses pydantic through Typer 0.29's private coercion seam only",
)
def test_a_dry_run_of_one_event_loads_neither_pydantic_nor_python_ulid() -> None:
    """Typer coerces a value through pydantic (40-50 ms of a start) and python-ulid loads
    importlib.metadata: the values a command line gives, and a new ULID, need neither."""
    code, loaded = run_cio(
        "send-event", "--person", "u1", "--name", "x", "--dry-run", "--timeout", "5",
        "--max-retries", "3", "-d", "plan=pro", "--api", "track", "--region", "eu",
    )  # fmt: skip
    assert (code, "pydantic" in loaded, "ulid" in loaded) == (0, False, False)


@pytest.mark.skipif(
    typer.__version__.split(".")[:2] != ["0", "29"],
    reason="cio bypasses pydantic through Typer 0.29's private coercion seam only",
)
def test_an_import_dry_run_with_every_choice_left_at_its_default_loads_no_pydantic(
    tmp_path: Path,
) -> None:
    """The defaults of --kind, --identifier, --timestamp-unit and --types (choices) are
    their texts without Typer's coercion: pydantic was 40-50 ms of every import's start."""
    path = tmp_path / "e.csv"
    path.write_text("_cio_customer_id,_cio_name,_cio_timestamp\nu1,signup,1610000000\n")
    code, loaded = run_cio("import", str(path), "--dry-run", "--quiet", "--allow-recent")
    assert (code, "pydantic" in loaded) == (0, False)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--timeout", "5x", "Input should be a valid number, unable to parse string as a number"),
        ("--timeout", "1e2", ""),
        ("--max-retries", "1.5", "Input should be a valid integer, unable to parse string as an"),
        ("--max-retries", " 7 ", ""),
    ],
)
def test_a_value_typer_has_to_judge_still_gets_typers_word(
    flag: str, value: str, message: str
) -> None:
    """What the plain coercion does not take goes to Typer's own (and pydantic's words)."""
    done = subprocess.run(
        [sys.executable, "-m", "cio_cli", "send-event", "--person", "u1", "--name", "x",
         "--dry-run", flag, value],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == (2 if message else 0), done.stderr
    assert message in done.stderr


def test_a_uuid_id_is_the_ulid_python_ulid_makes_of_it() -> None:
    from ulid import ULID

    from cio_cli.check.event_flags import new_ulid, ulid_text

    for bits in (0, 1, 2**128 - 1, *(uuid.uuid4().int for _ in range(200))):
        assert ulid_text(bits) == str(ULID.from_int(bits))
    assert abs(ULID.from_str(new_ulid()).timestamp - time.time()) < 5
