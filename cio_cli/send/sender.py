"""Delivering requests: up to ``concurrency`` in flight, results handled in order of arrival.

The transport (``send/transport.py``) retries, backs off and paces, and the API
(``Api.answer``, send/api.py) says what an answer means; this module does it to the
rows a request carried:

- all accepted: every row is sent.
- some ops refused (Track: a 207): their rows go to the rejects file with the
  API's message; the others are sent.
- the whole request refused (Track: 400/413/422): split it in halves and send
  each again, until the rows the API refuses are alone; those are rejected.
- AbortError (credentials refused, API unreachable): stop at once.

Every result is handled on the calling (main) thread, so counts and the
rejects file need no locks.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import polars as pl

from cio_cli.build.batches import Request
from cio_cli.build.events import per_name
from cio_cli.check.rows import tally
from cio_cli.record.counts import FLAGGED, Counts
from cio_cli.record.journal import Journal, ranges
from cio_cli.record.rejects import RejectsWriter
from cio_cli.send.transport import Outcome, Stopped, Transport

REFUSED = "refused by Customer.io: "


class HttpSink:
    """Sends requests through a ``Transport`` with a bounded number in flight."""

    def __init__(self, transport: Transport, concurrency: int) -> None:
        self.journal: Journal | None = None  # the current file's, set by the caller
        self.interrupted = False
        self.transport = transport
        self.concurrency = max(1, concurrency)
        self.pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="cio-send")
        self.flying: dict[Future[Outcome], Request] = {}
        self._retries = 0
        self._lock = threading.Lock()

    def interrupt(self) -> None:
        """First Ctrl-C: requests in flight finish their current attempt, none is retried."""
        self.interrupted = True
        self.transport.stop()

    def retried(self, reason: str) -> None:
        """Count one retry (called by the transport from worker threads)."""
        del reason
        with self._lock:
            self._retries += 1

    def send(self, req: Request, counts: Counts, rejects: RejectsWriter) -> None:
        """Start ``req``; first wait while ``concurrency`` requests are in flight."""
        while len(self.flying) >= self.concurrency:
            self._settle(counts, rejects, block=True)
        self._start(req)
        self._settle(counts, rejects, block=False)

    def drain(self, counts: Counts, rejects: RejectsWriter) -> None:
        """Wait for every request in flight (and the halves of refused ones)."""
        while self.flying:
            self._settle(counts, rejects, block=True)

    def close(self) -> None:
        """Stop the workers; requests still in flight are abandoned (they are idempotent)."""
        self.transport.stop()
        for fut in self.flying:
            fut.cancel()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.transport.close()

    def _acked(self, rows: pl.Series) -> None:
        if self.journal is not None and len(rows):
            self.journal.ack(ranges(rows.to_list()))

    def _start(self, req: Request) -> None:
        self.flying[self.pool.submit(self._post, req)] = req

    def _post(self, req: Request) -> Outcome:
        return self.transport.post(req.path, req.payload(), ops=req.events.height)

    def _settle(self, counts: Counts, rejects: RejectsWriter, block: bool) -> None:
        if not self.flying:
            return
        done, _ = wait(list(self.flying), timeout=None if block else 0, return_when=FIRST_COMPLETED)
        with self._lock:
            counts.retries, self._retries = counts.retries + self._retries, 0
        for fut in done:
            req = self.flying.pop(fut)
            try:
                out = fut.result()
            except Stopped:
                if self.interrupted:
                    continue  # not answered: neither sent nor journalled; a rerun sends it
                raise
            self._handle(req, out, counts, rejects)

    def _handle(self, req: Request, out: Outcome, counts: Counts, rejects: RejectsWriter) -> None:
        rows = req.events.height
        if out.kind == "ok":  # counted first: delivered even if the journal then fails
            counts.sent += rows
            self._acked(req.events.get_column("_row"))
        elif out.kind == "partial":
            refused = {i: msg for i, msg in out.errors if 0 <= i < rows}
            kept = pl.Series([i not in refused for i in range(rows)], dtype=pl.Boolean)
            counts.sent += rows - len(refused)
            self._acked(req.events.get_column("_row").filter(kept))
            _reject(req.events, refused, counts, rejects)
        elif rows == 1:
            _reject(req.events, {0: out.message}, counts, rejects)
        else:
            for half in req.halves():
                counts.requests += 1
                self._start(half)


def _reject(
    events: pl.DataFrame, refused: dict[int, str], counts: Counts, rejects: RejectsWriter
) -> None:
    """Write the refused rows (by position in ``events``) with the API's messages."""
    if not refused:
        return
    at = sorted(refused)
    rows = events[at].with_columns(_err=pl.Series([REFUSED + refused[i] for i in at]))
    rejects.write(rows, "_err")
    counts.sample(rows, "_err")
    counts.rejected += len(at)
    counts.errors["api_refused"] += len(at)
    counts.reasons.update(tally(rows.get_column("_err")))
    counts.flag(rows.select("_row", "_err").head(FLAGGED).rows())
    if "_name" in rows.columns:  # not sent after all: out of the events per name
        counts.count_names(per_name(rows, -1))

