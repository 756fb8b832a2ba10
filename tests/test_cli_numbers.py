"""SPEC section 2's "Numbers keep their meaning" and the JSON hint, section 7's milliseconds,
through the real CLI (issue 22).

Versions (``2.9``, ``2.10``) stay text, warehouse DECIMALs (``19.90``, ``5.00``) and
float-printed columns (``1.5``, ``3.0``) stay numbers, in files and in ``send-event``
alike; a text column of JSON objects or arrays gets the ``--type COL=json`` hint; Pipelines
sends the row's own milliseconds.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cio_cli.check.contract import load_json
from tests.cli_support import block_bytes, cio, dry_run, summary, write_csv
from tests.fakecio import FakeCio
from tests.openapi_support import assert_pipelines_batch

T = "1709287200"  # 2024-03-01T10:00:00Z: fixed, so ids and bytes are too
HEAD = ["_cio_name", "_cio_customer_id", "_cio_timestamp"]


def rows(column: list[str]) -> list[list[str]]:
    """One row per cell of a data column ``x``."""
    return [["buy", f"u{i}", T, cell] for i, cell in enumerate(column)]


def out_of(tmp_path: Path, column: list[str], *flags: str) -> bytes:
    """The ``--out`` bytes of a dry run of a file with the data column ``x``."""
    path = write_csv(tmp_path / "e.csv", [*HEAD, "x"], rows(column))
    got = dry_run(path, *flags)
    assert got.code == 0, got.result.stderr
    return got.out_bytes


def op(i: int, eid: str, x: str) -> str:
    """One Track op of ``rows`` as sent."""
    return (f'{{"type":"person","action":"event","identifiers":{{"id":"u{i}"}},"name":"buy",'
            f'"id":"{eid}","timestamp":1709287200,"attributes":{{"x":{x}}}}}')  # fmt: skip


# -- the typing rule, as sent ----------------------------------------------------------------


def test_a_versions_column_is_sent_as_text(tmp_path: Path) -> None:
    got = out_of(tmp_path, ["2.9", "2.10", "2.11", "3.0"])
    assert got == ('{"batch":[' + ",".join([
        op(0, "01HQWQ9N8058R5RTRAV807MP7V", '"2.9"'),
        op(1, "01HQWQ9N802Q01FDKT7RESS50S", '"2.10"'),
        op(2, "01HQWQ9N80T4KKGG86Y3T1GEBM", '"2.11"'),
        op(3, "01HQWQ9N80Z3FY5NTRPEGJGR95", '"3.0"'),
    ]) + "]}\n").encode()  # fmt: skip


def test_a_decimal_column_of_one_scale_is_sent_as_numbers(tmp_path: Path) -> None:
    got = out_of(tmp_path, ["19.90", "5.00", "1200.00", "10.50", "3.25"])
    assert got == ('{"batch":[' + ",".join([
        op(0, "01HQWQ9N80CN8Y2BRRMFW7ZJ93", "19.9"),
        op(1, "01HQWQ9N80BTYV49JQZMM6RAP6", "5.0"),
        op(2, "01HQWQ9N80J253R0P26FMD85C9", "1200.0"),
        op(3, "01HQWQ9N80MGM74K92JG8ZFFM0", "10.5"),
        op(4, "01HQWQ9N807AANWTKX65QJ0J8V", "3.25"),
    ]) + "]}\n").encode()  # fmt: skip


def test_a_float_printed_column_is_sent_as_numbers(tmp_path: Path) -> None:
    got = out_of(tmp_path, ["1.5", "2.25", "3.0", "7"])
    assert got == ('{"batch":[' + ",".join([
        op(0, "01HQWQ9N80GC0R770FWK6E9S9G", "1.5"),
        op(1, "01HQWQ9N80H60S1M634VHAND83", "2.25"),
        op(2, "01HQWQ9N80B8QDKMBEGS7CGNCZ", "3.0"),
        op(3, "01HQWQ9N80NZ2VXHGPSWE19PVY", "7"),
    ]) + "]}\n").encode()  # fmt: skip


def test_a_lone_padded_decimal_stays_text_and_pairs_decide_across_chunks(tmp_path: Path) -> None:
    assert b'"x":"2.10"' in out_of(tmp_path, ["3", "2.10", "4"]), "one decimal shows no scale"
    assert b'"x":2.1' in out_of(tmp_path, ["2.10", "", "5.20"]), "two of one scale"
    late = [f"{i}.5" for i in range(300)] + ["2.10"]  # the padded one in the last chunk
    path = write_csv(tmp_path / "e.csv", [*HEAD, "x"], rows(late))
    with block_bytes(2048) as chunks:
        got = dry_run(path)
    assert chunks and chunks[0] > 3, chunks
    assert got.summary["columns"]["x"]["type"] == "string"
    assert [o["attributes"]["x"] for o in got.ops][-2:] == ["299.5", "2.10"]


# -- a value's text survives: a hypothesis test through the CLI ------------------------------

INT = re.compile(r"-?(0|[1-9][0-9]{0,15})")
DEC = re.compile(r"-?(0|[1-9][0-9]*)\.([0-9]+)")


def plain_number(cell: str) -> bool:
    """An integer within 2**53 or a decimal of at most 15 significant digits (no column here
    reaches a double's range limits)."""
    if INT.fullmatch(cell):
        return abs(int(cell)) <= 2**53
    found = DEC.fullmatch(cell)
    return bool(found) and len(cell.replace("-", "").replace(".", "").strip("0")) <= 15


def scale_of(column: list[str]) -> int | None | bool:
    """SPEC section 2 read plainly: the column's one scale (int), None for a float-printed
    column, False when the column stays text (or is not all numbers)."""
    values = [c for c in column if c]
    if not values or not all(plain_number(c) for c in values):
        return False
    fractions = [m.group(2) for c in values if (m := DEC.fullmatch(c))]
    padded = [f for f in fractions if len(f) > 1 and f.endswith("0")]
    if not padded:
        return None
    one = len({len(f) for f in fractions}) == 1 and len(fractions) > 1
    return len(fractions[0]) if one else False


def printed_back(token: str, scale: int | None) -> str:
    """A JSON number's text printed in the column's scale (None: the float's shortest)."""
    if "." not in token and "e" not in token:
        return token  # an integer, as written
    value = Decimal(token)
    if scale is not None:
        return f"{value:.{scale}f}"
    text = format(value, "f")
    return text if "." in text else text + ".0"


def decimals() -> st.SearchStrategy[str]:
    """Versions, prices, floats: a few digits, trailing zeros often."""
    whole = st.integers(0, 10**6).map(str)
    fraction = st.text("0123456789", min_size=1, max_size=4)
    sign = st.sampled_from(["", "", "-"])
    return st.builds(lambda s, w, f: f"{s}{w}.{f}", sign, whole, fraction)


def columns() -> st.SearchStrategy[list[str]]:
    """A column of decimals (of one scale now and then), integers and empty cells."""
    cell = st.one_of(decimals(), st.integers(-1000, 10**6).map(str), st.just(""))
    mixed = st.lists(cell, min_size=1, max_size=8)
    fixed = st.integers(1, 3).flatmap(lambda k: st.lists(st.builds(
        lambda w, f: f"{w}.{f:0{k}d}", st.integers(0, 9999), st.integers(0, 10**k - 1)),
        min_size=1, max_size=6))  # fmt: skip
    return st.one_of(mixed, fixed)


def sent_tokens(out: bytes) -> list[str | None]:
    """The raw JSON text of each op's ``x`` (None when left out)."""
    found = []
    for line in out.decode().splitlines():
        for attrs in re.findall(r'"attributes":(\{[^{}]*\})', line):
            m = re.search(r'"x":("(?:[^"\\]|\\.)*"|[^,}]+)', attrs)
            found.append(m.group(1) if m else None)
    return found


@settings(max_examples=30, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
@given(column=columns())
def test_a_numeric_columns_values_print_back_as_their_cells(tmp_path: Path,
                                                            column: list[str]) -> None:  # fmt: skip
    path = write_csv(tmp_path / "e.csv", [*HEAD, "x"], rows(column))
    got = dry_run(path)
    scale = scale_of(column)
    for cell, token in zip(column, sent_tokens(got.out_bytes), strict=True):
        if not cell:
            assert token is None
        elif scale is False:
            assert token == json.dumps(cell), (column, cell, token)
        else:
            assert token is not None and printed_back(token, scale) == cell, (column, cell, token)


# -- the JSON hint ---------------------------------------------------------------------------

JSONS = ['{"coupon":"SPRING10","items":1}', "", '[1, "a"]', ' {"a":{"b":[]}}']
HINT = ("* 'props' is sent as strings, but every value is a JSON object or array: pass"
        " --type props=json to send it as JSON")  # fmt: skip


def test_a_json_column_gets_the_star_and_the_type_hint(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", [*HEAD, "props", "note"],
                     [r + [n] for r, n in zip(rows(JSONS), ["{x", "[", "{}", "a"], strict=True)])  # fmt: skip
    got = dry_run(path)
    assert got.summary["columns"] == {
        "props": {"type": "string", "empty": 1, "blocker_row": 2},
        "note": {"type": "string", "empty": 0, "blocker_row": None},
    }
    text = cio("validate", path).stderr
    assert re.search(r"^props +string \* +1$", text, re.M), text
    assert re.search(r"^note +string +0$", text, re.M), text
    assert HINT in text and "'note'" not in text
    typed = dry_run(path, "--type", "props=json")
    assert typed.summary["columns"]["props"] == {"type": "json", "empty": 1, "blocker_row": None}
    assert HINT not in cio("validate", path, "--type", "props=json").stderr


def test_one_non_json_value_in_a_later_chunk_takes_the_hint_away(tmp_path: Path) -> None:
    cells = [f'{{"i":{i}}}' for i in range(300)] + ["plain"]
    path = write_csv(tmp_path / "e.csv", [*HEAD, "props"], rows(cells))
    with block_bytes(2048):
        got = dry_run(path)
    assert got.summary["columns"]["props"] == {"type": "string", "empty": 0, "blocker_row": None}


# -- Pipelines keeps the milliseconds --------------------------------------------------------

FORMS = ["1709287241.993908", "1709287241993", "2024-03-01T10:00:41.993908Z",
         "2024-03-01 10:00:41.993 UTC", "2024-03-01 10:00:41.9939+0000", "1709287241993.7",
         "1709287241", "2024-03-01T11:00:41.5+01:00", ""]  # fmt: skip
ISO = ["2024-03-01T10:00:41.993Z"] * 6 + ["2024-03-01T10:00:41.000Z", "2024-03-01T10:00:41.500Z",
                                          None]  # fmt: skip


def stamped(tmp_path: Path) -> Path:
    """A file of one row per timestamp form."""
    body = [["buy", f"u{i}", t, "p"] for i, t in enumerate(FORMS)]
    return write_csv(tmp_path / "e.csv", [*HEAD, "plan"], body)


def test_pipelines_sends_each_forms_milliseconds_and_tracks_ids(tmp_path: Path) -> None:
    path = stamped(tmp_path)
    pipelines = dry_run(path, "--api", "pipelines", "--allow-recent")
    calls = [c for line in pipelines.lines for c in line["batch"]]
    assert [c.get("timestamp") for c in calls] == ISO
    track = dry_run(path, "--allow-recent")
    assert [o.get("timestamp") for o in track.ops] == [1709287241] * 8 + [None]
    assert [c["messageId"] for c in calls] == [o["id"] for o in track.ops]
    assert b'"timestamp":"2024-03-01T10:00:41.993Z","messageId":' in pipelines.out_bytes
    for line in pipelines.lines:  # last: skipped where the OpenAPI file is absent
        assert_pipelines_batch(line)


def test_the_server_receives_the_milliseconds(tmp_path: Path) -> None:
    path = stamped(tmp_path)
    with FakeCio(pipelines_key="pk") as fake:
        result = cio("import", path, "--api", "pipelines", "--base-url", fake.url,
                     "--pipelines-key", "pk", "--quiet", "--json", "--allow-recent",
                     env={"CIO_SITE_ID": None, "CIO_API_KEY": None, "CIO_API": None})  # fmt: skip
        assert result.exit_code == 0, result.stderr
        assert summary(result)["sent"] == len(FORMS)
        got = {e["identifiers"]["userId"]: e["timestamp"] for e in fake.events}
    assert got == {f"u{i}": iso for i, iso in enumerate(ISO)}


def json_numbers() -> st.SearchStrategy[str]:
    """Numbers as a warehouse writes them in JSON: prices, long decimals, exponents, big ints."""
    fraction = st.from_regex(r"[0-9]{1,20}", fullmatch=True)
    decimal = st.builds(lambda i, f: f"{i}.{f}", st.integers(-(10**18), 10**18), fraction)
    return st.one_of(
        decimal,
        st.from_regex(r"-?(0|[1-9][0-9]{0,2})(\.[0-9]{1,3})?[eE][+-]?[0-9]{1,3}", fullmatch=True),
        st.integers(-(10**25), 10**25).map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
    )


@settings(max_examples=15, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(numbers=st.lists(json_numbers(), min_size=1, max_size=30))
def test_a_json_columns_numbers_keep_their_value_whichever_way_it_is_parsed(
    tmp_path: Path, numbers: list[str]
) -> None:
    """``--type COL=json`` sends each number as orjson writes it if that keeps its value, else
    as written: cells whose decimals orjson writes exactly skip the slow exact parse, and
    send the bytes the exact parse gives (``load_json``, the reference)."""
    column = [f'{{"b":{n},"a":[{n}],"s":"{n}"}}' for n in numbers]
    got = out_of(tmp_path, column, "--type", "x=json").decode()
    for cell in column:
        reference = orjson.dumps(load_json(cell), option=orjson.OPT_SORT_KEYS).decode()
        assert f'"x":{reference}' in got, (cell, reference)
    assert got.count('"x":{') == len(column)
