"""Start-up time of ``cio send-event --dry-run`` against ``import typer, httpx``, in one run.

Usage: python bench/bench_start.py [RUNS]   (default: 5)

Times, best of RUNS each and interleaved (so both see the same machine load):
``cio send-event --person u1 --name x --dry-run`` and ``python -c "import typer, httpx"``,
then prints both and their ratio (the target is at most 1.3x). For context it also times
``cio --help`` and a one-option Typer command (``typer.run`` of a function taking
``--name``): the floor of any Typer command that parses a value, since Typer loads
pydantic to coerce it.

Every module's bytecode is cached (in a temporary PYTHONPYCACHEPREFIX, after one warm-up
run), as in an installed cio: an editable checkout run with PYTHONDONTWRITEBYTECODE=1
compiles cio's own modules on every start. The last line gives the ratio that way too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 1.3
SEND = ["send-event", "--person", "u1", "--name", "x", "--dry-run"]
HELLO = 'import typer\ndef main(name: str = "") -> None:\n    print(name)\ntyper.run(main)'
OURS, BASE = "cio send-event --dry-run", 'python -c "import typer, httpx"'


def wall(cmd: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one run of ``cmd`` (output discarded; a failure stops the bench)."""
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{cmd} failed with exit code {done.returncode}")
    return took


def best(commands: dict[str, list[str]], runs: int, env: dict[str, str]) -> dict[str, float]:
    """The fastest of ``runs`` runs of each command, after one warm-up run of each."""
    times: dict[str, list[float]] = {label: [] for label in commands}
    for cmd in commands.values():
        wall(cmd, env)
    for _ in range(runs):
        for label, cmd in commands.items():
            times[label].append(wall(cmd, env))
    return {label: min(ts) for label, ts in times.items()}


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    cio = str(Path(sys.executable).with_name("cio"))
    commands = {
        OURS: [cio, *SEND],
        BASE: [sys.executable, "-c", "import typer, httpx"],
        "cio --help": [cio, "--help"],
        "typer.run(main) --name x": [sys.executable, "-c", HELLO, "--name", "x"],
    }
    plain = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory(prefix="cio-bench-pyc-") as cache:
        found = best(commands, runs, plain | {"PYTHONPYCACHEPREFIX": cache})
    for label, seconds in found.items():
        print(f"  {label:34} {seconds * 1000:6.0f} ms  (best of {runs})")
    ratio = found[OURS] / found[BASE]
    verdict = "ok" if ratio <= TARGET else f"above the {TARGET}x target"
    print(f"  ratio send-event / import typer, httpx: {ratio:.2f}x ({verdict})")
    floor = found["typer.run(main) --name x"]
    print(f"  ratio send-event / one-option Typer command: {found[OURS] / floor:.2f}x")
    pair = {label: commands[label] for label in (OURS, BASE)}
    raw = best(pair, runs, plain | {"PYTHONDONTWRITEBYTECODE": "1"})
    print(f"  ratio with PYTHONDONTWRITEBYTECODE=1: {raw[OURS] / raw[BASE]:.2f}x")


if __name__ == "__main__":
    main()
