"""Inputs in object storage (SPEC section 12, "Object storage"), end to end.

A moto server on 127.0.0.1 (started once per session) stands in for S3; ``cio`` finds it
as a user would, through ``AWS_ENDPOINT_URL`` and ``AWS_ALLOW_HTTP`` with fake keys in the
environment. What is checked: the same bytes in a bucket give the same requests, ids and
rejects file as the local file, byte for byte (chunked, gzipped, multi-line cells); a
``*`` pattern is several files in name order; a real import journals locally by URL + size
+ ETag (the bytes' SHA-256 when the store sends no ETag), resumes after ``kill -9``, starts over when the object changed and answers "already
imported" with a HEAD alone; a missing object, a pattern matching nothing and a refused
access exit with a message naming the URL; no key or signature appears anywhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.buckets_support import (
    KEY_ID,
    SECRET,
    SIGNATURE,
    WAIT,
    Bucket,
    Proxy,
    aws_env,
    bucket_fixture,  # noqa: F401 - the fixture ``bucket``
    environment,
    killed_then_resumed,
    moto_fixture,  # noqa: F401 - the fixture ``moto_url``
)
from tests.cli_support import block_bytes, cio, old, read_out, summary, write_csv
from tests.fakecio import FakeCio

HEADER = ["_cio_name", "_cio_customer_id", "_cio_timestamp", "plan", "note"]
SITE, KEY = "site-b0c4e7", "key-51d2aa"
T0 = old(10)  # the rows' first timestamp, one for the whole module: the same rows, the same ids


def rows(n: int, start: int = 0, bad: int | None = None) -> list[list[str]]:
    """``n`` old, distinct rows; a quoted multi-line cell and non-ASCII text now and then;
    row index ``bad`` (if given) has an empty name (rejected)."""
    t = T0
    out = []
    for i in range(start, start + n):
        note = f"line one\nline two, {i}" if i % 7 == 0 else f"café {i} \"quoted\""
        name = "" if i == bad else "purchase"
        out.append([name, f"user-{i % 97}", str(t + i), "pro" if i % 3 else "free", note])
    return out


def local_files(tmp_path: Path) -> list[Path]:
    """Three parts as a warehouse writes them (one gzipped, one with a rejected row)."""
    folder = tmp_path / "local"
    folder.mkdir()
    a = write_csv(folder / "part-000.csv", HEADER, rows(400))
    b = write_csv(folder / "part-001.csv", HEADER, rows(300, 400, bad=450))
    c = write_csv(folder / "part-002.csv", HEADER, rows(200, 700))
    import gzip

    gz = folder / "part-002.csv.gz"
    gz.write_bytes(gzip.compress(c.read_bytes()))
    c.unlink()
    return [a, b, gz]


def upload(bucket: Bucket, files: list[Path]) -> None:
    """The files under export/, and an object the pattern must not match."""
    for f in files:
        bucket.put_file(f"export/{f.name}", f)
    bucket.put("export/other.csv", b"not,a,part\n")
    bucket.put("export/part-9/nested.csv", b"x\n")


def no_secret(*texts: str) -> None:
    """None of the store's secrets in any of ``texts``."""
    for text in texts:
        assert KEY_ID not in text and SECRET not in text and "5ec12e7" not in text


# -- dry runs: the same bytes, the same requests ---------------------------------------------


def test_a_pattern_dry_run_matches_the_local_files_byte_for_byte(
    bucket: Bucket, tmp_path: Path
) -> None:
    files = local_files(tmp_path)
    upload(bucket, files)
    with block_bytes(4096) as chunks:
        here = cio("import", "--dry-run", "--json", "--out", tmp_path / "local.ndjson", *files)
        there = cio("import", "--dry-run", "--json", "--out", tmp_path / "remote.ndjson",
                    bucket.url("export/part-*"))  # fmt: skip
    assert here.exit_code == there.exit_code == 1, there.stderr
    assert min(chunks) > 2  # both read the files in many chunks
    remote_out = (tmp_path / "remote.ndjson").read_bytes()
    assert remote_out == (tmp_path / "local.ndjson").read_bytes()
    assert len(read_out(tmp_path / "remote.ndjson")) > 0
    s, t = summary(here), summary(there)
    assert t["files"] == [bucket.url(f"export/{f.name}") for f in files]  # name order
    for key in ("rows", "sent", "rejected", "duplicates", "columns", "by_reason"):
        assert s[key] == t[key]
    # the rejects file is local, in the working directory, named after the object
    remote_rejects = Path.cwd() / "part-001.csv.rejects.csv"
    assert t["rejects_file"] == str(remote_rejects)
    assert remote_rejects.read_bytes() == (tmp_path / "local/part-001.csv.rejects.csv").read_bytes()
    no_secret(there.stdout, there.stderr, remote_rejects.read_text())


def test_validate_reads_one_object_and_says_its_url(bucket: Bucket, tmp_path: Path) -> None:
    url = bucket.put("events.csv", b"_cio_name,_cio_customer_id,_cio_timestamp\n"
                     b"signup,42," + str(old()).encode() + b"\n")  # fmt: skip
    result = cio("validate", "--json", url)
    assert result.exit_code == 0, result.stderr
    assert summary(result)["files"] == [url]
    assert summary(result)["rows"] == 1


# -- what goes wrong: exit codes and messages ------------------------------------------------


def test_a_missing_object_is_exit_2_as_a_missing_file(bucket: Bucket) -> None:
    result = cio("validate", bucket.url("nope/events.csv"))
    assert result.exit_code == 2
    assert f"error: no such object: {bucket.url('nope/events.csv')}" in result.stderr
    assert "check the bucket and the key" in result.stderr
    assert cio("validate", "nope/events.csv").exit_code == 2  # as a missing local file


def test_a_pattern_matching_nothing_is_exit_2(bucket: Bucket) -> None:
    bucket.put("export/part-000.csv", b"_cio_name,_cio_customer_id\n")
    result = cio("import", "--dry-run", bucket.url("export/day-*.csv"))
    assert result.exit_code == 2
    assert f"error: no object matches {bucket.url('export/day-*.csv')}" in result.stderr
    bad = cio("validate", bucket.url("ex*/part-000.csv"))
    assert bad.exit_code == 2
    assert "a * may stand only in the object's name" in bad.stderr


def test_access_refused_is_exit_5_naming_the_url_and_the_fix(
    bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = bucket.put("events.csv", b"_cio_name,_cio_customer_id\n")
    proxy = Proxy(bucket.endpoint)
    try:
        proxy.deny = 403
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        result = cio("validate", "--json", url)
    finally:
        proxy.close()
    assert result.exit_code == 5
    assert f"error: the store refused access to {url}" in result.stderr
    assert "AWS_ACCESS_KEY_ID" in result.stderr and "GOOGLE_APPLICATION_CREDENTIALS" in result.stderr
    assert "Traceback" not in result.stderr
    no_secret(result.stdout, result.stderr)


def test_an_https_url_shows_its_query_as_stars(bucket: Bucket) -> None:
    # nothing listens on port 9 of 127.0.0.1: the read fails, and says so without the query
    url = f"https://127.0.0.1:9/exports/events.csv?{SIGNATURE}&X-Amz-Credential={KEY_ID}"
    result = cio("import", "--dry-run", "--json", url)
    assert result.exit_code == 5, result.stderr
    assert "https://127.0.0.1:9/exports/events.csv?***" in result.stderr
    no_secret(result.stdout, result.stderr)


# -- real imports: journal, resume, changes, reruns ------------------------------------------


def command(url: str, base: str, *flags: str) -> list[str]:
    return [sys.executable, "-m", "cio_cli", "import", url, "--base-url", base, "--json",
            "--quiet", "--batch-bytes", "4000", "--concurrency", "2", *flags]  # fmt: skip


def through_proxy(
    bucket: Bucket, cmd: list[str], work: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], Proxy]:
    """Run ``cmd`` with the store behind a ``Proxy``, which records what ``cio`` asks of it."""
    proxy = Proxy(bucket.endpoint)
    try:
        done = subprocess.run(cmd, cwd=work, env=env | {"AWS_ENDPOINT_URL": proxy.url},
                              capture_output=True, text=True, timeout=WAIT)  # fmt: skip
    finally:
        proxy.close()
    return done, proxy


def run_env(endpoint: str) -> dict[str, str]:
    return environment(aws_env(endpoint) | {"CIO_SITE_ID": SITE, "CIO_API_KEY": KEY})


def expected_ops(url: str, tmp_path: Path) -> dict[str, dict[str, object]]:
    """The ops a dry run of ``url`` writes, by id."""
    out = tmp_path / "expected.ndjson"
    assert cio("import", "--dry-run", "--out", out, url).exit_code in (0, 1)
    return {op["id"]: op for line in read_out(out) for op in line["batch"]}


def test_kill_9_then_resume_sends_every_event_once_and_reruns_are_cheap(
    bucket: Bucket, tmp_path: Path
) -> None:
    for i in range(2):
        bucket.put(f"export/part-00{i}.csv", _csv_bytes(rows(700, i * 700)))
    pattern = bucket.url("export/part-*.csv")
    want = expected_ops(pattern, tmp_path)
    env, work = run_env(bucket.endpoint), Path.cwd()
    with FakeCio(SITE, KEY, delay=0.03) as fake:
        journal = work / "part-000.csv.cio-journal"
        again = killed_then_resumed(command(pattern, fake.url), env, fake, journal, set(want))
        journals = [work / "part-000.csv.cio-journal", work / "part-001.csv.cio-journal"]
        header = journals[0].read_text().splitlines()[0]
        assert bucket.url("export/part-000.csv") in header and "object:" in header
        # a rerun answers from the journals, asking the store for size and ETag only
        before = len(fake.requests)
        rerun, proxy = through_proxy(bucket, command(pattern, fake.url), work, env)
        assert rerun.returncode == 0, rerun.stderr
        assert rerun.stderr.count("already imported") == 2
        assert proxy.gets()  # the pattern was listed...
        assert all("delimiter=" in path for path, _ in proxy.gets())  # ...and no object read
        assert sum(method == "HEAD" for method, _, _ in proxy.seen) == 2
        assert len(fake.requests) == before
        for text in (again.stdout, again.stderr, rerun.stderr, *(j.read_text() for j in journals)):
            no_secret(text)


def _csv_bytes(body: list[list[str]]) -> bytes:
    from tests.cli_support import csv_text

    return csv_text(HEADER, body).encode()


def test_a_changed_object_starts_over(bucket: Bucket, tmp_path: Path) -> None:
    url = bucket.put("events.csv", _csv_bytes(rows(50)))
    env, work = run_env(bucket.endpoint), Path.cwd()
    with FakeCio(SITE, KEY) as fake:
        first = subprocess.run(command(url, fake.url), cwd=work, env=env,
                               capture_output=True, text=True, timeout=WAIT)  # fmt: skip
        assert first.returncode == 0, first.stderr
        assert len(fake.events_by_id) == 50
        bucket.put("events.csv", _csv_bytes(rows(60)))  # a new export: same name, new ETag
        second = subprocess.run(command(url, fake.url), cwd=work, env=env,
                                capture_output=True, text=True, timeout=WAIT)  # fmt: skip
        assert second.returncode == 0, second.stderr
        assert "already imported" not in second.stderr
        assert json.loads(second.stdout)["sent"] == 60
        assert json.loads(second.stdout)["resumed"] == 0
        assert len(fake.events_by_id) == 60


def test_an_object_without_etag_is_fingerprinted_by_its_bytes(
    bucket: Bucket, tmp_path: Path
) -> None:
    # a store that sends no ETag (and no version): a new export of the same size at the same
    # URL is not "already imported"; the same bytes again are, after reading them once
    first = _csv_bytes(rows(50))
    second = first.replace(b"user-1", b"user-9")  # other events, the same size
    assert len(second) == len(first) and second != first
    url = bucket.put("events.csv", first)
    proxy = Proxy(bucket.endpoint)
    proxy.drop = {"etag"}
    env, work = run_env(proxy.url), Path.cwd()

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(command(url, fake.url), cwd=work, env=env,
                              capture_output=True, text=True, timeout=WAIT)  # fmt: skip

    try:
        with FakeCio(SITE, KEY) as fake:
            assert run().returncode == 0
            bucket.put("events.csv", second)
            want = expected_ops(url, tmp_path)
            again = run()
            assert again.returncode == 0, again.stderr
            assert "already imported" not in again.stderr
            assert set(want) <= set(fake.events_by_id)  # the new export's events were sent
            proxy.seen.clear()
            rerun = run()
            assert rerun.returncode == 0, rerun.stderr
            assert "already imported" in rerun.stderr
            assert [rng for _, rng in proxy.gets()] == [None]  # read once, whole
    finally:
        proxy.close()
    header = (work / "events.csv.cio-journal").read_text().splitlines()[0]
    assert f"object:{url}:{len(second)}:sha256:" in header


def test_an_object_replaced_between_the_passes_is_changed(
    bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = bucket.put("events.csv", _csv_bytes(rows(50)))
    from cio_cli.importer import scan as scan_module

    original = scan_module.scan

    def scan_then_replace(*args: object, **kwargs: object) -> object:
        found = original(*args, **kwargs)  # type: ignore[arg-type]
        bucket.put("events.csv", _csv_bytes(rows(51)))
        time.sleep(0.01)
        return found

    monkeypatch.setattr("cio_cli.importer.run.scan", scan_then_replace)
    with FakeCio(SITE, KEY) as fake:
        result = cio("import", url, "--base-url", fake.url, "--site-id", SITE, "--api-key", KEY)
        # as a local file edited during a real import: exit 5, nothing more sent, rerun
        assert result.exit_code == 5, result.stderr
        assert f"{url} changed while cio was sending it" in result.stderr
        assert "0 event(s) were sent" in result.stderr
        assert not fake.requests


def test_several_objects_take_no_rejects_or_journal_flag(bucket: Bucket) -> None:
    for i in range(2):
        bucket.put(f"export/part-00{i}.csv", _csv_bytes(rows(3, i * 3)))
    pattern = bucket.url("export/part-*.csv")
    with_rejects = cio("import", "--dry-run", "--rejects", "r.csv", pattern)
    assert with_rejects.exit_code == 2
    assert "error: --rejects takes one input file" in with_rejects.stderr
    with_journal = cio("import", "--dry-run", "--journal", "j.cio-journal", pattern)
    assert with_journal.exit_code == 2
    assert "error: --journal takes one input file" in with_journal.stderr


def test_two_objects_of_one_name_would_share_outputs_a_usage_error(bucket: Bucket) -> None:
    a = bucket.put("2025/events.csv", _csv_bytes(rows(3)))
    b = bucket.put("2026/events.csv", _csv_bytes(rows(3, 3)))
    result = cio("import", "--dry-run", a, b)
    assert result.exit_code == 2
    assert "are the same file" in result.stderr and "events.csv.rejects.csv" in result.stderr


@pytest.mark.parametrize("url", [
    "http://store.example/x.csv?X-Amz-Credential=AKIASECRET1&X-Amz-Signature=sig0secret",
    "ftp://user:pw0secret@store.example/x.csv",
    "s3a://bucket/x.csv?sig=sig0secret",
])  # fmt: skip
def test_an_unread_scheme_is_exit_2_and_shown_without_its_secrets(url: str) -> None:
    for command in (["validate", url], ["import", url, "--dry-run"]):
        got = cio(*command)
        assert got.exit_code == 2, got.stderr
        assert "cio reads s3://, gs://, az:// and https:// URLs" in got.stderr
        assert "rows" not in got.stderr  # no zero-filled table before a usage error
        as_json = cio(*command, "--json")
        for text in (got.stdout, got.stderr, as_json.stdout, as_json.stderr):
            assert "secret" not in text.lower(), text


@pytest.mark.parametrize("arg", [
    " https://store.example/x.csv?X-Amz-Signature=sig0secret",  # pasted with a space
    "\thttps://store.example/x.csv?X-Amz-Signature=sig0secret",
    '"https://store.example/x.csv?sv=2024&sig=sig0secret"',  # pasted with its quotes
    "'s3://user:pw0secret@bucket/x.csv'",
])  # fmt: skip
def test_a_url_after_spaces_or_quotes_is_no_file_shown_without_its_secrets(arg: str) -> None:
    for command in (["validate", arg], ["import", arg, "--dry-run"]):
        got = cio(*command)
        assert got.exit_code == 2, got.stderr
        assert "no such file:" in got.stderr
        assert "a URL starts with its scheme" in got.stderr
        as_json = cio(*command, "--json")
        for text in (got.stdout, got.stderr, as_json.stdout, as_json.stderr):
            assert "secret" not in text.lower(), text


@pytest.mark.parametrize("option", ["--out", "--rejects", "--config"])
def test_a_url_given_for_a_local_file_is_exit_2_shown_without_its_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    """cio writes its outputs (and reads --config) on this machine: a URL there is a usage
    error, never a folder named https: holding the signature, nor a message echoing it."""
    monkeypatch.chdir(tmp_path)
    data = write_csv(tmp_path / "events.csv", HEADER, rows(3))
    url = "https://store.example/out/x.ndjson?X-Amz-Signature=sig0secret"
    got = cio("import", data, "--dry-run", option, url)
    assert got.exit_code == 2, got.stderr
    assert "a local file, not a URL" in got.stderr
    for text in (got.stdout, got.stderr):
        assert "secret" not in text.lower(), text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.csv"]
