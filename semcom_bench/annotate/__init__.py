"""Annotation: detection, scene graph, importance labelers, patch tiers and task-critical masks, written as a label set."""

# Importing the stage modules fills the registries in annotate.base.
from semcom_bench.annotate.detectors import gt, yolo  # noqa: F401
from semcom_bench.annotate.labelers import heuristic, static  # noqa: F401
from semcom_bench.annotate.labelers import mllm as mllm_labeler  # noqa: F401
from semcom_bench.annotate.relations import geometric  # noqa: F401
from semcom_bench.annotate.relations import gt as gt_relations  # noqa: F401
from semcom_bench.annotate.relations import mllm as mllm_relations  # noqa: F401
