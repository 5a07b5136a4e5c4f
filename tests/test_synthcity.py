"""synthcity: determinism, Cityscapes layout and encodings, the cityscapesscripts round trip, truth, resumability."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cityscapesscripts.helpers.annotation import Annotation
from cityscapesscripts.helpers.labels import id2label, labels, name2label
from cityscapesscripts.preparation.json2instanceImg import json2instanceImg
from cityscapesscripts.preparation.json2labelImg import createLabelImage, json2labelImg
from PIL import Image

from semcom_bench.datasets.synthcity import (
    encode_scene,
    generate,
    read_truth,
    render_scene,
    scene_paths,
    truth_path,
)
from semcom_bench.datasets.synthcity.geometry import Camera, clip_to_image
from semcom_bench.datasets.synthcity.truth import ThingRecord, importance_of, legs_in_view, relations_of
from semcom_bench.errors import AnnotationMissingError, CorruptFileError, SchemaError, SemcomError
from semcom_bench.schemas.vocabulary import PREDICATES, STUFF_OBJECTS
from semcom_bench.tasks import load_task, task_names

SIZE = (256, 512)
VALID_IDS = {label.id for label in labels if label.id >= 0}
INSTANCE_CLASS_IDS = {label.id for label in labels if label.hasInstances}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six images written once for the read-only tests."""
    out = tmp_path_factory.mktemp("synth")
    generate(out, 6, seed=3, size=SIZE)
    return out


def _ids(out: Path, n: int, city: str = "synthcity") -> list[str]:
    return [f"{city}_000000_{i:06d}" for i in range(n)]


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(np.int64)


def _crowd_index() -> int:
    """First index of seed 0 whose crowd polygons are visible in the label maps."""
    for i in range(60):
        scene = render_scene(0, i, (128, 256))
        groups = [o["label"] for o in scene.polygons["objects"] if o["label"].endswith("group")]
        if any((scene.instance_ids == name2label[g[: -len("group")]].id).any() for g in groups):
            return i
    raise AssertionError("no visible crowd polygon in 60 images")


# --- determinism -------------------------------------------------------------------------------------------------


def test_same_seed_and_index_give_identical_bytes() -> None:
    a = encode_scene(render_scene(7, 4, SIZE))
    b = encode_scene(render_scene(7, 4, SIZE))
    assert a == b
    other_seed = encode_scene(render_scene(8, 4, SIZE))
    other_index = encode_scene(render_scene(7, 5, SIZE))
    for role in ("image", "labelIds", "polygons"):
        assert a[role] != other_seed[role]
        assert a[role] != other_index[role]


def test_images_do_not_depend_on_n(tmp_path: Path) -> None:
    generate(tmp_path / "a", 2, seed=5, size=(128, 256))
    generate(tmp_path / "b", 3, seed=5, size=(128, 256))
    for image_id in _ids(tmp_path, 2):
        pa = scene_paths(tmp_path / "a", "train", "synthcity", image_id)
        pb = scene_paths(tmp_path / "b", "train", "synthcity", image_id)
        for role in pa:
            assert pa[role].read_bytes() == pb[role].read_bytes(), role


def test_a_fresh_process_renders_the_same_bytes() -> None:
    """The texture bank is cached per process; a new process must rebuild it identically."""
    code = (
        "import hashlib; from semcom_bench.datasets.synthcity import render_scene, encode_scene; "
        "print(hashlib.sha256(encode_scene(render_scene(2, 9, (128, 256)))['image']).hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == hashlib.sha256(encode_scene(render_scene(2, 9, (128, 256)))["image"]).hexdigest()


# --- layout and encodings ----------------------------------------------------------------------------------------


def test_layout_has_exactly_the_cityscapes_files(dataset: Path) -> None:
    names = {p.relative_to(dataset).as_posix() for p in dataset.rglob("*") if p.is_file()}
    expected = set()
    for image_id in _ids(dataset, 6):
        expected |= {
            f"leftImg8bit/train/synthcity/{image_id}_leftImg8bit.png",
            f"gtFine/train/synthcity/{image_id}_gtFine_labelIds.png",
            f"gtFine/train/synthcity/{image_id}_gtFine_instanceIds.png",
            f"gtFine/train/synthcity/{image_id}_gtFine_color.png",
            f"gtFine/train/synthcity/{image_id}_gtFine_polygons.json",
            f"synthcity/train/synthcity/{image_id}_truth.json",
        }
        assert truth_path(dataset, "train", "synthcity", image_id) == dataset / "synthcity/train/synthcity" / (
            f"{image_id}_truth.json"
        )
    assert names == expected


def test_encodings(dataset: Path) -> None:
    for image_id in _ids(dataset, 6):
        paths = scene_paths(dataset, "train", "synthcity", image_id)
        rgb = Image.open(paths["image"])
        lab_img = Image.open(paths["labelIds"])
        inst_img = Image.open(paths["instanceIds"])
        assert (rgb.mode, lab_img.mode) == ("RGB", "L")
        assert inst_img.mode.startswith("I;16"), inst_img.mode  # 16-bit greyscale, as Cityscapes ships
        assert rgb.size == lab_img.size == inst_img.size == (SIZE[1], SIZE[0])
        lab, inst = _read(paths["labelIds"]), _read(paths["instanceIds"])
        assert set(np.unique(lab).tolist()) <= VALID_IDS
        assert 0 not in lab  # every pixel is labelled
        things = inst >= 1000
        assert set(np.unique(inst[things] // 1000).tolist()) <= INSTANCE_CLASS_IDS
        assert np.array_equal(np.where(things, inst // 1000, inst), lab)
        for v in np.unique(inst[things]):  # class_id*1000+k with k < number of polygons of that class
            cls = id2label[int(v) // 1000].name
            n_polys = sum(o["label"] == cls for o in json.loads(paths["polygons"].read_text())["objects"])
            assert int(v) % 1000 < n_polys
        color = np.asarray(Image.open(paths["color"]))
        for i in np.unique(lab):
            assert (color[lab == i] == (*id2label[int(i)].color, 255)).all()


def test_crowd_polygons_carry_the_plain_label_id(tmp_path: Path) -> None:
    index = _crowd_index()
    scene = render_scene(0, index, (128, 256))
    groups = {o["label"] for o in scene.polygons["objects"] if o["label"].endswith("group")}
    assert groups <= {"persongroup", "cargroup"}
    plain = {name2label[g[: -len("group")]].id for g in groups}
    assert any((scene.instance_ids == i).any() for i in plain)
    assert plain & set(np.unique(scene.label_ids).tolist())
    # the crowd is no instance: the sidecar lists only ids >= 1000
    assert all(o["instance_id"] >= 1000 for o in scene.truth["objects"])


def test_cityscapesscripts_converters_reproduce_the_label_maps(tmp_path: Path, dataset: Path) -> None:
    """json2labelImg / json2instanceImg on our polygons give our labelIds / instanceIds bit-exactly."""
    crowd = _crowd_index()
    small = tmp_path / "ds"
    generate(small, crowd + 1, seed=0, size=(128, 256))
    images = [(small, f"synthcity_000000_{crowd:06d}")] + [(dataset, image_id) for image_id in _ids(dataset, 6)]
    for root, image_id in images:
        paths = scene_paths(root, "train", "synthcity", image_id)
        json2labelImg(str(paths["polygons"]), str(tmp_path / "lab.png"), "ids")
        # Pillow >= 11 cannot write the converter's 32-bit mode "I" image as PNG; TIFF keeps it losslessly
        json2instanceImg(str(paths["polygons"]), str(tmp_path / "inst.tif"), "ids")
        assert np.array_equal(_read(tmp_path / "lab.png"), _read(paths["labelIds"]))
        assert np.array_equal(_read(tmp_path / "inst.tif"), _read(paths["instanceIds"]))
        annotation = Annotation()
        annotation.fromJsonFile(str(paths["polygons"]))
        assert np.array_equal(np.asarray(createLabelImage(annotation, "color")), np.asarray(Image.open(paths["color"])))


# --- truth sidecar -----------------------------------------------------------------------------------------------


def test_sidecar_matches_the_instance_map(dataset: Path) -> None:
    tasks = {name: load_task(name) for name in task_names()}
    for image_id in _ids(dataset, 6):
        paths = scene_paths(dataset, "train", "synthcity", image_id)
        truth = read_truth(paths["truth"])
        inst = _read(paths["instanceIds"])
        assert truth["image_id"] == image_id
        ids = [o["instance_id"] for o in truth["objects"]]
        assert set(ids) == set(np.unique(inst[inst >= 1000]).tolist())
        for obj in truth["objects"]:
            ys, xs = np.nonzero(inst == obj["instance_id"])
            assert obj["pixel_count"] == xs.size
            assert obj["bbox"] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
            assert obj["class_name"] == id2label[obj["instance_id"] // 1000].name
            assert set(obj["importance"]) == set(obj["task_critical"]) == set(tasks)
            assert all(t in (1, 2, 3) for t in obj["importance"].values())
            for rel in obj["relations"]:
                assert rel["predicate"] in PREDICATES
                assert rel["object"] in STUFF_OBJECTS or rel["object"] in ids
            for name, task in tasks.items():
                expected = any(
                    isinstance(r["object"], str) and task.is_critical(obj["class_name"], r["predicate"], r["object"])
                    for r in obj["relations"]
                )
                assert obj["task_critical"][name] == expected


def test_truth_rules_over_many_scenes() -> None:
    """Rules hold on real scenes: lane relations, rider-bicycle links, distance tiers."""
    seen = set()
    for index in range(12):
        truth = render_scene(11, index, (128, 256)).truth
        by_id = {o["instance_id"]: o for o in truth["objects"]}
        for obj in truth["objects"]:
            preds = [(r["predicate"], r["object"]) for r in obj["relations"]]
            z = obj["position_m"]["z"]
            seen.add((obj["class_name"], obj["state"]))
            if obj["class_name"] in ("car", "truck", "bus") and obj["state"] == "driving":
                lane_pred = {"ego": "in ego lane", "adjacent": "in adjacent lane", "oncoming": "oncoming"}[obj["lane"]]
                assert preds == [("driving on", "road"), (lane_pred, "road")]
                if obj["lane"] == "ego":
                    assert obj["importance"]["vehicle-following"] == (3 if z < 30 else 2)
                    assert obj["task_critical"]["vehicle-following"]
                if obj["lane"] == "oncoming":  # SA-OOSC Fig. 2: medium, near or at a distance
                    assert obj["importance"]["vehicle-following"] == 2
                    seen.add(("oncoming", z >= 40))
            if obj["state"] == "parked":
                assert preds[0][0] == "parked on" and obj["importance"]["vehicle-following"] == 1
            if obj["class_name"] == "rider":
                bikes = [o for p, o in preds if p == "riding"]
                for bike in bikes:
                    assert by_id[bike]["class_name"] == "bicycle"
                    assert by_id[bike]["importance"] == obj["importance"]
            if obj["class_name"] == "person" and ("walking on", "sidewalk") in preds:
                assert obj["importance"] == {"pedestrian-collision-warning": 1, "vehicle-following": 1}
    assert {("car", "driving"), ("person", "walking"), ("oncoming", False), ("oncoming", True)} <= seen


def test_rule_functions() -> None:
    rider = ThingRecord("rider", 3.0, 12.0, "riding", "road")
    bike = ThingRecord("bicycle", 3.0, 11.5, "riding", "road", partner=rider)
    rider.partner = bike
    assert relations_of(rider) == [("riding", bike), ("on", "road")]
    assert importance_of(bike) == importance_of(rider) == {"pedestrian-collision-warning": 3, "vehicle-following": 3}
    walker = ThingRecord("person", 0.0, 35.0, "walking", "crosswalk", crossing=True)
    assert relations_of(walker) == [("walking on", "crosswalk"), ("crossing", "road")]
    assert importance_of(walker) == {"pedestrian-collision-warning": 2, "vehicle-following": 2}
    for z in (35.0, 60.0):  # SA-OOSC Fig. 2: "the oncoming vehicle in the opposite lane at a distance" is medium
        oncoming = ThingRecord("car", -3.0, z, "driving", "road", lane="oncoming")
        assert importance_of(oncoming) == {"pedestrian-collision-warning": 1, "vehicle-following": 2}
    # Lower legs hidden: only the support is true to the image; a crosswalk still says walking.
    hidden = {"legs_seen": False}
    assert relations_of(ThingRecord("person", 5.0, 20.0, "standing", "sidewalk", **hidden)) == [("on", "sidewalk")]
    jaywalker = ThingRecord("person", 1.0, 20.0, "walking", "road", crossing=True, **hidden)
    assert relations_of(jaywalker) == [("on", "road"), ("crossing", "road")]
    assert importance_of(jaywalker) == {"pedestrian-collision-warning": 3, "vehicle-following": 3}
    crossing = ThingRecord("person", 1.0, 20.0, "walking", "crosswalk", crossing=True, **hidden)
    assert relations_of(crossing)[0] == ("walking on", "crosswalk")
    with pytest.raises(ValueError):
        ThingRecord("car", 0.0, 10.0, "flying", "road")


def test_legs_in_view() -> None:
    ids = np.zeros((40, 30), np.int32)
    own = np.zeros_like(ids, dtype=bool)
    own[10:30, 10:16] = True  # a 20-row pedestrian, lower legs in rows 24-30
    ids[own] = 24000
    rec = ThingRecord("person", 0.0, 10.0, "walking", "sidewalk", legs_box=(10, 24, 16, 30), instance_id=24000)
    assert legs_in_view(rec, own, ids)
    covered = ids.copy()
    covered[27, 12] = 26000  # one pixel of the legs under a car drawn later
    assert not legs_in_view(rec, own, covered)
    assert legs_in_view(rec, own, np.where(np.arange(40)[:, None] < 24, 26000, ids))  # the body hidden, not the legs
    cut = ThingRecord("person", 0.0, 10.0, "walking", "sidewalk", legs_box=(-2, 24, 4, 30), instance_id=24000)
    assert not legs_in_view(cut, own, ids)  # partly outside the image
    tiny = ThingRecord("person", 0.0, 10.0, "walking", "sidewalk", legs_box=(10, 28, 16, 30), instance_id=24000)
    assert not legs_in_view(tiny, own, ids)  # 2 rows of legs: under 8 rows tall


def test_posture_claimed_only_for_pedestrians_in_view() -> None:
    postures = []
    for index in range(16):
        scene = render_scene(5, index, SIZE)
        height, width = scene.instance_ids.shape
        for obj in scene.truth["objects"]:
            if obj["class_name"] != "person":
                continue
            predicate = obj["relations"][0]["predicate"]
            postures.append(predicate)
            x0, _, x1, y1 = obj["bbox"]
            if predicate != "on":
                assert y1 < height and x0 > 0 and x1 < width, obj  # legs cut by the border cannot be judged
                assert predicate == {"walking": "walking on", "standing": "standing on"}[obj["state"]]
    assert {"on", "walking on", "standing on"} <= set(postures)


def test_stuff_regions_and_camera() -> None:
    for index in range(20):
        scene = render_scene(1, index, SIZE)
        cam = scene.truth["camera"]
        assert 0 < cam["horizon_y"] < SIZE[0] and cam["focal_px"] > 0 and cam["height_m"] > 0
        crosswalk = scene.truth["stuff_regions"]["crosswalk"]
        if crosswalk is not None:
            xs, ys = zip(*crosswalk, strict=True)
            assert min(xs) >= 0 and max(xs) < SIZE[1] and min(ys) > cam["horizon_y"] and max(ys) < SIZE[0]
            # the crosswalk is road in Cityscapes terms
            cx, cy = int(np.mean(xs)), int(np.mean(ys))
            assert scene.label_ids[cy, cx] in (name2label["road"].id, *INSTANCE_CLASS_IDS, name2label["ego vehicle"].id)
            return
    raise AssertionError("no crosswalk in 20 scenes")


def test_textures_are_not_flat() -> None:
    for index in range(3):
        scene = render_scene(4, index, SIZE)
        for name, min_std in (("road", 4.0), ("sky", 2.0), ("building", 6.0)):
            region = scene.label_ids == name2label[name].id
            if region.sum() > 500:
                assert scene.image[region].astype(float).std(axis=0).min() > min_std, (index, name)


def test_geometry_helpers() -> None:
    clipped = clip_to_image([(-10, -10), (300, -10), (300, 300), (-10, 300)], 100, 50)
    assert clipped is not None and sorted(clipped) == [(0, 0), (0, 49), (99, 0), (99, 49)]
    assert clip_to_image([(200, 10), (300, 10), (250, 40)], 100, 50) is None
    cam = Camera(width=512, height=256, horizon_y=110.0, focal_px=560.0, height_m=1.3, vanishing_x=256.0)
    (u, v), = cam.project(np.array([[2.0, 0.0, 14.0]]))
    assert (u, v) == pytest.approx((256 + 560 * 2 / 14, 110 + 560 * 1.3 / 14))
    assert cam.depth_of_row(v) == pytest.approx(14.0)


# --- resumability ------------------------------------------------------------------------------------------------


def test_interrupted_run_resumes(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    generate(out, 4, seed=2, size=(128, 256))
    all_paths = {i: scene_paths(out, "train", "synthcity", f"synthcity_000000_{i:06d}") for i in range(4)}
    before = {(i, r): (p.read_bytes(), p.stat().st_mtime_ns) for i, ps in all_paths.items() for r, p in ps.items()}
    all_paths[2]["instanceIds"].unlink()  # as if killed while writing image 2
    stale = all_paths[2]["image"].with_name(f".{all_paths[2]['image'].name}.999.synthtmp")
    stale.write_bytes(b"half a png")
    done: list[int] = []
    report = generate(out, 4, seed=2, size=(128, 256), progress=done.append)
    assert (report.n_written, report.n_skipped_existing) == (1, 3)
    assert done == [1, 2, 3, 4]
    assert not stale.exists()
    for (i, role), (data, mtime) in before.items():
        path = all_paths[i][role]
        assert path.read_bytes() == data
        if i != 2:
            assert path.stat().st_mtime_ns == mtime, (i, role)  # untouched
    assert sum(report.instances_per_class.values()) == sum(
        len(read_truth(all_paths[i]["truth"])["objects"]) for i in range(4)
    )


def test_resume_rewrites_an_image_with_a_corrupt_sidecar(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    generate(out, 2, seed=2, size=(128, 256))
    sidecar = truth_path(out, "train", "synthcity", "synthcity_000000_000001")
    good = sidecar.read_bytes()
    sidecar.write_text("{not json")
    report = generate(out, 2, seed=2, size=(128, 256))
    assert (report.n_written, report.n_skipped_existing) == (1, 1)
    assert sidecar.read_bytes() == good


def test_resume_refuses_other_settings(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    generate(out, 1, seed=2, size=(128, 256))
    with pytest.raises(SemcomError, match="seed=2"):
        generate(out, 1, seed=3, size=(128, 256))


# --- errors ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n must be"),
        ({"n": 2.5}, "n must be"),
        ({"size": (32, 64)}, "too small"),
        ({"size": (512, 256)}, "portrait"),
        ({"size": "256x512"}, "pair of integers"),
        ({"size": (256, 100000)}, "too large"),
        ({"seed": -1}, "seed"),
        ({"city": "bad_city"}, "city"),
        ({"split": "../up"}, "split"),
        ({"progress": 3}, "progress"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    args = {"out": tmp_path / "ds", "n": 1, "size": (128, 256)} | kwargs
    with pytest.raises(SemcomError, match=message):
        generate(**args)
    assert not (tmp_path / "ds").exists()  # nothing written before validation


def test_out_must_be_a_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(SemcomError, match="not a folder"):
        generate(tmp_path / "file", 1, size=(128, 256))


def test_render_scene_validates() -> None:
    with pytest.raises(SemcomError, match="index"):
        render_scene(0, -1, SIZE)
    with pytest.raises(SemcomError, match="too small"):
        render_scene(0, 0, (10, 10))


def test_corrupt_sidecars_give_clear_errors(tmp_path: Path) -> None:
    good = render_scene(0, 0, (128, 256)).truth
    path = tmp_path / "x_truth.json"
    with pytest.raises(AnnotationMissingError, match="does not exist"):
        read_truth(path)
    path.write_text('{"image_id": "x", "objects": [')
    with pytest.raises(CorruptFileError, match="not valid JSON"):
        read_truth(path)
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CorruptFileError):
        read_truth(path)

    def broken(edit: object) -> dict:
        doc = json.loads(json.dumps(good))
        edit(doc)  # type: ignore[operator]
        return doc

    assert good["objects"], "scene 0 should have instances"
    cases = {
        "missing key 'objects'": lambda d: d.pop("objects"),
        "generator version": lambda d: d["generator"].update(version=99),
        "not in the vocabulary": lambda d: d["objects"][0]["relations"].append({"predicate": "fly", "object": "road"}),
        "tiers 1-3": lambda d: d["objects"][0]["importance"].update({"vehicle-following": 5}),
        "bbox": lambda d: d["objects"][0].update(bbox=[5, 5, 5, 9]),
        "not listed": lambda d: d["objects"][0]["relations"].append({"predicate": "riding", "object": 99999}),
    }
    for message, edit in cases.items():
        path.write_text(json.dumps(broken(edit)))
        with pytest.raises(SchemaError, match=message):
            read_truth(path)
    path.write_text(json.dumps(good))
    assert read_truth(path) == good
