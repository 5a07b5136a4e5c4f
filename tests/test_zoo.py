"""The zoo: every recipe trained, each file matching its manifest's hash, the whole small, every entry reproducing its
recorded validation PSNR; ``zoo:NAME`` wherever a checkpoint path goes; clear errors for damaged or missing files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from semcom_bench.benchmark.evaluate import file_identity
from semcom_bench.benchmark.train import load_profile, read_checkpoint, save_checkpoint, train
from semcom_bench.errors import SemcomError
from semcom_bench.hashing import sha256_file
from semcom_bench.schemas import LabelSet, read_table
from semcom_bench.zoo.build import check, export, measure, settings_for, zoo_data
from semcom_bench.zoo.catalog import ZOO_DIR, Recipe, load_recipes, manifests, read_manifest, resolve

SMALL = "deepjscc-1of16"  # the smallest entry, for the tests that copy or run one


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "semcom_bench", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def val(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """The zoo's val split (both labelers) built from scratch, with a one-image train split beside it."""
    return zoo_data(tmp_path_factory.mktemp("zoo-work"), n=1)


def test_every_recipe_has_a_checkpoint_whose_file_matches_its_manifest() -> None:
    recipes = load_recipes()
    found = manifests()
    assert [m["name"] for m in found] == list(recipes.entries)
    total = 0
    for m in found:
        path = ZOO_DIR / m["file"]
        assert m["file"] == f"{m['name']}-{m['sha256'][:8]}.pt"
        assert sha256_file(path) == m["sha256"] and path.stat().st_size == m["size_bytes"]
        total += m["size_bytes"]
        payload = read_checkpoint(path)
        assert payload["zoo_entry"] == m["name"] and payload["scheme"] == m["scheme"] == recipes.get(m["name"]).scheme
        assert "optimizer" not in payload and payload["labelset"] == m["training_labels"]["hash"]
        assert payload["hparams"] == m["hparams"]
        settings = settings_for(recipes.get(m["name"]))
        for key, value in recipes.get(m["name"]).overrides.items():
            assert m["hparams"][key] == pytest.approx(value, rel=1e-6)  # deepjscc stores its exact CBR
        # a pruned entry adds its fine-tuning rounds to the sparse training
        rounds = settings.prune_rounds * settings.finetune_steps if m["prune_ratio"] is not None else 0
        assert m["steps"] == settings.steps + rounds and m["wall_s"] > 0
        assert m["training_labels"]["images"] == load_recipes().data["n"]
    assert total < 100 * 2**20
    assert sorted(p.name for p in ZOO_DIR.glob("*.pt")) == sorted(m["file"] for m in found)  # no stray weights


def test_every_zoo_checkpoint_reproduces_the_val_psnr_in_its_manifest(val: dict[tuple[str, str], Path]) -> None:
    rows = check(list(load_recipes().entries), val["heuristic", "val"].parent.parent)
    off = [r for r in rows if not r["ok"]]
    assert not off, f"outside the manifests' tolerance: {off}"
    assert len(rows) == len(load_recipes().entries)


@pytest.mark.slow
def test_the_data_command_regenerates_the_training_labels_every_manifest_names(tmp_path: Path) -> None:
    done = run("zoo", "data", "--work", str(tmp_path))
    assert done.returncode == 0, done.stderr
    for m in manifests():
        labeler = m["training_labels"]["labeler"]
        folder = tmp_path / "data" / ("labels-train" if labeler == "heuristic" else f"labels-train-{labeler}")
        assert str(folder.resolve()) in done.stdout
        assert LabelSet.open(folder).content_hash() == m["training_labels"]["hash"], m["name"]


def test_a_zoo_name_works_as_the_checkpoint_of_bench_eval(tmp_path: Path, val: dict[tuple[str, str], Path]) -> None:
    out = tmp_path / "results.parquet"
    done = run("bench", "eval", "--scheme", "deepjscc", "--checkpoint", f"zoo:{SMALL}", "--labels",
               str(val["heuristic", "val"]), "--out", str(out), "--snr", "10", "--limit", "2")
    assert done.returncode == 0, done.stderr
    rows = read_table(out, "results").to_pylist()
    path = ZOO_DIR / read_manifest(SMALL)["file"]
    assert len(rows) == 2 and {r["model"] for r in rows} == {file_identity(path)}
    assert {r["config"] for r in rows} == {f"zoo:{SMALL}"} and {r["checkpoint"] for r in rows} == {str(path)}
    wrong = run("bench", "eval", "--scheme", "ntscc", "--checkpoint", f"zoo:{SMALL}", "--labels",
                str(val["heuristic", "val"]), "--out", str(out), "--snr", "10")
    assert wrong.returncode == 2 and "not 'ntscc'" in wrong.stderr


def test_zoo_list_prints_every_entry_with_its_psnr_and_the_total_size() -> None:
    done = run("zoo", "list")
    assert done.returncode == 0, done.stderr
    total = sum(m["size_bytes"] for m in manifests())
    assert f"total size: {total / 2**20:.1f} MiB" in done.stdout
    for m in manifests():
        line = next(line for line in done.stdout.splitlines() if f" {m['name']} " in line)
        assert f"{m['validation']['psnr']:.2f}" in line and m["sha256"][:8] in line


def _copy(entry: str, root: Path) -> Path:
    m = read_manifest(entry)
    shutil.copy(ZOO_DIR / m["file"], root / m["file"])
    shutil.copy(ZOO_DIR / f"{entry}.json", root / f"{entry}.json")
    return root / m["file"]


def test_a_damaged_missing_or_unknown_zoo_entry_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = _copy(SMALL, tmp_path)
    assert resolve(f"zoo:{SMALL}", tmp_path) == path
    assert resolve("runs/a", tmp_path) == Path("runs/a")  # not a zoo name: a path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(SemcomError, match="SHA-256") as err:
        resolve(f"zoo:{SMALL}", tmp_path)
    assert "restore it from git" in err.value.hint and f"zoo train {SMALL}" in err.value.hint
    path.unlink()
    with pytest.raises(SemcomError, match="is missing"):
        resolve(f"zoo:{SMALL}", tmp_path)
    with pytest.raises(SemcomError, match="no entry 'deepjscc-1of99'") as err:
        resolve("zoo:deepjscc-1of99", tmp_path)
    assert SMALL in err.value.hint
    with pytest.raises(SemcomError, match="has no checkpoint") as err:
        resolve("zoo:ntscc-l64", tmp_path)  # a known entry, not in this root
    assert "zoo train ntscc-l64" in err.value.hint
    manifest = tmp_path / f"{SMALL}.json"
    manifest.write_text("{not json")
    with pytest.raises(SemcomError, match="not valid JSON"):
        resolve(f"zoo:{SMALL}", tmp_path)
    manifest.write_text(json.dumps({"name": SMALL}))
    with pytest.raises(SemcomError, match="lacks file, sha256"):
        resolve(f"zoo:{SMALL}", tmp_path)


def test_export_writes_a_stripped_hashed_file_with_its_manifest_and_replaces_the_last(
    tmp_path: Path, val: dict[tuple[str, str], Path], one_torch_thread: None
) -> None:
    recipe = Recipe(name=SMALL, scheme="deepjscc", cbr=0.0625)
    settings = load_profile("smoke", "deepjscc")
    settings.steps, settings.checkpoint_every = 2, 1
    run_dir, root = tmp_path / "run", tmp_path / "zoo"
    first = export(recipe, train("deepjscc", val["heuristic", "train"], run_dir, settings, "zoo"), val, tmp_path, root)
    assert (root / first["file"]).is_file() and first["file"] == f"{SMALL}-{first['sha256'][:8]}.pt"
    assert first["steps"] == 2 and first["seed"] == 0 and first["hardware"]
    assert first["training_labels"]["hash"] == LabelSet.open(val["heuristic", "train"]).content_hash()
    assert first["training_labels"]["command"] == f"semcom-bench zoo data --work {tmp_path}"
    assert first["validation"]["labels"] == LabelSet.open(val["heuristic", "val"]).content_hash()
    payload = torch.load(root / first["file"], weights_only=True)
    assert "optimizer" not in payload and str(tmp_path) not in json.dumps({k: v for k, v in payload.items()
                                                                         if k != "state_dict"})
    assert measure(recipe, root / first["file"], val) == {k: first["validation"][k] for k in
                                                        ("snr_db", "channel", "rate", "seed", "images", "cbr",
                                                         "psnr", "tc_psnr", "psnr_tier3")}
    settings.steps = 4
    second = export(recipe, train("deepjscc", val["heuristic", "train"], run_dir, settings, "zoo"), val, tmp_path,
                    root)
    assert second["steps"] == 4 and second["sha256"] != first["sha256"]
    assert sorted(p.name for p in root.glob("*.pt")) == [second["file"]]  # the previous export is gone
    stopped = read_checkpoint(run_dir / "checkpoint.pt")
    stopped["settings"]["steps"] = 10
    save_checkpoint(run_dir / "checkpoint.pt", stopped)
    with pytest.raises(SemcomError, match="stopped at step 4 of 10"):
        export(recipe, run_dir / "checkpoint.pt", val, tmp_path, root)
    assert sorted(p.name for p in root.glob("*.pt")) == [second["file"]]
