"""Events as JSON, built column-wise: data, dedup ids, fingerprints, and the API's ops.

Every event's ``id`` is a ULID. From ``_cio_id`` when given (a UUID there becomes the
ULID of its 128 bits, ``uuid_as_ulid``); otherwise derived:
the 48-bit time part is the event timestamp in milliseconds (0 without one),
the 80 random bits are the first 80 bits of SHA-256 over the UTF-8 bytes of
the canonical event, the compact JSON array ``[name, kind, value, timestamp or
null, data]`` with ``data`` exactly as sent (keys sorted, no spaces, non-ASCII
as is). A person's update (``--kind people``) hashes ``[null, kind, value, timestamp
or null, attributes]``, its attributes as built from the row (``null`` for the empty
cells under ``--clear-empty``; without ``"_update"``, which is the run's, not the
row's): Pipelines sends its id as the ``messageId``; Track's identify op takes no id, so
there it only finds duplicates. The same row gives the same id on every run and machine,
so Customer.io drops a re-sent event as a duplicate. The dedup fingerprint is the next 64
bits of the same hash (with a given ``_cio_id`` appended to the hashed text).
"""

from __future__ import annotations

import orjson
import polars as pl
import polars_hash as plh

from cio_cli.check.contract import CROCKFORD, CURRENCY_KEY, Layout
from cio_cli.check.rows import seconds_column
from cio_cli.check.values import typed_value
from cio_cli.send.api import Api, OpParts

# Ten bits a gather: a 16 KB table stays in the cache, where a 20-bit one (16 MB) made each
# gather a cache miss and cost a 1M-row dry run 0.1 CPU-s and about 20 MB more.
PAIRS = pl.Series("pairs", [CROCKFORD[i >> 5] + CROCKFORD[i & 31] for i in range(1024)])
# Fifteen bits a gather (three characters; 512 KB, within the L2 cache): fewer pieces for the
# ULID's concat_str, which costs about 5 ns a piece a row, while a gather costs 1.5 ns.
TRIPLES = pl.Series("triples", [pair + c for pair in PAIRS.to_list() for c in CROCKFORD])


def uuid_as_ulid(uuids: pl.Series) -> pl.Series:
    """The ULIDs of UUIDs' 128 bits (Crockford base32 of the 128-bit integer, 26
    characters, as python-ulid's ``ULID.from_uuid``); null where it is not hex.

    Each step is a column of its own: an eager ``select`` computes a subexpression once
    per use, and the hex digits and their integers have several uses."""
    hexes = uuids.str.replace_all("-", "", literal=True).to_frame("x")
    spans = {"_top": (0, 2), "_a": (2, 15), "_b": (17, 15)}  # 8 bits, then twice 60 bits
    ints = hexes.select(
        pl.col("x").str.slice(at, n).str.to_integer(base=16, dtype=pl.UInt64, strict=False).alias(k)
        for k, (at, n) in spans.items()
    )
    parts = [pl.lit(PAIRS).gather(pl.col("_top").cast(pl.UInt32))]
    for sixty in ("_a", "_b"):  # four times 15 bits: three characters each
        fifteens = (pl.col(sixty) // (1 << b) % (1 << 15) for b in (45, 30, 15, 0))
        parts += [pl.lit(TRIPLES).gather(v.cast(pl.UInt32)) for v in fifteens]
    return ints.select(pl.concat_str(parts)).to_series()


def given_id(df: pl.DataFrame, col: str) -> pl.Series:
    """A checked chunk's ``_cio_id`` as sent: a ULID as written (trimmed), a UUID as the
    ULID of its bits. A chunk without UUIDs (longer than a ULID's 26) skips the conversion."""
    given = df.get_column(col).str.strip_chars()
    longer = given.str.len_bytes() > ULID_LENGTH
    if not longer.any():
        return given
    both = pl.DataFrame({"given": given, "ulid": uuid_as_ulid(given)})
    return both.select(pl.when(longer).then("ulid").otherwise("given")).to_series()


ULID_LENGTH = 26
INFERRED = ("string", "int", "float", "bool", "tf")  # how --types auto sends a column
NEEDS_ESCAPE = r'[\x00-\x1f"\\]'


def json_string(expr: pl.Expr) -> pl.Expr:
    """The JSON string literal of a text column (quotes and escapes included); null stays null."""
    encoded = pl.struct(expr.alias("")).struct.json_encode().str.slice(4).str.strip_suffix("}")
    return pl.when(expr.is_not_null()).then(encoded)


def _plain_columns(df: pl.DataFrame, cols: list[str]) -> set[str]:
    """The columns of ``cols`` whose cells need no JSON escaping in this chunk."""
    if not cols or df.height == 0:
        return set(cols)
    found = df.select(pl.col(c).str.contains(NEEDS_ESCAPE).any().alias(c) for c in cols).row(0)
    return {c for c, escape in zip(cols, found, strict=True) if not escape}


def _string_pieces(
    col: str, plain: set[str], before: str = "", after: str = "", upper: bool = False
) -> list[pl.Expr]:
    """Pieces of ``before + JSON string of col + after`` for one flat ``concat_str``
    (``upper``: the cell upper-cased, as ``currency`` is sent)."""
    cell = pl.col(col).str.to_uppercase() if upper else pl.col(col)
    if col in plain:
        return [pl.lit(before + '"'), cell, pl.lit('"' + after)]
    return [pl.lit(before), json_string(cell), pl.lit(after)]


def _value(col: str, kind: str) -> pl.Expr:
    """The JSON of a non-string cell."""
    cell = pl.col(col)
    if kind == "int":
        return cell
    if kind == "float":  # integers as written, decimals as their float's shortest text
        decimal = cell.str.contains(".", literal=True)
        return pl.when(decimal).then(cell.cast(pl.Float64).cast(pl.String)).otherwise(cell)
    if kind == "bool":
        return cell.str.to_lowercase()
    if kind == "tf":
        return cell.replace({"t": "true", "f": "false"})
    if kind == "reserved_number":
        return cell.str.strip_chars()
    if kind.startswith("as_"):
        return typed_value(cell, kind.removeprefix("as_"))
    if kind == "seconds":  # a person's created_at, read as check_rows read it
        return pl.col(seconds_column(col)).cast(pl.String)
    return pl.col(f"_j_{col}")  # json


def data_pieces(
    lay: Layout, types: dict[str, str], plain: set[str], full_cols: set[str]
) -> list[pl.Expr]:
    """Pieces of the event data as ``,"k1":v1,"k2":v2`` (keys sorted, empty cells left out).

    Concatenate them with ``ignore_nulls=True``: every piece of an empty cell
    is null and drops out (the literals of a column that has empty cells in
    this chunk, ``full_cols`` aside, are null where its cell is empty). The
    text starts with a comma (unless empty); drop it. A person's attributes under
    ``--clear-empty`` keep their empty cells, as ``null``.
    """
    pieces: list[pl.Expr] = []
    clear = lay.people is not None and lay.people.clear_empty
    for col, key in lay.data:
        prefix = "," + orjson.dumps(key).decode() + ":"
        if clear and col not in full_cols:
            pieces += [pl.lit(prefix), _value_or_null(col, types[col], plain, key)]
            continue
        if types[col] == "string":
            parts = _string_pieces(col, plain, prefix, upper=key == CURRENCY_KEY)
        else:
            parts = [pl.lit(prefix), _value(col, types[col])]
        if col not in full_cols:
            filled = pl.col(col).is_not_null()
            parts = [pl.when(filled).then(p) if p.meta.is_literal() else p for p in parts]
        pieces += parts
    return pieces


def _value_or_null(col: str, kind: str, plain: set[str], key: str) -> pl.Expr:
    """A cell's JSON value, or ``null`` where it is empty (``--clear-empty``)."""
    if kind == "string":
        parts = _string_pieces(col, plain, upper=key == CURRENCY_KEY)
    else:
        parts = [_value(col, kind)]
    return pl.concat_str(parts).fill_null("null")


HALVES = ("_h0", "_h1")  # the hash's first 80 bits, 40 bits a column


def _halves(hex_digest: pl.Expr) -> list[pl.Expr]:
    """The first 80 bits of a hex digest as two 40-bit integers (``HALVES``), each read once."""
    return [
        hex_digest.str.slice(10 * i, 10).str.to_integer(base=16, dtype=pl.UInt64).alias(half)
        for i, half in enumerate(HALVES)
    ]


def _ulid() -> list[pl.Expr]:
    """A ULID's pieces: 48-bit time (ms, in a 50-bit field) then the hash's first 80 bits
    (``HALVES``), Crockford base32, 15 bits (three characters) a gather: nine pieces, the
    fourth the time's last 5 bits and the hash's first 10, the last its final 10."""
    millis = pl.col("_ts").fill_null(0) * 1000
    h0, h1 = (pl.col(half) for half in HALVES)
    fifteen = 1 << 15
    straddle = (millis % 32).cast(pl.UInt64) * 1024 + h0 // (1 << 30)
    triples = [millis // (1 << b) % fifteen for b in (35, 20, 5)] + [straddle]
    triples += [h0 // fifteen % fifteen, h0 % fifteen, h1 // (1 << 25), h1 // 1024 % fifteen]
    pieces = [pl.lit(TRIPLES).gather(v.cast(pl.UInt32)) for v in triples]
    return [*pieces, pl.lit(PAIRS).gather((h1 % 1024).cast(pl.UInt32))]


def _op_parts(lay: Layout, plain: set[str], api_millis: bool) -> OpParts:
    """The checked columns as JSON pieces for ``Api.op`` (after ``_ulid``, ``_inner``)."""
    ulid = pl.col("_ulid")
    if lay.event_id is not None:  # a given _cio_id, else the derived one
        ulid = pl.when(pl.col("_eid").is_not_null()).then(pl.col("_eid")).otherwise(ulid)
    event_id = [pl.lit('"'), ulid, pl.lit('"')]
    return OpParts(
        name=_string_pieces("_name", plain),
        kind=pl.col("_kind"),
        cid=_string_pieces("_cid", plain),
        event_id=event_id,
        ts=pl.col("_ts"),
        ts_text=pl.col("_tstext"),
        ms=pl.col("_sub") if api_millis else pl.lit(0),
        data=pl.col("_inner"),
        identify=lay.people is not None,
        update_only=lay.people is not None and lay.people.update_only,
    )


def in_shard(shard: tuple[int, int]) -> pl.Expr:
    """Is a checked row's person (``_cid``, as sent) in shard I of N: the first 8 bytes of
    its SHA-256, big-endian, modulo N, plus 1. Rows with no person are shard 1's."""
    i, n = shard
    if n == 1:
        return pl.lit(True)
    first = plh.col("_cid").chash.sha2_256().str.slice(0, 16)
    index = first.str.to_integer(base=16, dtype=pl.UInt64) % n + 1
    return (index == i).fill_null(i == 1)


def encode(
    df: pl.DataFrame, lay: Layout, types: dict[str, str], api: Api, plain_text: bool = False
) -> pl.DataFrame:
    """Add ``_op`` (the API's op JSON, ``api.op``), ``_fp`` (UInt64) and ``_data_bytes``.

    ``plain_text`` says no cell needs JSON escaping (checked on the raw bytes). With a
    ``_cio_id`` column, ``_eid`` is each given id as sent (a UUID as its ULID).
    """
    strings = [col for col, _ in lay.data if types[col] == "string"]
    cols = [*strings, "_name", "_cid"]
    plain = set(cols) if plain_text else _plain_columns(df, cols)
    full = {c for c, _ in lay.data if types[c] in INFERRED and df.get_column(c).null_count() == 0}
    pieces = data_pieces(lay, types, plain, full) or [pl.lit(",")]
    inner = pl.concat_str(pieces, ignore_nulls=True)
    df = df.with_columns(_inner=inner.str.slice(1), _tstext=pl.col("_ts").cast(pl.String))
    people = lay.people is not None
    name = [pl.lit('[null,"')] if people else _string_pieces("_name", plain, "[", ',"')
    canon = [
        *name,
        pl.col("_kind"),
        *_string_pieces("_cid", plain, '",', ","),
        pl.col("_tstext").fill_null("null"),
        pl.lit(",{"),
        pl.col("_inner"),
        pl.lit("}]"),
    ]
    if lay.event_id is not None:
        df = df.with_columns(_eid=given_id(df, lay.event_id))
        canon.append(pl.col("_eid"))
    df = df.with_columns(_hash=plh.concat_str(canon, ignore_nulls=True).chash.sha2_256())
    df = df.with_columns(
        *_halves(pl.col("_hash")),
        _fp=pl.col("_hash").str.slice(20, 16).str.to_integer(base=16, dtype=pl.UInt64),
    )
    _drop(df, "_hash")
    df = df.with_columns(_ulid=pl.concat_str(_ulid()))
    _drop(df, *HALVES)
    op = api.op(_op_parts(lay, plain, api.millis))
    df = df.with_columns(
        _op=pl.concat_str(op, ignore_nulls=True),
        _data_bytes=pl.col("_inner").str.len_bytes() + 2,
    )
    return _drop(df, "_ulid", "_tstext", "_inner")


def _drop(df: pl.DataFrame, *cols: str) -> pl.DataFrame:
    """``df`` without ``cols``, changed in place (a frame of ``encode``'s own): ``drop``
    goes through the lazy engine, about 80 µs a call, ``drop_in_place`` about 1."""
    for col in cols:
        df.drop_in_place(col)
    return df
