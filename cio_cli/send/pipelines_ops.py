"""The Pipelines API's ``track`` call, built column-wise with polars (``Pipelines.op``,
send/pipelines.py).

Kept apart from send/pipelines.py so that ``send-event`` and ``check`` never load polars.
"""

from __future__ import annotations

import polars as pl

from cio_cli.apis import ISO_MS
from cio_cli.check.rule_table import ANONYMOUS_KIND
from cio_cli.send.api import OpParts


def call_pieces(p: OpParts) -> list[pl.Expr]:
    """The ``track`` call of an event (``track_pieces``), or the ``identify`` call of a
    person's update (``identify_pieces``)."""
    return identify_pieces(p) if p.identify else track_pieces(p)


def _timestamp(p: OpParts) -> list[pl.Expr]:
    """``,"timestamp":"ISO"``, the row's timestamp as ISO-8601 with its own milliseconds, as
    three pieces, all null where the row has none (the quotes literals masked by it: a
    nested ``concat_str`` would build a column of its own)."""
    millis = p.ts.cast(pl.Int64) * 1000 + p.ms.fill_null(0)
    iso = pl.from_epoch(millis, time_unit="ms").dt.strftime(ISO_MS)
    dated = p.ts.is_not_null()
    return [pl.when(dated).then(pl.lit(',"timestamp":"')), iso, pl.when(dated).then(pl.lit('"'))]


def identify_pieces(p: OpParts) -> list[pl.Expr]:
    """``{"type":"identify","userId":V,"traits":{...},"timestamp":ISO,"messageId":ULID}``
    (``traits`` always, maybe empty; no ``timestamp`` key when the row has none)."""
    return [
        pl.lit('{"type":"identify","userId":'),
        *p.cid,
        pl.lit(',"traits":{'),
        p.data,
        pl.lit("}"),
        *_timestamp(p),
        pl.lit(',"messageId":'),
        *p.event_id,
        pl.lit("}"),
    ]


def track_pieces(p: OpParts) -> list[pl.Expr]:
    """``{"type":"track","userId":V,"event":N,"properties":{...},"timestamp":ISO,
    "messageId":ULID}`` as pieces of one ``concat_str(ignore_nulls=True)``: ``anonymousId``
    for an anonymous row (kind ``anonymous_id``), no ``properties`` key when the data is
    empty, no ``timestamp`` key when the row has none; the timestamp with the row's own
    milliseconds (``p.ms``)."""
    who = pl.when(p.kind == ANONYMOUS_KIND).then(pl.lit("anonymousId")).otherwise(pl.lit("userId"))
    return [
        pl.lit('{"type":"track","'),
        who,
        pl.lit('":'),
        *p.cid,
        pl.lit(',"event":'),
        *p.name,
        pl.when(p.data != "").then(pl.concat_str([pl.lit(',"properties":{'), p.data, pl.lit("}")])),
        *_timestamp(p),
        pl.lit(',"messageId":'),
        *p.event_id,
        pl.lit("}"),
    ]
