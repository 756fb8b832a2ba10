"""Text from the input, shown and never obeyed.

A cell, a header, an event name, a file path or an API message is data. Wherever ``cio``
writes one, it goes through one of these, chosen for the place it goes:

    plain(text)       in a line on stderr or stdout: control characters, line breaks and
                      bidi controls escaped (``\\n``, ``\\x1b``, ``\\u2028``), and ``##[``
                      (the runner's older command form, obeyed anywhere in a line) as
                      ``##\\x5b``. Rich markup is not escaped here: the terminal side shows
                      it as a ``rich.text.Text`` or with ``markup=False`` (record/report.py)
    line(text)        text that is a line or starts one: plain, and a ``::`` that would start
                      the line (after spaces) as ``\\x3a:``, so the runner never reads a
                      workflow command that ``cio`` did not write
    markdown(text)    a cell or line of the step summary: plain, then Markdown escaped so
                      it cannot form a link, an image, HTML or an emoji (also no bare URL,
                      ``www.`` or ``@`` for GitHub to turn into a link)
    code(text)        a file name in the step summary, as inline code
    command_data / command_property
                      a workflow command's message or property value: plain, then GitHub's
                      own escapes (``%25``, ``%0D``, ``%0A``; ``%3A``, ``%2C`` in a property)
    json_text(text)   a JSON text for stdout: DEL, C1 controls and U+2028/9 (which JSON
                      allows raw) as ``\\u`` escapes, and the ``[`` of ``##[`` as ``\\u005b``;
                      the values are unchanged
    LineGuard         the last guard, round stderr: a line that would start with ``::``
                      gets its first colon written ``\\x3a`` (Rich tables wrap long cells)

Backslashes are left as they are: ``\\n`` on the screen may be a backslash and an ``n``
from the file, a display ambiguity, never an instruction. The files ``cio`` writes as data
(the rejects file, the journal, ``--out``) keep the text exactly.
"""

from __future__ import annotations

import io
import re
from typing import TextIO

# C0 and C1 controls, DEL, the Unicode line and paragraph separators, the bidi controls
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029]")
_OLD_COMMAND = "##["
COLON = "\\x3a"
# Markdown: what can start a link, an image, HTML, a code span, an entity or a table cell
_MD_CHARS = {"\\": "\\\\", "`": "\\`", "[": "\\[", "]": "\\]", "|": "\\|", "@": "\\@",
             "&": "&amp;", "<": "&lt;", ">": "&gt;"}  # fmt: skip
_MD_CHAR = re.compile("[" + re.escape("".join(_MD_CHARS)) + "]")
# compiled when first used (re's own cache): about 0.9 ms, and only the step summary needs it
_AUTOLINK = r"(://)|(?<=www)(\.)|:(?=[\w+-]+:)"


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    point = ord(char)
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}"


def plain(text: str) -> str:
    """Input text for a line of plain text: it cannot break the line or steer a terminal."""
    if _CONTROL.search(text) is not None:
        text = _CONTROL.sub(_escape, text)
    return text.replace(_OLD_COMMAND, "##\\x5b") if _OLD_COMMAND in text else text


def line(text: str) -> str:
    """A line ``cio`` writes, or input text that starts one: ``plain``, and never a
    workflow command (``::`` at its start, after any spaces)."""
    text = plain(text)
    body = text.lstrip()
    if body.startswith("::"):
        return text[: len(text) - len(body)] + COLON + body[1:]
    return text


def markdown(text: str) -> str:
    """Input text for the step summary's Markdown: one line, shown as it is written."""
    text = _MD_CHAR.sub(lambda m: _MD_CHARS[m.group()], plain(text))
    return re.sub(_AUTOLINK, lambda m: "\\" + m.group(), text, flags=re.IGNORECASE)


def code(text: str) -> str:
    """A file name for the step summary, as inline code (fenced by more backticks than any
    run inside it, so a backtick in the name stays one)."""
    text = plain(text)
    runs = [len(run) for run in re.findall("`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def escape_data(text: str) -> str:
    """A workflow command's message, escaped as GitHub's toolkit does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value, escaped as GitHub's toolkit does."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command_data(text: str) -> str:
    """Input text as a workflow command's message: plain, then GitHub's escapes."""
    return escape_data(plain(text))


def command_property(text: str) -> str:
    """Input text as a workflow command's property value (a file name)."""
    return escape_property(plain(text))


def json_text(text: str) -> str:
    """A JSON text with the controls JSON lets through raw written as ``\\u`` escapes, and
    no ``##[`` (only a string can hold one, where ``\\u005b`` means the same ``[``)."""
    if _JSON_RAW.search(text) is not None:
        text = _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text.replace(_OLD_COMMAND, "##\\u005b") if _OLD_COMMAND in text else text


class LineGuard:
    """A text stream (stderr) that writes no line starting with ``::``: the last guard,
    behind ``line`` where the text is put together. Everything else is passed on."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream or io.StringIO()  # None: stderr was closed (cio ... 2>&-)
        self._fresh = True  # at the start of a line (or after only spaces on it)

    def write(self, text: str) -> int:
        """Write ``text``, a ``::`` at the start of any of its lines as ``\\x3a:``."""
        if "::" in text:
            text = "".join(self._guard(part) for part in text.splitlines(keepends=True))
        elif text:
            last = text.rpartition("\n")
            self._fresh = (bool(last[1]) or self._fresh) and not last[2].strip()
        return self.stream.write(text)

    def _guard(self, part: str) -> str:
        body = part.lstrip()
        if self._fresh and body.startswith("::"):
            part = part[: len(part) - len(body)] + COLON + body[1:]
        ended = part.splitlines()[0] != part  # any line break ends it, to be safe
        self._fresh = ended or (self._fresh and not part.strip())
        return part

    def flush(self) -> None:
        """Flush the stream."""
        self.stream.flush()

    def isatty(self) -> bool:
        """Whether the stream is a terminal (Rich asks)."""
        return self.stream.isatty()

    def __getattr__(self, name: str) -> object:
        return getattr(self.stream, name)
