"""The documentation stays inside the repository: README.md, docs/*.md and sample_csvs/README.md.

A clone of the repository is all a user has, so every link must resolve to a file of the
repository (and to a heading of it, when the link names one), no link may leave it (an
address of another site, an absolute path, ``../`` past the root), and a path the prose names
in code (```sample_csvs/README.md```, ```send/window.py```) must exist. Fenced code blocks are
examples (commands, output, the workflow file) and are not checked.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", ROOT / "sample_csvs" / "README.md", *ROOT.glob("docs/*.md")])

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]*:[^>\s]*)>")
ADDRESS = re.compile(r"\b(?:https?|ftp)://|\bwww\.[a-z0-9-]+\.", re.I)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# A path of the repository named in code: from the root, or inside the package.
REPO_PATH = re.compile(r"^(?:cio_cli|tests|bench|sample_csvs|examples|docs|\.ci)/[\w./-]*$")
PACKAGE_PATH = re.compile(r"^(?:read|check|build|encode|send|record|importer)/[\w./-]*$")


def _prose(text: str) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, numbered from 1."""
    lines, fence = [], ""
    for number, line in enumerate(text.splitlines(), 1):
        marker = re.match(r"^\s{0,3}(`{3,}|~{3,})", line)
        if marker and (not fence or marker.group(1).startswith(fence)):
            fence = "" if fence else marker.group(1)
            continue
        if not fence:
            lines.append((number, line))
    return lines


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"`|\*\*|__", "", heading).strip().lower()
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor of a Markdown page (a repeated heading gets -1, -2, ...)."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in _prose(page.read_text(encoding="utf-8")):
        if m := re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line):
            slug = _slug(m.group(1))
            found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
            seen[slug] = seen.get(slug, 0) + 1
    return found


def _targets(line: str) -> list[str]:
    without_code = CODE_SPAN.sub("", line)
    return [m.group(1) for m in LINK.finditer(without_code)] + [
        m.group(1) for m in AUTOLINK.finditer(without_code)
    ]


def link_problem(page: Path, target: str) -> str | None:
    """Why a link of ``page`` does not resolve inside the repository, or None."""
    if SCHEME.match(target) or target.startswith("/"):
        return "points outside the repository (an address or an absolute path)"
    path, _, anchor = target.partition("#")
    resolved = (page.parent / path).resolve() if path else page
    if not resolved.is_relative_to(ROOT):
        return "leaves the repository"
    if not resolved.exists():
        return "names no file of the repository"
    if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
        return f"names no heading of {resolved.relative_to(ROOT)}"
    return None


def problems(page: Path) -> list[str]:
    """Every link, address or path in ``page``'s prose that does not stay in the repository."""
    text = page.read_text(encoding="utf-8")
    where = page.relative_to(ROOT)
    found = []
    prose = _prose(text)
    definitions = [m.group(1) for m in DEFINITION.finditer("\n".join(line for _, line in prose))]
    for number, line in prose:
        for target in _targets(line):
            if why := link_problem(page, target):
                found.append(f"{where}:{number}: link {target!r} {why}")
        if ADDRESS.search(line):
            found.append(f"{where}:{number}: an address of another site: {line.strip()!r}")
        for m in CODE_SPAN.finditer(line):
            found.extend(f"{where}:{number}: {why}" for why in _code_problems(m.group(2).strip()))
    for target in definitions:
        if why := link_problem(page, target):
            found.append(f"{where}: link definition {target!r} {why}")
    return found


def _code_problems(code: str) -> list[str]:
    if code.startswith("../") or "/../" in code:
        return [f"`{code}` is a path outside the repository"]
    # what cio or bench/gen.py writes, never kept in git
    generated = code.startswith("bench/data/") or code.endswith((".rejects.csv", ".cio-journal"))
    if REPO_PATH.match(code) and not generated and not (ROOT / code).exists():
        return [f"`{code}` names no file of the repository"]
    if PACKAGE_PATH.match(code) and not (ROOT / "cio_cli" / code).exists():
        return [f"`{code}` names no module of cio_cli/"]
    return []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_and_path_stays_inside_the_repository(page: Path) -> None:
    assert problems(page) == []


def test_the_docs_are_linked_from_the_readme() -> None:
    """Every page of docs/ is reachable from the README."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = {t.partition("#")[0] for _, line in _prose(readme) for t in _targets(line)}
    pages = {p.relative_to(ROOT).as_posix() for p in ROOT.glob("docs/*.md")}
    assert pages and pages <= linked


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("../shared/SPEC.md", "leaves the repository"),
        ("https://example.com/", "points outside the repository"),
        ("/etc/passwd", "points outside the repository"),
        ("docs/nowhere.md", "names no file"),
        ("docs/reference.md#no-such-heading", "names no heading"),
        ("docs/reference.md#exit-codes", None),
        ("#quick-start", None),
    ],
)
def test_the_check_tells_a_broken_link_from_a_good_one(target: str, why: str | None) -> None:
    found = link_problem(ROOT / "README.md", target)
    assert (found is None) if why is None else (found is not None and why in found)


def test_a_path_out_of_the_repository_in_code_is_caught() -> None:
    assert _code_problems("../shared/SPEC.md")
    assert _code_problems("cio_cli/nowhere.py")
    assert not _code_problems("sample_csvs/README.md")
    assert not _code_problems("/tmp/iso.jsonl")


def test_headings_become_the_anchors_github_makes() -> None:
    assert _slug("Track or Pipelines?") == "track-or-pipelines"
    assert (
        _slug("Your first backfill: a warehouse export") == "your-first-backfill-a-warehouse-export"
    )
    assert (
        _slug("`check` and `send-event` under Pipelines") == "check-and-send-event-under-pipelines"
    )


README_MAX_LINES = 300  # what a user reads up front; the rest belongs in docs/


def test_the_readme_stays_short() -> None:
    """README.md holds only what a user needs up front, in at most 300 lines."""
    lines = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines, more than {README_MAX_LINES}: move detail to docs/"
    )
