"""Credentials, region and base URL, from flags and the environment; never printed.

Precedence, most specific first: a flag, then its environment variable. For the host:
``--base-url``, then ``--region``, then ``CIO_BASE_URL``, then ``CIO_REGION``, then ``us``
(a flag typed on this command line beats a variable set long ago). An empty value counts as
not given. No message built here ever contains a credential value.
"""

from __future__ import annotations

import base64
import importlib.util
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import SplitResult, urlsplit

from cio_cli import apis
from cio_cli.errors import UsageError

DEFAULT_REGION = "us"
CREDENTIALS_HINT = (
    "the site id and Track API key are under API Credentials in Customer.io's settings; "
    "pass --site-id and --api-key, or set CIO_SITE_ID and CIO_API_KEY"
)
REDACTED = "[redacted]"
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?", re.A)


@dataclass(frozen=True, repr=False)
class Config:
    """Where, as whom and through which API (``apis.FACTS``' name: the sending side's
    ``choice.choose`` picks its ``Api``) to send. ``repr`` never shows a credential."""

    site_id: str
    api_key: str
    base_url: str
    api: str = field(default_factory=lambda: apis.DEFAULT, compare=False)
    pipelines_key: str = ""
    gzip: bool = False  # bodies sent gzip-compressed (Pipelines only)

    def __repr__(self) -> str:
        site = "<set>" if self.site_id else "<missing>"
        key = "<set>" if self.api_key else "<missing>"
        if self.api == "pipelines":
            pk = "<set>" if self.pipelines_key else "<missing>"
            return f"Config(api='pipelines', base_url={self.base_url!r}, pipelines_key={pk})"
        return f"Config(base_url={self.base_url!r}, site_id={site}, api_key={key})"

    __str__ = __repr__

    @cached_property
    def _secrets(self) -> re.Pattern[str]:
        pair = f"{self.site_id}:{self.api_key}".encode()
        token = base64.b64encode(pair).decode()
        urlsafe = base64.urlsafe_b64encode(pair).decode()
        forms = {pair.decode(), token, token.rstrip("="), urlsafe.rstrip("=")}
        forms |= {self.api_key, self.site_id} - {""}
        if self.pipelines_key:
            basic = base64.b64encode(f"{self.pipelines_key}:".encode()).decode()
            forms |= {self.pipelines_key, basic, basic.rstrip("=")}
        alternatives = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
        return re.compile(alternatives, re.IGNORECASE)

    def redact(self, text: str) -> str:
        """``text`` (from the network) with the site id, the API key, the Pipelines key and
        the Basic tokens (``site:key``, ``key:``, raw and in Base64) replaced by ``[redacted]``."""
        return self._secrets.sub(REDACTED, text) if text else text


@dataclass(frozen=True)
class Credentials:
    """The credential options as typed on the command line (None: not typed); ``resolve``
    reads the environment itself, ranking flags and variables."""

    site_id: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    region: str | None = None
    base_url: str | None = None
    api: str | None = None
    pipelines_key: str | None = field(default=None, repr=False)


def _given(value: str | None) -> str | None:
    """The value stripped of spaces, or None when absent or blank."""
    return value.strip() if value is not None and value.strip() else None


def _pick(flag: str | None, env: Mapping[str, str], name: str) -> str | None:
    """The flag if given, else the environment variable ``name``."""
    return _given(flag) or _given(env.get(name))


def _region_url(region: str, source: str, hosts: Mapping[str, str]) -> str:
    host = hosts.get(region.lower())
    if host is None:
        raise UsageError(
            f"unknown region {region!r} (from {source}): --region/CIO_REGION must be us or eu",
            hint="pass --region us or --region eu (or set CIO_REGION), or --base-url URL",
        )
    return host


def _split(url: str, source: str, hint: str) -> SplitResult:
    """``urlsplit`` with its port checked; a UsageError (never showing the URL) if unreadable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # its text may quote the URL: never shown
        raise UsageError(f"{source} is not a valid URL: {_split_problem(exc)}", hint=hint) from None
    if port == 0:
        raise UsageError(f"{source} is not a valid URL: its port is 0", hint=hint)
    return parts


def _split_problem(exc: ValueError) -> str:
    text = str(exc)
    if "IPv6" in text:
        return "its IPv6 address is not valid (a missing ']'?)"
    if "ort" in text:
        return "its port is not a number from 1 to 65535"
    return "it cannot be read as a URL"


def host_problem(host: str) -> str | None:
    """Why ``host`` (a URL's host name, brackets removed) cannot be connected to, or None.

    An IP address, or a DNS name whose labels (after IDNA encoding, as the resolver sends
    them) are 1 to 63 letters, digits, ``-`` or ``_`` and whose ``xn--`` labels decode.
    """
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if ":" in host:
        return "its IPv6 address is not valid"
    name = host[:-1] if host.endswith(".") else host
    try:
        labels = name.encode("idna").decode("ascii").split(".")
    except UnicodeError:
        labels = name.split(".")
    for label in labels:
        shown = label if len(label) <= 20 else label[:20] + "..."
        if not 1 <= len(label) <= 63:
            return f"a label of its host name is {'empty' if not label else 'over 63 characters'}"
        if not _LABEL.fullmatch(label):
            return f"its host name has a label {shown!r} with characters a host name cannot have"
        if label[:4].lower() == "xn--":
            try:
                label.encode("ascii").decode("idna")
            except UnicodeError:
                return f"its host name has a label {shown!r} that is not valid punycode (IDNA)"
    return None if len(name) <= 253 else "its host name is over 253 characters"


def _check_base_url(url: str, source: str) -> str:
    hint = "pass a URL like https://track.customer.io or http://127.0.0.1:8080"
    parts = _split(url, source, hint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{source} must be an http:// or https:// URL with a host", hint=hint)
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            f"{source} must not contain a user name or password",
            hint="credentials go in --site-id/--api-key or CIO_SITE_ID/CIO_API_KEY",
        )
    if parts.query or parts.fragment:
        raise UsageError(f"{source} must not have a query (?...) or fragment (#...)", hint=hint)
    problem = host_problem(parts.hostname)
    if problem is not None:
        raise UsageError(f"{source} is not a valid URL: {problem}", hint=hint)
    return url.rstrip("/")


def proxy_variables(env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """The proxy settings httpx will use, as ``{scheme: (variable, value)}`` for the schemes
    ``http``, ``https``, ``all`` and ``no`` (NO_PROXY); read as Python's
    ``urllib.request.getproxies`` does (a lower-case ``x_proxy`` wins over any other case,
    and an empty lower-case one unsets it)."""
    found: dict[str, tuple[str, str]] = {}
    for name, value in env.items():
        if value and name.lower().endswith("_proxy"):
            found[name.lower()[:-6]] = (name, value)
    if "REQUEST_METHOD" in env:
        found.pop("http", None)
    for name, value in env.items():
        if name.endswith("_proxy"):
            if value:
                found[name.lower()[:-6]] = (name, value)
            else:
                found.pop(name.lower()[:-6], None)
    return {k: v for k, v in found.items() if k in ("http", "https", "all", "no")}


def _proxy_problem(value: str) -> str | None:
    """Why a proxy URL cannot be used, without ever quoting it (it may hold user:pass)."""
    url = value if "://" in value else f"http://{value}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError as exc:
        return f"it is not a valid URL: {_split_problem(exc)}"
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        shown = scheme if re.fullmatch(r"[a-z][a-z0-9+.-]{0,15}", scheme) else "an unknown"
        return f"its scheme is {shown}://; cio can use http://, https:// and socks5:// proxies"
    if not parts.hostname:
        return "it has no host"
    problem = host_problem(parts.hostname)
    if problem is not None:
        return problem
    if scheme.startswith("socks") and importlib.util.find_spec("socksio") is None:
        return "a SOCKS proxy needs the socksio package, which is not installed"
    return None


def _no_proxy_problem(value: str) -> str | None:
    """Why a NO_PROXY list would stop httpx from starting (an entry it cannot read), or None."""
    for entry in (e.strip() for e in value.split(",")):
        try:
            ipaddress.ip_address(entry.split("/")[0])
            continue  # an address (or a network) as httpx reads it
        except ValueError:
            pass
        try:
            urlsplit(entry if "://" in entry else f"http://{entry}").port  # noqa: B018
        except ValueError as exc:
            return f"an entry is not a valid host: {_split_problem(exc)}"
    return None


def check_proxies(env: Mapping[str, str]) -> None:
    """UsageError naming the variable when a proxy setting httpx would read is unusable.

    The message never shows the setting's value (a proxy URL may hold a user and password).
    """
    for scheme, (name, value) in proxy_variables(env).items():
        problem = _no_proxy_problem(value) if scheme == "no" else _proxy_problem(value)
        if problem is not None:
            fix = "install socksio beside cio (pip install socksio)" if "socksio" in problem else ""
            raise UsageError(
                f"the proxy setting {name} cannot be used: {problem}",
                hint=f"{fix or 'fix it'}, or unset {name}",
            )


def base_url_for(
    region: str | None, base_url: str | None, env: Mapping[str, str], api: str | None = None
) -> str:
    """Resolve the API's base URL (``api``: the chosen one's name) from flags and environment (see
    the module docstring).

    The region in effect (``--region``, else ``CIO_REGION``) must be valid even when a base
    URL overrides it.
    """
    hosts = apis.facts(api).hosts
    flag_url, flag_region = _given(base_url), _given(region)
    env_url, env_region = _given(env.get("CIO_BASE_URL")), _given(env.get("CIO_REGION"))
    if flag_region is not None:
        region_url = _region_url(flag_region, "--region", hosts)
    else:
        region_url = _region_url(env_region or DEFAULT_REGION, "CIO_REGION", hosts)
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


PIPELINES_HINT = (
    "the Pipelines API key is in Customer.io's Data Pipelines, on the source's settings; pass "
    "--pipelines-key or set CIO_PIPELINES_KEY (or use --api track with --site-id and --api-key)"
)


def api_name(
    api: str | None, env: Mapping[str, str], pipelines_key: str | None = None,
    site_id: str | None = None, api_key: str | None = None,
) -> str:  # fmt: skip
    """The API cio talks to: ``--api``, else ``CIO_API``, else ``pipelines`` when only the
    Pipelines key is given (flag or variable), else the default (``apis.DEFAULT``: track).
    UsageError for an unknown name."""
    flag = _given(api)
    chosen = (flag or _given(env.get("CIO_API")) or "").lower()
    if chosen:
        if chosen not in apis.FACTS:
            source = "--api" if flag else "CIO_API"
            raise UsageError(f"{source} {chosen!r} is not one of track|pipelines")
        return chosen
    pk = _pick(pipelines_key, env, "CIO_PIPELINES_KEY")
    track = _pick(site_id, env, "CIO_SITE_ID") or _pick(api_key, env, "CIO_API_KEY")
    return "pipelines" if pk is not None and track is None else apis.DEFAULT


def check_gzip(name: str, gzip: bool) -> None:
    """``--gzip`` goes with the Pipelines API only (UsageError, exit 2)."""
    if gzip and name != "pipelines":
        raise UsageError(
            "--gzip goes with --api pipelines: the Track API takes uncompressed bodies",
            hint="drop --gzip, or pass --api pipelines with a Pipelines key",
        )


def _check_value(value: str, names: str, hint: str) -> None:
    if any(char.isspace() or not char.isprintable() for char in value):
        raise UsageError(f"{names} contains spaces or control characters", hint=hint)


def _pipelines_env(key: str, region: str | None, env: Mapping[str, str]) -> Mapping[str, str]:
    """``env`` with a region-prefixed key's region as ``CIO_REGION`` (a --region or
    CIO_REGION that disagrees: UsageError naming both); a --base-url still wins."""
    own = apis.key_region(key)
    flag = _given(region)
    given, source = (flag, "--region") if flag else (_given(env.get("CIO_REGION")), "CIO_REGION")
    if own is not None and given is not None and given.lower() != own:
        raise UsageError(
            f"the Pipelines key is for the {own.upper()} region, but {source} says {given}",
            hint=f"drop {source}, or pass --region {own} (the key's region decides the host)",
        )
    return env if own is None else {**env, "CIO_REGION": own}


def resolve(
    site_id: str | None,
    api_key: str | None,
    region: str | None,
    base_url: str | None,
    env: Mapping[str, str],
    api: str | None = None,
    pipelines_key: str | None = None,
    gzip: bool = False,
) -> Config:
    """Build the Config from flags (``None`` when not given) and ``env``; UsageError if unusable
    (the API, the base URL, the proxy settings, the credentials).

    The missing-credentials message names each missing flag and its variable, never a value.
    """
    name = api_name(api, env, pipelines_key, site_id, api_key)
    check_gzip(name, gzip)
    if name == "pipelines":
        pk = _pick(pipelines_key, env, "CIO_PIPELINES_KEY")
        if pk is None:
            raise UsageError(
                "missing credentials for --api pipelines: --pipelines-key or CIO_PIPELINES_KEY",
                hint=PIPELINES_HINT,
            )
        _check_value(pk, "--pipelines-key/CIO_PIPELINES_KEY", "copy the key again")
        url = base_url_for(region, base_url, _pipelines_env(pk, region, env), name)
        check_proxies(env)
        return Config("", "", url, name, pipelines_key=pk, gzip=gzip)
    url = base_url_for(region, base_url, env, name)
    check_proxies(env)
    site = _pick(site_id, env, "CIO_SITE_ID")
    key = _pick(api_key, env, "CIO_API_KEY")
    if site is None or key is None:
        raise UsageError(_missing_message(site, key), hint=CREDENTIALS_HINT)
    hint = "copy the value again from Customer.io's API Credentials"
    for value, names in ((site, "--site-id/CIO_SITE_ID"), (key, "--api-key/CIO_API_KEY")):
        _check_value(value, names, hint)
    return Config(site_id=site, api_key=key, base_url=url, api=name)


MAX_CONCURRENCY = 256  # threads: one a request in flight


def check_sending(
    max_retries: int, timeout: float, concurrency: int = 1, rate: float = 1.0
) -> None:
    """The bounds of the sending options, for every command that sends (UsageError naming one)."""
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
    if not 0 < rate <= 10_000:
        raise UsageError("--rate must be above 0 and at most 10000 requests per second")
    if not 0 <= max_retries <= 100:
        raise UsageError("--max-retries must be between 0 and 100")
    if not 0 < timeout <= 600:
        raise UsageError("--timeout must be above 0 and at most 600 seconds")
