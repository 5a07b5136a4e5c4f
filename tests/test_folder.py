"""Folder adapter: recursive listing, ids, skipping of undecodable files, and a real photo when one is installed."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semcom_bench.datasets.base import DATASETS
from semcom_bench.datasets.folder import FolderAdapter
from semcom_bench.errors import CorruptFileError, DatasetLayoutError, DatasetNotFoundError, SemcomError

# Photos shipped inside packages, as (package, path inside it); the first one installed is used.
SHIPPED_PHOTOS = (("ultralytics", "assets/bus.jpg"), ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"))


def _save(path: Path, width: int, height: int, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(width + height)
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).convert(mode).save(path)


def _png_bytes(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    _save(root / "b.png", 32, 24)
    _save(root / "a.JPG", 16, 12, mode="L")  # grey and upper-case suffix
    _save(root / "sub" / "deeper" / "c.webp", 20, 10)
    _save(root / "sub" / "d.bmp", 8, 8, mode="P")
    (root / "truncated.png").write_bytes(_png_bytes(64, 64)[:300])
    (root / "sub" / "notes.jpg").write_text("not an image")
    (root / "readme.txt").write_text("ignored: not an image suffix")
    _save(root / ".hidden.png", 4, 4)
    _save(root / ".thumbs" / "e.png", 4, 4)
    return root


def test_registered() -> None:
    assert DATASETS.get("folder") is FolderAdapter
    assert FolderAdapter.name == "folder"


def test_ids_are_sorted_relative_paths_without_suffix(root: Path) -> None:
    adapter = FolderAdapter(root)
    assert adapter.ids() == ["a", "b", "sub/d", "sub/deeper/c", "sub/notes", "truncated"]
    assert len(adapter) == 6
    assert adapter.path_of("sub/deeper/c") == root / "sub" / "deeper" / "c.webp"


def test_load_has_no_ground_truth(root: Path) -> None:
    sample = FolderAdapter(root, split="mine").load("a")
    assert (sample.image_id, sample.dataset, sample.split, sample.path) == ("a", "folder", "mine", root / "a.JPG")
    assert sample.image.shape == (12, 16, 3) and sample.image.dtype == np.uint8
    assert sample.instances == [] and sample.semantic is None and sample.relations is None


def test_resize(root: Path) -> None:
    sample = FolderAdapter(root, size=(5, 7)).load("sub/deeper/c")
    assert sample.image.shape == (5, 7, 3)


def test_iteration_skips_undecodable_files_and_goes_on(root: Path) -> None:
    adapter = FolderAdapter(root)
    assert [sample.image_id for sample in adapter] == ["a", "b", "sub/d", "sub/deeper/c"]
    assert [(item.image_id, item.path) for item in adapter.skipped] == [
        ("sub/notes", root / "sub" / "notes.jpg"),
        ("truncated", root / "truncated.png"),
    ]
    assert all("cannot decode" in item.reason for item in adapter.skipped)
    with pytest.raises(CorruptFileError):
        adapter.load("truncated")


def test_unknown_id(root: Path) -> None:
    with pytest.raises(SemcomError, match="no image 'zzz'"):
        FolderAdapter(root).load("zzz")


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        FolderAdapter(tmp_path / "nowhere")
    with pytest.raises(DatasetNotFoundError, match="needs a root"):
        FolderAdapter(None)
    (tmp_path / "file.png").write_bytes(_png_bytes(4, 4))
    with pytest.raises(DatasetNotFoundError, match="is not a folder"):
        FolderAdapter(tmp_path / "file.png")


def test_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "readme.txt").write_text("no images here")
    with pytest.raises(DatasetLayoutError, match="no images under") as err:
        FolderAdapter(tmp_path)
    assert "--root" in err.value.hint


def test_two_files_with_one_id(tmp_path: Path) -> None:
    _save(tmp_path / "x.png", 4, 4)
    _save(tmp_path / "x.jpg", 4, 4)
    with pytest.raises(DatasetLayoutError, match="image id 'x'"):
        FolderAdapter(tmp_path)


def test_real_photo(tmp_path: Path) -> None:
    photo = None
    for package, inner in SHIPPED_PHOTOS:
        # find_spec locates the package without importing it (importing ultralytics pulls in torch).
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin is not None and (Path(spec.origin).parent / inner).is_file():
            photo = Path(spec.origin).parent / inner
            break
    if photo is None:
        pytest.skip(f"no package shipping a photo is installed ({', '.join(p for p, _ in SHIPPED_PHOTOS)})")
    (tmp_path / "cam").mkdir()
    (tmp_path / "cam" / photo.name).write_bytes(photo.read_bytes())
    adapter = FolderAdapter(tmp_path)
    [sample] = list(adapter)
    assert sample.image_id == f"cam/{photo.stem}"
    with Image.open(photo) as original:
        assert sample.image.shape == (original.height, original.width, 3)
    assert sample.image.std() > 10  # a real photo, not a blank decode
    assert adapter.skipped == []
