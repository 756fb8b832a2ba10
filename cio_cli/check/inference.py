"""Value-preserving type inference over a whole file (the first pass), and what kept a
column a string.

With ``--types auto`` a data column is sent as JSON numbers when every non-empty value
in the file (rows with the right number of fields) is an integer written plainly
(``-?(0|[1-9][0-9]*)``, within +-2**53 so no consumer loses digits) or a plain decimal
(``-?(0|[1-9][0-9]*)\\.[0-9]+``) of at most 15 significant digits (from the first to
the last non-zero digit) whose float is finite and not subnormal: such a decimal's
float has the decimal's value, so nothing is lost. Integers go out as written,
decimals as their float's shortest round-trip text (``272.20`` as ``272.2``). A column
is boolean when every value is ``true``/``false`` in any case (sent lower-case), or
every value is ``t``/``f`` (lower-case, as Postgres writes them); the two families do
not mix. Otherwise it stays string. Numbers keep their meaning: a column of numbers is
numeric only when ``typing_rule.keeps_its_text`` says so of its decimals' scale facts
(``Scale``, counted per chunk and merged over the file), so versions (``2.9``, ``2.10``)
stay text. A column whose every value is a JSON object or array is reported (``nearly``,
kind ``json``) with its first value's row.

For the columns report, each column keeps, per family (number, true/false, t/f), its
misfits (non-empty cells neither of the family nor a null text such as ``NULL``) and its
first non-fitting cell, until it has more than ``MAX_MISFITS``: a column whose misfits
are at most 1% of its values and at most ``MAX_MISFITS`` is *nearly* of that type, and
the report names the row that kept it a string. A real string column is over that count
after its first chunk, and is then no longer read by the first pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from cio_cli.check.contract import (
    CREATED_AT,
    NULL_TEXTS,
    NUMBER_KEYS,
    Layout,
    ReadOptions,
)
from cio_cli.check.typing_rule import (
    BOOL_WORDS,
    DEC_RE,
    INT_RE,
    MAX_DIGITS,
    SAFE_INT,
    SMALLEST_NORMAL,
    TF,
    Scale,
    keeps_its_text,
)

MAX_MISFITS = 100  # beyond this many misfits a column is not "nearly" any type
NEARLY_SHARE = 0.01  # and misfits are at most this share of its values
FAMILIES = ("number", "bool", "tf")


def is_whole_number(cell: pl.Expr) -> pl.Expr:
    """True for an integer written plainly, within +-2**53."""
    whole = cell.str.contains(INT_RE) & (cell.cast(pl.Int64, strict=False).abs() <= SAFE_INT)
    return whole.fill_null(False)


def is_plain_decimal(cell: pl.Expr) -> pl.Expr:
    """True for a plain decimal of at most 15 significant digits whose float is finite
    and, unless the decimal is zero, normal: not 0.0, not subnormal (so the float holds
    the decimal's value)."""
    return cell.str.contains(DEC_RE).fill_null(False) & _holds(cell)


def _holds(cell: pl.Expr) -> pl.Expr:
    """For decimals: at most 15 significant digits (first to last non-zero digit), and a
    float that is finite and, unless the decimal is zero, normal."""
    digits = cell.str.replace_all(r"[-.]", "").str.strip_chars_start("0").str.strip_chars_end("0")
    n_digits = digits.str.len_bytes()
    value = cell.cast(pl.Float64, strict=False)
    normal = value.is_finite() & ((n_digits == 0) | (value.abs() >= SMALLEST_NORMAL))
    return ((n_digits <= MAX_DIGITS) & normal).fill_null(False)


def fits(cell: pl.Expr, family: str) -> pl.Expr:
    """True where a cell is of the family (number, bool: true/false any case, tf: t/f)."""
    if family == "number":
        return is_whole_number(cell) | is_plain_decimal(cell)
    if family == "bool":
        return cell.str.to_lowercase().is_in(BOOL_WORDS).fill_null(False)
    return cell.is_in(TF).fill_null(False)


@dataclass
class ColumnStats:
    """One chunk's counts for one column (rows with the right number of fields)."""

    n: int  # non-empty cells
    nulls: int = 0  # of them, null texts (NULL, \\N, ...): counted only where some cell misfits
    fits: dict[str, int] = field(default_factory=dict)  # per family counted in this chunk
    first: dict[str, tuple[int, str]] = field(default_factory=dict)  # first non-fit: row, text
    decimals: bool = False  # some value is a decimal (not an integer)
    long_decimals: bool = False  # some decimal is over 16 characters (its digits counted)
    scale: Scale = field(default_factory=Scale)  # what the decimals say of the column's scale
    json: bool = False  # every non-empty value is a JSON object or array (columns still asked)
    json_first: tuple[int, str] | None = None  # with ``json``: the first value (row, text)


def whole_rows(df: pl.DataFrame, ncols: int) -> pl.DataFrame:
    """The rows with the right number of fields (``_nf``): those that type a column."""
    nf = df.get_column("_nf")
    return df if (nf == ncols).all() else df.filter(nf == ncols)


Stats = dict[str, ColumnStats]


@dataclass
class Track:
    """One column, one family, over the chunks so far."""

    every: bool = True  # every value so far is of the family
    misfits: int = 0  # non-empty cells neither of the family nor a null text
    first: tuple[int, str] | None = None  # first non-fitting cell: row (in the file), text


@dataclass
class Nearly:
    """A string column whose values are nearly all of one type: what kept it a string."""

    kind: str  # the --type that would take it: int, float or bool
    row: int
    text: str


@dataclass
class Inference:
    """Rules types out column by column as chunks come; decides at the end."""

    lay: Layout
    opts: ReadOptions
    filled: set[str] = field(default_factory=set)  # columns with a non-empty value
    values: dict[str, int] = field(default_factory=dict)  # non-empty cells, while tracked
    nulls: dict[str, int] = field(default_factory=dict)  # of them, null texts
    tracks: dict[str, dict[str, Track]] = field(default_factory=dict)
    decimals: set[str] = field(default_factory=set)
    scales: dict[str, Scale] = field(default_factory=dict)  # columns with decimals
    not_json: set[str] = field(default_factory=set)  # columns with a value not JSON-like
    json_first: dict[str, tuple[int, str]] = field(default_factory=dict)  # first JSON value

    def columns(self) -> list[str]:
        """Data columns whose type is inferred (not reserved, not overridden)."""
        if self.opts.types == "string":
            return []
        fixed = set(self.opts.reserved_types) | set(self.opts.type_overrides)
        return [col for col, key in self.lay.data if key not in fixed]

    def copy(self) -> Inference:
        """What has been learnt so far, to add one more chunk's counts to."""
        tracks = {c: {f: Track(t.every, t.misfits, t.first) for f, t in list(fs.items())}
                  for c, fs in list(self.tracks.items())}  # fmt: skip (lists: safe while folded)
        scales = {c: Scale(s.decimals, s.low, s.high, s.padded)
                  for c, s in list(self.scales.items())}  # fmt: skip
        return Inference(self.lay, self.opts, set(self.filled), dict(self.values),
                         dict(self.nulls), tracks, set(self.decimals), scales,
                         set(self.not_json), dict(self.json_first))  # fmt: skip

    def counted(self, col: str) -> list[str]:
        """The families still counted for a column (those with few enough misfits)."""
        fs = self.tracks.get(col, {})
        return [f for f in FAMILIES if f not in fs or fs[f].misfits <= MAX_MISFITS]

    def open_columns(self) -> list[str]:
        """Inferred columns still read by the first pass (a type or a report is open)."""
        return [c for c in self.columns() if self.counted(c) or c not in self.not_json]

    def stats(self, df: pl.DataFrame) -> Stats:
        """Per open column: non-empty values, and per family still counted how many fit.

        Safe in worker threads. Decimals are looked for only where not every value is
        an integer; null texts and the first non-fitting cell only where some value
        does not fit.
        """
        cols = {c: self.counted(c) for c in self.open_columns() if c in df.columns}
        if not cols:
            return {}
        whole = whole_rows(df, self.lay.ncols)
        exprs = []
        for col, families in cols.items():
            cell = pl.col(col)
            counts = [cell.is_not_null().sum(), (cell.str.len_bytes() > SHORT).any().cast(pl.Int64)]
            counts += [fits(cell, f).sum() if f != "number" else _short_whole(cell).sum()
                       for f in families]  # fmt: skip
            exprs.append(pl.concat_list(counts).alias(col))
        found = whole.select(exprs).row(0, named=True)
        stats = {
            col: ColumnStats(int(v[0]), fits=dict(zip(cols[col], map(int, v[2:]), strict=True)))
            for col, v in found.items()
        }
        _add_long_whole(whole, stats, [c for c, v in found.items() if v[1]])
        _add_decimals(whole, stats)
        _add_json(whole, stats, [c for c in stats if c not in self.not_json])
        tracks = {c: list(self.tracks.get(c, {}).items()) for c in stats}  # as folded so far
        before = {c: {f: t.misfits if t.first is None else MAX_MISFITS + 1 for f, t in fs}
                  for c, fs in tracks.items()}  # fmt: skip (a first non-fit found: no need)
        _add_misfits(whole, stats, before)
        return stats

    def add(self, stats: Stats, first_row: int = 0) -> None:
        """Fold one chunk's counts in (chunks in file order; rows from ``first_row``)."""
        for col, st in stats.items():
            if st.n:
                self.filled.add(col)
            self.values[col] = self.values.get(col, 0) + st.n
            self.nulls[col] = self.nulls.get(col, 0) + st.nulls
            if st.decimals:
                self.decimals.add(col)
                self.scales.setdefault(col, Scale()).add(st.scale)
            if not st.json:
                self.not_json.add(col)
            elif st.json_first is not None and col not in self.json_first:
                self.json_first[col] = (first_row + st.json_first[0], st.json_first[1])
            tracks = self.tracks.setdefault(col, {})
            for family, fit in st.fits.items():
                track = tracks.setdefault(family, Track())
                if fit == st.n:
                    continue
                track.every = False
                track.misfits += st.n - fit - st.nulls
                if track.first is None and family in st.first:
                    row, text = st.first[family]
                    track.first = (first_row + row, text)

    def _is(self, col: str, family: str) -> bool:
        track = self.tracks.get(col, {}).get(family)
        return col in self.filled and (track is None or track.every)

    def _keeps_text(self, col: str) -> bool:
        """Numbers keep their meaning: the decimals read back as written (typing_rule.py),
        as those of a column the file declares a DECIMAL do."""
        if col not in self.decimals or self.opts.declared.get(self._key(col)) == "decimal":
            return True  # a Parquet DECIMAL's scale is fixed by the file's schema
        return keeps_its_text(self.scales.get(col, Scale()))

    def _key(self, col: str) -> str:
        return dict(self.lay.data).get(col, "")

    def types(self) -> dict[str, str]:
        """How each data column is sent: string, int, float, bool (true/false any case),
        tf (t/f), json, reserved_number (an event's ``revenue``, ``value``), seconds (a
        person's ``created_at``), or as_<kind> under ``--type``."""
        out: dict[str, str] = {}
        inferred = set(self.columns())
        people = self.lay.people is not None
        for col, key in self.lay.data:
            if key in NUMBER_KEYS and not people:
                out[col] = "reserved_number"
            elif key == CREATED_AT and people:
                out[col] = "seconds"
            elif key in self.opts.type_overrides:
                kind = self.opts.type_overrides[key]
                out[col] = kind if kind in ("string", "json") else f"as_{kind}"
            elif col in inferred and self._is(col, "number") and self._keeps_text(col):
                out[col] = "float" if col in self.decimals else "int"
            elif col in inferred and self._is(col, "bool"):
                out[col] = "bool"
            elif col in inferred and self._is(col, "tf"):
                out[col] = "tf"
            else:
                out[col] = "string"
        return out

    def nearly(self) -> dict[str, Nearly]:
        """String columns (inferred) whose values are nearly all of one type: the type, and
        the first row that kept them strings (a misfit or a null text)."""
        types = self.types()
        found: dict[str, Nearly] = {}
        for col in self.columns():
            if types[col] != "string" or col not in self.filled:
                continue
            n, tracks = self.values.get(col, 0), self.tracks.get(col, {})
            close = [
                (t.misfits, f, t.first)
                for f, t in tracks.items()
                if t.first is not None
                and t.misfits <= min(MAX_MISFITS, NEARLY_SHARE * n)
                and n - self.nulls.get(col, 0) - t.misfits > 0
            ]
            if close:
                _, family, first = min(close, key=lambda c: (c[0], FAMILIES.index(c[1])))
                assert first is not None
                kind = "bool" if family != "number" else "float" if col in self.decimals else "int"
                found[col] = Nearly(kind, *first)
            elif col not in self.not_json and col in self.json_first:
                found[col] = Nearly("json", *self.json_first[col])
        return found


SHORT = MAX_DIGITS  # an integer of at most this many characters is within 2**53


def _short_whole(cell: pl.Expr) -> pl.Expr:
    """``is_whole_number`` where no cell is over ``SHORT`` characters: no cast needed."""
    return cell.str.contains(INT_RE).fill_null(False)


def _add_long_whole(whole: pl.DataFrame, stats: Stats, longer: list[str]) -> None:
    """Count the integers again, with ``is_whole_number``, in the columns with a cell over
    ``SHORT`` characters (``_short_whole`` counted its integers without their bounds)."""
    recount = [c for c in longer if "number" in stats[c].fits]
    if recount:
        found = whole.select(is_whole_number(pl.col(c)).sum() for c in recount).row(0)
        for col, n in zip(recount, found, strict=True):
            stats[col].fits["number"] = int(n)


def _add_decimals(whole: pl.DataFrame, stats: Stats) -> None:
    """Count decimals as numbers where not every value is an integer (a column of
    integers skips the costly check), with their scale facts (``typing_rule.Scale``). A
    decimal of at most 16 characters has at most 15 digits and lies between 1e-15 and
    1e15, so only longer ones are looked at closely."""
    partly = [c for c, st in stats.items() if "number" in st.fits and st.fits["number"] < st.n]
    if not partly:
        return
    cells = whole.select(_decimal_cells(pl.col(c)).alias(c) for c in partly)
    counts = cells.select(_decimal_facts(pl.col(c)).alias(c) for c in partly).row(0, named=True)
    for col, (short, longer, low, high, padded) in counts.items():
        found = short
        if longer:
            cell = pl.col(col)
            long = cell.str.contains(DEC_RE).fill_null(False) & (
                cell.str.len_bytes() > MAX_DIGITS + 1
            )
            found += int(whole.filter(long).select(_holds(cell).sum()).item())
        st = stats[col]
        st.fits["number"] += found
        st.decimals = found > 0
        st.long_decimals = longer > 0
        if short + longer:
            st.scale = Scale(short + longer, low, high, padded)


def _decimal_cells(cell: pl.Expr) -> pl.Expr:
    """Per cell, what ``_decimal_facts`` counts: its fraction digits (null unless a decimal),
    longer than 16 characters, ends in a zero. Each cell is matched against ``DEC_RE``
    once (an eager select repeats a subexpression each time it is used)."""
    size = cell.str.len_bytes()
    digits = size - cell.str.find(".", literal=True) - 1
    return pl.struct(
        digits=pl.when(cell.str.contains(DEC_RE)).then(digits),
        longer=size > MAX_DIGITS + 1,
        zero=cell.str.ends_with("0"),
    )


def _decimal_facts(cells: pl.Expr) -> pl.Expr:
    """Per column of ``_decimal_cells``: [short decimals, long ones (over 16 characters),
    fewest and most fraction digits of a decimal, decimals ending in a zero after another
    digit]."""
    digits, longer = cells.struct.field("digits"), cells.struct.field("longer")
    decimal = digits.is_not_null()
    padded = (digits > 1) & cells.struct.field("zero")
    return pl.concat_list(
        (decimal & ~longer).sum().cast(pl.Int64),
        (decimal & longer).sum().cast(pl.Int64),
        digits.min().cast(pl.Int64),
        digits.max().cast(pl.Int64),
        padded.fill_null(False).sum().cast(pl.Int64),
    )


JSON_START = r"^\s*[\[{]"  # what a JSON object or array starts with


def _add_json(whole: pl.DataFrame, stats: Stats, asked: list[str]) -> None:
    """For the columns still ``asked``: is every non-empty value a JSON object or array (its
    first character, then a parse), and which is the first (chunk row, text)."""
    if not asked:
        return
    shaped = whole.select(
        (pl.col(c).is_null() | pl.col(c).str.contains(JSON_START)).all() for c in asked
    ).row(0)
    maybe = [c for c, ok in zip(asked, shaped, strict=True) if ok]
    if not maybe:
        return
    parsed = whole.select(
        pl.concat_list(
            (pl.col(c).is_null() | pl.col(c).str.json_path_match("$").is_not_null())
            .all()
            .cast(pl.Int64),
            pl.col(c).is_not_null().arg_true().first().cast(pl.Int64),
        ).alias(c)
        for c in maybe
    ).row(0, named=True)
    rows = whole.get_column("_row")
    for col, (every, at) in parsed.items():
        stats[col].json = bool(every)
        if every and at is not None:
            stats[col].json_first = (int(rows[at]), str(whole.get_column(col)[at]))


def _add_misfits(whole: pl.DataFrame, stats: Stats, before: dict[str, dict[str, int]]) -> None:
    """Where some value does not fit a family: the null texts, and the first non-fitting
    cell (chunk row and text) of each family that can still be nearly the column's type
    (``before``: misfits of the chunks before, by column and family; over ``MAX_MISFITS``
    where the first non-fitting cell is known already)."""
    short = [c for c, st in stats.items() if any(k < st.n for k in st.fits.values())]
    if not short:
        return
    found = whole.select(pl.col(c).is_in(NULL_TEXTS).sum() for c in short).row(0)
    exprs = []
    for col, nulls in zip(short, found, strict=True):
        st = stats[col]
        st.nulls = int(nulls)
        for f, k in st.fits.items():
            if k < st.n and before.get(col, {}).get(f, 0) + st.n - k - st.nulls <= MAX_MISFITS:
                cheap = f == "number" and not st.long_decimals
                odd = pl.col(col).is_not_null() & ~(
                    _fits_cheaply(pl.col(col)) if cheap else fits(pl.col(col), f)
                )
                exprs.append(odd.arg_true().first().alias(f"{col}/{f}"))
    if not exprs:
        return
    rows = whole.get_column("_row")
    for name, at in whole.select(exprs).row(0, named=True).items():
        if at is not None:
            col, f = name.rsplit("/", 1)
            stats[col].first[f] = (int(rows[at]), str(whole.get_column(col)[at]))


def _fits_cheaply(cell: pl.Expr) -> pl.Expr:
    """``fits(cell, "number")`` where no decimal is over 16 characters (so none needs its
    digits counted)."""
    decimal = cell.str.contains(DEC_RE) & (cell.str.len_bytes() <= MAX_DIGITS + 1)
    return is_whole_number(cell) | decimal.fill_null(False)
