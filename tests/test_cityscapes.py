"""Cityscapes adapter on hand-built trees: instance decoding, crowd handling, resize, and every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cityscapesscripts.helpers.labels import name2label
from PIL import Image

from semcom_bench.datasets.cityscapes import CityscapesAdapter
from semcom_bench.errors import (
    AnnotationMissingError,
    CorruptFileError,
    DatasetLayoutError,
    DatasetNotFoundError,
    ShapeMismatchError,
    UnknownClassError,
)

H, W = 40, 60
ROAD, CAR, PERSON, SKY = (name2label[n].id for n in ("road", "car", "person", "sky"))


def make_maps() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An image with two cars, one person and a crowd of cars (semantic-only)."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    labels = np.full((H, W), SKY, np.uint8)
    labels[20:] = ROAD
    inst = labels.astype(np.int32).copy()
    labels[22:30, 5:15] = CAR
    inst[22:30, 5:15] = CAR * 1000 + 0
    labels[25:35, 30:42] = CAR
    inst[25:35, 30:42] = CAR * 1000 + 1
    labels[10:30, 50:53] = PERSON
    inst[10:30, 50:53] = PERSON * 1000
    labels[21:24, 20:28] = CAR  # crowd region: class id only
    inst[21:24, 20:28] = CAR
    return image, labels, inst


def write_item(root: Path, image_id: str, image: np.ndarray, labels: np.ndarray, inst: np.ndarray,
               split: str = "train", polygons: list[dict] | None = None) -> None:
    city = image_id.split("_")[0]
    img_dir = root / "leftImg8bit" / split / city
    gt_dir = root / "gtFine" / split / city
    img_dir.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(img_dir / f"{image_id}_leftImg8bit.png")
    Image.fromarray(labels).save(gt_dir / f"{image_id}_gtFine_labelIds.png")
    Image.fromarray(inst.astype(np.uint16)).save(gt_dir / f"{image_id}_gtFine_instanceIds.png")
    if polygons is not None:
        doc = {"imgHeight": labels.shape[0], "imgWidth": labels.shape[1], "objects": polygons}
        (gt_dir / f"{image_id}_gtFine_polygons.json").write_text(json.dumps(doc))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    write_item(tmp_path, "aachen_000000_000019", *make_maps(),
               polygons=[{"label": "road", "polygon": [[0, 20], [59, 20], [59, 39]]},
                         {"label": "cargroup", "polygon": [[20, 21], [27, 21], [27, 23]]}])
    return tmp_path


def test_instances_boxes_masks_and_crowd(tree: Path) -> None:
    sample = CityscapesAdapter(tree, "train").load("aachen_000000_000019")
    image, labels, inst = make_maps()
    assert np.array_equal(sample.image, image)
    assert np.array_equal(sample.semantic, labels)
    got = {i.instance_id: i for i in sample.instances}
    assert sorted(got) == [PERSON * 1000, CAR * 1000, CAR * 1000 + 1]  # the crowd has no instance
    assert got[CAR * 1000].bbox == (5.0, 22.0, 15.0, 30.0)
    assert got[CAR * 1000 + 1].class_name == "car"
    assert got[PERSON * 1000].class_name == "person"
    for value, instance in got.items():
        assert np.array_equal(instance.mask, inst == value)
    # The crowd pixels stay car in the semantic map.
    assert (sample.semantic[21:24, 20:28] == CAR).all()


def test_resize_keeps_masks_exact(tree: Path) -> None:
    full = CityscapesAdapter(tree, "train").load("aachen_000000_000019")
    small = CityscapesAdapter(tree, "train", size=(20, 30)).load("aachen_000000_000019")
    assert small.image.shape == (20, 30, 3) and small.semantic.shape == (20, 30)
    # Nearest resampling at 2x: output pixel (r, c) is input pixel (2r+1, 2c+1).
    for instance in small.instances:
        original = next(i for i in full.instances if i.instance_id == instance.instance_id)
        assert np.array_equal(instance.mask, original.mask[1::2, 1::2])
        assert set(np.unique(small.semantic[instance.mask])) == {name2label[instance.class_name].id}
    assert set(np.unique(small.semantic)) <= set(np.unique(full.semantic))


def test_missing_root_says_where_to_download(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CITYSCAPES_DATASET", raising=False)
    with pytest.raises(DatasetNotFoundError) as err:
        CityscapesAdapter(None)
    assert "cityscapes-dataset.com" in str(err.value) and "gtFine_trainvaltest.zip" in str(err.value)
    with pytest.raises(DatasetNotFoundError):
        CityscapesAdapter(tmp_path / "nowhere")


def test_root_from_environment(monkeypatch: pytest.MonkeyPatch, tree: Path) -> None:
    monkeypatch.setenv("CITYSCAPES_DATASET", str(tree))
    assert CityscapesAdapter(None).ids() == ["aachen_000000_000019"]


def test_wrong_layout(tmp_path: Path, tree: Path) -> None:
    (tmp_path / "flat").mkdir()
    with pytest.raises(DatasetLayoutError, match="leftImg8bit"):
        CityscapesAdapter(tmp_path / "flat")
    with pytest.raises(DatasetLayoutError, match="found: train"):
        CityscapesAdapter(tree, "val")


def test_image_without_annotation_is_skipped(tree: Path) -> None:
    image, _, _ = make_maps()
    city_dir = tree / "leftImg8bit" / "train" / "aachen"
    Image.fromarray(image).save(city_dir / "aachen_000000_000020_leftImg8bit.png")
    adapter = CityscapesAdapter(tree, "train")
    with pytest.raises(AnnotationMissingError, match="gtFine"):
        adapter.load("aachen_000000_000020")
    samples = list(adapter)
    assert [s.image_id for s in samples] == ["aachen_000000_000019"]
    assert [s.image_id for s in adapter.skipped] == ["aachen_000000_000020"]


def test_truncated_png_is_recorded_and_skipped(tree: Path) -> None:
    write_item(tree, "aachen_000000_000021", *make_maps())
    path = tree / "leftImg8bit" / "train" / "aachen" / "aachen_000000_000021_leftImg8bit.png"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    adapter = CityscapesAdapter(tree, "train")
    with pytest.raises(CorruptFileError, match="cannot decode"):
        adapter.load("aachen_000000_000021")
    assert [s.image_id for s in adapter] == ["aachen_000000_000019"]
    assert adapter.skipped[0].path == path


def test_unknown_class_name_in_polygons(tree: Path) -> None:
    write_item(tree, "bonn_000000_000001", *make_maps(),
               polygons=[{"label": "hovercraft", "polygon": [[0, 0], [5, 0], [5, 5]]}])
    with pytest.raises(UnknownClassError, match="hovercraft"):
        CityscapesAdapter(tree, "train").load("bonn_000000_000001")


def test_unknown_label_id(tree: Path) -> None:
    image, labels, inst = make_maps()
    labels[0, 0] = 200
    write_item(tree, "bonn_000000_000002", image, labels, inst)
    with pytest.raises(UnknownClassError, match="200"):
        CityscapesAdapter(tree, "train").load("bonn_000000_000002")


def test_mismatched_sizes(tree: Path) -> None:
    image, labels, inst = make_maps()
    write_item(tree, "bonn_000000_000003", image[:, :50], labels, inst)
    with pytest.raises(ShapeMismatchError, match="differ"):
        CityscapesAdapter(tree, "train").load("bonn_000000_000003")
