"""The main job on the embedded default: synthcity -> labels -> evaluation of the zoo's trained models and of one
short training run -> report, offline on a CPU.

Every step resumes: a second call with the same arguments redoes nothing that is finished.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semcom_bench.annotate.pipeline import AnnotateConfig, annotate
from semcom_bench.annotate.score import score_labelset
from semcom_bench.benchmark.evaluate import EvalSpec, evaluate, separation_specs
from semcom_bench.benchmark.report import write_report
from semcom_bench.benchmark.train import load_profile, train
from semcom_bench.datasets.base import DATASETS
from semcom_bench.datasets.stats import DatasetStats, dataset_stats
from semcom_bench.datasets.synthcity import generate
from semcom_bench.errors import SemcomError
from semcom_bench.leaderboard.suites import get_suite, publish_baselines
from semcom_bench.zoo.catalog import PREFIX, ZOO_DIR, Recipe, load_recipes, manifests

DEMO_TASK = "pedestrian-collision-warning"
DEMO_SNRS = [-3.0, 0.0, 3.0, 10.0]
DEMO_CBR = 1 / 16
DEMO_SUITE = "synthcity-smoke"  # its label set is the demo's default held-out split
SHORT_RUN = "deepjscc"
"""The scheme the demo trains itself (smoke profile), to show training at work beside the zoo's trained models."""

Progress = Callable[[str, int, int], None]


def synthcity_label_sets(
    out: Path,
    n: int,
    n_val: int,
    seed: int,
    size: tuple[int, int],
    task: str,
    labelers: tuple[str, ...] = ("heuristic",),
    progress: Progress | None = None,
) -> dict[tuple[str, str], Path]:
    """synthcity's train (``n`` images, ``seed``) and val (``n_val``, ``seed + 1``) splits in ``out/synthcity``,
    each labelled for ``task`` (gt instances, geometric relations) by every labeler of ``labelers``.

    Returns the label-set folders by ``(labeler, split)``: ``out/labels-{split}`` for the heuristic labeler,
    ``out/labels-{split}-{labeler}`` for the others. Every step resumes.
    """
    root = out / "synthcity"
    generate(root, n=n, seed=seed, size=size, split="train",
             progress=(lambda k: progress("synthcity", k, n)) if progress else None)
    generate(root, n=n_val, seed=seed + 1, size=size, split="val")
    labels: dict[tuple[str, str], Path] = {}
    for labeler in labelers:
        for split in ("train", "val"):
            name = f"labels-{split}" if labeler == "heuristic" else f"labels-{split}-{labeler}"
            labels[labeler, split] = out / name
            config = AnnotateConfig(dataset="synthcity", root=str(root), split=split, task=task, labeler=labeler)
            tick = (lambda c, total, stage=f"annotate {split} ({labeler})": progress(stage, c.done, total)) \
                if progress else None
            annotate(config, labels[labeler, split], progress=tick)
    return labels


@dataclass
class DemoResult:
    """What the demo made: outputs by name, the training split's statistics, label scores, the report summary, the
    steps of its own short training run and the zoo entries it evaluated."""

    dataset_stats: DatasetStats
    scores: dict[str, Any]
    summary: list[dict[str, Any]]
    outputs: dict[str, Path] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)
    zoo: list[str] = field(default_factory=list)


def zoo_entries(names: list[str] | None) -> list[Recipe]:
    """The recipes of zoo entries ``names`` (``None``: every trained one); an unknown or untrained name fails."""
    recipes = load_recipes()
    trained = [m["name"] for m in manifests()]
    wanted = trained if names is None else [recipes.get(n).name for n in names]
    missing = [n for n in wanted if n not in trained]
    if missing:
        raise SemcomError(f"zoo entries {', '.join(missing)} have no checkpoint",
                          hint=f"train them with `semcom-bench zoo train {' '.join(missing)}`, or leave them out")
    return [recipes.get(n) for n in wanted]


def zoo_spec(recipe: Recipe, static_val: Path) -> EvalSpec:
    """The zoo entry of ``recipe`` at its rate points; an entry that learned from static tiers (OOSC) reads
    ``static_val``'s at the transmitter."""
    return EvalSpec(recipe.scheme, recipe.rates, f"{PREFIX}{recipe.name}",
                    tx_labels=str(static_val) if recipe.labels == "static" else None)


def run_demo(
    out: Path,
    n: int = 48,
    n_eval: int = 8,
    seed: int = 0,
    size: tuple[int, int] = (128, 256),
    steps: int | None = None,
    zoo: list[str] | None = None,
    progress: Progress | None = None,
) -> DemoResult:
    """Generate synthcity (train and val splits), label both (gt instances, geometric relations, the heuristic
    labeler, and the static labeler for OOSC), score the heuristic labels against the truth, train
    :data:`SHORT_RUN` with the ``smoke`` profile (``steps`` overrides it), evaluate it, the zoo's entries ``zoo``
    (``None``: every trained one), the separation baseline and the capacity bound over AWGN on the heuristic val
    labels, write the report, and, when the val split is suite synthcity-smoke's (the defaults), publish the results
    as the suite's baseline leaderboard in ``out/leaderboard``."""
    def stage(name: str) -> Callable[[int, int], None] | None:
        return (lambda done, total: progress(name, done, total)) if progress else None

    entries = zoo_entries(zoo)
    labels = synthcity_label_sets(out, n, n_eval, seed, size, DEMO_TASK, ("heuristic", "static"), progress)
    root = out / "synthcity"
    stats = dataset_stats(DATASETS.get("synthcity")(root=root, split="train"))
    scores = score_labelset(labels["heuristic", "train"], root)
    settings = load_profile("smoke", SHORT_RUN)
    settings.steps = steps or settings.steps
    tick = stage(f"train {SHORT_RUN} (smoke)")
    checkpoint = train(SHORT_RUN, labels["heuristic", "train"], out / "runs" / SHORT_RUN, settings, "smoke",
                       (lambda s: tick(s.step, s.steps)) if tick else None)
    specs = [zoo_spec(recipe, labels["static", "val"]) for recipe in entries]
    specs += [EvalSpec(SHORT_RUN, [], str(checkpoint)), *separation_specs(DEMO_CBR),
              EvalSpec("capacity", [DEMO_CBR], options={"codec": "hevc"}, config="hevc at capacity")]
    results = evaluate(specs, labels["heuristic", "val"], DEMO_SNRS, out / "results.parquet",
                       progress=stage("evaluate"))
    report = write_report(results, out / "report", DEMO_CBR)
    outputs = {
        "synthcity dataset (Cityscapes layout)": root, "label sets": out, "checkpoint of the short run": out / "runs",
        "zoo checkpoints": ZOO_DIR, "results": results,
        "report (plots, summary.json, compressai.json)": out / "report",
    }
    site = publish_baselines(results, labels["heuristic", "val"], out / "leaderboard", get_suite(DEMO_SUITE))
    if site is not None:  # only the default held-out split is the suite's label set
        outputs[f"leaderboard of the baselines on {DEMO_SUITE} (index.html, leaderboard.md)"] = site
    return DemoResult(stats, scores, report["summary"], outputs, {SHORT_RUN: settings.steps},
                      [recipe.name for recipe in entries])
