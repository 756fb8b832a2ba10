"""What ``validate`` and ``import`` were asked to do: the plan and its sending options.

No polars: the CLI builds a plan (which checks itself) before the run's modules load.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from cio_cli.check.contract import ReadOptions
from cio_cli.config import Config, Credentials, check_sending, resolve
from cio_cli.errors import UsageError
from cio_cli.send.api import Api
from cio_cli.send.choice import choose

MAX_SHARDS = 1024
SHARD_FORM = "I/N, whole numbers with 1 <= I <= N <= 1024 (for example --shard 2/3)"


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``--shard I/N`` as ``(I, N)``; None when not given. UsageError (exit 2) unless
    ``1 <= I <= N <= 1024``."""
    if text is None:
        return None
    i, slash, n = text.strip().partition("/")
    if slash and i.isascii() and i.isdigit() and n.isascii() and n.isdigit():
        shard = (int(i), int(n))
        if 1 <= shard[0] <= shard[1] <= MAX_SHARDS:
            return shard
    raise UsageError(
        f"--shard takes {SHARD_FORM}; got {text!r}",
        "give every job the same N and its own I, from 1/N to N/N",
    )


MAX_REJECTED_FORM = (
    "N (a whole number of rows, 0 or more) or P% (a share of the rows, 0% to 100%),"
    " for example --max-rejected 50 or --max-rejected 0.5%"
)
PERCENT = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?%")


@dataclass(frozen=True)
class Threshold:
    """``--max-rejected N`` or ``P%``: how many rows the row rules may reject, in all the
    run's files together, for the run to exit 0 (and a real import to send)."""

    text: str  # as given, stripped
    count: int | None = None
    percent: Decimal | None = None

    def limit(self, rows: int) -> int:
        """The most rejected rows allowed among ``rows`` (a share rounded down)."""
        if self.count is not None:
            return self.count
        return int((self.percent or Decimal(0)) * rows / 100)


def parse_max_rejected(text: str | None) -> Threshold | None:
    """``--max-rejected N|P%`` as a ``Threshold``; None when not given. UsageError (exit 2)
    for anything else (``-1``, ``101%``, ``abc``)."""
    if text is None:
        return None
    value = text.strip()
    if value.isascii() and value.isdigit():
        return Threshold(value, count=int(value))
    if value.isascii() and PERCENT.fullmatch(value) and Decimal(value[:-1]) <= 100:
        return Threshold(value, percent=Decimal(value[:-1]))
    raise UsageError(
        f"--max-rejected takes {MAX_REJECTED_FORM}; got {text!r}",
        "give the most rows the rules may reject before nothing is sent",
    )


@dataclass
class ImportPlan:
    """Everything ``validate`` and ``import`` were asked to do.

    ``command`` is only shown (the summary's "command"); what the run does follows
    from the other fields: ``validate`` is a dry run (``dry_run`` stays True).
    """

    command: str
    paths: list[str]
    read: ReadOptions
    dry_run: bool = True
    out: Path | None = None
    rejects: Path | None = None
    allow_recent: bool = False
    skip_recent: bool = False
    batch_bytes: int = 475_000
    send: SendOptions | None = None
    restart: bool = False
    shard: tuple[int, int] | None = None  # --shard I/N: only the events of shard I of N
    journal: Path | None = None  # --journal PATH: the journal there, not beside the input
    max_rejected: Threshold | None = None  # --max-rejected N|P%
    api_name: str = "track"  # --api (config.api_name): the API of a dry run's requests
    clock: Callable[[], float] = field(default=time.time)

    @property
    def api(self) -> Api:
        """The API requests are built for: the credentials' (``Config.api``), else the one
        ``--api`` names (a dry run needs no credentials)."""
        return choose(self.send.config.api if self.send is not None else self.api_name)

    @property
    def sends(self) -> bool:
        """A real import: requests go to the API (else they are counted, maybe written)."""
        return not self.dry_run

    @property
    def shard_text(self) -> str | None:
        """``"I/N"`` as the summary shows it, or None."""
        return f"{self.shard[0]}/{self.shard[1]}" if self.shard is not None else None

    @property
    def writes_journal(self) -> bool:
        """Each input that is a file (not stdin, not a pipe) gets a journal, locked for the run."""
        return self.sends

    @property
    def asks_window(self) -> bool:
        """Events in the campaign-trigger window need --allow-recent, --skip-recent or a yes."""
        return self.sends and not (self.allow_recent or self.skip_recent)

    def expand(self) -> None:
        """Replace each URL pattern (``s3://b/export/part-*.csv``) by the objects it matches,
        in name order, and check the plan again (``--journal`` takes one input)."""
        from cio_cli.read.places import expand

        self.paths = expand(self.paths)
        self.__post_init__()

    def __post_init__(self) -> None:
        """A plan that contradicts itself is a usage error (exit 2) before anything is opened."""
        if self.allow_recent and self.skip_recent:
            raise UsageError("--allow-recent and --skip-recent contradict each other")
        if self.shard is not None and any(p == "-" for p in self.paths):
            raise UsageError(
                "--shard cannot read stdin: every shard reads the whole file",
                "save the input to a file and give each shard job its path",
            )
        if self.journal is not None and len(self.paths) > 1:
            raise UsageError(
                "--journal takes one input file",
                "leave it out: each file keeps <file>.cio-journal beside it",
            )
        if not 1000 <= self.batch_bytes <= 500_000:
            raise UsageError(
                "--batch-bytes must be between 1000 and 500000",
                "Customer.io takes requests under 500 KB",
            )


@dataclass
class SendOptions:
    """How a real import talks to the API."""

    config: Config
    concurrency: int = 128
    rate: float = 100.0
    max_retries: int = 8
    timeout: float = 30.0

    @classmethod
    def from_flags(
        cls,
        credentials: Credentials,
        concurrency: int,
        rate: float,
        max_retries: int,
        timeout: float,
        gzip: bool = False,
    ) -> SendOptions:
        """Check the bounds, then the credentials (flags, then environment); UsageError if wrong."""
        check_sending(max_retries, timeout, concurrency, rate)
        c = credentials
        config = resolve(
            c.site_id, c.api_key, c.region, c.base_url, os.environ, c.api, c.pipelines_key, gzip
        )
        return cls(config, concurrency, rate, max_retries, timeout)
