"""Which API cio talks to: ``REGISTRY`` maps each name (``apis.FACTS``'s) to the factory of
its ``Api`` (send/api.py), and ``choose()`` is the one place that picks one.

Each implementation is imported when it is chosen, so ``send-event`` and ``check`` load one.
"""

from __future__ import annotations

from collections.abc import Callable

from cio_cli import apis
from cio_cli.send.api import Api


def _track() -> Api:
    from cio_cli.send.track import TRACK

    return TRACK


def _pipelines() -> Api:
    from cio_cli.send.pipelines import PIPELINES

    return PIPELINES


REGISTRY: dict[str, Callable[[], Api]] = {"track": _track, "pipelines": _pipelines}


def choose(name: str | None = None) -> Api:
    """The API cio talks to: ``name``'s, else the default (``apis.DEFAULT``: Track)."""
    return REGISTRY[name or apis.DEFAULT]()
