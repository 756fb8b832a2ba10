"""What a plan does, read from the plan itself (issue 10, item 5), and the one ``Sink``
that the dry run and the HTTP sender both are."""

from __future__ import annotations

import inspect

import pytest

from cio_cli.check.contract import ReadOptions
from cio_cli.importer.emit import Sink
from cio_cli.importer.plan import ImportPlan
from cio_cli.send.dry_run import DryRunSink


@pytest.mark.parametrize(
    ("plan", "sends"),
    [
        (ImportPlan("validate", ["a.csv"], ReadOptions()), False),
        (ImportPlan("import", ["a.csv"], ReadOptions(), dry_run=True), False),
        (ImportPlan("import", ["a.csv"], ReadOptions(), dry_run=False), True),
    ],
    ids=["validate", "import --dry-run", "import"],
)
def test_a_plan_says_whether_it_sends_and_journals(plan: ImportPlan, sends: bool) -> None:
    assert plan.sends is sends
    assert plan.writes_journal is sends
    assert plan.asks_window is sends


@pytest.mark.parametrize("flag", ["allow_recent", "skip_recent"])
def test_a_plan_that_allows_or_skips_recent_events_does_not_ask(flag: str) -> None:
    plan = ImportPlan("import", ["a.csv"], ReadOptions(), dry_run=False)
    setattr(plan, flag, True)
    assert plan.sends and not plan.asks_window


def test_the_dry_run_and_the_http_sender_are_one_sink() -> None:
    from cio_cli.send.sender import HttpSink

    members = {"send", "drain", "interrupt", "close"}
    assert members <= {n for n, _ in inspect.getmembers(Sink, inspect.isfunction)}
    for cls in (DryRunSink, HttpSink):
        assert members <= set(dir(cls)), cls
    dry: Sink = DryRunSink(None)  # mypy (strict, over tests/) checks both against Sink
    dry.interrupt()
    dry.close()
    assert dry.journal is None
