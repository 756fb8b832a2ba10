"""Start-up time of ``cio send-event --dry-run`` and ``cio --help`` against
``python -c "import typer, httpx"``, measured in the same run.

Usage: python bench/bench_start.py [RUNS]   (default: 5 runs a round)

Three rounds; in each, every command runs RUNS times, interleaved (so all see the same
machine load), and the round keeps each command's fastest run. Printed: each command's
time (best and median of the rounds) and its ratio against the baseline of the same
round (best and median), with its target: send-event 1.3x, --help 1.1x. For context:
a one-option Typer command (``typer.run`` of a function taking ``--name``), the floor of
a Typer command whose value Typer coerces itself (it loads pydantic to do it).

Every module's bytecode is cached (in a temporary PYTHONPYCACHEPREFIX, after one warm-up
run), as in an installed cio.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = 3
SEND = ["send-event", "--person", "u1", "--name", "x", "--dry-run"]
HELLO = 'import typer\ndef main(name: str = "") -> None:\n    print(name)\ntyper.run(main)'
BASE = 'python -c "import typer, httpx"'
TARGETS = {"cio send-event --dry-run": 1.3, "cio --help": 1.1}


def wall(cmd: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one run of ``cmd`` (output discarded; a failure stops the bench)."""
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{cmd} failed with exit code {done.returncode}")
    return took


def one_round(commands: dict[str, list[str]], runs: int, env: dict[str, str]) -> dict[str, float]:
    """The fastest of ``runs`` interleaved runs of each command."""
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(runs):
        for label, cmd in commands.items():
            times[label].append(wall(cmd, env))
    return {label: min(ts) for label, ts in times.items()}


def show(label: str, values: list[float], unit: str, scale: float = 1.0) -> str:
    """``label  best  median`` of one row."""
    best, median = min(values) * scale, statistics.median(values) * scale
    return f"  {label:38} best {best:6.2f}{unit}  median {median:6.2f}{unit}"


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    cio = str(Path(sys.executable).with_name("cio"))
    commands = {
        BASE: [sys.executable, "-c", "import typer, httpx"],
        "cio send-event --dry-run": [cio, *SEND],
        "cio --help": [cio, "--help"],
        "typer.run(main) --name x": [sys.executable, "-c", HELLO, "--name", "x"],
    }
    plain = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory(prefix="cio-bench-pyc-") as cache:
        env = plain | {"PYTHONPYCACHEPREFIX": cache}
        for cmd in commands.values():
            wall(cmd, env)  # warm-up: compiles and caches every module
        rounds = [one_round(commands, runs, env) for _ in range(ROUNDS)]
    print(f"start-up, {ROUNDS} rounds of {runs} runs each (a round keeps its fastest run)")
    for label in commands:
        print(show(label, [r[label] for r in rounds], " ms", 1000))
    for label in (*TARGETS, "typer.run(main) --name x"):
        ratios = [r[label] / r[BASE] for r in rounds]
        target = TARGETS.get(label)
        verdict = "" if target is None else f"  target {target}x: " + (
            "ok" if statistics.median(ratios) <= target else "missed"
        )
        print(show(f"{label} / baseline", ratios, "x") + verdict)


if __name__ == "__main__":
    main()
