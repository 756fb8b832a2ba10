"""The progress display tells the truth (issue 14): phases named for what they do, each with
its total and percentage, counters as answers arrive, a recent rate, an ETA that moves, a
last line equal to the summary, plain lines worded for the mode, a line when sending stalls.

The display is rendered to a string with an injected clock (rich's Console on a StringIO).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from cio_cli.record import progress
from cio_cli.record.counts import Counts
from cio_cli.record.progress import ProgressDisplay
from tests.cli_support import BASE, cio, old, write_csv
from tests.fakecio import FakeCio


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def console(terminal: bool = False) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=160, highlight=False), out


def plain(
    total_rows: int | None = None, total_bytes: int = 1000
) -> tuple[ProgressDisplay, Clock, io.StringIO]:
    con, out = console()
    clock = Clock()
    return ProgressDisplay(con, "plain", total_bytes, total_rows, clock=clock), clock, out


def test_checking_counts_bytes_of_the_file_and_rows_per_second() -> None:
    shown, clock, _ = plain(total_bytes=4000)
    clock.now += 2
    shown.update("checking", 1000, Counts(rows=500))
    assert shown.line() == "checking 25%: 500 rows, 250 rows/s, 0 rejected, ETA 0:00:06"


def test_sending_counts_rows_handled_out_of_the_files_rows() -> None:
    shown, clock, _ = plain(total_rows=1000)
    counts = Counts(rows=1000)
    shown.update("sending", 1000, counts)  # the whole file read: sending is not done
    assert shown.line().startswith("sending 0%: 0 of 1,000 rows, 0 sent, 0 events/s")
    clock.now += 4
    counts.sent, counts.rejected, counts.retries = 200, 10, 3  # answers arrived, no chunk read
    assert shown.line() == (
        "sending 21%: 210 of 1,000 rows, 200 sent, 50 events/s, 10 rejected, 3 retries, ETA 0:00:15"
    )


def test_the_rate_is_over_a_recent_window_so_the_eta_moves() -> None:
    shown, clock, _ = plain(total_rows=10_000)
    counts = Counts(rows=10_000)
    shown.update("sending", 1000, counts)
    for _ in range(20):  # 100 events/s for 20 s
        clock.now += 1
        counts.sent += 100
        shown.line()
    assert "100 events/s" in shown.line() and "ETA 0:01:20" in shown.line()
    for _ in range(10):  # then 400 events/s
        clock.now += 1
        counts.sent += 400
        shown.line()
    assert "400 events/s" in shown.line() and "ETA 0:00:10" in shown.line()


def test_a_dry_run_never_says_sent() -> None:
    shown, clock, _ = plain(total_rows=100)
    clock.now += 1
    shown.update("checking", 1000, Counts(rows=100, sent=90, rejected=10))
    line = shown.line()
    assert (
        line == "checking 100%: 100 of 100 rows, 90 to send, 100 rows/s, 10 rejected, ETA 0:00:00"
    )
    assert "sent" not in line


def test_plain_lines_come_at_a_steady_interval_and_a_last_one_equals_the_end() -> None:
    shown, clock, out = plain(total_rows=300)
    counts = Counts(rows=300)
    with shown:
        shown.update("sending", 1000, counts)
        for _ in range(12):
            clock.now += 1
            counts.sent += 20
            shown.tick()
        counts.sent = 300
    lines = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == ["sending 33%", "sending 67%", "sending 100%"]
    assert lines[-1].startswith("sending 100%: 300 of 300 rows, 300 sent")


def test_no_plain_line_for_a_phase_that_ended_before_the_first_interval() -> None:
    shown, _, out = plain(total_rows=3)
    with shown:
        shown.update("sending", 1000, Counts(rows=3, sent=3))
    assert out.getvalue() == ""


def test_a_line_when_sending_stalls_for_five_seconds() -> None:
    shown, clock, out = plain(total_rows=100)
    counts = Counts(rows=100, sent=10)
    shown.update("sending", 1000, counts)
    clock.now += 4
    shown.tick()
    assert "waiting" not in out.getvalue()
    clock.now += 1.5
    shown.tick()
    shown.tick()
    assert out.getvalue().count("waiting: no answer from the API for 6 s") == 1
    counts.sent += 10  # it moves again: a later stall says so again
    shown.tick()
    clock.now += 6
    shown.tick()
    assert out.getvalue().count("waiting: no answer from the API for 6 s") == 2


def test_a_dry_run_has_no_stall_line() -> None:
    shown, clock, out = plain(total_rows=100)
    shown.update("checking", 10, Counts(rows=10))
    clock.now += 60
    shown.tick()
    assert "waiting" not in out.getvalue()


def test_on_a_terminal_a_bar_with_the_final_counts_stays_above_the_summary() -> None:
    con, out = console(terminal=True)
    clock = Clock()
    counts = Counts(rows=500)
    with ProgressDisplay(con, "rich", 1000, 500, clock=clock) as shown:
        shown.update("sending", 1000, counts)
        clock.now += 5
        counts.sent, counts.rejected = 490, 10
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    last = [line for line in text.splitlines() if line.strip()][-1]
    assert "sending 100%: 500 of 500 rows, 490 sent" in last and "10 rejected" in last
    assert "━" in last  # the bar


def test_an_import_prints_a_last_progress_line_equal_to_the_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.05)
    rows = [["purchase", f"user{i}", str(old(10) - i), "pro"] for i in range(60)]
    path = write_csv(tmp_path / "events.csv", BASE, rows)
    with FakeCio("site", "key", delay=0.05) as fake:
        result = cio("import", path, "--base-url", fake.url, "--site-id", "site", "--api-key",
                     "key", "--batch-bytes", "1000", "--concurrency", "2",
                     env={"CIO_SITE_ID": None, "CIO_API_KEY": None})  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("sending ")]
    assert lines, result.stderr
    assert lines[-1].startswith("sending 100%: 60 of 60 rows, 60 sent,")
    assert all("to send" not in line for line in lines)


def test_a_sending_phase_is_named_so_before_its_first_chunk() -> None:
    con, out = console()
    shown = ProgressDisplay(con, "plain", 1000, 200, clock=Clock(), phase="sending")
    assert shown.line().startswith("sending 0%: 0 of 200 rows, 0 sent")
