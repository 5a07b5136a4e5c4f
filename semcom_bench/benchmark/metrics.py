"""Benchmark metrics: PSNR, SSIM, MS-SSIM, TC-PSNR (InsCom eq. 8-9), per-tier PSNR (SA-OOSC Fig. 5), CBR, complexity.

Conventions shared by every image metric:

* **Inputs.** One image as a ``uint8`` ``(H, W, 3)`` NumPy array or tensor, or a batch as a ``(B, 3, H, W)`` tensor
  (or array): floating in ``[0, 1]`` (what a scheme's receiver returns) or ``uint8``. Reference and reconstruction
  may come in different forms as long as they hold the same ``(B, 3, H, W)`` pixels; otherwise
  :class:`~semcom_bench.errors.ShapeMismatchError` names both shapes. Tensors are processed on their own device.
* **Quantisation.** Every metric is computed on 8-bit images, as CompressAI's evaluation does: a floating image ``x``
  becomes ``round(clamp(255 * x, 0, 255))`` (so ``+-inf`` clamp like any out-of-range value). Peak value MAX = 255.
* **PSNR = 10 log10(MAX^2 / MSE)**, MSE over all 3 channels of the pixels concerned. A perfect reconstruction has
  MSE 0 and PSNR ``+inf`` (not capped). A region without pixels (empty task mask) gives ``NaN``.
* **NaN in a reconstruction** (a diverged receiver) cannot be rounded to a pixel value. It does not raise: the
  metric is ``NaN`` wherever it covers a NaN pixel (PSNR-type metrics: the pixels they average; SSIM and MS-SSIM:
  the whole image), and a :class:`MetricWarning` is emitted; the classes count such images in ``nan_images``. The
  harness can record the NaN and go on. A NaN in the *reference* is a data error and raises.
* **Aggregation.** A batch given to a function, and the classes' :meth:`~PSNR.compute`, pool squared errors and
  pixel counts before converting to dB (dataset-level PSNR = dB of the pooled MSE; finite unless every pixel is
  perfect; NaN-poisoned by a NaN reconstruction, so failures cannot be averaged away). ``mean_of_db()`` gives the
  mean of per-image dB instead (what some papers report): ``+inf`` as soon as one image is perfect.
  SSIM and MS-SSIM are averaged over images.
* **MS-SSIM scales.** pytorch-msssim's MS-SSIM (5 scales, window 11) needs a short side of at least 161 px. Smaller
  images use the most scales ``L`` the size allows (:func:`ms_ssim_scales`: short side > 10 * 2^(L-1)) with the first
  ``L`` standard weights normalised to sum to 1 (one scale is SSIM with ReLU), and a :class:`MetricWarning` (such
  values are not comparable with 5-scale ones). Below 11 px (one window) SSIM and MS-SSIM are ``NaN`` with a warning.

SSIM and MS-SSIM follow pytorch-msssim exactly (Gaussian window 11 / sigma 1.5, K = (0.01, 0.03), valid convolution,
ReLU on the contrast terms); the five local moments are blurred in one grouped convolution, in cache-sized strips
(faster; values agree with pytorch-msssim to float32 rounding, ~1e-7).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_msssim.ssim import _fspecial_gauss_1d
from torch.utils.flop_counter import FlopCounterMode

from semcom_bench.errors import SemcomError, ShapeMismatchError
from semcom_bench.schemas.rle import decode_mask, decode_masks

MAX_VALUE = 255.0
WIN_SIZE = 11
WIN_SIGMA = 1.5
SSIM_K = (0.01, 0.03)
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_STRIP_PIXELS = 1 << 15  # output pixels per SSIM strip: ~2 MB of blurred moments, cache-sized

Image = np.ndarray | torch.Tensor
"""``(H, W, 3)`` uint8, or ``(B, 3, H, W)`` float in ``[0, 1]`` or uint8; NumPy or torch."""
Mask = np.ndarray | torch.Tensor | Mapping[str, Any] | Sequence[Mapping[str, Any]]
"""``(H, W)`` or ``(B, H, W)`` binary array, or COCO RLE dict(s) as in the ``task_masks`` table."""
Tiers = np.ndarray | torch.Tensor | Sequence[int]
"""``(grid_h, grid_w)`` or flat raster ``(grid_h * grid_w,)`` tiers; for a batch ``(B, grid_h, grid_w)`` or
``(B, grid_h * grid_w)``."""


class MetricWarning(UserWarning):
    """A metric value is NaN or not comparable with the usual one (NaN reconstruction, fewer MS-SSIM scales)."""


# ---------------------------------------------------------------------------------------------------------- inputs


def _shape(x: object) -> object:
    return tuple(x.shape) if isinstance(x, np.ndarray | torch.Tensor) else type(x).__name__


def _quantize(images: Image, name: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """8-bit values ``0..255`` as a ``(B, 3, H, W)`` float32 tensor (exact integers: the metrics' working form), plus
    the ``(B, H, W)`` map of NaN pixels (``None`` when there is none)."""
    if isinstance(images, np.ndarray):
        x = torch.from_numpy(images)
    elif isinstance(images, torch.Tensor):
        x = images.detach()
    else:
        raise SemcomError(f"{name} must be a NumPy array or a torch tensor, got {type(images).__name__}")
    if x.dim() == 3 and x.shape[-1] == 3 and x.dtype == torch.uint8:
        x = x.permute(2, 0, 1).unsqueeze(0)
    elif x.dim() != 4 or x.shape[1] != 3 or not (x.dtype == torch.uint8 or x.is_floating_point()):
        raise ShapeMismatchError(
            f"{name} must be a uint8 (H, W, 3) image or a (B, 3, H, W) batch (float in [0, 1] or uint8), "
            f"got {x.dtype} of shape {tuple(x.shape)}",
            hint="float images come batched and channels-first, as a scheme's receiver returns them",
        )
    if min(x.shape) == 0:
        raise ShapeMismatchError(f"{name} is empty: shape {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.float(), None
    nan = None
    if not bool(torch.isfinite(x.sum())):  # one cheap reduction; the NaN map only when something is off
        nan = torch.isnan(x).any(dim=1)
        nan = nan if bool(nan.any()) else None
    x = (x * MAX_VALUE).clamp_(0, MAX_VALUE).round_()  # CompressAI's order of operations, in the input's dtype
    return (x if nan is None else x.nan_to_num_(0.0)).float(), nan


class _Pair:
    """A reference and a reconstruction as ``(B, 3, H, W)`` 8-bit values (float32) on one device, with the NaN map."""

    def __init__(self, reference: Image, reconstruction: Image) -> None:
        ref, ref_nan = _quantize(reference, "reference")
        rec, self.nan = _quantize(reconstruction, "reconstruction")
        if ref_nan is not None:
            raise SemcomError("the reference image contains NaN", hint="check the dataset image and its loading")
        if ref.shape != rec.shape:
            raise ShapeMismatchError(
                f"reference of shape {_shape(reference)} and reconstruction of shape {_shape(reconstruction)} "
                f"differ: (B, 3, H, W) = {tuple(ref.shape)} vs {tuple(rec.shape)}",
                hint="compare each reconstruction with its own reference image, at the same size",
            )
        self.reference, self.reconstruction = ref.to(rec.device), rec
        self.batch, _, self.height, self.width = rec.shape
        if self.nan is not None:
            warnings.warn(
                "the reconstruction contains NaN: metrics over its NaN pixels are NaN", MetricWarning, stacklevel=3
            )

    @property
    def nan_images(self) -> int:
        """Images of the batch with at least one NaN pixel."""
        return 0 if self.nan is None else int(self.nan.flatten(1).any(1).sum())

    @cached_property
    def squared_error(self) -> torch.Tensor:
        """``(B, H, W)`` float32: squared error summed over the 3 channels of each pixel.

        Exact: integers up to 3 * 255^2 < 2^24. Every sum over pixels is taken in float64, exact up to 2^53.
        """
        return (self.reference - self.reconstruction).square_().sum(1)

    def region_sums(self, region: torch.Tensor | None) -> tuple[np.ndarray, np.ndarray]:
        """``(B,)`` float64 squared-error sums and ``(B,)`` int64 pixel counts over ``region`` (``(B, H, W)`` bool,
        ``None`` = whole image); a sum is NaN where the region holds a NaN pixel."""
        se = self.squared_error
        if region is None:
            sums = se.flatten(1).sum(1, dtype=torch.float64)
            counts = torch.full((self.batch,), self.height * self.width, dtype=torch.int64)
            bad = None if self.nan is None else self.nan.flatten(1).any(1)
        else:
            sums = torch.where(region, se, 0).flatten(1).sum(1, dtype=torch.float64)
            counts = region.flatten(1).sum(1)
            bad = None if self.nan is None else (self.nan & region).flatten(1).any(1)
        if bad is not None:
            sums = torch.where(bad, torch.nan, sums)
        return sums.cpu().numpy(), counts.cpu().numpy()

    def masks(self, mask: Mask) -> torch.Tensor:
        """Validate a task-critical mask against the images: ``(B, H, W)`` bool on the images' device."""
        if isinstance(mask, Mapping):
            mask = decode_mask(mask)
        elif isinstance(mask, Sequence) and not isinstance(mask, str) and all(isinstance(m, Mapping) for m in mask):
            mask = decode_masks(list(mask))
        if not isinstance(mask, np.ndarray | torch.Tensor):
            raise SemcomError(f"mask must be an array, a tensor or COCO RLE dict(s), got {type(mask).__name__}")
        m = torch.as_tensor(mask, device=self.reconstruction.device)
        if m.dtype != torch.bool:
            if m.is_complex() or bool(((m != 0) & (m != 1)).any()):
                raise SemcomError("mask must be binary (bool, or 0/1 values)", hint="pass e.g. `labels == class_id`")
            m = m != 0
        if m.dim() == 2 and self.batch == 1:
            m = m.unsqueeze(0)
        if tuple(m.shape) != (self.batch, self.height, self.width):
            raise ShapeMismatchError(
                f"mask of shape {_shape(mask)} does not match {self.batch} image(s) of {self.height}x{self.width}: "
                f"expected (H, W) = ({self.height}, {self.width}) for one image or (B, H, W) = "
                f"({self.batch}, {self.height}, {self.width})",
                hint="decode the task mask of the same image, at the image's size",
            )
        return m

    def tier_grid(self, patch_tiers: Tiers, patch_size: int) -> torch.Tensor:
        """Validate a patch-tier grid against the images: ``(B, grid_h, grid_w)`` int64 on the images' device."""
        if isinstance(patch_size, bool) or not isinstance(patch_size, int | np.integer) or patch_size < 1:
            raise SemcomError(f"patch size must be a positive integer, got {patch_size!r}")
        p = int(patch_size)
        gh, gw = math.ceil(self.height / p), math.ceil(self.width / p)
        grid = torch.as_tensor(
            patch_tiers if isinstance(patch_tiers, np.ndarray | torch.Tensor) else np.asarray(patch_tiers)
        )
        if grid.is_floating_point() or grid.is_complex() or grid.dtype == torch.bool:
            raise SemcomError(f"patch tiers must be integers, got {grid.dtype}")
        shape, b = tuple(grid.shape), self.batch
        accepted = {(b, gh, gw), (b, gh * gw)} | ({(gh, gw), (gh * gw,)} if b == 1 else set())
        if shape not in accepted:
            forms = f"(grid_h, grid_w) = ({gh}, {gw}) or the flat raster list of {gh * gw} tiers"
            forms = forms if b == 1 else f"(B, grid_h, grid_w) = ({b}, {gh}, {gw}) or ({b}, {gh * gw})"
            raise ShapeMismatchError(
                f"patch grid of shape {shape} does not match {b} image(s) of {self.height}x{self.width} with patch "
                f"size {p}: expected {forms} (grid = ceil(H / p) x ceil(W / p))",
                hint="use the patches row of the same image and its patch_size",
            )
        grid = grid.to(device=self.reconstruction.device, dtype=torch.int64).reshape(b, gh, gw)
        if bool((grid < 0).any()):
            raise SemcomError("patch tiers must be non-negative (0 background .. 3 high)")
        return grid

    def patch_sums(self, patch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, grid_h, grid_w)`` float64 squared-error sums (NaN where a patch holds a NaN pixel) and int64 pixel
        counts per patch; edge patches of a ragged grid cover only the pixels left (zero padding adds nothing)."""
        p = patch_size
        gh, gw = math.ceil(self.height / p), math.ceil(self.width / p)
        pad = (0, gw * p - self.width, 0, gh * p - self.height)
        se = F.pad(self.squared_error, pad).view(self.batch, gh, p, gw, p)
        sums = se.sum((2, 4), dtype=torch.float64)
        if self.nan is not None:
            nan = F.pad(self.nan, pad).view(self.batch, gh, p, gw, p).any(4).any(2)
            sums = torch.where(nan, torch.nan, sums)
        rows = (self.height - p * torch.arange(gh, device=sums.device)).clamp(max=p)
        cols = (self.width - p * torch.arange(gw, device=sums.device)).clamp(max=p)
        return sums, (rows[:, None] * cols[None, :]).expand(self.batch, gh, gw)


def psnr_db(squared_error: np.ndarray | float, pixels: np.ndarray | int) -> np.ndarray:
    """PSNR in dB from squared-error sums over ``pixels`` pixels (3 channels each): inf when 0, NaN when no pixel."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mse = np.asarray(squared_error, dtype=np.float64) / (3.0 * np.asarray(pixels, dtype=np.float64))
        return 10.0 * np.log10(MAX_VALUE**2 / mse)


def pooled_psnr(squared_error: float, pixels: int) -> float:
    """Dataset PSNR in dB from pooled squared-error sums over ``pixels`` pixels (what every report pools); ``+inf``
    when perfect, NaN without pixels or with a NaN in the sums."""
    return float(psnr_db(squared_error, pixels))


# -------------------------------------------------------------------------------------------------- SSIM, MS-SSIM


def ms_ssim_scales(height: int, width: int) -> int:
    """Scales MS-SSIM uses on ``height x width`` images: the most ``L <= 5`` with ``min(H, W) > 10 * 2^(L-1)``.

    5 from 161 px on the short side (pytorch-msssim's requirement), 4 from 81, 3 from 41, 2 from 21, 1 from 11 (plain
    SSIM with ReLU), 0 below (no full window fits: NaN). Each scale halves the image; the rule keeps the coarsest one
    at least one window (11 px) wide.
    """
    short = min(height, width)
    return max((s for s in range(1, len(MS_SSIM_WEIGHTS) + 1) if short > (WIN_SIZE - 1) * 2 ** (s - 1)), default=0)


def _ms_ssim_weights(levels: int) -> list[float]:
    """The 5 standard weights as published (their sum is 1.0001), or the first ``levels`` normalised to sum to 1."""
    head = MS_SSIM_WEIGHTS[:levels]
    return list(MS_SSIM_WEIGHTS) if levels == len(MS_SSIM_WEIGHTS) else [w / sum(head) for w in head]


def _halve(x: torch.Tensor) -> torch.Tensor:
    """pytorch-msssim's downsampling ``avg_pool2d(x, 2, padding=[H % 2, W % 2])`` (zero padding counted) as four
    strided slices: several times faster on CPU. (Its padding is symmetric, but the trailing padded row or column
    falls in no window, so only the leading one is added.)"""
    height, width = x.shape[-2:]
    if height % 2 or width % 2:
        x = F.pad(x, (width % 2, 0, height % 2, 0))
    return (x[..., ::2, ::2] + x[..., 1::2, ::2] + x[..., ::2, 1::2] + x[..., 1::2, 1::2]) * 0.25


def _ssim_maps(x: torch.Tensor, y: torch.Tensor, window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """pytorch-msssim's SSIM and contrast-structure maps of ``(B, 3, h, w)`` float: ``(B, 3, h - 10, w - 10)`` each."""
    c = x.shape[1]
    # The five local moments in one grouped convolution (pytorch-msssim runs five); H pass then W pass, as it does.
    # Channels-last memory makes CPU depthwise convolution about 3x faster; the moments are written straight into it.
    moments = torch.empty(
        x.shape[0], 5 * c, *x.shape[2:], dtype=x.dtype, device=x.device, memory_format=torch.channels_last
    )
    moments[:, :c], moments[:, c : 2 * c] = x, y
    torch.mul(x, x, out=moments[:, 2 * c : 3 * c])
    torch.mul(y, y, out=moments[:, 3 * c : 4 * c])
    torch.mul(x, y, out=moments[:, 4 * c :])
    w = window.to(x).view(1, 1, -1, 1).repeat(5 * c, 1, 1, 1)
    blurred = F.conv2d(F.conv2d(moments, w, groups=5 * c), w.transpose(2, 3), groups=5 * c).contiguous()
    mu1, mu2, xx, yy, xy = blurred.split(c, dim=1)
    c1, c2 = (SSIM_K[0] * MAX_VALUE) ** 2, (SSIM_K[1] * MAX_VALUE) ** 2
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    # In place, same operations in the same order as pytorch-msssim:
    # cs = (2 sigma12 + C2) / (sigma1^2 + sigma2^2 + C2), ssim = (2 mu1 mu2 + C1) / (mu1^2 + mu2^2 + C1) * cs.
    cs_map = xy.sub_(mu1_mu2).mul_(2).add_(c2).div_(xx.sub_(mu1_sq).add_(yy.sub_(mu2_sq)).add_(c2))
    ssim_map = mu1_mu2.mul_(2).add_(c1).div_(mu1_sq.add_(mu2_sq).add_(c1)).mul_(cs_map)
    return ssim_map, cs_map


def _ssim_cs(x: torch.Tensor, y: torch.Tensor, window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """pytorch-msssim's ``_ssim`` on ``(B, 3, h, w)`` float: ``(B, 3)`` float64 mean SSIM and contrast-structure terms.

    Computed image by image in strips of output rows (each with the window's 10 extra input rows), so the five
    blurred moments stay in cache: about 2.5x faster on CPU than whole batches; the means agree to float32 rounding.
    """
    b, c, h, w = x.shape
    out_h, out_w = h - WIN_SIZE + 1, w - WIN_SIZE + 1
    rows = max(16, _STRIP_PIXELS // w)
    ssim_sum = torch.zeros(b, c, dtype=torch.float64, device=x.device)
    cs_sum = torch.zeros_like(ssim_sum)
    for i in range(b):
        for top in range(0, out_h, rows):
            bottom = min(top + rows, out_h) + WIN_SIZE - 1
            ssim_map, cs_map = _ssim_maps(x[i : i + 1, :, top:bottom], y[i : i + 1, :, top:bottom], window)
            ssim_sum[i] += ssim_map.sum((2, 3), dtype=torch.float64)[0]
            cs_sum[i] += cs_map.sum((2, 3), dtype=torch.float64)[0]
    return ssim_sum / (out_h * out_w), cs_sum / (out_h * out_w)


def _structural(pair: _Pair, with_ms: bool, scales: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(B,)`` SSIM and ``(B,)`` MS-SSIM (all NaN unless ``with_ms``) of a pair; ``scales=None``: the size rule."""
    allowed = ms_ssim_scales(pair.height, pair.width)
    nan = np.full(pair.batch, np.nan)
    if allowed == 0:
        warnings.warn(
            f"SSIM of {pair.height}x{pair.width} images is NaN: a side is shorter than the {WIN_SIZE}-px window",
            MetricWarning,
            stacklevel=3,
        )
        return nan, nan
    if scales is not None and (isinstance(scales, bool) or not isinstance(scales, int) or not 1 <= scales <= allowed):
        raise SemcomError(f"{pair.height}x{pair.width} images allow 1 to {allowed} MS-SSIM scales, got {scales!r}")
    levels = allowed if scales is None else scales
    if with_ms and scales is None and levels < len(MS_SSIM_WEIGHTS):
        warnings.warn(
            f"MS-SSIM of {pair.height}x{pair.width} images uses {levels} scales (5 need a short side of 161 px), "
            "weights normalised: not comparable with 5-scale values",
            MetricWarning,
            stacklevel=3,
        )
    window = _fspecial_gauss_1d(WIN_SIZE, WIN_SIGMA).flatten()
    x, y = pair.reference, pair.reconstruction
    ssim0, cs = _ssim_cs(x, y, window)
    values = [ssim0.mean(1)]
    if with_ms:
        # pytorch-msssim's loop: contrast terms of the first levels - 1 scales, SSIM of the last; level 0 is shared.
        terms, last = [], ssim0
        for _ in range(1, levels):
            terms.append(torch.relu(cs))
            x, y = _halve(x), _halve(y)
            last, cs = _ssim_cs(x, y, window)
        weights = torch.tensor(_ms_ssim_weights(levels), dtype=torch.float64, device=x.device)
        stacked = torch.stack([*terms, torch.relu(last)])  # (levels, B, 3)
        values.append(torch.prod(stacked ** weights.view(-1, 1, 1), dim=0).mean(1))
    out = [v.cpu().numpy() for v in values]
    if pair.nan is not None:
        bad = pair.nan.flatten(1).any(1).cpu().numpy()
        out = [np.where(bad, np.nan, v) for v in out]
    return out[0], out[1] if with_ms else nan


# -------------------------------------------------------------------------------------------------------- functions


def psnr(reference: Image, reconstruction: Image) -> float:
    """PSNR in dB (MAX = 255) over all pixels and channels; a batch gives the dB of its pooled MSE.

    ``+inf`` for a perfect reconstruction, ``NaN`` if the reconstruction has a NaN pixel (see the module docstring).
    """
    sums, counts = _Pair(reference, reconstruction).region_sums(None)
    return float(psnr_db(sums.sum(), counts.sum()))


def ssim(reference: Image, reconstruction: Image) -> float:
    """SSIM (pytorch-msssim, data range 255) of uint8-rounded images; a batch gives the mean over its images.

    ``NaN`` for an image with a NaN pixel or a side shorter than 11 px.
    """
    return float(np.mean(_structural(_Pair(reference, reconstruction), with_ms=False)[0]))


def ms_ssim(reference: Image, reconstruction: Image, scales: int | None = None) -> float:
    """MS-SSIM (pytorch-msssim, data range 255) of uint8-rounded images; a batch gives the mean over its images.

    ``scales=None``: 5 scales when the short side is >= 161 px, fewer on smaller images (:func:`ms_ssim_scales`,
    normalised weights, :class:`MetricWarning`). An explicit ``scales`` (1 up to that maximum) forces the number,
    e.g. to match a paper's 3-scale setting; the weights are again the first ``scales`` normalised.
    """
    return float(np.mean(_structural(_Pair(reference, reconstruction), with_ms=True, scales=scales)[1]))


def tc_psnr(reference: Image, reconstruction: Image, mask: Mask) -> float:
    """Task-critical PSNR, InsCom eq. (8)-(9): PSNR (MAX = 255) over the pixels where ``mask`` is true only.

    ``MSE_TC = sum_ij M_ij ||P_ij - P^_ij||^2 / (3 sum_ij M_ij)``: all 3 channels of every masked pixel.
    ``mask``: ``(H, W)`` (one image) or ``(B, H, W)`` binary, or COCO RLE dict(s) (``task_masks.mask``).
    A batch gives the dB of the MSE pooled over all masked pixels. An empty mask gives ``NaN`` (no task-critical
    pixel: nothing to measure), a perfect reconstruction of the masked pixels ``+inf``.
    """
    pair = _Pair(reference, reconstruction)
    sums, counts = pair.region_sums(pair.masks(mask))
    return float(psnr_db(sums.sum(), counts.sum()))


def _tier_sums(pair: _Pair, patch_tiers: Tiers, patch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(B, T)`` float64 squared-error sums and int64 pixel counts per image and tier ``0 .. T-1``."""
    grid = pair.tier_grid(patch_tiers, patch_size)
    sums, counts = pair.patch_sums(int(patch_size))  # patch-level first: the tier sums then touch B * grid cells
    n = int(grid.max()) + 1
    keys = (grid + n * torch.arange(pair.batch, device=grid.device).view(-1, 1, 1)).flatten()
    tier_sums = torch.zeros(pair.batch * n, dtype=torch.float64, device=grid.device).index_add_(0, keys, sums.flatten())
    tier_counts = torch.zeros(pair.batch * n, dtype=torch.int64, device=grid.device).index_add_(
        0, keys, counts.flatten()
    )
    return tier_sums.view(pair.batch, n).cpu().numpy(), tier_counts.view(pair.batch, n).cpu().numpy()


def _tier_dict(sums: np.ndarray, counts: np.ndarray) -> dict[int, float]:
    return {int(t): float(psnr_db(sums[t], counts[t])) for t in np.flatnonzero(counts)}


def tier_psnr(reference: Image, reconstruction: Image, patch_tiers: Tiers, patch_size: int) -> dict[int, float]:
    """Per-tier PSNR (SA-OOSC Fig. 5): tier -> PSNR (dB, MAX = 255) over the pixels of all patches of that tier.

    ``patch_tiers``: ``(grid_h, grid_w)`` or the flat raster list (``patches.importance``), with ``grid_h =
    ceil(H / patch_size)`` and ``grid_w = ceil(W / patch_size)``; edge patches cover the pixels left. For a batch,
    ``(B, grid_h, grid_w)`` or ``(B, grid_h * grid_w)``, and the values pool the batch. Tiers absent from the
    image(s) are absent from the dict; a perfectly reconstructed tier is ``+inf``.
    """
    pair = _Pair(reference, reconstruction)
    sums, counts = _tier_sums(pair, patch_tiers, patch_size)
    return _tier_dict(sums.sum(0), counts.sum(0))


def cbr(channel_uses: float | np.ndarray | torch.Tensor, height: int, width: int) -> float | np.ndarray:
    """Channel bandwidth ratio ``channel_uses / (3 * H * W)``: complex channel uses per real source value.

    ``channel_uses``: a number, or per-image counts (``Transmission.channel_uses``, side information included), which
    give a float64 array of the same shape.
    """
    for name, v in (("height", height), ("width", width)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise SemcomError(f"{name} must be a positive integer, got {v!r}")
    uses = channel_uses.detach().cpu().numpy() if isinstance(channel_uses, torch.Tensor) else channel_uses
    uses = np.asarray(uses, dtype=np.float64)
    if not np.all(np.isfinite(uses)) or np.any(uses < 0):
        raise SemcomError(f"channel uses must be finite and non-negative, got {channel_uses!r}")
    ratio = uses / (3.0 * int(height) * int(width))
    return float(ratio) if ratio.ndim == 0 else ratio


def model_complexity(model: torch.nn.Module, example_input: torch.Tensor | tuple[Any, ...]) -> dict[str, int]:
    """``{"params": ..., "macs": ...}`` of ``model`` called on ``example_input`` (a tensor or a tuple of arguments).

    ``params``: elements of all parameters (trainable or not; buffers excluded; shared ones once). ``macs``: multiply-
    accumulates of one forward pass on the input as given (batch included: pass one image for per-image MACs),
    counted by ``torch.utils.flop_counter.FlopCounterMode`` as its FLOPs / 2. It counts the matrix products and
    convolutions (transposed too, biases not); elementwise work (activations, GDN's square/sqrt, normalisation) is
    not counted, as with thop.
    """
    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    params = sum(p.numel() for p in model.parameters())
    was_training = model.training
    model.eval()  # no batch-norm statistics updated by the counting pass
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(*inputs)
    finally:
        model.train(was_training)
    return {"params": int(params), "macs": int(counter.get_total_flops()) // 2}


# ---------------------------------------------------------------------------------------------- accumulating classes


class _PooledPSNR:
    """Squared-error sums (exact integers, summed in float64) and pixel counts per image, pooled by ``compute``."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every image seen."""
        self._sums: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []
        self.nan_images = 0

    def _append(self, sums: np.ndarray, counts: np.ndarray, nan_images: int) -> None:
        self._sums.append(sums)
        self._counts.append(counts)
        self.nan_images += nan_images

    def compute(self) -> float:
        """dB of the MSE pooled over every image so far (``NaN`` before any update or after a NaN image)."""
        return float(psnr_db(sum(s.sum() for s in self._sums), sum(c.sum() for c in self._counts)))

    def values(self) -> np.ndarray:
        """``(N,)`` per-image dB in update order."""
        return psnr_db(np.concatenate(self._sums), np.concatenate(self._counts)) if self._sums else np.zeros(0)

    def sums(self) -> tuple[np.ndarray, np.ndarray]:
        """``(N,)`` per-image squared-error sums (over the 3 channels) and ``(N,)`` pixel counts, in update order."""
        if not self._sums:
            return np.zeros(0), np.zeros(0, np.int64)
        return np.concatenate(self._sums), np.concatenate(self._counts)

    def mean_of_db(self) -> float:
        """Mean of per-image dB over the images with pixels to measure (``+inf`` if one of them is perfect)."""
        values = self.values()
        counts = np.concatenate(self._counts) if self._counts else np.zeros(0, np.int64)
        return float(values[counts > 0].mean()) if (counts > 0).any() else math.nan


class PSNR(_PooledPSNR):
    """Dataset PSNR, torchmetrics-style: ``update`` per batch, ``compute()`` = dB of the pooled MSE.

    ``compute()`` equals :func:`psnr` on all images at once; ``values()`` gives per-image dB, ``mean_of_db()`` their
    mean. ``nan_images`` counts reconstructions with a NaN pixel.
    """

    def update(self, reference: Image, reconstruction: Image) -> None:
        """Add a batch (see the module docstring for the accepted forms)."""
        pair = _Pair(reference, reconstruction)
        self._append(*pair.region_sums(None), pair.nan_images)


class TCPSNR(_PooledPSNR):
    """Dataset TC-PSNR (InsCom eq. 8-9): squared errors and pixel counts over the task masks, pooled.

    Images with an empty mask add no pixel; their per-image value is ``NaN`` and ``mean_of_db()`` skips them.
    """

    def update(self, reference: Image, reconstruction: Image, mask: Mask) -> None:
        """Add a batch with its ``(H, W)`` / ``(B, H, W)`` masks or RLE dicts (see :func:`tc_psnr`)."""
        pair = _Pair(reference, reconstruction)
        self._append(*pair.region_sums(pair.masks(mask)), pair.nan_images)

    @property
    def empty_masks(self) -> int:
        """Images seen whose task mask had no pixel."""
        return int(sum((c == 0).sum() for c in self._counts))


class TierPSNR:
    """Dataset per-tier PSNR (SA-OOSC Fig. 5): per tier, squared errors and pixel counts over its patches, pooled."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every image seen."""
        self._sums: list[np.ndarray] = []  # (B, T) per update; T varies with the highest tier seen
        self._counts: list[np.ndarray] = []
        self.nan_images = 0

    def update(self, reference: Image, reconstruction: Image, patch_tiers: Tiers, patch_size: int) -> None:
        """Add a batch with its patch tiers (see :func:`tier_psnr` for the grid forms)."""
        pair = _Pair(reference, reconstruction)
        self._append(*_tier_sums(pair, patch_tiers, patch_size), pair.nan_images)

    def _append(self, sums: np.ndarray, counts: np.ndarray, nan_images: int) -> None:
        self._sums.append(sums)
        self._counts.append(counts)
        self.nan_images += nan_images

    def compute(self) -> dict[int, float]:
        """Tier -> dB of the MSE pooled over that tier's pixels in every image so far; tiers never seen are absent."""
        n = max((s.shape[1] for s in self._sums), default=0)
        sums, counts = np.zeros(n), np.zeros(n, np.int64)
        for s, c in zip(self._sums, self._counts, strict=True):
            sums[: s.shape[1]] += s.sum(0)
            counts[: c.shape[1]] += c.sum(0)
        return _tier_dict(sums, counts)

    def sums(self, tiers: int) -> tuple[np.ndarray, np.ndarray]:
        """``(N, tiers)`` per-image squared-error sums and pixel counts of tiers ``0 .. tiers - 1``, in update order;
        tiers an image lacks are 0."""
        rows = [(s, c) for sums, counts in zip(self._sums, self._counts, strict=True) for s, c in zip(sums, counts, strict=True)]
        out_s, out_c = np.zeros((len(rows), tiers)), np.zeros((len(rows), tiers), np.int64)
        for i, (s, c) in enumerate(rows):
            out_s[i, : min(len(s), tiers)] = s[:tiers]
            out_c[i, : min(len(c), tiers)] = c[:tiers]
        return out_s, out_c

    def values(self) -> list[dict[int, float]]:
        """Per-image ``tier -> dB`` dicts in update order (each with the tiers present in that image)."""
        return [
            _tier_dict(s, c)
            for sums, counts in zip(self._sums, self._counts, strict=True)
            for s, c in zip(sums, counts, strict=True)
        ]

    def mean_of_db(self) -> dict[int, float]:
        """Tier -> mean of per-image dB over the images that contain the tier."""
        per_tier: dict[int, list[float]] = {}
        for image in self.values():
            for tier, value in image.items():
                per_tier.setdefault(tier, []).append(value)
        return {tier: float(np.mean(v)) for tier, v in sorted(per_tier.items())}


class SSIM:
    """Mean SSIM over images, torchmetrics-style (``values()`` per image)."""

    _multiscale = False

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every image seen."""
        self._values: list[np.ndarray] = []

    def update(self, reference: Image, reconstruction: Image) -> None:
        """Add a batch."""
        ssim_values, ms_values = _structural(_Pair(reference, reconstruction), with_ms=self._multiscale)
        self._values.append(ms_values if self._multiscale else ssim_values)

    def values(self) -> np.ndarray:
        """``(N,)`` per-image values in update order."""
        return np.concatenate(self._values) if self._values else np.zeros(0)

    def compute(self) -> float:
        """Mean over every image so far (``NaN`` before any update or after a NaN image)."""
        values = self.values()
        return float(values.mean()) if values.size else math.nan


class MSSSIM(SSIM):
    """Mean MS-SSIM over images (scales by :func:`ms_ssim_scales`), torchmetrics-style."""

    _multiscale = True


class QualityMetrics:
    """Every image metric of a benchmark run in one pass per batch: PSNR, SSIM, MS-SSIM, and TC-PSNR and per-tier
    PSNR for the batches that come with a task mask and a patch-tier grid.

    The batch is rounded to 8-bit values once, and SSIM shares its full-resolution pass with MS-SSIM's first scale. The
    members (``psnr``, ``ssim``, ``ms_ssim``, ``tc_psnr``, ``tier_psnr``) keep their per-image values.
    """

    def __init__(self) -> None:
        self.psnr, self.tc_psnr, self.tier_psnr = PSNR(), TCPSNR(), TierPSNR()
        self.ssim, self.ms_ssim = SSIM(), MSSSIM()

    def reset(self) -> None:
        """Forget every image seen."""
        for metric in (self.psnr, self.tc_psnr, self.tier_psnr, self.ssim, self.ms_ssim):
            metric.reset()

    def update(
        self,
        reference: Image,
        reconstruction: Image,
        mask: Mask | None = None,
        patch_tiers: Tiers | None = None,
        patch_size: int | None = None,
    ) -> None:
        """Add a batch; ``mask`` feeds TC-PSNR, ``patch_tiers`` with ``patch_size`` per-tier PSNR."""
        if (patch_tiers is None) != (patch_size is None):
            raise SemcomError("patch_tiers and patch_size go together")
        pair = _Pair(reference, reconstruction)
        # Every label is validated before any metric adds the batch, so a bad one leaves all of them unchanged.
        tc = None if mask is None else pair.region_sums(pair.masks(mask))
        tiers = None if patch_tiers is None else _tier_sums(pair, patch_tiers, patch_size)
        ssim_values, ms_values = _structural(pair, with_ms=True)
        self.psnr._append(*pair.region_sums(None), pair.nan_images)
        self.ssim._values.append(ssim_values)
        self.ms_ssim._values.append(ms_values)
        if tc is not None:
            self.tc_psnr._append(*tc, pair.nan_images)
        if tiers is not None:
            self.tier_psnr._append(*tiers, pair.nan_images)

    def compute(self) -> dict[str, Any]:
        """``{"psnr", "ssim", "ms_ssim"}`` plus ``"tc_psnr"`` and ``"tier_psnr"`` (tier -> dB) once given labels."""
        out: dict[str, Any] = {
            "psnr": self.psnr.compute(),
            "ssim": self.ssim.compute(),
            "ms_ssim": self.ms_ssim.compute(),
        }
        if self.tc_psnr.values().size:
            out["tc_psnr"] = self.tc_psnr.compute()
        if self.tier_psnr.values():
            out["tier_psnr"] = self.tier_psnr.compute()
        return out
