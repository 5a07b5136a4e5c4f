"""How long the CLI takes to start, against the 0.5 s target and an empty interpreter's start as the floor.

    .venv/bin/python benchmarks/cli_startup.py --repeats 5

Times three commands as subprocesses, with this interpreter's environment's executables: ``semcom-bench --help``,
``semcom-bench datasets synth --help`` and ``python -c pass`` (the baseline). Each is run once untimed (to warm the
file cache and write bytecode), then ``--repeats`` times, the commands taking turns so that a load spike hits all of
them alike. The table gives each command's median wall time, its range and the ratio of medians to ``python -c pass``.

An installed CLI runs from cached bytecode after its first start, so the subprocesses write and read theirs under a
temporary ``PYTHONPYCACHEPREFIX`` (``PYTHONDONTWRITEBYTECODE`` dropped; nothing is written into the checkout).
``--as-is`` keeps the environment unchanged instead: with ``PYTHONDONTWRITEBYTECODE=1`` and no ``__pycache__`` in the
checkout, every start compiles the project's sources again.

To time another checkout, run this from outside the repository with ``PYTHONPATH=/path/to/checkout`` (the
subprocesses inherit it, and an editable install yields to it there).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.5  # issue 9: `--help` and `datasets synth --help`, median of 5


def _commands() -> dict[str, list[str]]:
    bin_dir = Path(sys.executable).parent
    cli = str(bin_dir / "semcom-bench")
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "semcom-bench --help": [cli, "--help"],
        "semcom-bench datasets synth --help": [cli, "datasets", "synth", "--help"],
    }


def _wall_time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed with exit status {done.returncode}:\n{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per command (default 5)")
    parser.add_argument("--as-is", action="store_true", help="keep the environment's bytecode settings")
    args = parser.parse_args()
    commands = _commands()
    times: dict[str, list[float]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory(prefix="cli-startup-pyc-") as pycache:
        env = dict(os.environ)
        if args.as_is:
            bytecode = "environment as is, PYTHONDONTWRITEBYTECODE=" + env.get("PYTHONDONTWRITEBYTECODE", "(unset)")
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = pycache
            bytecode = "bytecode cached"
        for argv in commands.values():
            _wall_time(argv, env)
        for _ in range(args.repeats):
            for name, argv in commands.items():
                times[name].append(_wall_time(argv, env))
    med = {name: statistics.median(values) for name, values in times.items()}
    base = med["python -c pass"]
    print(f"CLI start-up, median of {args.repeats} wall times ({sys.executable}, {bytecode}); "
          f"target < {TARGET_S:g} s")
    print(f"  {'command':<36} {'median':>8} {'range':>15} {'x python -c pass':>17}")
    for name, seconds in med.items():
        spread = f"{min(times[name]):.3f}-{max(times[name]):.3f}"
        mark = "" if name == "python -c pass" else ("  ok" if seconds < TARGET_S else "  over target")
        print(f"  {name:<36} {seconds:7.3f}s {spread:>15} {seconds / base:16.1f}x{mark}")


if __name__ == "__main__":
    main()
