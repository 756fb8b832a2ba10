"""SPEC section 10, columns: ``--map``, hints for missing columns, ``--null-value``, ``--config``.

Every test runs the real CLI and reads what a user sees: the exit code, the message, the
rejects rows and the ``--out`` events.
"""

from __future__ import annotations

from pathlib import Path

from tests.cli_support import check_rows, cio, dry_run, old, read_rejects, summary, write_csv

WAREHOUSE = ["event_name", "user_id", "occurred_at", "plan"]
MAPS = ("--map", "event_name=_cio_name", "--map", "user_id=_cio_customer_id",
        "--map", "occurred_at=_cio_timestamp")  # fmt: skip


def test_map_renames_headers_to_the_cio_columns_and_data_keys(tmp_path: Path) -> None:
    ts = old()
    got = check_rows(
        tmp_path, [*WAREHOUSE, "internal"], [["signup", "u1", str(ts), "pro", "x"]],
        *MAPS, "--map", "plan=tier", "--map", "internal=-",
    )  # fmt: skip
    assert got.code == 0, got.result.stderr
    [op] = got.ops
    assert op["name"] == "signup"
    assert op["identifiers"] == {"id": "u1"}
    assert op["timestamp"] == ts
    assert op["attributes"] == {"tier": "pro"}, "plan renamed, internal dropped"


def test_map_of_a_column_not_in_the_header_is_a_usage_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", ["event", "user"], [["signup", "u1"]])
    result = cio("validate", path, "--map", "event_nme=_cio_name", "--map", "usr=_cio_customer_id")
    assert result.exit_code == 2, "exit 2 wins over the missing columns"
    assert "error: --map event_nme=..., usr=...: the header has no column 'event_nme' or 'usr'" in (
        result.stderr
    )
    assert "hint: the header has 'event', 'user'" in result.stderr


def test_two_columns_mapped_to_one_name_is_a_usage_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", ["_cio_name", "event", "user"], [["a", "b", "u1"]])
    result = cio("validate", path, "--map", "event=_cio_name", "--map", "user=_cio_customer_id")
    assert result.exit_code == 2
    assert "error: --map: '_cio_name' and 'event' would both be named '_cio_name'" in result.stderr
    both = cio("validate", path, "--map", "event=x", "--map", "user=x", "--json")
    assert both.exit_code == 2
    assert summary(both)["error"] == "--map: 'event' and 'user' would both be named 'x'"


def test_a_malformed_map_flag_is_a_usage_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", ["_cio_name", "_cio_customer_id"], [["a", "u1"]])
    result = cio("validate", path, "--map", "event")
    assert result.exit_code == 2
    assert "error: --map 'event' is not SOURCE=TARGET" in result.stderr


def test_type_names_the_mapped_key(tmp_path: Path) -> None:
    got = check_rows(tmp_path, [*WAREHOUSE, "zip_code"], [["a", "u1", str(old()), "pro", "01234"],
                     ["a", "u2", str(old()), "pro", "2345"]], *MAPS, "--map", "zip_code=zip",
                     "--type", "zip=string")  # fmt: skip
    assert got.code == 0, got.result.stderr
    assert [op["attributes"]["zip"] for op in got.ops] == ["01234", "2345"]


def test_rejects_file_keeps_the_original_header_and_reimports_with_the_same_flags(
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path / "e.csv", [*WAREHOUSE, "internal"], [
        ["signup", "u1", str(old()), "pro", "x"],
        ["", "u2", str(old()), "pro", "y"],
    ])  # fmt: skip
    flags = (*MAPS, "--map", "internal=-")
    got = dry_run(path, *flags)
    assert got.code == 1
    assert got.rejects_header == [*WAREHOUSE, "internal", "_cio_row", "_cio_error"]
    assert [r["internal"] for r in got.rejects] == ["y"]
    again = tmp_path / "again.csv"
    again.write_bytes(path.with_name("e.csv.rejects.csv").read_bytes())
    second = dry_run(again, *flags)
    assert second.code == 1, "the same row is rejected again, under the same flags"
    assert second.summary["rejected"] == 1
    header, rows = read_rejects(again.with_name("again.csv.rejects.csv"))
    assert header == [*WAREHOUSE, "internal", "_cio_row", "_cio_error"]
    assert rows[0]["internal"] == "y"


def test_missing_columns_are_named_at_once_with_the_map_to_pass(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "w.csv", ["event_name", "user_id", "email", "occurred_at", "plan"],
                     [["signup", "u1", "a@b.co", str(old()), "pro"]])  # fmt: skip
    result = cio("validate", path)
    assert result.exit_code == 3
    assert ": missing required columns _cio_name, _cio_customer_id\n" in result.stderr
    assert (
        "hint: 'event_name' looks like _cio_name, 'user_id' or 'email' looks like"
        " _cio_customer_id, 'occurred_at' looks like _cio_timestamp: pass --map"
        " event_name=_cio_name --map user_id=_cio_customer_id --map occurred_at=_cio_timestamp"
    ) in result.stderr
    as_json = cio("import", path, "--dry-run", "--json")
    assert as_json.exit_code == 3
    assert summary(as_json)["error"] == f"{path}: missing required columns _cio_name, _cio_customer_id"


def test_the_suggested_maps_take_the_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "w.csv", ["Event", "person_id", "ts"],
                     [["signup", "u1", str(old())]])  # fmt: skip
    err = cio("validate", path).stderr
    maps = err.split("pass ", 1)[1].split()
    assert maps == ["--map", "Event=_cio_name", "--map", "person_id=_cio_customer_id",
                    "--map", "ts=_cio_timestamp"]  # fmt: skip
    got = dry_run(path, *maps)
    assert got.code == 0 and got.ops[0]["name"] == "signup"


def test_a_missing_column_without_a_lookalike_keeps_the_header_hint(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", ["action", "plan"], [["signup", "pro"]])
    result = cio("validate", path)
    assert result.exit_code == 3
    assert "missing required columns _cio_name, _cio_customer_id\n" in result.stderr
    assert (
        "hint: 'action' looks like _cio_name: pass --map action=_cio_name;"
        " the header has 'action', 'plan'"
    ) in result.stderr


def test_map_errors_win_over_missing_columns_and_mapped_columns_are_not_suggested(
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path / "e.csv", ["event", "email", "user_id"], [["a", "b@c.co", "u"]])
    result = cio("validate", path, "--map", "email=contact")
    assert result.exit_code == 3
    assert "missing required columns _cio_name, _cio_customer_id" in result.stderr
    assert "'user_id' looks like _cio_customer_id" in result.stderr, "email is mapped away"


def test_a_timestamp_like_column_sent_as_data_gets_a_warning(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", ["_cio_name", "_cio_customer_id", "created_at"],
                     [["signup", "u1", "2024-01-01T00:00:00Z"]])  # fmt: skip
    warning = (
        f"warning: {path}: column 'created_at' looks like a timestamp but is sent as data, and the"
        " events have no timestamp: pass --map created_at=_cio_timestamp to use it"
    )
    for flags in ((), ("--json",)):
        result = cio("validate", path, *flags)
        assert result.exit_code == 0
        assert warning in result.stderr
    mapped = cio("validate", path, "--map", "created_at=_cio_timestamp")
    assert mapped.exit_code == 0 and "warning" not in mapped.stderr


def test_null_value_cells_are_empty_in_data_and_cio_columns(tmp_path: Path) -> None:
    ts = old()
    rows = [["buy", "u1", str(ts), "USD", "1.5", "hi"], ["buy", "u2", "\\N", "NULL", "NULL", "\\N"],
            ["buy", "u3", "NULL", "\\N", "2", "NULL"]]  # fmt: skip
    header = [*WAREHOUSE[:3], "currency", "price", "note"]
    got = check_rows(tmp_path, header, rows, *MAPS, "--null-value", "NULL", "--null-value", "\\N",
                     "--allow-recent")  # fmt: skip
    assert got.code == 0, got.result.stderr
    assert [op.get("timestamp") for op in got.ops] == [ts, None, None]
    assert [op["attributes"] for op in got.ops] == [
        {"currency": "USD", "note": "hi", "price": 1.5}, {}, {"price": 2}
    ]  # fmt: skip
    assert "warning" not in got.result.stderr


def test_null_texts_without_the_flag_get_a_warning_per_column(tmp_path: Path) -> None:
    rows = [["buy", "u1", str(old()), "NULL", "hi"], ["buy", "u2", str(old()), "\\N", "None"],
            ["buy", "u3", str(old()), "2", "NaN"]]  # fmt: skip
    path = write_csv(tmp_path / "e.csv", [*WAREHOUSE[:3], "price", "note"], rows)
    result = cio("import", path, "--dry-run", *MAPS)
    assert result.exit_code == 0
    assert (
        "warning: column 'price' has 2 cell(s) written NULL or \\N, read as text, not as empty:"
        " pass --null-value NULL --null-value '\\N' to read them as empty"
    ) in result.stderr
    assert (
        "warning: column 'note' has 2 cell(s) written NaN or None, read as text, not as empty:"
        " pass --null-value NaN --null-value None to read them as empty"
    ) in result.stderr
    quiet = cio("import", path, "--dry-run", *MAPS, "--null-value", "NULL", "--null-value", "\\N",
                "--null-value", "NaN", "--null-value", "None")  # fmt: skip
    assert quiet.exit_code == 0 and "warning" not in quiet.stderr


def test_null_value_rejects_keep_the_row_and_reimport(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", WAREHOUSE, [["NULL", "u1", str(old()), "pro"]])
    got = dry_run(path, *MAPS, "--null-value", "NULL")
    assert got.code == 1
    assert [r["user_id"] for r in got.rejects] == ["u1"]
    assert got.rejects[0]["_cio_row"] == "2"
    assert "_cio_name is empty" in got.rejects[0]["_cio_error"]


WAREHOUSE_CONFIG = """\
map = {event_name = "_cio_name", user_id = "_cio_customer_id", occurred_at = "_cio_timestamp"}
null_value = ["NULL", '\\N']
type = {zip = "string"}
"""


def warehouse_file(tmp_path: Path) -> Path:
    """A warehouse-shaped export: no _cio_* headers, ISO times with a zone, nulls as text."""
    rows = [
        ["purchase", "u1", "2024-03-01T10:00:00Z", "NULL", "01234", "USD"],
        ["purchase", "u2", "\\N", "272.5", "2345", "\\N"],
        ["signup", "u3", "2024-03-01T11:00:00+01:00", "3", "NULL", "NULL"],
    ]
    header = ["event_name", "user_id", "occurred_at", "price", "zip", "currency"]
    return write_csv(tmp_path / "export.csv", header, rows)


def test_a_warehouse_export_with_one_import_line_or_one_config_file(tmp_path: Path) -> None:
    path = warehouse_file(tmp_path)
    flags = (*MAPS, "--null-value", "NULL", "--null-value", "\\N", "--type", "zip=string",
             "--allow-recent")  # fmt: skip
    by_flags = dry_run(path, *flags)
    assert by_flags.code == 0, by_flags.result.stderr
    assert [op.get("timestamp") for op in by_flags.ops] == [1709287200, None, 1709287200]
    assert [op["attributes"] for op in by_flags.ops] == [
        {"zip": "01234", "currency": "USD"}, {"price": 272.5, "zip": "2345"}, {"price": 3},
    ]  # fmt: skip
    assert "warning" not in by_flags.result.stderr
    config = tmp_path / "cio.toml"
    config.write_text(WAREHOUSE_CONFIG + "allow_recent = true\n", encoding="utf-8")
    first = by_flags.out_bytes
    by_file = dry_run(path, "--config", str(config))
    assert by_file.code == 0 and by_file.out_bytes == first
    by_env = cio("import", path, "--dry-run", "--json", env={"CIO_CONFIG": str(config)})
    assert by_env.exit_code == 0 and summary(by_env)["rejected"] == 0


def test_flags_win_over_the_config_file_and_map_flags_add_to_its_map(tmp_path: Path) -> None:
    path = warehouse_file(tmp_path)
    config = tmp_path / "cio.toml"
    config.write_text(WAREHOUSE_CONFIG + "skip_recent = true\n", encoding="utf-8")
    got = dry_run(path, "--config", str(config), "--map", "occurred_at=when", "--map", "currency=-",
                  "--null-value", "NULL", "--allow-recent")  # fmt: skip
    assert got.code == 0, got.result.stderr
    assert all("timestamp" not in op for op in got.ops), "--map occurred_at=when wins"
    assert got.ops[1]["attributes"] == {"price": 272.5, "when": "\\N", "zip": "2345"}, (
        "--null-value NULL replaces the file's list"
    )
    assert all("currency" not in op["attributes"] for op in got.ops)


def test_config_file_errors_are_usage_errors_naming_the_key(tmp_path: Path) -> None:
    path = warehouse_file(tmp_path)
    config = tmp_path / "c.toml"
    cases = {
        'api_key = "s3cret-key"\n': (
            "api_key is a credential, which cio does not read from a file",
            "set CIO_API_KEY in the environment",
        ),
        'site_id = "s3cret-key"\n': ("site_id is a credential", "CIO_SITE_ID"),
        'pipelines_key = "s3cret-key"\n': ("pipelines_key is a credential", "CIO_PIPELINES_KEY"),
        "maps = 1\n": ("unknown key 'maps'", "keys are long option names: allow_recent,"),
        'rate = "s3cret-key"\n': ("rate must be a number, not a string", "rate = 100"),
        'allow_recent = "yes"\n': ("allow_recent must be true or false, not a string", ""),
        "null_value = 'NULL'\n": ("null_value must be a list of strings, not a string", ""),
        "map = {a = 1}\n": ("map must be a table of strings", 'map = {event_name = "_cio_name"}'),
        "x = [\n": ("not valid TOML", ""),
    }
    for text, (message, hint) in cases.items():
        config.write_text(text, encoding="utf-8")
        result = cio("import", path, "--dry-run", "--config", config)
        assert result.exit_code == 2, (text, result.stderr)
        assert f"error: --config {config}: {message}" in result.stderr
        assert hint in result.stderr
        assert "s3cret" not in result.stdout + result.stderr
    missing = cio("validate", path, "--config", tmp_path / "nope.toml")
    assert missing.exit_code == 2 and "cannot read it" in missing.stderr


def test_validate_takes_the_same_config_file_as_import(tmp_path: Path) -> None:
    path = warehouse_file(tmp_path)
    config = tmp_path / "cio.toml"
    config.write_text(WAREHOUSE_CONFIG + "allow_recent = true\nrate = 50\n", encoding="utf-8")
    result = cio("validate", path, "--config", config, "--json")
    assert result.exit_code == 0, result.stderr
    assert summary(result)["rejected"] == 0
