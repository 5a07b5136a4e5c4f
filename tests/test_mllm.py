"""The MLLM labeler with the real openai client against the local OpenAI-compatible server."""

from __future__ import annotations

import base64
import io
import json
import logging
import socket
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pyarrow.parquet as pq
import pytest
from PIL import Image

from semcom_bench.annotate.base import LABELERS, Detection, Scene, Triplet
from semcom_bench.annotate.labelers.mllm import MLLMLabeler
from semcom_bench.annotate.mllm.cost import image_tokens, model_price
from semcom_bench.annotate.mllm.marks import mark
from semcom_bench.errors import SemcomError
from semcom_bench.schemas import to_table
from semcom_bench.schemas.answers import answer_schema, predicate_meanings
from semcom_bench.schemas.vocabulary import STUFF_OBJECTS
from semcom_bench.tasks import Task, load_task
from semcom_bench.testing.openai_server import (
    CLASS_TIERS,
    LocalOpenAIServer,
    RecordedRequest,
    answer,
    content,
    error,
    missing_object_answer,
    stall,
)

MODEL = "test-model"


@pytest.fixture
def task() -> Task:
    return load_task("pedestrian-collision-warning")


def make_scene(image_id: str = "img-1", classes: tuple[str, ...] = ("person", "car", "bicycle", "rider"),
               ids: tuple[int, ...] = (40, 7, 12, 13), size: tuple[int, int] = (96, 160)) -> Scene:
    """A small noisy image with one box per class; ids deliberately out of order."""
    rng = np.random.default_rng(zlib.crc32(image_id.encode()))
    image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    h, w = size
    objects = [
        Detection(object_id=i, class_name=c, bbox=(float(5 + 30 * k % (w - 30)), 10.0, float(30 + 30 * k % (w - 30)),
                                                    float(h - 10)))
        for k, (i, c) in enumerate(zip(ids, classes, strict=True))
    ]
    return Scene(image_id=image_id, image=image, objects=objects)


def make_labeler(server: LocalOpenAIServer, tmp_path: Path, **options: Any) -> MLLMLabeler:
    settings: dict[str, Any] = {"base_url": server.base_url, "model": MODEL, "cache_dir": tmp_path / "cache",
                                "timeout_s": 2.0, "max_retries": 0, "validation_retries": 2}
    labeler = LABELERS.get("mllm")(**{**settings, **options})
    assert isinstance(labeler, MLLMLabeler)
    return labeler


def tiers(result_labels: list[Any]) -> dict[int, int]:
    return {label.object_id: label.importance for label in result_labels}


EXPECTED = {40: CLASS_TIERS["person"], 7: CLASS_TIERS["car"], 12: 1, 13: CLASS_TIERS["rider"]}


def test_request_follows_the_protocol_and_labels_map_back(server: LocalOpenAIServer, tmp_path: Path,
                                                          task: Task) -> None:
    scene = make_scene()
    triplets = [Triplet(subject_id=40, predicate="crossing", object_id=None, object_class="road")]
    result = make_labeler(server, tmp_path).label(scene, triplets, task)

    assert server.problems == []
    assert result.error is None
    assert tiers(result.labels) == EXPECTED
    assert [label.object_id for label in result.labels] == [7, 12, 13, 40]  # numbered by object_id
    assert all(label.rationale for label in result.labels)
    assert result.source == f"mllm:{MODEL}"

    (request,) = server.requests
    assert request.path == "/v1/chat/completions" and request.authorized  # placeholder key for a local server
    spec = request.body["response_format"]["json_schema"]
    assert spec["name"] == "mllm_answer" and spec["strict"] is True
    assert spec["schema"]["properties"]["objects"]["items"]["properties"]["id"]["enum"] == [1, 2, 3, 4]
    text = request.texts()[1]
    assert task.description in text
    assert request.numbered_objects() == [(1, "car"), (2, "bicycle"), (3, "rider"), (4, "person")]
    assert "#4 person crossing road" in text  # the scene graph is shown with the drawn numbers
    assert "3 high" in request.texts()[0] and "1 low" in request.texts()[0]
    image_part = request.body["messages"][1]["content"][1]
    data = base64.b64decode(image_part["image_url"]["url"].split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as sent:
        assert sent.size == (scene.width, scene.height)

    (row,) = result.calls
    assert row["status"] == "ok" and row["error"] is None and row["cost_usd"] is None  # unknown model: no price
    assert row["tokens_in"] > 0 and row["tokens_out"] > 0
    assert to_table("llm_calls", result.calls).num_rows == 1


def test_scene_without_objects_sends_nothing(server: LocalOpenAIServer, tmp_path: Path, task: Task) -> None:
    scene = Scene(image_id="empty", image=np.zeros((8, 8, 3), np.uint8), objects=[])
    result = make_labeler(server, tmp_path).label(scene, [], task)
    assert (result.labels, result.error, result.calls, server.requests) == ([], None, [], [])


def test_malformed_json_is_sent_back_and_the_retry_succeeds(server: LocalOpenAIServer, tmp_path: Path,
                                                            task: Task) -> None:
    server.script(content('{"objects": [ not json'), answer())
    result = make_labeler(server, tmp_path).label(make_scene(), [], task)

    assert result.error is None and tiers(result.labels) == EXPECTED
    assert [c["status"] for c in result.calls] == ["invalid", "ok"]
    assert "not valid JSON" in result.calls[0]["error"]
    retry = server.requests[1].body["messages"]
    assert retry[-2] == {"role": "assistant", "content": '{"objects": [ not json'}
    assert retry[-1]["role"] == "user" and "not valid JSON" in retry[-1]["content"]
    assert server.problems == []


def test_missing_object_until_retries_run_out_records_a_failure(server: LocalOpenAIServer, tmp_path: Path,
                                                                task: Task) -> None:
    server.default = answer(missing_object_answer)
    labeler = make_labeler(server, tmp_path, validation_retries=2)
    result = labeler.label(make_scene(), [], task)

    assert result.labels == []
    assert result.error is not None and "#4" in result.error and "3 attempt" in result.error
    assert [c["status"] for c in result.calls] == ["invalid"] * 3
    assert len(server.requests) == 3
    assert "objects missing: #4" in server.requests[2].body["messages"][-1]["content"]
    assert not list((tmp_path / "cache").glob("*.json"))  # invalid answers are never cached
    to_table("llm_calls", result.calls)


def test_semantic_checks_reject_repeats_and_multiline_rationales(server: LocalOpenAIServer, tmp_path: Path,
                                                                 task: Task) -> None:
    def repeated(request: RecordedRequest) -> dict[str, Any]:
        objects = [{"id": n, "rationale": "line one\nline two", "importance": 2} for n, _ in request.numbered_objects()]
        return {"objects": objects + objects[:1]}

    server.script(answer(repeated))
    result = make_labeler(server, tmp_path).label(make_scene(), [], task)
    assert result.error is None
    problems = result.calls[0]["error"]
    assert "more than once: #1" in problems and "single line" in problems


def test_retry_after_is_honoured(server: LocalOpenAIServer, tmp_path: Path, task: Task) -> None:
    server.script(error(429, "slow down", retry_after=1))
    result = make_labeler(server, tmp_path, max_retries=2).label(make_scene(), [], task)

    assert result.error is None and tiers(result.labels) == EXPECTED
    first, second = server.requests
    assert second.received_at - first.received_at >= 1.0  # the SDK waited as told
    assert [c["status"] for c in result.calls] == ["error", "ok"]
    assert "HTTP 429" in result.calls[0]["error"]


def test_server_errors_are_retried_then_recorded(server: LocalOpenAIServer, tmp_path: Path, task: Task) -> None:
    labeler = make_labeler(server, tmp_path, max_retries=1)
    server.script(error(500))
    recovered = labeler.label(make_scene("a"), [], task)
    assert recovered.error is None and [c["status"] for c in recovered.calls] == ["error", "ok"]

    server.default = error(503, "overloaded")
    failed = labeler.label(make_scene("b"), [], task)
    assert failed.labels == []
    assert failed.error is not None and "HTTP 503" in failed.error and server.base_url in failed.error
    assert [c["status"] for c in failed.calls] == ["error", "error"]
    assert len(server.requests) == 4
    to_table("llm_calls", recovered.calls + failed.calls)


def test_timeout_is_a_failure_not_an_exception(server: LocalOpenAIServer, tmp_path: Path, task: Task) -> None:
    server.default = stall(5)
    result = make_labeler(server, tmp_path, timeout_s=0.5).label(make_scene(), [], task)
    assert result.labels == []
    assert result.error is not None and "within 0.5 s" in result.error
    assert [c["status"] for c in result.calls] == ["error"]


def test_timeout_is_retried_by_the_client(server: LocalOpenAIServer, tmp_path: Path, task: Task) -> None:
    server.script(stall(5))
    result = make_labeler(server, tmp_path, timeout_s=0.5, max_retries=1).label(make_scene(), [], task)
    assert result.error is None
    assert len(server.requests) == 2
    assert [c["status"] for c in result.calls] == ["error", "ok"]
    assert "no response" in result.calls[0]["error"]


def test_server_down_names_the_url(tmp_path: Path, task: Task) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    labeler = LABELERS.get("mllm")(base_url=f"http://127.0.0.1:{port}/v1", model=MODEL, max_retries=0)
    result = labeler.label(make_scene(), [], task)
    assert result.labels == []
    assert result.error is not None and f"cannot reach http://127.0.0.1:{port}/v1/chat/completions" in result.error
    assert result.calls[0]["status"] == "error"


def test_concurrent_labelling_from_threads(tmp_path: Path, task: Task) -> None:
    classes = ("person", "car", "truck", "bicycle", "rider", "bus")
    scenes = [
        make_scene(f"img-{i}", classes[: 1 + i % 6], tuple(100 * i + k for k in range(1 + i % 6)))
        for i in range(12)
    ]
    with LocalOpenAIServer(latency_s=0.05) as server:
        labeler = make_labeler(server, tmp_path)
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda s: labeler.label(s, [], task), scenes))
        assert server.problems == []
        assert len(server.requests) == len(scenes)
    for scene, result in zip(scenes, results, strict=True):
        assert result.error is None
        assert tiers(result.labels) == {o.object_id: CLASS_TIERS.get(o.class_name, 1) for o in scene.objects}
        assert {c["image_id"] for c in result.calls} == {scene.image_id}
    assert len({r.calls[0]["request_key"] for r in results}) == len(scenes)


def test_second_run_is_answered_from_the_cache(server: LocalOpenAIServer, tmp_path: Path, task: Task) -> None:
    scenes = [make_scene(f"img-{i}", ("person", "car")[: 1 + i % 2], (1, 2)[: 1 + i % 2]) for i in range(3)]
    first = [make_labeler(server, tmp_path).label(s, [], task) for s in scenes]
    assert len(server.requests) == 3
    assert len(list((tmp_path / "cache").glob("*.json"))) == 3
    assert not list((tmp_path / "cache").glob(".*"))  # no temp files left behind

    second = [make_labeler(server, tmp_path).label(s, [], task) for s in scenes]  # a fresh labeler, same cache
    assert len(server.requests) == 3  # zero new requests
    for a, b in zip(first, second, strict=True):
        assert a.labels == b.labels
        (row,) = b.calls
        assert row["status"] == "cached" and row["cost_usd"] == 0.0
        assert (row["tokens_in"], row["tokens_out"]) == (a.calls[0]["tokens_in"], a.calls[0]["tokens_out"])
        assert row["request_key"] == a.calls[0]["request_key"]
    to_table("llm_calls", [c for r in second for c in r.calls])

    make_labeler(server, tmp_path, temperature=0.7).label(scenes[0], [], task)
    assert len(server.requests) == 4  # other parameters, other key


def test_api_key_never_leaks(tmp_path: Path, task: Task, monkeypatch: pytest.MonkeyPatch,
                             caplog: pytest.LogCaptureFixture) -> None:
    key = "LEAKCANARY-0123456789-abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    for name in (None, "openai", "httpx", "httpx2", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    with LocalOpenAIServer(api_key=key) as server:
        server.script(
            answer(),
            answer(missing_object_answer), answer(missing_object_answer), answer(missing_object_answer),
            error(400, f"this server echoes the key {key} in its error"),
            error(500, f"and again {key}"),
        )
        labeler = make_labeler(server, tmp_path, max_retries=0)
        results = [labeler.label(make_scene(f"img-{i}"), [], task) for i in range(4)]
        assert all(r.key_matches for r in server.requests)  # the key was really sent
        server_view = repr(server) + repr(server.requests)
    assert [r.error is None for r in results] == [True, False, False, False]
    rows = [c for r in results for c in r.calls]
    pq.write_table(to_table("llm_calls", rows), tmp_path / "llm_calls.parquet")

    files = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    texts = [caplog.text, repr(labeler), repr(labeler.client), repr(results), json.dumps(labeler.config()),
             server_view, str(rows)]
    assert rows and caplog.text  # there was something to leak into
    assert key.encode() not in files
    assert not [t for t in texts if key in t]
    assert "[redacted]" in results[2].error


def test_openai_without_a_key_is_a_clear_error_but_estimates_work(task: Task) -> None:
    labeler = LABELERS.get("mllm")(base_url="https://api.openai.com/v1", model="gpt-4o")
    assert labeler.estimate(make_scene(), task)["requests"] == 1  # a dry run needs no key
    with pytest.raises(SemcomError, match="OPENAI_API_KEY"):
        labeler.label(make_scene(), [], task)


def test_unknown_option_is_refused() -> None:
    with pytest.raises(SemcomError, match="retries_max"):
        LABELERS.get("mllm")(retries_max=3)


def test_image_tokens_follow_openais_tile_formula() -> None:
    assert image_tokens(1024, 1024, "gpt-4o") == 765  # documented: 768x768, 4 tiles
    assert image_tokens(2048, 4096, "gpt-4o") == 1105  # documented: 768x1536, 6 tiles
    assert image_tokens(2048, 1024, "gpt-4o-2024-08-06") == 1105  # Cityscapes: 1536x768, 6 tiles
    assert image_tokens(300, 200, "local-model") == 85 + 170  # small images are not scaled up
    assert image_tokens(4096, 4096, "gpt-4o", detail="low") == 85
    assert image_tokens(1024, 1024, "gpt-4o-mini") == 2833 + 5667 * 4
    assert model_price("gpt-4.1-mini") is None  # not gpt-4.1's price by prefix


def test_estimate_sends_nothing_and_counts_tokens(server: LocalOpenAIServer, tmp_path: Path, task: Task) -> None:
    scene = make_scene(size=(1024, 2048))
    priced = make_labeler(server, tmp_path, model="gpt-4o")
    estimate = priced.estimate(scene, task)
    assert server.requests == []
    assert estimate["requests"] == 1
    assert estimate["tokens_out"] == 10 + 40 * 4
    assert estimate["cost_usd"] == pytest.approx((estimate["tokens_in"] * 2.50 + estimate["tokens_out"] * 10.0) / 1e6)

    # The text part agrees with the server's own count (characters / 4, 85 per image) of the request really sent.
    result = priced.label(scene, [], task)
    text_estimate = estimate["tokens_in"] - image_tokens(2048, 1024, "gpt-4o")
    assert abs((result.calls[0]["tokens_in"] - 85) - text_estimate) <= 3
    assert priced.estimate(scene, task) == {"requests": 0, "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0}

    local = make_labeler(server, tmp_path, price_in_per_m=0.0, price_out_per_m=0.0).estimate(make_scene(), task)
    assert local["cost_usd"] == 0.0
    assert make_labeler(server, tmp_path).estimate(make_scene(), task)["cost_usd"] is None


def test_marks_are_stable_and_drawn() -> None:
    scene = make_scene()
    shuffled = Scene(scene.image_id, scene.image, list(reversed(scene.objects)))
    a, b = mark(scene), mark(shuffled)
    assert a.jpeg == b.jpeg and a.object_ids == b.object_ids == {1: 7, 2: 12, 3: 13, 4: 40}
    with Image.open(io.BytesIO(a.jpeg)) as drawn:
        pixels = np.asarray(drawn.convert("RGB")).astype(int)
    x0, y0, _, _ = (int(v) for v in scene.object(7).bbox)
    assert np.abs(pixels[y0 + 20, x0] - scene.image[y0 + 20, x0]).sum() > 60  # a box edge was drawn there


def test_answer_schemas_match_the_vocabulary() -> None:
    relations = answer_schema("mllm_relations")["properties"]["triplets"]["items"]["properties"]
    assert relations["predicate"]["enum"] == list(predicate_meanings())
    assert "on" in relations["predicate"]["enum"]
    assert relations["object"]["anyOf"][1]["enum"] == list(STUFF_OBJECTS)
    assert answer_schema("mllm_answer")["properties"]["objects"]["items"]["properties"]["importance"]["enum"] == [
        1, 2, 3]


def test_server_makes_protocol_violations_visible(server: LocalOpenAIServer) -> None:
    client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "no image, no schema"}])
    problems = " ".join(server.problems)
    assert "no image_url part" in problems and "response_format is not json_schema" in problems


@pytest.mark.timeout(20)  # a hang detector: without the wake-up, exit would wait for the 30 s stall
def test_server_stops_on_exit_even_with_a_stalled_handler(tmp_path: Path, task: Task) -> None:
    with LocalOpenAIServer(default=stall(30)) as server:
        make_labeler(server, tmp_path, timeout_s=0.3).label(make_scene(), [], task)
        port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
