"""What happened to the rows of one or more files: the counts every summary reports.

No polars: ``cio send-event`` and ``cio check`` load the report, which shows these.
Events are counted per name, with their time range, as they are sent (or handed to a dry
run's sink), so that after an interruption every figure describes what was sent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cio_cli.check.rule_table import ANONYMOUS_KIND
from cio_cli.record.top import Top

if TYPE_CHECKING:
    import polars as pl  # noqa: TID251 - for the type only: counts load no polars

FIRST_ROWS = 5
FLAGGED = 10  # rows kept per kind (rejected, skipped) for GitHub's annotations
PERSON_KINDS = ("id", "email", "cio_id")  # the kinds of _cio_customer_id, as --json lists them
TALLY_ROWS = 65_536  # events sent kept apart (a few columns) before they are tallied
TALLY_FRAMES = 256  # or requests
SENT_COLUMNS = ("_name", "_ts", "_kind", "_uuid")  # what the tally reads of an event sent


@dataclass
class Column:
    """One data column in the columns report: its type as sent and its empty cells, and
    for a string column whose values are nearly all of one type, what kept it a string."""

    type: str  # string, int, float, bool or json
    empty: int = 0  # empty cells (a --null-value counts as empty), rows of the right length
    blocker_row: int | None = None  # the first row that kept it a string
    blocker_text: str = ""  # that row's cell
    fix: str = ""  # the flag that would change it: --null-value TEXT or --type KEY=KIND
    becomes: str = ""  # the type it would then have
    file: str = ""  # the file of the blocker row

    def merge(self, other: Column) -> None:
        """Fold in the same key of another file: empties add up; one type where the files
        agree, float for int and float, else string; the first file's blocker."""
        self.empty += other.empty
        if self.type != other.type:
            self.type = "float" if {self.type, other.type} == {"int", "float"} else "string"
        if self.blocker_row is None and other.blocker_row is not None:
            self.blocker_row, self.blocker_text = other.blocker_row, other.blocker_text
            self.fix, self.becomes, self.file = other.fix, other.becomes, other.file


@dataclass
class Counts:
    """What happened to the rows of one or more files."""

    rows: int = 0
    sent: int = 0
    rejected: int = 0
    skipped_recent: int = 0
    duplicates: int = 0
    recent: int = 0
    resumed: int = 0
    anonymous: int = 0  # events of anonymous rows sent or to send (resumed ones included)
    uuid_ids: int = 0  # of the events sent, the ones whose _cio_id was a UUID (sent as its ULID)
    identifiers: Counter[str] = field(default_factory=Counter)  # events sent or to send per
    # kind of _cio_customer_id (resumed ones included)
    requests: int = 0
    retries: int = 0
    ruled: int = 0  # of ``rejected``, the rows the row rules rejected (this shard's)
    ruled_file: int = 0  # the rows the row rules rejected in the whole file, whatever the shard
    tolerated: bool = False  # --max-rejected: ``ruled`` is within it, so does not make exit 1
    warnings: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[tuple[int, str]] = field(default_factory=list)
    finished_exit: int = 0  # an already-imported file: the exit code its finished import had
    null_texts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (column, text)
    peak_in_flight: int = 0  # the most requests in flight at once (a real import)
    empty: Counter[str] = field(default_factory=Counter)  # one file's empty cells, by data key
    columns: dict[str, Column] = field(default_factory=dict)  # by data key, as sent
    reasons: Top = field(default_factory=Top)  # rejected rows per reason text
    names: Top = field(default_factory=Top)  # events sent (or to send) per name
    first_ts: int | None = None  # the earliest timestamp of the events sent or to send
    last_ts: int | None = None
    flagged: list[tuple[int, str]] = field(default_factory=list)  # first rejected rows
    flagged_skipped: list[tuple[int, str]] = field(default_factory=list)  # first skipped rows
    untallied: list[pl.DataFrame] = field(default_factory=list, repr=False)  # sent, see tally

    @property
    def exit_code(self) -> int:
        """1 when rows were rejected or refused by the API (rows left out by --skip-recent
        alone do not count: the user asked for it; nor do rows the row rules rejected
        within --max-rejected, ``tolerated``), else 0; for a file already imported,
        the code its finished import had: a rerun of a red import stays red."""
        counted = self.rejected - (self.ruled if self.tolerated else 0)
        return max(1 if counted else 0, self.finished_exit)

    @property
    def handled(self) -> int:
        """Rows with an outcome: sent, duplicates, rejected or skipped (``rows`` once done)."""
        return self.sent + self.duplicates + self.rejected + self.skipped_recent

    def add(self, other: Counts) -> None:
        """Fold another file's counts into these."""
        self.tally()
        other.tally()
        for name in (
            "rows",
            "sent",
            "rejected",
            "skipped_recent",
            "duplicates",
            "recent",
            "resumed",
            "anonymous",
            "uuid_ids",
            "requests",
            "retries",
            "ruled",
            "ruled_file",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.warnings.update(other.warnings)
        self.errors.update(other.errors)
        self.identifiers.update(other.identifiers)
        self.null_texts.update(other.null_texts)
        self.peak_in_flight = max(self.peak_in_flight, other.peak_in_flight)
        self.finished_exit = max(self.finished_exit, other.finished_exit)
        self.tolerated |= other.tolerated  # a file's own code stays in its finished_exit
        for key, col in other.columns.items():
            if key in self.columns:
                self.columns[key].merge(col)
            else:
                self.columns[key] = Column(**vars(col))
        self.samples += other.samples[: FIRST_ROWS - len(self.samples)]
        self.reasons.merge(other.reasons)
        self.names.merge(other.names)
        self.span(other.first_ts, other.last_ts)
        self.flag(other.flagged)
        self.flag(other.flagged_skipped, skipped=True)

    def sample(self, df: pl.DataFrame, reason_col: str) -> None:
        """Keep the first few rejected rows' numbers and reasons for the summary."""
        room = FIRST_ROWS - len(self.samples)
        if room > 0 and df.height:
            self.samples += df.select("_row", reason_col).head(room).rows()

    def flag(self, rows: list[tuple[int, str]], skipped: bool = False) -> None:
        """Keep the first ``FLAGGED`` rejected (or skipped) rows: (row, reason)."""
        kept = self.flagged_skipped if skipped else self.flagged
        kept += rows[: FLAGGED - len(kept)]

    def count_sent(self, events: pl.DataFrame) -> None:
        """Count ``events`` (``_name _ts _kind``, ``_uuid`` with a ``_cio_id`` column) as sent,
        or to send in a dry run: per name, their time range, the anonymous ones and those
        given a UUID. Tallied a few requests at a time (``tally``), not one by one."""
        self.sent += events.height
        self.untallied.append(events[[c for c in SENT_COLUMNS if c in events.columns]])
        if len(self.untallied) >= TALLY_FRAMES or sum(f.height for f in self.untallied) >= (
            TALLY_ROWS
        ):
            self.tally()

    def tally(self) -> None:
        """Count the events ``count_sent`` holds (before anything reads the figures)."""
        if not self.untallied:
            return
        sent = self.untallied[0]
        for frame in self.untallied[1:]:
            sent = sent.vstack(frame)
        self.untallied = []
        if not sent.height:
            return
        named = sent.drop_nulls("_name")  # a person's update (--kind people) has no name
        if named.height:
            self.names.update(named.group_by("_name").len().iter_rows())
        times = sent.get_column("_ts")
        self.span(times.min(), times.max())  # type: ignore[arg-type]
        kinds = sent.get_column("_kind")
        self.anonymous += int((kinds == ANONYMOUS_KIND).sum())
        self.identifiers.update(
            {kind: int(n) for kind, n in kinds.value_counts().iter_rows() if kind in PERSON_KINDS}
        )
        if "_uuid" in sent.columns:
            self.uuid_ids += int(sent.get_column("_uuid").sum())

    def span(self, first: int | None, last: int | None) -> None:
        """Widen the time range of the events to take in ``first`` and ``last``."""
        if first is not None:
            self.first_ts = first if self.first_ts is None else min(self.first_ts, first)
        if last is not None:
            self.last_ts = last if self.last_ts is None else max(self.last_ts, last)

    def top_names(self, most: int) -> list[tuple[str, int]]:
        """The ``most`` commonest event names and their events, by count then name."""
        self.tally()
        return self.names.top(most)
