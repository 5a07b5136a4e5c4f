"""The JSON schemas of the MLLM's answers (``*.schema.json`` beside this module) and their validation.

``mllm_answer`` is the importance answer (a tier per numbered object), ``mllm_relations`` the scene-graph answer.
The relations schema spells out the predicate and stuff vocabularies so that it stands alone; loading it checks that
they still equal :data:`~semcom_bench.schemas.vocabulary.PREDICATES` and
:data:`~semcom_bench.schemas.vocabulary.STUFF_OBJECTS`.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from semcom_bench.errors import SchemaError
from semcom_bench.schemas.vocabulary import PREDICATES, STUFF_OBJECTS

ANSWER_SCHEMAS: tuple[str, ...] = ("mllm_answer", "mllm_relations")
"""Names of the answer schemas; ``<name>.schema.json`` is the file."""

_DIR = Path(__file__).parent


@lru_cache(maxsize=None)
def _load(name: str) -> dict[str, Any]:
    if name not in ANSWER_SCHEMAS:
        raise SchemaError(f"unknown answer schema {name!r}", hint=f"choose one of: {', '.join(ANSWER_SCHEMAS)}")
    from jsonschema import Draft202012Validator  # here: the CLI's start-up imports this module, not jsonschema

    schema = json.loads((_DIR / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    if name == "mllm_relations":
        item = schema["properties"]["triplets"]["items"]["properties"]
        predicates = item["predicate"]["enum"]
        stuff = item["object"]["anyOf"][1]["enum"]
        if sorted(predicates) != sorted(predicate_meanings()) or sorted(stuff) != sorted(STUFF_OBJECTS):
            raise SchemaError(
                "mllm_relations.schema.json disagrees with the vocabulary",
                hint="make its predicate enum equal predicates.yaml and its stuff enum equal vocabulary.STUFF_OBJECTS",
            )
    return schema


def predicate_meanings() -> dict[str, str]:
    """Every predicate of the vocabulary with its meaning, in vocabulary order."""
    return {str(key): str(entry["meaning"]) for key, entry in PREDICATES.items()}


def answer_schema(name: str) -> dict[str, Any]:
    """A fresh copy of answer schema ``name`` (callers may narrow it per request)."""
    return copy.deepcopy(_load(name))


def schema_errors(schema: dict[str, Any], instance: Any, limit: int = 5) -> list[str]:
    """Up to ``limit`` messages, each naming the JSON path, for where ``instance`` breaks ``schema``; empty if valid."""
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(schema).iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    messages = []
    for error in errors[:limit]:
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path) or "(root)"
        messages.append(f"at {path}: {_shorten(error.message)}")
    if len(errors) > limit:
        messages.append(f"... and {len(errors) - limit} more")
    return messages


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
