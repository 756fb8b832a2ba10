"""Every row sent, a duplicate, or in the rejects file, once, with its values as read: the
new inputs (NDJSON, Parquet), --max-rejected with shards, tried as a clumsy user would.

Each test runs the real CLI; the fake server stands in for Customer.io where a run sends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli_support import cio, old, summary

TS = old()


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _event(i: int, **more: object) -> dict[str, object]:
    return {"_cio_name": "ev", "_cio_customer_id": f"u{i}", "_cio_timestamp": TS + i, **more}


def test_an_ndjson_rejects_file_imported_again_unchanged_keeps_the_lines_that_were_not_objects(
    tmp_path: Path,
) -> None:
    """A line that was not a JSON object is ``_cio_line`` in the rejects file; importing that
    file again (same flags, not yet fixed) wrote ``{"_cio_row":1,...}``: the line was gone
    from the only file that still held it."""
    path = tmp_path / "e.ndjson"
    path.write_text(json.dumps(_event(1, _cio_timestamp="soon")) + "\n[1,2]\nnot json\n")
    assert cio("validate", path).exit_code == 1
    first = tmp_path / "e.ndjson.rejects.ndjson"
    again = tmp_path / "again.ndjson"
    again.write_bytes(first.read_bytes())
    result = cio("validate", again, "--json")
    assert result.exit_code == 1, result.stderr
    assert summary(result)["rejected"] == 3
    rows = _lines(tmp_path / "again.ndjson.rejects.ndjson")
    assert [r.get("_cio_line") for r in rows] == [None, "[1,2]", "not json"]
    assert rows[0]["_cio_customer_id"] == "u1" and [r["_cio_row"] for r in rows] == [1, 2, 3]
