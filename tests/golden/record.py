"""Re-record the golden data of tests/test_golden.py from the code as it is now.

    python tests/golden/record.py            # every case
    python tests/golden/record.py CASE...    # only these cases

Run it only when a behaviour change is intended; review ``git diff tests/golden/`` and say
in the commit which outputs changed and why.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.test_golden import record  # noqa: E402


def main() -> None:
    """Record the cases named on the command line, or all of them."""
    with tempfile.TemporaryDirectory() as work:
        record(sys.argv[1:], Path(work))


if __name__ == "__main__":
    main()
