"""Issue 23: settings are one typed object per command, passed on whole. No function of
cli.py or the importer takes more than six parameters, but the Typer commands themselves,
whose parameters are the flags they gather into that object."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cio_cli"
COMMANDS = {"validate", "import_", "send_event_command", "check_command"}


def test_no_function_of_the_cli_or_the_importer_takes_more_than_six_parameters() -> None:
    over = []
    cli = [PACKAGE / name for name in ("cli.py", "options.py", "typer_classes.py")]
    for path in [*cli, *sorted((PACKAGE / "importer").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name not in COMMANDS:
                a = node.args
                names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
                count = len([n for n in names if n not in ("self", "cls")])
                if count + bool(a.vararg) + bool(a.kwarg) > 6:
                    over.append(f"{path.name}:{node.name}")
    assert over == []


def test_no_option_is_read_from_a_string_keyed_dict() -> None:
    text = (PACKAGE / "cli.py").read_text(encoding="utf-8")
    assert 'o["' not in text and "_read_options(" not in text
