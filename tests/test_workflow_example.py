"""SPEC section 9's workflow to copy (examples/github-actions-backfill.yml): it is the workflow
the docs promise (manual dispatch with the file as input, credentials from secrets,
``cio validate`` first, a matrix of shards with cached journals, rejects uploaded), and every
``cio`` command in its ``run:`` steps is accepted by the real CLI: each is run as the job
would run it (expressions and variables filled in) against the test server, and the shards
together store every event of the sample file exactly once.
"""

from __future__ import annotations

import re
import shlex
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli_support import cio, dry_run
from tests.fakecio import FakeCio

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "examples" / "github-actions-backfill.yml"
SAMPLE = ROOT / "sample_csvs" / "clean_backfill.csv"
SITE, KEY = "site-from-secrets", "key-from-secrets"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load() -> dict[Any, Any]:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(workflow, dict)
    return workflow


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    found = job["steps"]
    assert isinstance(found, list)
    return found


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in steps(job) if str(s.get("uses", "")).startswith(action + "@")]


def fill(text: str, values: dict[str, str]) -> str:
    """``${{ expression }}`` replaced by a plausible value, as the runner would."""

    def one(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression in values:
            return values[expression]
        if expression.startswith("secrets."):
            return {"secrets.CIO_SITE_ID": SITE, "secrets.CIO_API_KEY": KEY}[expression]
        if expression.startswith("vars.CIO_REGION"):
            return "us"
        if expression.startswith("github."):
            return "1"
        raise AssertionError(f"no value for ${{{{ {expression} }}}}")

    return EXPRESSION.sub(one, text)


def cio_commands(
    job: dict[str, Any], env: dict[str, str], values: dict[str, str]
) -> list[tuple[list[str], dict[str, str]]]:
    """Each ``cio ...`` line of the job's ``run:`` steps as the shell would split it, with
    ``$VARIABLES`` from the workflow's, the job's and the step's ``env``; and that env."""
    out = []
    for step in steps(job):
        step_env = env | {k: fill(str(v), values) for k, v in (step.get("env") or {}).items()}
        for line in str(step.get("run", "")).splitlines():
            if not line.strip().startswith("cio "):
                continue
            words = shlex.split(fill(line, values))
            out.append(([expand(word, step_env) for word in words[1:]], step_env))
    return out


def expand(word: str, env: dict[str, str]) -> str:
    """``$NAME`` in a shell word replaced by its value in ``env``."""
    return re.sub(r"\$(\w+)", lambda m: env[m.group(1)], word)


def job_env(
    workflow: dict[str, Any], job: dict[str, Any], values: dict[str, str]
) -> dict[str, str]:
    merged = {**(workflow.get("env") or {}), **(job.get("env") or {})}
    return {k: fill(str(v), values) for k, v in merged.items()}


def test_the_workflow_has_what_the_readme_promises() -> None:
    workflow = load()
    trigger = workflow["on"] if "on" in workflow else workflow[True]  # YAML 1.1: `on` is true
    inputs = trigger["workflow_dispatch"]["inputs"]
    assert inputs["file"]["required"] is True
    validate, imports = workflow["jobs"]["validate"], workflow["jobs"]["import"]
    assert imports["needs"] == "validate"
    assert imports["strategy"]["matrix"]["shard"] == [1, 2, 3, 4]
    (sending,) = [s for s in steps(imports) if str(s.get("run", "")).startswith("cio import")]
    assert sending["env"]["CIO_SITE_ID"] == "${{ secrets.CIO_SITE_ID }}"
    assert sending["env"]["CIO_API_KEY"] == "${{ secrets.CIO_API_KEY }}"
    assert "secrets." not in str(imports.get("env")), "pip and the cache never see the key"
    assert "secrets." not in str(validate), "validation needs no credentials"
    runs = [str(s.get("run", "")) for s in steps(validate)]
    assert any(r.startswith("cio validate ") for r in runs)
    assert any("pip install" in r for r in runs + [str(s.get("run", "")) for s in steps(imports)])
    package = str(workflow["env"]["CIO_PACKAGE"])
    assert package.startswith(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    )
    restore, save = uses(imports, "actions/cache/restore"), uses(imports, "actions/cache/save")
    assert len(restore) == len(save) == 1 and save[0]["if"] == "always()"
    assert restore[0]["with"]["path"] == save[0]["with"]["path"] == ".cio"
    assert str(imports["env"]["JOURNAL"]).startswith(".cio/")
    uploads = uses(imports, "actions/upload-artifact")
    assert uploads[0]["if"] == "always()" and uploads[0]["with"]["path"] == "**/*.rejects.csv"
    assert "${{ matrix.shard }}" in uploads[0]["with"]["name"]


def test_every_cio_command_of_the_workflow_runs_as_the_job_runs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The validate job's command, then each shard's import against the test server: none is
    a usage error, and the shards store every event of the file once between them."""
    monkeypatch.chdir(tmp_path)
    sample = tmp_path / "data" / "events.csv"
    sample.parent.mkdir()
    shutil.copy(SAMPLE, sample)
    want = dry_run(sample).summary["sent"]
    for stale in tmp_path.glob("data/*.rejects.csv"):
        stale.unlink()
    workflow = load()
    validate, imports = workflow["jobs"]["validate"], workflow["jobs"]["import"]
    values = {"inputs.file": "data/events.csv"}
    ((check, _),) = cio_commands(validate, job_env(workflow, validate, values), values)
    assert check[0] == "validate"
    result = cio(*check)
    assert result.exit_code == 0, (check, result.stdout, result.stderr)
    with FakeCio(SITE, KEY) as fake:
        for shard in imports["strategy"]["matrix"]["shard"]:
            shard_values = values | {"matrix.shard": str(shard)}
            env = job_env(workflow, imports, shard_values)
            ((command, env),) = cio_commands(imports, env, shard_values)
            assert command[0] == "import"
            result = cio(*command, env={**env, "CIO_BASE_URL": fake.url, "CIO_REGION": None})
            assert result.exit_code != 2, (command, result.stderr)
            assert result.exit_code == 0, (command, result.stdout, result.stderr)
            assert Path(env["JOURNAL"]).is_file(), "the journal is where the cache looks"
        ids = [e["id"] for e in fake.events]
    assert len(ids) == len(set(ids)) == want


def test_the_docs_show_the_same_workflow() -> None:
    """The workflow users read in docs/ci.md is the file, byte for byte, and the README sends
    them to both."""
    text = (ROOT / "examples" / "github-actions-backfill.yml").read_text(encoding="utf-8")
    shown = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    assert f"```yaml\n{text.rstrip()}\n```" in shown
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`examples/github-actions-backfill.yml`" in readme and "(docs/ci.md)" in readme
