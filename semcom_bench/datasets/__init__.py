"""Dataset adapters: cityscapes, synthcity, visual-genome and folder, all yielding :class:`Sample`."""

from semcom_bench.datasets import cityscapes, folder, visual_genome  # noqa: F401  (registration)
from semcom_bench.datasets.base import DATASETS, DatasetAdapter, Instance, Relation, Sample, SkippedItem
from semcom_bench.datasets.synthcity import adapter  # noqa: F401  (registration)

__all__ = ["DATASETS", "DatasetAdapter", "Instance", "Relation", "Sample", "SkippedItem"]
