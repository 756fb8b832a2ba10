"""The Click classes cio hands Typer: its commands' help in panels, Typer's ``--help``, the
files argument shown as its metavar, and option values coerced without pydantic."""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


class PanelCommand(TyperCommand):
    """A command whose ``--help`` groups its options in rich panels.

    The app itself keeps ``rich_markup_mode=None``, so Typer's usage errors (a missing or
    unknown option) stay plain text, as scripts read them. A flag shows no ``<bool>`` (it
    takes no value) and the files argument shows as its metavar alone (``FILE...``).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{**kwargs, "rich_markup_mode": "rich"})
        for param in self.params:
            _plain_values(param)
            if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
                param.metavar = ""
            elif isinstance(param, TyperArgument) and param.metavar is not None:
                param.__class__ = _NamedArgument

    def get_help_option(self, ctx: Any) -> Any:
        """``--help``, a flag like the others: no ``<bool>``."""
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
            _plain_values(option)
        return option


class _Group(TyperGroup):
    """The ``cio`` group: Typer's, with its ``--help`` coerced without pydantic."""

    def get_help_option(self, ctx: Any) -> Any:
        """Typer's ``--help``, coerced by ``_PlainValue``."""
        option = super().get_help_option(ctx)
        if option is not None:
            _plain_values(option)
        return option


def _plain_values(param: object) -> None:
    """Coerce ``param``'s values by ``_PlainValue`` (Typer's own coercion builds a pydantic
    adapter for every parameter of the command that runs, even one left at its default)."""
    if _SEAM and isinstance(param, TyperOption | TyperArgument) and param._runtime_param is None:
        param._runtime_param = _PlainValue.of(param.type_descriptor)


try:  # Typer's coercion seam (private, Typer 0.29): without it, Typer coerces as it always did
    from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param

    _SEAM = typer.__version__.split(".")[:2] == ["0", "29"]  # the Typer it was written for:
    # another one's private seam may differ, so it coerces as it always did (a slower start)
except ImportError:  # pragma: no cover - another Typer: slower to start, nothing else
    RuntimeParam, _SEAM = object, False  # type: ignore[assignment,misc]

_INT, _FLOAT = re.compile(r"-?[0-9]{1,15}"), re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,15})?")
_UNSET: Any = object()


@dataclass(frozen=True)
class _PlainValue(RuntimeParam):
    """Typer's coercion of an option's value, without pydantic for what a command line
    gives most: a string for a ``str`` (or ``parser=str``) option, plain digits for an
    ``int`` or ``float``, a default of the option's own type (a choice's, its text). Any
    other value goes to Typer's own coercion, which loads pydantic (40-50 ms of every
    start), so every message stays Typer's (docs/benchmarks.md, "Start-up")."""

    descriptor: TypeDescriptor

    @classmethod
    def of(cls, descriptor: TypeDescriptor) -> _PlainValue:
        """The coercion of the option ``descriptor`` describes."""
        return cls(descriptor.parameter_info, descriptor.annotation, descriptor)

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        plain = self._plain(value)
        if plain is _UNSET:
            typer_own = build_runtime_param(self.descriptor)
            return typer_own._coerce_value(value, param=param, ctx=ctx)
        return plain

    def _plain(self, value: Any) -> Any:
        """``value`` coerced as Typer would, or ``_UNSET`` when Typer has to say."""
        kind: Any = self.annotation
        parser = self.parameter_info.parser
        if typing.get_origin(kind) is list and typing.get_args(kind) == (str,) and not parser:
            if isinstance(value, list | tuple) and all(type(v) is str for v in value):
                return list(value)
        elif (parser is str or (kind is str and not parser)) and type(value) is str:
            return value
        elif parser is str and isinstance(value, str):  # a choice's default (a StrEnum)
            return str(value)  # what Typer's coercion returns: parser(value)
        elif not parser and kind is bool and type(value) is bool:
            return value
        elif not parser and kind in (int, float):
            if type(value) is kind:
                return value
            if type(value) is int or (type(value) is str and _INT.fullmatch(value)):
                return kind(value)
            if kind is float and type(value) is str and _FLOAT.fullmatch(value):
                return float(value)
        return _UNSET


class _NamedArgument(TyperArgument):
    """An argument shown as its metavar, in the usage line and the help, and nothing else."""

    def get_usage_pieces(self, ctx: object) -> list[str]:
        """``FILE...``, not Typer's ``{FILE...}...``."""
        return [self.display_name_raw]

    def display_type_rich(self, ctx: object) -> str | None:
        """No type column (``<list[str]>``): the metavar says it."""
        return None

    def get_error_hint(self) -> str:
        """``'files'`` in Typer's messages (``Missing argument 'files'.``), as before."""
        return f"'{self.name}'"
