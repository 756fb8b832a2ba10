"""Lossless type inference over a whole file (the first pass).

With ``--types auto`` a data column is sent as JSON numbers when every
non-empty value in the file (rows with the right number of fields) is an
integer written plainly (``-?(0|[1-9][0-9]*)``, within +-2**53 so no consumer
loses digits) or a plain decimal whose shortest round-trip form is the same
text; as JSON booleans when every value is ``true`` or ``false``; otherwise as
strings. Because a numeric or boolean value's JSON is then its own cell text,
nothing is reformatted and nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from cio_cli.check.contract import CURRENCY_KEY, EMAIL_KEYS, NUMBER_KEYS, Layout, ReadOptions

INT_RE = r"^-?(0|[1-9][0-9]{0,15})$"
DEC_RE = r"^-?(0|[1-9][0-9]*)\.[0-9]+$"
SAFE_INT = 2**53


def is_whole_number(cell: pl.Expr) -> pl.Expr:
    """True for an integer written plainly, within +-2**53."""
    whole = cell.str.contains(INT_RE) & (cell.cast(pl.Int64, strict=False).abs() <= SAFE_INT)
    return whole.fill_null(False)


def is_plain_decimal(cell: pl.Expr) -> pl.Expr:
    """True for a plain decimal whose shortest round-trip form is the same text."""
    decimal = cell.str.contains(DEC_RE) & (
        cell.cast(pl.Float64, strict=False).cast(pl.String) == cell
    )
    return decimal.fill_null(False)


Stats = dict[str, tuple[int, int, int]]


@dataclass
class Inference:
    """Rules types out column by column as chunks come; decides at the end."""

    lay: Layout
    opts: ReadOptions
    filled: set[str] = field(default_factory=set)  # columns with a non-empty value
    not_number: set[str] = field(default_factory=set)
    not_bool: set[str] = field(default_factory=set)

    def columns(self) -> list[str]:
        """Data columns whose type is inferred (not reserved, not overridden)."""
        if self.opts.types == "string":
            return []
        fixed = set(EMAIL_KEYS) | set(NUMBER_KEYS) | {CURRENCY_KEY} | set(self.opts.type_overrides)
        return [col for col, key in self.lay.data if key not in fixed]

    def copy(self) -> Inference:
        """What has been learnt so far, to add one more chunk's counts to."""
        return Inference(
            self.lay, self.opts, set(self.filled), set(self.not_number), set(self.not_bool)
        )

    def open_columns(self) -> list[str]:
        """Inferred columns whose type is not settled yet (they must still be read)."""
        settled = self.not_number & self.not_bool & self.filled
        return [col for col in self.columns() if col not in settled]

    def stats(self, df: pl.DataFrame) -> Stats:
        """Per column: non-empty values, how many are numbers, how many booleans.

        Safe in worker threads. A type already ruled out is not counted again
        (its count comes back as -1): one misfit keeps a column a string.
        """
        exprs = []
        for col in self.open_columns():
            if col not in df.columns:
                continue
            cell = pl.col(col)
            number = is_whole_number(cell).sum() if col not in self.not_number else pl.lit(-1)
            boolean = (
                cell.is_in(["true", "false"]).fill_null(False).sum()
                if col not in self.not_bool
                else pl.lit(-1)
            )
            exprs.append(pl.concat_list(cell.is_not_null().sum(), number, boolean).alias(col))
        if not exprs:
            return {}
        nf = df.get_column("_nf")
        whole = df if (nf == self.lay.ncols).all() else df.filter(nf == self.lay.ncols)
        found = whole.select(exprs).row(0, named=True)
        stats = {col: (int(v[0]), int(v[1]), int(v[2])) for col, v in found.items()}
        # integers and decimals never overlap: count decimals only where not every value
        # is an integer (a column of integers skips the costly round trip)
        partly = [col for col, (n, ints, _) in stats.items() if 0 <= ints < n]
        if partly:
            decimals = whole.select(is_plain_decimal(pl.col(c)).sum() for c in partly).row(0)
            for col, extra in zip(partly, decimals, strict=True):
                n, ints, bools = stats[col]
                stats[col] = (n, ints + int(extra), bools)
        return stats

    def add(self, stats: Stats) -> None:
        """Fold one chunk's counts in."""
        for col, (n, number, boolean) in stats.items():
            if n:
                self.filled.add(col)
            if number != n:
                self.not_number.add(col)
            if boolean != n:
                self.not_bool.add(col)

    def types(self) -> dict[str, str]:
        """The JSON kind of each data column: string, number, bool, json or as_<override>."""
        out: dict[str, str] = {}
        inferred = set(self.columns())
        for col, key in self.lay.data:
            if key in NUMBER_KEYS:
                out[col] = "reserved_number"
            elif key in self.opts.type_overrides:
                kind = self.opts.type_overrides[key]
                out[col] = kind if kind in ("string", "json") else f"as_{kind}"
            elif col in inferred and col in self.filled and col not in self.not_number:
                out[col] = "number"
            elif col in inferred and col in self.filled and col not in self.not_bool:
                out[col] = "bool"
            else:
                out[col] = "string"
        return out
