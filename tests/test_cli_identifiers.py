"""``--identifier per-row`` (SPEC section 3, the ``_cio_customer_id`` row; issue 22 item 1).

A warehouse export's user column often holds an email where no id exists. ``per-row`` sends
each row by its own kind (``@`` -> ``email``, ``cio_`` -> ``cio_id``, else ``id``), counts each
kind (``identifiers`` in ``--json``, only with ``per-row``), and gives each event the id and
the shard of the kind and value it is sent with. Under ``--api pipelines`` emails and ``cio_``
values stay unimportable (exit 3), as with ``auto``. Everything runs through the real CLI; what
is sent goes to the fake Customer.io on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from typer.testing import Result

from tests.cli_support import (
    BASE,
    SUMMARY_KEYS,
    assert_accounting,
    cio,
    dry_run,
    old,
    read_out,
    summary,
    write_csv,
)
from tests.fakecio import FakeCio
from tests.openapi_support import assert_track_batch, assert_track_customer_event

NO_ENV: dict[str, str | None] = {
    "CIO_SITE_ID": None, "CIO_API_KEY": None, "CIO_REGION": None, "CIO_BASE_URL": None,
    "CIO_API": None, "CIO_PIPELINES_KEY": None, "CIO_CONFIG": None,
}  # fmt: skip
T = old(10)
BIG = "x" * 40_000  # an op over 32,000 bytes: sent alone through v1
ROWS = [
    ["purchase", "u1", str(T), "a"],
    ["purchase", "ann@example.com", str(T - 1), "b"],
    ["purchase", "cio_7f", str(T - 2), "c"],
    ["signup", "u2", str(T - 3), "d"],
    ["purchase", "big@example.com", str(T - 4), BIG],
    ["signup", "bob@example.com", str(T - 5), "e"],
]
KINDS = {"u1": "id", "ann@example.com": "email", "cio_7f": "cio_id", "u2": "id",
         "big@example.com": "email", "bob@example.com": "email"}  # fmt: skip
COUNTS = {"id": 2, "email": 3, "cio_id": 1}
MIXED = ("the file mixes ids (2 rows, first at row 2) and emails (3 rows, first at row 3) in"
         " _cio_customer_id; Customer.io's own importer refuses such a file too")  # fmt: skip
HINT = ("hint: pass --identifier per-row to send each row by its own kind (an email as an"
        " email, an id as an id), or --identifier id (send every value as an id), or"
        " --identifier email (reject the rows without @), or split the file by kind")  # fmt: skip


def write(tmp_path: Path, rows: list[list[str]] = ROWS) -> Path:
    return write_csv(tmp_path / "events.csv", BASE, rows)


def send(url: str, path: Path, *flags: str) -> Result:
    """``cio import PATH`` against the fake at ``url``, ``--quiet --json``."""
    return cio("import", path, "--base-url", url, "--site-id", "site", "--api-key", "key",
               "--quiet", "--json", *flags, env=NO_ENV)  # fmt: skip


def sent(lines: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Each event of an ``--out`` file: its id -> (kind, value) as sent. A v1 line's kind is
    the one its path gives Customer.io to infer (as the fake does)."""
    out = {}
    for line in lines:
        if "batch" in line:
            for op in line["batch"]:
                ((kind, value),) = op["identifiers"].items()
                out[op["id"]] = (kind, value)
        else:
            value = unquote(line["path"].split("/")[4])
            out[line["body"]["id"]] = (KINDS[value], value)
    return out


def one_line(text: str) -> str:
    return " ".join(text.split())


# -- sending --------------------------------------------------------------------------------


def test_per_row_sends_each_row_by_its_own_kind(tmp_path: Path, fake_cio: FakeCio) -> None:
    path = write(tmp_path)
    plan = dry_run(path, "--identifier", "per-row")
    assert plan.code == 0 and plan.summary["identifiers"] == COUNTS
    result = send(fake_cio.url, path, "--identifier", "per-row")
    assert result.exit_code == 0, result.stderr
    s = summary(result)
    assert s["identifiers"] == COUNTS and s["sent"] == 6
    assert set(s) == SUMMARY_KEYS | {"identifiers"}
    assert_accounting(s)
    stored = {e["id"]: e["identifiers"] for e in fake_cio.events}
    assert stored == {eid: {kind: value} for eid, (kind, value) in sent(plan.lines).items()}
    assert sorted(v for ident in stored.values() for v in ident.values()) == sorted(KINDS)
    paths = [r.path for r in fake_cio.requests]
    assert paths.count("/api/v1/customers/big%40example.com/events") == 1, paths
    assert paths.count("/api/v2/batch") == 1


def test_per_row_bodies_are_valid_track_requests(tmp_path: Path) -> None:
    plan = dry_run(write(tmp_path), "--identifier", "per-row")
    (batch,) = [line for line in plan.lines if "batch" in line]
    assert [op["identifiers"] for op in batch["batch"]] == [
        {"id": "u1"}, {"email": "ann@example.com"}, {"cio_id": "cio_7f"}, {"id": "u2"},
        {"email": "bob@example.com"},
    ]  # fmt: skip
    (single,) = [line for line in plan.lines if "path" in line]
    assert single["path"] == "/api/v1/customers/big%40example.com/events"
    assert_track_batch(batch)
    assert_track_customer_event(single["body"])


def test_an_events_id_is_that_of_the_kind_it_is_sent_as(tmp_path: Path) -> None:
    """An email row's id equals what --identifier email gives it, an id row's what
    --identifier id gives it: the canonical form holds the kind sent."""
    path = write(tmp_path)
    per_row = sent(dry_run(path, "--identifier", "per-row").lines)
    by_value = {value: eid for eid, (_, value) in per_row.items()}
    as_email = sent(dry_run(path, "--identifier", "email").lines)
    as_id = sent(dry_run(path, "--identifier", "id").lines)
    for eid, (_, value) in as_email.items():
        assert by_value[value] == eid, value
    for eid, (_, value) in as_id.items():
        if KINDS[value] == "id":
            assert by_value[value] == eid, value
        else:
            assert by_value[value] != eid, f"{value} is sent as {KINDS[value]}, not id"
    assert {kind for kind, _ in per_row.values()} == {"id", "email", "cio_id"}


def shard_of(person: str, n: int) -> int:
    digest = hashlib.sha256(person.encode()).digest()
    return int.from_bytes(digest[:8], "big") % n + 1


def test_shards_split_per_row_events_by_the_value_sent(tmp_path: Path) -> None:
    path = write(tmp_path)
    whole = sent(dry_run(path, "--identifier", "per-row").lines)
    got: dict[str, tuple[str, str]] = {}
    counts: dict[str, int] = {"id": 0, "email": 0, "cio_id": 0}
    for i in (1, 2):
        out = tmp_path / f"shard{i}.ndjson"
        result = cio("import", path, "--dry-run", "--json", "--out", out, "--identifier",
                     "per-row", "--shard", f"{i}/2")  # fmt: skip
        assert result.exit_code == 0, result.stderr
        mine = sent(read_out(out))
        assert all(shard_of(value, 2) == i for _, value in mine.values())
        got |= mine
        for kind, n in summary(result)["identifiers"].items():
            counts[kind] += n
    assert got == whole and counts == COUNTS


def test_per_row_resumes_from_its_journal(tmp_path: Path, fake_cio: FakeCio) -> None:
    rows = [["e", ["u{}", "p{}@example.com", "cio_{}"][i % 3].format(i), str(T - i), "p" * 200]
            for i in range(60)]  # fmt: skip
    path = write(tmp_path, rows)
    flags = ("--identifier", "per-row", "--batch-bytes", "2000", "--concurrency", "1")
    plan = dry_run(path, *flags)
    whole = {"id": 20, "email": 20, "cio_id": 20}
    assert plan.summary["identifiers"] == whole and plan.summary["requests"] > 6
    fake_cio.fail_every(4, ("status", 401))  # the 4th request is refused: exit 5
    first = send(fake_cio.url, path, *flags)
    assert first.exit_code == 5, first.stderr
    acked = len(fake_cio.events)
    assert 0 < acked < 60 and sum(summary(first)["identifiers"].values()) >= acked
    fake_cio.clear_faults()
    again = send(fake_cio.url, path, *flags)
    assert again.exit_code == 0, again.stderr
    s = summary(again)
    assert s["resumed"] == acked and s["identifiers"] == whole
    stored = {e["id"]: e["identifiers"] for e in fake_cio.events}
    assert stored == {eid: {kind: value} for eid, (kind, value) in sent(plan.lines).items()}
    assert len(fake_cio.events) == 60, "no event sent twice"
    done = send(fake_cio.url, path, *flags)
    assert done.exit_code == 0 and "already imported" in done.stderr
    assert summary(done)["identifiers"] == whole


# -- what it reports ----------------------------------------------------------------------


def test_identifiers_are_counted_only_with_per_row(tmp_path: Path) -> None:
    path = write(tmp_path, [r for r in ROWS if "@" not in r[1]])
    auto = dry_run(path)
    assert "identifiers" not in auto.summary
    checked = summary(cio("validate", write(tmp_path), "--identifier", "per-row", "--json"))
    assert checked["identifiers"] == COUNTS and checked["exit_code"] == 0
    table = cio("import", write(tmp_path), "--dry-run", "--identifier", "per-row")
    assert table.exit_code == 0, table.stderr
    assert "by identifier" in table.stderr
    assert "id 2, email 3, cio_id 1" in table.stderr
    assert "by identifier" not in cio("import", path, "--dry-run").stderr


def test_a_mixed_file_names_per_row_first_in_its_hint(tmp_path: Path) -> None:
    path = write(tmp_path)
    for command in ("validate", "import"):
        result = cio(command, path, *(["--dry-run"] if command == "import" else []))
        assert result.exit_code == 3
        err = one_line(result.stderr)
        assert f"events.csv: {MIXED}" in err
        assert HINT in err


def test_config_takes_identifier_per_row(tmp_path: Path) -> None:
    path = write(tmp_path)
    config = tmp_path / "cio.toml"
    config.write_text('identifier = "per-row"\n', encoding="utf-8")
    result = cio("import", path, "--dry-run", "--json", "--config", config, env=NO_ENV)
    assert result.exit_code == 0, result.stderr
    assert summary(result)["identifiers"] == COUNTS


# -- Pipelines: userId only -----------------------------------------------------------------


def test_pipelines_still_refuses_emails_and_cio_ids_with_per_row(tmp_path: Path) -> None:
    path = write(tmp_path)
    for flags in (("--identifier", "per-row"), ()):
        result = cio("validate", path, "--api", "pipelines", *flags, env=NO_ENV)
        assert result.exit_code == 3, result.stderr
        err = one_line(result.stderr)
        assert (
            "events.csv: the file has emails (3 rows, first at row 3) and cio_ids"
            " (1 rows, first at row 4) in _cio_customer_id, and the Pipelines API identifies"
            " people by userId only (plain ids)"
        ) in err
        assert "hint: use --api track, which takes emails and cio_ ids, or pass" in err
        assert "per-row" not in err, "per-row would not help under Pipelines"
    cio_only = write(tmp_path, [r for r in ROWS if "@" not in r[1]])
    result = cio("validate", cio_only, "--api", "pipelines", "--identifier", "per-row",
                 env=NO_ENV)  # fmt: skip
    assert result.exit_code == 3 and "cio_ids (1 rows, first at row 3)" in result.stderr
    ids = cio("validate", path, "--api", "pipelines", "--identifier", "id", "--json", env=NO_ENV)
    assert ids.exit_code == 0 and "identifiers" not in summary(ids)
