"""``cio send-event`` and ``cio check``: one event sent alone, and the credentials check.

``send_event`` posts an event built by ``oneevent.build_event`` (a dry run only returns
the request); ``check`` asks the API (``Api.check``: Track asks for the workspace's
region) and compares the workspace region with the one cio is set up for.
``run_send_event``/``run_check`` turn every CioError into the result's ``error``, and
``emit`` prints a result: people's lines on stderr, ``--json`` or a dry-run request on
stdout, and an error through ``Reporter.fail``, as every command does. No message here
holds a credential: they name flags and variables, never values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TextIO

import orjson

from cio_cli.check.event_flags import SingleEvent, show
from cio_cli.config import DEFAULT_REGION, Config, base_url_for, check_sending, resolve
from cio_cli.errors import CioError
from cio_cli.send.api import Api, choose

if TYPE_CHECKING:  # httpx loads only when a request is made: a dry run never needs it
    from cio_cli.send.transport import Transport


@dataclass(frozen=True)
class Connection:
    """Credential and HTTP options shared by send-event and check (None: not given)."""

    site_id: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    region: str | None = None
    base_url: str | None = None
    timeout: float = 30.0
    max_retries: int = 8
    on_wait: Callable[[str], None] | None = field(default=None, repr=False, compare=False)

    def check_flags(self, env: Mapping[str, str]) -> str:
        """Check --timeout, --max-retries, --region and --base-url; the base URL."""
        check_sending(self.max_retries, self.timeout)
        return base_url_for(self.region, self.base_url, env)

    def config(self, env: Mapping[str, str]) -> Config:
        """The Config; UsageError naming flag and variable when credentials are missing."""
        return resolve(self.site_id, self.api_key, self.region, self.base_url, env)

    def transport(self, config: Config) -> Transport:
        """A Transport with this timeout and retry budget (close it after use)."""
        from cio_cli.send.transport import Transport

        return Transport(
            config, timeout=self.timeout, max_retries=self.max_retries, on_wait=self.on_wait
        )


class _Result:
    """What send-event and check results share: the error, if any, and how to print."""

    error: CioError | None

    @property
    def exit_code(self) -> int:
        """0, or the exit code of the error."""
        return 0 if self.error is None else self.error.exit_code

    def lines(self) -> list[str]:
        """Lines for people (stderr), printed before the error."""
        raise NotImplementedError

    def stdout(self) -> str:
        """What goes on stdout without --json."""
        return ""

    def as_json(self) -> dict[str, Any]:
        """The --json object (``emit`` adds ``error`` and ``hint`` on failure)."""
        raise NotImplementedError


@dataclass(frozen=True)
class SendResult(_Result):
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


def send_event(event: SingleEvent, transport: Transport | None, dry_run: bool) -> SendResult:
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
            return send_event(event, None, True)
        with conn.transport(conn.config(env)) as transport:
            return send_event(event, transport, False)
    except CioError as exc:
        return SendResult(event, dry_run, error=exc)


def expected_region(
    region: str | None, base_url: str, env: Mapping[str, str], api: Api | None = None
) -> str:
    """The region cio is set up for: the host's when ``base_url`` is one of the API's hosts;
    otherwise (a proxy, a test server) ``--region``, else ``CIO_REGION``, else ``us``.
    """
    for name, host in (api or choose()).hosts.items():
        if base_url.rstrip("/") == host:
            return name
    chosen = (region or "").strip() or (env.get("CIO_REGION") or "").strip()
    return (chosen or DEFAULT_REGION).lower()


@dataclass(frozen=True)
class CheckResult(_Result):
    """The workspace region as Customer.io reports it, and the one cio is set up for."""

    expected_region: str | None
    region: str | None = None
    url: str | None = None
    environment_id: object = None
    error: CioError | None = None

    def lines(self) -> list[str]:
        """One line when the credentials work."""
        if self.region is None:
            return []
        return [
            f"credentials ok: workspace region {self.region} ({self.url}), environment "
            f"{self.environment_id}; cio is set up for {self.expected_region}"
        ]

    def as_json(self) -> dict[str, Any]:
        """``{"command":"check","ok","region","expected_region","url","environment_id",...}``."""
        obj = {
            "command": "check",
            "ok": self.error is None,
            "region": self.region,
            "expected_region": self.expected_region,
            "url": self.url,
            "environment_id": self.environment_id,
            "exit_code": self.exit_code,
        }
        return obj


def check(config: Config, transport: Transport, expected: str) -> CheckResult:
    """Ask the API whether the credentials work (``Api.check``), the region compared with
    ``expected`` (see ``expected_region``).

    Exit codes: 0, the credentials work and the region is right; 1, they work but the region
    is wrong (the error names the flag to pass); AbortError (exit 5) propagates when the
    credentials are refused or Customer.io cannot be reached.
    """
    found = config.api.check(transport, config, expected)
    return CheckResult(expected, found.region, found.url, found.environment_id, found.error)


def run_check(conn: Connection, env: Mapping[str, str]) -> CheckResult:
    """Resolve the configuration and ``check``; every CioError becomes the result's error."""
    expected: str | None = None
    try:
        expected = expected_region(conn.region, conn.check_flags(env), env)
        config = conn.config(env)
        with conn.transport(config) as transport:
            return check(config, transport, expected)
    except CioError as exc:
        return CheckResult(expected, error=exc)


class Sink(Protocol):
    """What ``emit`` needs of a Reporter (record/report.py), without importing rich."""

    json_mode: bool
    out: TextIO

    def note(self, text: str) -> None: ...

    def json(self, obj: Mapping[str, Any]) -> None: ...

    def fail(self, exc: CioError, obj: Mapping[str, Any]) -> int: ...


def json_line(obj: Mapping[str, Any]) -> str:
    """One compact JSON line."""
    return orjson.dumps(obj).decode() + "\n"


def emit(result: _Result, sink: Sink) -> int:
    """Print a result: its lines on stderr, then an error the way every command reports one
    (``sink.fail``); else ``--json``'s object, or a dry run's request, on stdout."""
    for line in result.lines():
        sink.note(line)
    if result.error is not None:
        return sink.fail(result.error, result.as_json())
    if sink.json_mode:
        sink.json(result.as_json())
    elif text := result.stdout():
        sink.out.write(text)
        sink.out.flush()
    return result.exit_code
