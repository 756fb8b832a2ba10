"""The Track API's v2 op, built column-wise with polars (``Track.op``, send/track.py).

Kept apart from send/track.py so that ``send-event`` and ``check`` never load polars.
"""

from __future__ import annotations

import polars as pl

from cio_cli.send.api import OpParts


def op_pieces(p: OpParts) -> list[pl.Expr]:
    """The op of an event (``event_pieces``) or of a person's update (``identify_pieces``)."""
    return identify_pieces(p) if p.identify else event_pieces(p)


UPDATE_ONLY = '"_update":true'


def _timestamp(p: OpParts) -> list[pl.Expr]:
    """``,"timestamp":T`` as two pieces, both null where the row has no timestamp: the key
    a literal masked by it (a nested ``concat_str`` would build a column of its own, about
    15 ms per 1M rows more)."""
    return [pl.when(p.ts_text.is_not_null()).then(pl.lit(',"timestamp":')), p.ts_text]


def identify_pieces(p: OpParts) -> list[pl.Expr]:
    """``{"type":"person","identifiers":{kind:V},"action":"identify","timestamp":T,
    "attributes":{...}}`` (no ``timestamp`` key when the row has none; ``"_update":true``
    last in the attributes with ``--update-only``). No ``id``: the identify op takes none."""
    attributes = p.data
    if p.update_only:
        attributes = (
            pl.when(p.data == "")
            .then(pl.lit(UPDATE_ONLY))
            .otherwise(pl.concat_str([p.data, pl.lit("," + UPDATE_ONLY)]))
        )
    return [
        pl.lit('{"type":"person","identifiers":{"'),
        p.kind,
        pl.lit('":'),
        *p.cid,
        pl.lit('},"action":"identify"'),
        *_timestamp(p),
        pl.lit(',"attributes":{'),
        attributes,
        pl.lit("}}"),
    ]


def event_pieces(p: OpParts) -> list[pl.Expr]:
    """``{"type":"person","action":"event","identifiers":{kind:V},"name":N,"id":ULID,
    "timestamp":T,"attributes":{...}}`` as pieces of one ``concat_str(ignore_nulls=True)``
    (no ``timestamp`` key when the row has none)."""
    return [
        pl.lit('{"type":"person","action":"event","identifiers":{"'),
        p.kind,
        pl.lit('":'),
        *p.cid,
        pl.lit('},"name":'),
        *p.name,
        pl.lit(',"id":'),
        *p.event_id,
        *_timestamp(p),
        pl.lit(',"attributes":{'),
        p.data,
        pl.lit("}}"),
    ]
