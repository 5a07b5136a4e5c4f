"""The installed CLI end to end, in subprocesses as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from semcom_bench.schemas import read_table


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "semcom_bench", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_synth_then_info_reads_it_back(tmp_path: Path) -> None:
    out = tmp_path / "city"
    done = run("datasets", "synth", "--out", str(out), "--n", "3", "--seed", "1", "--size", "128x256")
    assert done.returncode == 0, done.stderr
    assert "wrote 3 images" in done.stdout
    assert len(list((out / "leftImg8bit" / "train").glob("*/*_leftImg8bit.png"))) == 3
    again = run("datasets", "synth", "--out", str(out), "--n", "3", "--seed", "1", "--size", "128x256")
    assert "wrote 0 images (3 already present)" in again.stdout
    info = run("datasets", "info", "cityscapes", "--root", str(out), "--split", "train")
    assert info.returncode == 0, info.stderr
    assert "3 images (128x256 (3))" in info.stdout


def test_errors_are_messages_not_tracebacks(tmp_path: Path) -> None:
    done = run("datasets", "info", "cityscapes", "--root", str(tmp_path / "missing"))
    assert done.returncode == 2
    assert "does not exist" in done.stderr and "Hint:" in done.stderr
    assert "Traceback" not in done.stderr
    unknown = run("datasets", "info", "kitti")
    assert unknown.returncode == 2 and "choose one of" in unknown.stderr


def test_bad_size_is_a_usage_error(tmp_path: Path) -> None:
    done = run("datasets", "synth", "--out", str(tmp_path), "--size", "big")
    assert done.returncode == 2 and "HxW" in done.stderr


@pytest.mark.slow
def test_demo_prints_where_outputs_are(tmp_path: Path) -> None:
    demo = ("demo", "--out", str(tmp_path / "demo"), "--n", "6", "--n-eval", "2", "--steps", "3",
            "--zoo", "deepjscc-1of16,oosc")
    done = run(*demo)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "warn(" not in done.stderr  # the happy path prints no warning
    assert str((tmp_path / "demo" / "synthcity").resolve()) in done.stderr
    assert "6 images" in done.stdout and "relation_f1" in done.stdout
    for scheme in ("deepjscc", "oosc", "separation (best)", "capacity"):
        assert scheme in done.stdout
    rows = read_table(tmp_path / "demo" / "results.parquet", "results").to_pylist()
    configs = {(r["scheme"], r["config"]) for r in rows}
    assert ("deepjscc", "zoo:deepjscc-1of16") in configs and ("deepjscc", "smoke") in configs  # zoo + own run
    assert any(s == "oosc" and c.startswith("zoo:oosc") and "transmitter read static labels" in c
               for s, c in configs)  # oosc sends by the static tiers
    assert "channel uses per importance tier" in done.stdout
    assert "zoo checkpoints evaluated: deepjscc-1of16, oosc" in done.stdout
    assert "the demo's own training run: deepjscc 3 steps (smoke)" in done.stdout  # says how short it was
    assert (tmp_path / "demo" / "report" / "psnr_vs_snr.png").is_file()
    # two held-out images are not suite synthcity-smoke's label set: no leaderboard claims to be it
    assert "leaderboard of the baselines" not in done.stderr and not (tmp_path / "demo" / "leaderboard").exists()
    missing = run("demo", "--out", str(tmp_path / "demo"), "--n", "6", "--n-eval", "2", "--zoo", "nope")
    assert missing.returncode == 2 and "no entry 'nope'" in missing.stderr
    again = run(*demo)
    assert again.returncode == 0, again.stderr  # resumes: nothing to redo is not an error
