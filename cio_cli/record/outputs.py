"""Where a run writes, checked before it starts: rejects files, journals and ``--out``."""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cio_cli.errors import UsageError
from cio_cli.read.formats import by_name, rejects_suffix
from cio_cli.read.urls import LOCAL_HINT, beside, is_url, shown_name, url_for_local

if TYPE_CHECKING:
    from cio_cli.importer.plan import ImportPlan

STDIN_REJECTS = "stdin.rejects.csv"
JOURNAL_SUFFIX = ".cio-journal"


def rejects_path(arg: str, plan: ImportPlan) -> Path:
    """Where the rejected rows of input ``arg`` go: ``--rejects``, else beside the input
    (stdin, pipes and objects in a bucket: the current directory)."""
    if plan.rejects is not None:
        return plan.rejects
    suffix = rejects_suffix(by_name(arg, plan.read.format))  # in the input's own format
    if arg == "-":
        return Path.cwd() / STDIN_REJECTS.replace(".rejects.csv", suffix)
    if not is_url(arg) and is_pipe(Path(arg)):  # /dev/fd/63 has no room beside it: the cwd
        return Path.cwd() / (Path(arg).name + suffix)
    named = beside(arg)  # the file, or ./<object name> for a URL
    return named.with_name(named.name + _shard_part(plan) + suffix)


def _shard_part(plan: ImportPlan) -> str:
    """``.shard-I-of-N`` under ``--shard I/N`` (shards of one file write side by side)."""
    return "" if plan.shard is None else ".shard-{}-of-{}".format(*plan.shard)


def journal_of(path: Path, plan: ImportPlan | None = None) -> Path:
    """Where a real import of ``path`` keeps its journal: ``--journal``, else beside the
    file (``<file>.cio-journal``, ``<file>.shard-I-of-N.cio-journal`` for a shard)."""
    if plan is not None and plan.journal is not None:
        return plan.journal
    return path.with_name(path.name + (_shard_part(plan) if plan else "") + JOURNAL_SUFFIX)


def journalled(arg: str, plan: ImportPlan | None = None) -> bool:
    """Does a real import of ``arg`` keep a journal? A file does; stdin and pipes (spooled)
    only with ``--journal``."""
    if plan is not None and plan.journal is not None:
        return True
    return arg != "-" and (is_url(arg) or not is_pipe(Path(arg)))


def is_pipe(path: Path) -> bool:
    """A readable input that is not a regular file: a pipe, a FIFO, ``<(cmd)``, a device."""
    return path.exists() and not path.is_file() and not path.is_dir()


def check_run_outputs(plan: ImportPlan) -> None:
    """Before anything is read or written: no output is an input or another output, and
    each can be written (usage errors, exit 2). Stdin counts as an input when it is a file.
    The one place that lists a run's outputs: a new output file belongs here."""
    named = ("--out", plan.out), ("--rejects", plan.rejects), ("--journal", plan.journal)
    for flag, given in named:
        url = None if given is None else url_for_local(str(given))
        if url is not None:  # never a folder named https: holding the signature
            raise UsageError(f"{flag} {url}: cio writes a local file, not a URL", LOCAL_HINT)
    hint = "the journal is kept beside the input: move the input to a directory you can write"
    if plan.journal is not None:
        hint = "give --journal another path"
        if plan.sends:
            _make_folder(plan.journal, hint)
    journals = [journal_of(beside(a), plan) for a in plan.paths if journalled(a, plan)]
    outputs = [  # journals first: where one cannot be written, --rejects alone is no way out
        Output(f"the journal {j}", j, hint, replaced=True, appended=True)
        for j in (journals if plan.writes_journal else [])
    ]
    if plan.out is not None:
        outputs.append(Output(f"--out {plan.out}", plan.out, "give --out another path"))
    for arg in plan.paths[:1] if plan.rejects is not None else plan.paths:
        if plan.rejects is not None:
            label, hint = f"--rejects {plan.rejects}", "give --rejects another path"
        else:
            label = f"the rejects file {rejects_path(arg, plan)}"
            hint = "pass --rejects FILE to write it elsewhere (one input at a time)"
        # validate and dry runs read files where nothing may be written: a default rejects
        # file there is checked when a row needs it (exit 5 then, naming it)
        lazy = not plan.sends and plan.rejects is None
        outputs.append(Output(label, rejects_path(arg, plan), hint, replaced=True, lazy=lazy))
    inputs = [(shown_name(a), Path("/dev/stdin" if a == "-" else a)) for a in plan.paths]
    check_outputs(inputs, outputs)


def _make_folder(journal: Path, hint: str) -> None:
    """``--journal cache/x.cio-journal`` on a first run, before any cache holds ``cache/``:
    the folder is made (as ``mkdir -p`` would)."""
    try:
        journal.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = os.strerror(exc.errno) if exc.errno else type(exc).__name__
        raise UsageError(f"cannot make the folder of --journal {journal} ({why})", hint) from None


@dataclass(frozen=True)
class Output:
    """A file a run will write: how messages name it, and how to pick another path."""

    label: str  # "--rejects r.csv", "the rejects file a.csv.rejects.csv", "the journal ..."
    path: Path
    hint: str
    replaced: bool = False  # a regular file there is removed and written anew
    appended: bool = False  # ... or, when it exists, appended to (a journal that resumes)
    lazy: bool = False  # written only if needed: its writability is not checked up front


def check_outputs(inputs: list[tuple[str, Path]], outputs: list[Output]) -> None:
    """Before a run reads or writes anything: every output must be another file than
    every input and every other output, and writable. Usage errors (exit 2)."""
    for i, (shown, path) in enumerate(inputs):
        for other, other_path in inputs[:i]:
            if same_file(path, other_path):
                same = f"{other} and {shown} are the same file"
                raise UsageError(f"{shown} is given twice" if shown == other else same,
                                 "give each file once")
    for i, out in enumerate(outputs):
        for shown, path in inputs:
            if same_file(out.path, path):
                raise UsageError(
                    f"{out.label} is the input file {shown}", f"nothing was written; {out.hint}"
                )
        for before in outputs[:i]:
            if same_file(out.path, before.path):
                raise UsageError(
                    f"{before.label} and {out.label} are the same file",
                    "nothing was written; give each output its own path",
                )
    for out in outputs:
        why = "" if out.lazy else unwritable(out.path, out.replaced, out.appended)
        if why:
            raise UsageError(f"cannot write {out.label}: {why}", out.hint)


def same_file(a: Path, b: Path) -> bool:
    """Do ``a`` and ``b`` name one regular file (hard links and symlinks included)? Paths
    that do not exist yet are compared resolved. Devices and pipes are never the same:
    ``--out /dev/null --rejects /dev/null`` is fine."""
    try:
        sa, sb = a.stat(), b.stat()
    except OSError:
        return a.resolve() == b.resolve()
    return stat.S_ISREG(sa.st_mode) and (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def unwritable(path: Path, replaced: bool = False, appended: bool = False) -> str:
    """Why ``path`` cannot be written ("" when it can, as far as can be told without
    writing). Missing directories are created later, so the nearest existing one counts."""
    try:
        st: os.stat_result | None = path.stat()
    except FileNotFoundError:
        st = None
    except OSError as exc:  # a file in the way of a directory, a loop of symlinks...
        if exc.errno != errno.ENOTDIR:
            return exc.strerror or str(exc)
        st = None
    if st is None:
        return _cannot_create(path)
    if stat.S_ISDIR(st.st_mode):
        return os.strerror(errno.EISDIR)
    renewed = replaced and stat.S_ISREG(st.st_mode) and not path.is_symlink()
    if (appended or not renewed) and not os.access(path, os.W_OK):
        return _denied(path)
    return _cannot_create(path) if renewed else ""


def _cannot_create(path: Path) -> str:
    """Why ``path`` cannot be created: its nearest existing directory is not writable."""
    parent = path.resolve().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{_denied(parent)} (the directory {parent})"
    return ""


def _denied(path: Path) -> str:
    """The OS reason a write to ``path`` is refused: a read-only file system or permissions."""
    try:
        readonly = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        readonly = False
    return os.strerror(errno.EROFS if readonly else errno.EACCES)
