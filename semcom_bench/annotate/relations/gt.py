"""The `gt` relation predictor: the dataset's own relations (synthcity's truth, Visual Genome's annotations)."""

from __future__ import annotations

from semcom_bench.annotate.base import RELATION_PREDICTORS, RelationPredictor, Scene, Triplet
from semcom_bench.errors import SemcomError


@RELATION_PREDICTORS.register("gt")
class GroundTruthRelationPredictor(RelationPredictor):
    """Hands on ``Scene.gt_relations`` as triplets with source ``"gt"``.

    The relations name the dataset's instance ids, so the scene's objects must be the dataset's instances (the
    `gt` detector); a relation to an instance the scene lacks is an error rather than a silently dropped triplet.
    """

    name = "gt"

    def predict(self, scene: Scene) -> list[Triplet]:
        if scene.gt_relations is None:
            raise SemcomError(
                f"{scene.image_id}: the dataset has no ground-truth relations",
                hint="use --relations geometric (or mllm); gt relations exist for synthcity and visual_genome",
            )
        classes = {obj.object_id: obj.class_name for obj in scene.objects}
        triplets = []
        for rel in scene.gt_relations:
            missing = [i for i in (rel.subject_id, rel.object) if isinstance(i, int) and i not in classes]
            if missing:
                raise SemcomError(
                    f"{scene.image_id}: a ground-truth relation names instance {missing[0]}, which the detector "
                    "did not report",
                    hint="gt relations refer to the dataset's instance ids: use them with --detector gt",
                )
            if isinstance(rel.object, int):
                triplets.append(Triplet(rel.subject_id, rel.predicate, rel.object, classes[rel.object], None, "gt"))
            else:
                triplets.append(Triplet(rel.subject_id, rel.predicate, None, rel.object, None, "gt"))
        return triplets
