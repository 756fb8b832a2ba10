"""The ``cio`` command: Typer wiring only. Options become a plan; errors become exit codes."""

from __future__ import annotations

import os
import signal
import sys
import threading
import typing
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cio_cli import __version__
from cio_cli.config import Credentials, api_name, check_gzip
from cio_cli.errors import (
    CioError,
    InterruptedError_,
    Terminated,
    TerminatedError,
    UsageError,
)
from cio_cli.options import (
    AllowRecentOpt,
    AnonymousOpt,
    ApiInputOpt,
    ApiKeyOpt,
    ApiOpt,
    BaseUrlOpt,
    BatchBytesOpt,
    ClearEmptyOpt,
    ConcurrencyOpt,
    ConfigOpt,
    DataOpt,
    DryRunOpt,
    EncodingOpt,
    EventIdOpt,
    Files,
    FormatChoice,
    FormatOpt,
    GzipOpt,
    IdentifierChoice,
    IdentifierOpt,
    JournalOpt,
    JsonOpt,
    KindChoice,
    KindOpt,
    MapOpt,
    MaxRejectedOpt,
    NameOpt,
    NullOpt,
    OutOpt,
    PairOpt,
    PersonOpt,
    PipelinesKeyOpt,
    QuietOpt,
    RateOpt,
    RegionOpt,
    RejectsOpt,
    RestartOpt,
    RetriesOpt,
    SemanticOpt,
    ShardOpt,
    SiteIdOpt,
    SkipRecentOpt,
    TimeoutOpt,
    TimestampOpt,
    TypeOpt,
    TypesChoice,
    TypesOpt,
    TzOpt,
    UnitChoice,
    UnitOpt,
    UpdateOnlyOpt,
)
from cio_cli.record.report import Reporter, Summary, ask
from cio_cli.typer_classes import PanelCommand, _Group

if TYPE_CHECKING:  # validate and import load them when they run (send-event never does)
    from cio_cli import config_file  # only with --config
    from cio_cli.importer.plan import ImportPlan
    from cio_cli.importer.settings import InputSettings

EXIT_CODES = """\b
Exit codes:
  0    every row sent (import), or no invalid row (validate)
  1    finished, but some rows were rejected or undeliverable: see the
       rejects file (rows left out by --skip-recent alone exit 0; rows the
       rules reject within --max-rejected too); above --max-rejected, a
       real import sends nothing
  2    usage: bad flags, missing credentials, an output file that is an
       input or cannot be written
  3    the file cannot be imported at all (columns, encoding, mixed
       identifiers); nothing sent
  4    refused: events in the 72-hour window without --allow-recent or
       --skip-recent, or you said no; nothing sent
  5    aborted: credentials refused, the API unreachable after retries,
       or an output file could not be written; journal kept, run again
       to resume
  130  interrupted (Ctrl-C); journal kept, run again to resume
  143  terminated (SIGTERM): handled like a first Ctrl-C, with the
       summary; journal kept, run again to resume

\b
Environment:
  CIO_SITE_ID, CIO_API_KEY   Track API credentials (--site-id, --api-key)
  CIO_PIPELINES_KEY          Pipelines API key (--pipelines-key)
  CIO_API                    track or pipelines (--api)
  CIO_REGION                 us or eu (--region)
  CIO_BASE_URL               overrides the host (--base-url)
  CIO_CONFIG                 a TOML file of long options (--config)"""


app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    help="Backfill events and people into Customer.io from CSV, Parquet and NDJSON files"
    " (local or in a bucket), and send single events.",
    epilog=EXIT_CODES,
)


def _version(value: bool) -> None:
    if value:
        print(f"cio {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Backfill events and people into Customer.io from files, and send single events."""


def _typed(ctx: typer.Context, **values: str | None) -> Credentials:
    """The credential options as typed on the command line (None when not typed).

    Typer reads CIO_SITE_ID and the others only to show them in --help: a value it took from
    the environment is dropped here, and config.resolve reads the variables itself, ranking
    flags and variables as before (a typed --region beats CIO_BASE_URL; its messages say
    which one was wrong).
    """
    typed: dict[str, str | None] = {}
    for name, value in values.items():
        source = ctx.get_parameter_source(name)
        typed[name] = None if source is not None and source.name == "ENVIRONMENT" else value
    return Credentials(**typed)


def _choice(value: str, allowed: type[StrEnum], flag: str) -> str:
    if value not in tuple(allowed):
        raise UsageError(f"{flag} {value!r} is not one of {'|'.join(allowed)}")
    return value


def _slots(command: Callable[..., Any]) -> list[config_file.Slot]:
    """The long options of ``command`` a config file may set, with their value kinds."""
    from cio_cli import config_file  # only with --config

    slots = []
    for name, hint in typing.get_type_hints(command, include_extras=True).items():
        if name in ("ctx", "files", "config", "return"):
            continue
        base = typing.get_args(hint)[0]
        kinds = typing.get_args(base) or (base,)
        kind: type = str
        if any(typing.get_origin(k) is list for k in kinds):
            kind = list
        elif base in (bool, int, float):
            kind = base
        slots.append(config_file.Slot(name.rstrip("_"), name, kind))
    return slots


def _configured(
    ctx: typer.Context, command: Callable[..., Any], values: dict[str, Any], config: str | None
) -> dict[str, Any]:
    """``values`` (the command's options) with ``--config``'s where no flag was typed.

    A key of ``import`` is accepted, and ignored, by ``validate``: one file serves both.
    """
    if not config:
        return values
    typed = set()
    for name in values:
        source = ctx.get_parameter_source(name)
        if source is not None and source.name != "DEFAULT":
            typed.add(name)
    from cio_cli import config_file  # only with --config

    others = {s.key for s in _slots(import_)}
    table = config_file.read(config)
    return config_file.merge(config, table, _slots(command), values, typed, others)


def _check_choices(settings: InputSettings) -> None:
    """--identifier, --timestamp-unit and --types: one of their choices (UsageError, exit 2)."""
    _choice(settings.identifier, IdentifierChoice, "--identifier")
    _choice(settings.timestamp_unit, UnitChoice, "--timestamp-unit")
    _choice(settings.types, TypesChoice, "--types")
    if settings.format_ is not None:
        _choice(settings.format_, FormatChoice, "--format")
    _choice(settings.kind, KindChoice, "--kind")


def _guard(
    reporter: Reporter, body: Callable[[], int], shape: Callable[[CioError], Mapping[str, Any]]
) -> None:
    """Run a command; every CioError leaves through ``reporter.fail``, in one place.

    ``shape`` gives the command's ``--json`` object for a run stopped by the error (an
    import's partial summary, send-event's or check's own object); a Ctrl-C or SIGTERM
    outside an import's sending phase is reported the same way.
    """
    try:
        with _sigterm_unwinds():
            code = body()
    except CioError as exc:
        if isinstance(exc.summary, Summary) and not reporter.json_mode and exc.summary.counted:
            reporter.summary(exc.summary)
        raise typer.Exit(reporter.fail(exc, shape(exc))) from None
    except KeyboardInterrupt as exc:
        stopped = _stopped_early(isinstance(exc, Terminated))
        raise typer.Exit(reporter.fail(stopped, shape(stopped))) from None
    raise typer.Exit(code)


def _run(plan: ImportPlan, reporter: Reporter) -> int:
    """Hand a validate or import plan on; its summary is the command's output."""
    from cio_cli.importer.rerun import answer  # an already imported file: no polars

    plan.expand()  # s3://bucket/export/part-*.csv: the objects it matches, in name order
    summary = answer(plan, reporter)
    if summary is None:
        from cio_cli.importer.run import run  # polars loads here, for validate and import only

        confirm = ask if plan.asks_window and sys.stdin.isatty() and sys.stderr.isatty() else None
        summary = run(plan, reporter, confirm=confirm)
    reporter.summary(summary)
    return summary.exit_code


def _import_shape(
    command: str, files: list[str], dry_run: bool
) -> Callable[[CioError], Mapping[str, Any]]:
    """validate's and import's ``--json`` object for a run stopped by an error."""
    from cio_cli.read.urls import shown_name  # a URL's query string is never shown

    shown = [shown_name(f) for f in files]
    return lambda exc: Summary.stopped(command, shown, exc, dry_run).as_json()


def _stopped_early(terminated: bool) -> InterruptedError_:
    """A Ctrl-C or SIGTERM outside an import's sending phase (nothing in flight to finish)."""
    if terminated:
        return TerminatedError("terminated (SIGTERM)")
    return InterruptedError_("interrupted (Ctrl-C)")


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM raises ``Terminated`` (a KeyboardInterrupt) in the main thread, so a command
    stops as at Ctrl-C, cleaning up, and exits 143; while sending, the import itself
    handles it like a first Ctrl-C (finish the requests in flight, summary, journal)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@app.command(cls=PanelCommand, epilog=EXIT_CODES)
def validate(
    ctx: typer.Context,
    files: Files,
    kind: KindOpt = KindChoice.EVENTS,
    identifier: IdentifierOpt = IdentifierChoice.AUTO,
    timestamp_unit: UnitOpt = UnitChoice.AUTO,
    assume_tz: TzOpt = None,
    types: TypesOpt = TypesChoice.AUTO,
    type_: TypeOpt = None,
    map_: MapOpt = None,
    null_value: NullOpt = None,
    encoding: EncodingOpt = "utf-8",
    format_: FormatOpt = None,
    allow_semantic: SemanticOpt = False,
    max_rejected: MaxRejectedOpt = None,
    api: ApiInputOpt = None,
    rejects: RejectsOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Check input files and report what would be sent; send nothing."""
    reporter = Reporter(json, quiet)
    given = {k: v for k, v in locals().items() if k not in ("ctx", "files", "config", "reporter")}

    def body() -> int:
        from cio_cli.importer.settings import ValidateSettings

        settings = ValidateSettings(files, **_configured(ctx, validate, given, config))
        reporter.json_mode, reporter.quiet = settings.json, settings.quiet
        name = api_name(settings.api, os.environ)
        _check_choices(settings)
        return _run(settings.plan(name), reporter)

    _guard(reporter, body, _import_shape("validate", files, True))


@app.command("import", cls=PanelCommand, epilog=EXIT_CODES)
def import_(
    ctx: typer.Context,
    files: Files,
    kind: KindOpt = KindChoice.EVENTS,
    identifier: IdentifierOpt = IdentifierChoice.AUTO,
    timestamp_unit: UnitOpt = UnitChoice.AUTO,
    assume_tz: TzOpt = None,
    types: TypesOpt = TypesChoice.AUTO,
    type_: TypeOpt = None,
    map_: MapOpt = None,
    null_value: NullOpt = None,
    encoding: EncodingOpt = "utf-8",
    format_: FormatOpt = None,
    update_only: UpdateOnlyOpt = False,
    clear_empty: ClearEmptyOpt = False,
    dry_run: DryRunOpt = False,
    allow_recent: AllowRecentOpt = False,
    skip_recent: SkipRecentOpt = False,
    allow_semantic: SemanticOpt = False,
    max_rejected: MaxRejectedOpt = None,
    batch_bytes: BatchBytesOpt = 475_000,
    concurrency: ConcurrencyOpt = 128,
    rate: RateOpt = 100,
    max_retries: RetriesOpt = 8,
    timeout: TimeoutOpt = 30,
    restart: RestartOpt = False,
    shard: ShardOpt = None,
    journal: JournalOpt = None,
    gzip: GzipOpt = False,
    api: ApiOpt = None,
    site_id: SiteIdOpt = None,
    api_key: ApiKeyOpt = None,
    pipelines_key: PipelinesKeyOpt = None,
    region: RegionOpt = None,
    base_url: BaseUrlOpt = None,
    out: OutOpt = None,
    rejects: RejectsOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Validate input files, then send their events to Customer.io.

    A real import keeps a journal beside each file (<file>.cio-journal, or
    --journal PATH) of the rows Customer.io acknowledged: running the same command
    again after a crash, Ctrl-C, SIGTERM or exit 5 resumes where it stopped, and
    once the import finished it says "already imported" after hashing the file. A
    journal of another destination is set aside (<file>.cio-journal.<tag>, the
    last 3 kept) and found again; one import of a file runs at a time. --shard I/N sends the events
    of one shard (<file>.shard-I-of-N.cio-journal), checking the whole file.
    """
    reporter = Reporter(json, quiet)
    given = {k: v for k, v in locals().items() if k not in ("ctx", "files", "config", "reporter")}
    dry = [dry_run]

    def body() -> int:
        from cio_cli.importer.settings import ImportSettings

        s = ImportSettings(files, **_configured(ctx, import_, given, config))
        reporter.json_mode, reporter.quiet = s.json, s.quiet
        dry[0] = s.dry_run
        typed = _typed(
            ctx, site_id=s.site_id, api_key=s.api_key, region=s.region, base_url=s.base_url,
            api=s.api, pipelines_key=s.pipelines_key,
        )  # fmt: skip
        name = api_name(typed.api, os.environ, typed.pipelines_key, s.site_id, s.api_key)
        check_gzip(name, s.gzip)
        _check_choices(s)
        return _run(s.plan(name, typed), reporter)

    _guard(reporter, body, lambda exc: _import_shape("import", files, dry[0])(exc))


_ENVIRONMENT = """\b
Environment:
  CIO_SITE_ID, CIO_API_KEY   Track API credentials (--site-id, --api-key)
  CIO_PIPELINES_KEY          Pipelines API key (--pipelines-key)
  CIO_API                    track or pipelines (--api)
  CIO_REGION                 us or eu (--region)
  CIO_BASE_URL               overrides the host (--base-url)"""

SEND_EVENT_CODES = (
    """\b
Exit codes:
  0    sent (with --dry-run: the request printed on stdout, nothing sent)
  1    Customer.io refused the event (its message is shown)
  2    usage: bad flags, missing credentials
  3    the event is invalid (the rule is shown); nothing sent
  5    aborted: credentials refused, or the API unreachable after retries

"""
    + _ENVIRONMENT
)

CHECK_CODES = (
    """\b
Exit codes:
  0    the credentials work and the region is right
  1    the credentials work, but the workspace is in the other region
       (the message says which --region to pass)
  2    usage: bad flags, missing credentials
  5    aborted: credentials refused, or the API unreachable after retries

"""
    + _ENVIRONMENT
)


@app.command("send-event", cls=PanelCommand, epilog=SEND_EVENT_CODES)
def send_event_command(
    ctx: typer.Context,
    name: NameOpt,
    person: PersonOpt = None,
    anonymous_id: AnonymousOpt = None,
    pairs: PairOpt = None,
    data: DataOpt = None,
    timestamp: TimestampOpt = None,
    event_id: EventIdOpt = None,
    dry_run: DryRunOpt = False,
    allow_semantic: SemanticOpt = False,
    timeout: TimeoutOpt = 30.0,
    max_retries: RetriesOpt = 8,
    api: ApiOpt = None,
    site_id: SiteIdOpt = None,
    api_key: ApiKeyOpt = None,
    pipelines_key: PipelinesKeyOpt = None,
    region: RegionOpt = None,
    base_url: BaseUrlOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Send one event to Customer.io (Track API v1, or POST /v1/track with --api pipelines)."""
    reporter = Reporter(json, quiet)
    from cio_cli import send_event  # the network modules load only when used
    from cio_cli.one_request import Connection, report_result

    typed = _typed(
        ctx, site_id=site_id, api_key=api_key, region=region, base_url=base_url, api=api,
        pipelines_key=pipelines_key,
    )  # fmt: skip
    conn = Connection(typed, timeout, max_retries, reporter.note)
    settings = send_event.SendEventSettings(
        name, person, anonymous_id, pairs, data, timestamp, event_id, allow_semantic, dry_run, conn
    )

    def body() -> int:
        return report_result(send_event.run(settings, os.environ), reporter)

    _guard(reporter, body, lambda exc: send_event.SendResult(None, dry_run).as_json())


@app.command("check", cls=PanelCommand, epilog=CHECK_CODES)
def check_command(
    ctx: typer.Context,
    timeout: TimeoutOpt = 30.0,
    max_retries: RetriesOpt = 2,
    api: ApiOpt = None,
    site_id: SiteIdOpt = None,
    api_key: ApiKeyOpt = None,
    pipelines_key: PipelinesKeyOpt = None,
    region: RegionOpt = None,
    base_url: BaseUrlOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Verify the credentials and the region.

    Track: asks Customer.io for the workspace region and compares it with
    --region (or the host of --base-url). Pipelines: posts an empty batch
    in strict mode; any answer but 401/403 (or 5xx) means the key works.
    """
    reporter = Reporter(json, quiet)
    from cio_cli import credentials_check
    from cio_cli.one_request import Connection, report_result

    typed = _typed(
        ctx, site_id=site_id, api_key=api_key, region=region, base_url=base_url, api=api,
        pipelines_key=pipelines_key,
    )  # fmt: skip
    conn = Connection(typed, timeout, max_retries, reporter.note)

    def body() -> int:
        return report_result(credentials_check.run_check(conn, os.environ), reporter)

    _guard(reporter, body, lambda exc: credentials_check.CheckResult(None).as_json())


# polars' allocator (jemalloc, configured by this variable when polars loads): one arena
# for every thread, so that what one worker frees the next chunk reuses instead of each
# thread keeping its own, and freed pages handed back within a second (docs/benchmarks.md,
# "Memory"). A value set by the user wins.
ALLOCATOR = ("_RJEM_MALLOC_CONF", "narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0")


def set_allocator(environ: typing.MutableMapping[str, str]) -> None:
    """Configure polars' allocator (``ALLOCATOR``) unless the user did."""
    environ.setdefault(*ALLOCATOR)


def main() -> None:
    """Entry point of the ``cio`` console script.

    Leaves with ``os._exit`` once the output is flushed: every file is closed by
    then, and the interpreter's teardown (freeing a big import's tables and
    frames, about 50 ms) would only delay the exit code.
    """
    set_allocator(os.environ)  # before anything loads polars
    try:
        app()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if code is not None and not isinstance(code, int):
        if sys.stderr is not None:
            print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:  # None when the descriptor was closed (cio ... 2>&-)
            try:
                stream.flush()
            except (OSError, ValueError):
                pass  # a closed or broken pipe: nothing more can be said
    os._exit(code or 0)
