"""The one error tree of cio. Each error carries its exit code and a hint.

    CioError                      exit code, message, hint
    ├── TooManyRejectedError 1    above --max-rejected before a real import; nothing sent
    ├── UsageError           2    bad flags, missing credentials
    ├── UnimportableError    3    the file cannot be imported at all
    │   └── FileChangedError 3    the file changed between the two passes
    ├── InvalidEventError    3    send-event: the event breaks a rule
    ├── RefusedError         4    events in the 72-hour window, not allowed
    ├── AbortError           5    credentials refused, API unreachable
    │   └── OutputError      5    an output file (rejects, --out, journal) failed mid-run
    └── InterruptedError_  130    Ctrl-C
        └── TerminatedError 143  SIGTERM (CI cancelling a job, docker stop)

``Terminated`` (a ``KeyboardInterrupt``) is what SIGTERM raises outside the
sending phase, where Ctrl-C raises ``KeyboardInterrupt``.

The CLI turns them into ``error: ... / hint: ...`` (or a JSON object) in one
place. Messages never contain a credential.
"""

from __future__ import annotations

from typing import Any

WRITE_HINT = "free some space or choose another path"


class CioError(Exception):
    """Base of every error cio reports to a user."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.summary: Any = None  # the run's partial summary, when it stopped midway


class TooManyRejectedError(CioError):
    """The row rules rejected more rows than --max-rejected allows; nothing sent (exit 1)."""

    exit_code = 1


class UsageError(CioError):
    """Bad flags or missing credentials (exit 2)."""

    exit_code = 2


class UnimportableError(CioError):
    """The file cannot be imported at all; nothing is sent (exit 3)."""

    exit_code = 3


class FileChangedError(UnimportableError):
    """The file changed between the two passes (exit 3; exit 5 once something was sent)."""


class InvalidEventError(CioError):
    """send-event: the event breaks a rule (exit 3)."""

    exit_code = 3


class RefusedError(CioError):
    """Events in the campaign-trigger window were not allowed (exit 4)."""

    exit_code = 4


class AbortError(CioError):
    """Credentials refused or the API unreachable (exit 5)."""

    exit_code = 5


class OutputError(AbortError):
    """An output file could not be written part-way through a run (exit 5): the
    run stops after the requests in flight, keeping the journal."""

    @classmethod
    def writing(cls, label: str, exc: OSError) -> OutputError:
        """The error for ``label`` (``the rejects file x.csv``), with the OS reason."""
        return cls(f"cannot write {label}: {exc.strerror or exc}", WRITE_HINT)


class InterruptedError_(CioError):
    """The user pressed Ctrl-C (exit 130)."""

    exit_code = 130


class TerminatedError(InterruptedError_):
    """SIGTERM while sending: handled like the first Ctrl-C (exit 143)."""

    exit_code = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM outside the sending phase: unwinds like Ctrl-C, exits 143."""
