"""The MLLM importance labeler (SA-OOSC section II): one set-of-mark request per image, a tier for every object.

Usage::

    labeler = LABELERS.get("mllm")(base_url="http://127.0.0.1:8000/v1", model="Qwen/Qwen2.5-VL-7B-Instruct",
                                   cache_dir=Path("cache/mllm"))
    result = labeler.label(scene, triplets, task)      # thread-safe; never raises for transport or answer errors
    labeler.estimate(scene, task)                      # dry run: requests, tokens, cost; sends nothing

Options are the fields of :class:`~semcom_bench.annotate.mllm.client.MLLMSettings`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from semcom_bench.annotate.base import LABELERS, Labeler, LabelResult, ObjectLabel, Scene, Triplet
from semcom_bench.annotate.mllm.marks import mark
from semcom_bench.annotate.mllm.prompts import importance_messages
from semcom_bench.annotate.mllm.stage import MLLMStage
from semcom_bench.schemas.answers import answer_schema
from semcom_bench.tasks import Task

SCHEMA_NAME = "mllm_answer"
OUTPUT_TOKENS_PER_OBJECT = 40
"""Expected answer tokens per object: ``{"id": 12, "rationale": "<about 15 words>", "importance": 2}``."""
OUTPUT_TOKENS_BASE = 10


@LABELERS.register("mllm")
class MLLMLabeler(MLLMStage, Labeler):
    """Importance tiers from a multimodal LLM behind any OpenAI-compatible server (OpenAI, vLLM, Ollama).

    The model sees the image with numbered boxes, the numbered instance list, the scene graph found so far and the
    task; it answers with JSON (schema ``mllm_answer``) giving every object a tier 1..3 and a one-line rationale.
    An answer that is not valid is sent back with its problems (``validation_retries`` times); after that, or after
    a transport failure, the image's result has ``error`` set and no labels. ``LabelResult.calls`` holds the
    ``llm_calls`` rows of every attempt (status ``ok``, ``cached``, ``invalid`` or ``error``).
    """

    name = "mllm"

    def label(self, scene: Scene, triplets: list[Triplet], task: Task) -> LabelResult:
        """Tiers of every object of ``scene`` for ``task``, or a result with ``error`` set (nothing guessed)."""
        if not scene.objects:
            return LabelResult(labels=[], source=self.source)
        marked = mark(scene)
        count = len(marked.object_ids)
        answer = self.client.ask(
            scene.image_id,
            importance_messages(scene, triplets, task, marked.data_url, self.settings.detail),
            SCHEMA_NAME,
            _schema(count),
            lambda payload: _check(payload, count),
        )
        if answer.payload is None:
            return LabelResult(labels=[], source=self.source, calls=answer.calls, error=answer.error)
        labels = [
            ObjectLabel(object_id=marked.object_ids[entry["id"]], importance=entry["importance"],
                        rationale=entry["rationale"].strip())
            for entry in sorted(answer.payload["objects"], key=lambda e: e["id"])
        ]
        return LabelResult(labels=labels, source=self.source, calls=answer.calls)

    def estimate(self, scene: Scene, task: Task, triplets: list[Triplet] | None = None) -> dict[str, Any]:
        """Expected ``requests``, ``tokens_in``, ``tokens_out`` and ``cost_usd`` (``None`` if the price is unknown)
        of labelling ``scene``, assuming a valid first answer; sends nothing.

        A cached answer counts as zero. Give the ``triplets`` that :meth:`label` will get for an exact text count
        and cache check; without them the request is estimated without the scene-graph lines.
        """
        count = len(scene.objects)
        return self._estimate(
            scene,
            lambda url: importance_messages(scene, triplets or [], task, url, self.settings.detail),
            _schema(count),
            OUTPUT_TOKENS_BASE + OUTPUT_TOKENS_PER_OBJECT * count,
        )


def _schema(count: int) -> dict[str, Any]:
    """The answer schema with object ids narrowed to the numbers drawn, so constrained decoders emit only those."""
    schema = answer_schema(SCHEMA_NAME)
    schema["properties"]["objects"]["items"]["properties"]["id"]["enum"] = list(range(1, count + 1))
    return schema


def _check(payload: dict[str, Any], count: int) -> None:
    """Every number 1..count exactly once, rationales non-empty single lines; raises :class:`InvalidAnswer`."""
    entries = payload["objects"]
    seen = Counter(entry["id"] for entry in entries)
    problems = []
    if missing := [n for n in range(1, count + 1) if n not in seen]:
        problems.append(f"objects missing: {_numbers(missing)}; give every number from 1 to {count}")
    if repeated := sorted(n for n, c in seen.items() if c > 1):
        problems.append(f"objects given more than once: {_numbers(repeated)}")
    if unknown := sorted(n for n in seen if not 1 <= n <= count):
        problems.append(f"no such objects: {_numbers(unknown)}; the numbers are 1 to {count}")
    for entry in entries:
        rationale = entry["rationale"]
        if not rationale.strip():
            problems.append(f"the rationale of #{entry['id']} is empty")
        elif len(rationale.strip().splitlines()) > 1:
            problems.append(f"the rationale of #{entry['id']} must be a single line")
    if problems:
        from semcom_bench.annotate.mllm.client import InvalidAnswer  # not at the top: see MLLMStage.__init__

        raise InvalidAnswer(problems)


def _numbers(numbers: list[int]) -> str:
    return ", ".join(f"#{n}" for n in numbers)
