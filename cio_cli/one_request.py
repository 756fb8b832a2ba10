"""What the commands that make one request (``cio send-event``, ``cio check``) share: the
credential and HTTP options, the result, and how a result is reported.

``report_result`` prints a result: people's lines on stderr, ``--json`` or a dry-run
request on stdout, and an error through ``Reporter.fail``, as every command does. No
message here holds a credential: they name flags and variables, never values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TextIO

import orjson

from cio_cli.config import Config, Credentials, api_name, base_url_for, check_sending, resolve
from cio_cli.errors import CioError
from cio_cli.record.shown import json_text
from cio_cli.send.api import Api
from cio_cli.send.choice import choose

if TYPE_CHECKING:  # httpx loads only when a request is made: a dry run never needs it
    from cio_cli.send.transport import Transport


@dataclass(frozen=True)
class Connection:
    """Credential and HTTP options shared by send-event and check (None: not given)."""

    credentials: Credentials = field(default_factory=Credentials)
    timeout: float = 30.0
    max_retries: int = 8
    on_wait: Callable[[str], None] | None = field(default=None, repr=False, compare=False)

    @property
    def region(self) -> str | None:
        """``--region`` as typed (None: not typed)."""
        return self.credentials.region

    def check_flags(self, env: Mapping[str, str]) -> str:
        """Check --timeout, --max-retries, --region and --base-url; the base URL."""
        check_sending(self.max_retries, self.timeout)
        return base_url_for(self.region, self.credentials.base_url, env, self.api_of(env).name)

    def api_of(self, env: Mapping[str, str]) -> Api:
        """The API chosen by --api, CIO_API or the credentials given (``config.api_name``)."""
        c = self.credentials
        return choose(api_name(c.api, env, c.pipelines_key, c.site_id, c.api_key))

    def config(self, env: Mapping[str, str]) -> Config:
        """The Config; UsageError naming flag and variable when credentials are missing."""
        c = self.credentials
        return resolve(
            c.site_id, c.api_key, c.region, c.base_url, env, c.api, c.pipelines_key
        )  # fmt: skip

    def transport(self, config: Config) -> Transport:
        """A Transport with this timeout and retry budget (close it after use)."""
        from cio_cli.send.transport import Transport

        return Transport(
            config, timeout=self.timeout, max_retries=self.max_retries, on_wait=self.on_wait
        )


class OneResult:
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
        """The --json object (``report_result`` adds ``error`` and ``hint`` on failure)."""
        raise NotImplementedError


class ResultReporter(Protocol):
    """What ``report_result`` needs of a Reporter (record/report.py), without importing rich."""

    json_mode: bool
    out: TextIO

    def note(self, text: str) -> None: ...

    def json(self, obj: Mapping[str, Any]) -> None: ...

    def fail(self, exc: CioError, obj: Mapping[str, Any]) -> int: ...


def json_line(obj: Mapping[str, Any]) -> str:
    """One compact JSON line (controls JSON allows raw written as escapes: record/shown.py)."""
    return json_text(orjson.dumps(obj).decode()) + "\n"


def report_result(result: OneResult, reporter: ResultReporter) -> int:
    """Print a result: its lines on stderr, then an error the way every command reports one
    (``reporter.fail``); else ``--json``'s object, or a dry run's request, on stdout."""
    for line in result.lines():
        reporter.note(line)
    if result.error is not None:
        return reporter.fail(result.error, result.as_json())
    if reporter.json_mode:
        reporter.json(result.as_json())
    elif text := result.stdout():
        reporter.out.write(text)
        reporter.out.flush()
    return result.exit_code
