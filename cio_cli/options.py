"""Every option of the ``cio`` commands, declared once: the choices, the help panels, and
one ``...Opt`` alias per option (its flag, metavar, help, panel, variable)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer


class IdentifierChoice(StrEnum):
    """--identifier: how ``_cio_customer_id`` is sent."""

    AUTO = "auto"
    ID = "id"
    EMAIL = "email"
    PER_ROW = "per-row"


class UnitChoice(StrEnum):
    """--timestamp-unit: how numeric timestamps are read."""

    AUTO = "auto"
    S = "s"
    MS = "ms"


class TypesChoice(StrEnum):
    """--types: infer data types, or keep every value a string."""

    AUTO = "auto"
    STRING = "string"


class FormatChoice(StrEnum):
    """--format: how the input is read, where its name does not say."""

    CSV = "csv"
    PARQUET = "parquet"
    NDJSON = "ndjson"


class KindChoice(StrEnum):
    """--kind: what each row is."""

    EVENTS = "events"
    PEOPLE = "people"


class ApiChoice(StrEnum):
    """--api: which Customer.io API receives the events."""

    TRACK = "track"
    PIPELINES = "pipelines"


class RegionChoice(StrEnum):
    """--region: the Customer.io data center (any case, as CIO_REGION)."""

    US = "us"
    EU = "eu"


def _choices(choices: type[StrEnum]) -> str:
    """The metavar of a choice option: ``[auto|s|ms]``."""
    return "[" + "|".join(choices) + "]"


def _choice_option(flag: str, choices: type[StrEnum], help: str, panel: str, **extra: Any) -> Any:
    """A choice option: Typer shows the choices, and cio checks the value itself
    (``parser=str``), so a wrong one is refused in cio's words, exit 2, with --json's object."""
    return typer.Option(
        flag, parser=str, metavar=_choices(choices), help=help, rich_help_panel=panel, **extra
    )


INPUT, SAFETY, SENDING, CREDENTIALS, OUTPUT = "Input", "Safety", "Sending", "Credentials", "Output"

# -- Input
Files = Annotated[
    list[str],
    typer.Argument(
        metavar="FILE...",
        help="CSV, Parquet or NDJSON files (.csv, .parquet, .ndjson, .jsonl, each maybe .gz"
        " but Parquet), - for stdin, or s3:// gs:// az:// https:// URLs (a * in the"
        " object's name: every object it matches, in name order).",
    ),
]
IdentifierOpt = Annotated[
    IdentifierChoice,
    _choice_option(
        "--identifier",
        IdentifierChoice,
        "How _cio_customer_id is sent; per-row: each value as its own kind (email, cio_id, id).",
        INPUT,
    ),
]
UnitOpt = Annotated[
    UnitChoice,
    _choice_option("--timestamp-unit", UnitChoice, "How numeric timestamps are read.", INPUT),
]
TzOpt = Annotated[
    str | None,
    typer.Option(
        "--assume-tz",
        metavar="ZONE",
        help="Zone for timestamps without one, e.g. UTC.",
        rich_help_panel=INPUT,
    ),
]
FormatOpt = Annotated[
    FormatChoice | None,
    _choice_option(
        "--format", FormatChoice, "How to read the input when its name does not say (stdin).", INPUT
    ),
]
TypesOpt = Annotated[
    TypesChoice, _choice_option("--types", TypesChoice, "Infer data types or not.", INPUT)
]
TypeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--type",
        metavar="COLUMN=TYPE",
        help="TYPE is string, int, float, bool or json (repeatable).",
        rich_help_panel=INPUT,
    ),
]
KindOpt = Annotated[
    KindChoice,
    _choice_option(
        "--kind", KindChoice, "What each row is: an event, or a person to add or update.", INPUT
    ),
]
UpdateOnlyOpt = Annotated[
    bool,
    typer.Option(
        "--update-only",
        help="People: update existing people only, never create one (Track).",
        rich_help_panel=INPUT,
    ),
]
ClearEmptyOpt = Annotated[
    bool,
    typer.Option(
        "--clear-empty",
        help="People: an empty cell removes the attribute (sent as null), not left as it is.",
        rich_help_panel=INPUT,
    ),
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        metavar="SOURCE=TARGET",
        help="Rename a column: TARGET is a _cio_* name, a data key, or - to drop it (repeatable).",
        rich_help_panel=INPUT,
    ),
]
NullOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--null-value",
        metavar="TEXT",
        help="Read cells equal to TEXT as empty, e.g. NULL or \\N (repeatable).",
        rich_help_panel=INPUT,
    ),
]
ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config",
        metavar="FILE",
        envvar="CIO_CONFIG",
        show_envvar=True,
        help="A TOML file of long options, e.g. null_value = [\"NULL\"] (flags win).",
        rich_help_panel=INPUT,
    ),
]
EncodingOpt = Annotated[
    str,
    typer.Option(
        "--encoding", metavar="NAME", help="Text encoding of the input.", rich_help_panel=INPUT
    ),
]
# -- Safety
DryRunOpt = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Send nothing: check and build, and show what would be sent.",
        rich_help_panel=SAFETY,
    ),
]
MaxRejectedOpt = Annotated[
    str | None,
    typer.Option(
        "--max-rejected",
        metavar="N|P%",
        help="Exit 0 when the row rules reject at most N rows (or P% of the rows), with a"
        " warning; above it exit 1 and send nothing.",
        rich_help_panel=SAFETY,
    ),
]
AllowRecentOpt = Annotated[
    bool,
    typer.Option(
        "--allow-recent", help="Send events in the 72-hour window.", rich_help_panel=SAFETY
    ),
]
SkipRecentOpt = Annotated[
    bool,
    typer.Option(
        "--skip-recent", help="Leave events in the 72-hour window out.", rich_help_panel=SAFETY
    ),
]
SemanticOpt = Annotated[
    bool,
    typer.Option(
        "--allow-semantic",
        help="Allow events that delete or change people.",
        rich_help_panel=SAFETY,
    ),
]
# -- Sending
BatchBytesOpt = Annotated[
    int,
    typer.Option(
        "--batch-bytes", metavar="BYTES", help="Largest request body.", rich_help_panel=SENDING
    ),
]
ConcurrencyOpt = Annotated[
    int,
    typer.Option(
        "--concurrency",
        metavar="N",
        help="The most requests in flight (cio adapts below it to reach --rate).",
        rich_help_panel=SENDING,
    ),
]
RateOpt = Annotated[
    float,
    typer.Option(
        "--rate",
        metavar="PER_SECOND",
        help="Requests started per second at most.",
        rich_help_panel=SENDING,
    ),
]
RetriesOpt = Annotated[
    int,
    typer.Option(
        "--max-retries",
        metavar="N",
        help="Retries of a failing request (429, 5xx, timeouts, lost connections).",
        rich_help_panel=SENDING,
    ),
]
TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help="Seconds a whole request may take (connect, send, answer).",
        rich_help_panel=SENDING,
    ),
]
RestartOpt = Annotated[
    bool,
    typer.Option(
        "--restart", help="Ignore the journal: send every row again.", rich_help_panel=SENDING
    ),
]
ShardOpt = Annotated[
    str | None,
    typer.Option(
        "--shard",
        metavar="I/N",
        help="Send only the events of shard I of N (by a hash of the person): run N jobs,"
        " --shard 1/N to N/N, to send every event once between them.",
        rich_help_panel=SENDING,
    ),
]
JournalOpt = Annotated[
    Path | None,
    typer.Option(
        "--journal",
        metavar="PATH",
        help="Keep the journal at PATH (one input file; stdin resumes with it).",
        rich_help_panel=SENDING,
    ),
]
# -- Credentials: Typer shows each variable; config.resolve reads them (see _typed)
SiteIdOpt = Annotated[
    str | None,
    typer.Option(
        "--site-id",
        metavar="ID",
        envvar="CIO_SITE_ID",
        show_envvar=True,
        help="Track API site id.",
        rich_help_panel=CREDENTIALS,
    ),
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        metavar="KEY",
        envvar="CIO_API_KEY",
        show_envvar=True,
        help="Track API key.",
        rich_help_panel=CREDENTIALS,
    ),
]
PipelinesKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--pipelines-key",
        metavar="KEY",
        envvar="CIO_PIPELINES_KEY",
        show_envvar=True,
        help="Pipelines API key.",
        rich_help_panel=CREDENTIALS,
    ),
]


def _api_option(panel: str) -> Any:
    """--api (CIO_API), in ``panel``."""
    return _choice_option(
        "--api",
        ApiChoice,
        "The API that receives the events (default: track, unless only the Pipelines key"
        " is given).",
        panel,
        envvar="CIO_API",
        show_envvar=True,
    )


ApiOpt = Annotated[ApiChoice | None, _api_option(SENDING)]
ApiInputOpt = Annotated[ApiChoice | None, _api_option(INPUT)]  # validate sends nothing
GzipOpt = Annotated[
    bool,
    typer.Option(
        "--gzip",
        help="Send bodies gzip-compressed (--api pipelines only).",
        rich_help_panel=SENDING,
    ),
]
RegionOpt = Annotated[
    RegionChoice | None,
    _choice_option(
        "--region",
        RegionChoice,
        "Workspace region.",
        CREDENTIALS,
        envvar="CIO_REGION",
        show_envvar=True,
    ),
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        metavar="URL",
        envvar="CIO_BASE_URL",
        show_envvar=True,
        help="Override the host (a proxy, a test server).",
        rich_help_panel=CREDENTIALS,
    ),
]
# -- Output
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON summary on stdout.", rich_help_panel=OUTPUT),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", help="No progress display.", rich_help_panel=OUTPUT)
]
RejectsOpt = Annotated[
    Path | None,
    typer.Option(
        "--rejects",
        metavar="FILE",
        help="Rejects file (default <input>.rejects.csv).",
        rich_help_panel=OUTPUT,
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        metavar="FILE",
        help="With --dry-run: write every request, one JSON line each; with a real import:"
        " each acknowledged request and its HTTP status (an audit record).",
        rich_help_panel=OUTPUT,
    ),
]


NameOpt = Annotated[
    str, typer.Option("--name", metavar="NAME", help="The event name.", rich_help_panel=INPUT)
]
PersonOpt = Annotated[
    str | None,
    typer.Option(
        "--person",
        metavar="PERSON",
        help="The person: an id, an email or cio_<id>.",
        rich_help_panel=INPUT,
    ),
]
AnonymousOpt = Annotated[
    str | None,
    typer.Option(
        "--anonymous-id",
        metavar="ID",
        help="An anonymous id, instead of --person.",
        rich_help_panel=INPUT,
    ),
]
PairOpt = Annotated[
    list[str] | None,
    typer.Option(
        "-d",
        metavar="KEY=VALUE|KEY:=JSON",
        help="key=value (a string) or key:=JSON (a typed value); repeatable.",
        rich_help_panel=INPUT,
    ),
]
DataOpt = Annotated[
    str | None,
    typer.Option(
        "--data",
        metavar="JSON|@FILE",
        help="The data: a JSON object, or @FILE.",
        rich_help_panel=INPUT,
    ),
]
TimestampOpt = Annotated[
    str | None,
    typer.Option(
        "--timestamp",
        metavar="TIME",
        help="Unix seconds or ms, or ISO-8601 with Z or an offset.",
        rich_help_panel=INPUT,
    ),
]
EventIdOpt = Annotated[
    str | None,
    typer.Option(
        "--id",
        metavar="ULID",
        help="The event's ULID (default: a new one each run).",
        rich_help_panel=INPUT,
    ),
]
