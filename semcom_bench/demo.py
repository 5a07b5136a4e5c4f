"""The main job on the embedded default: synthcity -> labels -> training -> evaluation -> report, offline on a CPU.

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
from semcom_bench.leaderboard.suites import get_suite, publish_baselines

DEMO_TASK = "pedestrian-collision-warning"
DEMO_SNRS = [-3.0, 0.0, 3.0, 10.0]
DEMO_CBR = 1 / 16
DEMO_SUITE = "synthcity-smoke"  # its label set is the demo's default held-out split
# eta of the variable-rate schemes: their smoke models' CBR runs from ~1/100 to past Deep JSCC's 1/16 over these.
ETAS = [0.025, 0.1, 0.4, 1.6]
# Every trainable scheme with its rate points (none: the model's fixed CBR); oosc reads the static labeler's tiers.
TRAINED = (("deepjscc", []), ("ntscc", ETAS), ("oosc", ETAS), ("saoosc", ETAS), ("saoosc-pred", ETAS),
           ("inscom", ETAS))
STATIC_TIERS = ("oosc",)

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
    """What the demo made: outputs by name, the training split's statistics, label scores, the report summary and
    the training steps of each scheme."""

    dataset_stats: DatasetStats
    scores: dict[str, Any]
    summary: list[dict[str, Any]]
    outputs: dict[str, Path] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)


def run_demo(
    out: Path,
    n: int = 48,
    n_eval: int = 8,
    seed: int = 0,
    size: tuple[int, int] = (128, 256),
    steps: int | None = None,
    progress: Progress | None = None,
) -> DemoResult:
    """Generate synthcity (train and val splits), label both (gt instances, geometric relations, the heuristic
    labeler, and the static labeler for OOSC), score the heuristic labels against the truth, train every trainable
    scheme (:data:`TRAINED`) with the ``smoke`` profile (``steps`` overrides it for all), evaluate them with the
    separation baseline and the capacity bound over AWGN on the heuristic val labels (OOSC's transmitter reading the
    static ones), write the report, and, when the val split is suite synthcity-smoke's (the defaults), publish the
    results as the suite's baseline leaderboard in ``out/leaderboard``."""
    def stage(name: str) -> Callable[[int, int], None] | None:
        return (lambda done, total: progress(name, done, total)) if progress else None

    labels = synthcity_label_sets(out, n, n_eval, seed, size, DEMO_TASK, ("heuristic", "static"), progress)
    root = out / "synthcity"
    stats = dataset_stats(DATASETS.get("synthcity")(root=root, split="train"))
    scores = score_labelset(labels["heuristic", "train"], root)
    specs: list[EvalSpec] = []
    trained: dict[str, int] = {}
    for scheme, rates in TRAINED:
        tiers = "static" if scheme in STATIC_TIERS else "heuristic"
        settings = load_profile("smoke", scheme)
        settings.steps = trained[scheme] = steps or settings.steps
        tick = stage(f"train {scheme}")
        checkpoint = train(scheme, labels[tiers, "train"], out / "runs" / scheme, settings, "smoke",
                           (lambda s, t=tick: t(s.step, s.steps)) if tick else None)
        specs.append(EvalSpec(scheme, rates, str(checkpoint),
                              tx_labels=str(labels[tiers, "val"]) if scheme in STATIC_TIERS else None))
    specs += separation_specs(DEMO_CBR)
    specs.append(EvalSpec("capacity", [DEMO_CBR], options={"codec": "hevc"}, config="hevc at capacity"))
    results = evaluate(specs, labels["heuristic", "val"], DEMO_SNRS, out / "results.parquet",
                       progress=stage("evaluate"))
    report = write_report(results, out / "report")
    outputs = {
        "synthcity dataset (Cityscapes layout)": root, "label sets": out, "checkpoints": out / "runs",
        "results": results, "report (plots, summary.json, compressai.json)": out / "report",
    }
    site = publish_baselines(results, labels["heuristic", "val"], out / "leaderboard", get_suite(DEMO_SUITE))
    if site is not None:  # only the default held-out split is the suite's label set
        outputs[f"leaderboard of the baselines on {DEMO_SUITE} (index.html, leaderboard.md)"] = site
    return DemoResult(stats, scores, report["summary"], outputs, trained)
