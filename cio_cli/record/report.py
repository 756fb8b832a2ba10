"""What people and scripts see: progress, the summary table, the JSON summary.

Everything for people goes to stderr; ``--json`` prints one object on stdout. Text from
the input (names, reasons, headers, paths) is shown, never obeyed: a ``Text`` in a table,
``markup=False`` elsewhere, escaped by record/shown.py, on a console that reads no markup
or emoji codes and writes no line starting with ``::`` it did not mean.
The core reports progress through a callback; this module subscribes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

import orjson
from rich.console import Console
from rich.text import Text

from cio_cli.errors import CioError
from cio_cli.record import shown
from cio_cli.record.counts import PERSON_KINDS, Counts
from cio_cli.record.progress import ProgressDisplay
from cio_cli.record.threshold import Decision
from cio_cli.record.top import Top

if TYPE_CHECKING:  # rich.table loads only when shown
    from rich.table import Table


NOT_FIT = "; rows that do not fit are then rejected"
ANSWERS = ("y", "n", "s")  # the window prompt's: send them, send nothing, skip them
CHOICES = "y = send them, n = send nothing, s = skip them (to the rejects file, to send later)"
Ask = Callable[[str], str]  # asks the window prompt's question, returns one of ANSWERS
TOP_NAMES = 100  # by_name in --json
SHOWN = 3  # reasons and names in the human summary
NOTHING_COUNTED = (2, 3, 4)  # exit codes of runs stopped before their rows were counted


@dataclass(frozen=True)
class Flagged:
    """A row for a GitHub annotation: its file as given, its row number, its reason."""

    file: str
    row: int
    reason: str
    skipped: bool = False  # left out by --skip-recent (a warning), else rejected (an error)


def iso(ts: int | None) -> str | None:
    """Unix seconds as ISO-8601 UTC (``2024-03-01T10:00:00Z``), or None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def per_kind(counts: Counts) -> dict[str, int]:
    """Events sent or to send per kind of ``_cio_customer_id``: ``id``, ``email``, ``cio_id``."""
    return {kind: counts.identifiers.get(kind, 0) for kind in PERSON_KINDS}


def how_many(top: Top) -> str:
    """How many distinct keys: ``1,234``, or ``over 20,000`` when some were left out."""
    return f"over {top.distinct():,}" if top.folded else f"{top.distinct():,}"


@dataclass
class Summary:
    """The end of a run, as shown in the table and in ``--json``."""

    command: str
    files: list[str]
    counts: Counts
    rejects_files: list[str]
    dry_run: bool
    duration_s: float
    exit_code: int
    notes: list[str] = field(default_factory=list)
    anonymous_column: bool = False  # a file has _cio_anonymous_id: --json counts anonymous events
    shard: str | None = None  # --shard I/N: "I/N", shown in the table and in --json
    per_row: bool = False  # --identifier per-row: the events per identifier kind are shown
    flagged: list[Flagged] = field(default_factory=list)  # the first rejected and skipped rows
    people: bool = False  # --kind people: no by_name in --json (a person has no event name)
    heads_up: str | None = None  # said once before a real people import, kept for the CI report
    max_rejected: Decision | None = None  # --max-rejected's decision, when given
    held: bool = False  # above --max-rejected before a real import: nothing sent or counted

    @property
    def counted(self) -> bool:
        """Are the counts worth a table? Not for exit 2, 3 or 4 (a usage error, a file that
        cannot be imported, an import refused): nothing was sent, and the rows were not all
        counted."""
        return self.exit_code not in NOTHING_COUNTED and not self.held

    def __post_init__(self) -> None:
        self.counts.tally()  # the events sent, counted per name, before anything shows them

    @classmethod
    def stopped(cls, command: str, files: list[str], exc: CioError, dry_run: bool) -> Summary:
        """The summary of a validate or import stopped by ``exc``: its partial summary, if
        it got that far, else zero counts."""
        if isinstance(exc.summary, Summary):
            return exc.summary
        return cls(command, files, Counts(), [], dry_run, 0.0, exc.exit_code)

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` object, keys as the contract names them."""
        c = self.counts
        rate = (c.sent - c.resumed) / self.duration_s if self.duration_s > 0 else 0.0
        rejects: str | list[str] | None = None
        if len(self.rejects_files) == 1:
            rejects = self.rejects_files[0]
        elif self.rejects_files:
            rejects = self.rejects_files
        anonymous: dict[str, object] = {"anonymous": c.anonymous} if self.anonymous_column else {}
        anonymous |= {"uuid_ids": c.uuid_ids} if c.uuid_ids else {}
        anonymous |= {"identifiers": per_kind(c)} if self.per_row else {}
        return {
            "command": self.command,
            "files": self.files,
            **({"shard": self.shard} if self.shard is not None else {}),
            "rows": c.rows,
            "sent": c.sent,
            "rejected": c.rejected,
            "skipped_recent": c.skipped_recent,
            "duplicates": c.duplicates,
            "recent": c.recent,
            "resumed": c.resumed,
            **anonymous,
            "warnings": dict(sorted(c.warnings.items())),
            "errors": dict(sorted(c.errors.items())),
            "columns": {
                key: {"type": col.type, "empty": col.empty, "blocker_row": col.blocker_row}
                for key, col in c.columns.items()
            },
            **({"max_rejected": self.max_rejected.as_json()} if self.max_rejected else {}),
            "by_reason": c.reasons.shown(TOP_NAMES),  # the commonest first, then ``other``
            **({} if self.people else {"by_name": c.names.shown(TOP_NAMES)}),
            "first_timestamp": iso(c.first_ts),
            "last_timestamp": iso(c.last_ts),
            "requests": c.requests,
            "retries": c.retries,
            "rejects_file": rejects,
            "dry_run": self.dry_run,
            "duration_s": round(self.duration_s, 3),
            "events_per_s": round(rate, 1),
            "exit_code": self.exit_code,
        }


class Reporter:
    """Writes to stderr (people) and stdout (``--json``)."""

    def __init__(
        self, json_mode: bool, quiet: bool, err: TextIO | None = None, out: TextIO | None = None
    ) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self.out = out or sys.stdout
        self.err = err or sys.stderr  # cio's own annotations go here, under --json
        # markup and emoji codes off for everything: text from the input is never markup
        self.console = Console(
            file=shown.LineGuard(self.err),  # type: ignore[arg-type]  # a TextIO by duck typing
            highlight=False,
            soft_wrap=True,
            markup=False,
            emoji=False,
        )

    def note(self, text: str) -> None:
        """A line for people, on stderr (also with --json, which keeps stdout to itself);
        text from the input in it is shown, never obeyed (record/shown.py)."""
        self.console.print(shown.line(text), markup=False)

    def error(self, exc: CioError) -> None:
        """``error: ... / hint: ...`` on stderr (also with --json, which adds its object)."""
        self.console.print(shown.line(f"error: {exc.message}"), markup=False, style="bold red")
        if exc.hint:
            self.console.print(shown.line(f"hint: {exc.hint}"), markup=False)

    def json(self, obj: Mapping[str, Any]) -> None:
        """The one ``--json`` object of a run, as one line on stdout."""
        self.out.write(shown.json_text(orjson.dumps(obj).decode()) + "\n")
        self.out.flush()

    def fail(self, exc: CioError, obj: Mapping[str, Any]) -> int:
        """The one way a CioError reaches the user, whatever the command; its exit code.

        ``error: ... / hint: ...`` on stderr; with --json, the command's object ``obj``
        (its summary so far) on stdout, with ``exit_code``, ``error`` and ``hint`` set.
        """
        self.error(exc)
        if self.json_mode:
            self.json({**obj, "exit_code": exc.exit_code, "error": exc.message, "hint": exc.hint})
        return exc.exit_code

    def summary(self, s: Summary) -> None:
        """The table on stderr, or the JSON object on stdout."""
        if self.json_mode:
            self.json(s.as_json())
            return
        for line in s.notes + _reason_lines(s.counts):
            self.note(line)
        self.console.print(_table(s))
        if s.counts.columns:
            self.console.print(_columns_table(s))
            for line in column_hints(s):
                self.note(line)

    def progress(
        self,
        total_bytes: int,
        total_rows: int | None = None,
        phase: str = "checking",
        rejects_known: bool = True,
    ) -> ProgressDisplay:
        """A progress display for a pass over ``total_bytes`` of input (``total_rows``: the
        rows pass 1 counted, for pass 2; ``phase``: what it is called before a chunk is read;
        ``rejects_known``: False for pass 1, which applies the rules to recent rows only)."""
        mode = "none" if self.quiet or self.json_mode else "plain"
        if mode == "plain" and self.console.is_terminal:
            mode = "rich"
        return ProgressDisplay(
            self.console, mode, total_bytes, total_rows, phase=phase, rejects_known=rejects_known
        )


def _table(s: Summary) -> Table:
    from rich.table import Table  # send-event and check never print a table

    c = s.counts
    verb = "would send" if s.dry_run else "sent"
    table = Table(
        title=f"cio {s.command}" + (" (dry run)" if s.dry_run and s.command != "validate" else ""),
        show_header=False,
    )
    table.add_column("what")
    table.add_column("count", justify="right")
    if s.shard is not None:
        table.add_row("shard", s.shard)
    table.add_row("rows", f"{c.rows:,}")
    table.add_row(verb, f"{c.sent:,}")
    for label, n in _of_which(c):
        table.add_row(f"  of which {label}", f"{n:,}")
    if s.per_row and any(c.identifiers.values()):
        table.add_row("  by identifier", ", ".join(f"{k} {n:,}" for k, n in per_kind(c).items()))
    table.add_row("duplicates", f"{c.duplicates:,}")
    table.add_row("rejected", f"{c.rejected:,}")
    if not s.people:  # a person's update has no 72-hour window
        table.add_row("skipped (recent)", f"{c.skipped_recent:,}")
        table.add_row("in 72-hour window", f"{c.recent:,}")
    table.add_row("requests", f"{c.requests:,}")
    if c.names:
        table.add_row("events per name", Text(_top_names(c)))
    if c.first_ts is not None:
        what = "update time" if s.people else "event time"
        table.add_row(what, f"{iso(c.first_ts)} to {iso(c.last_ts)}")
    if c.retries:
        table.add_row("retries", f"{c.retries:,}")
    if c.peak_in_flight:
        table.add_row("most in flight", f"{c.peak_in_flight:,}")
    for code, n in sorted(c.errors.items()):
        table.add_row(f"  error {code}", f"{n:,}")
    for code, n in sorted(c.warnings.items()):
        table.add_row(f"  warning {code}", f"{n:,}")
    if s.rejects_files:
        table.add_row("rejects file", Text(", ".join(map(shown.plain, s.rejects_files))))
    table.add_row("time", f"{s.duration_s:.2f} s")
    table.add_row("exit code", str(s.exit_code))
    return table


def _of_which(c: Counts) -> list[tuple[str, int]]:
    """The parts of the events sent worth a line of their own (none when zero)."""
    parts = [("resumed", c.resumed), ("anonymous", c.anonymous), ("ids from UUIDs", c.uuid_ids)]
    return [(label, n) for label, n in parts if n]


def _top_names(c: Counts) -> str:
    """``purchase 12,000, signup 300, ... (5 names)``: the commonest names, compactly."""
    top = ", ".join(f"{shown.plain(name)} {n:,}" for name, n in c.top_names(SHOWN))
    more = c.names.distinct() > SHOWN or c.names.folded
    return top + (f", ... ({how_many(c.names)} names)" if more else "")


def _reason_lines(c: Counts) -> list[str]:
    """The commonest reasons rows were rejected for, one line each."""
    reasons = c.reasons.top(SHOWN)
    if not reasons:
        return []
    lines = [f"rejected rows by reason (top {len(reasons)} of {how_many(c.reasons)}):"]
    return lines + [f"  {n:,} x {shown.plain(reason)}" for reason, n in reasons[:SHOWN]]


def _columns_table(s: Summary) -> Table:
    """The columns report: one line a data column (name, type as sent, empty cells)."""
    from rich.table import Table

    table = Table(title="columns", title_justify="left", box=None, pad_edge=False)
    table.add_column("column")
    table.add_column("type")
    table.add_column("empty", justify="right")
    for key, col in s.counts.columns.items():
        mark = " *" if col.blocker_row is not None else ""
        table.add_row(Text(shown.line(key)), col.type + mark, f"{col.empty:,}")
    return table


def column_hints(s: Summary) -> list[str]:
    """For each string column (marked *) whose values are nearly all numbers or booleans:
    the row that kept it a string, and the flag that would change it; for one whose every
    value is a JSON object or array, the ``--type COL=json`` that would send it as JSON."""
    lines = []
    several = len(s.files) > 1
    for key, col in s.counts.columns.items():
        if col.blocker_row is None:
            continue
        if col.becomes == "json":
            lines.append(
                f"* {shown.plain(repr(key))} is sent as strings, but every value is a JSON"
                f" object or array: pass {shown.plain(col.fix)} to send it as JSON"
            )
            continue
        where = f"row {col.blocker_row}" + (f" of {shown.plain(col.file)}" if several else "")
        then = "" if col.fix.startswith("--null-value") else NOT_FIT
        lines.append(
            f"* {shown.plain(repr(key))} is sent as strings because of {where}"
            f" ('{shown.plain(col.blocker_text)}'):"
            f" pass {shown.plain(col.fix)} to send it as {col.becomes}{then}"
        )
    return lines


def ask(question: str, stream: TextIO | None = None) -> str:
    """Ask about the events in the 72-hour window on the terminal (``stream``: where the
    answer is read, stdin by default): ``y`` (send them), ``n`` (send nothing: the default)
    or ``s`` (skip them, as ``--skip-recent``), in any case."""
    from rich.prompt import Prompt

    console = Console(file=sys.stderr)
    answer = Prompt.ask(question, console=console, choices=list(ANSWERS), case_sensitive=False,
                        default="n", stream=stream)  # fmt: skip
    return str(answer)
