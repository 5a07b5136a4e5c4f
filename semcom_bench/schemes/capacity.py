"""The capacity bound: the separation baseline's source codec fed at the Shannon rate, decoded without error.

For an image of ``H x W`` pixels at channel bandwidth ratio ``cbr`` the channel gives ``N = round(cbr * 3 * H * W)``
uses; an ideal channel code (infinite block length, zero error probability) carries ``floor(bits / 8)`` bytes, where
``bits = N * C`` with ``C`` in bits per complex channel use at the SNR (Es/N0, dB), or on a fading channel the sum of
the per-use capacities of the image's own draw. The codec's best stream within that budget
(:meth:`~semcom_bench.schemes.codecs.SourceCodec.encode_to_budget`) is decoded error-free. The same codec counts the
same bytes as in :mod:`~semcom_bench.schemes.separation`, so the gap between the two curves is the channel-coding
loss of real 5G LDPC + QAM (finite length, practical decoder, a discrete grid of rates and modulations) and of the
in-band length header.

It is a bound, not a realisable scheme: the transmitter must know the SNR (and the fading state's statistics) and
the code must be ideal. It is therefore a function, not a registered :class:`~semcom_bench.schemes.base.Scheme`: a
scheme's receiver works on the noisy symbols, this bound never looks at them.

Channels (``channel``):

* ``"awgn"``: ``C = log2(1 + SNR)`` per use.
* ``"rayleigh"``: the paired block-fading draw of each image (``seeds``, the harness's
  :func:`~semcom_bench.benchmark.evaluate.pair_seed`): the :class:`~semcom_bench.phy.channels.Rayleigh` channel the
  schemes cross is drawn with the image's seed over its ``N`` uses, and the image gets ``sum_i log2(1 + |h_i|^2 SNR)``
  bits, so the bound is tight for the same realisations the schemes see (one gain per image: ``N log2(1 + |h|^2 SNR)``).
* ``"rayleigh-ergodic"``: ``E[log2(1 + |h|^2 SNR)]`` per use (fast fading: the code averages over the fades).
* ``"rayleigh-outage"``: the ``outage``-outage capacity ``log2(1 + SNR * -ln(1 - outage))`` per use (slow fading,
  SNR known but not the gain): the bytes arrive with probability ``1 - outage``; the reconstruction reported is the
  one obtained when they arrive.

When the budget holds no codec stream of an image (very low SNR), the bound's receiver has nothing decodable either:
the image is the mid-grey fallback of the separation baseline and its ``quality`` is ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from semcom_bench.errors import SemcomError
from semcom_bench.phy.base import CHANNELS
from semcom_bench.phy.capacity import awgn_capacity, rayleigh_ergodic_capacity, rayleigh_outage_capacity
from semcom_bench.phy.channels import make_generator
from semcom_bench.schemes.codecs import BudgetTooSmallError, get_codec
from semcom_bench.schemes.separation import FALLBACK_VALUE, channel_uses, images_to_uint8, uint8_to_images

BOUND_CHANNELS = ("awgn", "rayleigh", "rayleigh-ergodic", "rayleigh-outage")
PAIRED_CHANNELS = ("rayleigh",)  # bounds drawn from each image's own realisation


def shannon_rate(snr_db: float, channel: str = "awgn", outage: float = 0.01) -> float:
    """Bits per complex channel use an ideal code achieves on ``channel`` at ``snr_db`` (see the module docstring),
    for the channels whose rate does not depend on a draw."""
    if channel == "awgn":
        return float(awgn_capacity(snr_db))
    if channel == "rayleigh-ergodic":
        return float(rayleigh_ergodic_capacity(snr_db))
    if channel == "rayleigh-outage":
        return float(rayleigh_outage_capacity(snr_db, outage))
    if channel in PAIRED_CHANNELS:
        raise SemcomError(f"the {channel} bound depends on each image's draw", hint="use paired_capacity_bits")
    raise SemcomError(
        f"unknown channel {channel!r} for the capacity bound", hint=f"use one of: {', '.join(BOUND_CHANNELS)}"
    )


def paired_capacity_bits(uses: int, snr_db: float, channel: str, seed: int) -> float:
    """Bits an ideal code carries in ``uses`` channel uses of ``channel`` drawn with ``seed`` (the draw every scheme
    sees for that image and SNR): ``sum_i log2(1 + |h_i|^2 SNR)`` over the gains of those uses."""
    zeros = torch.zeros(1, uses, dtype=torch.complex64)
    _, state = CHANNELS.get(channel)()(zeros, snr_db, make_generator(seed))
    gains = torch.ones(uses) if state.gains is None else state.gains.abs().square().double()[0]
    return float(torch.log2(1 + gains * 10 ** (snr_db / 10)).sum())


@dataclass
class BoundResult:
    """The capacity bound for a batch of images.

    ``images``: ``(B, 3, H, W)`` float32 reconstructions in ``[0, 1]``. ``source_bytes``: ``(B,)`` int64 stream sizes
    (0 for fallback images). ``quality``: the codec quality of each image, ``None`` for a fallback image.
    ``budget_bytes``: ``(B,)`` int64, ``floor(bits / 8)``; ``capacity``: ``(B,)`` float64, each image's bits per
    channel use; ``channel_uses``: ``N``.
    """

    images: torch.Tensor
    source_bytes: torch.Tensor
    quality: list[int | None]
    budget_bytes: torch.Tensor
    capacity: torch.Tensor
    channel_uses: int


def capacity_bound(
    images: torch.Tensor,
    cbr: float,
    snr_db: float,
    channel: str = "awgn",
    codec: str = "hevc",
    outage: float = 0.01,
    seeds: Sequence[int] | None = None,
) -> BoundResult:
    """Reconstructions of ``images`` ``(B, 3, H, W)`` in ``[0, 1]`` through ``codec`` at ``floor(bits / 8)`` bytes.

    ``channel``: one of :data:`BOUND_CHANNELS` (module docstring); ``"rayleigh"`` needs ``seeds``, one channel seed per
    image. ``codec`` a :data:`~semcom_bench.schemes.codecs.CODECS` name (``"hevc"``: HEVC-intra (BPG-equivalent)).
    """
    source = get_codec(codec)
    arrays = images_to_uint8(images)
    height, width = arrays[0].shape[:2]
    uses = channel_uses(cbr, height, width)
    if channel in PAIRED_CHANNELS:
        if seeds is None or len(seeds) != len(arrays):
            raise SemcomError(f"the {channel} bound needs one channel seed per image ({len(arrays)})",
                              hint="pass seeds=[pair_seed(run_seed, image_id, snr_db), ...] as the harness does")
        bits = [paired_capacity_bits(uses, snr_db, channel, seed) for seed in seeds]
    else:
        bits = [uses * shannon_rate(snr_db, channel, outage)] * len(arrays)
    budgets = [math.floor(b / 8) for b in bits]
    recon = torch.full((len(arrays), 3, height, width), FALLBACK_VALUE)
    sizes: list[int] = []
    qualities: list[int | None] = []
    for i, (array, budget) in enumerate(zip(arrays, budgets, strict=True)):
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
        budget_bytes=torch.tensor(budgets, dtype=torch.int64),
        capacity=torch.tensor(bits, dtype=torch.float64) / uses,
        channel_uses=uses,
    )
