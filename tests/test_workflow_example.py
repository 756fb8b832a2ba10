"""SPEC section 9's workflow to copy (examples/github-actions-backfill.yml): it is the workflow
the docs promise (manual dispatch with the file or object URL, the API, a config file, the
recent-events choice and the rejected-rows threshold as inputs, credentials of either API from
secrets in the sending step only, cio from a pinned source the user sets, ``cio validate``
first, a matrix of shards with cached journals, rejects and the audit record uploaded), and
every ``cio`` command in its ``run:`` steps is accepted by the real CLI: each is run as the
job would run it (expressions and variables filled in) under ``GITHUB_ACTIONS=true`` against
the test server. On a file with a few invalid rows and recent events, within the threshold
the shards together store every valid event exactly once; above it, validate exits 1 and an
import sends nothing.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time
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
PIPELINES_KEY = "pipelines-key-from-secrets"
SECRETS = {"secrets.CIO_SITE_ID": SITE, "secrets.CIO_API_KEY": KEY,
           "secrets.CIO_PIPELINES_KEY": PIPELINES_KEY}  # fmt: skip
INPUTS = {"inputs.api": "track", "inputs.config": "", "inputs.recent": "skip",
          "inputs.max_rejected": "10%"}  # fmt: skip
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
            return SECRETS[expression]
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
    assert inputs["file"]["required"] is True and "URL" in inputs["file"]["description"]
    assert inputs["api"]["options"] == ["track", "pipelines"]
    assert inputs["recent"]["options"] == ["skip", "allow"]
    assert {"config", "max_rejected"} <= set(inputs)
    validate, imports = workflow["jobs"]["validate"], workflow["jobs"]["import"]
    assert imports["needs"] == "validate"
    assert imports["strategy"]["matrix"]["shard"] == [1, 2, 3, 4]
    (sending,) = [s for s in steps(imports) if str(s.get("run", "")).startswith("cio import")]
    names = ("CIO_SITE_ID", "CIO_API_KEY", "CIO_PIPELINES_KEY")
    assert sending["env"] == {name: f"${{{{ secrets.{name} }}}}" for name in names}
    others = [s for s in steps(imports) if s is not sending]
    assert "secrets." not in str(imports.get("env")) + str(others), "pip never sees a key"
    assert "secrets." not in str(validate) + str(workflow["env"]), "validation needs no credentials"
    runs = [str(s.get("run", "")) for s in steps(validate)]
    assert any(r.startswith("cio validate ") and "--max-rejected" in r for r in runs)
    assert "--max-rejected" in sending["run"] and '"$CIO_RECENT"' in sending["run"]
    install = [r for r in runs if "pip install" in r]
    assert install and "placeholder" in install[0]  # stops until CIO_PACKAGE is replaced
    package = str(workflow["env"]["CIO_PACKAGE"])
    assert package.startswith(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"] + " @ git+"
    )
    assert "@v" in package, "pinned to a tag"
    restore, save = uses(imports, "actions/cache/restore"), uses(imports, "actions/cache/save")
    assert len(restore) == len(save) == 1 and save[0]["if"] == "always()"
    assert restore[0]["with"]["path"] == save[0]["with"]["path"] == ".cio"
    assert str(imports["env"]["JOURNAL"]).startswith(".cio/")
    uploads = uses(imports, "actions/upload-artifact")
    assert uploads[0]["if"] == "always()"
    assert uploads[0]["with"]["path"].split() == ["**/*.rejects.*", "sent-shard-*.ndjson"]
    assert "${{ matrix.shard }}" in uploads[0]["with"]["name"]


def export(tmp_path: Path, invalid: int) -> tuple[Path, int]:
    """The sample file and, after it, ``invalid`` rows without a name and three recent
    events; and how many valid, old events it holds."""
    sample = tmp_path / "data" / "events.csv"
    sample.parent.mkdir(exist_ok=True)
    shutil.copy(SAMPLE, sample)
    want = dry_run(sample).summary["sent"]
    header = sample.read_text(encoding="utf-8").splitlines()[0].split(",")
    now = int(time.time())
    rows = [("", f"bad{i}", now - 30 * 86_400) for i in range(invalid)]
    rows += [("signup", f"new{i}", now - 3600) for i in range(3)]
    with open(sample, "a", encoding="utf-8") as f:
        for name, person, ts in rows:
            cells = {"_cio_name": name, "_cio_customer_id": person, "_cio_timestamp": str(ts)}
            f.write(",".join(cells.get(column, "") for column in header) + "\n")
    for stale in tmp_path.glob("data/*.rejects.csv"):
        stale.unlink()
    return sample, want


def read_input(job: dict[str, Any], file: str, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """Run the job's step that reads the file input, as the runner would (the dispatch's
    event in ``GITHUB_EVENT_PATH``): its log, and the variables it set (GITHUB_ENV and its
    outputs, as ``steps.file.outputs.NAME``)."""
    (step,) = [s for s in steps(job) if s.get("id") == "file"]
    event, env, out = tmp_path / "event.json", tmp_path / "github_env", tmp_path / "github_output"
    event.write_text(json.dumps({"inputs": {"file": file}}), encoding="utf-8")
    env.write_text("", encoding="utf-8")
    out.write_text("", encoding="utf-8")
    paths = {"GITHUB_EVENT_PATH": str(event), "GITHUB_ENV": str(env), "GITHUB_OUTPUT": str(out)}
    run = subprocess.run(["bash", "-e", "-c", step["run"]], env={"PATH": "/usr/bin:/bin"} | paths,
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    found = dict(line.split("=", 1) for line in env.read_text(encoding="utf-8").splitlines())
    for line in out.read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition("=")
        found[f"steps.file.outputs.{name}"] = value
    return run.stdout, found


def run_job(
    workflow: dict[str, Any], name: str, values: dict[str, str], more: dict[str, str | None]
) -> list[tuple[list[str], Any]]:
    """Run each ``cio`` command of job ``name`` as the runner would, under GitHub Actions,
    after the job's step that reads the file input."""
    job = workflow["jobs"][name]
    _, read = read_input(job, values["inputs.file"], Path.cwd())
    values = values | {k: v for k, v in read.items() if k.startswith("steps.")}
    ran = []
    start = job_env(workflow, job, values) | {"CIO_FILE": read["CIO_FILE"]}
    for command, env in cio_commands(job, start, values):
        full = {**env, "GITHUB_ACTIONS": "true", **more}
        ran.append((command, cio(*command, env=full)))
    return ran


@pytest.mark.parametrize("api", ["track", "pipelines"])
def test_every_cio_command_of_the_workflow_runs_as_the_job_runs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    """The validate job's command, then each shard's import against the test server, on a
    file with 3 invalid rows (10% of its 37 rows allows 3) and 3 recent events: none is a usage error,
    each exits 0, and the shards store every valid event once between them."""
    monkeypatch.chdir(tmp_path)
    sample, want = export(tmp_path, invalid=3)
    assert dry_run(sample).summary["rows"] == 37
    workflow = load()
    values = INPUTS | {"inputs.file": "data/events.csv", "inputs.api": api}
    step = tmp_path / "step.md"
    github = {"GITHUB_STEP_SUMMARY": str(step), "CIO_REGION": None}
    ((check, result),) = run_job(workflow, "validate", values, github)
    assert check[0] == "validate" and "--max-rejected" in check
    assert result.exit_code == 0, (check, result.stdout, result.stderr)
    with FakeCio(SITE, KEY, pipelines_key=PIPELINES_KEY) as fake:
        for shard in workflow["jobs"]["import"]["strategy"]["matrix"]["shard"]:
            shard_values = values | {"matrix.shard": str(shard)}
            ((command, result),) = run_job(
                workflow, "import", shard_values, github | {"CIO_BASE_URL": fake.url}
            )
            assert command[0] == "import" and "--skip-recent" in command
            assert result.exit_code == 0, (command, result.stdout, result.stderr)
            env = job_env(workflow, workflow["jobs"]["import"], shard_values)
            assert Path(env["JOURNAL"]).is_file(), "the journal is where the cache looks"
            assert Path(env["SENT"]).is_file(), "the audit record is where the upload looks"
        ids = [e["id"] for e in fake.events]
    assert len(ids) == len(set(ids)) == want
    assert all(e.get("api", "track") == api for e in fake.events)
    text = step.read_text(encoding="utf-8")
    assert "### cio validate `data/events.csv`" in text
    assert "### cio import `data/events.csv` (shard 4/4)" in text
    assert text.count("**within**") == 5


def test_above_the_threshold_validate_stops_the_workflow_and_import_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    sample, _ = export(tmp_path, invalid=8)
    workflow = load()
    values = INPUTS | {"inputs.file": "data/events.csv"}
    github = {"GITHUB_STEP_SUMMARY": str(tmp_path / "step.md"), "CIO_REGION": None}
    ((_, result),) = run_job(workflow, "validate", values, github)
    assert result.exit_code == 1, result.stderr
    with FakeCio(SITE, KEY) as fake:
        ((_, result),) = run_job(
            workflow, "import", values | {"matrix.shard": "1"}, github | {"CIO_BASE_URL": fake.url}
        )
        assert fake.requests == []
    assert result.exit_code == 1 and "error: nothing sent: 8 of " in result.stderr


def test_the_docs_show_the_same_workflow() -> None:
    """The workflow users read in docs/ci.md is the file, byte for byte, and the README sends
    them to both."""
    text = (ROOT / "examples" / "github-actions-backfill.yml").read_text(encoding="utf-8")
    shown = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    assert f"```yaml\n{text.rstrip()}\n```" in shown
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`examples/github-actions-backfill.yml`" in readme and "(docs/ci.md)" in readme


SIGNED = "https://bucket.s3.amazonaws.com/export/events.csv?X-Amz-Credential=AKIAX&X-Amz-Signature=sig0secret"


@pytest.mark.parametrize("job", ["validate", "import"])
def test_a_signed_url_as_the_file_is_masked_before_any_log_shows_it(
    tmp_path: Path, job: str
) -> None:
    """The file input reaches no env block, cache key or concurrency group (each is printed
    in the run's log or listed on its pages); each job's first step reads it from the event,
    masks a URL's query and password, and the cache key takes a hash of it."""
    workflow = load()
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "inputs.file }}" not in text, "never an expression: it would be shown or cached"
    steps_of = steps(workflow["jobs"][job])
    assert steps_of[0].get("id") == "file"
    log, found = read_input(workflow["jobs"][job], SIGNED, tmp_path)
    assert "::add-mask::X-Amz-Credential=AKIAX&X-Amz-Signature=sig0secret" in log.splitlines()
    assert found["CIO_FILE"] == SIGNED
    assert re.fullmatch(r"[0-9a-f]{16}", found["steps.file.outputs.key"])
    log, found = read_input(workflow["jobs"][job], "s3://user:pw0secret@bucket/x.csv", tmp_path)
    assert log.splitlines() == ["::add-mask::user:pw0secret"]
    log, found = read_input(workflow["jobs"][job], "data/events@2024.csv", tmp_path)
    assert log == "" and found["CIO_FILE"] == "data/events@2024.csv"


def test_a_file_that_looks_like_an_option_stays_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file input such as ``--help`` is a missing file (exit 2), never an option that
    lets validate pass and the shards import nothing."""
    monkeypatch.chdir(tmp_path)
    values = INPUTS | {"inputs.file": "--help"}
    github = {"GITHUB_STEP_SUMMARY": str(tmp_path / "step.md"), "CIO_REGION": None}
    ((_, result),) = run_job(load(), "validate", values, github)
    assert result.exit_code == 2 and "no such file: --help" in result.stderr
