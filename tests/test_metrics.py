"""Benchmark metrics: agreement with independent NumPy references (TC-PSNR eq. 8-9, per-tier PSNR), known values,
pytorch-msssim agreement, the MS-SSIM small-image rule, pooled accumulation, NaN handling and every bad input."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import pytorch_msssim
import torch

from semcom_bench.benchmark import (
    MSSSIM,
    PSNR,
    SSIM,
    TCPSNR,
    MetricWarning,
    QualityMetrics,
    TierPSNR,
    cbr,
    model_complexity,
    ms_ssim,
    ms_ssim_scales,
    psnr,
    ssim,
    tc_psnr,
    tier_psnr,
)
from semcom_bench.errors import SemcomError, ShapeMismatchError
from semcom_bench.schemas import encode_mask

# ----------------------------------------------------------------------------------- independent NumPy references


def ref_tc_psnr(p: np.ndarray, p_hat: np.ndarray, m: np.ndarray) -> float:
    """InsCom eq. (8)-(9) literally: MSE over the masked pixels (3 channels each), MAX = 255."""
    diff = p[m].astype(np.float64) - p_hat[m].astype(np.float64)  # (n_masked, 3)
    mse = np.mean(diff**2)
    return 10 * np.log10(255.0**2 / mse)


def ref_tc_psnr_loops(p: np.ndarray, p_hat: np.ndarray, m: np.ndarray) -> float:
    """Eq. (8) as written, sum over i, j of M_ij (P_ij - P^_ij)^2 over sum of M_ij, with 3 values per pixel."""
    num, den = 0.0, 0
    for i in range(p.shape[0]):
        for j in range(p.shape[1]):
            if m[i, j]:
                for k in range(3):
                    num += (float(p[i, j, k]) - float(p_hat[i, j, k])) ** 2
                    den += 1
    return 10 * math.log10(255.0**2 / (num / den))


def ref_tier_psnr(p: np.ndarray, p_hat: np.ndarray, grid: np.ndarray, size: int) -> dict[int, float]:
    """Per-tier PSNR by looping over patches; edge patches take the pixels left."""
    height, width = p.shape[:2]
    se: dict[int, float] = {}
    n: dict[int, int] = {}
    for r in range(grid.shape[0]):
        for c in range(grid.shape[1]):
            block = (slice(r * size, min((r + 1) * size, height)), slice(c * size, min((c + 1) * size, width)))
            d = p[block].astype(np.float64) - p_hat[block].astype(np.float64)
            tier = int(grid[r, c])
            se[tier] = se.get(tier, 0.0) + float(np.sum(d**2))
            n[tier] = n.get(tier, 0) + d.size
    return {t: 10 * np.log10(255.0**2 / (se[t] / n[t])) for t in se}


def pair(rng: np.random.Generator, height: int, width: int, noise: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """A random uint8 image and a noisy copy, both ``(H, W, 3)``."""
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    noisy = np.clip(image.astype(int) + rng.integers(-noise, noise + 1, image.shape), 0, 255).astype(np.uint8)
    return image, noisy


def chw(images: np.ndarray) -> torch.Tensor:
    """``(B, H, W, 3)`` uint8 -> ``(B, 3, H, W)`` float in [0, 1] (exactly representable after rounding)."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).double() / 255


# ------------------------------------------------------------------------------------------------------ TC-PSNR


@pytest.mark.parametrize("seed", range(6))
def test_tc_psnr_matches_eq_8_9(seed: int) -> None:
    rng = np.random.default_rng(seed)
    height, width = rng.integers(20, 90, 2)
    image, noisy = pair(rng, height, width, noise=int(rng.integers(1, 60)))
    mask = rng.random((height, width)) < rng.uniform(0.01, 0.9)
    want = ref_tc_psnr(image, noisy, mask)
    assert abs(want - ref_tc_psnr_loops(image, noisy, mask)) < 1e-9
    assert abs(tc_psnr(image, noisy, mask) - want) < 1e-6
    # Same value from the float batch form with a 0/1 uint8 mask, from tensors, and from the mask's COCO RLE.
    assert abs(tc_psnr(chw(image[None]), chw(noisy[None]), mask.astype(np.uint8)) - want) < 1e-6
    assert abs(tc_psnr(torch.from_numpy(image), torch.from_numpy(noisy), torch.from_numpy(mask)) - want) < 1e-6
    assert tc_psnr(image, noisy, encode_mask(mask)) == tc_psnr(image, noisy, mask)


def test_tc_psnr_ignores_pixels_outside_the_mask() -> None:
    rng = np.random.default_rng(1)
    image, noisy = pair(rng, 32, 48)
    mask = np.zeros((32, 48), bool)
    mask[5:20, 10:30] = True
    wrecked = noisy.copy()
    wrecked[~mask] = 255 - image[~mask]
    assert tc_psnr(image, wrecked, mask) == tc_psnr(image, noisy, mask)
    assert tc_psnr(image, image, mask) == math.inf


def test_tc_psnr_batch_pools_the_masked_pixels() -> None:
    rng = np.random.default_rng(2)
    images, noisy = zip(*(pair(rng, 24, 40, noise=n) for n in (5, 40, 80)), strict=True)
    masks = rng.random((3, 24, 40)) < 0.3
    got = tc_psnr(chw(np.stack(images)), chw(np.stack(noisy)), masks)
    want = ref_tc_psnr(np.stack(images), np.stack(noisy), masks)  # one pool of all masked pixels
    assert abs(got - want) < 1e-6
    rles = [encode_mask(m) for m in masks]  # the task_masks column of the three images
    assert tc_psnr(chw(np.stack(images)), chw(np.stack(noisy)), rles) == got


def test_tc_psnr_empty_mask_is_nan() -> None:
    image, noisy = pair(np.random.default_rng(3), 16, 16)
    assert math.isnan(tc_psnr(image, noisy, np.zeros((16, 16), bool)))


# -------------------------------------------------------------------------------------------------- tier PSNR


@pytest.mark.parametrize(("height", "width", "size"), [(45, 70, 16), (64, 64, 16), (33, 17, 8), (5, 7, 16)])
def test_tier_psnr_matches_reference_with_ragged_edges(height: int, width: int, size: int) -> None:
    rng = np.random.default_rng(height * width)
    image, noisy = pair(rng, height, width)
    grid = rng.integers(0, 4, (math.ceil(height / size), math.ceil(width / size)))
    want = ref_tier_psnr(image, noisy, grid, size)
    for form in (grid, grid.ravel().tolist(), torch.from_numpy(grid).to(torch.uint8)):
        got = tier_psnr(image, noisy, form, size)
        assert got.keys() == want.keys()
        assert all(abs(got[t] - want[t]) < 1e-6 for t in want)


def test_tier_psnr_absent_tiers_and_perfect_tier() -> None:
    rng = np.random.default_rng(4)
    image, noisy = pair(rng, 32, 32)
    grid = np.array([[0, 3], [0, 3]])
    noisy[:, 16:] = image[:, 16:]  # the tier-3 column is perfect
    got = tier_psnr(image, noisy, grid, 16)
    assert set(got) == {0, 3}
    assert got[3] == math.inf and math.isfinite(got[0])


# ------------------------------------------------------------------------------------------ PSNR, SSIM, MS-SSIM


def test_psnr_known_values() -> None:
    rng = np.random.default_rng(5)
    image = rng.integers(0, 200, (40, 60, 3), dtype=np.uint8)
    assert psnr(image, image) == math.inf
    for offset in (1, 5, 17, 55):
        assert abs(psnr(image, image + np.uint8(offset)) - 20 * math.log10(255 / offset)) < 1e-9


def test_float_inputs_are_rounded_like_compressai() -> None:
    rng = np.random.default_rng(6)
    image = rng.integers(0, 256, (1, 16, 24, 3), dtype=np.uint8)
    exact = chw(image).float()
    jitter = exact + (torch.rand_like(exact) - 0.5) * 0.99 / 255  # rounds back to the same uint8 values
    assert psnr(image[0], jitter) == math.inf
    out_of_range = exact.clone()
    out_of_range[..., 0, 0] = torch.tensor([1.7, -0.3, math.inf])  # clamps to 255, 0, 255
    want = image[0].copy()
    want[0, 0] = (255, 0, 255)
    assert psnr(want, out_of_range) == math.inf


def test_ssim_known_values_and_pytorch_msssim() -> None:
    rng = np.random.default_rng(7)
    image, noisy = pair(rng, 48, 64, noise=40)
    assert ssim(image, image) == pytest.approx(1.0, abs=1e-6)
    x, y = chw(image[None]).float() * 255, chw(noisy[None]).float() * 255
    assert abs(ssim(image, noisy) - pytorch_msssim.ssim(x, y, data_range=255).item()) < 1e-6


def test_ms_ssim_matches_pytorch_msssim_on_large_images() -> None:
    rng = np.random.default_rng(8)
    images, noisy = zip(*(pair(rng, 170, 200, noise=n) for n in (10, 60)), strict=True)
    x, y = chw(np.stack(images)).float(), chw(np.stack(noisy)).float()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 5 scales: no warning
        got = ms_ssim(x, y)
    assert abs(got - pytorch_msssim.ms_ssim(x * 255, y * 255, data_range=255).item()) < 1e-6
    assert ms_ssim(images[0], images[0]) == pytest.approx(1.0, abs=1e-6)
    # Forced scales reproduce pytorch-msssim with the first weights normalised to sum to 1.
    head = [0.0448, 0.2856, 0.3001]
    weights = [w / sum(head) for w in head]
    want = pytorch_msssim.ms_ssim(x * 255, y * 255, data_range=255, weights=weights).item()
    assert abs(ms_ssim(x, y, scales=3) - want) < 1e-6


def test_ms_ssim_small_image_rule() -> None:
    assert [ms_ssim_scales(s, 512) for s in (161, 160, 81, 80, 41, 40, 21, 20, 11, 10)] == [
        5,
        4,
        4,
        3,
        3,
        2,
        2,
        1,
        1,
        0,
    ]
    rng = np.random.default_rng(9)
    image, noisy = pair(rng, 64, 96)
    with pytest.warns(MetricWarning, match="3 scales"):
        three = ms_ssim(image, noisy)
    assert three == ms_ssim(image, noisy, scales=3)
    tiny, tiny_noisy = pair(rng, 16, 40)
    with pytest.warns(MetricWarning, match="1 scales"):
        one = ms_ssim(tiny, tiny_noisy)
    assert abs(one - max(ssim(tiny, tiny_noisy), 0.0)) < 1e-6  # one scale is SSIM with ReLU
    with pytest.warns(MetricWarning, match="shorter than"):
        assert math.isnan(ms_ssim(*pair(rng, 8, 40)))
    with pytest.warns(MetricWarning, match="shorter than"):
        assert math.isnan(ssim(*pair(rng, 40, 10)))
    with pytest.raises(SemcomError, match="1 to 3 MS-SSIM scales"):
        ms_ssim(image, noisy, scales=4)


# ---------------------------------------------------------------------------------------------------- classes


def test_classes_accumulate_the_pooled_value() -> None:
    rng = np.random.default_rng(10)
    images, noisy = (np.stack(a) for a in zip(*(pair(rng, 40, 56, noise=n) for n in (3, 20, 70, 9, 1)), strict=True))
    masks = rng.random((5, 40, 56)) < 0.25
    masks[3] = False  # one empty mask: no pixel, NaN per image, skipped by the mean
    grids = rng.integers(0, 3, (5, 3, 4))
    grids[0, 0, 0] = 3  # tier 3 only in the first image
    metrics = [PSNR(), TCPSNR(), TierPSNR(), SSIM(), MSSSIM()]
    for start, stop in ((0, 2), (2, 3), (3, 5)):  # uneven batches, float and uint8 forms mixed
        ref, rec = images[start:stop], chw(noisy[start:stop])
        metrics[0].update(chw(ref), rec)
        metrics[1].update(chw(ref), rec, masks[start:stop])
        metrics[2].update(chw(ref), rec, grids[start:stop], 16)
        metrics[3].update(chw(ref), rec)
        with pytest.warns(MetricWarning, match="2 scales"):
            metrics[4].update(chw(ref), rec)
    p, tc, tiers, s, ms = metrics
    assert abs(p.compute() - psnr(chw(images), chw(noisy))) < 1e-9
    assert abs(p.compute() - ref_tc_psnr(images, noisy, np.ones((5, 40, 56), bool))) < 1e-6
    assert abs(tc.compute() - ref_tc_psnr(images, noisy, masks)) < 1e-6
    assert tc.empty_masks == 1 and math.isnan(tc.values()[3])
    per_image = [ref_tc_psnr(images[i], noisy[i], masks[i]) for i in (0, 1, 2, 4)]
    assert abs(tc.mean_of_db() - np.mean(per_image)) < 1e-6
    assert np.allclose(p.values(), [psnr(images[i], noisy[i]) for i in range(5)])
    assert abs(p.mean_of_db() - np.mean(p.values())) < 1e-12
    pooled = tiers.compute()
    assert pooled.keys() == {0, 1, 2, 3}
    assert abs(pooled[3] - ref_tier_psnr(images[0], noisy[0], grids[0], 16)[3]) < 1e-6
    assert tiers.values()[1] == pytest.approx(ref_tier_psnr(images[1], noisy[1], grids[1], 16), abs=1e-6)
    assert tiers.mean_of_db()[3] == pooled[3]
    assert abs(s.compute() - ssim(chw(images), chw(noisy))) < 1e-9
    with pytest.warns(MetricWarning):
        assert abs(ms.compute() - ms_ssim(chw(images), chw(noisy))) < 1e-9
    for metric in metrics:
        metric.reset()
    assert math.isnan(p.compute()) and tiers.compute() == {} and math.isnan(s.compute())


def test_perfect_images_inf_per_image_finite_pooled() -> None:
    rng = np.random.default_rng(11)
    image, noisy = pair(rng, 20, 30)
    metric = PSNR()
    metric.update(image, image)
    assert metric.compute() == math.inf
    metric.update(image, noisy)
    assert metric.values()[0] == math.inf and math.isfinite(metric.compute())
    assert metric.mean_of_db() == math.inf  # why compute() pools the MSE instead
    assert abs(metric.compute() - (psnr(image, noisy) + 10 * math.log10(2))) < 1e-9  # half the MSE


def test_quality_metrics_one_pass_equals_the_separate_metrics() -> None:
    rng = np.random.default_rng(12)
    images, noisy = (np.stack(a) for a in zip(*(pair(rng, 170, 180, noise=n) for n in (8, 30)), strict=True))
    masks = rng.random((2, 170, 180)) < 0.2
    grids = rng.integers(0, 4, (2, 11, 12))
    quality = QualityMetrics()
    quality.update(chw(images), chw(noisy), masks, grids, 16)
    got = quality.compute()
    assert got["psnr"] == psnr(chw(images), chw(noisy))
    assert got["ssim"] == ssim(chw(images), chw(noisy))
    assert got["ms_ssim"] == ms_ssim(chw(images), chw(noisy))
    assert got["tc_psnr"] == tc_psnr(chw(images), chw(noisy), masks)
    assert got["tier_psnr"] == tier_psnr(chw(images), chw(noisy), grids, 16)
    plain = QualityMetrics()
    plain.update(chw(images), chw(noisy))
    assert set(plain.compute()) == {"psnr", "ssim", "ms_ssim"}
    with pytest.raises(ShapeMismatchError):  # a bad label leaves every metric unchanged
        quality.update(chw(images), chw(noisy), masks[:, :10])
    assert quality.psnr.values().size == 2 and quality.ssim.values().size == 2


# ----------------------------------------------------------------------------------------------- NaN and errors


def test_nan_reconstruction_gives_nan_and_a_flag() -> None:
    rng = np.random.default_rng(13)
    images, noisy = (np.stack(a) for a in zip(*(pair(rng, 24, 32) for _ in range(2)), strict=True))
    rec = chw(noisy)
    rec[1, :, 2, 3] = math.nan  # one pixel of the second image
    mask = np.zeros((2, 24, 32), bool)
    mask[:, 10:, 10:] = True  # does not hold the NaN pixel
    with pytest.warns(MetricWarning, match="NaN"):
        assert math.isnan(psnr(images[1], rec[1:]))
    with pytest.warns(MetricWarning, match="NaN"):
        assert math.isnan(ssim(images[1], rec[1:]))
    with pytest.warns(MetricWarning, match="NaN"):
        assert math.isfinite(tc_psnr(images[1], rec[1:], mask[1]))  # NaN outside the region does not count
    with pytest.warns(MetricWarning, match="NaN"):
        tiers = tier_psnr(images[1], rec[1:], np.array([[1, 0], [0, 2]]), 16)
    assert math.isnan(tiers[1]) and math.isfinite(tiers[0]) and math.isfinite(tiers[2])
    metric = PSNR()
    with pytest.warns(MetricWarning, match="NaN"):
        metric.update(chw(images), rec)
    assert metric.nan_images == 1
    assert math.isfinite(metric.values()[0]) and math.isnan(metric.values()[1])
    assert math.isnan(metric.compute())  # a failure is not averaged away
    quality = QualityMetrics()
    with pytest.warns(MetricWarning):
        quality.update(chw(images), rec, mask)
    assert math.isnan(quality.ms_ssim.values()[1]) and math.isfinite(quality.ms_ssim.values()[0])
    assert quality.tc_psnr.nan_images == 1 and math.isfinite(quality.compute()["tc_psnr"])


def test_bad_inputs_raise_clear_errors() -> None:
    rng = np.random.default_rng(14)
    image, noisy = pair(rng, 24, 32)
    with pytest.raises(ShapeMismatchError, match=r"\(24, 32, 3\).*\(24, 31, 3\)"):
        psnr(image, noisy[:, :31])
    with pytest.raises(ShapeMismatchError, match=r"\(24, 32, 3\).*\(2, 3, 24, 32\)"):
        psnr(image, chw(np.stack([noisy, noisy])))
    with pytest.raises(ShapeMismatchError, match="uint8 \\(H, W, 3\\)"):
        psnr(image.astype(np.float32) / 255, noisy)  # float images come batched, channels first
    with pytest.raises(ShapeMismatchError):
        psnr(image[..., :2], noisy[..., :2])
    with pytest.raises(SemcomError, match="NumPy array or a torch tensor"):
        psnr(image.tolist(), noisy)
    bad_ref = chw(image[None])
    bad_ref[0, 0, 0, 0] = math.nan
    with pytest.raises(SemcomError, match="reference image contains NaN"):
        psnr(bad_ref, noisy)
    # Masks.
    with pytest.raises(ShapeMismatchError, match=r"mask of shape \(24, 31\).*\(24, 32\)"):
        tc_psnr(image, noisy, np.ones((24, 31), bool))
    with pytest.raises(ShapeMismatchError, match="mask of shape"):
        tc_psnr(chw(np.stack([image, image])), chw(np.stack([noisy, noisy])), np.ones((24, 32), bool))
    with pytest.raises(SemcomError, match="binary"):
        tc_psnr(image, noisy, np.full((24, 32), 2))
    with pytest.raises(SemcomError, match="mask must be"):
        tc_psnr(image, noisy, "mask")
    # Patch grids: 24x32 at p=16 is 2x2; at p=10 it is 3x4.
    with pytest.raises(ShapeMismatchError, match=r"patch grid of shape \(2, 3\).*\(2, 2\)"):
        tier_psnr(image, noisy, np.zeros((2, 3), int), 16)
    with pytest.raises(ShapeMismatchError, match="flat raster list of 12"):
        tier_psnr(image, noisy, [0] * 4, 10)
    with pytest.raises(SemcomError, match="non-negative"):
        tier_psnr(image, noisy, np.array([[0, -1], [0, 0]]), 16)
    with pytest.raises(SemcomError, match="integers"):
        tier_psnr(image, noisy, np.zeros((2, 2)), 16)
    for size in (0, 2.5, True):
        with pytest.raises(SemcomError, match="patch size"):
            tier_psnr(image, noisy, np.zeros((2, 2), int), size)  # type: ignore[arg-type]
    with pytest.raises(SemcomError, match="go together"):
        QualityMetrics().update(image, noisy, patch_tiers=np.zeros((2, 2), int))


# ------------------------------------------------------------------------------------------- CBR and complexity


def test_cbr() -> None:
    assert cbr(3 * 256 * 512 // 16, 256, 512) == 1 / 16
    assert np.allclose(cbr(torch.tensor([768, 1536]), 16, 16), [1.0, 2.0])
    for args in ((-1, 4, 4), (10, 0, 4), (10, 4, 2.5), (math.nan, 4, 4)):
        with pytest.raises(SemcomError):
            cbr(*args)  # type: ignore[arg-type]


def test_model_complexity() -> None:
    conv = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.BatchNorm2d(8))
    conv.train()
    running = conv[2].running_mean.clone()
    got = model_complexity(conv, torch.rand(1, 3, 16, 16))
    assert got == {"params": 8 * 3 * 9 + 8 + 2 * 8, "macs": 16 * 16 * 8 * 3 * 9}
    assert conv.training and torch.equal(conv[2].running_mean, running)  # no side effects
    linear = torch.nn.Linear(10, 5)
    assert model_complexity(linear, (torch.rand(2, 10),)) == {"params": 55, "macs": 100}


def test_per_image_sums_match_a_direct_computation() -> None:
    from semcom_bench.benchmark.metrics import PSNR, TierPSNR

    rng = np.random.default_rng(5)
    ref = rng.integers(0, 256, (2, 20, 30, 3), dtype=np.uint8)
    rec = rng.integers(0, 256, (2, 20, 30, 3), dtype=np.uint8)
    tiers = rng.integers(0, 3, (2, 2, 3))  # patch size 10, tiers 0..2 only
    err = ((ref.astype(np.float64) - rec) ** 2).sum(axis=3)
    psnr_metric, tier_metric = PSNR(), TierPSNR()
    for k in range(2):
        psnr_metric.update(ref[k], rec[k])
        tier_metric.update(ref[k], rec[k], tiers[k], 10)
    sse, pixels = psnr_metric.sums()
    assert np.allclose(sse, err.sum(axis=(1, 2))) and pixels.tolist() == [600, 600]
    tier_sse, tier_pixels = tier_metric.sums(4)
    for k in range(2):
        per_pixel = np.repeat(np.repeat(tiers[k], 10, axis=0), 10, axis=1)
        for t in range(4):
            assert np.isclose(tier_sse[k, t], err[k][per_pixel == t].sum())
            assert tier_pixels[k, t] == (per_pixel == t).sum()
