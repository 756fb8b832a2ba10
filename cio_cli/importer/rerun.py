"""A rerun of a finished import: "already imported" from the counts its journal stored.

A finished journal's ``D`` record holds the run's counts (``stored``). A rerun whose
file hashes to the journal's fingerprint, for the same destination and shard, answers
from them (``restored``) without reading the file: no pass 1, no pass 2. A ``D`` of an
older ``cio`` holds no counts; that rerun reads the file twice, as before.

When every input of a real import is such a file, ``answer`` gives the summary before
polars or the HTTP client are even loaded: the rerun costs the start-up and the hash.
Anything else (stdin, a file not finished, a lock held) goes the usual way (importer/run.py,
which also answers per file from stored counts).

No polars: the counts are plain numbers and tallies.
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import fields
from pathlib import Path
from typing import Any

from cio_cli.errors import OutputError
from cio_cli.importer.plan import ImportPlan
from cio_cli.read.places import Place, place_of
from cio_cli.read.urls import beside, is_url, shown_name
from cio_cli.record import shown
from cio_cli.record.counts import Column, Counts
from cio_cli.record.github import publish
from cio_cli.record.journal import Lock, Locked, finished_counts, make_header
from cio_cli.record.outputs import check_run_outputs, journal_of, journalled, rejects_path
from cio_cli.record.report import TOP_NAMES, Reporter, Summary
from cio_cli.record.top import Top

# Per-run figures, not the file's: a rerun has its own (zero, or all rows resumed).
NOT_STORED = frozenset(
    {"resumed", "requests", "retries", "finished_exit", "samples", "null_texts", "peak_in_flight"}
)
NEEDED = ("rows", "sent", "rejected", "skipped_recent", "duplicates")
ANONYMOUS_COLUMN = "anonymous_column"  # stored beside the counts: --json shows "anonymous"
COLUMNS = "columns"  # the columns report, a key a data column
OLD_NAMES = "stored_names"  # an older cio's events per name: a plain {name: events}
EXIT_CODE = "exit_code"  # the finished import's exit code (not stored before issue 21)


def stored(counts: Counts, anonymous_column: bool = False) -> dict[str, object]:
    """What a finished journal keeps of a file's counts: every number and tally by name,
    the events per name and the reasons as their top ``TOP_NAMES`` and ``other``."""
    counts.tally()
    out: dict[str, object] = {ANONYMOUS_COLUMN: anonymous_column}
    for f in fields(counts):
        value = getattr(counts, f.name)
        if f.name in NOT_STORED or isinstance(value, bool):
            continue
        if isinstance(value, Top):
            out[f.name] = value.stored(TOP_NAMES)
        elif isinstance(value, Counter):
            if all(isinstance(k, str) for k in value):
                out[f.name] = dict(value)
        elif value is None or isinstance(value, int | float | str):
            out[f.name] = value
    out[COLUMNS] = {key: vars(col) for key, col in counts.columns.items()}
    out[EXIT_CODE] = counts.exit_code
    return out


def restored(doc: dict[str, Any]) -> Counts | None:
    """The counts of an "already imported" rerun from ``stored``'s record: every event sent
    counts as resumed, and the run exits with the code that import had (``finished_exit``).
    A record without the code (a ``cio`` before it was stored) is read the safe way: 1 when
    it counts rejected rows, which is also what that import exited with (a journal is
    finished only when no row was refused by the API or left out by --skip-recent).
    None when the record is not one ``stored`` wrote (then the file is read as before)."""
    if any(not isinstance(doc.get(name), int) for name in NEEDED):
        return None
    counts = Counts()
    if OLD_NAMES in doc and "names" not in doc:
        doc = {**doc, "names": doc[OLD_NAMES]}
    for f in fields(counts):
        if f.name in NOT_STORED or f.name not in doc:
            continue
        now, value = getattr(counts, f.name), doc[f.name]
        if isinstance(now, Top):
            top = Top.restored(value)
            if top is None:
                return None
            setattr(counts, f.name, top)
        elif isinstance(now, Counter):
            if not isinstance(value, dict):
                return None
            setattr(counts, f.name, Counter(value))
        elif now is None or value is None or type(now) is type(value):
            setattr(counts, f.name, value)
        else:
            return None
    try:
        counts.columns = {key: Column(**col) for key, col in doc.get(COLUMNS, {}).items()}
    except (TypeError, AttributeError):  # not what stored wrote: read the file as before
        return None
    counts.resumed = counts.sent
    code = doc.get(EXIT_CODE)
    counts.finished_exit = code if isinstance(code, int) else counts.exit_code
    counts.tolerated = code == 0  # green with rejected rows: within --max-rejected
    return counts


def already_imported(name: str, acked: int) -> str:
    """The note for a file whose finished journal answers for it."""
    return (
        f"{name}: already imported ({acked:,} rows acknowledged); nothing sent."
        " Pass --restart to send it all again"
    )


def tell_answered(reporter: Reporter, name: str, counts: Counts, acked: int, rejects: Path) -> bool:
    """Say that a file is already imported and, when that import was red, where its
    rejected rows are; whether its rejects file holds rows for the summary to name."""
    reporter.note(already_imported(name, acked))
    if (note := rejected_note(name, counts, rejects)) is not None:
        reporter.note(note)
    return counts.rejected + counts.skipped_recent > 0 and rejects.is_file()


def rejected_note(shown: str, counts: Counts, rejects: Path) -> str | None:
    """For an already imported file whose import was red: how many rows it rejected, where
    they are, and that this run exits as that one did; None when it was green."""
    if not counts.exit_code:
        return None
    where = (
        f"they are in {rejects}"
        if rejects.is_file()
        else f"they were written to {rejects}, which is gone now"
    )
    return (
        f"{shown}: that import rejected {counts.rejected:,} row(s) and exited"
        f" {counts.exit_code}; so does this run: {where} (fix them there and import that file)"
    )


def answer(plan: ImportPlan, reporter: Reporter) -> Summary | None:
    """The summary of a real import whose every input is already imported (a finished
    journal with counts, for this file, destination and shard); None to run as usual."""
    started = time.monotonic()
    if plan.send is None or plan.restart or not plan.sends:
        return None
    if plan.rejects is not None and len(plan.paths) > 1:
        return None  # a usage error: the usual way says so
    local = [a for a in plan.paths if not is_url(a)]
    if not all(a != "-" and journalled(a, plan) and Path(a).is_file() for a in local):
        return None
    if any(finished_counts(journal_of(beside(a), plan)) is None for a in plan.paths):
        return None  # not finished (or by an older cio): no need to hash (nor ask the store)
    check_run_outputs(plan)
    total, rejects, anonymous = Counts(), [], False
    with ExitStack() as stack:
        for arg in plan.paths:
            found = _answered(plan, arg, stack)
            if found is None:
                return None
            counts, acked, anonymous_column = found
            total.add(counts)
            anonymous |= anonymous_column
            kept = rejects_path(arg, plan)
            if tell_answered(reporter, shown_name(arg), counts, acked, kept):
                rejects.append(str(kept))
    _no_requests(plan)
    shown_rejects = ", ".join(map(shown.plain, rejects))
    notes = [f"rejected and skipped rows are in {shown_rejects}"] if rejects else []
    duration = time.monotonic() - started
    files = [shown_name(a) for a in plan.paths]
    summary = Summary(plan.command, files, total, rejects, False, duration,
                      total.exit_code, notes, anonymous_column=anonymous,
                      shard=plan.shard_text,
                      per_row=plan.read.identifier == "per-row",
                      people=plan.read.kind == "people")  # fmt: skip
    publish(summary, reporter)
    return summary


def _no_requests(plan: ImportPlan) -> None:
    """``--out``, the audit record of this run's requests: none (the file is emptied)."""
    if plan.out is None:
        return
    try:
        with open(plan.out, "wb"):
            pass
    except OSError as exc:
        raise OutputError.writing(f"--out {plan.out}", exc) from None


def _answered(plan: ImportPlan, arg: str, stack: ExitStack) -> tuple[Counts, int, bool] | None:
    """One file's stored counts, rows acknowledged and whether it has an anonymous column,
    under its journal's lock (held until ``stack`` closes); None to run as usual."""
    assert plan.send is not None
    journal = journal_of(beside(arg), plan)
    try:
        stack.callback(Lock.take(journal.with_name(journal.name + ".lock")).release)
    except (Locked, OSError):
        return None  # the usual way says why
    place: Place = place_of(arg)  # an object is asked for its size and ETag (read if none)
    return finished(plan, journal, place.fingerprint())


def finished(plan: ImportPlan, journal: Path, fingerprint: str) -> tuple[Counts, int, bool] | None:
    """The counts a finished journal stored for this file (its ``fingerprint``), destination
    and shard, its rows acknowledged and whether the file has an anonymous column; None
    when it holds none (not finished, another file, or an older ``cio``)."""
    assert plan.send is not None
    header = make_header(fingerprint, plan.api.destination(plan.send.config), plan.shard_text)
    found = finished_counts(journal, header)
    counts = restored(found[0]) if found is not None else None
    if found is None or counts is None:
        return None
    return counts, found[1], found[0].get(ANONYMOUS_COLUMN) is True
