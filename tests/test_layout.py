"""The map of the package (docs/internals.md, "Layout") lists every module, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cio_cli"


def _map_in_docs() -> set[str]:
    text = (ROOT / "docs" / "internals.md").read_text(encoding="utf-8")
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    listed, folder = set(), ""
    for line in block.splitlines()[2:]:  # after "```" and "cio_cli/"
        if m := re.match(r"^  (\w+)/", line):
            folder = m.group(1) + "/"
        elif m := re.match(r"^    (\w+\.py)\b", line):
            listed.add(folder + m.group(1))
        elif m := re.match(r"^  (\w+\.py)\b", line):
            folder = ""
            listed.add(m.group(1))
    return listed


def test_every_module_is_on_the_map_and_every_entry_exists() -> None:
    modules = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    }
    assert _map_in_docs() == modules


def test_each_folder_says_what_it_holds() -> None:
    for folder in sorted(p for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"):
        doc = (folder / "__init__.py").read_text(encoding="utf-8").strip()
        assert doc.startswith('"""') and len(doc) > 40, folder.name
