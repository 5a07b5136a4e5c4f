"""Talking to a multimodal LLM through any OpenAI-compatible server: prompts, set-of-mark images, cache, costs.

The names below are imported from their submodules on first use (PEP 562): the client needs openai, which the
MLLM stages' registration (and so `semcom-bench --help`) must not load.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}

__all__ = ["DEFAULT_MODEL", "Answer", "InvalidAnswer", "MLLMClient", "MLLMSettings", "MarkedImage", "mark"]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
