"""Credentials, region and base URL: flags over environment, and no secret ever shown."""

from __future__ import annotations

import base64
import hashlib

import pytest

from cio_cli.config import Config, base_url_for, proxy_variables, resolve
from cio_cli.errors import UsageError
from cio_cli.send.track import HOSTS as REGION_HOSTS
from cio_cli.send.track import TRACK

US = "https://track.customer.io"
EU = "https://track-eu.customer.io"
ENV = {"CIO_SITE_ID": "env-site", "CIO_API_KEY": "env-key"}


def test_region_hosts() -> None:
    assert dict(REGION_HOSTS) == {"us": US, "eu": EU}


def test_flags_win_over_environment() -> None:
    config = resolve("flag-site", "flag-key", None, None, ENV)
    assert (config.site_id, config.api_key, config.base_url) == ("flag-site", "flag-key", US)


def test_environment_used_when_no_flags() -> None:
    config = resolve(None, None, None, None, ENV)
    assert (config.site_id, config.api_key) == ("env-site", "env-key")


def test_flag_and_environment_mix() -> None:
    config = resolve(None, "flag-key", None, None, ENV)
    assert (config.site_id, config.api_key) == ("env-site", "flag-key")


def test_blank_values_count_as_missing_and_spaces_are_trimmed() -> None:
    config = resolve("  ", " flag-key\n", None, None, ENV)
    assert (config.site_id, config.api_key) == ("env-site", "flag-key")


@pytest.mark.parametrize(
    ("region", "env", "expected"),
    [
        (None, {}, US),
        ("us", {}, US),
        ("eu", {}, EU),
        ("EU", {}, EU),
        (None, {"CIO_REGION": "eu"}, EU),
        ("us", {"CIO_REGION": "eu"}, US),
        ("eu", {"CIO_REGION": "bogus"}, EU),
    ],
)
def test_regions(region: str | None, env: dict[str, str], expected: str) -> None:
    assert resolve("s", "k", region, None, env).base_url == expected


@pytest.mark.parametrize(
    ("region", "env", "source"),
    [("mars", {}, "--region"), (None, {"CIO_REGION": "ap"}, "CIO_REGION")],
)
def test_unknown_region_is_a_usage_error(region: str | None, env: dict[str, str],
                                         source: str) -> None:
    with pytest.raises(UsageError) as info:
        resolve("s", "k", region, None, env)
    assert info.value.exit_code == 2
    assert f"(from {source})" in info.value.message
    assert "--region/CIO_REGION must be us or eu" in info.value.message
    assert "--region us" in info.value.hint


def test_unknown_region_is_an_error_even_with_a_base_url() -> None:
    with pytest.raises(UsageError, match="unknown region 'xx'"):
        resolve("s", "k", "xx", "http://127.0.0.1:9", {})


@pytest.mark.parametrize(
    ("region", "base_url", "env", "expected"),
    [
        (None, "http://127.0.0.1:8080/", {}, "http://127.0.0.1:8080"),
        ("eu", "https://proxy.example.com/cio/", {}, "https://proxy.example.com/cio"),
        (None, None, {"CIO_BASE_URL": "http://localhost:9000"}, "http://localhost:9000"),
        (None, "http://a.test", {"CIO_BASE_URL": "http://b.test"}, "http://a.test"),
        # A flag typed now beats a variable set long ago, even across the two settings.
        ("eu", None, {"CIO_BASE_URL": "http://b.test"}, EU),
        (None, None, {"CIO_BASE_URL": "http://b.test", "CIO_REGION": "eu"}, "http://b.test"),
    ],
)
def test_base_url_overrides_the_host(region: str | None, base_url: str | None,
                                     env: dict[str, str], expected: str) -> None:
    assert base_url_for(region, base_url, env) == expected
    assert resolve("s", "k", region, base_url, env).base_url == expected


@pytest.mark.parametrize(
    ("base_url", "fragment"),
    [
        ("track.customer.io", "--base-url must be an http:// or https:// URL with a host"),
        ("ftp://track.customer.io", "--base-url must be an http:// or https:// URL with a host"),
        ("https://", "--base-url must be an http:// or https:// URL with a host"),
        ("https://user:pw@proxy.test", "--base-url must not contain a user name or password"),
        ("https://proxy.test/?x=1", "--base-url must not have a query"),
    ],
)
def test_bad_base_url_is_a_usage_error(base_url: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        resolve("s", "k", None, base_url, {})
    assert fragment in info.value.message
    assert info.value.exit_code == 2
    assert "pw" not in info.value.message


def test_bad_base_url_from_environment_names_the_variable() -> None:
    with pytest.raises(UsageError, match="^CIO_BASE_URL must be an http"):
        resolve("s", "k", None, None, {"CIO_BASE_URL": "localhost:8080"})


@pytest.mark.parametrize(
    ("site_id", "api_key", "expected"),
    [
        (None, None,
         "missing credentials: --site-id or CIO_SITE_ID, and --api-key or CIO_API_KEY"),
        ("site-secret", None, "missing credentials: --api-key or CIO_API_KEY"),
        (None, "key-secret", "missing credentials: --site-id or CIO_SITE_ID"),
        ("site-secret", "", "missing credentials: --api-key or CIO_API_KEY"),
    ],
)
def test_missing_credentials_name_flag_and_variable(site_id: str | None, api_key: str | None,
                                                    expected: str) -> None:
    with pytest.raises(UsageError) as info:
        resolve(site_id, api_key, None, None, {})
    error = info.value
    assert error.message == expected
    assert str(error) == expected
    assert error.exit_code == 2
    assert "CIO_SITE_ID" in error.hint and "CIO_API_KEY" in error.hint
    for secret in ("site-secret", "key-secret"):
        assert secret not in error.message + error.hint + repr(error)


@pytest.mark.parametrize(
    ("site_id", "api_key", "names"),
    [("site secret", "k", "--site-id/CIO_SITE_ID"), ("s", "key\nsecret", "--api-key/CIO_API_KEY"),
     ("s", "key\x00secret", "--api-key/CIO_API_KEY")],
)
def test_credentials_with_spaces_or_control_characters(site_id: str, api_key: str,
                                                       names: str) -> None:
    with pytest.raises(UsageError) as info:
        resolve(site_id, api_key, None, None, {})
    assert info.value.message == f"{names} contains spaces or control characters"
    assert "secret" not in info.value.message + info.value.hint


def test_repr_hides_the_credentials() -> None:
    config = Config(site_id="SITE-SECRET-1", api_key="KEY-SECRET-2", base_url=US)
    expected = "Config(base_url='https://track.customer.io', site_id=<set>, api_key=<set>)"
    assert repr(config) == expected
    assert str(config) == expected
    assert f"{config}" == expected
    assert "SECRET" not in repr([config]) + repr({"c": config})


def test_destination_hashes_the_site_id_and_never_holds_the_key() -> None:
    config = Config(site_id="SITE-SECRET-1", api_key="KEY-SECRET-2", base_url=US)
    digest = hashlib.sha256(b"SITE-SECRET-1").hexdigest()[:12]
    assert TRACK.destination(config) == f"{US}#site-sha256={digest}"
    assert "SECRET" not in TRACK.destination(config)
    other_site = Config(site_id="other", api_key="KEY-SECRET-2", base_url=US)
    other_key = Config(site_id="SITE-SECRET-1", api_key="another", base_url=US)
    assert TRACK.destination(other_site) != TRACK.destination(config)
    assert TRACK.destination(other_key) == TRACK.destination(config)


def test_config_is_frozen() -> None:
    config = Config(site_id="s", api_key="k", base_url=US)
    with pytest.raises(AttributeError):
        config.api_key = "changed"  # type: ignore[misc]


def test_redact_removes_every_form_of_the_credentials() -> None:
    config = Config("f00d5173", "SECRETKEY123XYZ", US)
    pair = b"f00d5173:SECRETKEY123XYZ"
    text = (f"Basic {base64.b64encode(pair).decode()} / {pair.decode()} / "
            f"{base64.urlsafe_b64encode(pair).decode().rstrip('=')} / site F00D5173 key "
            "secretkey123xyz")  # fmt: skip
    assert config.redact(text) == (
        "Basic [redacted] / [redacted] / [redacted] / site [redacted] key [redacted]"
    )
    assert config.redact("") == "" and config.redact("nothing here") == "nothing here"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"HTTPS_PROXY": "http://a:1", "https_proxy": "http://b:1"}, {"https": "https_proxy"}),
        ({"HTTPS_PROXY": "http://a:1", "https_proxy": ""}, {}),
        ({"HTTP_PROXY": "http://a:1", "REQUEST_METHOD": "GET"}, {}),
        ({"ALL_PROXY": "socks5://a:1", "NO_PROXY": "localhost", "FTP_PROXY": "ftp://x"},
         {"all": "ALL_PROXY", "no": "NO_PROXY"}),
    ],
)  # fmt: skip
def test_proxy_variables_read_as_httpx_reads_them(
    env: dict[str, str], expected: dict[str, str]
) -> None:
    assert {k: name for k, (name, _) in proxy_variables(env).items()} == expected
