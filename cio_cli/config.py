"""Credentials, region and base URL, from flags and the environment; never printed.

Precedence, most specific first: a flag, then its environment variable. For the host:
``--base-url``, then ``--region``, then ``CIO_BASE_URL``, then ``CIO_REGION``, then ``us``
(a flag typed on this command line beats a variable set long ago). An empty value counts as
not given. No message built here ever contains a credential value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import urlsplit

from cio_cli.errors import UsageError

REGION_HOSTS: Mapping[str, str] = MappingProxyType(
    {"us": "https://track.customer.io", "eu": "https://track-eu.customer.io"}
)
DEFAULT_REGION = "us"
CREDENTIALS_HINT = (
    "the site id and Track API key are under API Credentials in Customer.io's settings; "
    "pass --site-id and --api-key, or set CIO_SITE_ID and CIO_API_KEY"
)


@dataclass(frozen=True, repr=False)
class Config:
    """Where and as whom to send. ``repr`` and ``destination`` never show a credential."""

    site_id: str
    api_key: str
    base_url: str

    def __repr__(self) -> str:
        site = "<set>" if self.site_id else "<missing>"
        key = "<set>" if self.api_key else "<missing>"
        return f"Config(base_url={self.base_url!r}, site_id={site}, api_key={key})"

    __str__ = __repr__

    @property
    def destination(self) -> str:
        """The base URL plus a short hash of the site id (for the journal); never the key."""
        digest = hashlib.sha256(self.site_id.encode("utf-8")).hexdigest()[:12]
        return f"{self.base_url}#site-sha256={digest}"


def _given(value: str | None) -> str | None:
    """The value stripped of spaces, or None when absent or blank."""
    return value.strip() if value is not None and value.strip() else None


def _pick(flag: str | None, env: Mapping[str, str], name: str) -> str | None:
    """The flag if given, else the environment variable ``name``."""
    return _given(flag) or _given(env.get(name))


def _region_url(region: str, source: str) -> str:
    host = REGION_HOSTS.get(region.lower())
    if host is None:
        raise UsageError(
            f"unknown region {region!r} (from {source}): --region/CIO_REGION must be us or eu",
            hint="pass --region us or --region eu (or set CIO_REGION), or --base-url URL",
        )
    return host


def _check_base_url(url: str, source: str) -> str:
    parts = urlsplit(url)
    hint = "pass a URL like https://track.customer.io or http://127.0.0.1:8080"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{source} must be an http:// or https:// URL with a host", hint=hint)
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            f"{source} must not contain a user name or password",
            hint="credentials go in --site-id/--api-key or CIO_SITE_ID/CIO_API_KEY",
        )
    if parts.query or parts.fragment:
        raise UsageError(f"{source} must not have a query (?...) or fragment (#...)", hint=hint)
    return url.rstrip("/")


def base_url_for(region: str | None, base_url: str | None, env: Mapping[str, str]) -> str:
    """Resolve the Track API base URL from flags and environment (see the module docstring).

    The region in effect (``--region``, else ``CIO_REGION``) must be valid even when a base
    URL overrides it.
    """
    flag_url, flag_region = _given(base_url), _given(region)
    env_url, env_region = _given(env.get("CIO_BASE_URL")), _given(env.get("CIO_REGION"))
    if flag_region is not None:
        region_url = _region_url(flag_region, "--region")
    else:
        region_url = _region_url(env_region or DEFAULT_REGION, "CIO_REGION")
    if flag_url is not None:
        return _check_base_url(flag_url, "--base-url")
    if flag_region is not None or env_url is None:
        return region_url
    return _check_base_url(env_url, "CIO_BASE_URL")


def _missing_message(site_id: str | None, api_key: str | None) -> str:
    missing = []
    if site_id is None:
        missing.append("--site-id or CIO_SITE_ID")
    if api_key is None:
        missing.append("--api-key or CIO_API_KEY")
    return "missing credentials: " + ", and ".join(missing)


def resolve(
    site_id: str | None,
    api_key: str | None,
    region: str | None,
    base_url: str | None,
    env: Mapping[str, str],
) -> Config:
    """Build the Config from flags (``None`` when not given) and ``env``; UsageError if unusable.

    The missing-credentials message names each missing flag and its variable, never a value.
    """
    url = base_url_for(region, base_url, env)
    site = _pick(site_id, env, "CIO_SITE_ID")
    key = _pick(api_key, env, "CIO_API_KEY")
    if site is None or key is None:
        raise UsageError(_missing_message(site, key), hint=CREDENTIALS_HINT)
    for value, names in ((site, "--site-id/CIO_SITE_ID"), (key, "--api-key/CIO_API_KEY")):
        if any(char.isspace() or not char.isprintable() for char in value):
            raise UsageError(
                f"{names} contains spaces or control characters",
                hint="copy the value again from Customer.io's API Credentials",
            )
    return Config(site_id=site, api_key=key, base_url=url)
