"""Dataset adapters: cityscapes, synthcity, visual-genome and folder, all yielding :class:`Sample`."""

from semcom_bench.datasets.base import DATASETS, DatasetAdapter, Instance, Relation, Sample, SkippedItem

__all__ = ["DATASETS", "DatasetAdapter", "Instance", "Relation", "Sample", "SkippedItem"]
