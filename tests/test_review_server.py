"""The real Label Studio server: installed into its own environment by the code users run, started on 127.0.0.1,
reached through the SDK, refused clearly when down or given a wrong key, stopped cleanly."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from semcom_bench.demo import synthcity_label_sets
from semcom_bench.errors import SemcomError
from semcom_bench.review.config import labeling_config
from semcom_bench.review.server import Credentials, LabelStudioServer, connect, ensure_venv, healthy
from semcom_bench.schemas import LabelSet

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
    server = LabelStudioServer(tmp_path / "ls")
    with server:
        assert healthy(server.url)
        client = connect(server.url, server.credentials.api_key)
        assert client.users.whoami().email == server.credentials.username
        assert list(client.projects.list()) == []
        project = client.projects.create(title="config check", label_config=labeling_config(labelset))
        assert client.projects.get(project.id).label_config  # the server accepts the generated config
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
    predicates = {row["predicate"] for row in labelset.read("triplets").to_pylist()}
    assert {label.get("value") for label in view.find("RectangleLabels")} == classes
    assert [c.get("value") for c in view.find("Choices[@name='importance']")] == ["high", "medium", "low",
                                                                                   "not relevant"]
    assert view.find("Choices[@name='importance']").get("perRegion") == "true"
    assert {r.get("value") for r in view.find("Relations")} == predicates and predicates
    assert {c.get("value") for c in view.find("Choices[@name='image_flags']")} == {"labels wrong", "objects missing"}
