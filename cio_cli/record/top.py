"""Counts per key (event names, reject reasons) in bounded memory: ``Top``.

Exact while at most ``2 * keep`` keys are counted; past that, the ``keep`` keys with the
most are kept and the others' counts move to ``other``. A key met again after that starts
from zero, so a kept count is never more than the truth (at most its key's count before it
was last left out less); the total (kept counts plus ``other``) is always exact. Keys with
many rows (over a ``keep``-th of the total) are always kept, so the top 100 of 10,000 kept
are the true top 100 unless counts near the 100th are within that margin of each other.
No polars: the counts load no polars.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from typing import Any

KEEP = 10_000  # keys kept after a fold (2 * KEEP counted at most)
OTHER = "other"  # the key of what the top leaves out


class Top:
    """Counts per key, at most ``2 * keep`` keys held; the rest summed in ``other``."""

    def __init__(self, keep: int | None = None) -> None:
        self.keep = KEEP if keep is None else keep
        self.counts: dict[str, int] = {}
        self.other = 0  # the counts of keys left out
        self.folded = False  # some keys were left out: ``distinct`` is a lower bound

    def add(self, key: str, n: int = 1) -> None:
        """Count ``n`` more for ``key``."""
        self.counts[key] = self.counts.get(key, 0) + n
        if len(self.counts) >= 2 * self.keep:
            self._fold()

    def update(self, pairs: Mapping[str, int] | Iterable[tuple[str, int]]) -> None:
        """Count each ``(key, n)`` (or a mapping of them)."""
        for key, n in pairs.items() if isinstance(pairs, Mapping) else pairs:
            self.add(key, n)

    def merge(self, other: Top) -> None:
        """Fold in another ``Top`` (another file's)."""
        self.update(other.counts)
        self.other += other.other
        self.folded |= other.folded

    def total(self) -> int:
        """Every count, kept or left out: exact."""
        return sum(self.counts.values()) + self.other

    def distinct(self) -> int:
        """How many keys are known (when ``folded``, there were more)."""
        return len(self.counts)

    def __bool__(self) -> bool:
        return bool(self.counts) or self.other > 0

    def top(self, most: int) -> list[tuple[str, int]]:
        """The ``most`` commonest keys and their counts, by count then key."""
        return sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:most]

    def shown(self, most: int) -> dict[str, int]:
        """The ``most`` commonest keys, plus ``"other"`` with the rest when some are left
        out (a real key ``"other"`` then counts under it too), so the values add up to
        ``total()``."""
        found = self.top(most)
        shown = dict(found)
        rest = self.total() - sum(shown.values())
        if rest:
            shown[OTHER] = rest + shown.pop(OTHER, 0)
        return shown

    def stored(self, most: int) -> dict[str, Any]:
        """What a journal keeps: the ``most`` commonest, and the rest as ``other``."""
        kept = dict(self.top(most))
        rest = self.total() - sum(kept.values())
        return {"top": kept, "other": rest, "folded": self.folded or rest > 0}

    @classmethod
    def restored(cls, doc: object) -> Top | None:
        """A ``Top`` from ``stored``'s record (or an older journal's plain ``{key: n}``);
        None when it is neither."""
        top = cls()
        if isinstance(doc, dict) and set(doc) == {"top", "other", "folded"}:
            plain, top.other, top.folded = doc["top"], doc["other"], doc["folded"] is True
            if not isinstance(top.other, int):
                return None
        else:
            plain = doc
        if not isinstance(plain, dict) or not all(isinstance(n, int) for n in plain.values()):
            return None
        top.update({str(k): n for k, n in plain.items()})
        return top

    def _fold(self) -> None:
        """Keep the ``keep`` keys with the most; the others' counts go to ``other``."""
        kept = heapq.nlargest(self.keep, self.counts.items(), key=lambda kv: kv[1])
        self.other += sum(self.counts.values()) - sum(n for _, n in kept)
        self.counts = dict(kept)
        self.folded = True
