"""Statistics of a dataset split, gathered by iterating its adapter once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from semcom_bench.datasets.base import DatasetAdapter, SkippedItem


@dataclass
class DatasetStats:
    """What one pass over a split saw."""

    dataset: str
    split: str
    images: int = 0
    sizes: Counter[tuple[int, int]] = field(default_factory=Counter)
    instances: Counter[str] = field(default_factory=Counter)
    predicates: Counter[str] = field(default_factory=Counter)
    semantic_maps: int = 0
    skipped: list[SkippedItem] = field(default_factory=list)

    @property
    def instances_per_image(self) -> float:
        return sum(self.instances.values()) / self.images if self.images else 0.0


def dataset_stats(
    adapter: DatasetAdapter, limit: int | None = None, progress: Callable[[int], None] | None = None
) -> DatasetStats:
    """Count images, sizes, instances per class and relations per predicate of ``adapter`` (first ``limit`` ids)."""
    stats = DatasetStats(adapter.name, adapter.split)
    ids = adapter.ids()[:limit] if limit else adapter.ids()
    for done, image_id in enumerate(ids, start=1):
        sample = adapter.try_load(image_id)
        if sample is not None:
            stats.images += 1
            stats.sizes[(sample.height, sample.width)] += 1
            stats.instances.update(inst.class_name for inst in sample.instances)
            stats.predicates.update(rel.predicate for rel in sample.relations or ())
            stats.semantic_maps += sample.semantic is not None
        if progress is not None:
            progress(done)
    stats.skipped = list(adapter.skipped)
    return stats
