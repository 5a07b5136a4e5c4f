"""Making the zoo: its data, training each recipe with the harness, exporting checkpoint + manifest, measuring.

Everything resumes: the data and the runs live in a work folder (``zoo-work`` by default), the runs are ordinary
``bench train`` run folders, and an interrupted ``zoo train`` continues from their last checkpoints.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from semcom_bench import __version__
from semcom_bench.benchmark.evaluate import EvalSpec, evaluate
from semcom_bench.benchmark.report import summarize
from semcom_bench.benchmark.train import (TrainSettings, TrainState, load_profile, prune_and_finetune,
                                          read_checkpoint, save_checkpoint, train)
from semcom_bench.demo import synthcity_label_sets
from semcom_bench.errors import SemcomError
from semcom_bench.hashing import sha256_file
from semcom_bench.schemas import LabelSet
from semcom_bench.zoo.catalog import ZOO_DIR, Recipe, load_recipes, manifest_path, read_manifest, resolve

PROFILE = "zoo"
LABELERS = ("heuristic", "static")
DATA_COMMAND = "semcom-bench zoo data --work {work}"
KEEP = ("scheme", "hparams", "resolution", "settings", "profile", "step", "wall_s", "hardware", "state_dict",
        "prune_ratio")
"""Checkpoint keys a zoo file keeps: no optimiser states, no paths of the machine that trained it."""

Progress = Callable[[str, int, int], None]


def zoo_data(work: Path, n: int | None = None, progress: Progress | None = None) -> dict[tuple[str, str], Path]:
    """The zoo's training and validation label sets in ``work/data`` (recipes' ``data``; ``n`` training images
    instead of its ``n``, e.g. 1 when only the val split is needed), by ``(labeler, split)``. Resumes."""
    d = load_recipes().data
    return synthcity_label_sets(work / "data", n or d["n"], d["n_val"], d["seed"], tuple(d["size"]), d["task"],
                                LABELERS, progress)


def settings_for(recipe: Recipe) -> TrainSettings:
    """The zoo profile's settings for the recipe's scheme with its overrides (as ``bench train --cbr/--lmbda``)."""
    settings = load_profile(PROFILE, recipe.scheme)
    return replace(settings, hparams={**settings.hparams, **recipe.overrides})


def train_recipe(recipe: Recipe, data: dict[tuple[str, str], Path], work: Path,
                 progress: Callable[[TrainState], None] | None = None) -> Path:
    """Train (or resume) ``recipe`` on ``data`` (:func:`zoo_data` of ``work``) in ``work/runs/NAME``; a pruned recipe
    first trains (or reuses) its scheme's sparse model in ``work/runs/SCHEME-sparse``. Returns the final
    checkpoint."""
    labels = data[recipe.labels, "train"]
    settings = settings_for(recipe)
    out = work / "runs" / recipe.name
    if recipe.prune is None:
        return train(recipe.scheme, labels, out, settings, PROFILE, progress)
    sparse = train(recipe.scheme, labels, work / "runs" / f"{recipe.scheme}-sparse", settings, PROFILE, progress)
    return prune_and_finetune(sparse, labels, out, recipe.prune, settings, PROFILE, progress)


def _lineage(checkpoint: Path) -> list[dict[str, Any]]:
    """The payloads of ``checkpoint`` and every checkpoint it was pruned from, newest first."""
    chain = [read_checkpoint(checkpoint)]
    while "pruned_from" in chain[-1]:
        chain.append(read_checkpoint(Path(chain[-1]["pruned_from"])))
    return chain


def measure(recipe: Recipe, checkpoint: str | Path, val: dict[tuple[str, str], Path]) -> dict[str, Any]:
    """The harness's pooled PSNR, TC-PSNR, tier-3 PSNR and CBR of ``checkpoint`` on the val split at the recipes'
    validation SNR (AWGN, run seed 0, on the CPU, so that every machine can repeat it)."""
    rule = load_recipes().validation
    tx = str(val[recipe.labels, "val"]) if recipe.labels != "heuristic" else None
    spec = EvalSpec(recipe.scheme, [recipe.val_rate] if recipe.val_rate is not None else [], str(checkpoint),
                    tx_labels=tx)
    with tempfile.TemporaryDirectory() as tmp:
        results = evaluate([spec], val["heuristic", "val"], [rule["snr_db"]], Path(tmp) / "results.parquet",
                           device="cpu")
        (entry,) = [e for e in summarize(results) if e["scheme"] == recipe.scheme]
    return {"snr_db": rule["snr_db"], "channel": "awgn", "rate": recipe.val_rate, "seed": 0,
            "images": entry["images"], "cbr": entry["cbr"], "psnr": entry["psnr"], "tc_psnr": entry["tc_psnr"],
            "psnr_tier3": entry["psnr_tier3"]}


def _file_name(name: str, digest: str) -> str:
    return f"{name}-{digest[:8]}.pt"


def export(recipe: Recipe, checkpoint: Path, data: dict[tuple[str, str], Path], work: Path,
           root: Path = ZOO_DIR) -> dict[str, Any]:
    """Write ``checkpoint`` (a finished run of ``recipe`` on ``data``, :func:`zoo_data` of ``work``) into the zoo
    ``root`` as ``NAME-XXXXXXXX.pt`` plus ``NAME.json``, measured on the val split; the entry's previous file is
    removed. Returns the manifest."""
    chain = _lineage(checkpoint)
    payload = chain[0]
    if payload["step"] < payload["settings"]["steps"]:
        raise SemcomError(f"{checkpoint} stopped at step {payload['step']} of {payload['settings']['steps']}",
                          hint=f"finish it with `semcom-bench zoo train {recipe.name}`")
    train_labels = LabelSet.open(data[recipe.labels, "train"])
    stripped = {key: payload[key] for key in KEEP if key in payload}
    stripped.update(zoo_entry=recipe.name, labelset=train_labels.content_hash())
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{recipe.name}.pt"
    save_checkpoint(tmp, stripped)
    digest = sha256_file(tmp)
    path = root / _file_name(recipe.name, digest)
    tmp.replace(path)
    for old in root.glob(f"{recipe.name}-*.pt"):  # an earlier export of this entry (exact names only)
        if old != path and re.fullmatch(rf"{re.escape(recipe.name)}-[0-9a-f]{{8}}\.pt", old.name):
            old.unlink()
    manifest = {
        "name": recipe.name, "file": path.name, "sha256": digest, "size_bytes": path.stat().st_size,
        "scheme": recipe.scheme, "hparams": payload["hparams"], "profile": PROFILE,
        "settings": {k: v for k, v in payload["settings"].items() if k not in ("hparams", "device")},
        "steps": sum(p["step"] for p in chain), "wall_s": round(sum(p.get("wall_s", 0.0) for p in chain), 1),
        "hardware": payload.get("hardware", "unknown"), "seed": chain[-1]["settings"]["seed"],
        "version": __version__, "torch": torch.__version__, "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "prune_ratio": payload.get("prune_ratio"),
        "training_labels": {"hash": train_labels.content_hash(), "labeler": recipe.labels, "split": "train",
                            "images": len(train_labels.read("images")),
                            "command": DATA_COMMAND.format(work=work), "data": load_recipes().data},
        "train_command": f"semcom-bench zoo train {recipe.name} --work {work}",
        "validation": {**measure(recipe, path, data),
                       "labels": LabelSet.open(data["heuristic", "val"]).content_hash(),
                       "tolerance_db": load_recipes().validation["tolerance_db"]},
    }
    manifest_path(recipe.name, root).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def check(names: list[str], cache: Path, root: Path = ZOO_DIR) -> list[dict[str, Any]]:
    """Re-measure zoo entries ``names`` on the val split (built in ``cache``) and compare with their manifests.

    Each row: ``name``, ``recorded`` and ``measured`` PSNR, ``delta``, ``tolerance`` and ``ok``. The SHA-256 of each
    file is checked on the way (:func:`semcom_bench.zoo.catalog.resolve` fails on a mismatch)."""
    val = zoo_data(cache, n=1)
    found = LabelSet.open(val["heuristic", "val"]).content_hash()
    rows = []
    for name in names:
        manifest = read_manifest(name, root)
        if found != manifest["validation"]["labels"]:
            raise SemcomError(f"the val split built in {cache} has content hash {found}; {name} was measured on "
                              f"{manifest['validation']['labels']}", hint="the recipes' data or the labeler changed "
                              f"since the export: retrain with `semcom-bench zoo train {name}`")
        path = resolve(f"zoo:{name}", root)
        measured = measure(load_recipes().get(name), path, val)["psnr"]
        recorded = manifest["validation"]["psnr"]
        tolerance = manifest["validation"]["tolerance_db"]
        rows.append({"name": name, "recorded": recorded, "measured": measured, "delta": measured - recorded,
                     "tolerance": tolerance, "ok": abs(measured - recorded) <= tolerance})
    return rows
