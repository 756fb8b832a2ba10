"""The progress display: one line a phase, telling the truth.  [rich]

A pass over a file is one phase, named for what it does: ``checking`` (pass 1, and a dry
run's or validate's pass 2) or ``sending`` (a real import's pass 2). Each has its total:
the file's bytes while checking, the file's rows (known after the check) in pass 2, so
its percentage means what it says. The counters come from the live ``Counts`` the
sender updates as answers arrive, not from the chunks read, so they move while ``cio``
waits for the API; the rate is events per second over the last RATE_WINDOW_S, and the ETA
the rest at that rate. On a terminal the line is redrawn four times a second and left in
place at the end, refreshed with the final counts (so it agrees with the summary below
it); otherwise a plain line is printed every PLAIN_EVERY_S, a last one when the phase ends
(if any was printed), and a line when nothing has moved for STALL_S while sending. A dry
run's lines say "to send", never "sent".
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console

from cio_cli.record.counts import Counts

if TYPE_CHECKING:  # rich.live and rich.table load only on a terminal
    from rich.live import Live
    from rich.table import Table

PLAIN_EVERY_S = 5.0
STALL_S = 5.0
RATE_WINDOW_S = 10.0
TICK_S = 0.25
BAR_WIDTH = 16  # how often the plain lines' thread looks at the clock


class ProgressDisplay:
    """One phase's progress: a live line on a terminal, plain lines otherwise, or nothing.

    ``total_bytes`` is the file's size; ``total_rows``, when known (after pass 1), makes
    the phase count rows handled instead of bytes read. ``update`` is called per chunk
    read; the counters shown are read from the last ``Counts`` it was given, live.
    """

    def __init__(
        self,
        console: Console,
        mode: str,
        total_bytes: int,
        total_rows: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        phase: str = "checking",
        rejects_known: bool = True,
    ) -> None:
        self.console, self.mode, self.clock = console, mode, clock
        self.rejects_known = rejects_known  # False: a first pass, which rejects nothing yet
        self.total_bytes, self.total_rows = total_bytes, total_rows
        self.phase = phase  # until the first chunk says
        self.bytes_done = 0
        self.counts = Counts()
        self.started = self.last = self.moved = clock()
        self.printed = 0  # plain lines printed in this phase
        self._samples: deque[tuple[float, int]] = deque([(self.started, 0)])
        self._last_seen = (0, 0)
        self._stalled = False
        self._live: Live | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._lock = threading.Lock()  # the rate's samples (main, ticker and rich threads)
        self._tick_lock = threading.Lock()

    def __enter__(self) -> ProgressDisplay:
        if self.mode == "rich":
            from rich.live import Live

            self._live = Live(self, console=self.console, refresh_per_second=4, transient=False)
            self._live.start()
        elif self.mode == "plain":
            self._ticker = threading.Thread(
                target=self._tick_loop, name="cio-progress", daemon=True
            )
            self._ticker.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if exc_type is None:
            self.bytes_done = self.total_bytes  # the whole file was read
        if self._live is not None:
            self._live.refresh()  # the final counts, left on screen above the summary
            self._live.stop()
        elif self.mode == "plain" and self.printed:
            self.console.print(self.line(), markup=False)

    def update(self, phase: str, bytes_done: int, counts: Counts) -> None:
        """A chunk was read (called on the main thread, in file order)."""
        self.phase, self.bytes_done, self.counts = phase, bytes_done, counts
        if self.mode == "plain":
            self.tick()

    # -- what is shown -----------------------------------------------------------------

    @property
    def sending(self) -> bool:
        """A real import's pass 2 (anything else sends nothing and never says "sent")."""
        return self.phase == "sending"

    def done_total(self) -> tuple[int, int | None]:
        """How far the phase is, and out of how much (rows handled, or bytes read)."""
        c = self.counts
        if self.total_rows is not None:
            return min(c.handled, self.total_rows), self.total_rows
        return self.bytes_done, self.total_bytes or None

    def rate(self, now: float) -> float:
        """Per second over the last RATE_WINDOW_S: events sent while sending, else rows."""
        c = self.counts  # events sent by this run (not those journalled before it)
        counted = c.sent - c.resumed if self.sending else c.rows
        with self._lock:
            samples = self._samples
            if samples[-1][0] < now:
                samples.append((now, counted))
            while len(samples) > 2 and samples[1][0] <= now - RATE_WINDOW_S:
                samples.popleft()
            (t0, n0), (t1, n1) = samples[0], samples[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def eta(self, now: float, rate: float) -> str:
        """The time left at the recent pace, as H:MM:SS, or '-' while unknown."""
        done, total = self.done_total()
        if total is None:
            return "-"
        if done >= total:
            return "0:00:00"
        if self.total_rows is not None:
            pace = rate
        else:  # bytes: the pace of the whole phase so far
            elapsed = now - self.started
            pace = done / elapsed if elapsed > 0 else 0.0
        if pace <= 0:
            return "-"
        left = int((total - done) / pace)
        return f"{left // 3600}:{left // 60 % 60:02d}:{left % 60:02d}"

    def line(self) -> str:
        """The phase as one line of text: what a plain line prints."""
        now = self.clock()
        c = self.counts
        done, total = self.done_total()
        rate = self.rate(now)
        pct = f" {100 * done / total:.0f}%" if total else ""
        if self.total_rows is not None:
            parts = [f"{done:,} of {self.total_rows:,} rows"]
        else:
            parts = [f"{c.rows:,} rows"]
        if self.sending:
            parts += [f"{c.sent:,} sent", f"{rate:,.0f} events/s"]
        else:
            parts += [f"{c.sent:,} to send"] if c.sent else []
            parts += [f"{rate:,.0f} rows/s"]
        if self.rejects_known:
            parts.append(f"{c.rejected:,} rejected")
        if self.sending:
            parts.append(f"{c.retries:,} retries")
        parts.append(f"ETA {self.eta(now, rate)}")
        return f"{self.phase}{pct}: " + ", ".join(parts)

    def __rich__(self) -> Table:
        """The terminal's line: a bar, then the plain line's figures."""
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        done, total = self.done_total()
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True, overflow="ellipsis")
        grid.add_row(ProgressBar(total=total, completed=done, width=BAR_WIDTH), self.line())
        return grid

    # -- plain lines -------------------------------------------------------------------

    def tick(self) -> None:
        """Print a plain line when PLAIN_EVERY_S has passed, or when sending has stalled."""
        with self._tick_lock:
            now = self.clock()
            seen = (self.counts.handled, self.bytes_done)
            if seen != self._last_seen:
                self._last_seen, self.moved, self._stalled = seen, now, False
            if now - self.last >= PLAIN_EVERY_S:
                self.last = now
                self.printed += 1
                self.console.print(self.line(), markup=False)
            if self.sending and not self._stalled and now - self.moved >= STALL_S:
                self._stalled = True
                waited = now - self.moved
                self.console.print(
                    f"waiting: no answer from the API for {waited:.0f} s", markup=False
                )

    def _tick_loop(self) -> None:
        while not self._stop.wait(TICK_S):
            self.tick()
