"""The main job on the embedded default: each pipeline issue adds its stage here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from semcom_bench.datasets.base import DATASETS
from semcom_bench.datasets.stats import DatasetStats, dataset_stats
from semcom_bench.datasets.synthcity import generate


@dataclass
class DemoResult:
    """What the demo made: its outputs by name, and the statistics of the generated split."""

    dataset_stats: DatasetStats
    outputs: dict[str, Path] = field(default_factory=dict)


def run_demo(
    out: Path,
    n: int = 64,
    seed: int = 0,
    size: tuple[int, int] = (256, 512),
    progress: Callable[[int], None] | None = None,
) -> DemoResult:
    """Generate synthcity under ``out`` (resumable) and gather its statistics through the synthcity adapter."""
    root = out / "synthcity"
    generate(root, n=n, seed=seed, size=size, split="train", progress=progress)
    stats = dataset_stats(DATASETS.get("synthcity")(root=root, split="train"))
    return DemoResult(stats, {"synthcity dataset (Cityscapes layout)": root})
