"""The main job on the embedded default: each pipeline issue adds its stage here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semcom_bench.annotate.pipeline import AnnotateConfig, annotate
from semcom_bench.annotate.score import score_labelset
from semcom_bench.datasets.base import DATASETS
from semcom_bench.datasets.stats import DatasetStats, dataset_stats
from semcom_bench.datasets.synthcity import generate

DEMO_TASK = "pedestrian-collision-warning"


@dataclass
class DemoResult:
    """What the demo made: its outputs by name, the generated split's statistics and the label set's scores."""

    dataset_stats: DatasetStats
    scores: dict[str, Any]
    outputs: dict[str, Path] = field(default_factory=dict)


def run_demo(
    out: Path,
    n: int = 64,
    seed: int = 0,
    size: tuple[int, int] = (256, 512),
    progress: Callable[[str, int, int], None] | None = None,
) -> DemoResult:
    """synthcity -> annotate (gt instances, geometric relations, heuristic labeler) -> score against the truth.

    Every step resumes: a second call with the same arguments redoes nothing. ``progress(stage, done, total)``.
    """
    root = out / "synthcity"
    generate(root, n=n, seed=seed, size=size, split="train",
             progress=(lambda k: progress("synthcity", k, n)) if progress else None)
    stats = dataset_stats(DATASETS.get("synthcity")(root=root, split="train"))
    labels = out / "labels"
    config = AnnotateConfig(dataset="synthcity", root=str(root), split="train", task=DEMO_TASK)
    annotate(config, labels, progress=(lambda c, total: progress("annotate", c.done, total)) if progress else None)
    scores = score_labelset(labels, root)
    return DemoResult(stats, scores, {"synthcity dataset (Cityscapes layout)": root, "label set": labels})
