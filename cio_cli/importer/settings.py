"""The settings of ``validate`` and ``import``: one typed, frozen object per command, built
by the CLI from its flags (then ``--config``'s values where no flag was typed), and turned
into the run's plan here. Credentials are read later, flags then environment
(``config.resolve``). No typer, no polars.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from cio_cli.check.contract import IGNORED_COLUMNS, Identifier, Kind, ReadOptions, Unit
from cio_cli.config import Credentials
from cio_cli.errors import UsageError
from cio_cli.importer.plan import ImportPlan, SendOptions, parse_max_rejected, parse_shard


@dataclass(frozen=True)
class InputSettings:
    """The options of both commands: the files, how rows are read and judged, the output.
    Names are the CLI's parameters (``type_`` is ``--type``, ``map_`` is ``--map``)."""

    files: list[str]
    identifier: str = "auto"
    timestamp_unit: str = "auto"
    assume_tz: str | None = None
    types: str = "auto"
    type_: list[str] | None = None
    map_: list[str] | None = None
    null_value: list[str] | None = None
    encoding: str = "utf-8"
    format_: str | None = None
    allow_semantic: bool = False
    api: str | None = None
    rejects: Path | None = None
    max_rejected: str | None = None
    json: bool = False
    quiet: bool = False
    kind: str = "events"
    update_only: bool = False
    clear_empty: bool = False

    def read_options(self, api: str) -> ReadOptions:
        """How rows are read and judged, for the API ``api`` (its choices already checked)."""
        self._check_people(api)
        return ReadOptions(
            identifier=cast(Identifier, self.identifier),
            timestamp_unit=cast(Unit, self.timestamp_unit),
            assume_tz=self.assume_tz,
            types="string" if self.types == "string" else "auto",
            type_overrides=_overrides(self.type_),
            encoding=self.encoding,
            format=self.format_,
            allow_semantic=self.allow_semantic,
            api=api,
            column_map=_column_map(self.map_),
            null_values=tuple(self.null_value or ()),
            kind=cast(Kind, str(self.kind)),
            update_only=self.update_only,
            clear_empty=self.clear_empty,
        )

    def _check_people(self, api: str) -> None:
        """``--update-only`` and ``--clear-empty`` go with ``--kind people``, and
        ``--update-only`` with the Track API; UsageError (exit 2) otherwise."""
        if self.kind != "people":
            for flag, given in (("--update-only", self.update_only),
                                ("--clear-empty", self.clear_empty)):  # fmt: skip
                if given:
                    raise UsageError(
                        f"{flag} goes with --kind people: it says how people are updated",
                        "add --kind people if each row is a person, or leave the flag out",
                    )
        if self.update_only and api == "pipelines":
            raise UsageError(
                "--update-only cannot be sent with --api pipelines: its identify call has no"
                " switch that stops it from creating people",
                "use --api track (its _update attribute), or leave out --update-only",
            )


@dataclass(frozen=True)
class ValidateSettings(InputSettings):
    """What ``cio validate`` was asked."""

    def plan(self, api: str) -> ImportPlan:
        """The plan of a validation for the API ``api``; UsageError if it contradicts itself."""
        return ImportPlan(
            "validate", self.files, self.read_options(api), rejects=self.rejects, api_name=api,
            max_rejected=parse_max_rejected(self.max_rejected),
        )  # fmt: skip


@dataclass(frozen=True)
class ImportSettings(InputSettings):
    """What ``cio import`` was asked; the credentials as Typer read them (see ``Credentials``
    for those typed on the command line)."""

    dry_run: bool = False
    allow_recent: bool = False
    skip_recent: bool = False
    batch_bytes: int = 475_000
    concurrency: int = 128
    rate: float = 100
    max_retries: int = 8
    timeout: float = 30
    restart: bool = False
    shard: str | None = None
    journal: Path | None = None
    gzip: bool = False
    site_id: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    pipelines_key: str | None = field(default=None, repr=False)
    region: str | None = None
    base_url: str | None = None
    out: Path | None = None

    def plan(self, api: str, credentials: Credentials) -> ImportPlan:
        """The plan for the API ``api``; a real import's sending options resolve
        ``credentials`` (flags, then environment). UsageError if anything is wrong."""
        if self.skip_recent and self.kind == "people":
            raise UsageError(
                "--skip-recent goes with events: a person's update has no 72-hour window",
                "leave out --skip-recent (cio notes once that people can join segments)",
            )
        plan = ImportPlan(
            "import", self.files, self.read_options(api), dry_run=self.dry_run, out=self.out,
            rejects=self.rejects, allow_recent=self.allow_recent, skip_recent=self.skip_recent,
            batch_bytes=self.batch_bytes, restart=self.restart, api_name=api,
            shard=parse_shard(self.shard), journal=self.journal,
            max_rejected=parse_max_rejected(self.max_rejected),
        )  # fmt: skip
        if plan.sends:
            plan.send = SendOptions.from_flags(
                dataclasses.replace(credentials, api=api),
                self.concurrency, self.rate, self.max_retries, self.timeout, self.gzip,
            )  # fmt: skip
        return plan


def _overrides(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        col, sep, kind = pair.rpartition("=")
        if not sep or not col:
            raise UsageError(f"--type {pair!r} is not COLUMN=TYPE", "for example --type zip=string")
        out[col] = kind
    return out


def _column_map(pairs: list[str] | None) -> dict[str, str]:
    """``--map`` pairs as SOURCE -> TARGET; UsageError (exit 2) for a pair that is not
    SOURCE=TARGET, a SOURCE mapped twice, or a TARGET that cio ignores in its input."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        source, sep, target = pair.rpartition("=")
        if not sep or not source or not target:
            raise UsageError(
                f"--map {pair!r} is not SOURCE=TARGET", "for example --map event_name=_cio_name"
            )
        if source in out:
            raise UsageError(
                f"--map {source}=... is given twice ({source}={out[source]} and {pair})",
                "map each column once (a --map flag replaces the config file's for that column)",
            )
        if target in IGNORED_COLUMNS:
            raise UsageError(
                f"--map {pair}: {target} is a column of the rejects file, which cio ignores"
                " in its input: the column would be dropped",
                f"map {source} to another name (or to - to drop it)",
            )
        out[source] = target
    return out
