"""Start-up time of ``cio send-event --dry-run`` against ``import typer, httpx``, in one run.

Usage: python bench/bench_start.py [RUNS]   (default: 5)

Times, best of RUNS each and interleaved (so both see the same machine load):
``cio send-event --person u1 --name x --dry-run`` and ``python -c "import typer, httpx"``,
then prints both and their ratio (the target is at most 1.3x). For context it also
times ``cio --help`` and a one-option Typer command (``typer.run`` of a function taking
``--name``): the floor of any Typer command that parses a value, since Typer loads
pydantic to coerce it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

TARGET = 1.3
SEND = ["send-event", "--person", "u1", "--name", "x", "--dry-run"]
HELLO = 'import typer\ndef main(name: str = "") -> None:\n    print(name)\ntyper.run(main)'


def wall(cmd: list[str]) -> float:
    """Wall seconds of one run of ``cmd`` (output discarded; a failure stops the bench)."""
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{cmd} failed with exit code {done.returncode}")
    return took


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    cio = str(Path(sys.executable).with_name("cio"))
    commands = {
        "cio send-event --dry-run": [cio, *SEND],
        'python -c "import typer, httpx"': [sys.executable, "-c", "import typer, httpx"],
        "cio --help": [cio, "--help"],
        "typer.run(main) --name x": [sys.executable, "-c", HELLO, "--name", "x"],
    }
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(runs):
        for label, cmd in commands.items():
            times[label].append(wall(cmd))
    best = {label: min(ts) for label, ts in times.items()}
    for label, seconds in best.items():
        print(f"  {label:34} {seconds * 1000:6.0f} ms  (best of {runs})")
    ours, base = best["cio send-event --dry-run"], best['python -c "import typer, httpx"']
    verdict = "ok" if ours / base <= TARGET else f"above the {TARGET}x target"
    print(f"  ratio send-event / import typer, httpx: {ours / base:.2f}x ({verdict})")
    floor = best["typer.run(main) --name x"]
    print(f"  ratio send-event / one-option Typer command: {ours / floor:.2f}x")


if __name__ == "__main__":
    main()
