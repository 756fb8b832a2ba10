"""The Pipelines API (``Api``, send/api.py): ``track`` calls in ``/v1/batch``, strict mode.

- Hosts ``https://cdp.customer.io`` (us), ``https://cdp-eu.customer.io`` (eu). A key shaped
  ``pk_us_…``/``sk_eu_…`` goes as ``Authorization: Bearer KEY`` (its region is the key's:
  config.py); any other key as HTTP Basic ``key:`` (empty password).
- ``X-Strict-Mode: 1`` on every request: without it Customer.io answers 200 to requests it
  drops.
- ``POST /v1/batch`` ``{"batch":[call,...]}``, each call ``{"type":"track","userId"|
  "anonymousId":V,"event":N,"properties":{...},"timestamp":ISO,"messageId":ULID}`` (built
  column-wise in ``send/pipelines_ops.py``), at most 32,000 bytes: there is no larger form,
  so a larger call's row is rejected.
- ``cio send-event``: one call to ``POST /v1/track``.
- 200: accepted; 207 read as Track's; 400 (and 413): the whole request refused.
- ``cio check``: ``POST /v1/batch`` ``{"batch":[]}``; any answer below 500 other than
  401/403 (which abort, exit 5) means the key works.

Nothing here imports polars or httpx (``send-event`` and ``check`` start without them).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

from cio_cli import apis
from cio_cli.apis import key_region
from cio_cli.send.api import Answer, Asker, OpParts, Workspace, batch_answer

if TYPE_CHECKING:
    import polars as pl  # noqa: TID251 (types only: never loaded at run time)

    from cio_cli.config import Config

HOSTS: Mapping[str, str] = apis.PIPELINES.hosts
BATCH_PATH = "/v1/batch"
TRACK_PATH = "/v1/track"
TOO_LARGE = "over 32 KB: the Pipelines API has no larger form"
TOO_LARGE_FOR_BATCH = "over --batch-bytes: the Pipelines API has no larger form"
REFUSED = frozenset({400, 413})


def iso_ms(ts: int, ms: int = 0) -> str:
    """Unix seconds and the milliseconds within them as ``2013-01-28T16:10:15.123Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}Z"


class Pipelines:
    """The Pipelines API: see the module docstring."""

    name = apis.PIPELINES.name
    hosts = HOSTS
    batch_path = BATCH_PATH
    batch_open = b'{"batch":['
    batch_close = b"]}"
    max_op_bytes = apis.PIPELINES.max_op_bytes
    person_kinds = apis.PIPELINES.person_kinds
    name_format_warning = apis.PIPELINES.name_format_warning
    millis = apis.PIPELINES.millis
    alone_kinds: frozenset[str] = frozenset()
    credentials_hint = "check the Pipelines key (--pipelines-key or CIO_PIPELINES_KEY) and --region"
    paths_hint = "check --base-url (paths are added to it: /v1/batch, /v1/track)"

    def auth_headers(self, config: Config) -> dict[str, str]:
        """Bearer for a region-prefixed key, else Basic ``key:``; and ``X-Strict-Mode: 1``."""
        key = config.pipelines_key
        if key_region(key) is not None:
            auth = "Bearer " + key
        else:
            auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode("ascii")
        return {"Authorization": auth, "X-Strict-Mode": "1"}

    def destination(self, config: Config) -> str:
        """The API, the base URL and a short hash of the key; never the key."""
        digest = hashlib.sha256(config.pipelines_key.encode("utf-8")).hexdigest()[:12]
        return f"pipelines {config.base_url}#key-sha256={digest}"

    def op(self, parts: OpParts) -> list[pl.Expr]:
        """The ``track`` call (``pipelines_ops.call_pieces``)."""
        from cio_cli.send.pipelines_ops import call_pieces

        return call_pieces(parts)

    def alone(self, op: str) -> str:
        """No call goes alone: a call too large for a batch is rejected (over 32,000 bytes,
        or over what ``--batch-bytes`` leaves for one call)."""
        size = len(op.encode("utf-8"))
        if size > self.max_op_bytes:
            return TOO_LARGE
        return f"{TOO_LARGE_FOR_BATCH} ({size} bytes): raise --batch-bytes"

    def single(
        self, name: str, data: bytes, ts: int | None, event_id: str, person: str | None,
        anonymous: str | None, *, ms: int = 0,
    ) -> tuple[str, bytes]:  # fmt: skip
        """One ``track`` call to ``/v1/track``, by ``userId`` or ``anonymousId``; ``ms``: the
        milliseconds of the timestamp within its second ``ts`` (sent, never floored)."""
        body: dict[str, object] = {"type": "track"}
        body |= {"anonymousId": anonymous} if anonymous is not None else {"userId": person or ""}
        body["event"] = name
        if data.strip() not in (b"{}", b""):
            body["properties"] = orjson.Fragment(data)
        body |= {"timestamp": iso_ms(ts, ms)} if ts is not None else {}
        body["messageId"] = event_id
        return TRACK_PATH, orjson.dumps(body)

    def answer(self, status: int, body: bytes, ops: int | None) -> Answer | None:
        """2xx ok; 207 as Track's (unreadable: retried); 400/413 the whole request refused."""
        return batch_answer(status, body, ops, REFUSED)

    def check_credentials(self, transport: Asker, config: Config, expected: str) -> Workspace:
        """``POST /v1/batch`` ``{"batch":[]}`` in strict mode: 401/403 abort in the transport
        (exit 5); any other answer below 500 means the key works (5xx are retried, then
        abort)."""
        transport.post(BATCH_PATH, b'{"batch":[]}', 0)
        return Workspace(None, config.base_url)


PIPELINES = Pipelines()
