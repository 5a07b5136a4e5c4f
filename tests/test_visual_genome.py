"""Visual Genome adapter on a small hand-written VG v1.2 fixture."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semcom_bench.datasets import visual_genome as vg
from semcom_bench.datasets.base import DATASETS, Instance, Relation
from semcom_bench.datasets.visual_genome import VisualGenomeAdapter
from semcom_bench.errors import (
    AnnotationMissingError,
    CorruptFileError,
    DatasetLayoutError,
    DatasetNotFoundError,
    ShapeMismatchError,
)


def _obj(object_id: int, x: int, y: int, w: int, h: int, names: list[str]) -> dict:
    return {"object_id": object_id, "x": x, "y": y, "w": w, "h": h, "names": names, "synsets": []}


def _end(object_id: int, x: int, y: int, w: int, h: int, name: str) -> dict:
    return {"object_id": object_id, "x": x, "y": y, "w": w, "h": h, "name": name, "synsets": []}


def _rel(relationship_id: int, subject: dict, predicate: str, obj: dict) -> dict:
    return {"relationship_id": relationship_id, "predicate": predicate, "subject": subject, "object": obj}


def _jpeg(width: int, height: int) -> bytes:
    rng = np.random.default_rng(width * height)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


MAN = _end(10, 2, 3, 10, 20, "man")
SHIRT = _end(11, 4, 8, 6, 6, "shirt")
UMBRELLA = _end(12, 12, 0, 8, 10, " Umbrella")  # only in relationships.json
NAMELESS = _end(15, 1, 1, 3, 3, "")


def write_vg(root: Path) -> Path:
    """Four images: 1 (40x30, VG_100K), 2 (file 20x20 but annotated as 40x40, VG_100K_2), 3 (corrupt), 4 (missing)."""
    image_data = [
        {"image_id": i, "url": f"https://example.org/{i}.jpg", "width": w, "height": h, "coco_id": None, "flickr_id": i}
        for i, w, h in ((1, 40, 30), (2, 40, 40), (3, 40, 30), (4, 40, 30))
    ]
    objects = [
        {
            "image_id": 1,
            "objects": [
                _obj(10, 2, 3, 10, 20, ["  Man ", "person"]),
                _obj(11, 4, 8, 6, 6, ["SHIRT"]),
                _obj(13, 30, -5, 20, 20, ["tree"]),  # sticks out right and top: clipped
                _obj(14, 0, 0, 5, 5, ["café"]),  # non-ASCII: byte offsets must still line up
                _obj(15, 1, 1, 3, 3, []),  # no name: dropped
                _obj(16, 50, 50, 3, 3, ["speck"]),  # outside the image: dropped
            ],
        },
        {"image_id": 2, "objects": [_obj(20, 10, 20, 20, 10, ["Car"])]},
        {"image_id": 3, "objects": []},
        {"image_id": 4, "objects": []},
    ]
    relationships = [
        {
            "image_id": 1,
            "relationships": [
                _rel(100, MAN, "Wearing ", SHIRT),
                _rel(101, MAN, " HOLDING", UMBRELLA),
                _rel(102, MAN, "wearing", SHIRT),  # duplicate triplet: kept once
                _rel(103, _end(13, 30, 0, 10, 10, "tree"), "near", NAMELESS),  # involves a dropped object
                _rel(104, _end(11, 0, 0, 1, 1, "shirt"), "on", MAN),  # objects.json's box wins over this one
            ],
        },
        {"image_id": 2, "relationships": []},
        {"image_id": 3, "relationships": []},
        {"image_id": 4, "relationships": []},
    ]
    root.mkdir(parents=True, exist_ok=True)
    (root / "image_data.json").write_text(json.dumps(image_data))
    (root / "objects.json").write_text(json.dumps(objects, ensure_ascii=False, indent=1), encoding="utf-8")
    (root / "relationships.json").write_text(json.dumps(relationships, ensure_ascii=False), encoding="utf-8")
    (root / "VG_100K").mkdir()
    (root / "VG_100K_2").mkdir()
    (root / "VG_100K" / "1.jpg").write_bytes(_jpeg(40, 30))
    (root / "VG_100K_2" / "2.jpg").write_bytes(_jpeg(20, 20))
    (root / "VG_100K" / "3.jpg").write_bytes(_jpeg(40, 30)[:200])  # truncated JPEG
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_vg(tmp_path / "vg")


def _by_id(instances: list[Instance]) -> dict[int, Instance]:
    return {instance.instance_id: instance for instance in instances}


def test_registered() -> None:
    assert DATASETS.get("visual-genome") is VisualGenomeAdapter
    assert VisualGenomeAdapter.name == "visual-genome"


def test_ids_follow_image_data(root: Path) -> None:
    adapter = VisualGenomeAdapter(root)
    assert adapter.ids() == ["1", "2", "3", "4"]
    assert adapter.split == "all"
    assert adapter.path_of("2") == root / "VG_100K_2" / "2.jpg"


def test_instances_boxes_and_names(root: Path) -> None:
    sample = VisualGenomeAdapter(root).load("1")
    assert (sample.image_id, sample.dataset, sample.split) == ("1", "visual-genome", "all")
    assert sample.path == root / "VG_100K" / "1.jpg"
    assert sample.image.shape == (30, 40, 3) and sample.image.dtype == np.uint8
    assert sample.semantic is None
    instances = _by_id(sample.instances)
    assert [i.instance_id for i in sample.instances] == [10, 11, 13, 14, 12]  # objects.json order, then added ones
    assert instances[10].class_name == "man"
    assert instances[10].bbox == (2.0, 3.0, 12.0, 23.0)
    assert instances[11].class_name == "shirt"
    assert instances[11].bbox == (4.0, 8.0, 10.0, 14.0)
    assert instances[13].bbox == (30.0, 0.0, 40.0, 15.0)
    assert instances[14].class_name == "café"
    assert all(i.mask is None for i in sample.instances)


def test_relations_add_objects_only_in_relationships(root: Path) -> None:
    sample = VisualGenomeAdapter(root).load("1")
    assert sample.relations == [Relation(10, "wearing", 11), Relation(10, "holding", 12), Relation(11, "on", 10)]
    umbrella = _by_id(sample.instances)[12]
    assert umbrella.class_name == "umbrella"
    assert umbrella.bbox == (12.0, 0.0, 20.0, 10.0)
    assert {15, 16}.isdisjoint(_by_id(sample.instances))


def test_resize_scales_boxes(root: Path) -> None:
    sample = VisualGenomeAdapter(root, size=(60, 20)).load("1")
    assert sample.image.shape == (60, 20, 3)
    assert _by_id(sample.instances)[10].bbox == pytest.approx((1.0, 6.0, 6.0, 46.0))
    assert _by_id(sample.instances)[12].bbox == pytest.approx((6.0, 0.0, 10.0, 20.0))


def test_file_smaller_than_image_data_rescales_boxes(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=vg.__name__):
        sample = VisualGenomeAdapter(root).load("2")
    assert sample.image.shape == (20, 20, 3)
    assert sample.instances == [Instance(20, "car", (5.0, 10.0, 15.0, 15.0))]
    assert sample.relations == []
    assert "image 2" in caplog.text and "rescaled" in caplog.text


def test_file_with_other_aspect_ratio_is_refused(root: Path) -> None:
    data = json.loads((root / "image_data.json").read_text())
    data[1]["width"], data[1]["height"] = 40, 20
    (root / "image_data.json").write_text(json.dumps(data))
    adapter = VisualGenomeAdapter(root)
    with pytest.raises(ShapeMismatchError, match="aspect ratio"):
        adapter.load("2")
    assert [sample.image_id for sample in adapter] == ["1"]
    assert [item.image_id for item in adapter.skipped] == ["2", "3", "4"]


def test_iteration_skips_corrupt_and_missing_images(root: Path) -> None:
    adapter = VisualGenomeAdapter(root)
    assert [sample.image_id for sample in adapter] == ["1", "2"]
    skipped = {item.image_id: item for item in adapter.skipped}
    assert sorted(skipped) == ["3", "4"]
    assert skipped["3"].path == root / "VG_100K" / "3.jpg"
    assert "cannot decode" in skipped["3"].reason
    assert "VG_100K_2/4.jpg" in skipped["4"].reason and "images2.zip" in skipped["4"].reason
    with pytest.raises(AnnotationMissingError):
        adapter.load("4")


def test_scan_across_chunk_boundaries(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = VisualGenomeAdapter(root).load("1")
    monkeypatch.setattr(vg, "_CHUNK_BYTES", 3)  # every entry, string and number straddles chunk ends
    sample = VisualGenomeAdapter(root).load("1")
    assert sample.instances == expected.instances
    assert sample.relations == expected.relations


def test_unknown_image_id(root: Path) -> None:
    with pytest.raises(AnnotationMissingError, match="not listed"):
        VisualGenomeAdapter(root).load("99")


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as err:
        VisualGenomeAdapter(tmp_path / "nowhere")
    assert "image_data.json" in str(err.value) and "relationships.json" in str(err.value)
    assert "Visual Genome version 1.2" in err.value.hint


def test_root_from_environment(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(vg.ENV_ROOT, str(root))
    assert VisualGenomeAdapter(None).ids() == ["1", "2", "3", "4"]
    monkeypatch.delenv(vg.ENV_ROOT)
    with pytest.raises(DatasetNotFoundError, match=vg.ENV_ROOT):
        VisualGenomeAdapter(None)


def test_missing_json_files(root: Path) -> None:
    (root / "relationships.json").rename(root / "relationships.json.zip")  # looks like a file left zipped
    with pytest.raises(DatasetLayoutError) as err:
        VisualGenomeAdapter(root)
    assert "lacks relationships.json" in str(err.value)
    assert "unzip relationships.json.zip" in err.value.hint
    for name in ("image_data.json", "objects.json"):
        (root / name).unlink()
    with pytest.raises(DatasetNotFoundError, match="lacks image_data.json, objects.json, relationships.json"):
        VisualGenomeAdapter(root)


def test_no_image_folders(root: Path) -> None:
    for folder in ("VG_100K", "VG_100K_2"):
        (root / folder).rename(root / f"{folder}_moved")
    with pytest.raises(DatasetLayoutError, match="VG_100K"):
        VisualGenomeAdapter(root)


def test_malformed_image_data(root: Path) -> None:
    (root / "image_data.json").write_text('[{"image_id": 1, "width": 40')
    with pytest.raises(CorruptFileError, match="image_data.json is not valid JSON"):
        VisualGenomeAdapter(root)
    (root / "image_data.json").write_text('{"images": []}')
    with pytest.raises(DatasetLayoutError, match="image_data.json"):
        VisualGenomeAdapter(root)


@pytest.mark.parametrize("name", ["objects.json", "relationships.json"])
@pytest.mark.parametrize("cut", [0.5, 0.999])
def test_malformed_annotation_json_stops_the_run(root: Path, name: str, cut: float) -> None:
    text = (root / name).read_bytes()
    (root / name).write_bytes(text[: int(len(text) * cut)])
    adapter = VisualGenomeAdapter(root)  # the big files are only read on first use
    with pytest.raises(CorruptFileError, match=f"{name} is not valid JSON"):
        list(adapter)
    assert adapter.skipped == []
    with pytest.raises(CorruptFileError, match=name):
        adapter.load("1")


def test_annotation_entry_without_image_id(root: Path) -> None:
    (root / "objects.json").write_text('[{"id": 1, "objects": []}]')
    with pytest.raises(DatasetLayoutError, match="no integer image_id"):
        VisualGenomeAdapter(root).load("1")


def test_image_without_annotation_entry(root: Path) -> None:
    entries = json.loads((root / "relationships.json").read_text())
    (root / "relationships.json").write_text(json.dumps(entries[1:]))
    with pytest.raises(AnnotationMissingError, match="no entry in relationships.json"):
        VisualGenomeAdapter(root).load("1")


def test_split_file(root: Path) -> None:
    (root / "splits").mkdir()
    (root / "splits" / "val.txt").write_text("2\n\n1\n2\n")
    assert VisualGenomeAdapter(root, split="val").ids() == ["2", "1"]
    with pytest.raises(DatasetLayoutError, match=r"splits here: all, val"):
        VisualGenomeAdapter(root, split="train")
    (root / "splits" / "bad.txt").write_text("1\n77\n")
    with pytest.raises(DatasetLayoutError, match=r"bad.txt:2: '77'"):
        VisualGenomeAdapter(root, split="bad")
