"""A label set: a folder holding one Parquet file per table (``objects.parquet``...) and ``manifest.json``.

The manifest records what made the label set: ``dataset``, ``split``, ``config`` (the full pipeline configuration),
plus, added by :meth:`LabelSet.create`, ``schema_version``, ``package_version`` and ``created_at``. With the
``source`` column of each row it traces every label to the stage, model and prompt that made it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from semcom_bench import __version__
from semcom_bench.errors import CorruptFileError, SchemaError, SemcomError
from semcom_bench.schemas.io import read_table, version_hint, version_mismatch, write_json, write_table
from semcom_bench.schemas.tables import LABEL_SET_TABLES, SCHEMA_VERSION, table_schema

MANIFEST_NAME = "manifest.json"

# Keys the caller must give, with their types, and keys create() fills in itself.
_REQUIRED: dict[str, type] = {"dataset": str, "split": str, "config": dict}
_AUTOMATIC = ("schema_version", "package_version", "created_at")
_MAKE_HINT = "make a label set with `semcom-bench annotate --out DIR`"
CONTENT_TABLES = ("images", "objects", "patches", "task_masks")
"""What a benchmark reads of a label set: its images (by content hash), objects, patch tiers and task masks."""


class LabelSet:
    """A label-set folder; get one with :meth:`create` or :meth:`open`."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self._path = path
        self._manifest = manifest

    @classmethod
    def create(cls, path: str | Path, manifest: Mapping[str, Any]) -> LabelSet:
        """Start a label set in ``path`` (made if absent) and write its ``manifest.json``.

        ``manifest`` must hold ``dataset`` (str), ``split`` (str) and ``config`` (dict, the full pipeline
        configuration) and may hold more JSON keys. Refuses a folder that already holds a label set.
        """
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise SemcomError(f"{path} is a file, a label set is a folder", hint="choose a folder path")
        if (path / MANIFEST_NAME).exists():
            raise SemcomError(
                f"{path} already holds a label set", hint="choose a new folder, or delete the old label set first"
            )
        problems = [
            f"{key} must be a {t.__name__}" for key, t in _REQUIRED.items() if not isinstance(manifest.get(key), t)
        ]
        problems += [f"{key} is set by LabelSet.create" for key in _AUTOMATIC if key in manifest]
        if problems:
            raise SchemaError(
                f"invalid label-set manifest: {'; '.join(problems)}", hint="pass dataset, split and config"
            )
        full = {
            **manifest,
            "schema_version": SCHEMA_VERSION,
            "package_version": __version__,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_json(full, path / MANIFEST_NAME)
        return cls.open(path)  # the manifest as stored: paths in the config became strings

    @classmethod
    def open(cls, path: str | Path) -> LabelSet:
        """Open an existing label set, checking its manifest and schema version."""
        path = Path(path)
        if not path.is_dir():
            raise SemcomError(f"label set {path} does not exist", hint=_MAKE_HINT)
        manifest_path = path / MANIFEST_NAME
        if not manifest_path.is_file():
            raise SemcomError(f"{path} is not a label set: it has no {MANIFEST_NAME}", hint=_MAKE_HINT)
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CorruptFileError(f"{manifest_path} is not valid JSON ({err})", hint=_MAKE_HINT) from None
        if not isinstance(manifest, dict) or "schema_version" not in manifest:
            raise SchemaError(f"{manifest_path} names no schema_version", hint=_MAKE_HINT)
        if manifest["schema_version"] != SCHEMA_VERSION:
            version = str(manifest["schema_version"])
            raise SchemaError(version_mismatch(f"label set {path}", version), hint=version_hint(version))
        return cls(path, manifest)

    @property
    def path(self) -> Path:
        """The label-set folder."""
        return self._path

    @property
    def manifest(self) -> dict[str, Any]:
        """A copy of the manifest."""
        return copy.deepcopy(self._manifest)

    def update_manifest(self, updates: Mapping[str, Any]) -> None:
        """Merge ``updates`` into the manifest's top level and rewrite it atomically (e.g. a later stage's config)."""
        reserved = [key for key in _AUTOMATIC if key in updates]
        if reserved:
            raise SchemaError(f"manifest key(s) {', '.join(reserved)} cannot be changed", hint="leave them out")
        write_json({**self._manifest, **updates}, self._path / MANIFEST_NAME)
        self._manifest = LabelSet.open(self._path)._manifest

    def table_path(self, table: str) -> Path:
        """Where table ``table`` lives in this label set (whether or not it exists yet)."""
        table_schema(table)  # an unknown name fails here with the list of known tables
        return self._path / f"{table}.parquet"

    def has(self, table: str) -> bool:
        """Whether table ``table`` has been written."""
        return self.table_path(table).is_file()

    def tables(self) -> list[str]:
        """Names of the label-set tables present, in :data:`LABEL_SET_TABLES` order."""
        return [name for name in LABEL_SET_TABLES if self.has(name)]

    def write(self, table: str, data: pa.Table | Iterable[Mapping[str, Any]]) -> Path:
        """Validate and atomically write table ``table`` (replacing any previous version); returns its path."""
        return write_table(table, data, self.table_path(table))

    def read(self, table: str) -> pa.Table:
        """Read and validate table ``table``."""
        return read_table(self.table_path(table), table)

    def content_hash(self, tables: tuple[str, ...] = CONTENT_TABLES) -> str:
        """``sha256:`` + 16 hex digits of the values of ``tables`` (rows in sorted order, file paths left out): the
        same for two label sets with the same images and labels, wherever they live and whichever pyarrow wrote them.
        A benchmark suite names its label set by it."""
        digest = hashlib.sha256()
        for table in tables:
            rows = [json.dumps({k: v for k, v in row.items() if k != "path"}, sort_keys=True, default=repr)
                    for row in self.read(table).to_pylist()]
            digest.update(f"{table}:{len(rows)}\n".encode())
            for row in sorted(rows):
                digest.update(row.encode() + b"\n")
        return f"sha256:{digest.hexdigest()[:16]}"

    def __repr__(self) -> str:
        return f"LabelSet({str(self._path)!r}, tables={self.tables()})"
