"""What happened to the rows of one or more files: the counts every summary reports.

No polars: ``cio send-event`` and ``cio check`` load the report, which shows these.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl  # noqa: TID251 - for the type only: counts load no polars

FIRST_ROWS = 5
FLAGGED = 10  # rows kept per kind (rejected, skipped) for GitHub's annotations
MERGE_EVERY = 16  # per-chunk name counts kept apart before they are summed


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
    uuid_ids: int = 0  # of those events, the ones whose _cio_id was a UUID (sent as its ULID)
    requests: int = 0
    retries: int = 0
    warnings: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[tuple[int, str]] = field(default_factory=list)
    finished_exit: int = 0  # an already-imported file: the exit code its finished import had
    null_texts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (column, text)
    peak_in_flight: int = 0  # the most requests in flight at once (a real import)
    empty: Counter[str] = field(default_factory=Counter)  # one file's empty cells, by data key
    columns: dict[str, Column] = field(default_factory=dict)  # by data key, as sent
    reasons: Counter[str] = field(default_factory=Counter)  # rejected rows per reason text
    names: list[pl.DataFrame] = field(default_factory=list)  # (_name, n): events per name
    first_ts: int | None = None  # the earliest timestamp of the events sent or to send
    last_ts: int | None = None
    flagged: list[tuple[int, str]] = field(default_factory=list)  # first rejected rows
    flagged_skipped: list[tuple[int, str]] = field(default_factory=list)  # first skipped rows
    stored_names: Counter[str] = field(default_factory=Counter)  # a finished journal's, by name

    @property
    def exit_code(self) -> int:
        """1 when rows were rejected or refused by the API (rows left out by --skip-recent
        alone do not count: the user asked for it), else 0; for a file already imported,
        the code its finished import had: a rerun of a red import stays red."""
        return max(1 if self.rejected else 0, self.finished_exit)

    @property
    def handled(self) -> int:
        """Rows with an outcome: sent, duplicates, rejected or skipped (``rows`` once done)."""
        return self.sent + self.duplicates + self.rejected + self.skipped_recent

    def add(self, other: Counts) -> None:
        """Fold another file's counts into these."""
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
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.warnings.update(other.warnings)
        self.errors.update(other.errors)
        self.null_texts.update(other.null_texts)
        self.peak_in_flight = max(self.peak_in_flight, other.peak_in_flight)
        self.finished_exit = max(self.finished_exit, other.finished_exit)
        for key, col in other.columns.items():
            if key in self.columns:
                self.columns[key].merge(col)
            else:
                self.columns[key] = Column(**vars(col))
        self.samples += other.samples[: FIRST_ROWS - len(self.samples)]
        self.reasons.update(other.reasons)
        for frame in other.names:
            self.count_names(frame)
        self.stored_names.update(other.stored_names)
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

    def count_names(self, frame: pl.DataFrame) -> None:
        """Add events per name (``_name``, ``n``; ``n`` negative takes events away)."""
        self.names.append(frame)
        if len(self.names) >= MERGE_EVERY:
            total = _summed(self.names)
            self.names = [] if total is None else [total]

    def span(self, first: int | None, last: int | None) -> None:
        """Widen the time range of the events to take in ``first`` and ``last``."""
        if first is not None:
            self.first_ts = first if self.first_ts is None else min(self.first_ts, first)
        if last is not None:
            self.last_ts = last if self.last_ts is None else max(self.last_ts, last)

    def top_names(self, most: int) -> list[tuple[str, int]]:
        """The ``most`` commonest event names and their events, by count then name."""
        return sorted(self._per_name().items(), key=lambda kv: (-kv[1], kv[0]))[:most]

    def name_count(self) -> int:
        """How many distinct event names the events have."""
        return len(self._per_name())

    def _per_name(self) -> Counter[str]:
        """Events per name: those counted in this run, and those an "already imported"
        rerun took from its journal (``stored_names``)."""
        found = Counter(self.stored_names)
        total = _summed(self.names)
        if total is not None:
            found.update({str(name): int(n) for name, n in total.rows()})
        return found


def _summed(frames: list[pl.DataFrame]) -> pl.DataFrame | None:
    """Per-name counts summed into one frame, names left with no event dropped (the
    frames' own methods: the counts load no polars)."""
    if not frames:
        return None
    stacked = frames[0]
    for frame in frames[1:]:
        stacked = stacked.vstack(frame)
    total = stacked.group_by("_name").sum()
    return total.filter(total.get_column("n") > 0)
