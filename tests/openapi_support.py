"""Request bodies checked against Customer.io's own OpenAPI files (``../shared/reference``).

``validator(file, path)`` gives a Draft 2020-12 validator of the JSON request body of
``POST path`` in that file, with the file's ``components`` beside it so that ``$ref``s
resolve. One known flaw of the Pipelines file is worked around: a ``track`` call is
``oneOf`` a "Known User" and an "Anonymous User" form, and the anonymous form does not
require ``anonymousId``, so a valid call with a ``userId`` matches both and fails ``oneOf``:
that ``oneOf`` is read as ``anyOf``. Tests skip (with the reason) when the files are absent.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
TRACK_FILE = "customerio-track-openapi.json"
PIPELINES_FILE = "customerio-pipelines-openapi.json"


def _anyof_for_known_or_anonymous(node: Any) -> Any:
    """``node`` with each ``oneOf`` holding a "Known User" form read as ``anyOf``."""
    if isinstance(node, list):
        return [_anyof_for_known_or_anonymous(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _anyof_for_known_or_anonymous(v) for k, v in node.items()}
    forms = out.get("oneOf")
    if isinstance(forms, list) and any(
        isinstance(f, dict) and f.get("title") == "Known User" for f in forms
    ):
        out["anyOf"] = out.pop("oneOf")
    return out


@cache
def _spec(name: str) -> dict[str, Any]:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"Customer.io's OpenAPI file {path} is absent (a clone outside /work)")
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if name == PIPELINES_FILE:
        doc = _anyof_for_known_or_anonymous(doc)
    return doc


def validator(name: str, path: str) -> Any:
    """A Draft 2020-12 validator of the request body of ``POST path`` in file ``name``."""
    jsonschema = pytest.importorskip("jsonschema")
    spec = _spec(name)
    body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = {**body, "components": spec["components"]}
    return jsonschema.Draft202012Validator(schema)


def assert_valid(name: str, path: str, body: Any) -> None:
    """Fail with every schema error when ``body`` is not valid for ``POST path``."""
    errors = sorted(validator(name, path).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message[:300]}" for e in errors[:5]]


def assert_pipelines_batch(body: Any) -> None:
    """A ``/v1/batch`` body is valid (the file's path is ``/batch``: servers end in ``/v1``)."""
    assert_valid(PIPELINES_FILE, "/batch", body)


def assert_pipelines_track(body: Any) -> None:
    """A ``/v1/track`` body is valid."""
    assert_valid(PIPELINES_FILE, "/track", body)


def assert_track_batch(body: Any) -> None:
    """A Track ``/api/v2/batch`` body is valid."""
    assert_valid(TRACK_FILE, "/api/v2/batch", body)


def assert_track_customer_event(body: Any) -> None:
    """A Track ``/api/v1/customers/{identifier}/events`` body is valid."""
    assert_valid(TRACK_FILE, "/api/v1/customers/{identifier}/events", body)
