"""Label-set schemas: table round trips, validation errors, the validated reader, mask RLE and the LabelSet folder."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from semcom_bench import __version__
from semcom_bench.errors import CorruptFileError, SchemaError, SemcomError, ShapeMismatchError
from semcom_bench.schemas import (
    MANIFEST_NAME,
    RLE_TYPE,
    SCHEMA_VERSION,
    TABLES,
    LabelSet,
    conform_table,
    decode_mask,
    decode_masks,
    encode_mask,
    encode_masks,
    read_table,
    to_table,
    write_table,
)
from semcom_bench.schemas.tables import TABLE_KEY, VERSION_KEY

MANIFEST = {"dataset": "synthcity", "split": "val", "config": {"detector": "gt", "labeler": {"name": "heuristic"}}}


def _disk(h: int, w: int, cy: int, cx: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def realistic_rows() -> dict[str, list[dict[str, Any]]]:
    """A few rows per table, with nulls, masks and nested lists; floats exactly representable in float32."""
    car, person = encode_mask(_disk(64, 96, 40, 30, 12)), encode_mask(_disk(64, 96, 20, 70, 6))
    return {
        "images": [
            {"image_id": "aachen_000000_000019", "dataset": "synthcity", "split": "val",
             "path": "leftImg8bit/val/aachen/aachen_000000_000019_leftImg8bit.png", "width": 96, "height": 64,
             "sha256": "9f" * 32},
            {"image_id": "aachen_000001_000019", "dataset": "synthcity", "split": "val",
             "path": "leftImg8bit/val/aachen/aachen_000001_000019_leftImg8bit.png", "width": 96, "height": 64,
             "sha256": "0a" * 32},
        ],
        "objects": [
            {"image_id": "aachen_000000_000019", "object_id": 26001, "class_name": "car",
             "bbox": [18.0, 28.0, 43.0, 53.0], "score": None, "mask": car, "source": "gt", "importance": 3,
             "importance_source": "mllm:qwen2.5-vl-7b", "rationale": "car directly ahead in the ego lane"},
            {"image_id": "aachen_000000_000019", "object_id": 24000, "class_name": "person",
             "bbox": [64.0, 14.0, 77.0, 27.0], "score": 0.75, "mask": person, "source": "yolo", "importance": None,
             "importance_source": None, "rationale": None},
            {"image_id": "aachen_000001_000019", "object_id": 1, "class_name": "traffic sign",
             "bbox": [0.5, 0.0, 4.0, 8.25], "score": 0.5, "mask": None, "source": "yolo", "importance": 0,
             "importance_source": "static", "rationale": None},
        ],
        "patches": [
            {"image_id": "aachen_000000_000019", "patch_size": 32, "grid_h": 2, "grid_w": 3,
             "importance": [0, 3, 0, 1, 3, 2], "source": "patch_tiers:mask"},
            {"image_id": "aachen_000001_000019", "patch_size": 64, "grid_h": 1, "grid_w": 2, "importance": [0, 0],
             "source": "patch_tiers:mask"},
        ],
        "triplets": [
            {"image_id": "aachen_000000_000019", "subject_id": 26001, "predicate": "in ego lane", "object_id": None,
             "object_class": "road", "score": None, "source": "gt", "task": "vehicle-following", "task_critical": True},
            {"image_id": "aachen_000000_000019", "subject_id": 24000, "predicate": "walking on", "object_id": None,
             "object_class": "sidewalk", "score": 0.25, "source": "relations:heuristic", "task": None,
             "task_critical": None},
            {"image_id": "aachen_000000_000019", "subject_id": 24000, "predicate": "riding", "object_id": 33000,
             "object_class": "bicycle", "score": 0.125, "source": "relations:heuristic",
             "task": "pedestrian-collision-warning", "task_critical": False},
        ],
        "task_masks": [
            {"image_id": "aachen_000000_000019", "task": "pedestrian-collision-warning", "mask": person,
             "pixel_fraction": 0.0625},
            {"image_id": "aachen_000001_000019", "task": "vehicle-following",
             "mask": encode_mask(np.zeros((64, 96), bool)), "pixel_fraction": 0.0},
        ],
        "llm_calls": [
            {"request_key": "sha256:" + "1" * 64, "image_id": "aachen_000000_000019", "model": "qwen2.5-vl-7b",
             "tokens_in": 1536, "tokens_out": 212, "cost_usd": 0.00125, "latency_s": 2.5, "status": "ok", "error": None,
             "created_at": datetime(2025, 3, 1, 12, 30, 5, 123456, tzinfo=UTC), "call_id": "a" * 32},
            {"request_key": "sha256:" + "2" * 64, "image_id": "aachen_000001_000019", "model": "qwen2.5-vl-7b",
             "tokens_in": 1536, "tokens_out": 0, "cost_usd": None, "latency_s": 30.0, "status": "error",
             "error": "ReadTimeout: server did not answer in 30 s",
             "created_at": datetime(2025, 3, 1, 14, 31, tzinfo=timezone(timedelta(hours=2))), "call_id": "b" * 32},
        ],
        "reviews": [
            {"round": 1, "annotator": "alice", "image_id": "aachen_000000_000019", "annotation_id": 7,
             "object_id": 24000, "status": "kept", "class_name": "person", "bbox": [10.0, 20.0, 30.5, 60.0],
             "mask": encode_mask(np.eye(64, 96, dtype=bool)), "importance": 2, "triplet_decisions": [], "flags": [], "lead_time_s": 41.5,
             "updated_at": datetime(2025, 3, 2, 9, 0, tzinfo=UTC)},
            {"round": 1, "annotator": "alice", "image_id": "aachen_000000_000019", "annotation_id": 7,
             "object_id": None, "status": None, "class_name": None, "bbox": None, "mask": None, "importance": None,
             "triplet_decisions": [
                 {"subject_id": 24000, "predicate": "walking on", "object_id": None, "object_class": "sidewalk",
                  "decision": "accept"},
                 {"subject_id": 24000, "predicate": "riding", "object_id": 33000, "object_class": "bicycle",
                  "decision": "reject"},
             ], "flags": ["objects missing"], "lead_time_s": 41.5,
             "updated_at": datetime(2025, 3, 2, 9, 0, tzinfo=UTC)},
            {"round": 2, "annotator": "bob", "image_id": "aachen_000001_000019", "annotation_id": 9,
             "object_id": (1 << 40) + 9000, "status": "added", "class_name": "car", "bbox": [0.0, 0.0, 8.0, 8.0],
             "mask": None, "importance": None, "triplet_decisions": [], "flags": [], "lead_time_s": None,
             "updated_at": datetime(2025, 3, 3, 9, 0, tzinfo=UTC)},
        ],
        "results": [
            {"image_id": "aachen_000000_000019", "scheme": "separation", "model": "", "checkpoint": "",
             "config": "hevc R=1/2 16-QAM", "rate": 0.0625, "channel": "awgn", "snr_db": -3.0, "seed": 11,
             "channel_uses": 24576, "side_uses": 0, "side_rule": "ldpc", "cbr": 0.0625,
             "psnr": 14.25, "ssim": 0.5, "ms_ssim": 0.375, "tc_psnr": 12.5, "tc_sse": 2048.0,
             "tc_pixels": 300, **{f"psnr_tier{t}": 14.0 + t for t in range(4)},
             **{f"sse_tier{t}": 1000.5 * t for t in range(4)}, **{f"pixels_tier{t}": 256 * t for t in range(4)},
             **{f"uses_tier{t}": None for t in range(4)},
             "sse": 4.5e6, "pixels": 131072, "params": None, "macs": None, "failed": True, "nan_output": False,
             "encode_s": 1.5, "decode_s": 0.25},
        ],
    }


# ---------------------------------------------------------------------------------------------------- tables

def test_every_table_has_rows_in_the_fixture_and_documented_versioned_schema() -> None:
    assert set(realistic_rows()) == set(TABLES)
    for name, schema in TABLES.items():
        assert schema.metadata[TABLE_KEY] == name.encode()
        assert schema.metadata[VERSION_KEY] == str(SCHEMA_VERSION).encode()
        undocumented = [f.name for f in schema if not (f.metadata or {}).get(b"doc")]
        assert undocumented == [], name


@pytest.mark.parametrize("name", list(TABLES))
def test_table_round_trips_through_parquet(tmp_path: Path, name: str) -> None:
    rows = realistic_rows()[name]
    path = write_table(name, rows, tmp_path / f"{name}.parquet")
    table = read_table(path, name)
    assert table.schema.equals(TABLES[name], check_metadata=True)
    assert table.to_pylist() == rows


def test_column_types_are_the_documented_ones() -> None:
    objects, reviews = TABLES["objects"], TABLES["reviews"]
    assert objects.field("bbox").type == pa.list_(pa.field("item", pa.float32(), nullable=False), 4)
    assert objects.field("importance").type == pa.uint8() and objects.field("importance").nullable
    assert objects.field("mask").type == RLE_TYPE and objects.field("mask").nullable
    assert not objects.field("class_name").nullable
    assert TABLES["llm_calls"].field("created_at").type == pa.timestamp("us", tz="UTC")
    assert TABLES["patches"].field("importance").type == pa.list_(pa.field("item", pa.uint8(), nullable=False))
    decision = reviews.field("triplet_decisions").type.value_type
    assert [f.name for f in decision] == ["subject_id", "predicate", "object_id", "object_class", "decision"]
    assert decision.field("object_id").nullable and not decision.field("decision").nullable


def test_arrow_table_input_is_cast_reordered_and_round_trips(tmp_path: Path) -> None:
    rows = realistic_rows()["images"]
    loose = pa.Table.from_pylist([dict(reversed(list(r.items()))) for r in rows])  # int64 sizes, reversed columns
    assert loose.schema.field("width").type == pa.int64()
    write_table("images", loose, tmp_path / "images.parquet")
    table = read_table(tmp_path / "images.parquet", "images")
    assert table.schema.field("width").type == pa.int32()
    assert table.to_pylist() == rows


def test_numpy_values_are_accepted() -> None:
    row = realistic_rows()["objects"][0] | {"bbox": np.array([1, 2, 3, 4], dtype=np.float64), "object_id": np.int64(7),
                                            "importance": np.uint8(2)}
    assert to_table("objects", [row]).to_pylist()[0]["bbox"] == [1.0, 2.0, 3.0, 4.0]


def test_empty_table_keeps_its_schema(tmp_path: Path) -> None:
    write_table("triplets", [], tmp_path / "t.parquet")
    table = read_table(tmp_path / "t.parquet", "triplets")
    assert table.num_rows == 0 and table.schema.equals(TABLES["triplets"])


def _objects_row(**changes: Any) -> dict[str, Any]:
    return realistic_rows()["objects"][0] | changes


@pytest.mark.parametrize(
    ("row", "names"),
    [
        ({k: v for k, v in _objects_row().items() if k != "source"}, ["'objects'", "row 0", "missing", "source"]),
        (_objects_row(colour="red"), ["unknown", "colour"]),
        (_objects_row(object_id="seven"), ["object_id"]),
        (_objects_row(importance=300), ["importance"]),
        (_objects_row(importance=-1), ["importance"]),
        (_objects_row(object_id=7.5), ["object_id", "fractional"]),
        (_objects_row(bbox=[1.0, 2.0, 3.0]), ["bbox"]),
        (_objects_row(image_id=None), ["non-nullable", "image_id"]),
        (_objects_row(bbox=[1.0, None, 3.0, 4.0]), ["non-nullable", "bbox[]"]),
        (_objects_row(mask={"height": 64, "width": 96, "counts": None}), ["non-nullable", "mask.counts"]),
        (_objects_row(importance=7), ["importance", "tier 7"]),
    ],
)
def test_to_table_rejects_bad_rows_naming_table_and_columns(row: dict[str, Any], names: list[str]) -> None:
    with pytest.raises(SchemaError) as caught:
        to_table("objects", [row])
    message = str(caught.value)
    assert "objects" in message and caught.value.hint
    for name in names:
        assert name in message


def test_nested_nulls_in_list_of_structs_are_rejected() -> None:
    review = realistic_rows()["reviews"][1]
    review["triplet_decisions"][1]["decision"] = None
    with pytest.raises(SchemaError, match=r"triplet_decisions\[\]\.decision"):
        to_table("reviews", [review])


def test_null_mask_does_not_count_as_null_counts() -> None:
    # the child fields of a null struct are not checked: a missing mask is allowed, a broken one is not
    assert to_table("objects", [_objects_row(mask=None)]).column("mask").null_count == 1


def test_patches_must_hold_one_tier_per_grid_cell() -> None:
    row = realistic_rows()["patches"][0] | {"importance": [0, 1, 2]}
    with pytest.raises(SchemaError, match="grid_h \\* grid_w"):
        to_table("patches", [row])
    with pytest.raises(SchemaError, match="tier 4"):
        to_table("patches", [realistic_rows()["patches"][0] | {"importance": [0, 1, 2, 4, 0, 0]}])


def test_unknown_table_lists_the_known_ones() -> None:
    with pytest.raises(SchemaError, match="unknown table 'object'") as caught:
        to_table("object", [])
    assert "objects" in (caught.value.hint or "")


def test_conform_table_rejects_missing_columns_and_lossy_casts() -> None:
    good = to_table("images", realistic_rows()["images"])
    with pytest.raises(SchemaError, match="missing: sha256"):
        conform_table("images", good.drop_columns(["sha256"]))
    with pytest.raises(SchemaError, match="width"):
        conform_table("images", good.set_column(4, "width", pa.array([1.5, 2.0])))
    with pytest.raises(SchemaError, match="non-nullable.*height"):
        conform_table("images", good.set_column(5, "height", pa.array([None, 64], pa.int32())))


# ---------------------------------------------------------------------------------------------------- reader

def _write_raw(table: pa.Table, path: Path, metadata: dict[bytes, bytes] | None) -> Path:
    pq.write_table(table.replace_schema_metadata(metadata), path)
    return path


def test_read_missing_file_names_path_and_command(tmp_path: Path) -> None:
    with pytest.raises(SemcomError) as caught:
        read_table(tmp_path / "reviews.parquet", "reviews")
    assert str(tmp_path / "reviews.parquet") in str(caught.value)
    assert "semcom-bench review pull" in (caught.value.hint or "")


def test_read_truncated_file_is_corrupt(tmp_path: Path) -> None:
    path = write_table("objects", realistic_rows()["objects"], tmp_path / "objects.parquet")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match="not a valid Parquet file"):
        read_table(path, "objects")
    path.write_bytes(b"")
    with pytest.raises(CorruptFileError):
        read_table(path, "objects")


def test_read_other_table_is_refused(tmp_path: Path) -> None:
    path = write_table("images", realistic_rows()["images"], tmp_path / "patches.parquet")
    with pytest.raises(SchemaError, match="holds table 'images', expected 'patches'"):
        read_table(path, "patches")


def test_read_foreign_parquet_is_refused(tmp_path: Path) -> None:
    path = _write_raw(to_table("images", realistic_rows()["images"]), tmp_path / "images.parquet", None)
    with pytest.raises(SchemaError, match="not written by semcom-bench"):
        read_table(path, "images")


@pytest.mark.parametrize(("version", "hint"), [(SCHEMA_VERSION + 1, "upgrade"), (SCHEMA_VERSION - 1, "re-create")])
def test_read_other_schema_version_says_which_and_what_to_do(tmp_path: Path, version: int, hint: str) -> None:
    table = to_table("images", realistic_rows()["images"])
    metadata = {TABLE_KEY: b"images", VERSION_KEY: str(version).encode()}
    path = _write_raw(table, tmp_path / "images.parquet", metadata)
    with pytest.raises(SchemaError) as caught:
        read_table(path, "images")
    assert f"schema version {version};" in str(caught.value)
    assert f"reads schema version {SCHEMA_VERSION}" in str(caught.value)
    assert hint in (caught.value.hint or "")


def test_read_mismatching_columns_names_them(tmp_path: Path) -> None:
    table = to_table("images", realistic_rows()["images"])
    metadata = dict(TABLES["images"].metadata)
    changed = table.drop_columns(["sha256"]).set_column(4, "width", table["width"].cast(pa.int64()))
    path = _write_raw(changed.append_column("colour", pa.array(["red", "blue"])), tmp_path / "images.parquet", metadata)
    with pytest.raises(SchemaError) as caught:
        read_table(path, "images")
    message = str(caught.value)
    assert "missing column(s) sha256" in message and "unknown column(s) colour" in message
    assert "column width is int64, expected int32 not null" in message


def test_read_nullable_where_schema_says_not_null_is_refused(tmp_path: Path) -> None:
    table = to_table("images", realistic_rows()["images"])
    loose = pa.Table.from_arrays(table.columns, names=table.column_names)  # every field nullable
    path = _write_raw(loose, tmp_path / "images.parquet", dict(TABLES["images"].metadata))
    with pytest.raises(SchemaError, match="column image_id is string, expected string not null"):
        read_table(path, "images")


# ---------------------------------------------------------------------------------------------------- RLE

@pytest.mark.parametrize(
    "mask",
    [
        np.zeros((7, 5), bool),
        np.ones((7, 5), bool),
        np.random.default_rng(0).random((37, 53)) < 0.5,
        np.random.default_rng(1).random((1, 300)) < 0.1,
        np.zeros((0, 4), bool),
        _disk(120, 80, 60, 40, 30),
    ],
    ids=["empty", "full", "random", "one-row", "zero-height", "disk"],
)
def test_rle_round_trip(mask: np.ndarray) -> None:
    rle = encode_mask(mask)
    assert (rle["height"], rle["width"]) == mask.shape and isinstance(rle["counts"], str)
    decoded = decode_mask(rle)
    assert decoded.dtype == np.bool_ and decoded.flags.c_contiguous
    np.testing.assert_array_equal(decoded, mask)


def test_rle_of_non_contiguous_views_matches_their_copies() -> None:
    base = np.random.default_rng(2).random((40, 60)) < 0.3
    for view in (base[::2, 1::3], base.T, np.asfortranarray(base), base[5:25, 10:50], base[::-1]):
        assert not view.flags.c_contiguous
        assert encode_mask(view) == encode_mask(np.ascontiguousarray(view))
        np.testing.assert_array_equal(decode_mask(encode_mask(view)), view)


def test_rle_batch_matches_single() -> None:
    stack = np.random.default_rng(3).random((4, 20, 30)) < 0.4
    rles = encode_masks(stack)
    assert rles == [encode_mask(m) for m in stack]
    np.testing.assert_array_equal(decode_masks(rles), stack)
    assert encode_masks(np.zeros((0, 20, 30), bool)) == [] and decode_masks([]).shape == (0, 0, 0)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((3, 4), np.uint8), np.zeros((3, 4, 1), bool), np.zeros(5, bool), [[True, False]]],
    ids=["uint8", "3d", "1d", "list"],
)
def test_encode_rejects_wrong_shape_or_dtype(bad: Any) -> None:
    with pytest.raises(ShapeMismatchError, match="bool array with 2 dimensions"):
        encode_mask(bad)


def test_decode_rejects_malformed_and_corrupt_rle() -> None:
    with pytest.raises(SchemaError, match="height, width, counts"):
        decode_mask({"size": [3, 4], "counts": "714"})
    with pytest.raises(SchemaError, match="integer height/width"):
        decode_mask({"height": -1, "width": 4, "counts": "714"})
    with pytest.raises(CorruptFileError):
        decode_mask({"height": 3, "width": 4, "counts": "0"})  # runs cover 0 of 12 pixels
    with pytest.raises(CorruptFileError):
        decode_mask({"height": 3, "width": 4, "counts": "9999"})  # runs overflow the mask
    with pytest.raises(ShapeMismatchError, match="one size"):
        decode_masks([encode_mask(np.zeros((2, 2), bool)), encode_mask(np.zeros((3, 2), bool))])


# ---------------------------------------------------------------------------------------------------- LabelSet

def test_labelset_create_open_write_read(tmp_path: Path) -> None:
    folder = tmp_path / "labels"
    labels = LabelSet.create(folder, MANIFEST | {"prompt": "rate each object"})
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert manifest["schema_version"] == SCHEMA_VERSION and manifest["package_version"] == __version__
    assert {k: manifest[k] for k in MANIFEST} == MANIFEST
    assert manifest["prompt"] == "rate each object"
    assert datetime.fromisoformat(manifest["created_at"]).tzinfo is not None
    assert labels.tables() == [] and not labels.has("objects")

    rows = realistic_rows()
    labels.write("objects", rows["objects"])
    labels.write("images", to_table("images", rows["images"]))
    reopened = LabelSet.open(folder)
    assert reopened.manifest == manifest
    assert reopened.tables() == ["images", "objects"]
    assert sorted(p.name for p in folder.iterdir()) == ["images.parquet", MANIFEST_NAME, "objects.parquet"]
    assert reopened.read("objects").to_pylist() == rows["objects"]


def test_labelset_manifest_is_a_copy_and_update_is_persisted(tmp_path: Path) -> None:
    labels = LabelSet.create(tmp_path, MANIFEST | {"config": {"out": tmp_path / "x"}})
    assert labels.manifest["config"] == {"out": str(tmp_path / "x")}  # as stored on disk
    labels.manifest["dataset"] = "changed"
    assert labels.manifest["dataset"] == "synthcity"
    labels.update_manifest({"review": {"rounds": 2}})
    on_disk = LabelSet.open(tmp_path).manifest
    assert on_disk["review"] == {"rounds": 2} and on_disk["config"] == {"out": str(tmp_path / "x")}
    with pytest.raises(SchemaError, match="schema_version"):
        labels.update_manifest({"schema_version": 9})


def test_labelset_create_refuses_bad_manifests_and_existing_sets(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="config must be a dict"):
        LabelSet.create(tmp_path / "a", {"dataset": "synthcity", "split": "val"})
    with pytest.raises(SchemaError, match="created_at is set by LabelSet.create"):
        LabelSet.create(tmp_path / "a", MANIFEST | {"created_at": "yesterday"})
    with pytest.raises(SchemaError, match="JSON"):
        LabelSet.create(tmp_path / "a", MANIFEST | {"config": {"classes": {"car", "bus"}}})
    assert not (tmp_path / "a" / MANIFEST_NAME).exists()
    (tmp_path / "file").write_text("")
    with pytest.raises(SemcomError, match="is a file"):
        LabelSet.create(tmp_path / "file", MANIFEST)
    LabelSet.create(tmp_path / "b", MANIFEST)
    with pytest.raises(SemcomError, match="already holds a label set"):
        LabelSet.create(tmp_path / "b", MANIFEST)


def test_labelset_open_errors(tmp_path: Path) -> None:
    with pytest.raises(SemcomError, match="does not exist") as caught:
        LabelSet.open(tmp_path / "nowhere")
    assert "semcom-bench annotate" in (caught.value.hint or "")
    with pytest.raises(SemcomError, match="is not a label set: it has no manifest.json"):
        LabelSet.open(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(CorruptFileError, match="not valid JSON"):
        LabelSet.open(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(MANIFEST | {"schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(SchemaError, match=f"schema version {SCHEMA_VERSION + 1}") as caught:
        LabelSet.open(tmp_path)
    assert "upgrade" in (caught.value.hint or "")


def test_labelset_read_absent_or_unknown_table(tmp_path: Path) -> None:
    labels = LabelSet.create(tmp_path, MANIFEST)
    with pytest.raises(SemcomError, match="no 'patches' table") as caught:
        labels.read("patches")
    assert "semcom-bench annotate" in (caught.value.hint or "")
    with pytest.raises(SchemaError, match="unknown table 'patch'"):
        labels.write("patch", [])
