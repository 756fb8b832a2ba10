"""Cell values under ``--type COLUMN=kind``: typed JSON text, and canonical JSON cells."""

from __future__ import annotations

import orjson
import polars as pl

from cio_cli.header import INT_RE, Layout, ReadOptions


def json_cells(df: pl.DataFrame, lay: Layout, opts: ReadOptions) -> pl.DataFrame:
    """Add ``_j_<col>``: canonical JSON of each ``--type COL=json`` cell (null if invalid)."""
    for col, key in lay.data:
        if opts.type_overrides.get(key) == "json":
            values = [canonical_json(v) for v in df.get_column(col).to_list()]
            df = df.with_columns(pl.Series(f"_j_{col}", values, dtype=pl.String))
    return df


def canonical_json(text: str | None) -> str | None:
    """Compact JSON with sorted keys, or None when ``text`` is empty or not JSON."""
    if text is None:
        return None
    try:
        return orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONDecodeError:
        return None


TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")


def typed_value(cell: pl.Expr, kind: str) -> pl.Expr:
    """JSON text of a cell under ``--type COLUMN=kind``; null when it does not fit.

    ``json`` cells are parsed in Python (``_j_<col>``); here they pass through.
    """
    text = cell.str.strip_chars()
    if kind == "int":
        return (
            pl.when(text.str.contains(INT_RE))
            .then(text.cast(pl.Int64, strict=False))
            .cast(pl.String)
        )
    if kind == "float":
        value = text.cast(pl.Float64, strict=False)
        return pl.when(value.is_finite()).then(value).cast(pl.String)
    if kind == "bool":
        low = text.str.to_lowercase()
        return (
            pl.when(low.is_in(TRUE_WORDS))
            .then(pl.lit("true"))
            .when(low.is_in(FALSE_WORDS))
            .then(pl.lit("false"))
        )
    return cell
