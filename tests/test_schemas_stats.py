"""DuckDB views over a label set and `labels stats`, checked against a hand-counted fixture."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from semcom_bench.errors import CorruptFileError, SchemaError
from semcom_bench.schemas import SCHEMA_VERSION, LabelSet, connect, labelset_stats
from semcom_bench.schemas.cli import app

MANIFEST = {"dataset": "synthcity", "split": "val", "config": {"labeler": "heuristic"}}


def _object(image_id: str, object_id: int, class_name: str, importance: int | None) -> dict[str, Any]:
    return {"image_id": image_id, "object_id": object_id, "class_name": class_name, "bbox": [0.0, 0.0, 4.0, 4.0],
            "score": None, "mask": None, "source": "gt", "importance": importance,
            "importance_source": None if importance is None else "heuristic", "rationale": None}


def _triplet(subject_id: int, predicate: str, task: str | None, critical: bool | None) -> dict[str, Any]:
    return {"image_id": "a", "subject_id": subject_id, "predicate": predicate, "object_id": None,
            "object_class": "road", "score": None, "source": "gt", "task": task, "task_critical": critical}


@pytest.fixture
def labelset(tmp_path: Path) -> Path:
    """3 images; objects with tiers 3, 2, 2, 0, null, null; 8 patches; 5 triplets (3 task-critical)."""
    labels = LabelSet.create(tmp_path / "labels", MANIFEST)
    labels.write("images", [
        {"image_id": i, "dataset": "synthcity", "split": "val", "path": f"{i}.png", "width": 96, "height": 64,
         "sha256": "0" * 64} for i in ("a", "b", "c")
    ])
    labels.write("objects", [
        _object("a", 1, "car", 3), _object("a", 2, "person", 2), _object("b", 1, "person", 2),
        _object("b", 2, "building", 0), _object("c", 1, "car", None), _object("c", 2, "bicycle", None),
    ])
    labels.write("patches", [
        {"image_id": "a", "patch_size": 32, "grid_h": 2, "grid_w": 3, "importance": [0, 0, 1, 3, 3, 2], "source": "t"},
        {"image_id": "b", "patch_size": 64, "grid_h": 1, "grid_w": 2, "importance": [0, 1], "source": "t"},
    ])
    labels.write("triplets", [
        _triplet(2, "walking on", "pedestrian-collision-warning", True),
        _triplet(2, "walking on", "pedestrian-collision-warning", False),
        _triplet(1, "driving on", None, None),
        _triplet(1, "driving on", "vehicle-following", True),
        _triplet(3, "crossing", "pedestrian-collision-warning", True),
    ])
    return labels.path


EXPECTED_ROWS = {"images": 3, "objects": 6, "patches": 2, "triplets": 5, "task_masks": None, "llm_calls": None,
                 "reviews": None}


def test_connect_makes_one_view_per_present_table(labelset: Path) -> None:
    con = connect(labelset)
    views = {row[0] for row in con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert views == {"images", "objects", "patches", "triplets"}
    assert con.sql("SELECT count(*) FROM objects WHERE class_name = 'person'").fetchall() == [(2,)]
    joined = con.sql("SELECT image_id, count(*) FROM images JOIN objects USING (image_id) GROUP BY ALL ORDER BY 1")
    assert joined.fetchall() == [("a", 2), ("b", 2), ("c", 2)]
    with pytest.raises(duckdb.CatalogException):
        con.sql("SELECT * FROM reviews")


def test_connect_checks_files_before_making_views(labelset: Path) -> None:
    (labelset / "patches.parquet").write_bytes(b"PAR1 cut short")
    with pytest.raises(CorruptFileError, match="patches.parquet"):
        connect(labelset)
    (labelset / "patches.parquet").write_bytes((labelset / "images.parquet").read_bytes())
    with pytest.raises(SchemaError, match="holds table 'images', expected 'patches'"):
        connect(labelset)


def test_stats_match_hand_counts(labelset: Path) -> None:
    stats = labelset_stats(labelset)
    assert stats["dataset"] == "synthcity" and stats["split"] == "val" and stats["schema_version"] == SCHEMA_VERSION
    assert stats["rows"] == EXPECTED_ROWS
    assert stats["object_importance"] == {"0": 1, "1": 0, "2": 2, "3": 1, "unlabelled": 2}
    assert stats["patch_importance"] == {"0": 3, "1": 2, "2": 1, "3": 2}
    assert stats["triplets"] == {
        "per_predicate": {"driving on": 2, "walking on": 2, "crossing": 1},
        "task_critical": 3,
        "task_critical_per_task": {"pedestrian-collision-warning": 2, "vehicle-following": 1},
    }


def test_stats_of_an_empty_label_set(tmp_path: Path) -> None:
    LabelSet.create(tmp_path, MANIFEST)
    stats = labelset_stats(tmp_path)
    assert stats["rows"] == dict.fromkeys(EXPECTED_ROWS)
    assert stats["object_importance"] is None and stats["patch_importance"] is None and stats["triplets"] is None


def test_cli_stats_json_is_the_stats_dict(labelset: Path) -> None:
    result = CliRunner().invoke(app, ["stats", str(labelset), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == labelset_stats(labelset)


def test_cli_stats_prints_tables(labelset: Path) -> None:
    result = CliRunner().invoke(app, ["stats", str(labelset)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any("unlabelled" in line and "2" in line for line in lines)
    assert any("walking on" in line and "2" in line for line in lines)
    assert any("all tasks" in line and "3" in line for line in lines)
    assert any("pedestrian-collision-warning" in line and "2" in line for line in lines)
    assert "synthcity" in result.stdout


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "semcom_bench", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("make", ["missing", "no-manifest"])
def test_cli_stats_on_a_non_label_set_fails_with_a_message(tmp_path: Path, make: str) -> None:
    folder = tmp_path / "out"
    if make == "no-manifest":
        folder.mkdir()
    result = _cli("labels", "stats", str(folder))
    assert result.returncode == 2
    assert result.stderr.startswith("error:")  # as every other command says it
    assert str(folder) in result.stderr and "Hint:" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_stats_warns_of_unlabelled_objects(labelset: Path) -> None:
    result = _cli("labels", "stats", str(labelset), "--json")
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and "2 object(s) have no tier" in result.stderr
    assert json.loads(result.stdout)["object_importance"]["unlabelled"] == 2
