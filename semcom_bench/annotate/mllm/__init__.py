"""Talking to a multimodal LLM through any OpenAI-compatible server: prompts, set-of-mark images, cache, costs."""

from semcom_bench.annotate.mllm.client import (
    DEFAULT_MODEL,
    Answer,
    InvalidAnswer,
    MLLMClient,
    MLLMSettings,
)
from semcom_bench.annotate.mllm.marks import MarkedImage, mark

__all__ = ["DEFAULT_MODEL", "Answer", "InvalidAnswer", "MLLMClient", "MLLMSettings", "MarkedImage", "mark"]
