"""The journal: which rows the API acknowledged, so that running the import again resumes.

``<input>.cio-journal`` is an append-only text file of records, one a line::

    H {"version":1,"fingerprint":"...","destination":"..."} 1a2b3c4d
    A 2-1851,1853-3702 5e6f7a8b
    D 2026-11-23T15:00:00Z {"rows":3702,"sent":3700,...} 9c0d1e2f

``H`` names the input (SHA-256 of its bytes and size), the destination (base
URL and a hash of the site id, never the key) and, under ``--shard I/N``, the
shard (``"shard":"I/N"``; a header without it is the whole file's); ``A`` lists
rows (record numbers) the API acknowledged, as ranges; ``D`` marks a run that
finished, with that run's counts as JSON, so that a rerun answers "already
imported" after hashing the file, without reading it (a ``D`` of an older
``cio``, a timestamp alone, still marks the run finished).
Every line ends with the CRC-32 of what precedes it: a line cut short by
``kill -9`` or a full disk fails its check and is dropped, with everything
after it, and the file is cut back to the last good line before new records
are appended. Each record is written whole and flushed at once, so a killed
process loses nothing the API acknowledged; the file is also fsynced at most
once a second and at the end, against a machine crash.

Rows the API refused, rows rejected by the rules and duplicates are never
journalled: a resumed run judges them again.

A journal is never overwritten by a run for another file or destination: it is
set aside as ``<input>.cio-journal.<tag>``, the tag a hash of its header
(version, fingerprint, destination), where a later run with that file and
destination finds it again and moves it back. Journals of this file's content for other
destinations are never removed (a later run to one of them resumes from it: removing it
could send its rows again); of those for earlier contents of the file, which no run can
resume, the last ``KEPT_ASIDE`` (3) set aside are kept, older ones removed, and the note
names them. ``--restart``
leaves the journal in place until the new run writes its first record, then sets it aside the same
way; the new run's finish removes it. A journal that acknowledges nothing (a
header alone) is removed instead; one without a readable header is kept as
``<input>.cio-journal.unreadable``. While a real import runs it holds an OS lock
(``flock``) on ``<input>.cio-journal.lock``, which holds its pid: a second import
of the same file stops at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from cio_cli.errors import OutputError

VERSION = 1
SYNC_EVERY_S = 1.0
KEPT_UNTIL = "it is kept until this run writes its own"
KEPT_ASIDE = 3  # journals set aside per input (and shard), the most recently set aside


def file_digest(path: Path) -> str:
    """SHA-256 and size of a file's bytes (the file as stored, compressed or not)."""
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
        size = f.tell()  # the bytes hashed, even if the file grows meanwhile
    return f"sha256:{digest}:{size}"


def _line(kind: str, payload: str) -> bytes:
    text = f"{kind} {payload}"
    return f"{text} {zlib.crc32(text.encode()):08x}\n".encode()


def _parse(line: bytes) -> tuple[str, str] | None:
    """``(kind, payload)`` of a whole, intact line; None for a torn or damaged one."""
    if not line.endswith(b"\n"):
        return None
    try:
        text, _, crc = line[:-1].decode().rpartition(" ")
        kind, _, payload = text.partition(" ")
    except UnicodeDecodeError:
        return None
    if not text or f"{zlib.crc32(text.encode()):08x}" != crc:
        return None
    return kind, payload


def ranges(rows: list[int]) -> str:
    """``2-5,7-7,9-12`` for rows 2,3,4,5,7,9,10,11,12 (rows sorted, distinct)."""
    if rows and rows[-1] - rows[0] + 1 == len(rows):  # one run: the usual request
        return f"{rows[0]}-{rows[-1]}"
    out: list[str] = []
    start = prev = None
    for row in rows:
        if start is not None and prev is not None and row == prev + 1:
            prev = row
            continue
        if start is not None:
            out.append(f"{start}-{prev}")
        start = prev = row
    if start is not None:
        out.append(f"{start}-{prev}")
    return ",".join(out)


@dataclass
class Acked:
    """Acknowledged rows as sorted, disjoint ``[start, end]`` ranges."""

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)

    @classmethod
    def parse(cls, payloads: list[str]) -> Acked:
        """Merge the ranges of every ``A`` record."""
        spans = sorted(
            (int(a), int(b))
            for payload in payloads
            for a, _, b in (part.partition("-") for part in payload.split(","))
            if a
        )
        merged = cls()
        for a, b in spans:
            if merged.ends and a <= merged.ends[-1] + 1:
                merged.ends[-1] = max(merged.ends[-1], b)
            else:
                merged.starts.append(a)
                merged.ends.append(b)
        return merged

    def __len__(self) -> int:
        return sum(b - a + 1 for a, b in zip(self.starts, self.ends, strict=True))


class Journal:
    """One input's journal for one destination, open for appending."""

    def __init__(self, path: Path, header: dict[str, object], acked: Acked, done: bool) -> None:
        self.path = path
        self.header = header
        self.acked = acked
        self.done = done
        self.failed = False
        self._file: IO[bytes] | None = None
        self._synced = time.monotonic()
        self._ignored: _Found | None = None  # --restart: set aside at the first record

    @classmethod
    def open(
        cls, path: Path, print_: str, destination: str, restart: bool, shard: str | None = None
    ) -> tuple[Journal, str]:
        """Load this file and destination's journal (beside the file, or set aside by an
        earlier run); else start a new one, setting aside whatever journal is in the way.
        Returns it and a note for the user ("" when it simply resumes)."""
        header = make_header(print_, destination, shard)
        found = _Found.read(path)
        if found is not None and not restart and not found.why(header):
            return cls._resume(path, header, found), ""
        if found is not None and restart:  # kept where it is until this run has its own
            journal = cls(path, header, Acked(), done=False)
            journal._ignored = found
            return journal, f"--restart: the journal is ignored; {KEPT_UNTIL}"
        kept = _set_aside(path, found) if found is not None else None
        why = found.why(header) if found is not None else ""
        aside = path.with_name(f"{path.name}.{_tag(header)}")
        earlier = None if restart else _Found.read(aside)
        if earlier is not None and not earlier.why(header):
            os.replace(aside, path)
            note = f"{why}: it was set aside as {kept.name}, and" if why and kept else ""
            note += f" the journal kept for this file and destination ({aside.name}) is back"
            return cls._resume(path, header, earlier), _pruned(path, header, note.strip())
        note = f"not resuming: {why}; starting over" if why else ""
        note += f" (that journal is kept as {kept.name})" if kept else ""
        return cls._fresh(path, header), _pruned(path, header, note)

    @classmethod
    def _resume(cls, path: Path, header: dict[str, object], found: _Found) -> Journal:
        with open(path, "r+b") as f:
            f.truncate(found.good)  # drop a torn last line before appending
        return cls(path, header, found.acked(), done=found.done())

    @classmethod
    def _fresh(cls, path: Path, header: dict[str, object]) -> Journal:
        _write_header(path, header)
        return cls(path, header, Acked(), done=False)

    def ack(self, spans: str) -> None:
        """Record rows the API acknowledged, as ``ranges()`` text (flushed before returning).
        After a failed write, nothing more (those rows are sent again by the next run)."""
        if not spans or self.failed:
            return
        out = self._append(_line("A", spans))
        if time.monotonic() - self._synced >= SYNC_EVERY_S:
            with self._writing():
                os.fsync(out.fileno())
            self._synced = time.monotonic()

    def finish(self, counts: dict[str, object] | None = None) -> None:
        """Mark the import finished, with its ``counts``: a rerun says "already imported"
        from them. An older journal of the same file and destination set aside by
        ``--restart`` is superseded: removed."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if counts is not None:
            stamp += " " + orjson.dumps(counts).decode()
        out = self._append(_line("D", stamp))
        with self._writing():
            os.fsync(out.fileno())
        self.path.with_name(f"{self.path.name}.{_tag(self.header)}").unlink(missing_ok=True)

    def close(self) -> None:
        """Flush, sync and close."""
        if self._file is not None:
            file, self._file = self._file, None
            if self.failed:  # already reported: only release it
                with suppress(OSError):
                    file.close()
                return
            with self._writing(), file:
                file.flush()
                os.fsync(file.fileno())

    def _append(self, line: bytes) -> IO[bytes]:
        with self._writing():
            if self._file is None and self._ignored is not None:  # --restart: now its own
                _set_aside(self.path, self._ignored)
                _prune(self.path, self.header["fingerprint"])
                _write_header(self.path, self.header)
                self._ignored = None
            if self._file is None:
                self._file = open(self.path, "ab")  # noqa: SIM115 - closed in close()
            self._file.write(line)
            self._file.flush()
        return self._file

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A write or sync that fails (a full disk) stops the run cleanly (exit 5); the
        records written so far stay good, a torn last one is dropped by the next run."""
        try:
            yield
        except OSError as exc:
            self.failed = True
            raise OutputError.writing(f"the journal {self.path}", exc) from None


def make_header(print_: str, destination: str, shard: str | None = None) -> dict[str, object]:
    """A journal's header: the file (``file_digest``), the destination, and the shard."""
    header: dict[str, object] = {
        "version": VERSION,
        "fingerprint": print_,
        "destination": destination,
    }
    if shard is not None:
        header["shard"] = shard
    return header


def finished_counts(
    path: Path, header: dict[str, object] | None = None
) -> tuple[dict[str, Any], int] | None:
    """The counts stored by the finished run of the journal at ``path``, and how many rows
    it acknowledged: None when there is no such journal, it is not finished, its ``D``
    holds no counts (an older ``cio``), or (given ``header``) it is another file's,
    destination's or shard's."""
    found = _Found.read(path)
    if found is None or (header is not None and found.why(header)):
        return None
    counts = found.counts()
    return None if counts is None else (counts, len(found.acked()))


def _write_header(path: Path, header: dict[str, object]) -> None:
    """A new journal of one header record, synced, in place of ``path`` at once."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(_line("H", orjson.dumps(header).decode()))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@dataclass
class _Found:
    """A journal file as read: its intact records and their byte length."""

    good: int
    records: list[tuple[str, str]]

    @classmethod
    def read(cls, path: Path) -> _Found | None:
        """The journal at ``path``, or None when there is none."""
        if not path.is_file():
            return None
        return cls(*_read(path))

    def why(self, header: dict[str, object]) -> str:
        """Why it does not belong to ``header``'s file and destination ("" when it does)."""
        return _mismatch(_header(self.records), header)

    def acked(self) -> Acked:
        """The rows its ``A`` records acknowledge."""
        return Acked.parse([p for k, p in self.records if k == "A"])

    def done(self) -> bool:
        """Does it mark a finished import?"""
        return any(k == "D" for k, _ in self.records)

    def counts(self) -> dict[str, Any] | None:
        """The counts of its last ``D`` record; None without them."""
        finished = [p for k, p in self.records if k == "D"]
        if not finished or " " not in finished[-1]:
            return None
        try:
            counts = orjson.loads(finished[-1].partition(" ")[2])
        except orjson.JSONDecodeError:
            return None
        return counts if isinstance(counts, dict) else None


def _tag(header: object) -> str:
    """A short name for a journal's file and destination ("" when its header is unreadable)."""
    if not isinstance(header, dict):
        return ""
    fields = [header.get("version"), header.get("fingerprint"), header.get("destination")]
    if header.get("shard") is not None:  # the whole file's journals keep their old tags
        fields.append(header["shard"])
    return hashlib.sha256(orjson.dumps(fields)).hexdigest()[:12]


def _set_aside(path: Path, found: _Found) -> Path | None:
    """Move the journal at ``path`` out of the way, named by its tag (``.unreadable`` when
    it has no readable header). One that acknowledges nothing (empty, or a header alone)
    is removed instead. Returns the new path, if any."""
    if not path.exists():
        return None
    if [k for k, _ in found.records] == ["H"] or path.stat().st_size == 0:
        path.unlink()
        return None
    kept = path.with_name(f"{path.name}.{_tag(_header(found.records)) or 'unreadable'}")
    os.replace(path, kept)
    os.utime(kept)  # when it was set aside: the newest are kept (``_prune``)
    return kept


def _prune(path: Path, fingerprint: object) -> list[str]:
    """Of the journals set aside beside ``path`` for earlier contents of the file (another
    ``fingerprint``), keep the ``KEPT_ASIDE`` set aside most recently and remove the older
    ones; those of this content (other destinations) are all kept. Returns the names
    removed."""
    pattern = re.compile(re.escape(path.name) + r"\.[0-9a-f]{12}")
    try:
        aside = [p for p in path.parent.iterdir() if pattern.fullmatch(p.name)]
        aside = [p for p in aside if _fingerprint_of(p) != fingerprint]
        aside.sort(key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)
    except OSError:
        return []
    removed = []
    for old in aside[KEPT_ASIDE:]:
        with suppress(OSError):
            old.unlink()
            removed.append(old.name)
    return sorted(removed)


def _fingerprint_of(path: Path) -> object:
    """The file fingerprint in the header of the journal at ``path`` (its first line),
    or None when it has no readable header."""
    with open(path, "rb") as f:
        parsed = _parse(f.readline())
    header = _header([parsed]) if parsed is not None else None
    return header.get("fingerprint") if isinstance(header, dict) else None


def _pruned(path: Path, header: dict[str, object], note: str) -> str:
    """``_prune``, and ``note`` (what was set aside) ending with what it removed."""
    removed = _prune(path, header["fingerprint"])
    if not removed:
        return note
    more = (
        f"older journals set aside for earlier versions of the file were removed"
        f" ({', '.join(removed)}): cio keeps the last {KEPT_ASIDE} of those, and every one"
        " of this version"
    )
    return f"{note}; {more}" if note else more


class Locked(Exception):
    """Another process holds the lock; ``pid`` is its process id, when known."""

    def __init__(self, pid: int | None) -> None:
        super().__init__(pid)
        self.pid = pid


class Lock:
    """An OS lock (``flock``) on ``<journal>.lock``, held while a real import runs."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd

    @classmethod
    def take(cls, path: Path) -> Lock:
        """Take the lock at once or raise ``Locked``; the file then holds this pid."""
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = os.read(fd, 32).decode("ascii", "replace").strip()
                os.close(fd)
                raise Locked(int(pid) if pid.isdigit() else None) from None
            if _same_file(fd, path):
                break
            os.close(fd)  # removed by the holder that just finished: take the new one
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(path, fd)

    def release(self) -> None:
        """Remove the lock file and let go (a waiting process retries on the new file)."""
        self.path.unlink(missing_ok=True)
        os.close(self.fd)


def _same_file(fd: int, path: Path) -> bool:
    """Is ``fd`` still the file at ``path`` (not removed or replaced since it was opened)?"""
    try:
        here, there = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _header(records: list[tuple[str, str]]) -> object:
    """The header record's JSON, or None when the first record is not a readable header."""
    if not records or records[0][0] != "H":
        return None
    try:
        return orjson.loads(records[0][1])
    except orjson.JSONDecodeError:
        return None


def _read(path: Path) -> tuple[int, list[tuple[str, str]]]:
    """The byte length of the intact records, and the records, up to the first bad line.

    A line whose checksum holds but whose content is not a record of ours (hand
    edits, another program's file) counts as damage too: nothing from it on is trusted.
    """
    good = 0
    records: list[tuple[str, str]] = []
    with open(path, "rb") as f:
        for line in f:
            parsed = _parse(line)
            if parsed is None or not _well_formed(*parsed, first=not records):
                break
            records.append(parsed)
            good += len(line)
    return good, records


_SPANS = re.compile(r"[0-9]+-[0-9]+(,[0-9]+-[0-9]+)*")


def _well_formed(kind: str, payload: str, first: bool) -> bool:
    if first:
        return kind == "H"
    if kind == "A":
        return _SPANS.fullmatch(payload) is not None
    return kind == "D"


def _mismatch(found: object, header: dict[str, object]) -> str:
    """Why a journal does not belong to this file and destination ("" when it does)."""
    if not isinstance(found, dict) or found.get("version") != VERSION:
        return "the journal beside the file is unreadable"
    if found.get("fingerprint") != header["fingerprint"]:
        return "the file changed since the journal was written"
    if found.get("destination") != header["destination"]:
        theirs, ours = _api_of(found.get("destination")), _api_of(header["destination"])
        if theirs != ours:
            return f"the journal is for the {theirs} API, and this run sends to the {ours} API"
        return "the journal is for another destination (region, base URL or site id)"
    if found.get("shard") != header.get("shard"):
        theirs = f"shard {found['shard']}" if found.get("shard") else "the whole file"
        return f"the journal is for {theirs}"
    return ""


def _api_of(destination: object) -> str:
    """The API a journal's destination is for: Pipelines' start ``pipelines `` (see each
    ``Api.destination``), Track's are its base URL alone."""
    return "Pipelines" if str(destination).startswith("pipelines ") else "Track"
