"""Shared fixtures; every tool that caches (matplotlib, ultralytics, torch) writes into this run's temp folder."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    base = Path(tempfile.mkdtemp(prefix="semcom-bench-tests-"))
    for var, sub in (("MPLCONFIGDIR", "mpl"), ("YOLO_CONFIG_DIR", "yolo"), ("TORCH_HOME", "torch")):
        path = base / sub
        path.mkdir(parents=True, exist_ok=True)
        os.environ[var] = str(path)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.pop("CITYSCAPES_DATASET", None)


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthcity tree (8 images, 128x256, seed 7) shared by the tests that only read it."""
    from semcom_bench.datasets.synthcity import generate

    root = tmp_path_factory.mktemp("synthcity")
    generate(root, n=8, seed=7, size=(128, 256), split="train")
    return root


@pytest.fixture(autouse=True)
def _no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests decide the MLLM key and URL; the developer's environment must not."""
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server() -> Iterator[object]:
    """A local OpenAI-compatible server on 127.0.0.1, stopped after the test."""
    from semcom_bench.testing.openai_server import LocalOpenAIServer

    with LocalOpenAIServer() as srv:
        yield srv


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Tiny models: one intra-op thread is faster than two contended ones; restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
