"""The journal: which rows the API acknowledged, so that running the import again resumes.

``<input>.cio-journal`` is an append-only text file of records, one a line::

    H {"version":1,"fingerprint":"...","destination":"..."} 1a2b3c4d
    A 2-1851,1853-3702 5e6f7a8b
    D 2026-11-23T15:00:00Z 9c0d1e2f

``H`` names the input (SHA-256 of its bytes and size) and the destination (base
URL and a hash of the site id, never the key); ``A`` lists rows (record
numbers) the API acknowledged, as ranges; ``D`` marks a run that finished.
Every line ends with the CRC-32 of what precedes it: a line cut short by
``kill -9`` or a full disk fails its check and is dropped, with everything
after it, and the file is cut back to the last good line before new records
are appended. Each record is written whole and flushed at once, so a killed
process loses nothing the API acknowledged; the file is also fsynced at most
once a second and at the end, against a machine crash.

Rows the API refused, rows rejected by the rules and duplicates are never
journalled: a resumed run judges them again.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import orjson

from cio_cli.errors import OutputError

VERSION = 1
SYNC_EVERY_S = 1.0


def fingerprint(path: Path) -> str:
    """SHA-256 and size of a file's bytes (the file as stored, compressed or not)."""
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return f"sha256:{digest}:{path.stat().st_size}"


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

    @classmethod
    def open(cls, path: Path, print_: str, destination: str, restart: bool) -> tuple[Journal, str]:
        """Load the journal if it matches; else start a new one. Returns it and a note."""
        header: dict[str, object] = {
            "version": VERSION,
            "fingerprint": print_,
            "destination": destination,
        }
        if restart or not path.exists():
            note = "--restart: the journal was set aside" if path.exists() else ""
            return cls._fresh(path, header), note
        good, records = _read(path)
        why = _mismatch(_header(records), header)
        if why:
            return cls._fresh(path, header), f"not resuming: {why}; starting over"
        with open(path, "r+b") as f:
            f.truncate(good)  # drop a torn last line before appending
        acked = Acked.parse([p for k, p in records if k == "A"])
        journal = cls(path, header, acked, done=any(k == "D" for k, _ in records))
        return journal, ""

    @classmethod
    def _fresh(cls, path: Path, header: dict[str, object]) -> Journal:
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(_line("H", orjson.dumps(header).decode()))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
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

    def finish(self) -> None:
        """Mark the import finished: a rerun says "already imported"."""
        out = self._append(_line("D", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
        with self._writing():
            os.fsync(out.fileno())

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
        return "the journal is for another destination (region, base URL or site id)"
    return ""
