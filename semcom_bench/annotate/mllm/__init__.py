"""Talking to a multimodal LLM through any OpenAI-compatible server: prompts, set-of-mark images, cache, costs.

The names below are imported from their submodules on first use (PEP 562): the client needs openai, which the
MLLM stages' registration (and so `semcom-bench --help`) must not load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from semcom_bench.lazy import lazy_names

if TYPE_CHECKING:
    from semcom_bench.annotate.mllm.client import (
        DEFAULT_MODEL,
        Answer,
        InvalidAnswer,
        MLLMClient,
        MLLMSettings,
    )
    from semcom_bench.annotate.mllm.marks import MarkedImage, mark

_SOURCES = {
    "client": ("DEFAULT_MODEL", "Answer", "InvalidAnswer", "MLLMClient", "MLLMSettings"),
    "marks": ("MarkedImage", "mark"),
}

__all__ = ["DEFAULT_MODEL", "Answer", "InvalidAnswer", "MLLMClient", "MLLMSettings", "MarkedImage", "mark"]


__getattr__, __dir__ = lazy_names(__name__, _SOURCES, globals())
