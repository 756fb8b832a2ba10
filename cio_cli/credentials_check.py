"""``cio check``: do the credentials work, and is cio set up for the workspace's region?

``check_credentials`` asks the API (``Api.check_credentials``: Track asks for the
workspace's region) and compares the workspace region with the one cio is set up for;
``run_check`` turns every CioError into the result's ``error``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cio_cli.config import DEFAULT_REGION, Config
from cio_cli.errors import CioError
from cio_cli.one_request import Connection, OneResult
from cio_cli.send.api import Api
from cio_cli.send.choice import choose

if TYPE_CHECKING:
    from cio_cli.send.transport import Transport


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
class CheckResult(OneResult):
    """The workspace region as Customer.io reports it, and the one cio is set up for."""

    expected_region: str | None
    region: str | None = None
    url: str | None = None
    environment_id: object = None
    error: CioError | None = None

    def lines(self) -> list[str]:
        """One line when the credentials work."""
        if self.region is None and self.error is None and self.url is not None:
            return [f"credentials ok: {self.url} accepted them (this API does not tell the region)"]
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


def check_credentials(config: Config, transport: Transport, expected: str) -> CheckResult:
    """Ask the API whether the credentials work (``Api.check_credentials``), the region
    compared with ``expected`` (see ``expected_region``).

    Exit codes: 0, the credentials work and the region is right; 1, they work but the region
    is wrong (the error names the flag to pass); AbortError (exit 5) propagates when the
    credentials are refused or Customer.io cannot be reached.
    """
    found = choose(config.api).check_credentials(transport, config, expected)
    return CheckResult(expected, found.region, found.url, found.environment_id, found.error)


def run_check(conn: Connection, env: Mapping[str, str]) -> CheckResult:
    """Resolve the configuration and ``check``; every CioError becomes the result's error."""
    expected: str | None = None
    try:
        expected = expected_region(conn.region, conn.check_flags(env), env, conn.api_of(env))
        config = conn.config(env)
        with conn.transport(config) as transport:
            return check_credentials(config, transport, expected)
    except CioError as exc:
        return CheckResult(expected, error=exc)
