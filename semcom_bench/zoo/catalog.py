"""What the zoo holds: recipes (how each checkpoint is made) and manifests (what was made), and ``zoo:NAME`` lookup.

A zoo checkpoint is ``checkpoints/NAME-XXXXXXXX.pt`` (the last 8 hex digits: the start of its SHA-256, as CompressAI
names its weights) beside ``checkpoints/NAME.json``, its manifest. The ``.pt`` is a checkpoint that
:func:`semcom_bench.benchmark.train.load_checkpoint` reads (``weights_only``), without the optimiser states.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from semcom_bench.errors import SemcomError
from semcom_bench.hashing import sha256_file

ZOO_DIR = Path(__file__).with_name("checkpoints")
RECIPES_FILE = Path(__file__).with_name("recipes.yaml")
PREFIX = "zoo:"
MANIFEST_FIELDS = ("name", "file", "sha256", "size_bytes", "scheme", "hparams", "profile", "settings", "steps",
                   "wall_s", "hardware", "seed", "version", "training_labels", "validation")


@dataclass(frozen=True)
class Recipe:
    """How zoo entry ``name`` is trained (``bench train --profile zoo`` plus these overrides) and measured."""

    name: str
    scheme: str
    labels: str = "heuristic"
    cbr: float | None = None
    lmbda: float | None = None
    prune: float | None = None
    rates: list[float] = field(default_factory=list)
    val_rate: float | None = None

    @property
    def overrides(self) -> dict[str, float]:
        """The hparams this entry sets on top of the zoo profile's."""
        return {k: v for k, v in (("cbr", self.cbr), ("lmbda", self.lmbda)) if v is not None}


@dataclass(frozen=True)
class Recipes:
    """The recipes file: the data every entry trains on, the validation rule and the entries by name."""

    data: dict[str, Any]
    validation: dict[str, float]
    entries: dict[str, Recipe]

    def get(self, name: str) -> Recipe:
        """The recipe of ``name``; an unknown name fails with the known ones as its hint."""
        if name not in self.entries:
            raise SemcomError(f"the zoo has no entry {name!r}", hint=f"known entries: {', '.join(self.entries)}")
        return self.entries[name]


@cache
def load_recipes(path: Path = RECIPES_FILE) -> Recipes:
    """The zoo's recipes (``recipes.yaml``)."""
    raw = yaml.safe_load(path.read_text())
    entries = {name: Recipe(name=name, **spec) for name, spec in raw["entries"].items()}
    return Recipes(raw["data"], raw["validation"], entries)


def manifest_path(name: str, root: Path = ZOO_DIR) -> Path:
    """Where entry ``name``'s manifest lives."""
    return root / f"{name}.json"


def read_manifest(name: str, root: Path = ZOO_DIR) -> dict[str, Any]:
    """Entry ``name``'s manifest; fails with the command that makes it when the entry is not trained yet."""
    load_recipes().get(name)
    path = manifest_path(name, root)
    if not path.is_file():
        raise SemcomError(f"zoo entry {name!r} has no checkpoint in {root}",
                          hint=f"train it with `semcom-bench zoo train {name}` (or all: `make zoo`)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise SemcomError(f"{path} is not valid JSON ({err})",
                          hint=f"restore it from git, or retrain with `semcom-bench zoo train {name}`") from None
    missing = [key for key in MANIFEST_FIELDS if key not in manifest]
    if missing:
        raise SemcomError(f"{path} lacks {', '.join(missing)}", hint=f"retrain with `semcom-bench zoo train {name}`")
    return manifest


def manifests(root: Path = ZOO_DIR) -> list[dict[str, Any]]:
    """The manifests of every trained entry, in the recipes' order."""
    return [read_manifest(name, root) for name in load_recipes().entries if manifest_path(name, root).is_file()]


def is_zoo_ref(ref: str | Path) -> bool:
    """Whether ``ref`` names a zoo entry (``zoo:NAME``) rather than a path."""
    return str(ref).startswith(PREFIX)


def resolve(ref: str | Path, root: Path = ZOO_DIR) -> Path:
    """The checkpoint file of ``zoo:NAME`` after checking its SHA-256 against the manifest; any other ``ref`` is
    returned as a path."""
    if not is_zoo_ref(ref):
        return Path(ref)
    name = str(ref).removeprefix(PREFIX)
    manifest = read_manifest(name, root)
    path = root / manifest["file"]
    if not path.is_file():
        raise SemcomError(f"zoo entry {name!r}: {path} is missing",
                          hint=f"restore it from git, or retrain with `semcom-bench zoo train {name}`")
    digest = sha256_file(path)
    if digest != manifest["sha256"]:
        raise SemcomError(f"zoo entry {name!r}: {path} has SHA-256 {digest[:16]}..., its manifest says "
                          f"{manifest['sha256'][:16]}...", hint="the file is damaged or was replaced: restore it "
                          f"from git, or retrain with `semcom-bench zoo train {name}`")
    return path
