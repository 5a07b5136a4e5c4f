"""Source codecs: exact byte budgets, monotone quality, clear errors, and the trimmed HEVC container."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pillow_heif
import pytest

from semcom_bench.errors import SemcomError
from semcom_bench.schemes.codecs import CODECS, BudgetTooSmallError, CodecError, get_codec


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    """Three 64x128 synthcity scenes, ``(H, W, 3)`` uint8."""
    from semcom_bench.datasets import DATASETS
    from semcom_bench.datasets.synthcity import generate

    root = tmp_path_factory.mktemp("codecs")
    generate(Path(root), n=3, seed=11, size=(64, 128))
    return [s.image for s in DATASETS.get("synthcity")(root=root, split="train")]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-12)))


def test_registry_names_and_hevc_label() -> None:
    assert CODECS.names() == ["hevc", "jpeg2000", "webp"]
    assert get_codec("hevc").label == "HEVC-intra (BPG-equivalent)"
    with pytest.raises(SemcomError, match="unknown source codec"):
        get_codec("bpg")


@pytest.mark.parametrize("name", ["hevc", "jpeg2000", "webp"])
def test_budget_search_never_exceeds_the_budget_and_quality_grows(name: str, images: list[np.ndarray]) -> None:
    codec = get_codec(name)
    for image in images:
        smallest = len(codec.encode(image, codec.quality_range[0]))
        budgets = np.unique(np.geomspace(smallest, 12 * smallest, 9).astype(int))
        qualities, psnrs = [], []
        for budget in budgets:
            stream, quality = codec.encode_to_budget(image, int(budget))
            assert len(stream) <= budget
            assert stream == codec.encode(image, quality)  # the stream is the codec's, at the quality reported
            decoded = codec.decode(stream)
            assert decoded.shape == image.shape and decoded.dtype == np.uint8
            qualities.append(quality)
            psnrs.append(_psnr(image, decoded))
        assert qualities == sorted(qualities)
        assert psnrs[-1] > psnrs[0] + 3


@pytest.mark.parametrize("name", ["hevc", "jpeg2000", "webp"])
def test_budget_below_the_smallest_stream_names_the_minimum(name: str, images: list[np.ndarray]) -> None:
    codec = get_codec(name)
    smallest = len(codec.encode(images[0], codec.quality_range[0]))
    with pytest.raises(BudgetTooSmallError, match=f"smallest .* is {smallest} B") as info:
        codec.encode_to_budget(images[0], smallest - 1)
    assert info.value.min_bytes == smallest
    stream, quality = codec.encode_to_budget(images[0], smallest)
    assert len(stream) == smallest and quality >= codec.quality_range[0]


@pytest.mark.parametrize("name", ["hevc", "jpeg2000", "webp"])
def test_corrupt_or_truncated_stream_raises_codec_error(name: str, images: list[np.ndarray]) -> None:
    codec = get_codec(name)
    stream = codec.encode(images[0], codec.quality_range[1] // 2)
    garbage = np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes()
    for bad in (b"", garbage, stream[:5]):
        with pytest.raises(CodecError, match="undecodable|corrupt|truncated"):
            codec.decode(bad)


def test_hevc_sends_less_than_the_heif_file_and_decodes_identically(images: list[np.ndarray]) -> None:
    codec = get_codec("hevc")
    image = images[1]
    height, width = image.shape[:2]
    heif = pillow_heif.from_bytes("RGB", (width, height), image.tobytes())
    buf = io.BytesIO()
    heif.save(buf, chroma=420, enc_params={"preset": "slow", "tune": "psnr", "x265:qp": "21"})
    file = buf.getvalue()
    stream = codec.encode(image, 30)  # QP 51 - 30
    assert len(file) - len(stream) > 250  # the HEIF boxes the receiver rebuilds
    reference = np.asarray(pillow_heif.open_heif(io.BytesIO(file))[0])
    assert np.array_equal(codec.decode(stream), reference)


@pytest.mark.parametrize("shape", [(1, 1), (17, 33), (64, 129), (100, 101)])
@pytest.mark.parametrize("name", ["hevc", "jpeg2000", "webp"])
def test_odd_and_tiny_sizes_round_trip(name: str, shape: tuple[int, int]) -> None:
    codec = get_codec(name)
    image = np.random.default_rng(1).integers(0, 256, (*shape, 3), dtype=np.uint8)
    assert codec.decode(codec.encode(image, codec.quality_range[1] // 2)).shape == (*shape, 3)


def test_bad_image_is_refused() -> None:
    with pytest.raises(SemcomError, match=r"\(H, W, 3\) uint8"):
        get_codec("hevc").encode(np.zeros((8, 8, 3), np.float32), 50)
