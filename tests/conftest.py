"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakecio import FakeCio


@pytest.fixture
def fake_cio() -> Iterator[FakeCio]:
    """A started fake Customer.io Track API (site id "site", API key "key"), stopped after."""
    with FakeCio() as fake:
        yield fake
