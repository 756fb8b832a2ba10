"""Reading CSV input end to end: line endings, quoting, row numbers, ragged rows, stray
quotes, .csv.gz, stdin, encodings, and files that span many internal chunks.

SPEC section 2 (files, row numbers), 5 (rejects file) and 6 (blank lines).
"""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.cli_support import (
    BASE,
    Outcome,
    block_bytes,
    cio,
    csv_module_only,
    csv_text,
    dry_run,
    old,
    read_out,
    read_rejects,
    summary,
    write_gz,
    write_raw,
)
from tests.fakecio import FakeCio

HEAD = ",".join(BASE) + "\n"


def test_crlf_line_endings(tmp_path: Path) -> None:
    ts = old()
    text = csv_text(BASE, [["signup", "u1", str(ts), "pro"], ["", "u2", str(ts), "basic"],
                           ["buy", "u3", str(ts), "a\r\nb"]], newline="\r\n")  # fmt: skip
    out = dry_run(write_raw(tmp_path / "crlf.csv", text))
    assert out.code == 1
    assert [(op["name"], op["attributes"]) for op in out.ops] == [
        ("signup", {"plan": "pro"}), ("buy", {"plan": "a\r\nb"})
    ]  # fmt: skip
    assert out.ops[0]["timestamp"] == ts
    assert out.rejects == [{"_cio_name": "", "_cio_customer_id": "u2", "_cio_timestamp": str(ts),
                            "plan": "basic", "_cio_row": "3", "_cio_error": "_cio_name is empty"}]  # fmt: skip


def test_quoted_commas_quotes_and_newlines(tmp_path: Path) -> None:
    ts = str(old())
    plans = ["a,b", 'say "hi"', "line1\nline2", '"', ",", "x\n\n,y", " padded "]
    text = csv_text(BASE, [["e", f"u{i}", ts, p] for i, p in enumerate(plans)])
    out = dry_run(write_raw(tmp_path / "q.csv", text))
    assert out.code == 0
    assert [op["attributes"]["plan"] for op in out.ops] == plans
    assert out.summary["rows"] == len(plans)


def test_every_cell_quoted(tmp_path: Path) -> None:
    ts = str(old())
    text = '"_cio_name","_cio_customer_id","_cio_timestamp","plan"\n' f'"e","u1","{ts}","pro"\n'
    out = dry_run(write_raw(tmp_path / "q.csv", text))
    assert out.code == 0
    assert out.ops[0]["attributes"] == {"plan": "pro"}
    assert out.ops[0]["timestamp"] == int(ts)


def test_row_numbers_count_blank_lines_and_records(tmp_path: Path) -> None:
    ts = old()
    text = (
        HEAD                                    # row 1
        + f"ok,u1,{ts},p\n"                     # row 2
        + "\n"                                  # row 3: blank
        + f",u2,{ts},p\n"                       # row 4: rejected
        + f'ok,u3,{ts},"two\nlines"\n'          # row 5 (two lines, one record)
        + f",u4,{ts},p\n"                       # row 6: rejected
        + "\n\n"                                # rows 7, 8: blank
        + f'ok,u5,{ts},"a\n\nb"\n'              # row 9 (a blank line inside quotes)
        + f",u6,{ts},p\n"                       # row 10: rejected
        + "\n"                                  # trailing blank line
    )  # fmt: skip
    path = write_raw(tmp_path / "rows.csv", text)
    out = dry_run(path)
    assert out.code == 1
    assert sorted(out.reasons) == [4, 6, 10]
    assert [r["_cio_customer_id"] for r in out.rejects] == ["u2", "u4", "u6"]
    assert out.summary["rows"] == 6, "blank lines are not rows"
    assert [op["attributes"]["plan"] for op in out.ops] == ["p", "two\nlines", "a\n\nb"]
    human = cio("validate", path)
    assert "row 4: _cio_name is empty" in human.stderr
    assert "row 10: _cio_name is empty" in human.stderr


def test_row_of_bare_commas_is_a_row_not_a_blank_line(tmp_path: Path) -> None:
    ts = old()
    text = HEAD + f"ok,u1,{ts},p\n" + ",,,\n" + f"ok,u2,{ts},p\n"
    out = dry_run(write_raw(tmp_path / "commas.csv", text))
    assert out.code == 1
    assert out.summary["rows"] == 3
    assert list(out.reasons) == [3]
    assert "_cio_name is empty" in out.reasons[3]


def test_ragged_rows_are_rejected_not_fatal(tmp_path: Path) -> None:
    ts = old()
    text = (
        HEAD
        + f"ok,u1,{ts},p\n"
        + "short,u2\n"
        + f'long,u3,{ts},p,extra1,"ex,2",\n'
        + "single\n"
        + f"ok,u4,{ts},q\n"
    )
    out = dry_run(write_raw(tmp_path / "ragged.csv", text))
    assert out.code == 1
    assert [op["identifiers"]["id"] for op in out.ops] == ["u1", "u4"]
    assert out.summary["rows"] == 5 and out.summary["rejected"] == 3
    assert out.summary["errors"]["field_count"] == 3
    short, long_, single = out.rejects
    assert short == {"_cio_name": "short", "_cio_customer_id": "u2", "_cio_timestamp": "",
                     "plan": "", "_cio_row": "3",
                     "_cio_error": "row has 2 fields, the header has 4"}  # fmt: skip
    assert [long_[c] for c in BASE] == ["long", "u3", str(ts), "p"]
    assert long_["_cio_row"] == "4"
    assert long_["_cio_error"].startswith("row has 7 fields, the header has 4")
    assert 'extra1,"ex,2",' in long_["_cio_error"], "the extra cells, quoted as CSV"
    assert single["_cio_row"] == "5" and single["_cio_name"] == "single"


def test_ragged_rows_that_balance_each_other_are_still_rejected(tmp_path: Path) -> None:
    """One short row (two cells missing) and two long rows (one extra each): every one of
    them has the wrong number of fields, even though the file's separators add up."""
    ts = old()
    text = (
        HEAD
        + f"ok,u1,{ts},p\n"
        + f"long,u2,{ts},p,extra\n"
        + "short,u3\n"
        + f"long,u4,{ts},p,extra\n"
        + f"ok,u5,{ts},p\n"
    )
    out = dry_run(write_raw(tmp_path / "ragged.csv", text))
    assert out.code == 1
    assert [op["identifiers"]["id"] for op in out.ops] == ["u1", "u5"]
    assert sorted(out.reasons) == [3, 4, 5]
    assert "extra" in out.reasons[3] and "extra" in out.reasons[5]
    assert out.rejects[0]["plan"] == "p" and out.rejects[1]["plan"] == ""


def test_rejects_file_quotes_carriage_returns(tmp_path: Path) -> None:
    """Cells with a lone CR come back intact through a standard CSV reader."""
    ts = old()
    text = HEAD + f'ok,u1,{ts},"a\rb"\n' + f',u2,{ts},"c\rd"\n' + f',u3,{ts},"e\r\nf"\n'
    out = dry_run(write_raw(tmp_path / "cr.csv", text))
    assert out.ops[0]["attributes"] == {"plan": "a\rb"}
    assert [(r["_cio_row"], r["plan"]) for r in out.rejects] == [("3", "c\rd"), ("4", "e\r\nf")]


def test_bare_carriage_return_in_an_unquoted_field_does_not_crash(tmp_path: Path) -> None:
    ts = old()
    text = HEAD + f"ok,u1,{ts},a\rb\n" + "short\n" + f"ok,u2,{ts},c\n"
    path = write_raw(tmp_path / "cr.csv", text)
    result = cio("import", path, "--dry-run", "--json")
    assert result.exit_code in (1, 3), result.stderr
    if result.exit_code == 1:
        s = summary(result)
        assert s["rows"] == s["sent"] + s["duplicates"] + s["rejected"] + s["skipped_recent"]
        assert s["rejected"] >= 1


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_stray_quote_inside_unquoted_field_is_literal(tmp_path: Path, newline: str) -> None:
    ts = old()
    text = newline.join([
        HEAD.strip(),
        f"ok,u1,{ts},plain",
        f'ok,u2,{ts},12" pizza',
        f'ok,u3,{ts},"a,b"',
        f",u4,{ts},p",
        f'ok,u5,{ts},5" x 7"',
        "",
    ])  # fmt: skip
    out = dry_run(write_raw(tmp_path / "stray.csv", text))
    assert out.code == 1
    assert [op["attributes"]["plan"] for op in out.ops] == ["plain", '12" pizza', "a,b", '5" x 7"']
    assert list(out.reasons) == [5]
    assert out.summary["rows"] == 5


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_stray_quote_followed_by_quoted_cells(tmp_path: Path, newline: str) -> None:
    """Every line has an odd number of quotes; each is still one record of its own."""
    header = '"_cio_name","_cio_customer_id","_cio_timestamp","plan","amount"'
    text = newline.join([
        header,
        '"signup","u1","",12" pizza,"1"',
        '"signup","u2","",12" pizza,"2.5"',
        '"signup","u3","","plain","3"',
        "",
    ])  # fmt: skip
    out = dry_run(write_raw(tmp_path / "stray.csv", text))
    assert out.code == 0
    assert out.summary["rows"] == 3
    assert [(op["identifiers"]["id"], op["attributes"]) for op in out.ops] == [
        ("u1", {"plan": '12" pizza', "amount": 1}),
        ("u2", {"plan": '12" pizza', "amount": 2.5}),
        ("u3", {"plan": "plain", "amount": 3}),
    ]  # fmt: skip


def test_gzip_input(tmp_path: Path) -> None:
    ts = old()
    text = csv_text(BASE, [["ok", "u1", str(ts), "café"], ["", "u2", str(ts), "p"]])
    path = write_gz(tmp_path / "events.csv.gz", text)
    out_file = tmp_path / "out.ndjson"
    result = cio("import", path, "--dry-run", "--json", "--out", out_file)
    assert result.exit_code == 1
    s = summary(result)
    rejects = tmp_path / "events.csv.gz.rejects.csv"
    assert s["files"] == [str(path)] and s["rejects_file"] == str(rejects)
    assert s["rows"] == 2 and s["sent"] == 1
    _, rows = read_rejects(rejects)
    assert rows[0]["_cio_customer_id"] == "u2" and rows[0]["_cio_row"] == "3"
    (line,) = read_out(out_file)
    assert line["batch"][0]["attributes"] == {"plan": "café"}


def test_gzip_and_plain_give_the_same_requests(tmp_path: Path) -> None:
    ts = old()
    text = csv_text(BASE, [["ok", f"u{i}", str(ts - i), f'p "{i}",\n'] for i in range(50)])
    plain = dry_run(write_raw(tmp_path / "a.csv", text))
    packed = dry_run(write_gz(tmp_path / "a.csv.gz", text))
    assert plain.out_bytes == packed.out_bytes != b""


@pytest.mark.parametrize("command", ["validate", "import"])
def test_stdin_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    monkeypatch.chdir(tmp_path)
    ts = old()
    text = csv_text(BASE, [["ok", "u1", str(ts), "p"], ["", "u2", str(ts), "q"]])
    args = ["validate", "-", "--json"] if command == "validate" else \
        ["import", "-", "--dry-run", "--json", "--out", "out.ndjson"]  # fmt: skip
    result = cio(*args, input=text.encode())
    assert result.exit_code == 1, result.stderr
    s = summary(result)
    assert s["files"] == ["-"]
    assert s["rows"] == 2 and s["sent"] == 1 and s["rejected"] == 1
    rejects = tmp_path / "stdin.rejects.csv"
    assert rejects.exists()
    assert s["rejects_file"] is not None and Path(s["rejects_file"]).resolve() == rejects.resolve()
    _, rows = read_rejects(rejects)
    assert rows[0]["_cio_row"] == "3" and rows[0]["plan"] == "q"
    if command == "import":
        (line,) = read_out(tmp_path / "out.ndjson")
        assert line["batch"][0]["identifiers"] == {"id": "u1"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["stdin.rejects.csv"] + (["out.ndjson"] if command == "import" else [])
    ), "no spooled copy of stdin is left behind"


def test_latin1_encoding(tmp_path: Path) -> None:
    ts = old()
    text = HEAD + f"caf\xe9,u1,{ts},cr\xe8me\n" + f",u2,{ts},\xe9t\xe9\n"
    path = write_raw(tmp_path / "latin.csv", text.encode("latin-1"))
    out = dry_run(path, "--encoding", "latin-1")
    assert out.code == 1
    assert out.ops[0]["name"] == "café" and out.ops[0]["attributes"] == {"plan": "crème"}
    assert "crème".encode() in out.out_bytes, "non-ASCII is written as UTF-8, not escaped"
    raw = (tmp_path / "latin.csv.rejects.csv").read_bytes()
    assert "été".encode() in raw, "the rejects file is UTF-8 whatever --encoding was"
    assert out.rejects[0]["plan"] == "été"


def test_unknown_encoding_is_refused(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "e.csv", HEAD + f"ok,u1,{old()},p\n")
    result = cio("validate", path, "--encoding", "no-such-codec")
    assert result.exit_code in (2, 3)
    assert "no-such-codec" in result.stderr


@pytest.mark.parametrize(
    ("prefix", "row"),
    [("", 3), ("\n", 4), ('ok,u0,{ts},"multi\nline"\n', 4), ('ok,u0,{ts},12" pizza\n', 4)],
    ids=["third row", "after a blank line", "after a multi-line record", "after a stray quote"],
)
def test_invalid_utf8_is_unimportable_naming_the_row(tmp_path: Path, prefix: str, row: int) -> None:
    ts = old()
    data = (HEAD + f"ok,u1,{ts},p\n" + prefix.format(ts=ts)).encode() + \
        f"ok,u2,{ts},caf".encode() + b"\xe9\n" + f"ok,u3,{ts},p\n".encode()  # fmt: skip
    path = write_raw(tmp_path / "bad.csv", data)
    out = tmp_path / "out.ndjson"
    result = cio("import", path, "--dry-run", "--out", out)
    assert result.exit_code == 3
    assert f"row {row}" in result.stderr
    assert "--encoding" in result.stderr
    assert not out.exists() or out.read_bytes() == b"", "nothing is sent"
    check = cio("validate", path)
    assert check.exit_code == 3 and f"row {row}" in check.stderr


def test_invalid_utf8_inside_a_multi_line_field_names_its_first_row(tmp_path: Path) -> None:
    ts = old()
    data = (HEAD + f"ok,u1,{ts},p\n" + f'ok,u2,{ts},"multi\nli').encode() + b'\xe9ne"\n'
    result = cio("validate", write_raw(tmp_path / "bad.csv", data))
    assert result.exit_code == 3
    assert "row 3" in result.stderr


def test_invalid_utf8_in_gzip_input_names_the_row(tmp_path: Path) -> None:
    ts = old()
    data = (HEAD + f"ok,u1,{ts},p\n").encode() + b"ok,u2,1,caf\xe9\n"
    path = tmp_path / "bad.csv.gz"
    path.write_bytes(gzip.compress(data))
    result = cio("validate", path)
    assert result.exit_code == 3
    assert "row 3" in result.stderr and "--encoding" in result.stderr


def test_invalid_text_in_a_declared_encoding_names_the_row(tmp_path: Path) -> None:
    """0x81 has no character in cp1252: the message names the row, as for UTF-8."""
    ts = old()
    data = (HEAD + f"ok,u1,{ts},p\n" + f'ok,u2,{ts},"multi\nline"\n').encode() + \
        f"ok,u3,{ts},a".encode() + b"\x81b\n"  # fmt: skip
    path = write_raw(tmp_path / "cp.csv", data)
    result = cio("validate", path, "--encoding", "cp1252")
    assert result.exit_code == 3
    assert "row 4" in result.stderr
    assert "--encoding" in result.stderr


def test_utf16_encoding(tmp_path: Path) -> None:
    ts = old()
    text = HEAD.replace("\n", "\r\n") + f"café,u1,{ts},crème\r\n"
    path = write_raw(tmp_path / "u16.csv", text.encode("utf-16"))
    out = dry_run(path, "--encoding", "utf-16")
    assert out.code == 0
    assert out.ops[0]["name"] == "café" and out.ops[0]["attributes"] == {"plan": "crème"}


def test_bom_quoted_header_and_no_final_newline(tmp_path: Path) -> None:
    ts = old()
    text = '\ufeff"_cio_name","_cio_customer_id","_cio_timestamp","plan"\r\n' + \
        f'"e","u1","{ts}","p"\r\n"e","u2","{ts}","q"'  # fmt: skip
    out = dry_run(write_raw(tmp_path / "bom.csv", text))
    assert out.code == 0
    assert [op["attributes"]["plan"] for op in out.ops] == ["p", "q"]


def test_invalid_utf8_in_header_names_row_1(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "bad.csv", b"_cio_name,_cio_customer_id,pl\xe9n\nok,u1,p\n")
    result = cio("validate", path)
    assert result.exit_code == 3
    assert "row 1" in result.stderr and "--encoding" in result.stderr


# -- many chunks ---------------------------------------------------------------------


@dataclass
class Generated:
    """A generated CSV and what a correct reader must make of it."""

    text: str
    rows: int = 0
    rejected_rows: list[int] = field(default_factory=list)
    sent_ids: list[str] = field(default_factory=list)
    plans: dict[str, str] = field(default_factory=dict)


def generate(n: int, seed: int) -> Generated:
    """``n`` records with blank lines, multi-line quoted fields and bad rows sprinkled in."""
    rnd = random.Random(seed)
    ts = old()
    lines = [HEAD]
    gen = Generated("")
    row = 2
    for i in range(n):
        if rnd.random() < 0.01:
            lines.append("\n" * rnd.randint(1, 3))
            row += lines[-1].count("\n")
        cid = f"u{i}"
        kind = rnd.random()
        if kind < 0.05:
            plan = f'multi\nline {i}, "q"\n'
            cell = '"' + plan.replace('"', '""') + '"'
        elif kind < 0.06:
            plan = f"{i} ,a"
            cell = f'"{plan}"'
        else:
            plan = f"p{i % 13}"
            cell = plan
        bad = rnd.random()
        if bad < 0.01:
            lines.append(f",{cid},{ts - i},{cell}\n")
            gen.rejected_rows.append(row)
        elif bad < 0.015:
            lines.append(f"short,{cid}\n")
            gen.rejected_rows.append(row)
        elif bad < 0.02:
            lines.append(f"long,{cid},{ts - i},{cell},x\n")
            gen.rejected_rows.append(row)
        else:
            lines.append(f"evt,{cid},{ts - i},{cell}\n")
            gen.sent_ids.append(cid)
            gen.plans[cid] = plan
        gen.rows += 1
        row += 1
    gen.text = "".join(lines)
    return gen


def check_generated(out: Outcome, gen: Generated) -> None:
    """The outcome matches exactly what the generator planted."""
    assert out.summary["rows"] == gen.rows
    assert out.summary["rejected"] == len(gen.rejected_rows)
    assert out.summary["sent"] == len(gen.sent_ids)
    assert [int(r["_cio_row"]) for r in out.rejects] == gen.rejected_rows
    ops = out.ops
    assert [op["identifiers"]["id"] for op in ops] == gen.sent_ids
    assert all(op["attributes"]["plan"] == gen.plans[op["identifiers"]["id"]] for op in ops)


def test_large_file_across_many_chunks(tmp_path: Path) -> None:
    gen = generate(30_000, seed=1)
    path = write_raw(tmp_path / "big.csv", gen.text)
    whole = dry_run(path)
    check_generated(whole, gen)
    rejects_whole = (tmp_path / "big.csv.rejects.csv").read_bytes()
    with block_bytes(64 * 1024) as chunks:
        chunked = dry_run(path)
    assert chunks and min(chunks) > 10, f"the file should span many chunks, got {chunks}"
    check_generated(chunked, gen)
    assert chunked.out_bytes == whole.out_bytes
    assert (tmp_path / "big.csv.rejects.csv").read_bytes() == rejects_whole
    drop = ("duration_s", "events_per_s")
    assert {k: v for k, v in chunked.summary.items() if k not in drop} == \
        {k: v for k, v in whole.summary.items() if k not in drop}  # fmt: skip


def test_multiline_fields_straddling_chunk_boundaries(tmp_path: Path) -> None:
    ts = old()
    rows = [["evt", f"u{i}", str(ts - i), f'first {i},\n"second"\n\nthird {"x" * (i % 17)}']
            for i in range(700)]  # fmt: skip
    text = csv_text(BASE, rows)
    data = text.encode()
    size = 4096
    inside = [k for k in range(size, len(data), size) if data.count(b'"', 0, k) % 2 == 1]
    assert len(inside) > 3, "some block boundaries must fall inside a quoted multi-line field"
    path = write_raw(tmp_path / "ml.csv", text)
    with block_bytes(size) as chunks:
        out = dry_run(path)
    assert chunks and min(chunks) > 10
    assert out.code == 0
    assert out.summary["rows"] == 700
    assert [op["attributes"]["plan"] for op in out.ops] == [r[3] for r in rows]


def test_cell_larger_than_many_blocks(tmp_path: Path) -> None:
    ts = old()
    big = ("x" * 999 + "\n,\"") * 20  # about 20 KB: still one op of a batch
    rows = [["e", "u1", str(ts), "a"], ["e", "u2", str(ts), big], ["", "u3", str(ts), big],
            ["e", "u4", str(ts), "b"]]  # fmt: skip
    path = write_raw(tmp_path / "big.csv", csv_text(BASE, rows))
    with block_bytes(4096) as chunks:
        out = dry_run(path)
    assert chunks and min(chunks) >= 2
    assert [op["attributes"]["plan"] for op in out.ops] == ["a", big, "b"]
    assert list(out.reasons) == [4]
    assert out.rejects[0]["plan"] == big


@pytest.mark.parametrize(
    "anomaly",
    ["short row", "long row", "stray quote", "odd quotes", "blank lines", "bare commas", "bad name"],
)
def test_anomaly_in_a_later_chunk_keeps_numbering_exact(tmp_path: Path, anomaly: str) -> None:
    ts = old()
    lines = [HEAD] + [f"evt,u{i},{ts - i},\"p,{i}\"\n" for i in range(800)]
    at = 600  # lines[at] is record row `at + 1` before the anomaly is inserted
    planted = {
        "short row": ("short,x\n", 1),
        "long row": (f"long,x,{ts},p,extra\n", 1),
        "stray quote": (f'evt,x,{ts},12" pizza\n', 0),
        "odd quotes": (f'"evt","x","{ts}",12" pizza\n', 0),
        "blank lines": ("\n\n\n", 0),
        "bare commas": (",,,\n", 1),
        "bad name": (f",x,{ts},p\n", 1),
    }
    extra, rejected = planted[anomaly]
    lines.insert(at, extra)
    lines.append(f",last,{ts},p\n")
    text = "".join(lines)
    path = write_raw(tmp_path / "a.csv", text)
    whole = dry_run(path)
    whole_rejects = path.with_name("a.csv.rejects.csv").read_bytes()
    with block_bytes(4096) as chunks:
        small = dry_run(path)
    assert chunks and min(chunks) > 5
    for out in (whole, small):
        records = 801 + (0 if anomaly == "blank lines" else 1)
        assert out.summary["rows"] == records
        assert out.summary["rejected"] == 1 + rejected
        last_row = 802 + extra.count("\n")  # header + 800 lines + the anomaly's lines + 1
        assert max(out.reasons) == last_row, out.reasons
        if rejected:
            assert min(out.reasons) == at + 1
        if anomaly in ("stray quote", "odd quotes"):
            assert {op["attributes"]["plan"] for op in out.ops if op["identifiers"]["id"] == "x"} \
                == {'12" pizza'}  # fmt: skip
    assert small.out_bytes == whole.out_bytes
    assert path.with_name("a.csv.rejects.csv").read_bytes() == whole_rejects


def test_gzip_across_many_chunks(tmp_path: Path) -> None:
    gen = generate(3_000, seed=7)
    path = write_gz(tmp_path / "big.csv.gz", gen.text)
    with block_bytes(4096) as chunks:
        out = dry_run(path)
    assert chunks and min(chunks) > 5
    check_generated(out, gen)
    assert gzip.decompress(path.read_bytes()).decode() == gen.text


# -- issue 9: files that cannot be read whole ----------------------------------------

OPEN_QUOTE = (
    'error: {name}: row {row} opens a quoted field (a cell starting with ") that is never'
    " closed: everything after it, to the end of the file, would be that one cell"
)


def _open_quote_file(tmp_path: Path, after: int = 7) -> Path:
    ts = old()
    good = [f"ev,u{i},{ts},ok\n" for i in range(5, 5 + after)]
    text = HEAD + f"ev,u1,{ts},a\nev,u1b,{ts},b\n" + f'u2,ev,{ts},"Big order, rush\n' + "".join(good)
    return write_raw(tmp_path / "open.csv", text)


def _refused_with_open_quote(result_stderr: str, name: str, row: int) -> None:
    assert OPEN_QUOTE.format(name=name, row=row) in " ".join(result_stderr.split())
    assert "close the quote" in result_stderr
    assert "Traceback" not in result_stderr


@pytest.mark.parametrize("reader", ["polars", "csv module", "many chunks"])
def test_a_quote_open_at_the_end_of_the_file_is_unimportable(tmp_path: Path, reader: str) -> None:
    """Issue 9 item 2: row 4 opens a quote never closed; rows 5-11 must not ride in its data."""
    path = _open_quote_file(tmp_path)
    out = tmp_path / "out.ndjson"
    with ExitStack() as stack:
        if reader == "csv module":
            stack.enter_context(csv_module_only())
        if reader == "many chunks":
            stack.enter_context(block_bytes(64))
        checked = cio("validate", path)
        dry = cio("import", path, "--dry-run", "--out", out, "--json")
    for result in (checked, dry):
        assert result.exit_code == 3, result.stderr
        _refused_with_open_quote(result.stderr, str(path), 4)
    assert not out.exists(), "nothing written: the file is refused as a whole"
    assert not (tmp_path / "open.csv.rejects.csv").exists()


def test_a_quote_open_at_the_end_sends_nothing(tmp_path: Path, fake_cio: FakeCio) -> None:
    path = _open_quote_file(tmp_path)
    result = cio("import", path, "--base-url", fake_cio.url, "--site-id", "site",
                 "--api-key", "key", "--quiet")  # fmt: skip
    assert result.exit_code == 3
    _refused_with_open_quote(result.stderr, str(path), 4)
    assert fake_cio.requests == [] and fake_cio.events == []


@pytest.mark.parametrize(
    ("tail", "row"),
    [('ev,u2,{ts},"no comma and no newline', 3), ('ev,u2,{ts},"a ""quoted"" word\n', 3),
     ('\n\nev,u2,{ts},"x\n\n', 5)],
    ids=["last line", "doubled quotes", "after blank lines"],
)
def test_an_open_quote_on_the_last_row_is_unimportable(tmp_path: Path, tail: str, row: int) -> None:
    ts = old()
    path = write_raw(tmp_path / "end.csv", HEAD + f"ev,u1,{ts},a\n" + tail.format(ts=ts))
    result = cio("validate", path)
    assert result.exit_code == 3
    _refused_with_open_quote(result.stderr, str(path), row)


@pytest.mark.parametrize("reader", ["polars", "csv module", "many chunks"])
def test_a_quote_left_open_until_a_later_quoted_cell_is_unimportable(
    tmp_path: Path, reader: str
) -> None:
    """The same slip in a file whose later rows quote their cells: the csv module's lenient
    mode closed row 4's quote at row 5's first quote and sent row 5 inside row 4's data."""
    ts = old()
    good = "".join(f'ev,u{i},{ts},"ok, {i}"\n' for i in range(5, 60))
    text = HEAD + f'ev,u1,{ts},a\nev,u1b,{ts},"b"\n' + f'ev,u2,{ts},"Big order, rush\n' + good
    path = write_raw(tmp_path / "open.csv", text)
    with ExitStack() as stack:
        if reader == "csv module":
            stack.enter_context(csv_module_only())
        if reader == "many chunks":
            stack.enter_context(block_bytes(200))
        results = [cio("validate", path), cio("import", path, "--dry-run")]
    for result in results:
        assert result.exit_code == 3, result.stderr
        assert (
            f'error: {path}: row 4 opens a quoted field (a cell starting with ") that runs on over'
            " the next lines until a quote in the middle of a later cell closes it: those lines"
            " would be part of that one cell"
        ) in " ".join(result.stderr.split())


def test_an_open_quote_in_the_header_is_unimportable(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "h.csv", '_cio_name,"_cio_customer_id,plan\nev,u1,p\n')
    result = cio("validate", path)
    assert result.exit_code == 3
    _refused_with_open_quote(result.stderr, str(path), 1)


def test_closed_quotes_at_the_end_still_read(tmp_path: Path) -> None:
    ts = old()
    text = HEAD + f'ev,u1,{ts},12" pizza\n' + f'ev,u2,{ts},"a ""b"" c"'
    out = dry_run(write_raw(tmp_path / "ok.csv", text))
    assert [op["attributes"]["plan"] for op in out.ops] == ['12" pizza', 'a "b" c']


CR_HINT = "hint: convert the line endings to LF or CRLF, for example: tr '\\r' '\\n' < in.csv > out.csv"


@pytest.mark.parametrize("command", ["validate", "import"])
def test_cr_only_line_endings_are_unimportable(tmp_path: Path, command: str) -> None:
    """Issue 9 item 8: old Mac line endings; before, a _csv.Error traceback."""
    ts = old()
    path = write_raw(tmp_path / "mac.csv", HEAD.replace("\n", "\r") + f"ev,u1,{ts},p\rev,u2,{ts},q\r")
    result = cio(command, path, *(["--dry-run"] if command == "import" else []))
    assert result.exit_code == 3
    assert (
        f"error: {path}: the file's lines end with a lone carriage return (CR, as in old Mac"
        " files), which cio does not take as the end of a row: row 1 (the header) never ends"
    ) in " ".join(result.stderr.split())
    assert CR_HINT in result.stderr


def test_a_lone_cr_in_the_header_is_unimportable(tmp_path: Path) -> None:
    ts = old()
    path = write_raw(tmp_path / "cr.csv", "_cio_name,_cio_customer_id\r,_cio_timestamp,plan\n"
                     + f"ev,u1,{ts},p\n")  # fmt: skip
    result = cio("validate", path)
    assert result.exit_code == 3
    assert (
        f"error: {path}: row 1 (the header) holds a carriage return (CR) that is not part of"
        " a line end"
    ) in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def _gz_bytes(rows: int = 3000) -> bytes:
    ts = old()
    return gzip.compress((HEAD + "".join(f"ev,u{i},{ts},p{i}\n" for i in range(rows))).encode())


@pytest.mark.parametrize(
    ("damage", "message"),
    [(lambda d: d[: len(d) // 2], "the gzip data ends too soon: the file is truncated"),
     (lambda d: d + b"garbage!", "after the end of its gzip data, the file holds bytes that are not gzip"),
     (lambda d: d + b"\x1f\x8b\x08" + bytes(7) + b"\xff not deflate", "the gzip data is damaged")],
    ids=["truncated", "trailing garbage", "a broken second member"],
)
def test_a_damaged_gzip_file_is_unimportable(
    tmp_path: Path, fake_cio: FakeCio, damage: Callable[[bytes], bytes], message: str
) -> None:
    """Issue 9 item 11: before, 'Aborted!' or a BadGzipFile traceback."""
    path = write_raw(tmp_path / "x.csv.gz", damage(_gz_bytes()))
    for args in (["validate"], ["import", "--dry-run"],
                 ["import", "--base-url", fake_cio.url, "--site-id", "s", "--api-key", "k"]):  # fmt: skip
        result = cio(args[0], path, *args[1:])
        assert result.exit_code == 3, (args, result.stderr)
        assert f"error: {path}: {message}" in " ".join(result.stderr.split())
        assert "hint: copy or compress the file again (gzip -t FILE checks a .gz file)" in result.stderr
    assert fake_cio.requests == []


def test_invalid_utf8_names_the_byte_of_the_file(tmp_path: Path) -> None:
    """Issue 9 item 21: "at byte N" counts from the start of the file, not of a block."""
    ts = old()
    head = (HEAD + "".join(f"ev,u{i},{ts},p\n" for i in range(300))).encode()
    data = head + b"ev,bad,1,caf\xe9\n" + f"ev,u,{ts},p\n".encode() * 300
    for name, raw in (("plain.csv", data), ("bom.csv", b"\xef\xbb\xbf" + data)):
        path = write_raw(tmp_path / name, raw)
        at = raw.index(b"\xe9")
        for reader in ("polars", "csv module"):
            with block_bytes(1000), csv_module_only() if reader == "csv module" else ExitStack():
                result = cio("validate", path)
            assert result.exit_code == 3
            assert f"row 302 is not valid utf-8 text (invalid continuation byte at byte {at})" in \
                " ".join(result.stderr.split()), (name, reader, result.stderr)  # fmt: skip


def test_a_pipe_is_read_like_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 9 item 21: `cio validate <(cat f.csv)` read 'no such file'."""
    ts = old()
    text = HEAD + f"ev,u1,{ts},p\n,u2,{ts},q\n"
    fifo = tmp_path / "pipes" / "events.csv"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    writer = threading.Thread(target=lambda: fifo.write_text(text))
    writer.start()
    result = cio("import", fifo, "--dry-run", "--json", "--out", work / "out.ndjson")
    if writer.is_alive():  # cio never opened the pipe: let the writer finish
        fifo.read_bytes()
    writer.join()
    assert result.exit_code == 1, result.stderr
    s = summary(result)
    assert (s["rows"], s["sent"], s["rejected"]) == (2, 1, 1)
    assert s["rejects_file"] == str(work / "events.csv.rejects.csv")
    _, rejects = read_rejects(work / "events.csv.rejects.csv")
    assert [r["_cio_row"] for r in rejects] == ["3"]
    assert sorted(p.name for p in work.iterdir()) == ["events.csv.rejects.csv", "out.ndjson"]
    assert [p.name for p in fifo.parent.iterdir()] == ["events.csv"], "nothing beside the pipe"


def test_process_substitution_is_read(tmp_path: Path) -> None:
    """A real `<(cat f.csv)`: a /dev/fd path in a subprocess, rejects in the working directory."""
    ts = old()
    path = write_raw(tmp_path / "f.csv", HEAD + f"ev,u1,{ts},p\n")
    if not Path("/bin/bash").exists():
        pytest.skip("needs bash")
    cio_bin = Path(sys.executable).with_name("cio")
    run = subprocess.run(["/bin/bash", "-c", f'"{cio_bin}" validate --json <(cat "{path}")'],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["rows"] == 1


def test_a_bare_cr_in_a_row_is_explained_in_the_users_terms(tmp_path: Path) -> None:
    """Not the csv module's "do you need to open the file in universal-newline mode?"."""
    ts = old()
    path = write_raw(tmp_path / "cr.csv", HEAD + f"ok,u1,{ts},a\rb\n" + f"ok,u2,{ts},c\n")
    out = dry_run(path)
    assert out.summary["sent"] == 1
    assert out.reasons[2].startswith(
        "row cannot be read as CSV (a carriage return (CR) outside quotes, which does not end a"
        " line here; if the file's lines end with CR, convert them to LF or CRLF): 'ok,u1,"
    )
