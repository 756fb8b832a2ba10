"""Packing ops into request bodies under the size limits.

``Packer`` fills the API's batch bodies greedily, in file order, each at most
``batch_bytes`` long; an op over the API's op limit, or too big for any batch, and
every op of an identifier kind the API sends alone (``Api.alone_kinds``: Track's
anonymous events), goes as the API says (``Api.alone``): a request of its own, or a
rejected row. Such requests leave as their chunk is packed, in file order among
themselves, ahead of the batch still filling.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate

import polars as pl

from cio_cli.check.rows import split
from cio_cli.send.api import Api


@dataclass
class Request:
    """One request: its path, its events (raw cells, ``_row``, ``_op``) and its body.

    A batch (``frame`` is the API's ``(batch_open, batch_close)``) has its body built when
    first asked for, so that the thread that sends it builds it (polars releases the GIL
    meanwhile), not the main thread. A request of one event alone has its body from the
    start (``frame`` is None). ``refused``: the API has no request for this event (too
    large): its row is rejected with this reason, nothing is sent.
    """

    path: str
    body: bytes | None
    events: pl.DataFrame
    frame: tuple[bytes, bytes] | None = None
    refused: str | None = None

    def payload(self) -> bytes:
        """The body, built from the ops on first use."""
        if self.body is None:
            assert self.frame is not None
            start, end = (pl.lit(part.decode()) for part in self.frame)
            built = self.events.select(
                pl.concat_str(start, pl.col("_op").str.join(","), end).cast(pl.Binary)
            )
            self.body = built.item()
        return self.body

    @property
    def batch(self) -> bool:
        """A body of many ops (not one event alone)."""
        return self.frame is not None

    @property
    def rows(self) -> list[int]:
        """The record numbers of the rows in this request, in op order."""
        return self.events.get_column("_row").to_list()

    def halves(self) -> list[Request]:
        """A refused batch split in two, as new batch requests."""
        middle = self.events.height // 2
        return [
            Request(self.path, None, self.events.slice(0, middle), self.frame),
            Request(self.path, None, self.events.slice(middle), self.frame),
        ]


class Packer:
    """Greedy packing of ops, in file order, into batch bodies and requests of one event."""

    def __init__(self, batch_bytes: int, api: Api) -> None:
        self.api = api
        self.batch_bytes = batch_bytes
        self.overhead = len(api.batch_open) + len(api.batch_close)
        self.limit = min(api.max_op_bytes, batch_bytes - self.overhead)
        self._pending: pl.DataFrame | None = None

    def add(self, events: pl.DataFrame) -> Iterator[Request]:
        """Take encoded events (``_op``, ``_size``: its bytes, ``_row``, ``_kind``, ...);
        yield every request now full, and one for each event that goes alone.

        On the main thread, chunk after chunk: mostly direct calls, which the workers'
        jobs in polars' thread pool do not delay."""
        alone = events.get_column("_size") > self.limit
        for kind in self.api.alone_kinds:
            alone = alone | (events.get_column("_kind") == kind)
        solo, events = split(events, alone)
        for at, op in enumerate(solo.get_column("_op")):
            yield self._alone(op, solo.slice(at, 1))
        if self._pending is not None:
            same = self._pending.schema == events.schema
            events = pl.concat(
                [self._pending, events], how="vertical" if same else "vertical_relaxed"
            )
        ends = _cumulative(events)
        start = 0
        while start < len(ends):
            stop = _fill(ends, start, self.batch_bytes - self.overhead)
            if stop == len(ends):
                break
            yield self.batch(events.slice(start, stop - start))
            start = stop
        self._pending = events.slice(start) if start < len(ends) else None

    def finish(self) -> Iterator[Request]:
        """Yield the last, partly filled batch."""
        if self._pending is not None and self._pending.height:
            yield self.batch(self._pending)
        self._pending = None

    def batch(self, events: pl.DataFrame) -> Request:
        """A batch request carrying the ops of ``events``, in order (body built later)."""
        api = self.api
        return Request(api.batch_path, None, events, (api.batch_open, api.batch_close))

    def _alone(self, op: str, row: pl.DataFrame) -> Request:
        request = self.api.alone(op)
        if isinstance(request, str):
            return Request("", None, row, refused=request)
        return Request(request[0], request[1], row)


def _cumulative(events: pl.DataFrame) -> list[int]:
    """Running body size after each op: ops plus one comma each."""
    return list(accumulate((events.get_column("_size") + 1).to_list()))


def _fill(ends: list[int], start: int, budget: int) -> int:
    """The end (exclusive) of the fullest batch starting at ``start``, its ops (and commas)
    within ``budget`` bytes."""
    before = ends[start - 1] if start else 0
    return max(start + 1, bisect.bisect_right(ends, budget + 1 + before, lo=start))
