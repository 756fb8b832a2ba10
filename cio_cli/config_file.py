"""``--config FILE`` (or ``CIO_CONFIG``): long options from a TOML file (no polars).

Each key is a long option of ``cio import`` under its own name (``allow_recent``,
``null_value``, ``map``, ``type``, ...). A flag typed on the command line (or its
environment variable) wins over the file; ``--map`` and ``--type`` flags add to the
file's table and win where both name one column. Credentials are refused: they belong
in the environment. Messages name keys and types, never a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cio_cli.errors import UsageError
from cio_cli.read.urls import LOCAL_HINT, url_for_local

CREDENTIALS = {
    "site_id": "CIO_SITE_ID",
    "api_key": "CIO_API_KEY",
    "pipelines_key": "CIO_PIPELINES_KEY",
}
EXCLUSIVE = {"allow_recent": "skip_recent", "skip_recent": "allow_recent"}  # a flag beats both
PAIRS = ("map", "type")  # tables of COLUMN = VALUE in the file, COLUMN=VALUE flags
KIND_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
              list: "a list of strings"}  # fmt: skip


@dataclass(frozen=True)
class Slot:
    """One long option a file may set: its key, its parameter's name, the Python kind of
    its value (``list`` for a repeatable flag)."""

    key: str
    name: str
    kind: type


def read(path: str) -> dict[str, Any]:
    """The file's table; UsageError (exit 2) when it cannot be read or is not TOML."""
    url = url_for_local(path)
    if url is not None:  # its query may be a signature: never echoed
        raise UsageError(f"--config {url}: cio reads a local file, not a URL", LOCAL_HINT)
    import tomllib  # only with --config: about 2 ms of every other start

    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise UsageError(
            f"--config {path}: cannot read it ({exc.strerror or exc})", "check the path"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"--config {path}: not valid TOML ({exc})", "see toml.io") from None


def merge(
    path: str,
    table: Mapping[str, Any],
    slots: Iterable[Slot],
    given: Mapping[str, Any],
    typed: set[str],
    elsewhere: Iterable[str] = (),
) -> dict[str, Any]:
    """``given`` (parameter name -> value) with the file's values for the options not
    ``typed`` on the command line; keys in ``elsewhere`` (another command's) are ignored."""
    by_key = {s.key: s for s in slots}
    values = dict(given)
    for key, value in table.items():
        if key in CREDENTIALS:
            raise UsageError(
                f"--config {path}: {key} is a credential, which cio does not read from a file",
                f"remove it from the file and set {CREDENTIALS[key]} in the environment",
            )
        slot = by_key.get(key)
        if slot is None:
            if key in elsewhere:
                continue
            known = sorted({*by_key, *elsewhere} - set(CREDENTIALS))
            raise UsageError(
                f"--config {path}: unknown key {key!r}",
                f"keys are long option names: {', '.join(known)}",
            )
        found = _value(path, key, value, slot.kind)
        if key in PAIRS:  # the flags win where both name one column
            flags = given.get(slot.name) or []
            named = {pair.rpartition("=")[0] for pair in flags}
            values[slot.name] = [p for p in found if p.rpartition("=")[0] not in named] + flags
        elif slot.name not in typed and EXCLUSIVE.get(key) not in typed:
            values[slot.name] = found
    return values


def _value(path: str, key: str, value: Any, kind: type) -> Any:
    """The file's value as its flag gives it; UsageError naming the key and the kind."""
    if key in PAIRS and isinstance(value, dict):
        if all(isinstance(v, str) for v in value.values()):
            return [f"{k}={v}" for k, v in value.items()]
    elif kind is list:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    elif kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    elif isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    want = "a table of strings (COLUMN = \"VALUE\")" if key in PAIRS else KIND_NAMES[kind]
    raise UsageError(
        f"--config {path}: {key} must be {want}, not {_toml_type(value)}",
        f"for example {_example(key, kind)}",
    )


def _toml_type(value: Any) -> str:
    """The TOML type of a value, for messages (never the value itself)."""
    for kind, name in ((bool, "a boolean"), (int, "an integer"), (float, "a number"),
                       (str, "a string"), (list, "an array"), (dict, "a table")):  # fmt: skip
        if isinstance(value, kind):
            return name
    return "a date or time"


def _example(key: str, kind: type) -> str:
    if key == "map":
        return 'map = {event_name = "_cio_name"}'
    if key == "type":
        return 'type = {zip = "string"}'
    examples = {bool: "true", int: "8", float: "100", str: '"..."', list: '["NULL"]'}
    return f"{key} = {examples[kind]}"
