"""The ``cio`` command: Typer wiring only. Options become a plan; errors become exit codes."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from cio_cli.config import resolve
from cio_cli.errors import (
    CioError,
    InterruptedError_,
    Terminated,
    TerminatedError,
    UsageError,
)
from cio_cli.header import Identifier, ReadOptions, Unit
from cio_cli.report import Reporter, ask

EXIT_CODES = """\b
Exit codes:
  0    every row sent (import), or no invalid row (validate)
  1    finished, but some rows were rejected, skipped or undeliverable:
       see the rejects file
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
  CIO_REGION                 us or eu (--region)
  CIO_BASE_URL               overrides the host (--base-url)"""

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    help="Backfill events into Customer.io from CSV files, and send single events.",
    epilog=EXIT_CODES,
)

T = TypeVar("T")

Files = Annotated[list[str], typer.Argument(help="CSV files (.csv, .csv.gz), or - for stdin.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON summary on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", help="No progress display.")]
RejectsOpt = Annotated[
    Path | None, typer.Option("--rejects", help="Rejects file (default <input>.rejects.csv).")
]
IdentifierOpt = Annotated[
    str, typer.Option("--identifier", help="auto|id|email: how _cio_customer_id is sent.")
]
UnitOpt = Annotated[
    str, typer.Option("--timestamp-unit", help="auto|s|ms: how numeric timestamps are read.")
]
TzOpt = Annotated[
    str | None, typer.Option("--assume-tz", help="Zone for timestamps without one, e.g. UTC.")
]
TypesOpt = Annotated[str, typer.Option("--types", help="auto|string: infer data types or not.")]
TypeOpt = Annotated[
    list[str] | None,
    typer.Option("--type", help="COLUMN=string|int|float|bool|json (repeatable)."),
]
EncodingOpt = Annotated[str, typer.Option("--encoding", help="Text encoding of the input.")]
SemanticOpt = Annotated[
    bool, typer.Option("--allow-semantic", help="Allow events that delete or change people.")
]


SiteIdOpt = Annotated[
    str | None,
    typer.Option("--site-id", help="Track API site id (or CIO_SITE_ID).", show_default=False),
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option("--api-key", help="Track API key (or CIO_API_KEY).", show_default=False),
]
RegionOpt = Annotated[str | None, typer.Option("--region", help="us or eu (or CIO_REGION).")]
BaseUrlOpt = Annotated[
    str | None, typer.Option("--base-url", help="Override the host (or CIO_BASE_URL).")
]


def _choice(value: str, allowed: tuple[str, ...], flag: str) -> str:
    if value not in allowed:
        raise UsageError(f"{flag} {value!r} is not one of {'|'.join(allowed)}")
    return value


def _overrides(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        col, sep, kind = pair.rpartition("=")
        if not sep or not col:
            raise UsageError(f"--type {pair!r} is not COLUMN=TYPE", "for example --type zip=string")
        out[col] = kind
    return out


def _read_options(
    identifier: str,
    unit: str,
    assume_tz: str | None,
    types: str,
    type_: list[str] | None,
    encoding: str,
    semantic: bool,
) -> ReadOptions:
    ident: Identifier = _choice(identifier, ("auto", "id", "email"), "--identifier")  # type: ignore[assignment]
    tunit: Unit = _choice(unit, ("auto", "s", "ms"), "--timestamp-unit")  # type: ignore[assignment]
    kinds = _choice(types, ("auto", "string"), "--types")
    return ReadOptions(
        identifier=ident,
        timestamp_unit=tunit,
        assume_tz=assume_tz,
        types="string" if kinds == "string" else "auto",
        type_overrides=_overrides(type_),
        encoding=encoding,
        allow_semantic=semantic,
    )


def _check_sending(concurrency: int, rate: float, max_retries: int, timeout: float) -> None:
    if not 1 <= concurrency <= 64:
        raise UsageError("--concurrency must be between 1 and 64")
    if not 0 < rate <= 10_000:
        raise UsageError("--rate must be above 0 and at most 10000 requests per second")
    if not 0 <= max_retries <= 100:
        raise UsageError("--max-retries must be between 0 and 100")
    if not 0 < timeout <= 600:
        raise UsageError("--timeout must be above 0 and at most 600 seconds")


def _guard(
    command: str,
    reporter: Reporter,
    body: Callable[[], int],
    files: list[str] | None = None,
    dry_run: bool = False,
) -> None:
    """Run a command; turn every CioError into its message and exit code, in one place."""
    try:
        with _sigterm_unwinds():
            code = body()
    except CioError as exc:
        if exc.summary is not None and not reporter.json_mode:
            reporter.summary(exc.summary)
        reporter.error(exc)
        if reporter.json_mode:
            reporter.error_json(command, files or [], exc, dry_run=dry_run)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt as exc:
        stopped = _stopped_early(isinstance(exc, Terminated))
        reporter.console.print(stopped.message.split(" ")[0], markup=False)
        if reporter.json_mode:  # a CI job reading --json gets its object here too
            reporter.error_json(command, files or [], stopped, dry_run=dry_run)
        raise typer.Exit(stopped.exit_code) from None
    raise typer.Exit(code)


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


@app.command(epilog=EXIT_CODES)
def validate(
    files: Files,
    rejects: RejectsOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
    identifier: IdentifierOpt = "auto",
    timestamp_unit: UnitOpt = "auto",
    assume_tz: TzOpt = None,
    types: TypesOpt = "auto",
    type_: TypeOpt = None,
    encoding: EncodingOpt = "utf-8",
    allow_semantic: SemanticOpt = False,
) -> None:
    """Check CSV files and report what would be sent; send nothing."""
    reporter = Reporter(json, quiet)

    def body() -> int:
        from cio_cli.app import ImportPlan, run  # polars loads here, never for other commands

        opts = _read_options(
            identifier, timestamp_unit, assume_tz, types, type_, encoding, allow_semantic
        )
        plan = ImportPlan("validate", files, opts, rejects=rejects)
        summary = run(plan, reporter)
        reporter.summary(summary)
        return summary.exit_code

    _guard("validate", reporter, body, files, dry_run=True)


@app.command("import", epilog=EXIT_CODES)
def import_(
    files: Files,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and build, send nothing.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="With --dry-run: write every request, one JSON line each."),
    ] = None,
    rejects: RejectsOpt = None,
    allow_recent: Annotated[
        bool, typer.Option("--allow-recent", help="Send events in the 72-hour window.")
    ] = False,
    skip_recent: Annotated[
        bool, typer.Option("--skip-recent", help="Leave events in the 72-hour window out.")
    ] = False,
    batch_bytes: Annotated[
        int, typer.Option("--batch-bytes", help="Largest request body.")
    ] = 475_000,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
    identifier: IdentifierOpt = "auto",
    timestamp_unit: UnitOpt = "auto",
    assume_tz: TzOpt = None,
    types: TypesOpt = "auto",
    type_: TypeOpt = None,
    encoding: EncodingOpt = "utf-8",
    allow_semantic: SemanticOpt = False,
    site_id: SiteIdOpt = None,
    api_key: ApiKeyOpt = None,
    region: RegionOpt = None,
    base_url: BaseUrlOpt = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Requests in flight at most.")
    ] = 8,
    rate: Annotated[
        float, typer.Option("--rate", help="Requests started per second at most.")
    ] = 100,
    max_retries: Annotated[
        int, typer.Option("--max-retries", help="Retries of a failing request before giving up.")
    ] = 8,
    timeout: Annotated[
        float,
        typer.Option("--timeout", help="Seconds a whole request may take (connect, send, answer)."),
    ] = 30,
    restart: Annotated[
        bool, typer.Option("--restart", help="Ignore the journal: send every row again.")
    ] = False,
) -> None:
    """Validate CSV files, then send their events to Customer.io.

    A real import keeps a journal beside each file (<file>.cio-journal) of the rows
    Customer.io acknowledged: running the same command again after a crash, Ctrl-C,
    SIGTERM or exit 5 resumes where it stopped. A journal of another destination is set
    aside (<file>.cio-journal.<tag>) and found again; one import of a file runs at a time.
    """
    reporter = Reporter(json, quiet)

    def body() -> int:
        from cio_cli.app import ImportPlan, SendOptions, run  # polars loads here

        opts = _read_options(
            identifier, timestamp_unit, assume_tz, types, type_, encoding, allow_semantic
        )
        if allow_recent and skip_recent:
            raise UsageError("--allow-recent and --skip-recent contradict each other")
        if out is not None and not dry_run:
            raise UsageError("--out goes with --dry-run", "add --dry-run to write the requests")
        if not 1000 <= batch_bytes <= 500_000:
            raise UsageError(
                "--batch-bytes must be between 1000 and 500000",
                "Customer.io takes requests under 500 KB",
            )
        send = None
        if not dry_run:
            _check_sending(concurrency, rate, max_retries, timeout)
            config = resolve(site_id, api_key, region, base_url, os.environ)
            send = SendOptions(config, concurrency, rate, max_retries, timeout)
        plan = ImportPlan(
            "import",
            files,
            opts,
            dry_run=dry_run,
            out=out,
            rejects=rejects,
            allow_recent=allow_recent,
            skip_recent=skip_recent,
            batch_bytes=batch_bytes,
            send=send,
            restart=restart,
        )
        confirm = ask if sys.stdin.isatty() and sys.stderr.isatty() else None
        summary = run(plan, reporter, confirm=confirm)
        reporter.summary(summary)
        return summary.exit_code

    _guard("import", reporter, body, files, dry_run=dry_run)


_ENVIRONMENT = """\b
Environment:
  CIO_SITE_ID, CIO_API_KEY   Track API credentials (--site-id, --api-key)
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

TimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", help="Seconds a whole request may take (connect, send, answer)."),
]
RetriesOpt = Annotated[
    int, typer.Option("--max-retries", help="Retries on 429, 5xx, timeouts, lost connections.")
]


@app.command("send-event", epilog=SEND_EVENT_CODES)
def send_event(
    name: Annotated[str, typer.Option("--name", help="The event name.")],
    person: Annotated[
        str | None, typer.Option("--person", help="The person: an id, an email or cio_<id>.")
    ] = None,
    anonymous_id: Annotated[
        str | None, typer.Option("--anonymous-id", help="An anonymous id, instead of --person.")
    ] = None,
    pairs: Annotated[
        list[str] | None,
        typer.Option(
            "-d",
            metavar="KEY=VALUE|KEY:=JSON",
            help="key=value (a string) or key:=JSON (a typed value); repeatable.",
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option("--data", metavar="JSON|@FILE", help="The data: a JSON object, or @FILE."),
    ] = None,
    timestamp: Annotated[
        str | None,
        typer.Option("--timestamp", help="Unix seconds or ms, or ISO-8601 with Z or an offset."),
    ] = None,
    event_id: Annotated[
        str | None, typer.Option("--id", help="The event's ULID (default: a new one each run).")
    ] = None,
    allow_semantic: SemanticOpt = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the request on stdout; send nothing.")
    ] = False,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
    site_id: SiteIdOpt = None,
    api_key: ApiKeyOpt = None,
    region: RegionOpt = None,
    base_url: BaseUrlOpt = None,
    timeout: TimeoutOpt = 30.0,
    max_retries: RetriesOpt = 8,
) -> None:
    """Send one event to Customer.io (Track API v1)."""
    reporter = Reporter(json, quiet)
    from cio_cli import oneevent, single  # the network modules load only when used

    conn = single.Connection(
        site_id, api_key, region, base_url, timeout, max_retries, on_wait=reporter.note
    )

    def build() -> oneevent.SingleEvent:
        return oneevent.build_event(
            person,
            anonymous_id,
            name,
            pairs or [],
            data,
            timestamp,
            event_id,
            allow_semantic,
            time.time(),
        )

    def body() -> int:
        return single.emit(single.run_send_event(build, conn, os.environ, dry_run), reporter)

    _guard("send-event", reporter, body, dry_run=dry_run)


@app.command("check", epilog=CHECK_CODES)
def check(
    json: JsonOpt = False,
    quiet: QuietOpt = False,
    site_id: SiteIdOpt = None,
    api_key: ApiKeyOpt = None,
    region: RegionOpt = None,
    base_url: BaseUrlOpt = None,
    timeout: TimeoutOpt = 30.0,
    max_retries: RetriesOpt = 2,
) -> None:
    """Verify the credentials and the region.

    Asks GET /api/v1/accounts/region and compares the workspace region with --region
    (or the host of --base-url).
    """
    reporter = Reporter(json, quiet)
    from cio_cli import single

    conn = single.Connection(
        site_id, api_key, region, base_url, timeout, max_retries, on_wait=reporter.note
    )

    def body() -> int:
        return single.emit(single.run_check(conn, os.environ), reporter)

    _guard("check", reporter, body)


def main() -> None:
    """Entry point of the ``cio`` console script.

    Leaves with ``os._exit`` once the output is flushed: every file is closed by
    then, and the interpreter's teardown (freeing a big import's tables and
    frames, about 50 ms) would only delay the exit code.
    """
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
