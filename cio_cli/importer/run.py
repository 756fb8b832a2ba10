"""Runs ``validate`` and ``import``: open, check, scan, decide, emit, summarise.

Knows nothing of Typer: the CLI builds an ``ImportPlan`` and calls ``run``.
Where a run writes (rejects, journals, ``--out``) is in record/outputs.py.
"""

from __future__ import annotations

import os
import shlex
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from cio_cli.check.rule_table import ANONYMOUS_KIND
from cio_cli.config import CREDENTIALS_HINT
from cio_cli.errors import (
    AbortError,
    CioError,
    FileChangedError,
    InterruptedError_,
    RefusedError,
    TerminatedError,
    TooManyRejectedError,
    UnimportableError,
    UsageError,
)
from cio_cli.importer.emit import Emit, Sink, emit
from cio_cli.importer.one_read import scan_and_emit
from cio_cli.importer.plan import ImportPlan
from cio_cli.importer.rerun import already_imported, finished, stored, tell_answered
from cio_cli.importer.scan import InputFile, Scan, open_input, scan
from cio_cli.read.files import spool_stdin
from cio_cli.read.places import LocalFile, Place, place_of
from cio_cli.read.urls import is_url, shown_name
from cio_cli.record import shown
from cio_cli.record.counts import Counts
from cio_cli.record.github import publish
from cio_cli.record.journal import (
    Journal,
    Lock,
    Locked,
    finished_counts,
)
from cio_cli.record.outputs import (
    check_run_outputs,
    is_pipe,
    journal_of,
    rejects_path,
)
from cio_cli.record.rejects import narrow_mode, output_mode, remove_file
from cio_cli.record.report import CHOICES, Ask, Flagged, Reporter, Summary
from cio_cli.record.threshold import Decision
from cio_cli.send.dry_run import DryRunSink, out_file

RESUME_HINT = "run the same command again: it resumes where this run stopped"
MANY_ALONE = 1_000  # above this many anonymous events sent one a request, suggest batching


@dataclass
class Tally:
    """What a run has so far: its inputs, their counts, the window's first rows."""

    inputs: list[InputFile] = field(default_factory=list)
    total: Counts = field(default_factory=Counts)
    recent_rows: list[int] = field(default_factory=list)
    heads_up: str | None = None  # said before a real people import (PEOPLE_NOTE)
    flagged: list[Flagged] = field(default_factory=list)  # per file: first rejected, skipped rows
    decision: Decision | None = None  # --max-rejected, once decided

    def add(self, inp: InputFile, counts: Counts) -> None:
        """Fold one file's counts in, keeping its first rejected and skipped rows by file."""
        self.total.add(counts)
        rows = [Flagged(inp.shown, row, why) for row, why in counts.flagged]
        rows += [Flagged(inp.shown, row, why, True) for row, why in counts.flagged_skipped]
        self.flagged += sorted(rows, key=lambda f: f.row)


def _open_all(plan: ImportPlan, stack: ExitStack) -> list[InputFile]:
    if plan.rejects is not None and len(plan.paths) > 1:
        raise UsageError(
            "--rejects takes one input file",
            "leave it out: each file gets <file>.rejects.csv beside it",
        )
    inputs = []
    for arg in plan.paths:
        rejects, name = rejects_path(arg, plan), shown_name(arg)
        spooled = arg == "-" or not is_url(arg) and is_pipe(Path(arg))
        place: Place
        if spooled:
            path = _spool(arg)
            stack.callback(path.unlink, missing_ok=True)
            place = LocalFile(path)
        else:
            place = place_of(arg)  # exit 2 for a missing file or object
        with _naming(name):
            inputs.append(open_input(place, name, rejects, plan.read))
        inputs[-1].spooled = spooled
    return inputs


def _spool(arg: str) -> Path:
    """Copy stdin (``-``) or a pipe to a temporary file, as both passes read it."""
    if arg == "-":
        return spool_stdin()
    try:
        with open(arg, "rb") as stream:
            return spool_stdin(stream)
    except OSError as exc:
        raise UsageError(f"cannot read {arg}: {exc.strerror}", "check the path") from exc


@contextmanager
def _naming(name: str) -> Iterator[None]:
    """Prefix the message of an error about a whole file with the file's name."""
    try:
        yield
    except UnimportableError as exc:
        exc.message = f"{'stdin' if name == '-' else name}: {exc.message}"
        raise


PEOPLE_NOTE = (
    "adding or updating people can make them join segments and start segment-triggered"
    " campaigns, as a recent event can; and Customer.io may skip an update whose"
    " _cio_timestamp is older than the person's last change (it still answers 200)"
)


def _window_note(recent: int, rows: list[int]) -> str:
    first = ", ".join(str(r) for r in rows)
    more = ", ..." if recent > len(rows) else ""
    return (
        f"{recent:,} event(s) have no timestamp or one within the last 72 hours"
        f" (rows {first}{more}): they can trigger live campaigns and send real messages"
    )


def decide_window(
    plan: ImportPlan,
    recent: int,
    rows: list[int],
    confirm: Ask | None,
    reporter: Reporter,
) -> None:
    """Refuse a real import with recent events unless allowed, skipped or confirmed: at a
    terminal, ``confirm`` asks ``y`` (send them), ``n`` (send nothing) or ``s`` (skip them,
    exactly as ``--skip-recent``: ``plan.skip_recent`` is then set)."""
    if recent == 0 or not plan.asks_window:
        return
    note = _window_note(recent, rows)
    if confirm is not None:
        reporter.note(note)
        answer = confirm(f"Send these {recent:,} event(s) now? {CHOICES}")
        if answer == "y":
            return
        if answer == "s":  # as --skip-recent: the rest is sent, these go to the rejects file
            plan.skip_recent = True
            return
        raise RefusedError(
            "nothing sent: you chose not to send events in the window",
            "pass --skip-recent to send the rest, or --allow-recent",
        )
    raise RefusedError(
        f"nothing sent: {note}",
        "pass --allow-recent to send them, or --skip-recent to leave them out"
        " (they go to the rejects file, to send later)",
    )


def _sink(plan: ImportPlan, out: IO[bytes] | None, reporter: Reporter) -> Sink:
    """Where pass 2's requests go: counted (and maybe written) for a dry run, else the API."""
    if not plan.sends:
        return DryRunSink(out)
    if plan.send is None:
        raise UsageError("a real import needs credentials", CREDENTIALS_HINT)
    from cio_cli.send.sender import HttpSink  # the network modules load only for a real import
    from cio_cli.send.transport import Transport

    opts = plan.send
    sink: list[HttpSink] = []  # the transport reports to the sink made from it
    transport = Transport(
        opts.config,
        timeout=opts.timeout,
        max_retries=opts.max_retries,
        rate=opts.rate,
        on_retry=lambda reason: sink[0].retried(reason),
        on_wait=reporter.note,
        on_exchange=lambda seconds, trouble: sink[0].exchanged(seconds, trouble),
    )
    sink.append(HttpSink(transport, opts.concurrency, out))
    return sink[0]


def run(plan: ImportPlan, reporter: Reporter, confirm: Ask | None = None) -> Summary:
    """Run a whole validate or import; errors propagate as CioError.

    An error after sending started carries the partial summary (``exc.summary``).
    """
    started = time.monotonic()
    now = int(plan.clock())
    tally = Tally()
    check_run_outputs(plan)
    try:
        with ExitStack() as stack:
            tally.inputs = _open_all(plan, stack)
            for inp in tally.inputs:
                for warning in inp.lay.warnings:
                    reporter.note(f"warning: {inp.shown}: {warning}")
            if _one_read(plan, tally.inputs):
                _dry_run_one(plan, tally, stack, now, reporter)
            else:
                _two_passes(plan, tally, stack, now, confirm, reporter)
    except CioError as exc:
        exc.summary = _summary(plan, tally, time.monotonic() - started)
        exc.summary.held = isinstance(exc, TooManyRejectedError)
        exc.summary.exit_code = exc.exit_code
        publish(exc.summary, reporter, exc)
        raise
    summary = _summary(plan, tally, time.monotonic() - started)
    publish(summary, reporter)
    return summary


def _two_passes(
    plan: ImportPlan,
    tally: Tally,
    stack: ExitStack,
    now: int,
    confirm: Ask | None,
    reporter: Reporter,
) -> None:
    """Pass 1 over every file, the journals and the window decision, then pass 2."""
    _lock_all(plan, tally.inputs, stack)
    prints = _fingerprints(plan, tally.inputs, stack)
    answered = _already_imported(plan, tally.inputs, prints, reporter)
    for counts in answered.values():
        tally.total.add(counts)
    inputs = [i for i in tally.inputs if i.shown not in answered]
    if not inputs:
        return
    every_rule = plan.max_rejected is not None and plan.sends
    for inp in inputs:
        with reporter.progress(inp.source.size, rejects_known=False) as display, _naming(inp.shown):
            scan(inp, inp.opts, now, lambda p, b, c: display.update(p, b, c), every_rule)
    if every_rule:
        _before_sending(plan, inputs, tally)
    journals = _journals(plan, inputs, prints, stack, reporter)
    tally.recent_rows = _decide(plan, inputs, journals, confirm, reporter)
    if plan.sends and plan.read.kind == "people":
        tally.heads_up = PEOPLE_NOTE
        reporter.note(f"note: {PEOPLE_NOTE}")
    sink = _sink(plan, stack.enter_context(out_file(plan.out, inputs)), reporter)
    stack.callback(sink.close)
    stop = stack.enter_context(_first_ctrl_c(reporter, sink, armed=plan.sends))
    shared = Pass2(plan, sink, now, stop, reporter)
    for inp in inputs:
        counts = Counts(tolerated=tally.decision is not None and tally.decision.within)
        try:
            _emit_one(shared, inp, journals.get(inp.shown), counts)
        finally:
            tally.add(inp, counts)
        if stop.is_set():
            raise stop.error()


def _decision(plan: ImportPlan, tally: Tally) -> Decision | None:
    """--max-rejected's decision: made before sending by a real import, else from the
    counts of the rows read (the whole file's rows the rules rejected, whatever the shard)."""
    if plan.max_rejected is None or tally.decision is not None:
        return tally.decision
    scans = [i.scan for i in tally.inputs if i.scan is not None]
    if not scans:
        return None
    rows = sum(s.rows for s in scans)
    limit = plan.max_rejected.limit(rows)
    return Decision(plan.max_rejected.text, tally.total.ruled_file, rows, limit)


def _before_sending(plan: ImportPlan, inputs: list[InputFile], tally: Tally) -> None:
    """A real import's --max-rejected decision (``tally.decision``), from pass 1's count of
    the rows the rules reject; above it, nothing is sent (exit 1)."""
    assert plan.max_rejected is not None
    scans = [i.scan for i in inputs if i.scan is not None]
    rows = sum(s.rows for s in scans)
    found = tally.decision = Decision(
        plan.max_rejected.text, sum(s.ruled for s in scans), rows, plan.max_rejected.limit(rows)
    )
    if not found.within:
        raise TooManyRejectedError(
            f"nothing sent: {found.text()}",
            "see the rows with cio validate (it writes them to the rejects file), fix them"
            " there, or raise --max-rejected",
        )


def _one_read(plan: ImportPlan, inputs: list[InputFile]) -> bool:
    """Can both passes share one read? A dry run (or validate) of one file, whose
    ``--out``, if any, is a regular file and not a symlink (pass 2 may start it over,
    and an unimportable file removes it): ``--out /dev/stdout`` gets two passes."""
    if plan.sends or len(inputs) != 1:
        return False
    out = plan.out
    return out is None or not out.is_symlink() and (out.is_file() or not out.exists())


def _dry_run_one(
    plan: ImportPlan, tally: Tally, stack: ExitStack, now: int, reporter: Reporter
) -> None:
    """A dry run of one file, in one read when its column types allow; counted in ``tally``
    (as far as it went), with the window's first rows when it ends."""
    inp = tally.inputs[0]
    sink = DryRunSink(stack.enter_context(out_file(plan.out, [inp])))
    how = Emit(
        now=now,
        batch_bytes=plan.batch_bytes,
        api=plan.api,
        skip_recent=plan.skip_recent,
        phase="checking",
        shard=plan.shard,
    )
    counts = Counts()
    try:
        found = _both_passes_at_once(plan, inp, how, counts, sink, reporter)
        if found is None:  # a column's type widened part-way: pass 2 as usual
            sink.start_over()
            with reporter.progress(inp.source.size) as display, _naming(inp.shown):
                emit(inp, inp.opts, how, counts, sink, lambda p, b, c: display.update(p, b, c))
            found = inp.scan
            assert found is not None
    finally:
        tally.add(inp, counts)
    tally.recent_rows = found.recent_rows[:5]


def _both_passes_at_once(
    plan: ImportPlan,
    inp: InputFile,
    how: Emit,
    counts: Counts,
    sink: DryRunSink,
    reporter: Reporter,
) -> Scan | None:
    """``scan_and_emit``; an unimportable file leaves no ``--out`` that looks like its payloads."""
    try:
        with reporter.progress(inp.source.size) as display, _naming(inp.shown):
            return scan_and_emit(
                inp, inp.opts, how, counts, sink, lambda p, b, c: display.update(p, b, c)
            )
    except BaseException:
        if plan.out is not None:
            sink.start_over()
            remove_file(plan.out)
        raise


@dataclass(frozen=True)
class Pass2:
    """What pass 2 of every file of a run shares."""

    plan: ImportPlan
    sink: Sink
    now: int
    stop: Stop
    reporter: Reporter


def _emit_one(shared: Pass2, inp: InputFile, journal: Journal | None, counts: Counts) -> None:
    """Pass 2 for one file, with its journal when the import is real."""
    plan, sink, now, stop, reporter = (
        shared.plan, shared.sink, shared.now, shared.stop, shared.reporter
    )  # fmt: skip
    how = Emit(
        now=now,
        batch_bytes=plan.batch_bytes,
        api=plan.api,
        skip_recent=plan.skip_recent and not (journal is not None and journal.done),
        phase="sending" if plan.sends else "checking",
        acked=journal.acked if journal is not None else None,
        stop=stop.is_set,
        shard=plan.shard,
    )
    sink.journal = journal
    rows = inp.scan.rows if inp.scan is not None else None
    try:
        with reporter.progress(inp.source.size, rows, how.phase) as display, _naming(inp.shown):
            emit(inp, inp.opts, how, counts, sink, lambda p, b, c: display.update(p, b, c))
        if journal is not None and not journal.done and not stop.is_set() and _complete(counts):
            journal.finish(stored(counts, inp.lay.anonymous_id is not None))
    except FileChangedError as exc:
        if plan.sends:
            raise _changed_while_sending(inp, counts, journal is not None) from exc
        raise
    except AbortError as exc:
        if journal is not None and "resumes" not in exc.hint:
            exc.hint = f"{exc.hint}; then {RESUME_HINT}" if exc.hint else RESUME_HINT
        raise
    finally:
        if journal is not None:
            journal.close()
        sink.journal = None


def _changed_while_sending(inp: InputFile, counts: Counts, journalled: bool) -> AbortError:
    """Exit 5 for a file that changed during a real import: what was sent, what to do."""
    kept = " and journalled" if journalled else ""
    return AbortError(
        f"{inp.shown} changed while cio was sending it (rows added or edited):"
        f" {counts.sent:,} event(s) were sent{kept}, the requests in flight were finished,"
        " and nothing more is sent",
        "run the same command again once the file is complete: as the file changed, it"
        " starts over (its events carry the same ids as before)",
    )


def _complete(counts: Counts) -> bool:
    """A run is finished for good when nothing was refused by the API or left for later."""
    return not counts.errors.get("api_refused") and not counts.skipped_recent


def _journal_path(plan: ImportPlan, inp: InputFile) -> Path:
    return journal_of(inp.source.path, plan)


def _journalled(plan: ImportPlan, inp: InputFile) -> bool:
    """Does this real import keep a journal of ``inp``? Stdin and pipes: only with --journal."""
    return plan.writes_journal and (not inp.spooled or plan.journal is not None)


def _already_imported(
    plan: ImportPlan, inputs: list[InputFile], prints: dict[str, Future[str]], reporter: Reporter
) -> dict[str, Counts]:
    """The files a finished journal answers for, with the counts it stored: a rerun of a
    finished import hashes the file (no pass reads it) and says "already imported"."""
    answered: dict[str, Counts] = {}
    if plan.send is None or plan.restart:
        return answered
    for inp in inputs:
        path = _journal_path(plan, inp)
        if inp.shown not in prints or finished_counts(path) is None:
            continue  # no finished journal with counts: no need to wait for the hash
        found = finished(plan, path, prints[inp.shown].result())
        if found is None:
            continue
        counts, acked, _ = found
        inp.rejects_written = tell_answered(reporter, inp.shown, counts, acked, inp.rejects_path)
        answered[inp.shown] = counts
    return answered


def _lock_all(plan: ImportPlan, inputs: list[InputFile], stack: ExitStack) -> None:
    """A real import locks each file's journal for the whole run, before reading it: a second
    ``cio import`` of the same file stops at once (exit 5), sending nothing."""
    taken: set[Path] = set()
    for inp in inputs:
        if not _journalled(plan, inp):
            continue
        path = _journal_path(plan, inp).with_name(_journal_path(plan, inp).name + ".lock")
        if path.resolve() in taken:
            raise UsageError(f"{inp.shown} is given twice", "name each file once")
        taken.add(path.resolve())
        try:
            lock = Lock.take(path)
        except Locked as exc:
            pid = f" (pid {exc.pid})" if exc.pid else ""
            raise AbortError(
                f"{inp.shown}: another cio is importing this file{pid}; nothing sent",
                "wait for it to finish (or stop it), then run the same command again:"
                " it resumes where that one stopped",
            ) from None
        except OSError as exc:
            if plan.journal is not None:
                raise UsageError(
                    f"cannot write the journal {plan.journal} ({exc.strerror})",
                    "give --journal a path in a folder you can write",
                ) from None
            raise UsageError(
                f"{inp.shown}: cannot write the journal beside the file ({exc.strerror})",
                "cio keeps <file>.cio-journal beside the file: make that folder writable",
            ) from None
        stack.callback(lock.release)


def _journals(
    plan: ImportPlan,
    inputs: list[InputFile],
    prints: dict[str, Future[str]],
    stack: ExitStack,
    reporter: Reporter,
) -> dict[str, Journal]:
    """Each real import's journal, opened after the first pass and before the window
    decision: a file already imported answers that first."""
    journals: dict[str, Journal] = {}
    if plan.send is None:
        return journals
    for inp in inputs:
        if inp.shown not in prints:
            continue
        destination = plan.api.destination(plan.send.config)
        journal, note = Journal.open(
            _journal_path(plan, inp),
            prints[inp.shown].result(),
            destination,
            plan.restart,
            plan.shard_text,
        )
        narrow_mode(journal.path, output_mode([inp.source.path]))
        stack.callback(journal.close)
        journals[inp.shown] = journal
        if note:
            reporter.note(f"{inp.shown}: {note}")
        if journal.done:
            reporter.note(already_imported(inp.shown, len(journal.acked)))
        elif len(journal.acked):
            reporter.note(
                f"{inp.shown}: resuming: {len(journal.acked):,} rows were already"
                " acknowledged by Customer.io and are not sent again"
            )
    return journals


def _decide(
    plan: ImportPlan,
    inputs: list[InputFile],
    journals: dict[str, Journal],
    confirm: Ask | None,
    reporter: Reporter,
) -> list[int]:
    """The window decision, over the files not already imported; their first recent rows."""
    scans = [i.scan for i in inputs if not (i.shown in journals and journals[i.shown].done)]
    recent = sum(s.recent for s in scans if s is not None)
    rows = [r for s in scans if s is not None for r in s.recent_rows][:5]
    decide_window(plan, recent, rows, confirm, reporter)
    return rows


def _fingerprints(
    plan: ImportPlan, inputs: list[InputFile], stack: ExitStack
) -> dict[str, Future[str]]:
    """Start hashing the inputs of a real import in the background (for their journals)."""
    if not plan.writes_journal:
        return {}
    pool = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="cio-hash"))
    return {
        i.shown: pool.submit(i.source.place.fingerprint) for i in inputs if _journalled(plan, i)
    }


class Stop(threading.Event):
    """Set by the first Ctrl-C or SIGTERM while sending; remembers which."""

    signum = 0

    def error(self) -> InterruptedError_:
        """The error to stop with once the requests in flight are finished."""
        if self.signum == signal.SIGTERM:
            return TerminatedError(
                "terminated (SIGTERM): the requests in flight were finished", RESUME_HINT
            )
        return InterruptedError_("interrupted: the requests in flight were finished", RESUME_HINT)


@contextmanager
def _first_ctrl_c(reporter: Reporter, sink: Sink, armed: bool) -> Iterator[Stop]:
    """While sending (``armed``): the first Ctrl-C or SIGTERM sets the event (finish what is
    in flight), a second one exits at once (the journal stays consistent: every record is a
    whole line)."""
    stop = Stop()
    if not armed or threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            os._exit(128 + signum)  # 130 for Ctrl-C, 143 for SIGTERM
        stop.signum = signum
        stop.set()
        sink.interrupt()
        again = "Ctrl-C again" if signum == signal.SIGINT else "a second signal"
        reporter.console.print(
            f"stopping: finishing the requests in flight ({again} to quit at once)",
            markup=False,
        )

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, was in previous.items():
            signal.signal(sig, was)


def _summary(plan: ImportPlan, tally: Tally, duration: float) -> Summary:
    """The run's summary: counts, rejects files, the first problems, the window's note."""
    total, inputs = tally.total, tally.inputs
    decision = _decision(plan, tally)
    total.tolerated = decision is not None and decision.within
    rejects = [str(i.rejects_path) for i in inputs if i.rejects_written]
    notes = [f"row {row}: {shown.plain(reason)}" for row, reason in total.samples]
    notes += _more_rows(total)
    if rejects:
        notes.append(f"rejected and skipped rows are in {', '.join(map(shown.plain, rejects))}")
    if rejects and plan.shard is not None:
        notes.append(
            f"shard {plan.shard_text}: the counts and the rejects file are this shard's rows"
            " (a row without a person is shard 1's); each shard checks the whole file"
        )
    if total.recent and not plan.sends:
        notes.append(
            _window_note(total.recent, tally.recent_rows) + "; a real import asks first,"
            " or takes --allow-recent / --skip-recent"
        )
    notes += _threshold_note(plan, decision)
    notes += _alone_note(plan, total)
    notes += null_text_notes(total)
    notes += _name_format_note(total)
    return Summary(
        command=plan.command,
        files=[i.shown for i in inputs],
        counts=total,
        rejects_files=rejects,
        dry_run=not plan.sends,
        duration_s=duration,
        exit_code=max(total.exit_code, int(decision is not None and not decision.within)),
        notes=notes,
        anonymous_column=any(i.lay.anonymous_id is not None for i in inputs),
        per_row=plan.read.identifier == "per-row",
        shard=plan.shard_text,
        flagged=tally.flagged,
        people=plan.read.kind == "people",
        heads_up=tally.heads_up,
        max_rejected=decision,
    )


def _threshold_note(plan: ImportPlan, decision: Decision | None) -> list[str]:
    """--max-rejected's decision for people: a warning within it, what it means above it."""
    if decision is None or decision.rejected == 0:
        return []
    if decision.within:
        return [f"warning: {decision.text()}: they do not make exit 1; see the rejects file"]
    return [f"{decision.text()}: exit 1, and a real import sends nothing"]


def _more_rows(total: Counts) -> list[str]:
    """After the first rows shown: how many more rows the rejects file holds."""
    more = total.rejected + total.skipped_recent - len(total.samples)
    if not total.samples or more <= 0:
        return []
    what = "rejected or skipped row(s)" if total.skipped_recent else "rejected row(s)"
    return [f"... and {more:,} more {what}"]


def _name_format_note(total: Counts) -> list[str]:
    """What the name_format warning means, once, when any name drew it."""
    n = total.warnings.get("name_format", 0)
    if not n:
        return []
    return [
        f"warning: name_format: {n:,} event name(s) have spaces or * + |; Customer.io's"
        " Journeys pages advise names like new_sign_up. The events are sent as they are"
    ]


def null_text_notes(total: Counts) -> list[str]:
    """A warning for each column with cells written as a null, with the flag that empties them."""
    by_column: dict[str, Counter[str]] = {}
    for (column, text), n in total.null_texts.items():
        by_column.setdefault(column, Counter())[text] += n
    notes = []
    for column, texts in by_column.items():
        written = [shown.plain(t) for t in sorted(texts)]
        flags = " ".join(f"--null-value {shown.plain(shlex.quote(t))}" for t in sorted(texts))
        notes.append(
            f"warning: column {shown.plain(repr(column))} has {texts.total():,} cell(s) written"
            f" {' or '.join(written)}, read as text, not as empty: pass {flags} to read them as"
            " empty"
        )
    return notes


def _alone_note(plan: ImportPlan, total: Counts) -> list[str]:
    """Above ``MANY_ALONE`` anonymous events under an API that sends each alone: the API
    that batches them."""
    if total.anonymous <= MANY_ALONE or ANONYMOUS_KIND not in plan.api.alone_kinds:
        return []
    verb = "went" if plan.sends else "would go"
    return [
        f"{total.anonymous:,} anonymous events {verb} one request each (the"
        f" {plan.api.name} API has no batch for them): --api pipelines sends them in batches"
    ]
