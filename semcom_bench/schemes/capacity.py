"""The capacity bound: the separation baseline's source codec fed at the Shannon rate, decoded without error.

For an image of ``H x W`` pixels at channel bandwidth ratio ``cbr`` the channel gives ``N = round(cbr * 3 * H * W)``
uses; an ideal channel code (infinite block length, zero error probability) carries ``floor(N * C / 8)`` bytes, ``C``
in bits per complex channel use at the SNR (Es/N0, dB). The codec's best stream within that budget
(:meth:`~semcom_bench.schemes.codecs.SourceCodec.encode_to_budget`) is decoded error-free. The same codec counts the
same bytes as in :mod:`~semcom_bench.schemes.separation`, so the gap between the two curves is the channel-coding
loss of real 5G LDPC + QAM (finite length, practical decoder, a discrete grid of rates and modulations) and of the
in-band length header.

It is a bound, not a realisable scheme: the transmitter must know the SNR (and the fading state's statistics) and
the code must be ideal. It is therefore a function, not a registered :class:`~semcom_bench.schemes.base.Scheme`: a
scheme's receiver works on the noisy symbols, this bound never looks at them.

Channels (``channel``):

* ``"awgn"``: ``C = log2(1 + SNR)``.
* ``"rayleigh"``: the ergodic capacity ``E[log2(1 + |h|^2 SNR)]`` (fast fading: the code averages over the fades).
* ``"rayleigh-outage"``: the ``outage``-outage capacity ``log2(1 + SNR * -ln(1 - outage))`` (slow/block fading, one
  gain per image): the bytes arrive with probability ``1 - outage``; the reconstruction reported is the one
  obtained when they arrive (with probability ``outage`` the receiver has nothing, as the separation baseline in a
  deep fade).

When the budget holds no codec stream of an image (very low SNR), the bound's receiver has nothing decodable either:
the image is the mid-grey fallback of the separation baseline and its ``quality`` is ``None``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from semcom_bench.errors import SemcomError
from semcom_bench.phy.capacity import awgn_capacity, rayleigh_ergodic_capacity, rayleigh_outage_capacity
from semcom_bench.schemes.codecs import BudgetTooSmallError, get_codec
from semcom_bench.schemes.separation import FALLBACK_VALUE, channel_uses, images_to_uint8, uint8_to_images

BOUND_CHANNELS = ("awgn", "rayleigh", "rayleigh-outage")


def shannon_rate(snr_db: float, channel: str = "awgn", outage: float = 0.01) -> float:
    """Bits per complex channel use an ideal code achieves on ``channel`` at ``snr_db`` (see the module docstring)."""
    if channel == "awgn":
        return float(awgn_capacity(snr_db))
    if channel == "rayleigh":
        return float(rayleigh_ergodic_capacity(snr_db))
    if channel == "rayleigh-outage":
        return float(rayleigh_outage_capacity(snr_db, outage))
    raise SemcomError(
        f"unknown channel {channel!r} for the capacity bound", hint=f"use one of: {', '.join(BOUND_CHANNELS)}"
    )


@dataclass
class BoundResult:
    """The capacity bound for a batch of images.

    ``images``: ``(B, 3, H, W)`` float32 reconstructions in ``[0, 1]``. ``source_bytes``: ``(B,)`` int64 stream sizes
    (0 for fallback images). ``quality``: the codec quality of each image, ``None`` for a fallback image.
    ``budget_bytes``: ``floor(N * C / 8)``; ``capacity``: ``C`` in bits per channel use; ``channel_uses``: ``N``.
    """

    images: torch.Tensor
    source_bytes: torch.Tensor
    quality: list[int | None]
    budget_bytes: int
    capacity: float
    channel_uses: int


def capacity_bound(
    images: torch.Tensor,
    cbr: float,
    snr_db: float,
    channel: str = "awgn",
    codec: str = "hevc",
    outage: float = 0.01,
) -> BoundResult:
    """Reconstructions of ``images`` ``(B, 3, H, W)`` in ``[0, 1]`` through ``codec`` at ``floor(N * C / 8)`` bytes.

    ``channel``: ``"awgn"``, ``"rayleigh"`` (ergodic) or ``"rayleigh-outage"`` (with ``outage``); ``codec`` a
    :data:`~semcom_bench.schemes.codecs.CODECS` name (``"hevc"``: HEVC-intra (BPG-equivalent)).
    """
    source = get_codec(codec)
    arrays = images_to_uint8(images)
    height, width = arrays[0].shape[:2]
    uses = channel_uses(cbr, height, width)
    capacity = shannon_rate(snr_db, channel, outage)
    budget = math.floor(uses * capacity / 8)
    recon = torch.full((len(arrays), 3, height, width), FALLBACK_VALUE)
    sizes: list[int] = []
    qualities: list[int | None] = []
    for i, array in enumerate(arrays):
        try:
            stream, quality = source.encode_to_budget(array, budget)
        except BudgetTooSmallError:
            sizes.append(0)
            qualities.append(None)
            continue
        recon[i] = uint8_to_images([source.decode(stream)])[0]
        sizes.append(len(stream))
        qualities.append(quality)
    return BoundResult(
        images=recon.to(images.device),
        source_bytes=torch.tensor(sizes, dtype=torch.int64),
        quality=qualities,
        budget_bytes=budget,
        capacity=capacity,
        channel_uses=uses,
    )
