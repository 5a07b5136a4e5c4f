"""Binary masks as COCO compressed run-length encoding (pycocotools), the form masks take in every table.

A mask is stored as ``{"height": H, "width": W, "counts": str}``: ``counts`` is pycocotools' compressed string,
which reads the mask in column-major order. In Arrow the same dict is the struct :data:`RLE_TYPE`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from pycocotools import mask as coco_mask

from semcom_bench.errors import CorruptFileError, SchemaError, ShapeMismatchError

RLE_TYPE: pa.StructType = pa.struct(
    [
        pa.field("height", pa.int32(), nullable=False),
        pa.field("width", pa.int32(), nullable=False),
        pa.field("counts", pa.string(), nullable=False),
    ]
)
"""Arrow type of one encoded mask: image height and width in pixels and the COCO compressed counts."""

RLE = dict[str, Any]


def _check_masks(masks: np.ndarray, ndim: int, what: str) -> None:
    if not isinstance(masks, np.ndarray) or masks.ndim != ndim or masks.dtype != np.bool_:
        got = f"{masks.dtype} array of shape {masks.shape}" if isinstance(masks, np.ndarray) else type(masks).__name__
        raise ShapeMismatchError(
            f"{what} must be a bool array with {ndim} dimensions, got {got}",
            hint="pass e.g. `semantic == label_id` or `mask.astype(bool)`",
        )


def encode_mask(mask: np.ndarray) -> RLE:
    """Encode one ``(H, W)`` ``bool`` mask (any memory layout) as ``{"height", "width", "counts"}``."""
    _check_masks(mask, 2, "mask")
    return encode_masks(mask[None])[0]


def encode_masks(masks: np.ndarray) -> list[RLE]:
    """Encode an ``(N, H, W)`` ``bool`` stack of masks of one image size; one dict per mask."""
    _check_masks(masks, 3, "masks")
    n, height, width = masks.shape
    if n == 0:
        return []
    # pycocotools wants (H, W, N) uint8 in Fortran order; a bool array reinterprets as 0/1 bytes without a copy.
    encoded = coco_mask.encode(np.asfortranarray(masks.view(np.uint8).transpose(1, 2, 0)))
    return [{"height": height, "width": width, "counts": rle["counts"].decode("ascii")} for rle in encoded]


def _to_coco(rle: Mapping[str, Any]) -> dict[str, Any]:
    try:
        height, width, counts = rle["height"], rle["width"], rle["counts"]
    except (KeyError, TypeError):
        raise SchemaError(
            f"an RLE mask must be a dict with keys height, width, counts; got {rle!r:.200}",
            hint="encode masks with semcom_bench.schemas.rle.encode_mask",
        ) from None
    sizes_ok = all(isinstance(v, int | np.integer) and v >= 0 for v in (height, width))
    if not (sizes_ok and isinstance(counts, str) and counts.isascii()):
        raise SchemaError(
            f"an RLE mask needs non-negative integer height/width and an ASCII str counts; got {rle!r:.200}",
            hint="encode masks with semcom_bench.schemas.rle.encode_mask",
        )
    return {"size": [int(height), int(width)], "counts": counts.encode("ascii")}


def decode_mask(rle: Mapping[str, Any]) -> np.ndarray:
    """Decode one RLE dict into a C-contiguous ``(H, W)`` ``bool`` mask."""
    return decode_masks([rle])[0]


def decode_masks(rles: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Decode RLE dicts of one image size into a C-contiguous ``(N, H, W)`` ``bool`` stack."""
    coco = [_to_coco(rle) for rle in rles]
    sizes = {tuple(c["size"]) for c in coco}
    if len(sizes) > 1:
        raise ShapeMismatchError(
            f"decode_masks needs masks of one size, got sizes {sorted(sizes)}", hint="decode them one at a time"
        )
    if not coco:
        return np.zeros((0, 0, 0), dtype=bool)
    try:
        with warnings.catch_warnings():
            # pycocotools' Masks.__array__ predates numpy 2's `copy` keyword; numpy warns and then copies correctly.
            warnings.filterwarnings(
                "ignore", message="__array__ implementation doesn't accept a copy", category=DeprecationWarning
            )
            decoded = coco_mask.decode(coco)
    except ValueError as err:
        raise CorruptFileError(
            f"an RLE mask cannot be decoded: {err}", hint="re-create the table that holds it"
        ) from None
    # pycocotools leaves the tail of the buffer unwritten when the runs cover fewer than H*W pixels; a valid RLE
    # re-encodes to the same string, a short or otherwise damaged one does not.
    for i, rle in enumerate(coco_mask.encode(decoded)):
        if rle["counts"] != coco[i]["counts"]:
            raise CorruptFileError(
                f"an RLE mask of size {coco[i]['size']} does not cover its pixels exactly "
                f"(counts {coco[i]['counts'][:40]!r})",
                hint="re-create the table that holds it",
            )
    return np.ascontiguousarray(decoded.transpose(2, 0, 1), dtype=bool)
