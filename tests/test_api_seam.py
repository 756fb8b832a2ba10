"""Issue 10 item 2: a seam per API. Everything that differs between Customer.io's APIs is
behind ``cio_cli.send.api.Api`` (what it allows, as data: ``cio_cli.apis.Facts``); the
pipeline, sender, transport, journal and CLI never ask which API they hold.

A toy API (another batch path, framing, op shape, answer shape and size limit), plugged in
through ``choice.choose``, drives a real ``cio import`` against the local fake server: the
server gets the toy's bodies, refused rows land in the rejects file, and the journal
resumes. A grep keeps Track's paths and framing inside send/track.py.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest

from cio_cli import apis
from cio_cli.config import Config
from cio_cli.send import choice
from cio_cli.send.api import Answer, Asker, OpParts, Workspace
from tests.cli_support import cio, old, read_out, read_rejects, summary, write_csv
from tests.fakecio import FakeCio, Reply

TOY_PATH = "/toy/batch"
TOO_BIG = "over 2 KB: the toy API has no larger form"
HEADER = ["_cio_name", "_cio_customer_id", "_cio_timestamp", "plan"]
ROOT = Path(__file__).resolve().parent.parent / "cio_cli"


class Toy:
    """A made-up API: ``{"items":[{"who","what","mid","when","props"}]}`` on /toy/batch,
    partial refusals as ``200 {"failed":[{"at","why"}]}``, 422 for a whole request."""

    name = "toy"
    hosts = {"us": "https://toy.example", "eu": "https://toy-eu.example"}
    batch_path = TOY_PATH
    batch_open = b'{"items":['
    batch_close = b"]}"
    max_op_bytes = 2_000
    alone_kinds: frozenset[str] = frozenset()
    person_kinds = frozenset({"id", "email", "cio_id"})
    name_format_warning = True
    millis = False
    credentials_hint = "check the toy key"
    paths_hint = "check --base-url (toy paths: /toy/...)"

    def auth_headers(self, config: Config) -> dict[str, str]:
        pair = f"{config.site_id}:{config.api_key}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}

    def destination(self, config: Config) -> str:
        return f"toy {config.base_url}"

    def op(self, parts: OpParts) -> list[pl.Expr]:
        return [
            pl.lit('{"who":'), *parts.cid, pl.lit(',"what":'), *parts.name,
            pl.lit(',"mid":'), *parts.event_id,
            pl.concat_str([pl.lit(',"when":'), parts.ts_text]),
            pl.lit(',"props":{'), parts.data, pl.lit("}}"),
        ]  # fmt: skip

    def alone(self, op: str) -> str:
        return TOO_BIG

    def single(self, name: str, data: bytes, ts: int | None, event_id: str,
               person: str | None, anonymous: str | None, *, ms: int = 0,
               ) -> tuple[str, bytes]:  # fmt: skip
        doc = {"who": person or anonymous, "what": name, "mid": event_id, "when": ts}
        return "/toy/one", orjson.dumps(doc | {"props": orjson.Fragment(data)})

    def answer(self, status: int, body: bytes, ops: int | None) -> Answer | None:
        if status == 200:
            failed = orjson.loads(body or b"{}").get("failed", [])
            found = tuple((item["at"], item["why"]) for item in failed)
            return Answer("partial", found) if found else Answer("ok")
        return Answer("refused") if status == 422 else None

    def check_credentials(self, transport: Asker, config: Config, expected: str) -> Workspace:
        return Workspace()


class ToyServer:
    """The toy's side of the fake server: stores every body, answers as ``Toy`` reads."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.accepted: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, body: bytes) -> Reply:
        items = orjson.loads(body)["items"]
        with self._lock:
            self.bodies.append(body)
            if any(item["what"] == "whole" for item in items):
                return 422, {}, orjson.dumps({"meta": {"error": "toy refuses the request"}})
            failed = [{"at": i, "why": "toy says nope"} for i, x in enumerate(items)
                      if x["what"] == "nope"]  # fmt: skip
            self.accepted += [x for x in items if x["what"] != "nope"]
        return 200, {}, orjson.dumps({"failed": failed} if failed else {})


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ToyServer]:
    """The toy chosen as cio's API (through ``choice.choose``), and a fake server serving it."""
    facts = apis.Facts(Toy.name, Toy.hosts, Toy.person_kinds, Toy.name_format_warning,
                       Toy.max_op_bytes, Toy.millis)  # fmt: skip
    monkeypatch.setitem(apis.FACTS, "toy", facts)
    monkeypatch.setitem(choice.REGISTRY, "toy", Toy)
    monkeypatch.setattr(apis, "DEFAULT", "toy")
    yield ToyServer()


def toy_rows(n: int) -> list[list[str]]:
    """``n`` events; row 25 refused alone, row 31 refuses its request, row 35 too large."""
    ts = str(old())
    rows = [["buy", f"u{i}", ts, f"p{i}"] for i in range(n)]
    rows[25][0], rows[31][0], rows[35][3] = "nope", "whole", "y" * 3000
    return rows


def run_import(path: Path, url: str, *more: str) -> dict[str, Any]:
    flags = ["--site-id", "site", "--api-key", "key", "--base-url", url, "--json"]
    flags += ["--batch-bytes", "1000", "--concurrency", "1", "--max-retries", "0"]
    return summary(cio("import", path, *flags, *more))


def test_a_toy_api_plugs_in_through_the_seam(tmp_path: Path, toy: ToyServer) -> None:
    rows = toy_rows(40)
    path = write_csv(tmp_path / "events.csv", HEADER, rows)
    with FakeCio(routes={TOY_PATH: toy}) as fake:
        fake.fail_every(3, ("status", 500))  # the third request fails: the import stops
        first = run_import(path, fake.url)
        assert first["exit_code"] == 5 and 0 < first["sent"] < 25
        (journal,) = tmp_path.glob("events.csv.cio-journal*")
        assert f'"destination":"toy {fake.url}"' in journal.read_text(), "the toy's destination"
        fake.clear_faults()
        second = run_import(path, fake.url)
    assert second["resumed"] == first["sent"], "the rerun resumes from the journal"
    assert (second["exit_code"], second["rows"], second["sent"]) == (1, 40, 37)
    assert second["errors"] == {"api_refused": 2, "too_large": 1}
    assert all(b.startswith(b'{"items":[{"who":"u') for b in toy.bodies), "toy bodies only"
    assert {r.path for r in fake.requests} == {TOY_PATH}
    sent = [i for i in range(40) if i not in (25, 31, 35)]
    assert sorted(int(x["who"][1:]) for x in toy.accepted) == sent, "each event once"
    first_item = next(x for x in toy.accepted if x["who"] == "u0")
    assert first_item["props"] == {"plan": "p0"}
    assert re.fullmatch(r"[0-9A-Z]{26}", first_item["mid"])
    _, rejects = read_rejects(tmp_path / "events.csv.rejects.csv")
    assert sorted((r["_cio_row"], r["_cio_error"]) for r in rejects) == [
        ("27", "refused by Customer.io: toy says nope"),
        ("33", "refused by Customer.io: toy refuses the request"),
        ("37", TOO_BIG),
    ]


def test_a_dry_run_writes_the_toy_bodies(tmp_path: Path, toy: ToyServer) -> None:
    path = write_csv(tmp_path / "events.csv", HEADER, toy_rows(40))
    out = tmp_path / "out.jsonl"
    result = cio("import", path, "--dry-run", "--out", out, "--batch-bytes", "1000", "--json")
    assert summary(result)["errors"] == {"too_large": 1}
    lines = read_out(out)
    assert all(set(line) == {"items"} for line in lines)
    assert sum(len(line["items"]) for line in lines) == 39


TRACK_ONLY = ("/api/v2/batch", "/api/v1/", '"batch"', '{"batch')
FRAMING = ('"batch"', '{"batch')  # Pipelines frames its batches the same way


def test_track_paths_and_framing_live_only_in_track_py() -> None:
    found = [
        f"{path.relative_to(ROOT)}: {word}"
        for path in sorted(ROOT.rglob("*.py"))
        if path.relative_to(ROOT).as_posix() not in ("send/track.py", "send/track_ops.py")
        for word in TRACK_ONLY
        if word in path.read_text(encoding="utf-8")
        and not (path.relative_to(ROOT).as_posix() == "send/pipelines.py" and word in FRAMING)
    ]
    assert found == []
