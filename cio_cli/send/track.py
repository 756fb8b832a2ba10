"""The Track API (``Api``, send/api.py): v2 batches, v1 for an event alone, the region check.

- Hosts ``https://track.customer.io`` (us), ``https://track-eu.customer.io`` (eu); HTTP
  Basic ``site_id:api_key``.
- ``POST /api/v2/batch`` ``{"batch":[op,...]}``, each op ``{"type":"person","action":
  "event","identifiers":{kind:V},"name":N,"id":ULID,"timestamp":T,"attributes":{...}}``
  (built column-wise in ``send/track_ops.py``), at most 32,000 bytes.
- A person's update (``--kind people``): ``{"type":"person","identifiers":{kind:V},
  "action":"identify","timestamp":T,"attributes":{...}}`` in the same batches; one too
  large for a batch is rejected (v1's ``PUT /api/v1/customers/{id}`` is not used).
- An op too large for a batch goes alone through v1 ``POST /api/v1/customers/{id}/events``
  ``{"name","data","timestamp","id"}``; so does ``cio send-event`` (``/api/v1/events`` with
  ``anonymous_id`` for an anonymous one).
- An anonymous event (a row of ``_cio_anonymous_id``: the v2 batch takes none) always goes
  alone through v1 ``POST /api/v1/events`` ``{"anonymous_id","name","data","timestamp","id"}``.
- 200: accepted; 207 ``{"errors":[{"batch_index":i,...}]}``: those ops refused; 400, 413,
  422: the whole request refused.
- ``cio check``: ``GET /api/v1/accounts/region``, compared with the region cio is set for.

Nothing here imports polars or httpx (``send-event`` and ``check`` start without them).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote

import orjson

from cio_cli import apis
from cio_cli.check.rule_table import ANONYMOUS_KIND as ANONYMOUS
from cio_cli.errors import AbortError, CioError
from cio_cli.send.api import Answer, Asker, OpParts, Workspace, batch_answer

if TYPE_CHECKING:
    import polars as pl  # noqa: TID251 (types only: never loaded at run time)

    from cio_cli.config import Config

HOSTS: Mapping[str, str] = apis.TRACK.hosts
BATCH_PATH = "/api/v2/batch"
ANONYMOUS_PATH = "/api/v1/events"
REGION_PATH = "/api/v1/accounts/region"
ATTRIBUTES = ',"attributes":'  # the op's last key (track_ops.op_pieces)
REFUSED = frozenset({400, 413, 422})
_NAMES = {"us": "US", "eu": "EU"}


def _identify_too_large(size: int, limit: int) -> str:
    """Why a person's update too large for a batch is rejected, with the fix."""
    what = f"more than Customer.io takes in one op ({limit:,})" if size > limit else (
        "more than --batch-bytes leaves for one op: raise --batch-bytes"
    )
    return (
        f"the person's update is {size:,} bytes of JSON, {what}; cio sends people only in"
        " batches: split its attributes over several rows of the person (each row updates"
        " only the attributes it has)"
    )


class Track:
    """The Track API: see the module docstring."""

    name = apis.TRACK.name
    hosts = HOSTS
    batch_path = BATCH_PATH
    batch_open = b'{"batch":['
    batch_close = b"]}"
    max_op_bytes = apis.TRACK.max_op_bytes
    alone_kinds = frozenset({ANONYMOUS})
    person_kinds = apis.TRACK.person_kinds
    name_format_warning = apis.TRACK.name_format_warning
    millis = apis.TRACK.millis
    credentials_hint = (
        "check the site id, the API key and the region (--region us|eu, or --base-url)"
    )
    paths_hint = "check --base-url (paths are added to it: /api/v1/..., /api/v2/...)"

    def auth_headers(self, config: Config) -> dict[str, str]:
        """HTTP Basic ``site_id:api_key``."""
        pair = f"{config.site_id}:{config.api_key}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}

    def destination(self, config: Config) -> str:
        """The base URL plus a short hash of the site id; never the key."""
        digest = hashlib.sha256(config.site_id.encode("utf-8")).hexdigest()[:12]
        return f"{config.base_url}#site-sha256={digest}"

    def op(self, parts: OpParts) -> list[pl.Expr]:
        """The v2 person-event op (``track_ops.op_pieces``)."""
        from cio_cli.send.track_ops import op_pieces

        return op_pieces(parts)

    def alone(self, op: str) -> tuple[str, bytes] | str:
        """The v1 request of one op (its data is at most 100,000 bytes: checked before):
        ``/api/v1/events`` for an anonymous one, else ``/api/v1/customers/{id}/events``.
        A person's update (``identify``) has no larger form cio sends: why, for its row."""
        at = op.index(ATTRIBUTES)  # the first: before it, quotes in strings are escaped
        head = orjson.loads(op[:at] + "}")
        if head.get("action") == "identify":
            return _identify_too_large(len(op.encode("utf-8")), self.max_op_bytes)
        data = op[at + len(ATTRIBUTES) : -1]  # as built: numbers exactly as the op has them
        ((kind, ident),) = head["identifiers"].items()
        ts = head.get("timestamp")
        if kind == ANONYMOUS:
            return ANONYMOUS_PATH, v1_body(head["name"], data, ts, head["id"], anonymous=ident)
        return customer_events_path(ident), v1_body(head["name"], data, ts, head["id"])

    def single(
        self, name: str, data: bytes, ts: int | None, event_id: str, person: str | None,
        anonymous: str | None, *, ms: int = 0,
    ) -> tuple[str, bytes]:  # fmt: skip
        """v1: ``/api/v1/customers/{id}/events``, or ``/api/v1/events`` with ``anonymous_id``."""
        body: dict[str, object] = {"name": name, "data": orjson.Fragment(data)}
        body |= {"timestamp": ts} if ts is not None else {}
        body |= {"id": event_id}
        if anonymous is not None:
            return ANONYMOUS_PATH, orjson.dumps(body | {ANONYMOUS: anonymous})
        return customer_events_path(person or ""), orjson.dumps(body)

    def answer(self, status: int, body: bytes, ops: int | None) -> Answer | None:
        """200/2xx ok; 207 the listed ops refused (unreadable: retried); 400/413/422 refused."""
        return batch_answer(status, body, ops, REFUSED)

    def check_credentials(self, transport: Asker, config: Config, expected: str) -> Workspace:
        """``GET /api/v1/accounts/region``, and the region compared with ``expected``."""
        status, doc = transport.get_json(REGION_PATH)
        region = doc.get("region") if isinstance(doc, dict) else None
        if status != 200 or not isinstance(doc, dict) or not isinstance(region, str):
            raise AbortError(
                f"Customer.io answered HTTP {status} to GET {REGION_PATH} without a region",
                hint="check --base-url",
            )
        region, url = config.redact(region.strip().lower()), doc.get("url")
        url = config.redact(url) if isinstance(url, str) else None
        wrong = None if region == expected else _wrong_region(region, expected, config.base_url)
        environment = doc.get("environment_id")
        environment = config.redact(environment) if isinstance(environment, str) else environment
        return Workspace(region, url, environment, wrong)


TRACK = Track()


def _wrong_region(region: str, expected: str, base_url: str) -> CioError:
    home, used = _NAMES.get(region, region), _NAMES.get(expected, expected)
    why = (
        "the US host redirects EU traffic, and cio does not follow redirects"
        if region == "eu"
        else f"the {used} host does not serve a {home} workspace"
    )
    return CioError(  # exit 1
        f"your workspace is in the {home}: pass --region {region} or set CIO_REGION={region}",
        hint=f"cio is set up for the {used} ({base_url}): {why}; a --base-url or CIO_BASE_URL "
        f"must lead to {HOSTS.get(region, 'the right host')}",
    )


def customer_events_path(identifier: str) -> str:
    """``/api/v1/customers/{identifier}/events``, the identifier percent-encoded as a whole
    (``quote(v, safe="")``), and a segment of only dots (``.``, ``..``) as ``%2E``: HTTP
    clients and servers drop or climb dot segments, which would post elsewhere."""
    segment = quote(identifier, safe="")
    if segment.strip(".") == "":
        segment = segment.replace(".", "%2E")
    return f"/api/v1/customers/{segment}/events"


def v1_body(
    name: str, data: str, ts: int | None, event_id: str, anonymous: str | None = None
) -> bytes:
    """The body of ``POST /api/v1/customers/{id}/events`` for one event, or with
    ``anonymous`` that of ``POST /api/v1/events`` (``anonymous_id`` first)."""
    body: dict[str, object] = {} if anonymous is None else {ANONYMOUS: anonymous}
    body |= {"name": name, "data": orjson.Fragment(data)}
    if ts is not None:
        body["timestamp"] = ts
    body["id"] = event_id
    return orjson.dumps(body)
