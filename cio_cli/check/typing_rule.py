"""SPEC section 2's typing rule in plain Python: what a column's values make of it.

A file's first pass counts, column-wise in polars (``check/inference.py``), the facts kept
here (``Scale``) chunk by chunk, and ``keeps_its_text`` decides once the whole file is
read. (``send-event``'s ``-d key=value`` is a string, as the contract says; ``-d key:=JSON``
is typed by JSON.)

**Numbers keep their meaning.** A column of integers and decimals is numeric only when
each decimal's JSON number, printed back in the column's scale, is the cell again:

- every decimal has the same number of fraction digits, and there are two of them or
  more (a warehouse DECIMAL: ``19.90``, ``5.00``, ``1200.00``: printed back with 2); or
- no decimal ends in a zero after another digit (``1.5``, ``2.25``, ``3.0``: a float's
  shortest text, ``.0`` alone included), whatever their fraction digits.

Otherwise (``2.9``, ``2.10``, ``3.0``: versions) the column stays text. Integers are sent
as written and take no part in the scale. A lone decimal such as ``2.10`` (one in the
column) shows no scale: it could be a version as well as a price, so it
stays text; ``19.5`` or ``3.0`` alone are numbers.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

INT_RE = r"^-?(0|[1-9][0-9]{0,15})$"
DEC_RE = r"^-?(0|[1-9][0-9]*)\.[0-9]+$"
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
