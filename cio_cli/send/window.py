"""How many requests may be in flight: enough to reach ``--rate`` at the latency observed.

Throughput is at most in-flight / latency (Little's law), so a fixed number of requests in
flight caps the rate a user asked for whenever the network is slow. The window follows

    limit = rate allowed now x latency x HEADROOM + 1     (between 1 and ``--concurrency``)

where the rate is the pacer's (``--rate``, halved by 429s, send/transport.py) and the latency
an average of the answers' round trips (pacing and backoff waits are not part of it). It
moves a step an answer toward that target, so it grows as fast as answers come; it halves at
once on trouble (429, 5xx, a timeout, a dropped connection), at most once a COOLDOWN_S;
and latency rising to more than LATENCY_RISE times the lowest seen (a server queueing our
requests) is not followed: the target keeps the lower figure, so more requests are not piled
onto a server that is slowing down.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

START = 8  # requests in flight before any answer has been timed
HEADROOM = 1.5
LATENCY_RISE = 2.0
COOLDOWN_S = 1.0
SMOOTHING = 0.2  # weight of the newest round trip in the average


class Window:
    """An adaptive bound on the requests in flight; thread-safe."""

    def __init__(
        self,
        ceiling: int,
        rate: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = float(min(self.ceiling, START))
        self.in_flight = 0  # places taken: workers posting, or ready for the next request
        self.peak = 0
        self._posting = 0
        self._rate, self._clock = rate, clock
        self._latency: float | None = None
        self._lowest = math.inf
        self._last_cut = -math.inf
        self._cond = threading.Condition()

    def acquire(self) -> None:
        """Block while the window is full, then take a place in it."""
        with self._cond:
            while self.in_flight >= int(self.limit):
                self._cond.wait()
            self.in_flight += 1

    def release(self) -> None:
        """Give a place back."""
        with self._cond:
            self.in_flight -= 1
            self._cond.notify()

    def posting(self, more: int) -> None:
        """A request starts (+1) or ends (-1): ``peak`` is the most posted at once."""
        with self._cond:
            self._posting += more
            self.peak = max(self.peak, self._posting)

    def answered(self, seconds: float) -> None:
        """One round trip that came back without trouble: step toward the target."""
        with self._cond:
            self._lowest = min(self._lowest, seconds)
            last = self._latency
            self._latency = seconds if last is None else last + SMOOTHING * (seconds - last)
            target = self.target()
            if target > self.limit:
                self.limit = min(target, self.limit + 1)
            elif target < self.limit:
                self.limit = max(target, self.limit - 1)
            self._cond.notify_all()

    def trouble(self) -> None:
        """A 429, 5xx, timeout or dropped connection: halve the window (once a cooldown)."""
        with self._cond:
            now = self._clock()
            if now - self._last_cut >= COOLDOWN_S:
                self._last_cut = now
                self.limit = max(1.0, self.limit / 2)

    def target(self) -> float:
        """The window that reaches the allowed rate at the latency observed (lock held)."""
        if self._latency is None:
            return self.limit
        latency = min(self._latency, LATENCY_RISE * self._lowest)
        wanted = self._rate() * latency * HEADROOM + 1
        return float(max(1.0, min(float(self.ceiling), wanted)))
