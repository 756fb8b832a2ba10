"""What each Customer.io API allows, as plain data: below both the row rules (``check/``)
and the sending side (``send/``), so that the rules are read and tested without it.

    name                 ``--api``'s value (``track``, ``pipelines``)
    hosts                the base URL of each region (``--region us|eu``)
    person_kinds         the kinds of ``_cio_customer_id`` it takes (``id``, ``email``,
                         ``cio_id``): a file with another kind is unimportable
    name_format_warning  whether names with spaces or ``*`` ``+`` ``|`` draw a warning
                         (Track: its Journeys pages advise ``new_sign_up``; Pipelines not)
    max_op_bytes         the largest op a batch takes
    millis               whether timestamps keep the row's milliseconds (Pipelines' ISO-8601
                         ``…15.123Z``) or are whole Unix seconds (Track)

``FACTS`` maps each name to its facts and ``DEFAULT`` is the API used when none is chosen;
an API's behaviour (requests, answers) is ``send/api.py``'s ``Api``, registered in
``send/choice.py`` under the same name. Nothing here imports anything of cio's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Facts:
    """What one API allows (see the module docstring)."""

    name: str
    hosts: Mapping[str, str]
    person_kinds: frozenset[str]
    name_format_warning: bool
    max_op_bytes: int
    millis: bool


TRACK = Facts(
    name="track",
    hosts=MappingProxyType(
        {"us": "https://track.customer.io", "eu": "https://track-eu.customer.io"}
    ),
    person_kinds=frozenset({"id", "email", "cio_id"}),
    name_format_warning=True,  # Journeys pages advise names like new_sign_up
    max_op_bytes=32_000,
    millis=False,  # integer Unix seconds
)
PIPELINES = Facts(
    name="pipelines",
    hosts=MappingProxyType({"us": "https://cdp.customer.io", "eu": "https://cdp-eu.customer.io"}),
    person_kinds=frozenset({"id"}),
    name_format_warning=False,  # its docs advise names like "Video Started"
    max_op_bytes=32_000,
    millis=True,  # ISO-8601 with the row's own milliseconds
)
FACTS: dict[str, Facts] = {"track": TRACK, "pipelines": PIPELINES}
DEFAULT = "track"

ISO_MS = "%Y-%m-%dT%H:%M:%S%.3fZ"  # Pipelines' timestamps (polars' strftime): ms truncated
REGION_KEY = re.compile(r"^(pk|sk)_(us|eu)_")


def facts(name: str | None = None) -> Facts:
    """The facts of the API ``name``, else of the default one (Track)."""
    return FACTS[name or DEFAULT]


def key_region(key: str) -> str | None:
    """The region of a region-prefixed Pipelines key (``pk_eu_…`` → ``eu``), else None."""
    found = REGION_KEY.match(key)
    return found.group(2) if found else None
