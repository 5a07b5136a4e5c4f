"""The MLLM relation predictor with the real openai client against the local OpenAI-compatible server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from semcom_bench.annotate.base import RELATION_PREDICTORS, Detection, Scene, Triplet
from semcom_bench.annotate.relations.mllm import MLLMRelationPredictor, RelationPredictionError
from semcom_bench.schemas import to_table
from semcom_bench.schemas.answers import predicate_meanings
from semcom_bench.testing.openai_server import LocalOpenAIServer, RecordedRequest, answer, omitting_relations_answer

MODEL = "test-model"


@pytest.fixture
def scene() -> Scene:
    """A rider (id 9) on a bicycle (id 31) and a car (id 5): numbered car #1, rider #2, bicycle #3."""
    image = np.random.default_rng(3).integers(0, 256, (80, 120, 3), dtype=np.uint8)
    return Scene(
        image_id="rel-1",
        image=image,
        objects=[
            Detection(object_id=31, class_name="bicycle", bbox=(60.0, 40.0, 90.0, 75.0)),
            Detection(object_id=9, class_name="rider", bbox=(62.0, 10.0, 88.0, 70.0)),
            Detection(object_id=5, class_name="car", bbox=(5.0, 30.0, 50.0, 70.0)),
        ],
    )


def make_predictor(server: LocalOpenAIServer, tmp_path: Path, **options: Any) -> MLLMRelationPredictor:
    predictor = RELATION_PREDICTORS.get("mllm")(
        **{"base_url": server.base_url, "model": MODEL, "cache_dir": tmp_path / "cache", "timeout_s": 2.0,
           "max_retries": 0, "validation_retries": 2, **options}
    )
    assert isinstance(predictor, MLLMRelationPredictor)
    return predictor


def test_triplets_map_back_to_objects_and_stuff(server: LocalOpenAIServer, tmp_path: Path, scene: Scene) -> None:
    triplets = make_predictor(server, tmp_path).predict(scene)

    source = f"mllm:{MODEL}"
    assert set(triplets) == {
        Triplet(subject_id=5, predicate="on", object_id=None, object_class="road", source=source),
        Triplet(subject_id=9, predicate="on", object_id=None, object_class="road", source=source),
        Triplet(subject_id=31, predicate="on", object_id=None, object_class="road", source=source),
        Triplet(subject_id=9, predicate="riding", object_id=31, object_class="bicycle", source=source),
    }
    assert server.problems == []
    (request,) = server.requests
    spec = request.body["response_format"]["json_schema"]
    assert spec["name"] == "mllm_relations" and spec["strict"] is True
    item = spec["schema"]["properties"]["triplets"]["items"]["properties"]
    assert item["subject"]["enum"] == [1, 2, 3]
    assert item["predicate"]["enum"] == list(predicate_meanings())
    assert all(f"- {name}:" in request.texts()[0] for name in predicate_meanings())
    assert request.numbered_objects() == [(1, "car"), (2, "rider"), (3, "bicycle")]


def test_unknown_predicate_is_rejected_and_retried(server: LocalOpenAIServer, tmp_path: Path, scene: Scene) -> None:
    server.script(answer(lambda r: {"triplets": [{"subject": 1, "predicate": "flying over", "object": "road"}],
                                         "unrelated": [2, 3]}))
    result = make_predictor(server, tmp_path).predict_result(scene)

    assert result.error is None and len(result.triplets) == 4
    assert [c["status"] for c in result.calls] == ["invalid", "ok"]
    assert "'flying over' is not one of" in result.calls[0]["error"]
    assert "flying over" in server.requests[1].body["messages"][-1]["content"]
    to_table("llm_calls", result.calls)


def test_bad_objects_are_rejected_until_retries_run_out(server: LocalOpenAIServer, tmp_path: Path,
                                                        scene: Scene) -> None:
    def bad(request: RecordedRequest) -> dict[str, Any]:
        return {"triplets": [
            {"subject": 2, "predicate": "on", "object": "sky"},  # not a stuff class
            {"subject": 7, "predicate": "on", "object": "road"},  # no object #7 (the narrowed schema says 1..3)
        ], "unrelated": [1, 3]}

    server.default = answer(bad)
    predictor = make_predictor(server, tmp_path, validation_retries=1)
    result = predictor.predict_result(scene)

    assert result.triplets == [] and result.error is not None
    assert len(server.requests) == 2
    problems = result.calls[0]["error"]
    assert "'sky' is not valid" in problems and "7 is not one of [1, 2, 3]" in problems
    with pytest.raises(RelationPredictionError) as raised:
        predictor.predict(scene)
    assert raised.value.calls and all(c["status"] == "invalid" for c in raised.value.calls)


def test_self_relation_is_rejected(server: LocalOpenAIServer, tmp_path: Path, scene: Scene) -> None:
    server.script(answer(lambda r: {"triplets": [{"subject": 2, "predicate": "riding", "object": 2}], "unrelated": [1, 3]}))
    result = make_predictor(server, tmp_path).predict_result(scene)
    assert result.error is None
    assert "cannot relate to itself" in result.calls[0]["error"]


def test_cached_relations_make_no_request_and_estimate_is_zero(server: LocalOpenAIServer, tmp_path: Path,
                                                               scene: Scene) -> None:
    predictor = make_predictor(server, tmp_path)
    fresh = predictor.estimate(scene)
    assert fresh["requests"] == 1 and fresh["tokens_out"] == 10 + 30 * 3 and fresh["cost_usd"] is None
    first = predictor.predict(scene)
    again = make_predictor(server, tmp_path).predict_result(scene)
    assert again.triplets == first and [c["status"] for c in again.calls] == ["cached"]
    assert len(server.requests) == 1
    assert predictor.estimate(scene)["requests"] == 0


def test_an_answer_that_omits_objects_is_retried_not_cached(server: LocalOpenAIServer, tmp_path: Path,
                                                            scene: Scene) -> None:
    """Every drawn number is a subject or listed as unrelated: an answer dropping #3 is sent back, never cached."""
    server.script(answer(omitting_relations_answer))
    result = make_predictor(server, tmp_path).predict_result(scene)
    assert [c["status"] for c in result.calls] == ["invalid", "ok"]
    assert "objects not accounted for: #3" in result.calls[0]["error"]
    assert len(result.triplets) == 4 and server.problems == []
    server.default = answer(omitting_relations_answer)  # an incomplete answer, always
    fresh = make_predictor(server, tmp_path / "other", validation_retries=0).predict_result(scene)
    assert fresh.error is not None and fresh.triplets == []
    again = make_predictor(server, tmp_path / "other", validation_retries=0).predict_result(scene)
    assert [c["status"] for c in again.calls] == ["invalid"]  # nothing incomplete was cached: asked again


def test_unrelated_objects_are_accepted_but_not_twice(server: LocalOpenAIServer, tmp_path: Path, scene: Scene) -> None:
    server.script(answer(lambda r: {"triplets": [{"subject": 2, "predicate": "riding", "object": 3}],
                                    "unrelated": [1, 2, 3]}),
                  answer(lambda r: {"triplets": [{"subject": 2, "predicate": "riding", "object": 3}],
                                    "unrelated": [1, 3]}))
    result = make_predictor(server, tmp_path).predict_result(scene)
    assert "both in triplets and in \"unrelated\": #2" in result.calls[0]["error"]
    assert result.error is None and [(t.subject_id, t.predicate, t.object_id) for t in result.triplets] == [
        (9, "riding", 31)]
