"""GitHub Actions (``GITHUB_ACTIONS=true``): the Markdown report appended to the file named by
``GITHUB_STEP_SUMMARY``, and workflow annotations for the first rejected and skipped rows.

Annotations go to stdout as workflow commands, or to stderr under ``--json`` (stdout is the
JSON object's). Text from the input is shown, never obeyed (record/shown.py): controls
escaped as ``\\n``, ``\\x1b``, then GitHub's toolkit escapes (``%``, CR and LF in the message;
those and ``:`` and ``,`` in a property); in the step summary, Markdown escaped so that it
forms no link, image or HTML. Nothing here reads a credential: the report holds the counts,
reasons, names, file names and the error's message, which never carry one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cio_cli.errors import CioError
from cio_cli.record import shown
from cio_cli.record.counts import FLAGGED, Counts
from cio_cli.record.report import Flagged, Reporter, Summary, how_many, iso

TOP = 10  # reasons and names in the step summary
MEANINGS = {
    0: "finished: no row was rejected or undeliverable",
    1: "finished, but some rows were rejected or undeliverable: see the rejects file",
    2: "usage: bad flags, missing credentials",
    3: "the file cannot be imported at all (columns, encoding, mixed identifiers); nothing sent",
    4: "refused: events in the 72-hour window without --allow-recent or --skip-recent;"
    " nothing sent",
    5: "aborted: credentials refused, or the API unreachable after retries; journal kept"
    " for resume",
    130: "interrupted (Ctrl-C); journal kept for resume",
    143: "terminated (SIGTERM); journal kept for resume",
}


def publish(
    summary: Summary,
    reporter: Reporter,
    error: CioError | None = None,
    environ: Mapping[str, str] = os.environ,
) -> None:
    """Under GitHub Actions: print the annotations and append the step summary; else nothing."""
    if environ.get("GITHUB_ACTIONS") != "true":
        return
    stream = reporter.err if reporter.json_mode else reporter.out
    stream.write("".join(line + "\n" for line in annotation_lines(summary)))
    stream.flush()
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    try:
        with open(target, "a", encoding="utf-8") as file:
            file.write(markdown(summary, error))
    except OSError as exc:
        reporter.note(f"warning: cannot write the step summary {target}: {exc.strerror}")


def annotation_lines(summary: Summary) -> list[str]:
    """``::error`` for the first rejected rows, ``::warning`` for the first skipped ones, and a
    ``::notice`` with the totals when there were more."""
    lines, left = [], {False: FLAGGED, True: FLAGGED}
    for f in summary.flagged:  # file by file, in row order
        if left[f.skipped]:
            left[f.skipped] -= 1
            lines.append(_annotation("warning" if f.skipped else "error", f))
    c = summary.counts
    if c.rejected > FLAGGED or c.skipped_recent > FLAGGED:
        where = ", ".join(summary.rejects_files) or "the rejects file"  # escaped just below
        text = (
            f"{c.rejected} row(s) rejected and {c.skipped_recent} skipped as recent in all;"
            f" the first {FLAGGED} of each are annotated; every one is in {where}"
        )
        lines.append(f"::notice title=cio::{shown.command_data(text)}")
    return lines


def _annotation(level: str, f: Flagged) -> str:
    props = f"file={shown.command_property(f.file)},line={f.row},title=cio"
    return f"::{level} {props}::{shown.command_data(f.reason)}"


def markdown(s: Summary, error: CioError | None = None) -> str:
    """The step summary: the counts, the outcome, the time range, reasons, names, rejects."""
    c = s.counts
    out = [heading(s), ""]
    out += [*_counts_table(s), ""] if s.counted else []
    if s.max_rejected is not None:
        out += [f"**--max-rejected {shown.markdown(s.max_rejected.threshold)}**: "
                f"{shown.markdown(s.max_rejected.text().partition('; ')[0])};"
                f" allowed {s.max_rejected.limit:,}: **{s.max_rejected.word}**", ""]  # fmt: skip
    out.append(f"**Exit code {s.exit_code}**: {MEANINGS.get(s.exit_code, 'see cio --help')}")
    if error is not None:
        hint = f" ({shown.markdown(error.hint)})" if error.hint else ""
        out += ["", f"**Error**: {shown.markdown(error.message)}{hint}"]
    if s.heads_up is not None:
        out += ["", f"**Note**: {shown.markdown(s.heads_up)}"]
    if c.first_ts is not None:
        what = "Update time" if s.people else "Event time"
        out += ["", f"**{what}**: {iso(c.first_ts)} to {iso(c.last_ts)}"]
    out += _top_tables(c)
    if s.rejects_files:
        out += ["", "**Rejects file**: " + ", ".join(shown.code(r) for r in s.rejects_files)]
    return "\n".join(out) + "\n\n"


def heading(s: Summary) -> str:
    """``### cio import `events.csv` (shard 2/4, dry run)``: the command, the files (as code
    spans, escaped), then the shard and whether it is a dry run."""
    files = ", ".join(shown.code(f) for f in s.files)
    more = [f"shard {s.shard}"] if s.shard is not None else []
    more += ["dry run"] if s.dry_run and s.command != "validate" else []
    return f"### cio {s.command} {files}" + (f" ({', '.join(more)})" if more else "")


def _top_tables(c: Counts) -> list[str]:
    """The rejected rows per reason and the events per name, the commonest first."""
    out: list[str] = []
    reasons = c.reasons.top(TOP)
    if reasons:
        out += ["", f"**Rejected rows per reason** (top {len(reasons)} of {how_many(c.reasons)})"]
        out += ["", "| reason | rows |", "|---|---:|"]
        out += [f"| {shown.markdown(reason)} | {n:,} |" for reason, n in reasons]
    names = c.top_names(TOP)
    if names:
        out += ["", f"**Events per name** (top {len(names)} of {how_many(c.names)})"]
        out += ["", "| name | events |", "|---|---:|"]
        out += [f"| {shown.markdown(name)} | {n:,} |" for name, n in names]
    return out


def _counts_table(s: Summary) -> list[str]:
    c = s.counts
    rows = [
        ("rows", c.rows),
        ("would send" if s.dry_run else "sent", c.sent),
        ("of which resumed", c.resumed),
        ("duplicates", c.duplicates),
        ("rejected", c.rejected),
        ("skipped (recent)", c.skipped_recent),
        ("in 72-hour window", c.recent),
        ("requests", c.requests),
        ("retries", c.retries),
    ]
    optional: tuple[str, ...] = ("of which resumed", "retries")
    if s.people:  # a person's update has no 72-hour window
        optional += ("skipped (recent)", "in 72-hour window")
    kept = [(k, n) for k, n in rows if n or k not in optional]
    return ["| | count |", "|---|---:|", *(f"| {k} | {n:,} |" for k, n in kept)]
