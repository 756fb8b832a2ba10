"""The ops built column-wise (``send/track_ops.py``, ``send/pipelines_ops.py``) are the
same text as the pieces ``cio`` used before, on many random rows.

The builders before (``old_*`` here, the second reference) spliced the timestamp key in
as a nested ``concat_str``, null without a timestamp; now it is pieces of the flat one.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from cio_cli.apis import ISO_MS
from cio_cli.check.rule_table import ANONYMOUS_KIND
from cio_cli.send import pipelines_ops, track_ops
from cio_cli.send.api import OpParts

Build = Callable[[OpParts], list[pl.Expr]]


def old_track_event(p: OpParts) -> list[pl.Expr]:
    """Track's event op before."""
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


def old_track_identify(p: OpParts) -> list[pl.Expr]:
    """Track's identify op before."""
    attributes = p.data
    if p.update_only:
        update = track_ops.UPDATE_ONLY
        attributes = (
            pl.when(p.data == "")
            .then(pl.lit(update))
            .otherwise(pl.concat_str([p.data, pl.lit("," + update)]))
        )
    return [
        pl.lit('{"type":"person","identifiers":{"'),
        p.kind,
        pl.lit('":'),
        *p.cid,
        pl.lit('},"action":"identify"'),
        pl.concat_str([pl.lit(',"timestamp":'), p.ts_text]),
        pl.lit(',"attributes":{'),
        attributes,
        pl.lit("}}"),
    ]


def old_iso(p: OpParts) -> pl.Expr:
    """Pipelines' timestamp before."""
    millis = p.ts.cast(pl.Int64) * 1000 + p.ms.fill_null(0)
    return pl.from_epoch(millis, time_unit="ms").dt.strftime(ISO_MS)


def old_pipelines_track(p: OpParts) -> list[pl.Expr]:
    """Pipelines' track call before."""
    who = pl.when(p.kind == ANONYMOUS_KIND).then(pl.lit("anonymousId")).otherwise(pl.lit("userId"))
    return [
        pl.lit('{"type":"track","'),
        who,
        pl.lit('":'),
        *p.cid,
        pl.lit(',"event":'),
        *p.name,
        pl.when(p.data != "").then(pl.concat_str([pl.lit(',"properties":{'), p.data, pl.lit("}")])),
        pl.concat_str([pl.lit(',"timestamp":"'), old_iso(p), pl.lit('"')]),
        pl.lit(',"messageId":'),
        *p.event_id,
        pl.lit("}"),
    ]


def old_pipelines_identify(p: OpParts) -> list[pl.Expr]:
    """Pipelines' identify call before."""
    return [
        pl.lit('{"type":"identify","userId":'),
        *p.cid,
        pl.lit(',"traits":{'),
        p.data,
        pl.lit("}"),
        pl.concat_str([pl.lit(',"timestamp":"'), old_iso(p), pl.lit('"')]),
        pl.lit(',"messageId":'),
        *p.event_id,
        pl.lit("}"),
    ]


PAIRS: list[tuple[Build, Build, bool]] = [  # (now, before, identify)
    (track_ops.op_pieces, old_track_event, False),
    (track_ops.op_pieces, old_track_identify, True),
    (pipelines_ops.call_pieces, old_pipelines_track, False),
    (pipelines_ops.call_pieces, old_pipelines_identify, True),
]

ROWS = st.tuples(
    st.sampled_from(["id", "email", "cio_id", ANONYMOUS_KIND]),
    st.text(max_size=6),
    st.one_of(st.none(), st.integers(0, 4_000_000_000)),
    st.integers(0, 999),
    st.sampled_from(["", '"a":1', '"b":"x","c":null']),
)
SCHEMA = {"_kind": pl.String, "_cid": pl.String, "_ts": pl.Int64, "_sub": pl.Int64}


def parts(identify: bool, update_only: bool) -> OpParts:
    """The pieces of a frame of ``SCHEMA`` (plus ``_inner``), as ``encode`` gives them."""
    quoted = [pl.lit('"'), pl.col("_cid"), pl.lit('"')]
    return OpParts(
        name=[pl.lit('"'), pl.col("_cid").str.to_uppercase(), pl.lit('"')],
        kind=pl.col("_kind"),
        cid=quoted,
        event_id=[pl.lit('"'), pl.col("_cid").str.reverse(), pl.lit('"')],
        ts=pl.col("_ts"),
        ts_text=pl.col("_ts").cast(pl.String),
        ms=pl.col("_sub"),
        data=pl.col("_inner"),
        identify=identify,
        update_only=update_only,
    )


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(ROWS, min_size=1, max_size=30), st.booleans())
def test_ops_are_the_pieces_before(rows: list[tuple[object, ...]], update_only: bool) -> None:
    df = pl.DataFrame(rows, schema={**SCHEMA, "_inner": pl.String}, orient="row")
    for now, before, identify in PAIRS:
        p = parts(identify, update_only)
        new = df.select(pl.concat_str(now(p), ignore_nulls=True)).to_series()
        old = df.select(pl.concat_str(before(p), ignore_nulls=True)).to_series()
        assert new.to_list() == old.to_list(), before.__name__
