"""A leaderboard submission: a folder with ``manifest.json``, the code its entry point names, and its weights.

``manifest.json`` (checked against :data:`MANIFEST_SCHEMA`)::

    {
      "name": "linear-dct",                   # lowercase letters, digits and dashes
      "version": "1.0.0",
      "authors": ["A. Researcher"],
      "license": "MIT",
      "entry_point": "codec:build",           # module (in the folder) : factory(root: Path) -> Scheme
      "weights": [{"path": "weights/basis.pt", "sha256": "<64 hex digits>"}],
      "operating_points": [{"rate": 0.0625, "cbr": 0.066}],   # the scheme's rate knob -> the CBR it claims
      "image_sizes": [[128, 256]],            # the (H, W) it handles (default: the check's sizes)
      "dependencies": ["torch"]               # distributions it imports beyond the toolkit's
    }

An operating point's ``cbr`` is what the submission promises: the harness counts every channel use at that rate, the
side information priced by the harness's rule included, and refuses a submission that spends more.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semcom_bench.errors import SemcomError
from semcom_bench.hashing import sha256_file

MANIFEST = "manifest.json"

MANIFEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "version", "authors", "license", "entry_point", "weights", "operating_points",
                 "dependencies"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"},
        "version": {"type": "string", "minLength": 1},
        "authors": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
        "license": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "entry_point": {"type": "string", "pattern": r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"},
        "weights": {"type": "array", "items": {
            "type": "object", "required": ["path", "sha256"], "additionalProperties": False,
            "properties": {"path": {"type": "string", "minLength": 1},
                           "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}}},
        "operating_points": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["rate", "cbr"], "additionalProperties": False,
            "properties": {"rate": {"type": "number"}, "cbr": {"type": "number", "exclusiveMinimum": 0}}}},
        "image_sizes": {"type": "array", "minItems": 1, "items": {
            "type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "integer", "minimum": 16}}},
        "dependencies": {"type": "array", "items": {"type": "string", "minLength": 1}},
    },
}
"""JSON Schema of ``manifest.json``."""


@dataclass(frozen=True)
class OperatingPoint:
    """One rate point: the scheme's ``rate`` argument and the CBR it claims there."""

    rate: float
    cbr: float


@dataclass(frozen=True)
class Manifest:
    """A validated ``manifest.json`` of the submission in ``root``."""

    root: Path
    name: str
    version: str
    authors: tuple[str, ...]
    license: str
    entry_point: str
    weights: tuple[tuple[str, str], ...]
    operating_points: tuple[OperatingPoint, ...]
    image_sizes: tuple[tuple[int, int], ...] | None
    dependencies: tuple[str, ...]
    description: str = ""

    @property
    def module(self) -> str:
        """The entry point's module, importable with ``root`` on ``sys.path``."""
        return self.entry_point.split(":")[0]

    @property
    def factory(self) -> str:
        """The entry point's factory: ``factory(root: Path) -> Scheme``."""
        return self.entry_point.split(":")[1]


def schema_problems(data: Any) -> list[str]:
    """Every way ``data`` breaks :data:`MANIFEST_SCHEMA`, one readable line each (empty: it conforms)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(MANIFEST_SCHEMA)
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        problems.append(f"{where}: {error.message}")
    return problems


def load_manifest(root: str | Path) -> Manifest:
    """Read and validate ``root/manifest.json``; every schema problem is listed in the error."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise SemcomError(f"{root} has no {MANIFEST}",
                          hint="scaffold a submission with `semcom-bench leaderboard new NAME`")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SemcomError(f"{path} is not valid JSON ({err})", hint="fix the syntax at the position given") from None
    problems = schema_problems(data)
    if problems:
        raise SemcomError(f"{path} does not follow the manifest schema:\n  " + "\n  ".join(problems),
                          hint="see semcom_bench.leaderboard.manifest for every field and an example")
    return Manifest(
        root=root.resolve(), name=data["name"], version=data["version"], authors=tuple(data["authors"]),
        license=data["license"], entry_point=data["entry_point"],
        weights=tuple((w["path"], w["sha256"]) for w in data["weights"]),
        operating_points=tuple(OperatingPoint(float(p["rate"]), float(p["cbr"])) for p in data["operating_points"]),
        image_sizes=tuple((int(h), int(w)) for h, w in data["image_sizes"]) if "image_sizes" in data else None,
        dependencies=tuple(data["dependencies"]), description=data.get("description", ""),
    )


def weight_problems(manifest: Manifest) -> list[str]:
    """Weights files that are missing, outside the folder, or whose sha256 differs from the manifest's."""
    problems = []
    for rel, expected in manifest.weights:
        path = (manifest.root / rel).resolve()
        if not path.is_relative_to(manifest.root):
            problems.append(f"{rel}: lies outside the submission folder; keep weights inside it")
        elif not path.is_file():
            problems.append(f"{rel}: no such file in the submission")
        elif (actual := sha256_file(path)) != expected:
            problems.append(f"{rel}: sha256 is {actual}, the manifest says {expected}; "
                            "restore the file or put its new hash in manifest.json")
    return problems
