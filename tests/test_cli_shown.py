"""SPEC section 6, "Text from the input is shown, never obeyed" (issue 21, items 1-3).

Cells, headers, event names, file paths and API messages reach the terminal, the plain
lines on stderr, ``--json``, the step summary and the annotations as literal text: no Rich
markup is read from them, control characters and line breaks are shown escaped (``\\n``,
``\\x1b``), no line on stdout or stderr starts with ``::`` unless it is one of ``cio``'s own
annotations, and the step summary forms no link or image. Every run goes through the real CLI;
the real imports go to the suite's fake server, which answers 207 with the messages a test
gives it.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token
from typer.testing import Result

from tests.cli_support import BASE, cio, old, summary, write_csv
from tests.fakecio import FakeCio, Reply

T = str(old(10))
REFUSE = "refuse-me"  # the event name the test API refuses, with the message it is given
OWN_ANNOTATION = re.compile(
    r"::(error|warning) file=[^:\n]*,line=\d+,title=cio::|::notice title=cio::"
)
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")  # any but \n
NOT_TAGS = {"link_open", "image", "html_inline", "html_block"}
AUTOLINK = re.compile(r"(?<!\\)://|www\.|(?<!\\)@", re.IGNORECASE)  # GitHub's bare autolinks
CODE_SPAN = re.compile(r"(?<![\\`])(`+)(?!`).*?(?<!`)\1(?!`)")  # no autolink inside
HOSTILE = [
    "[/x]", "[red]red[/red]", "[link=https://evil.example]l[/link]", ":thumbs_up:",
    "\n::error title=HDR::pwned", "\r\n::warning::pwned", " ::add-mask::secret", "##[error]old",
    "%0A::error::pct", "\x1b]0;TITLE\x07", "\x1b[2J", "\x9b2J", "\x7f", "\u2028::error::ls",
    "\x85", "\t", "[text](https://evil.example/a)", "![x](https://evil.example/t.png)",
    '<img src="https://evil.example/p.png">', "https://evil.example", "www.evil.example",
    "a@evil.example", "`code`", "|", "\\", ":octocat:", "&lt;b&gt;",
]  # fmt: skip


def actions(step: Path, **more: str | None) -> dict[str, str | None]:
    """A GitHub Actions step's environment, without Customer.io settings from outside."""
    env: dict[str, str | None] = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(step)}
    env |= {"CIO_SITE_ID": None, "CIO_API_KEY": None, "CIO_BASE_URL": None, "CIO_API": None}
    return env | more


def send(fake: FakeCio, path: str | Path, *flags: str, env: dict[str, str | None]) -> Result:
    """A real ``cio import`` of ``path`` against ``fake``."""
    creds = ("--base-url", fake.url, "--site-id", "site", "--api-key", "key")
    return cio("import", path, *creds, *flags, env=env)


def refusing(message: list[str]) -> Callable[[bytes], Reply]:
    """A batch endpoint that accepts every op but those named REFUSE, refused (207) with
    ``message[0]``."""

    def answer(body: bytes) -> Reply:
        ops = orjson.loads(body)["batch"]
        errors = [{"batch_index": i, "reason": "invalid", "field": "name", "message": message[0]}
                  for i, op in enumerate(ops) if op.get("name") == REFUSE]  # fmt: skip
        return (207, {}, orjson.dumps({"errors": errors})) if errors else (200, {}, b"{}")

    return answer


@pytest.fixture
def refuser() -> Iterator[tuple[FakeCio, list[str]]]:
    """A fake server whose batch endpoint refuses REFUSE with the message in the list."""
    message = ["refused"]
    with FakeCio(routes={"/api/v2/batch": refusing(message)}) as fake:
        yield fake, message


def strange_lines(text: str) -> list[str]:
    """The lines of ``text`` a runner would read as a workflow command ``cio`` did not write,
    or that carry a control character or the runner's older ``##[`` command form."""
    bad = []
    for line in text.split("\n"):
        if line.lstrip().startswith("::") and not OWN_ANNOTATION.match(line):
            bad.append(line)
        elif CONTROL.search(line) or "##[" in line:
            bad.append(line)
    return bad


def tokens(md: str) -> Iterator[Token]:
    """Every token of the step summary, inline children included (CommonMark and tables)."""
    for token in MarkdownIt("commonmark").enable("table").parse(md):
        yield token
        yield from token.children or []


def assert_inert(result: Result) -> None:
    """stdout and stderr: no command cio did not write, no control character."""
    assert strange_lines(result.stdout) == [], result.stdout
    assert strange_lines(result.stderr) == [], result.stderr


def assert_no_links(md: str) -> None:
    """The step summary forms no link, image or HTML (cio writes none), and no bare URL,
    ``www.`` or address GitHub would turn into a link."""
    assert {t.type for t in tokens(md)} & NOT_TAGS == set(), md
    assert AUTOLINK.search(CODE_SPAN.sub("", md)) is None, md


# -- item 1: Rich markup -------------------------------------------------------------------


def test_markup_in_a_name_header_and_path_is_shown_by_a_real_import_and_its_rerun(
    tmp_path: Path, refuser: tuple[FakeCio, list[str]]
) -> None:
    """The issue's repro, with a file path holding ``[/x]`` too: sent, journalled, summed up;
    the rerun says "already imported"; no MarkupError, nothing restyled."""
    fake, _ = refuser
    folder = tmp_path / "["
    folder.mkdir()
    path = write_csv(folder / "x].csv", ["_cio_name", "_cio_customer_id", "_cio_timestamp", "[/x]"],
                     [["[/y]", "u1", T, "[red]v[/red]"], ["[bold]b", "u2", T, "[link=https://e.x]l"]])  # fmt: skip
    step = tmp_path / "step.md"
    first = send(fake, path, env=actions(step))
    assert first.exit_code == 0, first.stderr
    assert "[/y] 1" in first.stderr and "[bold]b 1" in first.stderr
    assert re.search(r"^\[/x\] +string +0 *$", first.stderr, re.MULTILINE), first.stderr
    again = send(fake, path, env=actions(step))
    assert again.exit_code == 0, again.stderr
    assert f"{path}: already imported (2 rows acknowledged); nothing sent." in again.stderr
    assert "[/y] 1" in again.stderr
    as_json = send(fake, path, "--json", env=actions(step))
    assert summary(as_json)["by_name"] == {"[/y]": 1, "[bold]b": 1}
    assert fake.requests[0].status == 200 and len(fake.requests) == 1
    md = step.read_text(encoding="utf-8")
    assert f"### cio import `{path}`" in md
    assert "| \\[/y\\] | 1 |" in md and "| \\[bold\\]b | 1 |" in md


def test_markup_in_a_cell_and_a_header_through_validate_and_a_dry_run(tmp_path: Path) -> None:
    rows = [["[/y]", "u1", "[/z]", "p"], ["ok", "u2", T, "p"]]
    path = write_csv(tmp_path / "m.csv", [*BASE[:3], "[/x]"], rows)
    for args in (("validate",), ("import", "--dry-run")):
        result = cio(*args, path)
        assert result.exit_code == 1, result.stderr
        assert "row 2: _cio_timestamp '[/z]' is not a timestamp" in result.stderr
        assert "  1 x _cio_timestamp '[/z]' is not a timestamp" in result.stderr
        assert re.search(r"^\[/x\] +string +0 *$", result.stderr, re.MULTILINE), result.stderr


# -- item 2: workflow commands through stderr ------------------------------------------------


def test_a_header_and_a_timestamp_cannot_put_a_command_on_stderr(tmp_path: Path) -> None:
    """The issue's repro: no line of stderr starts with ``::``; the text is shown escaped."""
    header = "x\n::error title=HDR::pwned"
    path = write_csv(tmp_path / "inj.csv", [*BASE[:3], header],
                     [["ev", "u1", "x\n::warning title=TS::pwned", "v"]])  # fmt: skip
    step = tmp_path / "step.md"
    for args in (("validate",), ("import", "--dry-run"), ("validate", "--json")):
        result = cio(*args, path, env=actions(step))
        assert result.exit_code == 1, result.stderr
        assert_inert(result)
        shown = "_cio_timestamp 'x\\n::warning title=TS::pwned' is not a timestamp"
        assert f"::error file={path},line=2,title=cio::{shown}" in result.stdout + result.stderr
        if "--json" not in args:
            assert f"row 2: {shown}" in result.stderr and f"  1 x {shown}" in result.stderr
            assert re.search(r"^x\\n::error title=HDR::pwned +string", result.stderr, re.M)
    s = summary(cio("validate", path, "--json"))
    assert s["columns"][header]["type"] == "string", "--json keeps the exact text"


def test_a_file_name_or_header_starting_with_a_command_is_written_with_an_escaped_colon(
    tmp_path: Path, refuser: tuple[FakeCio, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative path and a header that start with ``::``: the notes that start with the path,
    and the columns table, write ``\\x3a:`` where the line would have started with ``::``."""
    fake, _ = refuser
    monkeypatch.chdir(tmp_path)
    name = "::error title=F::pwned.csv"
    write_csv(tmp_path / name, [*BASE[:3], "::warning::col"], [["ev", "u1", T, "v"]])
    first = send(fake, name, env=actions(tmp_path / "step.md"))
    assert first.exit_code == 0, first.stderr
    assert_inert(first)
    assert re.search(r"^\\x3a:warning::col +string", first.stderr, re.M), first.stderr
    again = send(fake, name, env=actions(tmp_path / "step.md"))
    assert again.exit_code == 0
    assert_inert(again)
    assert "\\x3a:error title=F::pwned.csv: already imported (1 rows acknowledged)" in again.stderr


def test_a_long_header_wrapped_by_the_columns_table_never_starts_a_line_with_a_command(
    tmp_path: Path,
) -> None:
    """Rich wraps a long cell at a space: the last guard round stderr (record/shown.py)
    writes the continuation line's ``::`` as ``\\x3a:`` (at 80 columns one of these wraps
    right before it)."""
    wrapped = 0
    for words in range(10, 18):
        header = "word " * words + "::error title=WRAP::pwned " + "z" * 10
        path = write_csv(tmp_path / "w.csv", [*BASE[:3], header], [["ev", "u1", T, "v"]])
        result = cio("validate", path, env=actions(tmp_path / "s.md", COLUMNS="80"))
        assert result.exit_code == 0
        assert_inert(result)
        wrapped += "\n\\x3a:error title=WRAP::pwned" in result.stderr
    assert wrapped


def test_api_messages_are_shown_never_obeyed(
    tmp_path: Path, refuser: tuple[FakeCio, list[str]]
) -> None:
    """A 207 entry's message and a 400 body's error: rows rejected with the message shown
    escaped in the row lines, the reasons, the annotations and the step summary (the API's
    line breaks and spaces are one space, as in every message cio quotes from it)."""
    fake, message = refuser
    message[0] = "[/x] bad\n::error title=API::pwned \x1b[2J ![t](https://evil.example/t.png)"
    rows = [[REFUSE, "u1", T, "p"], ["ok", "u2", T, "p"]]
    path = write_csv(tmp_path / "api.csv", BASE, rows)
    step = tmp_path / "step.md"
    result = send(fake, path, env=actions(step))
    assert result.exit_code == 1, result.stderr
    assert_inert(result)
    shown = (
        "[/x] bad ::error title=API::pwned \\x1b[2J ![t](https://evil.example/t.png)"
        " (field name, invalid)"
    )
    assert f"row 2: refused by Customer.io: {shown}" in result.stderr
    assert (
        f"::error file={path},line=2,title=cio::refused by Customer.io: {shown}\n" in result.stdout
    )
    md = step.read_text(encoding="utf-8")
    assert_no_links(md)
    assert (
        "| refused by Customer.io: \\[/x\\] bad ::error title=API::pwned \\\\x1b\\[2J !\\[t\\](https\\://evil"
        in md
    )
    body = {"meta": {"error": "[/x]\n::error::whole \x1b]0;T\x07"}}
    with FakeCio(routes={"/api/v2/batch": lambda _: (400, {}, orjson.dumps(body))}) as refusing:
        whole = send(refusing, write_csv(tmp_path / "w.csv", BASE, rows), env=actions(step))
    assert whole.exit_code == 1, whole.stderr
    assert_inert(whole)
    assert "[/x] ::error::whole \\x1b]0;T\\x07" in whole.stderr


# -- item 3: escape sequences and Markdown ----------------------------------------------------


def test_escape_sequences_in_cells_reach_no_output_raw(tmp_path: Path) -> None:
    rows = [["\x1b]0;TITLE\x07n", "u1", T, "p"], ["ok", "u2", "\x1b[2J", "\x1b[31mred"]]
    path = write_csv(tmp_path / "esc.csv", BASE, rows)
    step = tmp_path / "step.md"
    for args in (("validate",), ("import", "--dry-run"), ("validate", "--json")):
        result = cio(*args, path, env=actions(step))
        assert result.exit_code == 1, result.stderr
        assert_inert(result)
        assert "\x1b" not in result.stdout + result.stderr
    human = cio("validate", path)
    assert "row 3: _cio_timestamp '\\x1b[2J' is not a timestamp" in human.stderr
    assert "\\x1b]0;TITLE\\x07n 1" in human.stderr
    assert "\x1b" not in step.read_text(encoding="utf-8")
    s = summary(cio("validate", path, "--json"))
    assert s["by_name"] == {"\x1b]0;TITLE\x07n": 1}, "--json keeps the exact text, escaped as JSON"


def test_markdown_in_names_and_reasons_forms_no_link_or_image(tmp_path: Path) -> None:
    names = ["[text](https://evil.example/a)", "![x](https://evil.example/t.png)",
             '<img src="https://evil.example/p.png">', "see www.evil.example or a@evil.example",
             ":octocat: `x` & &lt;b&gt;"]  # fmt: skip
    rows = [[n, f"u{i}", T, "p"] for i, n in enumerate(names)]
    rows.append(["ok", "u9", "![t](https://evil.example/ts.png)", "p"])
    path = write_csv(tmp_path / "md.csv", BASE, rows)
    step = tmp_path / "step.md"
    assert cio("import", path, "--dry-run", env=actions(step)).exit_code == 1
    md = step.read_text(encoding="utf-8")
    assert_no_links(md)
    assert "| \\[text\\](https\\://evil.example/a) | 1 |" in md
    assert "| !\\[x\\](https\\://evil.example/t.png) | 1 |" in md
    assert '| &lt;img src="https\\://evil.example/p.png"&gt; | 1 |' in md
    assert "| see www\\.evil.example or a\\@evil.example | 1 |" in md
    assert "| \\:octocat: \\`x\\` &amp; &amp;lt;b&amp;gt; | 1 |" in md
    assert "_cio_timestamp '!\\[t\\](https\\://evil.example/ts.png)' is not a timestamp" in md
    rendered = MarkdownIt("commonmark").enable("table").render(md)
    assert "<td>![x](https://evil.example/t.png)</td>" in rendered, "shown as written"
    assert "<td>:octocat: `x` &amp; &amp;lt;b&amp;gt;</td>" in rendered


def test_a_file_name_in_the_step_summary_is_code_whatever_it_holds(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a`b ![i](https:x) [l](y).csv", BASE, [["ok", "u1", T, "p"]])
    step = tmp_path / "step.md"
    assert cio("validate", path, env=actions(step)).exit_code == 0
    md = step.read_text(encoding="utf-8")
    assert f"### cio validate ``{path}``\n" in md
    assert {t.type for t in tokens(md)} & NOT_TAGS == set()


# -- arbitrary text everywhere ------------------------------------------------------------


def hostile() -> st.SearchStrategy[str]:
    """Text made of the pieces above and arbitrary characters (no NUL: no file holds one)."""
    piece = st.one_of(
        st.sampled_from(HOSTILE),
        st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=6),
    )
    return st.lists(piece, min_size=1, max_size=4).map("".join)


def file_name(text: str) -> str:
    """``text`` as a file name in the current folder (no ``/``, not an option, not too long)."""
    name = text.replace("/", "_")[:40]
    return ("f" + name if name.startswith("-") or name in ("", ".", "..") else name) + ".csv"


def runs(fake: FakeCio, folder: Path, name: str, rows: Sequence[Sequence[str]],
         header: str) -> tuple[Result, Result, str]:  # fmt: skip
    """A real import (people's output) and ``validate --json`` of a hostile file, in a fresh
    folder entered for the run; with the step summary they appended."""
    path = write_csv(folder / file_name(name), [*BASE[:3], header], rows)
    step = folder / "step.md"
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        imported = send(fake, path.name, env=actions(step))
        validated = cio("validate", path.name, "--json", env=actions(step))
    finally:
        os.chdir(cwd)
    return imported, validated, step.read_text(encoding="utf-8")


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)  # each example runs cio twice
@given(name=hostile(), header=hostile(), cell=hostile(), stamp=hostile(), file=hostile(),
       api=hostile())  # fmt: skip
def test_arbitrary_text_is_shown_never_obeyed(
    name: str, header: str, cell: str, stamp: str, file: str, api: str
) -> None:
    """Names, a header, cells, a timestamp, the file name and a 207 message made of hostile
    text: no line starts with a command cio did not write, no control character reaches
    stdout or stderr, the step summary forms no link, and the rows decide the exit code
    (a bad timestamp and a refused event: 1)."""
    message = [api]
    rows = [["n" + name, "u1", T, cell], ["ok", "u2", "x" + stamp, cell], [REFUSE, "u3", T, "p"]]
    with FakeCio(routes={"/api/v2/batch": refusing(message)}) as fake, \
            tempfile.TemporaryDirectory() as folder:  # fmt: skip
        imported, validated, md = runs(fake, Path(folder), file, rows, "h" + header)
    assert (imported.exit_code, validated.exit_code) == (1, 1), imported.stderr
    for result in (imported, validated):
        assert_inert(result)
    assert_no_links(md)
    s = json.loads(validated.stdout)
    assert s["rows"] == 3 and s["rejected"] >= 1 and sum(s["by_name"].values()) == s["sent"]
    assert s["files"] == [file_name(file)], "--json keeps the exact text"


def test_the_hostile_pieces_are_what_they_claim() -> None:
    """The pieces above do hold markup, commands and controls (a guard for the test itself)."""
    assert any("\x1b" in p for p in HOSTILE) and any("::" in p for p in HOSTILE)
    assert strange_lines("\x1b[2J") and strange_lines(" ::error::x") and strange_lines("##[error]x")
    assert not strange_lines("::error file=a,line=2,title=cio::ok")
    rendered: dict[str, Any] = {t.type: t for t in tokens("[a](https://x) ![b](c) <img src=d>")}
    assert {"link_open", "image", "html_inline"} <= set(rendered)
