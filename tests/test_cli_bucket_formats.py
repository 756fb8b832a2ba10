"""Parquet and NDJSON objects in a bucket (SPEC section 12), end to end against moto.

The same files read from ``s3://`` and from this machine give the same requests, ids and
rejects files, byte for byte; a real import of ``part-*.parquet`` objects journals by URL +
size + ETag, resumes after ``kill -9`` storing every event once, answers "already imported"
with a HEAD alone, and starts over when an object changed; bytes that contradict the
format are exit 3 for objects as for files. No key appears in any output.
"""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cio_cli.read import parquet as parquet_reader
from tests.buckets_support import (
    WAIT,
    Bucket,
    bucket_fixture,  # noqa: F401 - the fixture ``bucket``
    killed_then_resumed,
    moto_fixture,  # noqa: F401 - the fixture ``moto_url``
)
from tests.cli_support import cio, old, read_out, summary
from tests.fakecio import FakeCio
from tests.test_cli_buckets import SITE, command, no_secret, run_env, through_proxy

T0 = old(10)


def events(n: int, start: int = 0, bad: int | None = None) -> pl.DataFrame:
    """``n`` old, distinct events with typed columns (nested, float, bool, nulls); row
    index ``bad`` (if given) has no name (rejected)."""
    ids = range(start, start + n)
    return pl.DataFrame(
        {
            "_cio_name": [None if i == bad else f"ev{i % 3}" for i in ids],
            "_cio_customer_id": [f"user-{i % 97}" for i in ids],
            "_cio_timestamp": [T0 + i for i in ids],
            "amount": [i * 7 if i % 4 else None for i in ids],
            "price": [i / 4 for i in ids],
            "paid": [i % 2 == 0 for i in ids],
            "note": [f"café {i} \"quoted\"" for i in ids],
            "meta": [{"k": i, "tags": ["a", str(i)]} for i in ids],
        }
    )


def parquet_parts(folder: Path) -> list[Path]:
    """Three Parquet parts of several row groups each, one with a rejected row."""
    folder.mkdir()
    frames = [events(400), events(300, 400, bad=450), events(200, 700)]
    paths = [folder / f"part-00{i}.parquet" for i in range(3)]
    for frame, path in zip(frames, paths, strict=True):
        frame.write_parquet(path, row_group_size=64)
    return paths


def dry(out: Path, *inputs: str | Path) -> dict[str, Any]:
    """A dry run's ``--json`` summary, its requests in ``out``."""
    result = cio("import", "--dry-run", "--json", "--out", out, *inputs)
    assert result.exit_code == 1, result.stderr  # each run has one rejected row
    no_secret(result.stdout, result.stderr)
    return summary(result)


SAME = ("rows", "sent", "rejected", "duplicates", "columns", "by_reason")


def test_a_parquet_pattern_dry_run_matches_the_local_files_byte_for_byte(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parquet_reader, "BATCH_ROWS", 100)  # many chunks from each object
    files = parquet_parts(tmp_path / "local")
    for f in files:
        bucket.put_file(f"export/{f.name}", f)
    bucket.put("export/other.parquet", files[0].read_bytes())  # not matched by part-*
    here = dry(tmp_path / "local.ndjson", *files)
    there = dry(tmp_path / "remote.ndjson", bucket.url("export/part-*.parquet"))
    remote_out = (tmp_path / "remote.ndjson").read_bytes()
    assert remote_out == (tmp_path / "local.ndjson").read_bytes()
    assert len(read_out(tmp_path / "remote.ndjson")) >= 3  # a batch or more per object
    assert there["files"] == [bucket.url(f"export/{f.name}") for f in files]
    assert all(here[k] == there[k] for k in SAME) and there["rows"] == 900
    # the rejects file is Parquet, local, in the working directory, named after the object
    kept = Path.cwd() / "part-001.parquet.rejects.parquet"
    assert there["rejects_file"] == str(kept)
    local_kept = tmp_path / "local/part-001.parquet.rejects.parquet"
    assert pl.read_parquet(kept).equals(pl.read_parquet(local_kept))
    assert pl.read_parquet(kept)["_cio_row"].to_list() == [51]


def test_validate_and_a_real_parquet_import_from_a_bucket(bucket: Bucket, tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    events(40).write_parquet(path)
    url = bucket.put_file("e.parquet", path)
    checked = cio("validate", "--json", url)
    assert checked.exit_code == 0, checked.stderr
    assert (summary(checked)["files"], summary(checked)["rows"]) == ([url], 40)
    with FakeCio(SITE, "key-51d2aa") as fake:
        result = cio("import", url, "--base-url", fake.url, "--site-id", SITE,
                     "--api-key", "key-51d2aa", "--json")  # fmt: skip
        assert result.exit_code == 0, result.stderr
        assert len(fake.events_by_id) == 40
        sent = next(iter(fake.events_by_id.values()))
    assert isinstance(sent["attributes"]["meta"], dict)  # a struct goes as nested data
    assert (Path.cwd() / "e.parquet.cio-journal").is_file()


def test_ndjson_objects_dry_run_as_the_local_files(bucket: Bucket, tmp_path: Path) -> None:
    folder = tmp_path / "local"
    folder.mkdir()
    plain, gz = folder / "part-000.ndjson", folder / "part-001.ndjson.gz"
    events(300).write_ndjson(plain)
    lines = events(200, 300).write_ndjson().splitlines()
    lines[10] = "[not an object]"  # a rejected row, kept as the line it was
    gz.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    for f in (plain, gz):
        bucket.put_file(f"export/{f.name}", f)
    here = dry(tmp_path / "local.ndjson", plain, gz)
    there = dry(tmp_path / "remote.ndjson", bucket.url("export/part-*"))
    assert (tmp_path / "remote.ndjson").read_bytes() == (tmp_path / "local.ndjson").read_bytes()
    assert all(here[k] == there[k] for k in SAME) and there["rows"] == 500
    kept = Path.cwd() / "part-001.ndjson.gz.rejects.ndjson"
    assert there["rejects_file"] == str(kept)
    assert kept.read_bytes() == (folder / "part-001.ndjson.gz.rejects.ndjson").read_bytes()


def test_bytes_that_contradict_the_format_are_exit_3_for_objects(
    bucket: Bucket, tmp_path: Path
) -> None:
    path = tmp_path / "e.parquet"
    events(5).write_parquet(path)
    named_csv = bucket.put("e.csv", path.read_bytes())
    result = cio("validate", named_csv)
    assert result.exit_code == 3, result.stderr
    assert "the file is read as CSV, but its bytes are Parquet" in result.stderr
    assert "pass --format parquet" in result.stderr
    assert cio("validate", "--format", "parquet", named_csv).exit_code == 0
    csv_as_parquet = bucket.put("f.parquet", b"_cio_name,_cio_customer_id\nsignup,1\n")
    result = cio("validate", csv_as_parquet)
    assert result.exit_code == 3, result.stderr
    assert "the file is read as Parquet, but its bytes are text" in result.stderr
    gz_unnamed = bucket.put("g.ndjson", gzip.compress(events(5).write_ndjson().encode()))
    result = cio("validate", gz_unnamed)
    assert result.exit_code == 3 and "gzip-compressed data" in result.stderr
    no_secret(result.stdout, result.stderr)


# -- real imports: kill -9, resume, reruns, changes -------------------------------------------


def expected_ids(url: str, tmp_path: Path) -> set[str]:
    """The event ids a dry run of ``url`` writes."""
    out = tmp_path / "expected.ndjson"
    assert cio("import", "--dry-run", "--out", out, url).exit_code == 0
    return {op["id"] for line in read_out(out) for op in line["batch"]}


def test_kill_9_then_resume_of_parquet_objects_stores_every_event_once(
    bucket: Bucket, tmp_path: Path
) -> None:
    for i in range(2):
        path = tmp_path / f"part-00{i}.parquet"
        events(700, i * 700).write_parquet(path, row_group_size=100)
        bucket.put_file(f"export/{path.name}", path)
    pattern = bucket.url("export/part-*.parquet")
    want = expected_ids(pattern, tmp_path)
    env, work = run_env(bucket.endpoint), Path.cwd()
    with FakeCio(SITE, "key-51d2aa", delay=0.03) as fake:
        first = work / "part-000.parquet.cio-journal"
        again = killed_then_resumed(command(pattern, fake.url), env, fake, first, want)
        journal = first.read_text()
        assert f"object:{bucket.url('export/part-000.parquet')}:" in journal.splitlines()[0]
        before = len(fake.requests)  # a rerun: the journals, a HEAD per object, no body
        rerun, proxy = through_proxy(bucket, command(pattern, fake.url), work, env)
        assert rerun.returncode == 0, rerun.stderr
        assert rerun.stderr.count("already imported") == 2
        assert all("delimiter=" in path for path, _ in proxy.gets())  # listed, never read
        assert len(fake.requests) == before
        no_secret(again.stdout, again.stderr, rerun.stdout, rerun.stderr, journal)


def test_a_changed_parquet_object_starts_over(bucket: Bucket, tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    events(50).write_parquet(path)
    url = bucket.put_file("e.parquet", path)
    env, work = run_env(bucket.endpoint), Path.cwd()
    with FakeCio(SITE, "key-51d2aa") as fake:
        first = subprocess.run(command(url, fake.url), cwd=work, env=env,
                               capture_output=True, text=True, timeout=WAIT)  # fmt: skip
        assert first.returncode == 0, first.stderr
        events(60).write_parquet(path)  # a new export: same name, new ETag
        bucket.put_file("e.parquet", path)
        second = subprocess.run(command(url, fake.url), cwd=work, env=env,
                                capture_output=True, text=True, timeout=WAIT)  # fmt: skip
        assert second.returncode == 0, second.stderr
        assert "already imported" not in second.stderr
        s = json.loads(second.stdout)
        assert (s["sent"], s["resumed"]) == (60, 0)
        assert len(fake.events_by_id) == 60


def test_a_parquet_object_replaced_between_the_passes_is_changed(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parquet_reader, "BATCH_ROWS", 50)  # requests go out batch by batch
    path = tmp_path / "e.parquet"
    events(400).write_parquet(path, row_group_size=50)
    url = bucket.put_file("e.parquet", path)
    from cio_cli.importer import scan as scan_module

    original = scan_module.scan

    def scan_then_replace(*args: object, **kwargs: object) -> object:
        found = original(*args, **kwargs)  # type: ignore[arg-type]
        events(400, 1000).write_parquet(path, row_group_size=50)  # as many rows: the ETag tells
        bucket.put_file("e.parquet", path)
        return found

    monkeypatch.setattr("cio_cli.importer.run.scan", scan_then_replace)
    with FakeCio(SITE, "key-51d2aa") as fake:
        result = cio("import", url, "--base-url", fake.url, "--site-id", SITE,
                     "--api-key", "key-51d2aa", "--batch-bytes", "3000")  # fmt: skip
    # as a local file edited during a real import: exit 5, nothing more sent, rerun
    assert result.exit_code == 5, result.stderr
    assert f"{url} changed while cio was sending it" in result.stderr
    assert "0 event(s) were sent" in result.stderr and not fake.requests
