"""DuckDB over a label set: one view per table present, and the summary numbers ``labels stats`` prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from semcom_bench.schemas.io import read_schema
from semcom_bench.schemas.labelset import LabelSet
from semcom_bench.schemas.tables import LABEL_SET_TABLES, MAX_TIER

TIERS = [str(tier) for tier in range(MAX_TIER + 1)]
UNLABELLED = "unlabelled"
# Manifest entries repeated at the top of the stats.
_MANIFEST_KEYS = ("dataset", "split", "schema_version", "package_version", "created_at")


def connect(labelset: str | Path | LabelSet) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a view per table present in the label set, named like the table.

    Each file's footer is checked first (table name, schema version, columns), so queries see valid tables only.
    """
    labels = labelset if isinstance(labelset, LabelSet) else LabelSet.open(labelset)
    con = duckdb.connect()
    for name in labels.tables():
        path = labels.table_path(name)
        read_schema(path, name)
        literal = str(path.resolve()).replace("'", "''")
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{literal}')")
    return con


def labelset_stats(path: str | Path) -> dict[str, Any]:
    """Summary numbers of a label set, computed with DuckDB SQL over its views.

    Returns ``{"path", "dataset", "split", "schema_version", "package_version", "created_at", "rows",
    "object_importance", "patch_importance", "triplets"}``:

    * ``rows``: row count of every table in :data:`LABEL_SET_TABLES`, ``None`` for a table not written.
    * ``object_importance``: objects per tier ``"0"``..``"3"`` plus ``"unlabelled"`` (null importance).
    * ``patch_importance``: patches per tier over all patches of all images.
    * ``triplets``: ``{"per_predicate": {predicate: n}, "task_critical": n, "task_critical_per_task": {task: n}}``.

    A section is ``None`` when its table is absent.
    """
    labels = LabelSet.open(path)
    manifest = labels.manifest
    con = connect(labels)
    try:
        present = set(labels.tables())
        rows = {name: _scalar(con, f"SELECT count(*) FROM {name}") if name in present else None for name in LABEL_SET_TABLES}
        stats: dict[str, Any] = {
            "path": str(labels.path),
            **{key: manifest.get(key) for key in _MANIFEST_KEYS},
            "rows": rows,
            "object_importance": None,
            "patch_importance": None,
            "triplets": None,
        }
        if "objects" in present:
            counts = _tier_counts(con, "SELECT importance AS tier, count(*) FROM objects GROUP BY ALL")
            stats["object_importance"] = {**counts, UNLABELLED: counts.get(UNLABELLED, 0)}
        if "patches" in present:
            stats["patch_importance"] = _tier_counts(
                con, "SELECT tier, count(*) FROM (SELECT unnest(importance) AS tier FROM patches) GROUP BY ALL"
            )
        if "triplets" in present:
            per_predicate = con.sql(
                "SELECT predicate, count(*) AS n FROM triplets GROUP BY ALL ORDER BY n DESC, predicate"
            ).fetchall()
            per_task = con.sql(
                "SELECT task, count(*) AS n FROM triplets WHERE task_critical GROUP BY ALL ORDER BY task"
            ).fetchall()
            stats["triplets"] = {
                "per_predicate": dict(per_predicate),
                "task_critical": sum(n for _, n in per_task),
                # a critical triplet always names its task; "null" keeps a malformed one visible instead of dropping it
                "task_critical_per_task": {str(task) if task is not None else "null": n for task, n in per_task},
            }
        return stats
    finally:
        con.close()


def _scalar(con: duckdb.DuckDBPyConnection, query: str) -> int:
    return int(con.sql(query).fetchall()[0][0])


def _tier_counts(con: duckdb.DuckDBPyConnection, query: str) -> dict[str, int]:
    """``{tier: count}`` for every tier 0..3 (zeros included); null tiers under :data:`UNLABELLED` if any."""
    counts = dict.fromkeys(TIERS, 0)
    for tier, n in con.sql(query).fetchall():
        counts[UNLABELLED if tier is None else str(tier)] = int(n)
    return counts
