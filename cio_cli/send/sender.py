"""Delivering requests: as many in flight as reach ``--rate``, results handled in order of arrival.

The transport (``send/transport.py``) retries, backs off and paces, the window
(``send/window.py``) says how many requests may be in flight, and the API
(``Api.answer``, send/api.py) says what an answer means; this module does it to the
rows a request carried:

- all accepted: every row is sent.
- some ops refused (Track: a 207): their rows go to the rejects file with the
  API's message; the others are sent.
- the whole request refused (Track: 400/413/422): split it in halves and send
  each again, until the rows the API refuses are alone; those are rejected.
- AbortError (credentials refused, API unreachable): stop at once.

Worker threads take ready requests (their bodies built by the caller) from a queue and
put the answers on another, so a worker that finishes starts the next request at once.
The worker that gets an acknowledgement journals its rows before giving its place in the
window back, so that a crash resends at most the requests in flight, not also answers
waiting for the main thread; every answer is then handled on the calling (main) thread,
so counts and the rejects file need no locks. The caller waits while the requests handed
over but not handled reach the window's limit and PREFETCH more, so memory stays bounded.
"""

from __future__ import annotations

import queue
import threading
from typing import IO

import polars as pl

from cio_cli.check.rows import tally
from cio_cli.encode.batches import Request
from cio_cli.errors import OutputError
from cio_cli.record.counts import FLAGGED, Counts
from cio_cli.record.journal import Journal, ranges
from cio_cli.record.rejects import RejectsWriter
from cio_cli.send.dry_run import OutLines, audit_line
from cio_cli.send.transport import Outcome, Stopped, Transport
from cio_cli.send.window import Window

REFUSED = "refused by Customer.io: "
NO_MESSAGE = "refused by Customer.io (without a message)"
PREFETCH = 2  # ready requests queued beyond the window, so a worker never waits for the caller
_Done = tuple[Request, Outcome | BaseException, BaseException | None]  # and a journal error


class HttpSink:
    """Sends requests through a ``Transport``, as many in flight as the window allows."""

    def __init__(
        self, transport: Transport, concurrency: int, out: IO[bytes] | None = None
    ) -> None:
        self.journal: Journal | None = None  # the current file's, set by the caller
        self.audit = OutLines(out)  # --out: each acknowledged request, with its status
        self.interrupted = False
        self.transport = transport
        self.window = Window(concurrency, lambda: transport.pacer.current_rate)
        self._todo: queue.SimpleQueue[tuple[Request, bytes, Journal | None] | None] = (
            queue.SimpleQueue()
        )
        self._done: queue.SimpleQueue[_Done] = queue.SimpleQueue()
        self._outstanding = 0  # handed over, not handled yet (main thread only)
        self._workers: list[threading.Thread] = []
        self._retries = 0
        self._lock = threading.Lock()
        self._journal_lock = threading.Lock()  # workers journal the rows they got acknowledged

    def interrupt(self) -> None:
        """First Ctrl-C: requests in flight finish their current attempt, none is retried."""
        self.interrupted = True
        self.transport.stop()

    def retried(self, reason: str) -> None:
        """Count one retry (called by the transport from worker threads)."""
        del reason
        with self._lock:
            self._retries += 1

    def exchanged(self, seconds: float, trouble: bool) -> None:
        """One attempt's round trip (called by the transport from worker threads)."""
        if trouble:
            self.window.trouble()
        else:
            self.window.answered(seconds)

    def send(self, req: Request, counts: Counts, rejects: RejectsWriter) -> None:
        """Hand ``req`` over; first handle answers while the window and PREFETCH are full."""
        while self._outstanding >= int(self.window.limit) + PREFETCH:
            self._settle(counts, rejects, block=True)
        self._start(req)
        self._settle(counts, rejects, block=False)

    def drain(self, counts: Counts, rejects: RejectsWriter) -> None:
        """Wait for every request handed over (and the halves of refused ones)."""
        while self._outstanding:
            self._settle(counts, rejects, block=True)

    def close(self) -> None:
        """Stop the workers; requests not answered yet are abandoned (they are idempotent)."""
        self.transport.stop()
        for _ in self._workers:
            self._todo.put(None)
        for worker in self._workers:
            worker.join()
        self.transport.close()

    def _journal(self, req: Request, out: Outcome, journal: Journal | None) -> OutputError | None:
        """Journal the rows ``out`` acknowledged (in the worker, before its place in the
        window is given back); a failed write stops the run like an abort (exit 5)."""
        if journal is None or out.kind not in ("ok", "partial"):
            return None
        rows = req.events.get_column("_row")
        if out.kind == "partial":
            refused = _refused(out, len(rows))
            rows = rows.filter(pl.Series([i not in refused for i in range(len(rows))]))
        try:
            with self._journal_lock:
                if len(rows):
                    journal.ack(ranges(rows.to_list()))
        except OutputError as exc:
            self.transport.stop()  # start nothing more: its rows could not be journalled
            return exc
        return None

    def _start(self, req: Request) -> None:
        self._todo.put((req, req.payload(), self.journal))
        self._outstanding += 1
        busy = self._outstanding - self._done.qsize()
        if busy > len(self._workers) and len(self._workers) < self.window.ceiling + PREFETCH:
            worker = threading.Thread(target=self._work, name="cio-send", daemon=True)
            self._workers.append(worker)
            worker.start()

    def _work(self) -> None:
        """A worker: wait for a place in the window, then take the next request (so they
        start in the order they were handed over) and post it."""
        while True:
            self.window.acquire()
            item = self._todo.get()
            if item is None:
                self.window.release()
                return
            req, body, journal = item
            self.window.posting(1)
            failed: BaseException | None = None
            try:
                answer = self.transport.post(req.path, body, ops=req.events.height)
                failed = self._journal(req, answer, journal)
                out: Outcome | BaseException = answer
            except BaseException as exc:  # handed to the main thread, which raises it
                if not isinstance(exc, Stopped):
                    self.transport.stop()  # an abort: start nothing more
                out = exc
            finally:
                self.window.posting(-1)
                self.window.release()
            self._done.put((req, out, failed))

    def _settle(self, counts: Counts, rejects: RejectsWriter, block: bool) -> None:
        """Handle the answers that arrived (the first one waited for when ``block``)."""
        try:
            done = [self._done.get(block=block and self._outstanding > 0)]
        except queue.Empty:
            return
        while not self._done.empty():
            done.append(self._done.get())
        with self._lock:
            counts.retries, self._retries = counts.retries + self._retries, 0
        counts.peak_in_flight = max(counts.peak_in_flight, self.window.peak)
        errors = self._handle_all(done, counts, rejects)
        if errors:  # the transport is stopped: collect what is still under way
            while self._outstanding:
                errors += self._handle_all([self._done.get()], counts, rejects)
            raise _cause(errors)

    def _handle_all(
        self, done: list[_Done], counts: Counts, rejects: RejectsWriter
    ) -> list[BaseException]:
        """Handle answers; errors are returned, not raised, so that every answer that came
        is counted and journalled before the run stops."""
        errors: list[BaseException] = []
        for req, out, failed in done:
            self._outstanding -= 1
            if isinstance(out, Stopped) and self.interrupted:
                continue  # not answered: neither sent nor journalled; a rerun sends it
            if isinstance(out, BaseException):
                errors.append(out)
            else:  # counted even when its journal write failed: it was delivered
                self._handle(req, out, counts, rejects)
            if failed is not None:
                errors.append(failed)
        return errors

    def _handle(self, req: Request, out: Outcome, counts: Counts, rejects: RejectsWriter) -> None:
        rows = req.events.height
        if out.kind == "ok":  # journalled by the worker (``_journal``)
            self.audit.write(audit_line(req, out.status, []))
            counts.count_sent(req.events)
        elif out.kind == "partial":
            refused = _refused(out, rows)
            self.audit.write(audit_line(req, out.status, sorted(refused)))
            kept = pl.Series([i not in refused for i in range(rows)])
            counts.count_sent(req.events.filter(kept))
            _reject(req.events, refused, counts, rejects)
        elif rows == 1:
            _reject(req.events, {0: out.message}, counts, rejects)
        else:
            for half in req.halves():
                counts.requests += 1
                self._start(half)


def _cause(errors: list[BaseException]) -> BaseException:
    """What stopped the run: the first error that is not another request giving up
    because of it (``Stopped``)."""
    return next((e for e in errors if not isinstance(e, Stopped)), errors[0])


def _refused(out: Outcome, rows: int) -> dict[int, str]:
    """A 207's refused ops by position in the request (those inside it), with messages."""
    return {i: msg for i, msg in out.errors if 0 <= i < rows}


def refusal(message: str) -> str:
    """The reason of a row the API refused: its message, or that it gave none."""
    return REFUSED + message if message else NO_MESSAGE


def _reject(
    events: pl.DataFrame, refused: dict[int, str], counts: Counts, rejects: RejectsWriter
) -> None:
    """Write the refused rows (by position in ``events``) with the API's messages."""
    if not refused:
        return
    at = sorted(refused)
    rows = events[at].with_columns(_err=pl.Series([refusal(refused[i]) for i in at]))
    rejects.write(rows, "_err")
    counts.sample(rows, "_err")
    counts.rejected += len(at)
    counts.errors["api_refused"] += len(at)
    counts.reasons.update(tally(rows.get_column("_err")))
    counts.flag(rows.select("_row", "_err").head(FLAGGED).rows())

