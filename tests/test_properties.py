"""Properties over random small CSV files: every row is accounted for exactly once, runs are
reproducible byte for byte, and reading in tiny chunks (which sends chunks through both the
polars and the csv-module readers) gives exactly what reading in one piece gives.
"""

from __future__ import annotations

import csv
import io
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.cli_support import (
    BASE,
    SUMMARY_KEYS,
    block_bytes,
    cio,
    csv_cell,
    csv_line,
    csv_module_only,
    csv_text,
    read_out,
    read_rejects,
    summary,
)

HEADER = [*BASE, "amount"]
NAMES_OK = ["signup", " signup ", "a b", "Buy|Now", "é"]
NAMES_BAD = ["", "   ", "User Deleted", "x" * 101]
CUSTOMERS_OK = ["u1", "u2", " u3 ", "cio_1", "ü"]
CUSTOMERS_BAD = ["", "x" * 151]
TIMESTAMPS_OK = ["old", "old2", "recent", "none", "ms", "iso"]
TIMESTAMPS_BAD = ["future", "naive", "garbage", "neg"]
TIMESTAMPS = TIMESTAMPS_OK + TIMESTAMPS_BAD
AMOUNTS = ["1", "2.5", "01", "", "true", "x", "-3"]
PIECES = [*'ab ,"\n;é\r\t', "\r\n", '12" x']


def plan_text(max_size: int) -> st.SearchStrategy[str]:
    """Cell text built from the awkward pieces of CSV: commas, quotes, CR, LF, tabs."""
    return st.lists(st.sampled_from(PIECES), max_size=max_size).map("".join)


# No shrinking: each example costs several cio runs, and shrinking a failure can take
# minutes; the falsifying example is printed as found (records lists are kept short).
SETTINGS = settings(max_examples=50, deadline=None, database=None, report_multiple_bugs=False,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip


@dataclass(frozen=True)
class Row:
    """One generated record: its cells (maybe too few or too many), or a blank line."""

    cells: tuple[str, ...]
    stray: bool = False  # write the plan cell raw even though it holds a quote
    blank: bool = False


def timestamp(label: str, now: int) -> str:
    """The cell text for a timestamp label, relative to ``now``."""
    day = 86_400
    return {
        "old": str(now - 10 * day),
        "old2": f"{now - 20 * day}.5",
        "recent": str(now - 3_600),
        "none": "",
        "future": str(now + 3 * day),
        "ms": str((now - 30 * day) * 1000),
        "iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 5 * day)),
        "naive": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now - 5 * day)),
        "garbage": "soon",
        "neg": "-5",
    }[label]


@st.composite
def rows(draw: st.DrawFn) -> Row:
    """A random record: mostly valid-looking, sometimes ragged, blank or with a stray quote."""
    shape = draw(st.sampled_from(["ok"] * 4 + ["short", "long", "short", "long", "blank", "stray"]))
    if shape == "blank":
        return Row((), blank=True)
    plan = draw(plan_text(6))
    valid = draw(st.integers(0, 9)) < 7  # most rows pass every rule but (maybe) their shape
    cells = [
        draw(st.sampled_from(NAMES_OK if valid else NAMES_OK + NAMES_BAD)),
        draw(st.sampled_from(CUSTOMERS_OK if valid else CUSTOMERS_OK + CUSTOMERS_BAD)),
        draw(st.sampled_from(TIMESTAMPS_OK if valid else TIMESTAMPS)),
        plan,
        draw(st.sampled_from(AMOUNTS)),
    ]
    if shape == "stray":
        cells[3] = '12" pizza'
        return Row(tuple(cells), stray=True)
    if shape == "short":
        return Row(tuple(cells[: draw(st.sampled_from([4, 4, 3, 2, 1]))]))
    if shape == "long":
        extra = draw(st.lists(st.sampled_from(["x", "", "a,b", 'q"']), min_size=1, max_size=2))
        return Row(tuple(cells + extra))
    return Row(tuple(cells))


def render(records: list[Row], now: int, newline: str, quote_all: bool) -> str:
    """The CSV text; timestamp labels become cells relative to ``now``."""
    parts = [csv_line(HEADER, newline, quote_all)]
    for rec in records:
        if rec.blank:
            parts.append(newline)
            continue
        cells = list(rec.cells)
        if len(cells) > 2 and cells[2] in TIMESTAMPS:
            cells[2] = timestamp(cells[2], now)
        if rec.stray:  # the plan cell goes in raw, its quote in the middle of the field
            quoted = [csv_cell(c, quote_all) for c in cells]
            quoted[3] = cells[3]
            parts.append(",".join(quoted) + newline)
            continue
        parts.append(csv_line(cells, newline, quote_all))
    return "".join(parts)


def records_by_row(text: str) -> dict[int, list[str]]:
    """Every non-blank data record by its spreadsheet row number (blank lines counted)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    found: dict[int, list[str]] = {}
    for row, rec in enumerate(reader, start=2):
        if rec:
            found[row] = rec
    return found


@dataclass
class Run:
    """One dry run's outputs."""

    code: int
    summary: dict[str, Any]
    out: bytes
    rejects: bytes


def dry_run(path: Path) -> Run:
    """``cio import PATH --dry-run --json --out``, reading back everything it wrote."""
    out = path.with_name("out.ndjson")
    rejects = path.with_name(path.name + ".rejects.csv")
    result = cio("import", path, "--dry-run", "--json", "--out", out, "--batch-bytes", "1500")
    s = summary(result) if result.stdout else {}
    return Run(result.exit_code, s, out.read_bytes() if out.exists() else b"",
               rejects.read_bytes() if rejects.exists() else b"")  # fmt: skip


def comparable(s: dict[str, Any]) -> dict[str, Any]:
    """A summary without its timings."""
    return {k: v for k, v in s.items() if k not in ("duration_s", "events_per_s")}


@SETTINGS
@given(
    records=st.lists(rows(), max_size=15),
    newline=st.sampled_from(["\n", "\r\n"]),
    quote_all=st.booleans(),
)
def test_every_row_is_accounted_for_and_runs_are_reproducible(
    records: list[Row], newline: str, quote_all: bool
) -> None:
    now = int(time.time())
    text = render(records, now, newline, quote_all)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.csv"
        path.write_bytes(text.encode())
        first = dry_run(path)
        second = dry_run(path)
        with block_bytes(61):
            chunked = dry_run(path)
        with csv_module_only():
            slow = dry_run(path)
        header, rejected = (read_rejects(path.with_name("events.csv.rejects.csv"))
                            if first.rejects else ([], []))  # fmt: skip

    assert first.code in (0, 1), first
    s = first.summary
    assert set(s) == SUMMARY_KEYS
    expected = records_by_row(text)
    assert s["rows"] == len(expected)
    assert s["rows"] == s["sent"] + s["duplicates"] + s["rejected"] + s["skipped_recent"]
    assert s["exit_code"] == first.code == (1 if s["rejected"] else 0)

    lines = first.out.splitlines()
    assert s["requests"] == len(lines)
    assert all(len(line) <= 1500 for line in lines if line.startswith(b'{"batch"'))
    with tempfile.TemporaryDirectory() as tmp:
        out_path = Path(tmp) / "o.ndjson"
        out_path.write_bytes(first.out)
        parsed = read_out(out_path)
    events = sum(len(line["batch"]) if "batch" in line else 1 for line in parsed)
    assert events == s["sent"]

    assert len(rejected) == s["rejected"] + s["skipped_recent"]
    if rejected:
        assert header == [*HEADER, "_cio_row", "_cio_error"]
    seen_rows = [int(r["_cio_row"]) for r in rejected]
    assert len(set(seen_rows)) == len(seen_rows)
    for rej in rejected:
        rec = expected[int(rej["_cio_row"])]
        padded = (rec + [""] * len(HEADER))[: len(HEADER)]
        assert [rej[h] for h in HEADER] == padded, "the rejects row is the record's raw cells"
        assert rej["_cio_error"]
    for row, rec in expected.items():
        if len(rec) != len(HEADER) or not rec[0].strip() or not rec[1].strip():
            assert row in seen_rows, f"row {row} {rec!r} must be rejected"

    assert second.out == first.out, "a second run writes the same bytes"
    assert second.rejects == first.rejects
    assert comparable(second.summary) == comparable(s)

    assert chunked.code == first.code
    assert chunked.out == first.out, "reading in tiny chunks changes nothing"
    assert chunked.rejects == first.rejects
    assert comparable(chunked.summary) == comparable(s)

    assert (slow.code, slow.out, slow.rejects) == (first.code, first.out, first.rejects), \
        "the csv-module reader and the polars reader agree"  # fmt: skip
    assert comparable(slow.summary) == comparable(s)


@SETTINGS
@given(
    plans=st.lists(plan_text(8), min_size=1, max_size=30),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_quoted_values_survive_exactly(plans: list[str], newline: str) -> None:
    """Whatever a cell holds (commas, quotes, newlines, CR), the op carries it unchanged."""
    now = int(time.time())
    rows_ = [["e", f"u{i}", str(now - 10 * 86_400 - i), p, "1"] for i, p in enumerate(plans)]
    text = csv_text(HEADER, rows_, newline)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "q.csv"
        path.write_bytes(text.encode())
        run = dry_run(path)
        with block_bytes(37):
            chunked = dry_run(path)
        with csv_module_only():
            slow = dry_run(path)
        out_path = Path(tmp) / "o.ndjson"
        out_path.write_bytes(run.out)
        parsed = read_out(out_path)
    assert run.code == 0, run.summary
    got = [op["attributes"].get("plan", "") for line in parsed for op in line["batch"]]
    assert got == plans
    assert chunked.out == run.out
    assert slow.out == run.out
