"""Issue 23: the row rules stand below the sending side. ``cio_cli/check`` imports nothing
from ``cio_cli/send`` (not even for the type checker, nor inside a function), ``config.py``
does not import the sending side, and no module of cio_cli imports itself back through
others: what each API allows is plain data in ``cio_cli/apis.py``, below both.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cio_cli"


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (top level, functions, TYPE_CHECKING)."""
    module, found = _name(path), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            start = base[: len(base) - node.level + 1] if node.level else []
            target = ".".join([*start, *([node.module] if node.module else [])])
            found |= {target} | {f"{target}.{alias.name}" for alias in node.names}
    return found


GRAPH = {_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def test_check_imports_nothing_from_send() -> None:
    for module, imported in GRAPH.items():
        if module.startswith("cio_cli.check"):
            assert not {m for m in imported if m.startswith("cio_cli.send")}, module


def test_config_does_not_import_the_sending_side() -> None:
    assert not {m for m in GRAPH["cio_cli.config"] if m.startswith("cio_cli.send")}


def test_no_import_cycle() -> None:
    edges = {m: {t for t in imported if t in GRAPH and t != m} for m, imported in GRAPH.items()}
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(edges[module]):
            assert state.get(target) != "open", " -> ".join([*path, module, target])
            if target not in state:
                visit(target, [*path, module])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [])


def test_the_row_rules_load_without_the_sending_side() -> None:
    code = (
        "import sys\n"
        "import cio_cli.check.contract, cio_cli.check.rule_table, cio_cli.check.event_flags\n"
        "import cio_cli.check.rows, cio_cli.config\n"
        "print(sorted(m for m in sys.modules if m.startswith('cio_cli.send') or m == 'httpx'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
