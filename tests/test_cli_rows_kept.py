"""Every row sent, a duplicate, or in the rejects file, once, with its values as read: the
new inputs (NDJSON, Parquet), --max-rejected with shards, tried as a clumsy user would.

Each test runs the real CLI; the fake server stands in for Customer.io where a run sends.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cio_cli.read import ndjson
from tests.cli_support import cio, old, summary, write_csv
from tests.fakecio import FakeCio

TS = old()


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _event(i: int, **more: object) -> dict[str, object]:
    return {"_cio_name": "ev", "_cio_customer_id": f"u{i}", "_cio_timestamp": TS + i, **more}


def test_an_ndjson_rejects_file_imported_again_unchanged_keeps_the_lines_that_were_not_objects(
    tmp_path: Path,
) -> None:
    """A line that was not a JSON object is ``_cio_line`` in the rejects file; importing that
    file again (same flags, not yet fixed) wrote ``{"_cio_row":1,...}``: the line was gone
    from the only file that still held it."""
    path = tmp_path / "e.ndjson"
    path.write_text(json.dumps(_event(1, _cio_timestamp="soon")) + "\n[1,2]\nnot json\n")
    assert cio("validate", path).exit_code == 1
    first = tmp_path / "e.ndjson.rejects.ndjson"
    again = tmp_path / "again.ndjson"
    again.write_bytes(first.read_bytes())
    result = cio("validate", again, "--json")
    assert result.exit_code == 1, result.stderr
    assert summary(result)["rejected"] == 3
    rows = _lines(tmp_path / "again.ndjson.rejects.ndjson")
    assert [r.get("_cio_line") for r in rows] == [None, "[1,2]", "not json"]
    assert rows[0]["_cio_customer_id"] == "u1" and [r["_cio_row"] for r in rows] == [1, 2, 3]


@pytest.fixture
def edited_between_passes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path, str], None]]:
    """Rewrite an NDJSON file with ``text`` as pass 2 starts reading it (as an export job
    still writing it would), the same number of lines."""
    edits: dict[str, tuple[Path, str]] = {}
    calls = []
    chunks = ndjson.NdjsonSource.chunks

    def late(self: ndjson.NdjsonSource, *args: Any, **kwargs: Any) -> Iterator[Any]:
        calls.append(1)
        if len(calls) == 2 and "edit" in edits:
            where, text = edits["edit"]
            where.write_text(text)
        return chunks(self, *args, **kwargs)

    monkeypatch.setattr(ndjson.NdjsonSource, "chunks", late)
    yield lambda where, text: edits.__setitem__("edit", (where, text))


def test_an_ndjson_file_edited_between_the_passes_stops_before_sending_what_pass_1_never_saw(
    tmp_path: Path, fake_cio: FakeCio, edited_between_passes: Callable[[Path, str], None]
) -> None:
    """Pass 2 sent the edited lines with pass 1's keys: a key added meanwhile was dropped
    without a word, exit 0, and the journal finished for bytes that were not sent; the
    rerun started over and sent each event again under a new id (its data had changed)."""
    path = tmp_path / "e.ndjson"
    path.write_text("".join(json.dumps(_event(i)) + "\n" for i in range(5)))
    edited = "".join(json.dumps(_event(i, coupon="X")) + "\n" for i in range(5))
    edited_between_passes(path, edited)
    flags = ["--base-url", fake_cio.url, "--site-id", "site", "--api-key", "key", "--json"]
    result = cio("import", path, *flags)
    assert result.exit_code == 5, result.stderr
    assert "changed while cio was" in summary(result)["error"]
    assert all("coupon" not in e["attributes"] for e in fake_cio.events)
    again = cio("import", path, *flags)
    assert again.exit_code == 0, again.stderr
    assert {e["id"] for e in fake_cio.events} == set(fake_cio.events_by_id)
    latest = {e["identifiers"]["id"]: e["attributes"] for e in fake_cio.events}
    assert latest == {f"u{i}": {"coupon": "X"} for i in range(5)}


def test_every_shard_exits_1_when_the_whole_file_is_above_max_rejected(tmp_path: Path) -> None:
    """The file's rejected rows all belong to one person, in one shard: the other shard's
    dry run said 'above' and exited 0, while its real import sends nothing
    and exits 1 (a dry run decides as the import does, SPEC 9)."""
    rows = [["ev", f"u{i}", str(TS + i), "a"] for i in range(40)]
    rows += [["", "bad", str(TS), "a"]] * 6
    path = write_csv(tmp_path / "e.csv", ["_cio_name", "_cio_customer_id", "_cio_timestamp",
                                          "plan"], rows)  # fmt: skip
    for shard in ("1/2", "2/2"):
        result = cio("import", path, "--dry-run", "--shard", shard, "--max-rejected", "5", "--json")
        s = summary(result)
        assert s["max_rejected"]["decision"] == "above"
        assert result.exit_code == s["exit_code"] == 1, (shard, s)


def test_parquet_time_and_duration_columns_are_sent_whole_and_come_back_in_the_rejects_file(
    tmp_path: Path,
) -> None:
    """A Time column went out as '12:34:56' for 12:34:56.789 and made the rejects file
    unwritable (exit 5, 'free some space', the rejected rows in no file, every rerun the
    same); a Duration column was a traceback. Both are text (ISO-8601 for a duration), and
    the rejects file holds their values as read."""
    times = [dt.time(12, 34, 56, 789000), dt.time(0, 0), None]
    spans = [dt.timedelta(days=400, hours=2, seconds=4, microseconds=5), dt.timedelta(0), None]
    df = pl.DataFrame({
        "_cio_name": ["ev", "", ""], "_cio_customer_id": ["u1", "u2", "u3"],
        "_cio_timestamp": [TS] * 3, "at": times,
        "span": pl.Series(spans, dtype=pl.Duration("ns")),
    })  # fmt: skip
    path = tmp_path / "e.parquet"
    df.write_parquet(path)
    out = tmp_path / "out.ndjson"
    result = cio("import", path, "--dry-run", "--json", "--out", out)
    assert result.exit_code == 1, result.stderr
    assert summary(result)["rejected"] == 2
    (op,) = [op for line in _lines(out) for op in line["batch"]]
    assert op["attributes"] == {"at": "12:34:56.789", "span": "P400DT2H4.000005S"}
    rejects = pl.read_parquet(tmp_path / "e.parquet.rejects.parquet")
    assert rejects.schema["at"] == pl.Time and rejects.schema["span"] == pl.Duration("ns")
    assert rejects["at"].to_list() == times[1:] and rejects["span"].to_list() == spans[1:]


def test_a_parquet_fixed_size_array_comes_back_in_the_rejects_file(tmp_path: Path) -> None:
    """An Array column (also inside a struct) made the rejects file unwritable: polars
    decodes JSON into lists only, so every rejected row was in no file (exit 5)."""
    pair = pl.Array(pl.Int64, 2)
    df = pl.DataFrame({
        "_cio_name": ["ev", ""], "_cio_customer_id": ["u1", "u2"], "_cio_timestamp": [TS] * 2,
        "pair": pl.Series([[1, 2], [3, None]], dtype=pair),
        "deep": pl.Series([None, {"p": [5, 6]}], dtype=pl.Struct({"p": pair})),
    })  # fmt: skip
    path = tmp_path / "e.parquet"
    df.write_parquet(path)
    result = cio("validate", path, "--json")
    assert result.exit_code == 1, result.stderr
    rejects = pl.read_parquet(tmp_path / "e.parquet.rejects.parquet")
    assert rejects.schema["pair"] == pair and rejects.schema["deep"] == df.schema["deep"]
    assert rejects.select("pair", "deep").rows() == df.select("pair", "deep").rows()[1:]


def test_ndjson_numbers_no_double_holds_are_sent_as_written(tmp_path: Path) -> None:
    """1e400 (valid JSON) and NaN (as some exporters write it) went out as the string
    'null', and the rejects file held null: the value was gone. They are now their own
    text, as a CSV cell 1e400 is, and come back as written."""
    path = tmp_path / "e.ndjson"
    lines = [json.dumps(_event(1))[:-1] + ', "x": 1e400}', json.dumps(_event(2))[:-1] + ', "x": NaN}',
             json.dumps(_event(3, _cio_name=""))[:-1] + ', "x": -1E+999}']  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.ndjson"
    result = cio("import", path, "--dry-run", "--json", "--out", out)
    assert result.exit_code == 1, result.stderr
    ops = [op for line in _lines(out) for op in line["batch"]]
    assert [op["attributes"] for op in ops] == [{"x": "1e400"}, {"x": "NaN"}]
    assert '"x":-1E+999,' in (tmp_path / "e.ndjson.rejects.ndjson").read_text()


def test_an_ndjson_rejects_file_is_never_told_to_rename_its_raw_line_to_the_event_name(
    tmp_path: Path,
) -> None:
    """The rows rejected for an empty _cio_name lose the key in the rejects file (an empty
    string is an empty cell); imported again, the hint said "found '_cio_line': rename it
    to _cio_name", which would send each broken line's text as an event's name."""
    path = tmp_path / "e.ndjson"
    path.write_text(json.dumps(_event(1, _cio_name="")) + "\nnot json\n")
    assert cio("validate", path).exit_code == 1
    result = cio("validate", tmp_path / "e.ndjson.rejects.ndjson")
    assert result.exit_code == 3
    assert "missing required column _cio_name" in result.stderr
    assert "rename" not in result.stderr and "the header has '_cio_customer_id'" in result.stderr


def test_a_parquet_column_of_nulls_only_keeps_its_type_in_the_rejects_file(tmp_path: Path) -> None:
    """A Null-typed column (every value null) came back as a String column."""
    df = pl.DataFrame({
        "_cio_name": [""], "_cio_customer_id": ["u1"], "_cio_timestamp": [TS],
        "never": pl.Series([None], dtype=pl.Null),
    })  # fmt: skip
    path = tmp_path / "e.parquet"
    df.write_parquet(path)
    assert cio("validate", path).exit_code == 1
    rejects = pl.read_parquet(tmp_path / "e.parquet.rejects.parquet")
    assert rejects.drop("_cio_row", "_cio_error").schema == df.schema
