"""The byte checks a chunk passes before polars' parse is trusted give what their regexes give:
a stray quote is ``STRAY_QUOTE`` found in the text, and the commas outside quotes are what is
left once each ``"[^"]*"`` is removed from the quotes and commas, on random CSV-ish bytes.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cio_cli.read.boundaries import STRAY_QUOTE, commas_outside_quotes, has_stray_quote

PIECES = ["a", "é", "€", "x", " ", ",", '"', '""', "\r\n", "\n", "\r", '12" pizza', '"{""a"":1}"']
# A long run without quotes first makes the quotes sparse: has_stray_quote then takes the regex.
padding = st.sampled_from(["", "a,b\n" * 40, "ab,cd,é\r\n" * 3000])
csv_ish = st.tuples(padding, st.lists(st.sampled_from(PIECES), max_size=40).map("".join))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_ish)
def test_stray_quotes_and_commas_outside_quotes_are_what_the_regexes_find(
    parts: tuple[str, str],
) -> None:
    text = "".join(parts)
    data = text.encode()
    assert has_stray_quote(data) == (re.search(STRAY_QUOTE, text) is not None)
    marks = re.sub(r'[^",]', "", text)
    assert commas_outside_quotes(data) == len(re.sub(r'"[^"]*"', "", marks))
