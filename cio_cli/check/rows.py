"""Row rules, as polars expressions over a whole chunk, built from ``check/rule_table.py``'s table.

``check_rows()`` splits a chunk of raw cells into valid rows (with the trimmed name
and customer id, the identifier kind and the timestamp in Unix seconds) and
rejected rows (with ``_err``, their reasons joined by ``"; "``), and counts
each broken rule and each warning. ``identify()`` is the cheap part the first
pass needs.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from cio_cli.check import rule_table as c
from cio_cli.check import timestamps
from cio_cli.check.contract import (
    ANONYMOUS_ID,
    CREATED_AT,
    CURRENCY_KEY,
    CUSTOMER_ID,
    EMAIL_ATTRIBUTE,
    EMAIL_KEYS,
    EVENT_ID,
    ISO_4217,
    NAME,
    NUMBER_KEYS,
    TIMESTAMP,
    WINDOW_S,
    Layout,
    ReadOptions,
)
from cio_cli.check.values import (
    BOOL_FORMS,
    FLOAT_RANGE,
    INT_RANGE,
    json_cells,
    out_of_range,
    typed_value,
)

# -- row rules ------------------------------------------------------------------


def _quoted(expr: pl.Expr, limit: int = 60) -> pl.Expr:
    """The cell text in single quotes for a message, cut at ``limit`` characters."""
    cut = pl.when(expr.str.len_chars() > limit).then(
        pl.concat_str([expr.str.slice(0, limit), pl.lit("...")])
    )
    return pl.concat_str([pl.lit("'"), cut.otherwise(expr), pl.lit("'")])


@dataclass
class _Rules:
    """Collects (code, condition, message) for errors and (code, condition) for warnings."""

    errors: list[tuple[str, pl.Expr, pl.Expr]] = field(default_factory=list)
    warnings: list[tuple[str, pl.Expr]] = field(default_factory=list)

    def error(self, code: str, cond: pl.Expr, *parts: pl.Expr | str) -> None:
        self.errors.append((code, cond.fill_null(False), _lits(*parts)))

    def broken(
        self, rule: c.Rule, cond: pl.Expr, field: str, value: pl.Expr | None = None,
        size: pl.Expr | None = None,
    ) -> None:  # fmt: skip
        """Add a rule of the contract: its message, ``{value}`` quoted, then its fix."""
        self.errors.append((rule.code, cond.fill_null(False), message(rule, field, value, size)))

    def warn(self, code: str, cond: pl.Expr) -> None:
        self.warnings.append((code, cond.fill_null(False)))


def _lits(*parts: pl.Expr | str) -> pl.Expr:
    return pl.concat_str([p if isinstance(p, pl.Expr) else pl.lit(p) for p in parts])


def message(
    rule: c.Rule, field: str, value: pl.Expr | None = None, size: pl.Expr | None = None
) -> pl.Expr:
    """A rule's message for a CSV row: its text, the cell where it names one, its fix."""
    return _lits(*_message(rule, field, value, size), rule.csv_suffix())


def _message(
    rule: c.Rule, field: str, value: pl.Expr | None, size: pl.Expr | None
) -> list[pl.Expr | str]:
    """The pieces of ``rule.message``: its text, and the cell where it names one."""
    pieces: list[pl.Expr | str] = []
    for text in re.split(r"(\{\w+\})", rule.message):
        if text == "{value}" and value is not None:
            pieces.append(_quoted(value))
        elif text == "{size}" and size is not None:
            pieces.append(size.cast(pl.String))
        elif text:
            pieces.append(text.format(field=field, limit=rule.limit))
    return pieces


def identify(
    df: pl.DataFrame, lay: Layout, opts: ReadOptions, forms: tuple[bool, bool] | None = None
) -> pl.DataFrame:
    """Add ``_cid``, ``_kind`` and ``_ts``: all the first pass needs of most rows.

    ``_cid`` is the row's identifier, trimmed: its ``_cio_customer_id``, or else its
    ``_cio_anonymous_id`` (kind ``anonymous_id``); null when it has neither.

    ``forms`` is ``timestamps.forms(df, lay)`` when the caller has it already. The cells
    read several times (the ids trimmed, the timestamp as ``timestamps.prepared``) are
    computed once, as columns (``_cid``, ``_aid``, ``_tt``; the last two dropped).
    """
    textual, decimals = forms if forms is not None else timestamps.forms(df, lay)
    ready = timestamps.prepared(lay, textual, decimals)
    cid = pl.lit(None, pl.String) if lay.customer_id is None else _trimmed(lay.customer_id)
    once = {"_cid": cid, "_aid": _trimmed(lay.anonymous_id), "_tt": ready}
    df = df.with_columns(**{name: e for name, e in once.items() if e is not None})
    tt = None if ready is None else "_tt"
    person, anonymous = _nonempty("_cid"), _nonempty("_aid")
    alone = {} if lay.anonymous_id is None else {"_aid": person.is_null() & anonymous.is_not_null()}
    df = df.with_columns(
        _cid=person if lay.anonymous_id is None else pl.coalesce(person, anonymous),
        _ts=timestamps.seconds(lay, opts, textual, decimals, tt),
        _ms=timestamps.read_as_ms(lay, opts, textual, tt),
        **alone,
    )
    if ready is not None:
        df.drop_in_place("_tt")  # a frame of this call's own
    if lay.anonymous_id is None:
        return df.with_columns(_kind=_kind(opts))
    kind = pl.when("_aid").then(pl.lit(c.ANONYMOUS_KIND)).otherwise(_kind(opts))
    df = df.with_columns(_kind=kind)
    df.drop_in_place("_aid")
    return df


def _trimmed(column: str | None) -> pl.Expr | None:
    """A column's cells trimmed (None when the file has no such column)."""
    return None if column is None else pl.col(column).str.strip_chars()


def _nonempty(column: str) -> pl.Expr:
    """A column of trimmed cells, null where empty."""
    cell = pl.col(column)
    return pl.when(cell != "").then(cell)


def _filled(column: str | None) -> pl.Expr:
    """A column's cells trimmed, null when empty (or when the file has no such column)."""
    if column is None:
        return pl.lit(None, pl.String)
    cell = pl.col(column).str.strip_chars()
    return pl.when(cell != "").then(cell)


@dataclass
class Checked:
    """A chunk split by the rules: valid rows, rejected rows (with ``_err``), and tallies."""

    good: pl.DataFrame
    bad: pl.DataFrame
    errors: Counter[str]
    warnings: Counter[str]
    identified: pl.DataFrame  # every row, before the split, with ``_cid _kind _ts``
    reasons: Counter[str] = field(default_factory=Counter)  # rejected rows per broken rule's text


def split(df: pl.DataFrame, mask: pl.Series) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(rows where mask, rows where not)``, without copying when one side is empty."""
    hits = int(mask.sum())
    if hits == 0:
        return df.clear(), df
    if hits == df.height:
        return df, df.clear()
    return df.filter(mask), df.filter(~mask)


RANGES = {"int": INT_RANGE, "float": FLOAT_RANGE}  # --type kinds whose values are bounded
ID_FORMS = f"(?:{c.ID_INVALID.pattern})|(?:{c.ID_UUID_RE})"  # a ULID or a UUID: one regex


def check_rows(
    df: pl.DataFrame, lay: Layout, opts: ReadOptions, now: int, counted: pl.Expr | None = None
) -> Checked:
    """Apply every row rule to a chunk of raw cells.

    Valid rows gain ``_name _cid _kind _ts _ms`` (and ``_sub``, the milliseconds within
    ``_ts``, for an API that sends them); rejected rows keep their raw
    cells and ``_row`` and gain ``_err``, their reasons joined by ``"; "``.
    Flags and messages are built only for rejected rows, so a clean chunk
    costs the checks and nothing more.

    ``counted`` (over ``_cid``: the rows of this run's shard) adds ``_in`` to every
    row, rejected ones included; only those rows count in the errors, warnings and reasons.
    """
    name = pl.col(lay.name).str.strip_chars() if lay.name else pl.lit(None, pl.String)
    forms = timestamps.forms(df, lay)
    textual = forms[0]
    df = identify(df, lay, opts, forms).with_columns(_name=name)  # trimmed once, then:
    df = df.with_columns(_name=_nonempty("_name"))
    if opts.millis:
        df = df.with_columns(_sub=timestamps.millis(lay, opts, *forms))
    if counted is not None:
        df = df.with_columns(_in=counted)
    df = json_cells(df, lay, opts)
    rules = _Rules()
    _field_count(rules, lay)
    if lay.people is None:
        _name_rules(rules, opts, df)
    _person_rules(rules, lay, opts)
    _timestamp_rules(rules, lay, opts, now, textual, df)
    if lay.people is not None:
        df = _attribute_rules(rules, df, lay, opts)
    if lay.event_id is not None:
        eid = pl.col(lay.event_id).str.strip_chars()
        bad_id = eid.is_not_null() & ~eid.str.contains(ID_FORMS)
        rules.broken(c.ID_INVALID, bad_id, EVENT_ID, eid)
    if lay.people is None:
        _data_rules(rules, lay, opts)
    mask = df.select(pl.any_horizontal(cond for _, cond, _ in rules.errors)).to_series()
    bad, good = split(df, mask)
    mine = (good, bad) if counted is None else (good.filter("_in"), bad.filter("_in"))
    warnings = _sums(mine[0], [(code, cond) for code, cond in rules.warnings])
    errors = _sums(mine[1], [(code, cond) for code, cond, _ in rules.errors])
    if bad.height:
        messages = [pl.when(cond).then(msg) for _, cond, msg in rules.errors]
        raw = lay.raw(bad.columns) + ([] if counted is None else ["_in"])
        err = pl.concat_str(messages, separator="; ", ignore_nulls=True)
        broken = mine[1].select(pl.concat_list(messages).alias("_r"))  # this shard's
        reasons = broken.explode("_r").drop_nulls()
        bad = bad.select(*raw, "_row", _err=err)
        return Checked(good, bad, errors, warnings, df, tally(reasons.get_column("_r")))
    return Checked(good, bad, errors, warnings, df)


def tally(reasons: pl.Series) -> Counter[str]:
    """How many times each reason text occurs."""
    return Counter(dict(reasons.value_counts().iter_rows()))


def _sums(df: pl.DataFrame, conds: list[tuple[str, pl.Expr]]) -> Counter[str]:
    out: Counter[str] = Counter()
    if df.height == 0 or not conds:
        return out
    found = df.select(cond.sum().alias(str(i)) for i, (_, cond) in enumerate(conds)).row(0)
    for (code, _), n in zip(conds, found, strict=True):
        if n:
            out[code] += int(n)
    return out


def _field_count(rules: _Rules, lay: Layout) -> None:
    nf = pl.col("_nf")
    extra = pl.when(pl.col("_extra").is_not_null()).then(
        pl.concat_str([pl.lit("; extra cells: "), pl.col("_extra")])
    )
    wrong = pl.concat_str(
        [
            pl.lit("row has "),
            nf.cast(pl.String),
            pl.lit(f" fields, the header has {lay.ncols}"),
            extra.fill_null(""),
        ]
    )
    message = pl.when(nf < 0).then(pl.concat_str([pl.lit("row "), pl.col("_extra")]))
    rules.error("field_count", nf != lay.ncols, message.otherwise(wrong))


def _name_rules(rules: _Rules, opts: ReadOptions, df: pl.DataFrame) -> None:
    name = pl.col("_name")
    rules.broken(c.NAME_EMPTY, name.is_null(), NAME)
    _too_long(rules, c.NAME_TOO_LONG, name, NAME)
    odd = name.str.contains(c.NAME_ODD_RE)
    if not df.select(name.unique().str.contains(c.NAME_ODD_RE).any()).item():
        return  # no space, so no semantic name, and no name_format warning (a chunk has
        # few names: each is looked at once)
    if not opts.allow_semantic:
        semantic = name.str.to_lowercase().is_in(c.SEMANTIC_NAMES)
        rules.broken(c.SEMANTIC_NAME, semantic, NAME, name)
    if opts.warn_name_format:
        rules.warn("name_format", odd)


def _too_long(rules: _Rules, rule: c.Rule, value: pl.Expr, column: str) -> None:
    size = value.str.len_bytes()
    rules.broken(rule, size > rule.limit, column, size=size)


def _kind(opts: ReadOptions) -> pl.Expr:
    """The kind each row's ``_cio_customer_id`` is sent as: ``id`` for every value with
    ``--identifier id``; ``email`` for the values with ``@`` with ``--identifier email``
    (the others are rejected, so no kind); else the value's own kind (``auto``, ``per-row``)."""
    cid = pl.col("_cid")
    if opts.identifier == "id":
        return pl.when(cid.is_not_null()).then(pl.lit("id"))
    if opts.identifier == "email":
        return pl.when(cid.str.contains(c.EMAIL_MARK, literal=True)).then(pl.lit("email"))
    return (
        pl.when(cid.str.contains(c.EMAIL_MARK, literal=True))
        .then(pl.lit("email"))
        .when(cid.str.starts_with(c.CIO_ID_PREFIX))
        .then(pl.lit("cio_id"))
        .when(cid.is_not_null())
        .then(pl.lit("id"))
    )


def _person_rules(rules: _Rules, lay: Layout, opts: ReadOptions) -> None:
    """The customer id's rules; with a ``_cio_anonymous_id`` column, exactly one of the two."""
    if lay.anonymous_id is None:
        cid = pl.col("_cid")
        rules.broken(c.CUSTOMER_ID_EMPTY, cid.is_null(), CUSTOMER_ID)
    else:
        cid, anonymous = _filled(lay.customer_id), _filled(lay.anonymous_id)
        rules.broken(c.NO_PERSON, cid.is_null() & anonymous.is_null(), CUSTOMER_ID)
        rules.broken(c.BOTH_PEOPLE, cid.is_not_null() & anonymous.is_not_null(), CUSTOMER_ID)
        _too_long(rules, c.ANONYMOUS_ID_TOO_LONG, anonymous, ANONYMOUS_ID)
    _too_long(rules, c.CUSTOMER_ID_TOO_LONG, cid, CUSTOMER_ID)
    if opts.identifier == "email":
        rules.error(
            "not_email",
            cid.is_not_null() & ~cid.str.contains(c.EMAIL_MARK, literal=True),
            "_cio_customer_id ",
            _quoted(cid),
            " is not an email address (--identifier email)",
        )


# -- timestamps -------------------------------------------------------------------


def _timestamp_rules(
    rules: _Rules, lay: Layout, opts: ReadOptions, now: int, textual: bool, df: pl.DataFrame
) -> None:
    """The timestamp's rules. Those of a cell read as no time (no zone, unreadable) are
    left out where every filled cell was read (``_ts``): they hold for no row then."""
    if lay.timestamp is None:
        return
    t = timestamps.text(lay) if textual else pl.col(lay.timestamp)
    ts = pl.col("_ts")
    if df.select((pl.col(lay.timestamp).is_not_null() & ts.is_null()).any()).item():
        _unread_rules(rules, opts, textual, t)
    future = ts > now + c.TIMESTAMP_FUTURE.limit
    rules.broken(c.TIMESTAMP_FUTURE, future, TIMESTAMP, t)
    rules.broken(c.TIMESTAMP_BEFORE_1970, ts < 0, TIMESTAMP, t)
    rules.warn("timestamp_ms", pl.col("_ms") & ts.is_not_null())


def _unread_rules(rules: _Rules, opts: ReadOptions, textual: bool, t: pl.Expr) -> None:
    """A timestamp without a zone (without ``--assume-tz``), or of no form: ``t`` is the
    trimmed cell, null when empty."""
    ts = pl.col("_ts")
    naive = t.str.contains(c.TIMESTAMP_NO_ZONE.pattern) if textual else pl.lit(False)
    if opts.assume_tz is None:
        rules.broken(c.TIMESTAMP_NO_ZONE, naive, TIMESTAMP, t)
    unreadable = t.is_not_null() & ts.is_null()
    rule = c.TIMESTAMP_INVALID
    why = _lits(*_message(rule, TIMESTAMP, t, None), rule.csv_suffix())
    if opts.assume_tz is None:
        unreadable = unreadable & ~naive
    elif textual:  # only the message: built for rejected rows alone
        gap = (
            f" is a local time that does not exist in {opts.assume_tz}: the clocks jump past it"
            " (daylight saving time); add an offset or correct it"
        )
        why = (
            pl.when(timestamps.skipped_by_clocks(t, opts.assume_tz))
            .then(_lits(f"{TIMESTAMP} ", _quoted(t), gap))
            .otherwise(why)
        )
    rules.error(rule.code, unreadable, why)


def in_window(now: int, lay: Layout) -> pl.Expr:
    """True for events that can trigger campaigns: no timestamp, or the last 72 hours.
    A person's update is never in the window (a real people import has its note instead)."""
    if lay.people is not None:
        return pl.lit(False)
    ts = pl.col("_ts")
    return ts.is_null() | (ts >= now - WINDOW_S)


# -- data rules -------------------------------------------------------------------


def seconds_column(col: str) -> str:
    """The column ``check_rows`` adds beside a person's ``created_at`` (``c<i>``): its
    Unix seconds, as the encoder sends them."""
    return f"_s_{col}"


def _attribute_rules(
    rules: _Rules, df: pl.DataFrame, lay: Layout, opts: ReadOptions
) -> pl.DataFrame:
    """A person's ``email`` must be an email address; ``created_at`` any timestamp form
    (read as ``_cio_timestamp`` is, to ``seconds_column``); the chunk with those seconds."""
    if (email := lay.key_of(EMAIL_ATTRIBUTE)) is not None:
        cell = pl.col(email)
        bad = cell.is_not_null() & ~cell.str.contains(c.EMAIL_ATTRIBUTE_INVALID.pattern)
        rules.broken(c.EMAIL_ATTRIBUTE_INVALID, bad, EMAIL_ATTRIBUTE, cell)
    if (created := lay.key_of(CREATED_AT)) is None:
        return df
    as_ts = dataclasses.replace(lay, timestamp=created)
    textual, decimals = timestamps.forms(df, as_ts)
    name = seconds_column(created)
    df = df.with_columns(timestamps.seconds(as_ts, opts, textual, decimals).alias(name))
    seconds = pl.col(name)
    t = timestamps.text(as_ts) if textual else pl.col(created)
    naive = t.str.contains(c.TIMESTAMP_NO_ZONE.pattern) if textual else pl.lit(False)
    unreadable = t.is_not_null() & seconds.is_null()
    if opts.assume_tz is None:
        rules.broken(c.TIMESTAMP_NO_ZONE, naive, CREATED_AT, t)
        unreadable = unreadable & ~naive
    rules.broken(c.CREATED_AT_INVALID, unreadable, CREATED_AT, t)
    rules.broken(c.TIMESTAMP_BEFORE_1970, seconds < 0, CREATED_AT, t)
    return df


def _data_rules(rules: _Rules, lay: Layout, opts: ReadOptions) -> None:
    overrides = opts.type_overrides
    email_cols = []
    for col, key in lay.data:
        cell = pl.col(col)
        if key in EMAIL_KEYS:
            email_cols.append(cell)
            bad = cell.is_not_null() & ~cell.str.contains(c.EMAIL_INVALID.pattern)
            rules.broken(c.EMAIL_INVALID, bad, key, cell)
        elif key in NUMBER_KEYS:
            number = cell.str.strip_chars().str.contains(c.NOT_A_NUMBER.pattern)
            rules.broken(c.NOT_A_NUMBER, cell.is_not_null() & ~number, key, cell)
        elif key == CURRENCY_KEY:
            bad = cell.is_not_null() & ~cell.str.to_uppercase().is_in(ISO_4217)
            rules.broken(c.CURRENCY_INVALID, bad, key, cell)
        elif overrides.get(key) == "json":
            bad = cell.is_not_null() & pl.col(f"_j_{col}").is_null()
            rules.error(
                "json_invalid",
                bad,
                f"{key} ",
                _quoted(cell),
                " ",
                pl.col(f"_je_{col}"),
                f" (--type {key}=json)",
            )
        elif key in overrides and overrides[key] != "string":
            kind = overrides[key]
            bad = cell.is_not_null() & typed_value(cell, kind).is_null()
            why = _misfit(cell, key, kind)
            if kind == "float" and opts.declared.get(key) == "float":  # the file's own floats
                why = pl.lit(" is not a finite number: JSON has no NaN or infinity")
            rules.error("type_mismatch", bad, f"{key} ", _quoted(cell), why)
    if email_cols:
        rules.warn("email_override", pl.any_horizontal(e.is_not_null() for e in email_cols))


def _misfit(cell: pl.Expr, key: str, kind: str) -> pl.Expr:
    """Why a cell does not fit ``--type key=kind``: not of its form, or (an int, a float)
    beyond what the type holds, with the type that keeps it."""
    plain = f" is not {'an' if kind == 'int' else 'a'} {kind} (--type {key}={kind})"
    if kind == "bool":
        return pl.lit(f"{plain}: {BOOL_FORMS}")
    if kind not in RANGES:
        return pl.lit(plain)
    keeps = "json sends it as written" if kind == "float" else "string sends it as text"
    ranged = f" is {RANGES[kind]} (--type {key}={kind}; --type {key}={keeps})"
    return pl.when(out_of_range(cell, kind)).then(pl.lit(ranged)).otherwise(pl.lit(plain))
