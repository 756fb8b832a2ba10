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
    """``{"type":"track","userId":V,"event":N,"properties":{...},"timestamp":ISO,
    "messageId":ULID}`` as pieces of one ``concat_str(ignore_nulls=True)``: ``anonymousId``
    for an anonymous row (kind ``anonymous_id``), no ``properties`` key when the data is
    empty, no ``timestamp`` key when the row has none; the timestamp with the row's own
    milliseconds (``p.ms``)."""
    who = pl.when(p.kind == ANONYMOUS_KIND).then(pl.lit("anonymousId")).otherwise(pl.lit("userId"))
    millis = p.ts.cast(pl.Int64) * 1000 + p.ms.fill_null(0)
    iso = pl.from_epoch(millis, time_unit="ms").dt.strftime(ISO_MS)
    return [
        pl.lit('{"type":"track","'),
        who,
        pl.lit('":'),
        *p.cid,
        pl.lit(',"event":'),
        *p.name,
        pl.when(p.data != "").then(pl.concat_str([pl.lit(',"properties":{'), p.data, pl.lit("}")])),
        pl.concat_str([pl.lit(',"timestamp":"'), iso, pl.lit('"')]),
        pl.lit(',"messageId":'),
        *p.event_id,
        pl.lit("}"),
    ]
