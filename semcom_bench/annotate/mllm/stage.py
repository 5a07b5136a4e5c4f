"""What the MLLM labeler and the MLLM relation predictor share: settings, client, source name, dry-run estimates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from semcom_bench.annotate.base import Scene
from semcom_bench.annotate.mllm.marks import mark

Question = Callable[[str], list[dict[str, Any]]]
"""The messages of an image's question, given the marked image's data URL."""


class MLLMStage:
    """Base of the MLLM stages; ``options`` are the fields of :class:`MLLMSettings`."""

    def __init__(self, **options: Any) -> None:
        # Here, not at the top: registering the MLLM stages (which `semcom-bench --help` lists) must not load openai.
        from semcom_bench.annotate.mllm.client import MLLMClient, MLLMSettings

        self.settings = MLLMSettings.from_options(**options)
        self.client = MLLMClient(self.settings)
        self.source = f"mllm:{self.settings.model}"  # the `source` of every row this stage makes

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.settings.model!r}, endpoint={self.client.endpoint!r})"

    def config(self) -> dict[str, Any]:
        """The settings, JSON-ready, for the label set's manifest."""
        return self.settings.public()

    def _estimate(
        self, scene: Scene, question: Question, schema: dict[str, Any], tokens_out: int
    ) -> dict[str, int | float | None]:
        """Expected requests, tokens and cost of ``scene``'s question; zero when there is nothing to ask or the
        answer is cached (which needs the marked image, so it is only drawn when a cache is configured)."""
        nothing: dict[str, int | float | None] = {"requests": 0, "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0}
        if not scene.objects:
            return nothing
        if self.settings.cache_dir is not None:
            messages = question(mark(scene).data_url)
            if self.client.is_cached(self.client.key(messages, schema)):
                return nothing
        else:
            messages = question("")  # the image counts by its size; its bytes do not matter here
        return self.client.estimate(messages, (scene.width, scene.height), tokens_out)
