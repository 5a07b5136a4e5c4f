"""Which Label Studio project holds a round: one per (label set, task, round), found by its title."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from typing import Any

from semcom_bench.errors import SemcomError
from semcom_bench.schemas import LabelSet
from semcom_bench.tasks import Task, load_task


def labelset_task(labelset: LabelSet, task: str | None) -> Task:
    """``task``, or the task the label set was annotated for; a label set naming none needs ``task``."""
    chosen = task or labelset.manifest.get("config", {}).get("task")
    if not chosen:
        raise SemcomError(f"label set {labelset.path} names no task", hint="pass --task")
    return load_task(chosen)


def model_version(labelset: LabelSet) -> str:
    """``labeler+model+prompt-hash`` of the label set's labeller (``-`` where it has none)."""
    config = labelset.manifest["config"]
    mllm = config.get("mllm") or {}
    prompt = mllm.get("prompt") or mllm.get("prompt_hash")
    digest = hashlib.sha256(json.dumps(prompt, sort_keys=True).encode()).hexdigest()[:8] if prompt else "-"
    return f"{config.get('labeler', '?')}+{mllm.get('model') or '-'}+{digest}"


def project_title(labelset: LabelSet, task: Task, round_: int) -> str:
    """The title a push finds its project by (Label Studio allows 50 characters): the label set's and the task's
    names, shortened, the round, and 6 hex digits of the label set's path and task, so two label sets never share
    a project."""
    key = hashlib.sha256(f"{labelset.path.resolve()}|{task.name}".encode()).hexdigest()[:6]
    return f"{labelset.path.name[:16]}/{task.name[:16]} r{round_} {key}"


def find_project(client: Any, title: str) -> Any | None:
    """The project titled ``title``, or ``None``."""
    return next((p for p in client.projects.list() if p.title == title), None)


def rows_by_image(labelset: LabelSet, table: str) -> dict[str, list[dict[str, Any]]]:
    """The rows of ``table`` grouped by image (an absent table: none)."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in labelset.read(table).to_pylist() if labelset.has(table) else []:
        grouped[row["image_id"]].append(row)
    return grouped
