"""Dedup ids can be recomputed outside cio, exactly as docs/reference.md describes them.

The id of an event without ``_cio_id`` is the ULID whose 48-bit time is the
timestamp in milliseconds (0 without one) and whose 80 random bits are the first
80 bits of SHA-256 over the compact JSON ``[name, kind, value, timestamp, data]``.
Here that is recomputed with ``hashlib`` and python-ulid.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ulid import ULID

from tests.cli_support import dry_run, old, write_csv

T = old(10)
HEADER = ["_cio_name", "_cio_customer_id", "_cio_timestamp", "plan", "amount", "city"]
ROWS = [
    ["signup", "cio_1", str(T), "pro", "12.5", "Zürich"],
    ["purchase", "ada@example.com", str(T + 1), "", "3", 'say "hi"'],
    ["login", "cio_42", "", "free", "", ""],
    ["purchase", "bob@example.com", str(T * 1000 + 999), "x", "-7", "a,b"],
]


def expected_id(name: str, kind: str, value: str, ts: int | None, data: dict[str, object]) -> str:
    canon = json.dumps(
        [name, kind, value, ts, data], separators=(",", ":"), sort_keys=True, ensure_ascii=False
    )
    digest = hashlib.sha256(canon.encode("utf-8")).digest()
    millis = 0 if ts is None else ts * 1000
    return str(ULID.from_bytes(millis.to_bytes(6, "big") + digest[:10]))


EXPECTED = [
    expected_id("signup", "cio_id", "cio_1", T, {"plan": "pro", "amount": 12.5, "city": "Zürich"}),
    expected_id("purchase", "email", "ada@example.com", T + 1, {"amount": 3, "city": 'say "hi"'}),
    expected_id("login", "cio_id", "cio_42", None, {"plan": "free"}),
    expected_id(
        "purchase", "email", "bob@example.com", T, {"plan": "x", "amount": -7, "city": "a,b"}
    ),
]


def test_ids_are_sha256_of_the_canonical_event_as_a_ulid(tmp_path: Path) -> None:
    out = dry_run(write_csv(tmp_path / "e.csv", HEADER, ROWS))
    assert out.code == 0, out.summary
    assert [op["id"] for op in out.ops] == EXPECTED
