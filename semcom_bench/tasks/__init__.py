"""Task criteria (InsCom's C_T and IR_T) shipped as YAML files beside this module, or read from any path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from semcom_bench.errors import SemcomError

TASK_DIR = Path(__file__).parent


@dataclass(frozen=True)
class Task:
    """A downstream task: its prompt text, critical subject classes and critical (predicate, object) pairs."""

    name: str
    description: str
    critical_subjects: frozenset[str]
    critical_relations: frozenset[tuple[str, str]]

    def is_critical(self, subject_class: str, predicate: str, obj: str) -> bool:
        """TOIF's two stages (InsCom section II-B) applied to one triplet with a class-named object."""
        return subject_class in self.critical_subjects and (predicate, obj) in self.critical_relations


def task_names() -> list[str]:
    """Names of the shipped tasks."""
    return sorted(p.stem for p in TASK_DIR.glob("*.yaml"))


def load_task(name_or_path: str | Path) -> Task:
    """Load a shipped task by name, or a task file by path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = TASK_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise SemcomError(f"no task file {path}", hint=f"use a path to a task YAML or one of: {', '.join(task_names())}")
    raw = yaml.safe_load(path.read_text())
    words = [*raw.get("critical_subjects", []), *(w for pair in raw.get("critical_relations", []) for w in pair)] \
        if isinstance(raw, dict) else []
    if any(not isinstance(w, str) for w in words):
        odd = next(w for w in words if not isinstance(w, str))
        raise SemcomError(f"task file {path}: critical_subjects / critical_relations hold {odd!r}, not a word",
                          hint='quote it: YAML reads bare on/off/yes/no as booleans (write "on")')
    try:
        return Task(
            name=str(raw["name"]),
            description=str(raw["description"]),
            critical_subjects=frozenset(raw["critical_subjects"]),
            critical_relations=frozenset((str(p), str(o)) for p, o in raw["critical_relations"]),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise SemcomError(
            f"task file {path} is malformed: {err!r}",
            hint="it needs name, description, critical_subjects (list) and critical_relations (list of [predicate, object])",
        ) from None
