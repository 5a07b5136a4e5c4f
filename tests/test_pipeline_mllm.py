"""The whole annotation run through the MLLM stages, the real openai client and a local OpenAI-compatible server."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from semcom_bench.annotate.mllm.client import ServerUnusableError
from semcom_bench.annotate.pipeline import AnnotateConfig, annotate, estimate
from semcom_bench.datasets.base import DATASETS
from semcom_bench.schemas import LabelSet
from semcom_bench.testing.openai_server import (
    LocalOpenAIServer,
    RecordedRequest,
    Reply,
    answer,
    content,
    error,
    missing_object_answer,
    stall,
)

FAST = {"model": "test-model", "timeout_s": 2.0, "max_retries": 1, "validation_retries": 2,
        "price_in_per_m": 1.0, "price_out_per_m": 2.0}


def config(root: Path, base_url: str, **mllm: object) -> AnnotateConfig:
    return AnnotateConfig(dataset="synthcity", root=str(root), split="train", task="vehicle-following",
                          relations="mllm", labeler="mllm", limit=4, mllm={"base_url": base_url, **FAST, **mllm})


def test_run_survives_bad_answers_records_the_failure_and_retries_it(synth_root: Path, tmp_path: Path) -> None:
    ids = DATASETS.get("synthcity")(root=synth_root, split="train").ids()[:4]
    out, cache = tmp_path / "labels", tmp_path / "cache"
    with LocalOpenAIServer() as server:
        # Image 1: relations after a 500 and a malformed answer; importance never complete (3 attempts).
        server.script(error(500), content("{not json"), answer(),
                      *[answer(missing_object_answer)] * 3)
        report = annotate(config(synth_root, server.base_url), out, cache_dir=cache)
        assert server.problems == []
        first_requests = len(server.questions)
    assert report.failed == [ids[0]] and report.labelled == 3
    labels = LabelSet.open(out)
    calls = labels.read("llm_calls").to_pylist()
    statuses = [c["status"] for c in calls if c["image_id"] == ids[0]]
    assert statuses.count("invalid") >= 3 and "error" in statuses
    assert sum(c["cost_usd"] or 0 for c in calls) > 0 and all(c["tokens_in"] >= 0 for c in calls)
    failed = [r for r in labels.read("objects").to_pylist() if r["image_id"] == ids[0]]
    assert failed and all(r["importance"] is None for r in failed)
    kept = [r for r in labels.read("objects").to_pylist() if r["image_id"] != ids[0]]
    assert kept and all(r["importance_source"] == "mllm:test-model" for r in kept)
    assert {t["source"] for t in labels.read("triplets").to_pylist()} == {"mllm:test-model"}

    with LocalOpenAIServer() as server:
        again = annotate(config(synth_root, server.base_url), out, cache_dir=cache)
        # Only image 1's importance is asked again: its relations and the other images come from the cache/label set.
        assert len(server.questions) == 1 and server.questions[0].schema_name == "mllm_answer"
    assert again.labelled == 1 and again.already_done == 3 and again.failed == []
    assert first_requests > 4
    objects = LabelSet.open(out).read("objects").to_pylist()
    assert all(r["importance"] is not None for r in objects)


def test_second_run_into_a_new_label_set_is_answered_from_the_cache(synth_root: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with LocalOpenAIServer() as server:
        annotate(config(synth_root, server.base_url), tmp_path / "first", cache_dir=cache, concurrency=3)
        assert len(server.questions) == 8  # 4 images x (relations + importance)
        cost = estimate(config(synth_root, server.base_url), cache_dir=cache)
        assert cost["requests"] == 0 and cost["images"] == 4
    with LocalOpenAIServer() as server:
        annotate(config(synth_root, server.base_url), tmp_path / "second", cache_dir=cache, concurrency=3)
        assert server.questions == []
    first, second = LabelSet.open(tmp_path / "first"), LabelSet.open(tmp_path / "second")
    assert {c["status"] for c in second.read("llm_calls").to_pylist()} == {"cached"}
    key = lambda r: (r["image_id"], r["object_id"])  # noqa: E731
    assert sorted(map(key, first.read("objects").to_pylist())) == sorted(map(key, second.read("objects").to_pylist()))
    assert sorted((r["image_id"], r["object_id"], r["importance"]) for r in first.read("objects").to_pylist()) == \
        sorted((r["image_id"], r["object_id"], r["importance"]) for r in second.read("objects").to_pylist())


def _closed_port() -> int:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("failure", ["closed port", "401", "403", "unknown model"])
def test_an_unusable_server_is_an_error_that_writes_nothing(synth_root: Path, tmp_path: Path, failure: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "labels"
    with LocalOpenAIServer(api_key="sk-right-key-000000" if failure == "401" else None,
                           refuse=403 if failure == "403" else None,
                           models=["served-model"] if failure == "unknown model" else None) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-000000")
        url = f"http://user:pw@127.0.0.1:{_closed_port()}/v1" if failure == "closed port" else server.base_url
        with pytest.raises(ServerUnusableError) as raised:
            annotate(config(synth_root, url, max_retries=0), out, cache_dir=tmp_path / "cache")
        assert server.questions == []  # checked once, before the first image
    message = f"{raised.value} {raised.value.hint}"
    assert "test-model" in message and "pw" not in message and "wrong-key" not in message
    expected = {"closed port": "cannot reach", "401": "refused the API key", "403": "refused the API key",
                "unknown model": "serves: served-model"}[failure]
    assert expected in message and "127.0.0.1" in message
    assert not out.exists() and not (tmp_path / "cache").exists()  # nothing written, nothing to block a fix


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_fatal_status_mid_run_stops_at_once_and_keeps_what_was_done(synth_root: Path, tmp_path: Path,
                                                                      status: int) -> None:
    out = tmp_path / "labels"
    with LocalOpenAIServer() as server:
        server.script(answer(), answer(), error(status))  # image 1 done, then the server turns the key away
        with pytest.raises(ServerUnusableError, match=f"HTTP {status}"):
            annotate(config(synth_root, server.base_url, max_retries=2), out, cache_dir=tmp_path / "cache")
        assert len(server.questions) == 3  # no retry of a fatal status, no further image
    with LocalOpenAIServer() as server:
        report = annotate(config(synth_root, server.base_url), out, cache_dir=tmp_path / "cache")
        assert len(server.questions) == 6  # image 1 was kept; the other three are asked now
    assert report.already_done == 1 and report.labelled == 3


@pytest.mark.parametrize("secret", ["sk-test-very-secret-0123456789"])
def test_api_key_reaches_the_server_but_no_file(synth_root: Path, tmp_path: Path, secret: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    with LocalOpenAIServer(api_key=secret) as server:
        annotate(config(synth_root, server.base_url), tmp_path / "labels", cache_dir=tmp_path / "cache")
        assert server.requests and all(r.key_matches for r in server.requests)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_cost_paid_before_a_kill_is_counted_after_the_resume(synth_root: Path, tmp_path: Path) -> None:
    """kill -9 after three answers arrived: the resumed run gets them from the cache at $0, and the ledger they
    reached first keeps their cost, so the total equals an uninterrupted run's."""
    with LocalOpenAIServer() as server:
        annotate(config(synth_root, server.base_url), tmp_path / "straight", cache_dir=tmp_path / "cache-straight")
    straight = sum(c["cost_usd"] for c in LabelSet.open(tmp_path / "straight").read("llm_calls").to_pylist())
    out, cache = tmp_path / "labels", tmp_path / "cache"
    with LocalOpenAIServer() as server:
        server.script(answer(), answer(), answer())
        server.default = stall(120)  # the fourth request hangs: the run is killed while waiting for it
        code = (
            "import sys, json; from pathlib import Path; from semcom_bench.annotate.pipeline import AnnotateConfig, "
            "annotate; c = AnnotateConfig(**json.loads(sys.argv[1])); annotate(c, Path(sys.argv[2]), "
            "cache_dir=Path(sys.argv[3]))"
        )
        cfg = config(synth_root, server.base_url, timeout_s=300.0)
        proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(asdict(cfg)), str(out), str(cache)])
        deadline = time.monotonic() + 120
        while len(server.questions) < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert len(server.questions) == 4, "the run did not reach its fourth request"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert not (out / "llm_calls.parquet").exists()  # nothing was checkpointed: the answers live in cache and ledger
    with LocalOpenAIServer() as server:
        annotate(config(synth_root, server.base_url), out, cache_dir=cache)
        assert len(server.questions) == 5  # 8 questions, 3 answered before the kill
    calls = LabelSet.open(out).read("llm_calls").to_pylist()
    assert [c["status"] for c in calls].count("cached") == 3
    assert sum(c["cost_usd"] for c in calls) == pytest.approx(straight, rel=1e-9)
    assert len({c["call_id"] for c in calls}) == len(calls) and not (out / "llm_ledger.jsonl").exists()


def test_a_hung_request_does_not_hold_back_the_other_workers(synth_root: Path, tmp_path: Path) -> None:
    """The first question is held until the other images' 14 have arrived; if a hung request held the other
    workers back, they would never arrive, and it would time out (5 s) and its image fail."""
    others_in = threading.Event()
    arrived = 0
    lock = threading.Lock()

    def held(request: RecordedRequest) -> Reply:
        others_in.wait(10)  # past the client's timeout unless the others come meanwhile
        return answer()(request)

    def counted(request: RecordedRequest) -> Reply:
        nonlocal arrived
        with lock:
            arrived += 1
            if arrived == 14:  # every question but the held image's two
                others_in.set()
        return answer()(request)

    with LocalOpenAIServer() as server:
        server.script(held)
        server.default = counted
        cfg = config(synth_root, server.base_url, timeout_s=5.0, max_retries=0)
        cfg.limit = 8
        report = annotate(cfg, tmp_path / "labels", concurrency=4)
    assert others_in.is_set() and report.labelled == 8 and report.failed == []
