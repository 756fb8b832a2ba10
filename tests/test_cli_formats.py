"""Parquet and NDJSON input (SPEC section 12, local files and stdin), end to end.

The same events written as CSV, Parquet and NDJSON give byte-identical ``--dry-run --out``
bodies and ids; each Parquet type and each NDJSON shape is sent as the contract says; a
file whose bytes contradict its format is exit 3; the rejects file is in the input's format
and re-imports with the same flags; a real Parquet import resumes from its journal.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cio_cli.read import parquet as parquet_reader
from cio_cli.read.places import LocalFile
from tests.cli_support import cio, old, summary
from tests.fakecio import FakeCio

TS = old()


def _write(df: pl.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        df.write_parquet(path)
    elif path.suffix in (".ndjson", ".jsonl"):
        df.write_ndjson(path)
    else:
        df.write_csv(path)
    return path


def _dry(path: Path, *flags: str) -> tuple[bytes, dict[str, Any], str]:
    out = path.with_name(path.name + ".out")
    result = cio("import", path, "--dry-run", "--json", "--out", out, *flags)
    assert result.exit_code in (0, 1), (result.exit_code, result.stderr)
    s = summary(result)
    return out.read_bytes(), s, json.dumps(s["by_reason"], ensure_ascii=False)


def _ops(body: bytes) -> list[dict[str, Any]]:
    """The ops of every batch body of a dry run's --out."""
    return [op for line in read_out_bytes(body) for op in line["batch"]]


def read_out_bytes(body: bytes) -> list[dict[str, Any]]:
    """The JSON lines of --out."""
    return [json.loads(line) for line in body.splitlines() if line]


def _events(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "_cio_name": [f"ev{i % 3}" for i in range(n)],
            "_cio_customer_id": [f"u{i}" for i in range(n)],
            "_cio_timestamp": [TS - i for i in range(n)],
            "amount": [i * 7 if i % 4 else None for i in range(n)],
            "price": [i / 4 for i in range(n)],
            "paid": [i % 2 == 0 for i in range(n)],
            "plan": [f"plan {i}" if i % 5 else None for i in range(n)],
        }
    )


def test_the_same_events_give_the_same_bodies_in_every_format(tmp_path: Path) -> None:
    events = _events(200)
    bodies = {
        ext: _dry(_write(events, tmp_path / f"e.{ext}"))[0] for ext in ("csv", "parquet", "ndjson")
    }
    assert bodies["csv"] == bodies["parquet"] == bodies["ndjson"]
    ops = _ops(bodies["csv"])
    assert len(ops) == 200
    assert ops[1]["attributes"] == {"amount": 7, "paid": False, "plan": "plan 1", "price": 0.25}


def test_nested_data_is_sent_alike_from_csv_json_cells_parquet_and_ndjson(tmp_path: Path) -> None:
    meta = [{"tags": ["a", "b"], "n": 1}, {"tags": [], "n": 2}]
    events = _events(2).with_columns(pl.Series("meta", meta))
    text = events.with_columns(pl.Series("meta", [json.dumps(m) for m in meta]))
    csv = _dry(_write(text, tmp_path / "e.csv"), "--type", "meta=json")[0]
    par = _dry(_write(events, tmp_path / "e.parquet"))[0]
    nd = _dry(_write(events, tmp_path / "e.ndjson"))[0]
    assert csv == par == nd
    assert _ops(par)[0]["attributes"]["meta"] == {"n": 1, "tags": ["a", "b"]}


LETTERS = st.text("abcxyz ", min_size=1, max_size=8).filter(lambda s: s.strip() == s)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["buy", "sell", "view"]),
            st.integers(0, 50),
            st.integers(0, 10**6),
            st.one_of(st.none(), st.integers(-(2**40), 2**40)),
            st.sampled_from([0.5, 1.25, 2.0, 19.75, -3.5]),
            st.one_of(st.none(), st.booleans()),
            st.one_of(st.none(), LETTERS.map(lambda s: "p " + s)),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_generated_rows_give_identical_bodies_and_ids(
    tmp_path: Path, rows: list[tuple[Any, ...]]
) -> None:
    names = ["_cio_name", "_cio_customer_id", "_cio_timestamp", "count", "price", "ok", "plan"]
    df = pl.DataFrame(
        [[r[0], f"u{r[1]}", TS - r[2], r[3], r[4], r[5], r[6]] for r in rows],
        schema={"_cio_name": pl.String, "_cio_customer_id": pl.String, "_cio_timestamp": pl.Int64,
                "count": pl.Int64, "price": pl.Float64, "ok": pl.Boolean, "plan": pl.String},
        orient="row",
    )  # fmt: skip
    assert df.columns == names
    found = [_dry(_write(df, tmp_path / f"g.{ext}")) for ext in ("csv", "parquet", "ndjson")]
    assert found[0][0] == found[1][0] == found[2][0]
    keys = ("rows", "sent", "duplicates", "rejected")
    assert [tuple(f[1][k] for k in keys) for f in found] == [
        tuple(found[0][1][k] for k in keys)
    ] * 3


# -- Parquet types ------------------------------------------------------------------------------


def _typed(tmp_path: Path, **columns: pl.Series) -> Path:
    base = pl.DataFrame(
        {"_cio_name": ["a", "b"], "_cio_customer_id": ["u1", "u2"], "_cio_timestamp": [TS, TS]}
    )
    return _write(
        base.with_columns(*(s.alias(k) for k, s in columns.items())), tmp_path / "t.parquet"
    )


def test_parquet_integers_past_2_53_go_as_text_as_in_csv(tmp_path: Path) -> None:
    path = _typed(tmp_path, big=pl.Series([2**53 + 1, 5]), small=pl.Series([1, 2], dtype=pl.Int16))
    body, s, _ = _dry(path)
    assert [op["attributes"] for op in _ops(body)] == [
        {"big": "9007199254740993", "small": 1},
        {"big": "5", "small": 2},
    ]
    assert s["columns"]["big"]["type"] == "string" and s["columns"]["small"]["type"] == "int"


def test_parquet_decimals_are_numbers_of_a_fixed_scale(tmp_path: Path) -> None:
    dec = pl.Series([decimal.Decimal("19.90"), None], dtype=pl.Decimal(10, 2))
    body, s, _ = _dry(_typed(tmp_path, price=dec, version=pl.Series(["2.10", "2.9"])))
    assert [op["attributes"] for op in _ops(body)] == [
        {"price": 19.9, "version": "2.10"},
        {"version": "2.9"},
    ]
    assert s["columns"]["price"]["type"] == "float"
    assert s["columns"]["version"]["type"] == "string"


def test_parquet_strings_are_never_retyped(tmp_path: Path) -> None:
    body, s, _ = _dry(
        _typed(tmp_path, zip=pl.Series(["123", "456"]), ok=pl.Series(["true", "false"]))
    )
    assert _ops(body)[0]["attributes"] == {"ok": "true", "zip": "123"}
    assert s["columns"]["zip"] == {"type": "string", "empty": 0, "blocker_row": None}


def test_parquet_nan_and_infinity_reject_the_row(tmp_path: Path) -> None:
    path = _typed(tmp_path, score=pl.Series([float("nan"), 1.5]))
    _, s, err = _dry(path)
    assert (s["rejected"], s["sent"]) == (1, 1)
    assert "score 'NaN' is not a finite number: JSON has no NaN or infinity" in err
    path = _typed(tmp_path, score=pl.Series([float("inf"), 1.5]))
    assert _dry(path)[1]["rejected"] == 1


def test_parquet_timestamps_zoned_as_is_naive_only_with_assume_tz(tmp_path: Path) -> None:
    when = dt.datetime(2024, 1, 2, 3, 4, 5, 250_000)
    zoned = pl.Series([when, when]).dt.replace_time_zone("Europe/Paris")
    base = pl.DataFrame({"_cio_name": ["a", "b"], "_cio_customer_id": ["u1", "u2"]})
    _write(base.with_columns(_cio_timestamp=zoned), tmp_path / "z.parquet")
    body, _, _ = _dry(tmp_path / "z.parquet")
    assert _ops(body)[0]["timestamp"] == int(when.replace(tzinfo=dt.UTC).timestamp()) - 3600
    _write(base.with_columns(_cio_timestamp=pl.Series([when, when])), tmp_path / "n.parquet")
    _, s, err = _dry(tmp_path / "n.parquet")
    assert s["rejected"] == 2 and "has no time zone" in err
    body, s, _ = _dry(tmp_path / "n.parquet", "--assume-tz", "UTC")
    assert s["sent"] == 2 and _ops(body)[0]["timestamp"] == int(
        when.replace(tzinfo=dt.UTC).timestamp()
    )
    dates = pl.Series([dt.date(2024, 1, 2)] * 2)
    _write(base.with_columns(_cio_timestamp=dates), tmp_path / "d.parquet")
    body, s, _ = _dry(tmp_path / "d.parquet", "--assume-tz", "UTC")
    assert _ops(body)[0]["timestamp"] == 1704153600


def test_parquet_structs_lists_and_maps_go_as_nested_json(tmp_path: Path) -> None:
    path = _typed(
        tmp_path,
        who=pl.Series([{"plan": "pro", "seats": 3}, None]),
        tags=pl.Series([["a", "b"], []]),
    )
    body, s, _ = _dry(path)
    assert [op["attributes"] for op in _ops(body)] == [
        {"tags": ["a", "b"], "who": {"plan": "pro", "seats": 3}},
        {"tags": []},
    ]
    assert s["columns"]["who"]["type"] == "json"


def test_a_binary_parquet_column_is_exit_3_with_the_map_fix(tmp_path: Path) -> None:
    path = _typed(tmp_path, blob=pl.Series([b"\x00\x01", b"x"]))
    result = cio("validate", path)
    assert result.exit_code == 3
    assert "column 'blob' holds binary data, which JSON cannot carry" in result.stderr
    assert "--map blob=-" in result.stderr
    assert cio("validate", path, "--map", "blob=-").exit_code == 0


def test_parquet_rows_are_read_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """collect_batches is unstable in polars: what cio relies on (batches of at most
    BATCH_ROWS, in order, every row once) is pinned here."""
    monkeypatch.setattr(parquet_reader, "BATCH_ROWS", 1000)
    events = _events(5500)
    path = _write(events, tmp_path / "big.parquet")
    batches = list(parquet_reader.ParquetSource(LocalFile(path)).batches())
    assert len(batches) >= 5 and max(b.height for b in batches) <= 1000
    assert pl.concat(batches).equals(events)
    body, s, _ = _dry(path)
    assert s["rows"] == s["sent"] == 5500
    assert body == _dry(_write(events, tmp_path / "big.csv"))[0]


# -- NDJSON shapes ------------------------------------------------------------------------------


def _ndjson(tmp_path: Path, lines: list[str], name: str = "e.ndjson") -> Path:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_ndjson_shapes_nested_missing_keys_blank_lines_and_non_objects(tmp_path: Path) -> None:
    head = f'"_cio_name":"a","_cio_customer_id":"u1","_cio_timestamp":{TS}'
    path = _ndjson(tmp_path, [
        "{" + head + ',"n":1,"ok":true,"meta":{"k":[1,2]}}',
        "",
        "[1, 2]",
        "{" + head.replace("u1", "u2") + ',"late":"x"}',
        "not json",
        "{" + head.replace("u1", "u3") + ',"n":2.5,"meta":[]}',
    ])  # fmt: skip
    body, s, err = _dry(path)
    assert [op["attributes"] for op in _ops(body)] == [
        {"meta": {"k": [1, 2]}, "n": 1, "ok": True},
        {"late": "x"},
        {"meta": [], "n": 2.5},
    ]
    assert (s["rows"], s["sent"], s["rejected"]) == (5, 3, 2)
    assert "row is not a JSON object (one object a line): [1, 2]" in err
    assert "row is not valid JSON: not json" in err


def test_ndjson_string_numbers_stay_strings_and_gz_is_read(tmp_path: Path) -> None:
    import gzip

    head = f'"_cio_name":"a","_cio_customer_id":"u1","_cio_timestamp":{TS}'
    text = "{" + head + ',"zip":"01234","n":7}\n'
    (tmp_path / "e.jsonl.gz").write_bytes(gzip.compress(text.encode()))
    body, _, _ = _dry(tmp_path / "e.jsonl.gz")
    assert _ops(body)[0]["attributes"] == {"n": 7, "zip": "01234"}


def test_stdin_takes_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = _write(_events(3), tmp_path / "e.parquet").read_bytes()
    result = cio(
        "import", "-", "--dry-run", "--json", "--out", "o.jsonl", "--format", "parquet", input=data
    )
    assert result.exit_code == 0, result.stderr
    assert summary(result)["sent"] == 3
    result = cio("validate", "-", input=data)
    assert result.exit_code == 3
    assert "its bytes are Parquet (it starts with PAR1)" in result.stderr
    assert "--format parquet" in result.stderr


# -- bytes that contradict the format -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "flags", "message", "fix"),
    [
        (
            "x.csv",
            "parquet",
            (),
            "read as CSV, but its bytes are Parquet (it starts with PAR1)",
            "--format parquet",
        ),
        ("x.parquet", "csv", (), "read as Parquet, but its bytes are text", "--format csv"),
        (
            "x.data",
            "csv",
            ("--format", "parquet"),
            "read as Parquet, but its bytes are text",
            "--format csv",
        ),
        ("x.csv", "gzip", (), "read as CSV, but its bytes are gzip-compressed data", "x.csv.gz"),
        (
            "x.ndjson",
            "parquet",
            (),
            "read as NDJSON, but its bytes are Parquet",
            "--format parquet",
        ),
        ("x.csv", "ndjson", (), "read as CSV, but its bytes are NDJSON", "--format ndjson"),
        ("x.parquet", "ndjson", (), "read as Parquet, but its bytes are NDJSON", "--format ndjson"),
    ],
)
def test_bytes_that_contradict_the_format_are_exit_3(
    tmp_path: Path, name: str, kind: str, flags: tuple[str, ...], message: str, fix: str
) -> None:
    import gzip

    events = _events(3)
    if kind == "parquet":
        data = _write(events, tmp_path / "src.parquet").read_bytes()
    elif kind == "ndjson":
        data = _write(events, tmp_path / "src.ndjson").read_bytes()
    else:
        data = _write(events, tmp_path / "src.csv").read_bytes()
        data = gzip.compress(data) if kind == "gzip" else data
    path = tmp_path / name
    path.write_bytes(data)
    result = cio("validate", path, *flags)
    assert result.exit_code == 3, result.stderr
    said = " ".join(result.stderr.split())
    assert message in said and fix in said
    assert "--encoding" not in said


def test_format_is_taken_from_the_config_file(tmp_path: Path) -> None:
    path = _write(_events(3), tmp_path / "export_000")
    path.write_bytes((tmp_path / "export_000").read_bytes())
    _write(_events(3), tmp_path / "p.parquet")
    path.write_bytes((tmp_path / "p.parquet").read_bytes())
    (tmp_path / "c.toml").write_text('format = "parquet"\n')
    assert cio("validate", path, "--config", tmp_path / "c.toml").exit_code == 0
    assert cio("validate", path, "--format", "xml").exit_code == 2


# -- rejects files in the input's format --------------------------------------------------------


def test_parquet_rejects_file_keeps_types_and_reimports_after_fixing(tmp_path: Path) -> None:
    events = _events(6).with_columns(
        score=pl.Series([1.5, float("nan"), 2.5, 3.5, float("inf"), 4.0]),
        meta=pl.Series([{"k": i} for i in range(6)]),
    )
    path = _write(events, tmp_path / "e.parquet")
    whole, s, _ = _dry(path)
    assert s["rejected"] == 2
    rejects = pl.read_parquet(tmp_path / "e.parquet.rejects.parquet")
    assert rejects.columns == [*events.columns, "_cio_row", "_cio_error"]
    assert rejects.schema["score"] == pl.Float64 and rejects.schema["amount"] == pl.Int64
    assert rejects.get_column("_cio_row").to_list() == [2, 5]
    assert rejects.drop("_cio_row", "_cio_error").equals(events[[1, 4]])  # as read
    assert rejects.get_column("meta").to_list() == [{"k": 1}, {"k": 4}]
    fixed = rejects.with_columns(score=pl.Series([1.0, 2.0]))
    fixed.write_parquet(tmp_path / "fixed.parquet")
    again, s2, _ = _dry(tmp_path / "fixed.parquet")
    assert (s2["sent"], s2["rejected"]) == (2, 0)
    assert [op["attributes"]["meta"] for op in _ops(again)] == [{"k": 1}, {"k": 4}]


def test_ndjson_rejects_file_is_ndjson_and_reimports_after_fixing(tmp_path: Path) -> None:
    head = '"_cio_name":"a","_cio_customer_id":"u{i}","_cio_timestamp":{ts}'
    lines = ["{" + head.format(i=i, ts=TS) + ',"n":1,"meta":{"k":1}}' for i in range(3)]
    lines[1] = lines[1].replace(f"{TS}", '"yesterday"')
    lines.append("[1]")
    path = _ndjson(tmp_path, lines)
    _, s, _ = _dry(path)
    assert s["rejected"] == 2
    rows = [json.loads(x) for x in (tmp_path / "e.ndjson.rejects.ndjson").read_text().splitlines()]
    assert rows[0] == {
        "_cio_name": "a", "_cio_customer_id": "u1", "_cio_timestamp": "yesterday", "n": 1,
        "meta": {"k": 1}, "_cio_row": 2,
        "_cio_error": "_cio_timestamp 'yesterday' is not a timestamp: use Unix seconds,"
        " Unix milliseconds, or ISO-8601 with Z or an offset",
    }  # fmt: skip
    assert rows[1]["_cio_line"] == "[1]" and rows[1]["_cio_row"] == 4
    rows[0]["_cio_timestamp"] = TS
    fixed = _ndjson(tmp_path, [json.dumps(rows[0])], "fixed.ndjson")
    body, s2, _ = _dry(fixed)
    assert (s2["sent"], s2["rejected"]) == (1, 0)
    assert _ops(body)[0]["attributes"] == {"meta": {"k": 1}, "n": 1}


# -- a real import with a journal, stopped and resumed ------------------------------------------


def test_a_parquet_import_stopped_by_exit_5_resumes_and_stores_every_event_once(
    tmp_path: Path, fake_cio: FakeCio
) -> None:
    path = _write(_events(300), tmp_path / "e.parquet")
    flags = ["--base-url", fake_cio.url, "--site-id", "site", "--api-key", "key",
             "--batch-bytes", "3000", "--concurrency", "1", "--json"]  # fmt: skip
    fake_cio.script([("delay", 0.0)] * 5 + [("status", 401, {}, b'{"meta":{"error":"no"}}')])
    first = cio("import", path, *flags)
    assert first.exit_code == 5, first.stderr
    assert (tmp_path / "e.parquet.cio-journal").exists()
    sent_before = summary(first)["sent"]
    assert 0 < sent_before < 300
    again = cio("import", path, *flags)
    assert again.exit_code == 0, again.stderr
    s = summary(again)
    assert (s["sent"], s["resumed"]) == (300, sent_before)
    ids = [e["id"] for e in fake_cio.events]
    assert len(ids) == len(set(ids)) == 300
    third = cio("import", path, *flags)
    assert third.exit_code == 0 and "already imported" in third.stderr
