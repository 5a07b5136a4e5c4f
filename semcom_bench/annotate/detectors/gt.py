"""The `gt` detector: the dataset's own instances (Cityscapes gtFine, synthcity, Visual Genome boxes)."""

from __future__ import annotations

from semcom_bench.annotate.base import DETECTORS, Detection, Detector, Scene
from semcom_bench.datasets.base import Sample
from semcom_bench.errors import SemcomError


@DETECTORS.register("gt")
class GroundTruthDetector(Detector):
    """Hands the dataset's instances on unchanged; ``object_id`` is the dataset's instance id."""

    name = "gt"

    def detect(self, sample: Sample) -> Scene:
        if sample.dataset == "folder":
            raise SemcomError(
                f"{sample.image_id}: the folder dataset has no ground-truth instances",
                hint="use --detector yolo --weights PATH for plain image folders",
            )
        objects = [
            Detection(inst.instance_id, inst.class_name, inst.bbox, inst.mask, None, "gt") for inst in sample.instances
        ]
        return Scene(sample.image_id, sample.image, objects, sample.semantic, sample.relations)
