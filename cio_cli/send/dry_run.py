"""The dry run's sink: counts what would be sent and, with ``--out``, writes each request
to that file as a JSON line instead of sending it (``HttpSink``, send/sender.py, sends)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import orjson

from cio_cli.encode.batches import Request
from cio_cli.errors import OutputError
from cio_cli.importer.scan import InputFile
from cio_cli.record.counts import Counts
from cio_cli.record.journal import Journal
from cio_cli.record.rejects import RejectsWriter, create, output_mode


@contextmanager
def out_file(path: Path | None, inputs: list[InputFile]) -> Iterator[IO[bytes] | None]:
    """The ``--out`` file, with the inputs' permission bits (at most 0644). A closed pipe
    at the end is quiet; any other failed write is an ``OutputError``."""
    if path is None:
        yield None
        return
    mode = output_mode([i.source.path for i in inputs])
    try:
        f = open(path, "wb", opener=lambda p, _: create(Path(p), mode))  # noqa: SIM115
    except OSError as exc:
        raise OutputError.writing(f"--out {path}", exc) from None
    try:
        yield f
    except BaseException:
        _close(f, quiet=True)
        raise
    _close(f)


def _close(f: IO[bytes], quiet: bool = False) -> None:
    """Close the ``--out`` file: a reader that closed its pipe is no error."""
    try:
        f.close()
    except BrokenPipeError:
        pass
    except OSError as exc:
        if not quiet:
            raise OutputError.writing(f"--out {f.name}", exc) from None


def request_line(req: Request) -> bytes:
    """A request as ``--out`` writes it: the batch body as is, a single request as
    ``{"path": ..., "body": ...}``; without the newline."""
    if req.batch:
        return req.payload()
    return orjson.dumps({"path": req.path, "body": orjson.Fragment(req.payload())})


class OutLines:
    """Writes ``--out``'s lines. A reader that closed its pipe ends the writing quietly;
    any other failed write is an ``OutputError``."""

    def __init__(self, out: IO[bytes] | None) -> None:
        self.out = out

    def write(self, line: bytes) -> None:
        """Write one line (the newline added)."""
        if self.out is None:
            return
        try:
            self.out.write(line + b"\n")
        except BrokenPipeError:
            self.out = None
        except OSError as exc:
            raise OutputError.writing(f"--out {self.out.name}", exc) from None


def audit_line(req: Request, status: int, refused: list[int]) -> bytes:
    """A real import's ``--out`` line for an acknowledged request: its HTTP status and its
    body as a dry run writes it; after a 207, the positions of the ops it refused."""
    line: dict[str, object] = {"status": status, "body": orjson.Fragment(request_line(req))}
    if status == 207 or refused:
        line["refused"] = refused
    return orjson.dumps(line)


class DryRunSink:
    """Counts what would be sent; with ``--out``, writes each request as a JSON line.

    A reader that closed its pipe (``--out /dev/stdout | head``) ends the writing
    quietly; the run goes on. Any other failed write stops it (``OutputError``).
    A ``Sink`` (importer/emit.py) like ``HttpSink``: nothing is acknowledged, so the
    journal it is given stays untouched.
    """

    def __init__(self, out: IO[bytes] | None) -> None:
        self.lines = OutLines(out)
        self.journal: Journal | None = None

    def send(self, req: Request, counts: Counts, rejects: RejectsWriter) -> None:
        """Write the request line (if asked) and count its rows as sent."""
        if self.lines.out is not None:
            self.lines.write(request_line(req))
        counts.count_sent(req.events)

    def drain(self, counts: Counts, rejects: RejectsWriter) -> None:
        """Nothing is under way."""

    def interrupt(self) -> None:
        """Nothing is in flight."""

    def start_over(self) -> None:
        """Forget every request written so far (the file is seekable: see ``_one_read``)."""
        out = self.lines.out
        if out is not None:
            try:
                out.seek(0)
                out.truncate()
            except OSError as exc:
                raise OutputError.writing(f"--out {out.name}", exc) from None

    def close(self) -> None:
        """Nothing to release."""
