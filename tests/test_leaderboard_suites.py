"""Suites fix their label set by content hash; a submission evaluated on one is paired, rerun-safe and never merged
with another suite's results."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from semcom_bench.annotate.pipeline import AnnotateConfig, annotate
from semcom_bench.benchmark.evaluate import pair_seed
from semcom_bench.datasets.synthcity import generate
from semcom_bench.demo import synthcity_label_sets
from semcom_bench.errors import SemcomError
from semcom_bench.leaderboard.manifest import load_manifest
from semcom_bench.leaderboard.scaffold import scaffold
from semcom_bench.leaderboard.suites import (
    SUITE_FILE,
    claim_folder,
    evaluate_submission,
    get_suite,
    submission_identity,
    suite_labels,
)
from semcom_bench.schemas import LabelSet, read_table

SMOKE = get_suite("synthcity-smoke")


def test_content_hash_follows_the_labels_not_the_folder(tmp_path: Path) -> None:
    generate(tmp_path / "city", n=2, seed=3, size=(64, 128), split="val")
    config = AnnotateConfig(dataset="synthcity", root=str(tmp_path / "city"), split="val",
                            task="pedestrian-collision-warning")
    annotate(config, tmp_path / "a")
    annotate(config, tmp_path / "b")
    shutil.copytree(tmp_path / "a", tmp_path / "moved")
    hashes = {LabelSet.open(tmp_path / name).content_hash() for name in ("a", "b", "moved")}
    assert len(hashes) == 1 and next(iter(hashes)).startswith("sha256:")
    changed = LabelSet.open(tmp_path / "moved")
    patches = changed.read("patches").to_pylist()
    patches[0]["importance"][0] = (patches[0]["importance"][0] + 1) % 4  # one patch's tier
    changed.write("patches", patches)
    assert changed.content_hash() not in hashes


def test_the_smoke_suite_is_make_demos_held_out_split(tmp_path: Path) -> None:
    built = suite_labels(SMOKE, tmp_path / "cache")
    assert LabelSet.open(built).content_hash() == SMOKE.labelset_hash
    demo = synthcity_label_sets(tmp_path / "demo", 1, 8, 0, (128, 256), SMOKE.task)
    assert LabelSet.open(demo["heuristic", "val"]).content_hash() == SMOKE.labelset_hash
    with pytest.raises(SemcomError, match="is scored on"):
        suite_labels(SMOKE, tmp_path, labels=demo["heuristic", "train"])  # other images


def test_results_of_another_suite_are_refused(tmp_path: Path) -> None:
    claim_folder(tmp_path, SMOKE, "sha256:aaaa")
    claim_folder(tmp_path, SMOKE, "sha256:aaaa")  # the same suite and labels: fine
    with pytest.raises(SemcomError, match="never merged") as err:
        claim_folder(tmp_path, SMOKE, "sha256:bbbb")
    assert "sha256:aaaa" in str(err.value) and "sha256:bbbb" in str(err.value)
    assert json.loads((tmp_path / SUITE_FILE).read_text())["labelset_hash"] == "sha256:aaaa"


@pytest.mark.slow
def test_a_submission_is_evaluated_once_per_key_and_named_by_its_content(tmp_path: Path) -> None:
    folder = scaffold("my-codec", tmp_path / "sub")
    results = evaluate_submission(folder, SMOKE, tmp_path / "board")
    rows = read_table(results, "results").to_pylist()
    points = len(load_manifest(folder).operating_points) * len(SMOKE.snrs) * 8
    assert len(rows) == points and {r["scheme"] for r in rows} == {"my-codec"}
    identity = submission_identity(load_manifest(folder))
    assert {r["model"] for r in rows} == {identity}
    assert all(r["seed"] == pair_seed(SMOKE.seed, r["image_id"], r["snr_db"]) for r in rows)  # paired draws
    assert all(r["side_uses"] > 0 and r["cbr"] <= 0.1265 for r in rows)  # the header priced by the suite's rule
    high, low = (sum(r["psnr"] for r in rows if r["snr_db"] == s and r["rate"] == 0.125) / 8 for s in (10.0, -3.0))
    assert high > low + 3.0  # an analog scheme: its quality follows the SNR
    evaluate_submission(folder, SMOKE, tmp_path / "board")  # a rerun: nothing lost, nothing twice
    assert len(read_table(results, "results").to_pylist()) == points
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["version"] = "0.2.0"  # another version is another entry
    (folder / "manifest.json").write_text(json.dumps(manifest))
    evaluate_submission(folder, SMOKE, tmp_path / "board")
    again = read_table(results, "results").to_pylist()
    assert len(again) == 2 * points and len({r["model"] for r in again}) == 2


@pytest.mark.slow
def test_the_cli_checks_before_it_evaluates(tmp_path: Path) -> None:
    folder = scaffold("my-codec", tmp_path / "sub")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["operating_points"][0]["cbr"] = 0.05  # claims less than it spends
    (folder / "manifest.json").write_text(json.dumps(manifest))
    done = subprocess.run([sys.executable, "-m", "semcom_bench", "leaderboard", "evaluate", str(folder), "--out",
                           str(tmp_path / "board")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 1 and "FAIL cbr" in done.stdout and "fix it before it is evaluated" in done.stdout
    assert not (tmp_path / "board" / "results.parquet").exists()


@pytest.mark.slow
def test_built_in_baselines_are_published_only_on_the_suites_own_labels(tmp_path: Path) -> None:
    from semcom_bench.benchmark.evaluate import EvalSpec, evaluate
    from semcom_bench.leaderboard.suites import publish_baselines

    labels = suite_labels(SMOKE, tmp_path / "cache")
    results = evaluate([EvalSpec("capacity", list(SMOKE.cbrs), options={"codec": "hevc"}, config="hevc at capacity")],
                       labels, list(SMOKE.snrs), tmp_path / "results.parquet", seed=SMOKE.seed,
                       side_rule=SMOKE.side_rule)
    site = publish_baselines(results, labels, tmp_path / "board", SMOKE)
    assert site is not None and "| 1 | capacity hevc at capacity |" in (site / "leaderboard.md").read_text()
    other = synthcity_label_sets(tmp_path / "other", 1, 2, 5, (128, 256), SMOKE.task)["heuristic", "val"]
    assert publish_baselines(results, other, tmp_path / "board2", SMOKE) is None
    assert not (tmp_path / "board2").exists()
    few = evaluate([EvalSpec("capacity", list(SMOKE.cbrs), options={"codec": "hevc"}, config="hevc at capacity")],
                   labels, [10.0], tmp_path / "few.parquet", side_rule=SMOKE.side_rule)
    with pytest.raises(SemcomError, match="not suite 'synthcity-smoke'"):
        publish_baselines(few, labels, tmp_path / "board3", SMOKE)
