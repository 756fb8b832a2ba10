"""``--max-rejected``: the decision, as the summary, ``--json`` and the step summary show it.

The rows counted are those the row rules reject in the whole file (every shard counts the
same rows, so every shard decides alike); rows skipped as recent are not rejected, and rows
refused once encoded or by the API are not counted here: they still make exit 1.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    """How many rows the rules rejected, of how many, against the threshold given."""

    threshold: str  # as given: "50" or "0.5%"
    rejected: int
    rows: int
    limit: int  # the most rows allowed (a share of ``rows`` rounded down)

    @property
    def within(self) -> bool:
        """At most the limit: the rows rejected by the rules do not make exit 1."""
        return self.rejected <= self.limit

    @property
    def word(self) -> str:
        """``within`` or ``above``, as ``--json`` says it."""
        return "within" if self.within else "above"

    def as_json(self) -> dict[str, object]:
        """The ``max_rejected`` object of ``--json``."""
        return {
            "threshold": self.threshold,
            "rows": self.rows,
            "rejected": self.rejected,
            "limit": self.limit,
            "decision": self.word,
        }

    def text(self) -> str:
        """One sentence for people: the count, the threshold and the decision."""
        return (
            f"{self.rejected:,} of {self.rows:,} row(s) rejected by the row rules;"
            f" --max-rejected {self.threshold} allows {self.limit:,}: {self.word}"
        )
