"""The CLI starts without the heavy libraries: help and the light commands never import them, and print no warnings.

Each check runs in a fresh interpreter (``sys.modules`` of this test process holds whatever other tests imported).
Timings are not asserted here; ``benchmarks/cli_startup.py`` measures them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "compressai", "torch_geometric", "ultralytics", "sionna", "matplotlib", "openai")

# Runs the CLI as the console script does (main() parses sys.argv), then reports which heavy modules are loaded.
WRAPPER = f"""
import json, sys
from semcom_bench.cli import main
sys.argv = ["semcom-bench", *sys.argv[1:]]
try:
    main()
except SystemExit as exit:
    code = exit.code
else:
    code = 0
print("HEAVY=" + json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
print("EXIT=" + json.dumps(code))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)  # what a user sees: Python's default filters
    return env


def _run_cli(*args: str) -> tuple[list[str], object, subprocess.CompletedProcess[str]]:
    done = subprocess.run([sys.executable, "-c", WRAPPER, *args], capture_output=True, text=True, timeout=120,
                          env=_env())
    lines = done.stdout.splitlines()
    assert lines and lines[-1].startswith("EXIT="), done.stderr
    heavy = json.loads(lines[-2].removeprefix("HEAVY="))
    return heavy, json.loads(lines[-1].removeprefix("EXIT=")), done


def test_importing_the_cli_loads_no_heavy_library() -> None:
    code = f"import json, sys, semcom_bench.cli; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=_env())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize("args", [("--help",), ("datasets", "synth", "--help"), ("bench", "eval", "--help")])
def test_help_loads_no_heavy_library(args: tuple[str, ...]) -> None:
    heavy, code, done = _run_cli(*args)
    assert code == 0, done.stderr
    assert "Usage" in done.stdout
    assert heavy == []


def test_datasets_synth_runs_without_torch_or_compressai(tmp_path: Path) -> None:
    heavy, code, done = _run_cli("datasets", "synth", "--out", str(tmp_path / "city"), "--n", "1", "--size", "64x128")
    assert code == 0, done.stderr
    assert "wrote 1 images" in done.stdout
    assert heavy == []


@pytest.mark.parametrize("args", [("--help",), ("datasets", "list"), ("labels", "stats", "--help")])
def test_light_commands_print_no_warnings(args: tuple[str, ...]) -> None:
    """A FutureWarning from a dependency (torch_geometric, via compressai) used to open every command's output."""
    done = subprocess.run([sys.executable, "-m", "semcom_bench", *args], capture_output=True, text=True, timeout=120,
                          env=_env())
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "warnings.warn" not in done.stderr, done.stderr


def test_first_plot_logs_no_font_cache_line(tmp_path: Path) -> None:
    """matplotlib's "generated new fontManager" (INFO, on a fresh MPLCONFIGDIR as `make demo` has) is not shown."""
    rows = [{"ebn0_db": 1.0, "ber": 1e-2, "fer": 1e-1}, {"ebn0_db": 2.0, "ber": 1e-3, "fer": 1e-2}]
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    env = _env() | {"MPLCONFIGDIR": str(tmp_path / "mpl")}  # empty: matplotlib builds its font cache
    done = subprocess.run(
        [sys.executable, "-m", "semcom_bench", "phy", "plot", str(tmp_path / "rows.json"), "--out",
         str(tmp_path / "ber.png")], capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ber.png").is_file()
    assert list((tmp_path / "mpl").glob("fontlist-*.json")), "matplotlib did not build its font cache here"
    assert "fontManager" not in done.stderr and "font cache" not in done.stderr, done.stderr
