"""``cio send-event``: one event, built and checked by ``check/event_flags.py``, sent alone.

``send_one`` posts the event (a dry run only returns the request); ``run_send_event``
turns every CioError into the result's ``error``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cio_cli.check.event_flags import OneRequest, SingleEvent, build_event, show
from cio_cli.errors import CioError
from cio_cli.one_request import Connection, OneResult, json_line

if TYPE_CHECKING:  # httpx loads only when a request is made: a dry run never needs it
    from cio_cli.send.transport import Transport


@dataclass(frozen=True)
class SendResult(OneResult):
    """What became of one send-event: sent, a dry run, refused, or stopped by an error."""

    event: SingleEvent | None
    dry_run: bool
    sent: bool = False
    status: int | None = None
    error: CioError | None = None

    def lines(self) -> list[str]:
        """The event's notes, then what happened to it."""
        ev = self.event
        if ev is None:
            return []
        done = f"sent {show(ev.name)} to {ev.target} (id {ev.event_id}, HTTP {self.status})"
        if self.dry_run:
            done = f"dry run: {show(ev.name)} to {ev.target} not sent; request on stdout"
        return [*ev.notes, *([done] if self.error is None else [])]

    def stdout(self) -> str:
        """The dry run's request ``{"path","body"}`` as one JSON line."""
        ok = self.dry_run and self.error is None and self.event is not None
        return json_line(self.event.request()) if ok and self.event is not None else ""

    def as_json(self) -> dict[str, Any]:
        """``{"command":"send-event","sent","dry_run","path","id","status","recent",...}``."""
        ev = self.event
        obj = {
            "command": "send-event",
            "sent": self.sent,
            "dry_run": self.dry_run,
            "path": ev and ev.path,
            "id": ev and ev.event_id,
            "status": self.status,
            "recent": ev and ev.recent,
            "exit_code": self.exit_code,
        }
        if ev is not None and self.dry_run and self.error is None:
            obj["request"] = ev.request()
        return obj


def send_one(event: SingleEvent, transport: Transport | None, dry_run: bool) -> SendResult:
    """POST the event, unless ``dry_run`` (then nothing is sent and ``transport`` may be None).

    200: sent (exit 0). A refusal (400/413/422) is a result whose error (exit 1) holds the
    API's message. AbortError propagates (credentials refused, 404, unreachable: exit 5).
    """
    if dry_run or transport is None:
        return SendResult(event, dry_run=True)
    outcome = transport.post(event.path, event.body)
    if outcome.kind == "ok":
        return SendResult(event, False, sent=True, status=outcome.status)
    message = outcome.message or "; ".join(text for _, text in outcome.errors)
    refused = CioError(
        f"Customer.io refused the event: {message or outcome.status}",
        hint="fix the event, then send it again",
    )
    return SendResult(event, False, status=outcome.status, error=refused)


def run_send_event(
    build: Callable[[], SingleEvent], conn: Connection, env: Mapping[str, str], dry_run: bool
) -> SendResult:
    """Check the flags, build, then send (or not); every CioError becomes the result's error.

    A dry run needs no credentials.
    """
    event: SingleEvent | None = None
    try:
        conn.check_flags(env)
        event = build()
        if dry_run:
            return send_one(event, None, True)
        with conn.transport(conn.config(env)) as transport:
            return send_one(event, transport, False)
    except CioError as exc:
        return SendResult(event, dry_run, error=exc)


@dataclass(frozen=True)
class SendEventSettings:
    """What ``cio send-event`` was asked: the event's flags, ``--dry-run``, the connection."""

    name: str
    person: str | None = None
    anonymous_id: str | None = None
    pairs: list[str] | None = None  # -d KEY=VALUE|KEY:=JSON
    data: str | None = None
    timestamp: str | None = None
    event_id: str | None = None
    allow_semantic: bool = False
    dry_run: bool = False
    conn: Connection = field(default_factory=Connection)

    def build(self, now: float, api: OneRequest) -> SingleEvent:
        """The event checked against the rules, as ``api``'s request (``build_event``)."""
        return build_event(
            self.person, self.anonymous_id, self.name, self.pairs or [], self.data,
            self.timestamp, self.event_id, self.allow_semantic, now, api,
        )  # fmt: skip


def run(settings: SendEventSettings, env: Mapping[str, str]) -> SendResult:
    """``cio send-event``: the API chosen (UsageError for an unknown one), then
    ``run_send_event``."""
    chosen = settings.conn.api_of(env)
    make = lambda: settings.build(time.time(), chosen)  # noqa: E731
    return run_send_event(make, settings.conn, env, settings.dry_run)
