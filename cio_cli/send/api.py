"""The seam between cio and one Customer.io API: everything that differs between APIs.

cio reads, checks, dedups, packs, sends, journals and reports the same way whatever API it
talks to. What differs is behind one protocol, ``Api``; its first implementation is the
Track API (``send/track.py``: v2 batch + v1). The rest of cio holds an ``Api`` object and never
asks which one it is:

    name, hosts           ``"track"``; the base URL of each region (``--region us|eu``)
    auth_headers          the HTTP headers every request carries: the credentials (never
                          logged), and any mode the API needs (Pipelines: X-Strict-Mode)
    destination           what a journal is written for: the API, its host and account
                          (a journal of another destination does not resume)
    batch_path            where bodies of many ops go; ``batch_open``/``batch_close``:
                          the bytes around the comma-joined ops (``{"items":[`` ``]}``)
    max_op_bytes          the largest op a batch takes
    person_kinds          the kinds of ``_cio_customer_id`` it takes (``id``, ``email``,
                          ``cio_id``): a file with another kind is unimportable
    name_format_warning   whether names with spaces or ``*`` ``+`` ``|`` draw a warning
    millis                whether timestamps carry the row's milliseconds (``OpParts.ms``)
                          (Track: its Journeys pages advise ``new_sign_up``; Pipelines not)
    op(parts)             how one event becomes an op: polars expressions (pieces of one
                          ``concat_str``) built from the checked columns in ``OpParts``,
                          so that encoding stays column-wise (no per-row Python)
    alone(op)             an event whose op is too large for a batch: ``(path, body)`` of
                          a request of its own, or a reason to reject its row
    alone_kinds           identifier kinds whose events always go alone through ``alone``
                          (Track: ``anonymous_id``, which its v2 batch does not take)
    single(...)           the request of ``cio send-event``: ``(path, body)``
    answer(status, body)  what a final HTTP answer means for the request's ops: all
                          accepted, some refused (by op index), the whole request refused
                          (the sender splits it in halves), an unreadable body (retried);
                          None leaves it to the transport (credentials, 404, ...: abort)
    check_credentials(..) ``cio check``: are the credentials (and region) right?

``send/choice.py``'s ``choose()`` is the one place that picks the API (Track by default, or
Pipelines: ``send/pipelines.py``); its ``REGISTRY`` maps names to factories. A new API is its
facts in ``apis.py`` and one module implementing ``Api``, registered there.
This module imports neither polars nor httpx (``send-event`` and ``check`` must start
fast): their types are named for the type checker only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from cio_cli.errors import CioError

if TYPE_CHECKING:
    import polars as pl  # noqa: TID251 (types only: never loaded at run time)

    from cio_cli.config import Config

MESSAGE_LIMIT = 300


@dataclass(frozen=True)
class OpParts:
    """The checked columns of a chunk, as pieces of polars ``concat_str`` (``Api.op``).

    Each ``list`` is a run of pieces to splice into the op; the pieces of ``name``, ``cid``
    and ``event_id`` make a JSON string literal (quotes included); ``kind`` is the column of
    the identifier kind (``id``, ``email``, ``cio_id``; ``anonymous_id`` for a row of
    ``_cio_anonymous_id``, whose ``cid`` is then the anonymous id); ``ts`` is Unix seconds
    (null when the row has none) and ``ts_text`` the same as text; ``ms`` the milliseconds
    within that second (0-999, when ``Api.millis``: the ``_sub`` column); ``data`` is the event
    data's JSON object without its braces (``"k":v,...``, maybe empty). With ``identify`` the
    row is a person's update (``--kind people``): ``data`` holds its attributes, ``name``
    is null, and ``update_only`` asks the API never to create the person.
    """

    name: list[pl.Expr]
    kind: pl.Expr
    cid: list[pl.Expr]
    event_id: list[pl.Expr]
    ts: pl.Expr
    ts_text: pl.Expr
    ms: pl.Expr
    data: pl.Expr
    identify: bool = False  # --kind people: the op adds or updates a person (no name)
    update_only: bool = False  # --update-only: never create a person (Track's ``_update``)


@dataclass(frozen=True)
class Answer:
    """What an API makes of a final HTTP answer to one request.

    ``ok``: every op accepted. ``partial``: the ops listed in ``errors`` (index, raw
    message) are refused, the others accepted. ``refused``: the whole request is refused
    (a batch is split in halves until the refused rows are alone). ``unreadable``: the
    answer cannot be trusted (retried as a 503 would be).
    """

    kind: Literal["ok", "partial", "refused", "unreadable"]
    errors: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class Workspace:
    """What ``cio check`` learnt: the workspace's region and details (None when the API
    does not say), and the error when the credentials work but the setup is wrong."""

    region: str | None = None
    url: str | None = None
    environment_id: object = None
    error: CioError | None = None


class Asker(Protocol):
    """What ``Api.check_credentials`` may ask of the transport (send/transport.py's)."""

    def get_json(self, path: str) -> tuple[int, object]:
        """GET ``path``: the status and the parsed JSON (None if not JSON)."""
        ...

    def post(self, path: str, body: bytes, ops: int | None = None) -> object:
        """POST ``body`` to ``path``, as the transport does every request."""
        ...


class Api(Protocol):
    """One Customer.io API (see the module docstring)."""

    name: str
    hosts: Mapping[str, str]
    batch_path: str
    batch_open: bytes
    batch_close: bytes
    max_op_bytes: int
    alone_kinds: frozenset[str]  # identifier kinds whose events always go alone (``alone``)
    person_kinds: frozenset[str]  # the kinds of _cio_customer_id it takes (else exit 3)
    name_format_warning: bool  # warn of names with spaces or * + | (its docs advise against)
    millis: bool  # timestamps carry the row's milliseconds (Pipelines' ISO-8601), not seconds
    credentials_hint: str  # which flags/variables hold this API's credentials
    paths_hint: str  # what its paths look like, for a 404's message

    def auth_headers(self, config: Config) -> dict[str, str]:
        """The headers every request carries: the credentials, and any mode the API needs."""
        ...

    def destination(self, config: Config) -> str:
        """What a journal is for (API, host, account), never a secret."""
        ...

    def op(self, parts: OpParts) -> list[pl.Expr]:
        """The pieces of one ``concat_str(..., ignore_nulls=True)`` that is the op's JSON."""
        ...

    def alone(self, op: str) -> tuple[str, bytes] | str:
        """An op too large for a batch, or of a kind in ``alone_kinds``: ``(path, body)``
        to send it alone, or why not."""
        ...

    def single(
        self, name: str, data: bytes, ts: int | None, event_id: str, person: str | None,
        anonymous: str | None, *, ms: int = 0,
    ) -> tuple[str, bytes]:  # fmt: skip
        """``(path, body)`` of one event sent alone (``cio send-event``); ``ms``: the
        milliseconds within the second ``ts``, for an API whose timestamps carry them."""
        ...

    def answer(self, status: int, body: bytes, ops: int | None) -> Answer | None:
        """What a final answer means for the request's ops; None: not this API's to say."""
        ...

    def check_credentials(self, transport: Asker, config: Config, expected: str) -> Workspace:
        """``cio check``: ask the API; AbortError when it cannot be asked."""
        ...


# -- helpers any API may use to read Customer.io's answers ----------------------------------


def load(body: bytes) -> object:
    """Parsed JSON, or None when the body is not JSON."""
    try:
        return json.loads(body) if body else None
    except (ValueError, RecursionError):
        return None


def shorten(text: str) -> str:
    """One line of at most MESSAGE_LIMIT characters."""
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def item_text(item: Mapping[str, object]) -> str:
    """``"<message> (field <field>, <reason>)"`` of one error item, skipping empty parts."""
    message, field, reason = (str(item.get(k) or "") for k in ("message", "field", "reason"))
    details = ", ".join(part for part in (f"field {field}" if field else "", reason) if part)
    if message and details:
        return f"{message} ({details})"
    return message or details


def batch_answer(
    status: int, body: bytes, ops: int | None, refused: frozenset[int]
) -> Answer | None:
    """The answer of an API whose batches Customer.io answers alike: 207 lists the refused
    ops (an unreadable 207 is retried), any other 2xx accepts all, a status in ``refused``
    refuses the whole request, anything else is the transport's to handle (None)."""
    if status == 207:
        found = read_partial(body, ops)
        return Answer("unreadable") if found is None else Answer("partial", found)
    if 200 <= status < 300:
        return Answer("ok")
    return Answer("refused") if status in refused else None


def read_partial(body: bytes, ops: int | None = None) -> tuple[tuple[int, str], ...] | None:
    """``(batch_index, raw message)`` for each op a 207 body lists as refused; None when the
    body is not ``{"errors": [{ "batch_index": i, ...}, ...]}`` with every ``i`` an op of the
    request (``0 <= i < ops``): such a 207 does not say which ops failed."""
    doc = load(body)
    items = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return None
    found: list[tuple[int, str]] = []
    for item in items:
        index = item.get("batch_index") if isinstance(item, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            return None
        if ops is not None and index >= ops:
            return None
        assert isinstance(item, dict)
        found.append((index, item_text(item)))
    return tuple(found)
