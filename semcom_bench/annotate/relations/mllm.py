"""The MLLM relation predictor: one set-of-mark request per image for its ``<subject, predicate, object>`` triplets.

Predicates come from the vocabulary (``schemas/predicates.yaml``); objects are numbered instances or stuff regions
(``vocabulary.STUFF_OBJECTS``). Use :meth:`MLLMRelationPredictor.predict_result` to keep the ``llm_calls`` rows and to
get a failed image as a value; :meth:`~MLLMRelationPredictor.predict` raises for it instead.
"""

from __future__ import annotations

from typing import Any

from semcom_bench.annotate.base import RELATION_PREDICTORS, RelationPredictor, RelationResult, Scene, Triplet
from semcom_bench.annotate.mllm.marks import mark
from semcom_bench.annotate.mllm.prompts import relation_messages
from semcom_bench.annotate.mllm.stage import MLLMStage
from semcom_bench.errors import SemcomError
from semcom_bench.schemas.answers import answer_schema

SCHEMA_NAME = "mllm_relations"
OUTPUT_TOKENS_PER_OBJECT = 30
"""Expected answer tokens per object: about 1.5 triplets of ``{"subject": 3, "predicate": "...", "object": "..."}``."""
OUTPUT_TOKENS_BASE = 10


class RelationPredictionError(SemcomError):
    """One image's relations could not be predicted; ``calls`` holds the ``llm_calls`` rows of the attempts."""

    def __init__(self, message: str, calls: list[dict[str, Any]]) -> None:
        super().__init__(message, hint="see the image's llm_calls rows; check the server and the model")
        self.calls = calls


@RELATION_PREDICTORS.register("mllm")
class MLLMRelationPredictor(MLLMStage, RelationPredictor):
    """Triplets from a multimodal LLM behind any OpenAI-compatible server; options as for the MLLM labeler
    (the fields of :class:`~semcom_bench.annotate.mllm.client.MLLMSettings`). Thread-safe."""

    name = "mllm"

    def predict(self, scene: Scene) -> list[Triplet]:
        """Triplets of ``scene`` (source ``mllm:<model>``); raises :class:`RelationPredictionError` if none came."""
        result = self.predict_result(scene)
        if result.error is not None:
            raise RelationPredictionError(f"{scene.image_id}: {result.error}", result.calls)
        return result.triplets

    def predict_result(self, scene: Scene) -> RelationResult:
        """Triplets of ``scene`` with the ``llm_calls`` rows, or a result with ``error`` set; never raises for
        transport or answer errors."""
        if not scene.objects:
            return RelationResult(triplets=[], source=self.source)
        marked = mark(scene)
        count = len(marked.object_ids)
        answer = self.client.ask(
            scene.image_id,
            relation_messages(scene, marked.data_url, self.settings.detail),
            SCHEMA_NAME,
            _schema(count),
            lambda payload: _check(payload, count),
        )
        if answer.payload is None:
            return RelationResult(triplets=[], source=self.source, calls=answer.calls, error=answer.error)
        triplets: list[Triplet] = []
        for entry in answer.payload["triplets"]:
            obj = entry["object"]
            object_id = marked.object_ids[obj] if isinstance(obj, int) else None
            triplet = Triplet(
                subject_id=marked.object_ids[entry["subject"]],
                predicate=entry["predicate"],
                object_id=object_id,
                object_class=scene.object(object_id).class_name if object_id is not None else obj,
                source=self.source,
            )
            if triplet not in triplets:  # a repeated triplet says nothing new
                triplets.append(triplet)
        return RelationResult(triplets=triplets, source=self.source, calls=answer.calls)

    def estimate(self, scene: Scene) -> dict[str, Any]:
        """Expected ``requests``, ``tokens_in``, ``tokens_out`` and ``cost_usd`` (``None`` if the price is unknown)
        of ``scene``'s request, assuming a valid first answer; a cached answer counts as zero. Sends nothing."""
        count = len(scene.objects)
        return self._estimate(
            scene,
            lambda url: relation_messages(scene, url, self.settings.detail),
            _schema(count),
            OUTPUT_TOKENS_BASE + OUTPUT_TOKENS_PER_OBJECT * count,
        )


def _schema(count: int) -> dict[str, Any]:
    """The relations schema with subjects and instance objects narrowed to the numbers drawn."""
    schema = answer_schema(SCHEMA_NAME)
    item = schema["properties"]["triplets"]["items"]["properties"]
    item["subject"]["enum"] = list(range(1, count + 1))
    item["object"]["anyOf"][0]["enum"] = list(range(1, count + 1))
    schema["properties"]["unrelated"]["items"]["enum"] = list(range(1, count + 1))
    return schema


def _check(payload: dict[str, Any], count: int) -> None:
    """Subjects and instance objects are drawn numbers, no object relates to itself, and every number is accounted
    for: the subject of a triplet or listed in ``unrelated``, not both (an answer that drops objects would otherwise
    be cached as good). Raises :class:`InvalidAnswer`. Predicates and stuff names are checked by the schema's enums.
    """
    problems = []
    subjects = {entry["subject"] for entry in payload["triplets"]}
    unrelated = set(payload["unrelated"])
    if missing := [n for n in range(1, count + 1) if n not in subjects | unrelated]:
        problems.append(f"objects not accounted for: {_numbers(missing)}; give each a triplet or list it in "
                        '"unrelated"')
    if both := sorted(subjects & unrelated):
        problems.append(f'objects both in triplets and in "unrelated": {_numbers(both)}')
    for i, entry in enumerate(payload["triplets"]):
        subject, obj = entry["subject"], entry["object"]
        if not 1 <= subject <= count:
            problems.append(f"triplets[{i}]: no object #{subject}; the numbers are 1 to {count}")
        if isinstance(obj, int) and not 1 <= obj <= count:
            problems.append(f"triplets[{i}]: no object #{obj}; the numbers are 1 to {count}")
        elif obj == subject:
            problems.append(f"triplets[{i}]: #{subject} cannot relate to itself")
    if problems:
        from semcom_bench.annotate.mllm.client import InvalidAnswer  # not at the top: see MLLMStage.__init__

        raise InvalidAnswer(problems)


def _numbers(numbers: list[int]) -> str:
    return ", ".join(f"#{n}" for n in numbers)
