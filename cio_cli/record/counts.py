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
    settled: int = 0  # rejected rows of an already-imported file: not new problems
    null_texts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (column, text)

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
        self.samples += other.samples[: FIRST_ROWS - len(self.samples)]

    def sample(self, df: pl.DataFrame, reason_col: str) -> None:
        """Keep the first few rejected rows' numbers and reasons for the summary."""
        room = FIRST_ROWS - len(self.samples)
        if room > 0 and df.height:
            self.samples += df.select("_row", reason_col).head(room).rows()
