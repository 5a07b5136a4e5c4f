"""Scoring label sets against synthcity's truth: a perfect label set scores 1, a damaged one less, errors are clear."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from semcom_bench.annotate.labelers import static  # noqa: F401  (registration)
from semcom_bench.annotate.pipeline import AnnotateConfig, annotate
from semcom_bench.annotate.relations import gt  # noqa: F401  (registration)
from semcom_bench.annotate.score import match_objects, score_labelset
from semcom_bench.datasets.synthcity import generate, read_truth, truth_path
from semcom_bench.errors import SemcomError
from semcom_bench.schemas import LabelSet, encode_mask

TASK = "vehicle-following"
SPLIT = "train"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("synth")
    generate(path, n=5, seed=11, size=(128, 256), split=SPLIT)
    return path


@pytest.fixture(scope="module")
def truth_labels(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A label set made from the truth itself: gt instances and relations, tiers copied from the sidecars."""
    out = tmp_path_factory.mktemp("labels") / "truth"
    annotate(AnnotateConfig(dataset="synthcity", root=str(root), split=SPLIT, task=TASK, relations="gt",
                            labeler="static"), out)
    labels = LabelSet.open(out)
    objects = labels.read("objects").to_pylist()
    for row in objects:
        truth = read_truth(truth_path(root, SPLIT, "synthcity", row["image_id"]))
        row["importance"] = next(o["importance"][TASK] for o in truth["objects"] if o["instance_id"] == row["object_id"])
    labels.write("objects", objects)
    return out


def copy_of(labels: Path, tmp_path: Path) -> LabelSet:
    shutil.copytree(labels, tmp_path / "copy")
    return LabelSet.open(tmp_path / "copy")


def test_truth_label_set_scores_perfectly(truth_labels: Path, root: Path) -> None:
    score = score_labelset(truth_labels, root)
    n_truth = sum(len(read_truth(p)["objects"]) for p in (root / "synthcity").rglob("*_truth.json"))
    assert score["task"] == TASK and score["images"] == 5
    assert score["matched_objects"] == n_truth > 0
    assert score["unmatched_truth"] == score["unmatched_predicted"] == 0
    assert score["relation_precision"] == score["relation_recall"] == score["relation_f1"] == 1.0
    assert score["tier_kappa"] == 1.0
    confusion = np.array(score["tier_confusion"])
    assert confusion.shape == (4, 4) and confusion.trace() == confusion.sum() == n_truth
    assert score["mask_iou"] == score["mask_iou_mean"] == 1.0


def test_damaged_label_set_scores_lower(truth_labels: Path, root: Path, tmp_path: Path) -> None:
    labels = copy_of(truth_labels, tmp_path)
    triplets = labels.read("triplets").to_pylist()
    swap = {"walking on": "standing on", "standing on": "walking on", "in ego lane": "in adjacent lane"}
    for row in triplets[::2]:
        row["predicate"] = swap.get(row["predicate"], "oncoming")
    labels.write("triplets", triplets)
    objects = labels.read("objects").to_pylist()
    for row in objects:
        row["importance"] = 4 - row["importance"]  # 1 <-> 3
    labels.write("objects", objects)
    masks = labels.read("task_masks").to_pylist()
    for row in masks:
        height, width = row["mask"]["height"], row["mask"]["width"]
        row["mask"] = encode_mask(np.ones((height, width), bool))
    labels.write("task_masks", masks)
    score = score_labelset(labels.path, root)
    assert score["relation_precision"] < 0.9 and score["relation_recall"] < 0.9
    assert score["tier_kappa"] < 0.5
    assert score["mask_iou"] < 0.5
    assert score["relation_counts"]["oncoming"]["fp"] > 0


def test_objects_are_matched_by_box_not_by_id(truth_labels: Path, root: Path, tmp_path: Path) -> None:
    labels = copy_of(truth_labels, tmp_path)
    objects = labels.read("objects").to_pylist()
    for row in objects:
        row["object_id"] += 100_000
        x0, y0, x1, y1 = row["bbox"]
        row["bbox"] = [x0 + 0.5, y0, x1 + 0.5, y1]  # a detector's box is never exact
    labels.write("objects", objects)
    triplets = labels.read("triplets").to_pylist()
    for row in triplets:
        row["subject_id"] += 100_000
        if row["object_id"] is not None:
            row["object_id"] += 100_000
    labels.write("triplets", triplets)
    # An extra detection of nothing: unmatched, and its triplet a false positive.
    image_id = objects[0]["image_id"]
    labels.write("objects", [*objects, {**objects[0], "object_id": 7, "bbox": [0.0, 0.0, 2.0, 2.0]}])
    labels.write("triplets", [*triplets, {**triplets[0], "image_id": image_id, "subject_id": 7}])
    score = score_labelset(labels.path, root)
    assert score["unmatched_predicted"] == 1 and score["unmatched_truth"] == 0
    assert score["relation_recall"] == 1.0 and score["relation_precision"] < 1.0
    assert score["tier_kappa"] == 1.0


def test_match_objects_threshold() -> None:
    truth = [(1, (0, 0, 10, 10)), (2, (20, 0, 30, 10))]
    assert match_objects([(5, (21, 0, 31, 10)), (6, (0, 0, 10, 10))], truth) == {5: 2, 6: 1}
    assert match_objects([(5, (5, 0, 15, 10))], truth) == {}  # IoU 1/3


def test_errors(truth_labels: Path, root: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SemcomError, match="not a label set"):
        score_labelset(tmp_path / "empty", root)
    with pytest.raises(SemcomError, match="no synthcity truth sidecars"):
        score_labelset(truth_labels, tmp_path / "empty")
    with pytest.raises(SemcomError, match="made for task"):
        score_labelset(truth_labels, root, task="pedestrian-collision-warning")
    labels = copy_of(truth_labels, tmp_path)
    labels.update_manifest({"dataset": "cityscapes"})
    with pytest.raises(SemcomError, match="made from dataset 'cityscapes'"):
        score_labelset(labels.path, root)
    labels.update_manifest({"dataset": "synthcity"})
    labels.table_path("task_masks").unlink()
    with pytest.raises(SemcomError, match="no task_masks table"):
        score_labelset(labels.path, root)


def test_missing_mask_row_and_sidecar(truth_labels: Path, root: Path, tmp_path: Path) -> None:
    labels = copy_of(truth_labels, tmp_path)
    masks = labels.read("task_masks")
    labels.write("task_masks", masks.filter(pa.array([i > 0 for i in range(masks.num_rows)])))
    with pytest.raises(SemcomError, match="no task mask for image"):
        score_labelset(labels.path, root)
    other = tmp_path / "other_root"
    shutil.copytree(root, other)
    next((other / "synthcity").rglob("*_truth.json")).unlink()
    with pytest.raises(SemcomError, match="no truth sidecar"):
        score_labelset(truth_labels, other)


def test_unlabelled_objects_are_counted_and_warned_of(truth_labels: Path, root: Path, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    labels = copy_of(truth_labels, tmp_path)
    objects = labels.read("objects").to_pylist()
    for row in objects[:2]:
        row["importance"], row["importance_source"] = None, None  # what a failed annotate run leaves
    labels.write("objects", objects)
    score = score_labelset(labels.path, root)
    assert score["unlabelled_objects"] == 2 and score_labelset(truth_labels, root)["unlabelled_objects"] == 0
    assert any("2 unlabelled object(s), scored as tier 0" in r.getMessage() for r in caplog.records)
