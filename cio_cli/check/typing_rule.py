"""SPEC section 2's typing rule in plain Python: what a column's values make of it.

One rule for files and ``send-event``. A file's first pass counts, column-wise in polars
(``check/inference.py``), the facts kept here (``Scale``) chunk by chunk, and
``keeps_its_text`` decides once the whole file is read; ``send-event``'s ``-d key=value``
is a column of one value (``lone_value``), judged by the same constants and the same
decision. Nothing here imports polars: ``send-event`` starts without it.

**Numbers keep their meaning.** A column of integers and decimals is numeric only when
each decimal's JSON number, printed back in the column's scale, is the cell again:

- every decimal has the same number of fraction digits, and there are two of them or
  more (a warehouse DECIMAL: ``19.90``, ``5.00``, ``1200.00``: printed back with 2); or
- no decimal ends in a zero after another digit (``1.5``, ``2.25``, ``3.0``: a float's
  shortest text, ``.0`` alone included), whatever their fraction digits.

Otherwise (``2.9``, ``2.10``, ``3.0``: versions) the column stays text. Integers are sent
as written and take no part in the scale. A lone decimal such as ``2.10`` (one in the
column, or ``-d v=2.10``) shows no scale: it could be a version as well as a price, so it
stays text; ``19.5`` or ``3.0`` alone are numbers.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

import orjson

INT_RE = r"^-?(0|[1-9][0-9]{0,15})$"
DEC_RE = r"^-?(0|[1-9][0-9]*)\.[0-9]+$"
PADDED_RE = r"\.[0-9]*[0-9]0$"  # a decimal ending in a zero after another digit
SAFE_INT = 2**53
MAX_DIGITS = 15  # significant digits a double always keeps
SMALLEST_NORMAL = sys.float_info.min
BOOL_WORDS = ("true", "false")  # any case
TF = ("t", "f")  # lower-case, as Postgres writes them
BIG = 10**9  # "no decimal yet" for the smallest scale


@dataclass
class Scale:
    """What the decimals of a column (so far) say of its scale."""

    decimals: int = 0  # decimal cells
    low: int = BIG  # the fewest fraction digits of one
    high: int = 0  # the most
    padded: int = 0  # decimals ending in a zero after another digit (``2.10``, ``5.00``)

    def add(self, other: Scale) -> None:
        """Fold in another chunk's facts."""
        self.decimals += other.decimals
        self.low, self.high = min(self.low, other.low), max(self.high, other.high)
        self.padded += other.padded


def keeps_its_text(scale: Scale) -> bool:
    """Can the column's decimals go out as numbers and still be read back as written?"""
    if not scale.padded:
        return True  # float-printed (or no decimal at all)
    return scale.decimals >= 2 and scale.low == scale.high  # one fixed scale, seen twice


def _number(text: str) -> str | None:
    """``int``, ``decimal`` (a plain one a double holds), or None."""
    if re.fullmatch(INT_RE, text):
        return "int" if abs(int(text)) <= SAFE_INT else None
    if not re.fullmatch(DEC_RE, text):
        return None
    digits = text.replace("-", "").replace(".", "").strip("0")
    value = float(text)
    normal = not digits or abs(value) >= SMALLEST_NORMAL  # not 0.0, not subnormal
    return "decimal" if len(digits) <= MAX_DIGITS and value != float("inf") and normal else None


def lone_value(text: str) -> str | orjson.Fragment | float | bool:
    """What a column of this one value sends (``send-event``'s ``-d key=value``): an
    integer as written (``-0`` too, as a CSV cell), a decimal as its float,
    ``true``/``false`` (any case) and ``t``/``f`` as booleans; anything else, and a lone
    decimal like ``2.10``, as the text."""
    kind = _number(text)
    if kind == "int":
        return orjson.Fragment(text)
    if kind == "decimal":
        fraction = text.partition(".")[2]
        lone = Scale(1, len(fraction), len(fraction), int(bool(re.search(PADDED_RE, text))))
        return float(text) if keeps_its_text(lone) else text
    if text.lower() in BOOL_WORDS:
        return text.lower() == "true"
    if text in TF:
        return text == "t"
    return text
