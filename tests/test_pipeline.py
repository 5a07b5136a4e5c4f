"""The annotation pipeline end to end on synthcity: tables, resume after an interrupt, failures, bad images."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from semcom_bench.annotate.base import (
    LABELERS,
    RELATION_PREDICTORS,
    Labeler,
    LabelResult,
    ObjectLabel,
    RelationPredictor,
    Scene,
    Triplet,
)
from semcom_bench.annotate.pipeline import AnnotateConfig, annotate, estimate
from semcom_bench.datasets.base import DATASETS
from semcom_bench.errors import SemcomError
from semcom_bench.schemas import LabelSet, decode_mask
from semcom_bench.tasks import Task

CLASS_TIER = {"person": 3, "rider": 3, "bicycle": 2}


def tiers_by_class(scene: Scene) -> list[ObjectLabel]:
    return [ObjectLabel(o.object_id, CLASS_TIER.get(o.class_name, 1), f"class {o.class_name}") for o in scene.objects]


class Script:
    """What the scripted labelers do next; tests set it."""

    interrupt_after: int | None = None
    fail_ids: set[str] = set()
    calls = 0


@LABELERS.register("test-interrupting")
class InterruptingLabeler(Labeler):
    """Labels by class, but raises KeyboardInterrupt (a user's Ctrl-C) once it has labelled N images."""

    def label(self, scene: Scene, triplets: list[Triplet], task: Task) -> LabelResult:
        if Script.interrupt_after is not None and Script.calls >= Script.interrupt_after:
            raise KeyboardInterrupt
        Script.calls += 1
        return LabelResult(tiers_by_class(scene), "test")


@LABELERS.register("test-failing")
class FailingLabeler(Labeler):
    """Labels by class, except the images in ``Script.fail_ids``, which fail as a broken MLLM answer would."""

    def label(self, scene: Scene, triplets: list[Triplet], task: Task) -> LabelResult:
        if scene.image_id in Script.fail_ids:
            return LabelResult([], "test", error="answer missing objects after retries")
        return LabelResult(tiers_by_class(scene), "test")


@RELATION_PREDICTORS.register("test-truth")
class TruthRelations(RelationPredictor):
    """The dataset's own relations, object class looked up among the scene's objects or taken as a stuff name."""

    def predict(self, scene: Scene) -> list[Triplet]:
        classes = {o.object_id: o.class_name for o in scene.objects}
        return [
            Triplet(r.subject_id, r.predicate, r.object if isinstance(r.object, int) else None,
                    classes[r.object] if isinstance(r.object, int) else r.object, None, "test")
            for r in scene.gt_relations or []
        ]


def config(root: Path, labeler: str, **kwargs: object) -> AnnotateConfig:
    return AnnotateConfig(dataset="synthcity", root=str(root), split="train", task="pedestrian-collision-warning",
                          relations="test-truth", labeler=labeler, **kwargs)  # type: ignore[arg-type]


def sorted_table(labels: LabelSet, name: str) -> list[dict]:
    rows = labels.read(name).to_pylist()
    return sorted(rows, key=lambda r: repr(sorted(r.items())))


@pytest.fixture(autouse=True)
def reset_script() -> None:
    Script.interrupt_after, Script.fail_ids, Script.calls = None, set(), 0


def test_writes_every_table_consistently(synth_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels"
    report = annotate(config(synth_root, "test-failing", patch_size=16), out)
    assert report.labelled == 8 and report.failed == [] and report.already_done == 0
    labels = LabelSet.open(out)
    assert labels.tables() == ["images", "objects", "patches", "triplets", "task_masks", "llm_calls"]
    assert labels.manifest["config"]["labeler"] == "test-failing" and labels.manifest["dataset"] == "synthcity"
    adapter = DATASETS.get("synthcity")(root=synth_root, split="train")
    images = {r["image_id"]: r for r in labels.read("images").to_pylist()}
    assert sorted(images) == adapter.ids()
    objects = labels.read("objects").to_pylist()
    for image_id in adapter.ids():
        sample = adapter.load(image_id)
        assert images[image_id]["sha256"] == hashlib.sha256(sample.path.read_bytes()).hexdigest()
        mine = {r["object_id"]: r for r in objects if r["image_id"] == image_id}
        assert sorted(mine) == sorted(i.instance_id for i in sample.instances)
        for inst in sample.instances:
            row = mine[inst.instance_id]
            assert np.array_equal(decode_mask(row["mask"]), inst.mask)
            assert row["importance"] == CLASS_TIER.get(inst.class_name, 1) and row["importance_source"] == "test"
    patches = labels.read("patches").to_pylist()
    assert len(patches) == 8 and {(p["grid_h"], p["grid_w"]) for p in patches} == {(8, 16)}  # 128x256 / 16
    triplets = labels.read("triplets").to_pylist()
    assert len(triplets) == sum(len(adapter.load(i).relations or []) for i in adapter.ids())
    assert {t["task"] for t in triplets} == {"pedestrian-collision-warning"}
    masks = labels.read("task_masks").to_pylist()
    assert len(masks) == 8 and all(0.0 <= m["pixel_fraction"] <= 1.0 for m in masks)
    assert not (out / "parts").exists()


def test_interrupted_run_resumes_and_loses_nothing(synth_root: Path, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    annotate(config(synth_root, "test-interrupting"), reference)
    out = tmp_path / "interrupted"
    Script.interrupt_after, Script.calls = 5, 0
    with pytest.raises(KeyboardInterrupt):
        annotate(config(synth_root, "test-interrupting"), out, checkpoint_every=2)
    # The 5 finished images were flushed on the way out; nothing is folded yet.
    parts_images = pa.concat_tables([pa.parquet.read_table(p) for p in sorted((out / "parts" / "images").glob("*.parquet"))])
    assert parts_images.num_rows == 5
    Script.interrupt_after = None
    report = annotate(config(synth_root, "test-interrupting"), out)
    assert report.already_done == 5 and report.labelled == 3
    for name in ("images", "objects", "patches", "triplets", "task_masks"):
        assert sorted_table(LabelSet.open(out), name) == sorted_table(LabelSet.open(reference), name), name


def test_failures_are_recorded_then_retried(synth_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels"
    ids = DATASETS.get("synthcity")(root=synth_root, split="train").ids()
    Script.fail_ids = {ids[2]}
    report = annotate(config(synth_root, "test-failing"), out)
    assert report.failed == [ids[2]] and report.labelled == 7
    labels = LabelSet.open(out)
    failed_rows = [r for r in labels.read("objects").to_pylist() if r["image_id"] == ids[2]]
    assert failed_rows and all(r["importance"] is None and r["rationale"] is None for r in failed_rows)
    assert ids[2] not in {r["image_id"] for r in labels.read("patches").to_pylist()}  # no guessed patch tiers
    Script.fail_ids = set()
    again = annotate(config(synth_root, "test-failing"), out)
    assert again.labelled == 1 and again.already_done == 7
    objects = LabelSet.open(out).read("objects").to_pylist()
    assert all(r["importance"] is not None for r in objects)
    assert len(objects) == len({(r["image_id"], r["object_id"]) for r in objects})  # the retry replaced, not added
    assert len(LabelSet.open(out).read("patches")) == 8


def test_resume_with_another_configuration_is_refused(synth_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels"
    annotate(config(synth_root, "test-failing", limit=2), out)
    with pytest.raises(SemcomError, match="another configuration") as refused:
        annotate(config(synth_root, "test-failing", patch_size=8), out)
    assert "patch_size: 16 there, 8 now" in str(refused.value)  # the option that differs, with both values
    extended = annotate(config(synth_root, "test-failing", limit=4), out)  # a larger limit extends the same set
    assert extended.already_done == 2 and extended.labelled == 2


def test_corrupt_image_is_skipped_and_the_run_goes_on(synth_root: Path, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "city"
    shutil.copytree(synth_root, root)
    broken = sorted((root / "leftImg8bit" / "train").glob("*/*.png"))[1]
    broken.write_bytes(broken.read_bytes()[:200])
    report = annotate(config(root, "test-failing"), tmp_path / "labels")
    image_id = broken.name.replace("_leftImg8bit.png", "")
    assert report.skipped == [image_id]
    assert report.labelled == 7
    assert sum(f"skipped {image_id}" in r.getMessage() for r in caplog.records) == 1  # warned once


def test_only_unreadable_images_is_an_error(synth_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "city"
    shutil.copytree(synth_root, root)
    for png in (root / "leftImg8bit" / "train").glob("*/*.png"):
        png.write_bytes(png.read_bytes()[:200])
    with pytest.raises(SemcomError, match="nothing to label: none of the 8 image"):
        annotate(config(root, "test-failing"), tmp_path / "labels")


def test_a_failed_start_does_not_lock_the_folder(synth_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels"
    with pytest.raises(SemcomError, match="not found"):  # missing YOLO weights: found before anything is written
        annotate(config(synth_root, "test-failing", detector="yolo", weights=str(tmp_path / "none.pt")), out)
    with pytest.raises(SemcomError):
        annotate(AnnotateConfig(dataset="synthcity", root=str(synth_root), split="train", task="no-such-task",
                                relations="test-truth", labeler="test-failing"), out)
    assert not out.exists()
    assert annotate(config(synth_root, "test-failing", limit=2), out).labelled == 2  # the corrected command runs


def test_paths_are_compared_as_paths(synth_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "labels"
    annotate(config(synth_root, "test-failing", limit=2), out)
    monkeypatch.chdir(synth_root.parent)
    relative = Path(synth_root.name)
    again = annotate(config(relative, "test-failing", limit=2), out)  # the same folder, typed another way
    assert again.already_done == 2
    assert LabelSet.open(out).manifest["config"]["root"] == str(synth_root.resolve())


def test_credentials_in_the_url_reach_no_file(synth_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from semcom_bench.annotate.mllm.client import ServerUnusableError
    from semcom_bench.testing.openai_server import LocalOpenAIServer

    def run(url: str, out: Path) -> None:
        annotate(AnnotateConfig(dataset="synthcity", root=str(synth_root), split="train", task="vehicle-following",
                                relations="geometric", labeler="mllm", limit=1,
                                mllm={"base_url": url, "model": "test-model", "max_retries": 0}), out)

    out = tmp_path / "labels"
    with LocalOpenAIServer() as server:  # basic auth in the URL: this server wants a bearer key, so the image fails
        port = server.base_url.split(":")[2].split("/")[0]
        run(f"http://alice:hunter2secret@127.0.0.1:{port}/v1", out)
        assert len(server.questions) == 1
    with pytest.raises(ServerUnusableError) as raised:
        run(f"http://127.0.0.1:{port}/v1?api-key=querysecret42", tmp_path / "other")  # the server is gone now
    assert "querysecret42" not in str(raised.value)
    for path in [p for p in tmp_path.rglob("*") if p.is_file()]:
        assert b"hunter2secret" not in path.read_bytes() and b"querysecret42" not in path.read_bytes(), path
    assert not any("hunter2secret" in r.getMessage() for r in caplog.records)
    assert LabelSet.open(out).manifest["config"]["mllm"]["base_url"] == f"http://127.0.0.1:{port}/v1"
