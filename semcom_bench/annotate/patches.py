"""Patch tiers (SA-OOSC section II): a patch takes the highest tier of any object overlapping it, by mask."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from semcom_bench.annotate.base import Detection


def box_mask(bbox: tuple[float, float, float, float], height: int, width: int) -> np.ndarray:
    """``(H, W)`` bool mask of the pixels a half-open box covers (fractional edges include the partial pixel)."""
    x0, y0, x1, y1 = bbox
    mask = np.zeros((height, width), bool)
    mask[max(int(math.floor(y0)), 0) : min(int(math.ceil(y1)), height), max(int(math.floor(x0)), 0) : min(int(math.ceil(x1)), width)] = True
    return mask


def object_mask(obj: Detection, height: int, width: int) -> np.ndarray:
    """The object's mask, or its box where the detector gave no mask."""
    return obj.mask if obj.mask is not None else box_mask(obj.bbox, height, width)


def pool_any(mask: np.ndarray, patch_size: int) -> np.ndarray:
    """``(ceil(H/p), ceil(W/p))`` bool: does any pixel of each patch (raster order) lie in ``mask``."""
    height, width = mask.shape
    grid_h, grid_w = math.ceil(height / patch_size), math.ceil(width / patch_size)
    padded = np.zeros((grid_h * patch_size, grid_w * patch_size), bool)
    padded[:height, :width] = mask
    return padded.reshape(grid_h, patch_size, grid_w, patch_size).any(axis=(1, 3))


def patch_tiers(
    objects: list[Detection], tiers: Mapping[int, int], height: int, width: int, patch_size: int = 16
) -> np.ndarray:
    """``(grid_h, grid_w)`` uint8 tiers: per patch the max tier of the objects overlapping it, 0 where none does.

    ``tiers`` maps object ids to tiers; objects without a tier are ignored. Edge patches of an image whose size is not
    a multiple of ``patch_size`` cover the remaining pixels only.
    """
    if patch_size < 1:
        raise ValueError(f"patch size must be positive, got {patch_size}")
    grid = np.zeros((math.ceil(height / patch_size), math.ceil(width / patch_size)), np.uint8)
    for tier in sorted({t for t in tiers.values() if t > 0}):
        union = np.zeros((height, width), bool)
        for obj in objects:
            if tiers.get(obj.object_id) == tier:
                union |= object_mask(obj, height, width)
        grid[pool_any(union, patch_size)] = tier  # ascending tiers: higher ones overwrite
    return grid
