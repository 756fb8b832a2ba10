"""A rerun of a finished import: "already imported" from the counts its journal stored.

A finished journal's ``D`` record holds the run's counts (``stored``). A rerun whose
file hashes to the journal's fingerprint, for the same destination and shard, answers
from them (``restored``) without reading the file: no pass 1, no pass 2. A ``D`` of an
older ``cio`` holds no counts; that rerun reads the file twice, as before.

No polars: the counts are plain numbers and tallies.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import fields
from typing import Any

from cio_cli.record.counts import Counts

# Per-run figures, not the file's: a rerun has its own (zero, or all rows resumed).
NOT_STORED = frozenset({"resumed", "requests", "retries", "settled", "samples", "null_texts"})
NEEDED = ("rows", "sent", "rejected", "skipped_recent", "duplicates")


def stored(counts: Counts) -> dict[str, object]:
    """What a finished journal keeps of a file's counts: every number and tally by name."""
    out: dict[str, object] = {}
    for f in fields(counts):
        value = getattr(counts, f.name)
        if f.name in NOT_STORED or isinstance(value, bool):
            continue
        if isinstance(value, Counter):
            if all(isinstance(k, str) for k in value):
                out[f.name] = dict(value)
        elif value is None or isinstance(value, int | float | str):
            out[f.name] = value
    return out


def restored(doc: dict[str, Any]) -> Counts | None:
    """The counts of an "already imported" rerun from ``stored``'s record: every event sent
    counts as resumed, the rejected and skipped rows as settled (reported by that run).
    None when the record is not one ``stored`` wrote (then the file is read as before)."""
    if any(not isinstance(doc.get(name), int) for name in NEEDED):
        return None
    counts = Counts()
    for f in fields(counts):
        if f.name in NOT_STORED or f.name not in doc:
            continue
        now, value = getattr(counts, f.name), doc[f.name]
        if isinstance(now, Counter):
            if not isinstance(value, dict):
                return None
            setattr(counts, f.name, Counter(value))
        elif now is None or value is None or type(now) is type(value):
            setattr(counts, f.name, value)
        else:
            return None
    counts.resumed = counts.sent
    counts.settled = counts.rejected + counts.skipped_recent
    return counts
