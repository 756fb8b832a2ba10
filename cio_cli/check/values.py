"""Cell values under ``--type COLUMN=kind``: typed JSON text, and canonical JSON cells."""

from __future__ import annotations

import re

import orjson
import polars as pl

from cio_cli.check.contract import INT_RE, Layout, ReadOptions, load_json
from cio_cli.check.rule_table import DATA_TOO_DEEP
from cio_cli.check.typing_rule import SAFE_INT, SMALLEST_NORMAL


def json_cells(df: pl.DataFrame, lay: Layout, opts: ReadOptions) -> pl.DataFrame:
    """Add ``_j_<col>``, canonical JSON of each ``--type COL=json`` cell (null if refused),
    and ``_je_<col>``, why a cell was refused."""
    for col, key in lay.data:
        if opts.type_overrides.get(key) == "json":
            found, why = canonical_column(df.get_column(col))
            df = df.with_columns(found.alias(f"_j_{col}"), why.alias(f"_je_{col}"))
    return df


def canonical_column(cells: pl.Series) -> tuple[pl.Series, pl.Series]:
    """``canonical_json`` of every cell: the texts (null if refused) and why refused.

    orjson reads and writes the cells in one loop, except those whose numbers it could
    round (``MAY_LOSE`` and ``MAY_ROUND``); those and the cells it refuses go through
    ``canonical_json`` (which reads them again and says why a cell is refused).
    """
    texts = cells.to_list()
    may_lose = cells.str.contains(MAY_LOSE).arg_true()  # MAY_ROUND costs more: only these
    for at in may_lose.filter(cells.gather(may_lose).str.contains(MAY_ROUND)).to_list():
        texts[at] = None  # left to canonical_json
    found: list[str | None] = []
    for text in texts:  # a loop, not a call per cell: this is the hot path
        try:
            found.append(None if text is None else _dumps(_loads(text), option=_SORTED).decode())
        except (ValueError, TypeError, RecursionError):
            found.append(None)
    done = pl.Series(cells.name, found, dtype=pl.String)
    why = pl.repeat(None, len(cells), dtype=pl.String, eager=True)
    slow = (done.is_null() & cells.is_not_null()).arg_true()
    if len(slow):
        again = [canonical_json(t) for t in cells.gather(slow).to_list()]
        done.scatter(slow, pl.Series([j for j, _ in again], dtype=pl.String))
        why.scatter(slow, pl.Series([w for _, w in again], dtype=pl.String))
    return done, why


NOT_JSON = "is not valid JSON"
TOO_DEEP = DATA_TOO_DEEP.text("", "").strip()  # the message, after the key and the cell
MAY_LOSE = r"[0-9][.eE]|[0-9]{19}"  # a decimal, an exponent or a long integer
# A number with an exponent or more than 15 digits (a decimal of up to 15 significant
# digits and no exponent is the decimal of the double it reads as, so orjson writes it
# with its value); digits in strings count too, which only sends a cell the slow way.
MAY_ROUND = r"[0-9][eE]|(?:[0-9]\.?){16}"
_MAY_LOSE, _MAY_ROUND = re.compile(MAY_LOSE), re.compile(MAY_ROUND)
_loads, _dumps, _SORTED = orjson.loads, orjson.dumps, orjson.OPT_SORT_KEYS


def canonical_json(text: str | None) -> tuple[str | None, str | None]:
    """Compact JSON with sorted keys, or None and why (``NOT_JSON``, ``TOO_DEEP``).

    Numbers keep their value exactly: a number is written as orjson writes it when
    that text has the same value (``1.10`` becomes ``1.1``, as ever), and as written
    otherwise (``1e-400``, integers beyond 64 bits, more digits than a double holds).
    ``canonical_column`` gives the same for a whole column, faster.
    """
    if text is None:
        return None, None
    try:
        if _MAY_LOSE.search(text) is None:  # no number that orjson could round
            return orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS).decode(), None
        if _MAY_ROUND.search(text) is None:
            try:  # decimals that orjson writes with their value
                return orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS).decode(), None
            except (ValueError, TypeError):
                pass  # refused: said in load_json's words, as before
        return orjson.dumps(load_json(text), option=orjson.OPT_SORT_KEYS).decode(), None
    except RecursionError:
        return None, TOO_DEEP
    except (ValueError, TypeError) as exc:  # both JSONDecodeErrors; orjson.JSONEncodeError
        deep = "depth limit" in str(exc) or "Recursion limit" in str(exc)
        return None, TOO_DEEP if deep else NOT_JSON


TRUE_WORDS = ("true", "t", "yes", "y", "1")  # compared without case
FALSE_WORDS = ("false", "f", "no", "n", "0")
BOOL_FORMS = "use true/false, t/f, yes/no, y/n or 1/0 (any case)"  # the rejection's fix


# Numbers keep their meaning (SPEC section 2): an int within +-2**53 (no JSON reader loses
# a digit), a float that a double holds (finite, and not rounded to 0.0 or to a subnormal).
INT_RANGE = f"outside the int range ±2^53 (±{SAFE_INT:,}), beyond which JSON readers lose digits"
FLOAT_RANGE = "outside the float range (a double: 0, or a size from 2.2e-308 to 1.8e308)"
NUMBER_RE = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def typed_value(cell: pl.Expr, kind: str) -> pl.Expr:
    """JSON text of a cell under ``--type COLUMN=kind``; null when it does not fit, or
    when its value would not survive as that type (``out_of_range``).

    ``json`` cells are parsed in Python (``_j_<col>``); here they pass through.
    """
    text = cell.str.strip_chars()
    if kind == "int":
        value = text.cast(pl.Int64, strict=False)
        return (
            pl.when(text.str.contains(INT_RE) & (value.abs() <= SAFE_INT))
            .then(value)
            .cast(pl.String)
        )
    if kind == "float":
        value = text.cast(pl.Float64, strict=False)
        return pl.when(value.is_finite() & ~_underflows(text, value)).then(value).cast(pl.String)
    if kind == "bool":
        low = text.str.to_lowercase()
        return (
            pl.when(low.is_in(TRUE_WORDS))
            .then(pl.lit("true"))
            .when(low.is_in(FALSE_WORDS))
            .then(pl.lit("false"))
        )
    return cell


def out_of_range(cell: pl.Expr, kind: str) -> pl.Expr:
    """True where a cell is written as a number of ``kind`` (int, float) whose value that
    type cannot hold: an int beyond +-2**53, a float that overflows or underflows."""
    text = cell.str.strip_chars()
    if kind == "int":
        held = (text.cast(pl.Int64, strict=False).abs() <= SAFE_INT).fill_null(False)
        return text.str.contains(INT_RE) & ~held
    if kind == "float":
        value = text.cast(pl.Float64, strict=False)
        return text.str.contains(NUMBER_RE) & (~value.is_finite() | _underflows(text, value))
    return pl.lit(False)


def _underflows(text: pl.Expr, value: pl.Expr) -> pl.Expr:
    """A non-zero number whose double is 0.0 or subnormal (``1e-400``, ``1e-310``)."""
    nonzero = text.str.replace(r"[eE].*$", "").str.contains("[1-9]")
    return (nonzero & (value.abs() < SMALLEST_NORMAL)).fill_null(False)
