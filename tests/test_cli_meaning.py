"""Flags never change or lose a value silently (issue 21 items 8 and 9).

- ``--type COL=float`` and ``--type COL=int`` send a value only when the type holds it (SPEC
  section 2, "numbers keep their meaning"): an int within ±2^53, a float that is finite and
  not rounded to 0.0 or to a subnormal. Other such cells reject their row, the message naming
  the range and the type that keeps the value; the row is in the rejects file as written.
- ``--map`` to ``_cio_row`` or ``_cio_error`` (columns cio ignores in its input), or one
  SOURCE mapped twice on the command line: exit 2 naming it (SPEC section 10). A flag and the
  config file naming one SOURCE is no error: the flag wins.
- ``--encoding`` that is not a text encoding (rot13, hex, base64, ...) or not a codec at all:
  exit 2 naming it and what is accepted, from a flag or from ``--config``, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_support import BASE, check_rows, cio, old, summary, write_csv
from tests.fakecio import FakeCio

INT_RANGE = (
    "is outside the int range ±2^53 (±9,007,199,254,740,992), beyond which JSON readers lose"
    " digits (--type big=int; --type big=string sends it as text)"
)
FLOAT_RANGE = (
    "is outside the float range (a double: 0, or a size from 2.2e-308 to 1.8e308)"
    " (--type f=float; --type f=json sends it as written)"
)
TEXT_HINT = (
    "hint: pass the file's text encoding: utf-8, latin-1, cp1252, utf-16 or another text"
    " encoding Python knows"
)


def test_float_and_int_values_beyond_their_type_reject_the_row(tmp_path: Path) -> None:
    t = str(old())
    rows = [
        ["buy", "u1", t, "1e-400", "1"],                    # underflows to 0.0
        ["buy", "u2", t, "1e-310", "2"],                    # subnormal: digits lost
        ["buy", "u3", t, "1e400", "3"],                     # overflows
        ["buy", "u4", t, "2.5", "18446744073709551616"],    # 2^64
        ["buy", "u5", t, "0e-999", "-9007199254740993"],    # zero is zero; -(2^53 + 1)
        ["buy", "u6", t, "-2.2250738585072014e-308", "-9007199254740992"],
        ["buy", "u7", t, "x", "y"],
    ]  # fmt: skip
    out = check_rows(tmp_path, [*BASE[:3], "f", "big"], rows, "--type", "f=float",
                     "--type", "big=int")  # fmt: skip
    assert out.code == 1
    assert [op["attributes"] for op in out.ops] == [
        {"f": -2.2250738585072014e-308, "big": -9007199254740992}
    ]
    assert out.reasons == {
        2: f"f '1e-400' {FLOAT_RANGE}",
        3: f"f '1e-310' {FLOAT_RANGE}",
        4: f"f '1e400' {FLOAT_RANGE}",
        5: f"big '18446744073709551616' {INT_RANGE}",
        6: f"big '-9007199254740993' {INT_RANGE}",
        8: "big 'y' is not an int (--type big=int); f 'x' is not a float (--type f=float)",
    }
    assert [(r["f"], r["big"]) for r in out.rejects][:4] == [
        ("1e-400", "1"), ("1e-310", "2"), ("1e400", "3"), ("2.5", "18446744073709551616")
    ]
    assert out.summary["errors"] == {"type_mismatch": 7}


def test_a_float_that_would_arrive_as_zero_is_not_sent(tmp_path: Path) -> None:
    t = str(old())
    path = write_csv(tmp_path / "e.csv", [*BASE[:3], "f"],
                     [["buy", "u1", t, "1e-400"], ["buy", "u2", t, "0.5"]])  # fmt: skip
    with FakeCio("site", "key") as fake:
        done = cio("import", path, "--type", "f=float", "--site-id", "site", "--api-key", "key",
                   "--base-url", fake.url, "--json")  # fmt: skip
        assert done.exit_code == 1, done.stderr
        assert [e["attributes"] for e in fake.events] == [{"f": 0.5}]
    assert summary(done)["by_reason"] == {f"f '1e-400' {FLOAT_RANGE}": 1}


MAP = ["--map", "event=_cio_name", "--map", "user=_cio_customer_id"]


def map_file(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "m.csv", ["event", "user", "ts", "plan"],
                     [["buy", "u1", str(old()), "gold"]])  # fmt: skip


@pytest.mark.parametrize("target", ["_cio_error", "_cio_row"])
def test_map_to_a_column_cio_ignores_is_a_usage_error(tmp_path: Path, target: str) -> None:
    done = cio("validate", map_file(tmp_path), *MAP, "--map", f"plan={target}")
    assert done.exit_code == 2, done.stderr
    assert done.stderr == (
        f"error: --map plan={target}: {target} is a column of the rejects file, which cio"
        " ignores in its input: the column would be dropped\n"
        "hint: map plan to another name (or to - to drop it)\n"
    )


def test_one_source_mapped_twice_is_a_usage_error(tmp_path: Path) -> None:
    done = cio("validate", map_file(tmp_path), *MAP, "--map", "event=_cio_timestamp")
    assert done.exit_code == 2, done.stderr
    assert done.stderr == (
        "error: --map event=... is given twice (event=_cio_name and event=_cio_timestamp)\n"
        "hint: map each column once (a --map flag replaces the config file's for that column)\n"
    )


def test_a_flag_replaces_the_config_files_map_of_one_source(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[map]\nevent = "_cio_timestamp"\nuser = "_cio_customer_id"\n'
                      'ts = "_cio_timestamp"\nplan = "_cio_error"\n')  # fmt: skip
    path = map_file(tmp_path)
    out = tmp_path / "out.ndjson"
    done = cio("import", path, "--dry-run", "--config", config, "--map", "event=_cio_name",
               "--map", "plan=tier", "--json", "--out", out)  # fmt: skip
    assert done.exit_code == 0, done.stderr
    assert '"name":"buy"' in out.read_text() and '"tier":"gold"' in out.read_text()
    clash = cio("validate", path, "--config", config, "--map", "event=_cio_name")
    assert clash.exit_code == 2 and "--map plan=_cio_error: _cio_error is a column" in clash.stderr


@pytest.mark.parametrize(
    ("name", "codec"),
    [("rot13", "rot-13"), ("hex", "hex"), ("base64", "base64"), ("zlib", "zlib"),
     ("bz2", "bz2"), ("uu", "uu"), ("quopri", "quopri")],
)  # fmt: skip
def test_an_encoding_that_is_not_for_text_is_a_usage_error(
    tmp_path: Path, name: str, codec: str
) -> None:
    path = map_file(tmp_path)
    expected = (
        f"error: --encoding '{name}' is not a text encoding: the {codec} codec turns bytes"
        f" into bytes or text into text, so it cannot read a CSV file\n{TEXT_HINT}\n"
    )
    done = cio("validate", path, *MAP, "--encoding", name)
    assert (done.exit_code, done.stderr) == (2, expected)
    config = tmp_path / "c.toml"
    config.write_text(f'encoding = "{name}"\n')
    from_file = cio("import", path, *MAP, "--dry-run", "--config", config, "--json")
    assert (from_file.exit_code, from_file.stderr) == (2, expected)
    assert summary(from_file)["exit_code"] == 2


def test_an_unknown_encoding_is_a_usage_error(tmp_path: Path) -> None:
    done = cio("validate", map_file(tmp_path), *MAP, "--encoding", "no-such-codec")
    assert done.exit_code == 2
    assert done.stderr == (
        f"error: --encoding 'no-such-codec' is not an encoding Python knows\n{TEXT_HINT}\n"
    )
