"""The Track API's v2 op, built column-wise with polars (``Track.op``, send/track.py).

Kept apart from send/track.py so that ``send-event`` and ``check`` never load polars.
"""

from __future__ import annotations

import polars as pl

from cio_cli.send.api import OpParts


def op_pieces(p: OpParts) -> list[pl.Expr]:
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
        pl.concat_str([pl.lit(',"timestamp":'), p.ts_text]),
        pl.lit(',"attributes":{'),
        p.data,
        pl.lit("}}"),
    ]
