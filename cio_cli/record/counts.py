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
    settled: int = 0  # rejected or skipped rows of an already-imported file: not new problems
    null_texts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (column, text)
    peak_in_flight: int = 0  # the most requests in flight at once (a real import)
    empty: Counter[str] = field(default_factory=Counter)  # one file's empty cells, by data key
    columns: dict[str, Column] = field(default_factory=dict)  # by data key, as sent

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
            "settled",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.warnings.update(other.warnings)
        self.errors.update(other.errors)
        self.null_texts.update(other.null_texts)
        self.peak_in_flight = max(self.peak_in_flight, other.peak_in_flight)
        for key, col in other.columns.items():
            if key in self.columns:
                self.columns[key].merge(col)
            else:
                self.columns[key] = Column(**vars(col))
        self.samples += other.samples[: FIRST_ROWS - len(self.samples)]

    def sample(self, df: pl.DataFrame, reason_col: str) -> None:
        """Keep the first few rejected rows' numbers and reasons for the summary."""
        room = FIRST_ROWS - len(self.samples)
        if room > 0 and df.height:
            self.samples += df.select("_row", reason_col).head(room).rows()
