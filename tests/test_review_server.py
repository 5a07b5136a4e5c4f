"""The real Label Studio server: installed into its own environment by the code users run, started on 127.0.0.1,
reached through the SDK, refused clearly when down or given a wrong key, stopped cleanly."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from semcom_bench.demo import synthcity_label_sets
from semcom_bench.errors import SemcomError
from semcom_bench.review.config import labeling_config
from semcom_bench.review.push import push
from semcom_bench.review.server import Credentials, LabelStudioServer, connect, ensure_venv, healthy
from semcom_bench.schemas import LabelSet
from semcom_bench.tasks import load_task

pytestmark = pytest.mark.slow


def test_credentials_never_show_in_their_repr() -> None:
    creds = Credentials("a@b.c", "hunter2-password", "0123456789abcdef")
    assert "hunter2" not in repr(creds) and "0123456789" not in repr(creds) and "a@b.c" in repr(creds)


def test_a_server_that_is_not_there_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SemcomError, match="does not answer"):
        connect(f"http://127.0.0.1:{port}", "token")
    with pytest.raises(SemcomError, match="no Label Studio server to talk to"):
        connect("", "")


def test_the_real_server_starts_answers_and_stops(tmp_path: Path, labelset: LabelSet) -> None:
    ensure_venv()  # the same install a user's first `review serve` makes (in the toolkit's own environment)
    server = LabelStudioServer(tmp_path / "ls", files_root=labelset.path.parent)
    with server:
        assert healthy(server.url)
        client = connect(server.url, server.credentials.api_key)
        assert client.users.whoami().email == server.credentials.username
        assert list(client.projects.list()) == []
        project = client.projects.create(title="config check", label_config=labeling_config(labelset))
        assert client.projects.get(project.id).label_config  # the server accepts the generated config
        first = push(labelset.path, client, server.files_root, "pedestrian-collision-warning")
        again = push(labelset.path, client, server.files_root, "pedestrian-collision-warning")
        images = sorted(r["image_id"] for r in labelset.read("images").to_pylist())
        assert sorted(first.added) == images and first.skipped == []
        assert again.added == [] and sorted(again.skipped) == images and again.project_id == first.project_id
        tasks = list(client.tasks.list(project=first.project_id, fields="all"))
        assert len(tasks) == len(images)  # pushed twice, each image once
        objects = labelset.read("objects").to_pylist()
        task = next(t for t in tasks if t.data["image_id"] == images[0])
        predictions = client.predictions.list(task=task.id)
        assert len(predictions) == 1 and predictions[0].model_version.startswith("heuristic+")
        boxes = [r for r in predictions[0].result if r["type"] == "rectanglelabels"]
        assert len(boxes) == sum(o["image_id"] == images[0] for o in objects)
        served = urllib.request.urlopen(urllib.request.Request(
            server.url + task.data["image"], headers={"Authorization": f"Token {server.credentials.api_key}"}))
        assert served.status == 200 and served.read(8).startswith(b"\x89PNG")  # the image, through local files
        env = {**os.environ, "LABEL_STUDIO_URL": server.url, "LABEL_STUDIO_API_KEY": server.credentials.api_key}
        done = subprocess.run([sys.executable, "-m", "semcom_bench", "review", "push", str(labelset.path), "--task",
                               "pedestrian-collision-warning", "--files-root", str(server.files_root)],
                              capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr
        assert f"0 task(s) added, {len(images)} already there" in " ".join(done.stderr.split())
        with pytest.raises(SemcomError, match="refused the API key"):
            connect(server.url, "0" * 40)
        with pytest.raises(SemcomError, match="already has a server"):
            LabelStudioServer(tmp_path / "other", port=server.port).start()
    assert not healthy(server.url)  # stopped with the block
    log = (tmp_path / "ls" / "server.log").read_text()
    assert server.credentials.password not in log and server.credentials.api_key not in log


@pytest.fixture(scope="module")
def labelset(tmp_path_factory: pytest.TempPathFactory) -> LabelSet:
    folder = tmp_path_factory.mktemp("review")
    sets = synthcity_label_sets(folder, 1, 3, 4, (128, 256), "pedestrian-collision-warning")
    return LabelSet.open(sets["heuristic", "val"])


def test_the_labelling_config_follows_the_label_set(labelset: LabelSet) -> None:
    view = ET.fromstring(labeling_config(labelset))
    classes = {row["class_name"] for row in labelset.read("objects").to_pylist()}
    triplets = labelset.read("triplets").to_pylist()
    predicates = {row["predicate"] for row in triplets if row["object_id"] is not None}
    stuff = {f"{row['predicate']} {row['object_class']}" for row in triplets if row["object_id"] is None}
    assert {label.get("value") for label in view.find("RectangleLabels")} == classes
    assert [c.get("value") for c in view.find("Choices[@name='importance']")] == ["high", "medium", "low",
                                                                                   "not relevant"]
    assert view.find("Choices[@name='importance']").get("perRegion") == "true"
    assert {r.get("value") for r in view.find("Relations")} == predicates and predicates
    assert {c.get("value") for c in view.find("Choices[@name='stuff']")} == stuff and stuff
    assert view.find("Choices[@name='stuff']").get("perRegion") == "true"
    assert {label.get("value") for label in view.find("BrushLabels")} == classes  # masks
    critical = load_task("pedestrian-collision-warning").critical_relations
    with_task = ET.fromstring(labeling_config(labelset, load_task("pedestrian-collision-warning")))
    offered = {c.get("value") for c in with_task.find("Choices[@name='stuff']")}
    assert {f"{p} {o}" for p, o in critical if o not in classes} <= offered  # a missed critical triplet can be added
    assert {c.get("value") for c in view.find("Choices[@name='image_flags']")} == {"labels wrong", "objects missing"}
