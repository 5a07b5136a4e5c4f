"""Capacity bound: the codec at floor(N * C / 8) bytes, error-free; never below the separation baseline."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from semcom_bench.errors import SemcomError
from semcom_bench.phy import AWGN, Rayleigh, awgn_capacity, make_generator, rayleigh_ergodic_capacity
from semcom_bench.schemes.capacity import capacity_bound, shannon_rate
from semcom_bench.schemes.separation import FALLBACK_VALUE, SeparationScheme, channel_uses, psnr, uint8_to_images

CBR = 1 / 8


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> torch.Tensor:
    """Two 64x128 synthcity scenes, ``(2, 3, 64, 128)`` float in ``[0, 1]``."""
    from semcom_bench.datasets import DATASETS
    from semcom_bench.datasets.synthcity import generate

    root = tmp_path_factory.mktemp("capacity")
    generate(Path(root), n=2, seed=9, size=(64, 128))
    return uint8_to_images([s.image for s in DATASETS.get("synthcity")(root=root, split="train")])


def test_budget_is_floor_of_n_times_capacity_over_8(images: torch.Tensor) -> None:
    result = capacity_bound(images, CBR, 6.0)
    n = channel_uses(CBR, 64, 128)
    assert result.channel_uses == n
    assert result.capacity.tolist() == pytest.approx([awgn_capacity(6.0)] * 2)
    assert result.budget_bytes.tolist() == [math.floor(n * awgn_capacity(6.0) / 8)] * 2
    assert bool((result.source_bytes <= result.budget_bytes).all()) and bool((result.source_bytes > 0).all())
    assert result.images.shape == images.shape


@pytest.mark.parametrize("snr_db", [8.0, 12.0])
def test_bound_is_at_least_the_separation_baseline(images: torch.Tensor, snr_db: float) -> None:
    bound = capacity_bound(images, CBR, snr_db)
    scheme = SeparationScheme("hevc", code_rate=1 / 2, qam_order=16)
    tx = scheme.transmit(images, CBR)
    y, state = AWGN()(tx.symbols, snr_db, make_generator(0))
    recon = scheme.receive(y, tx, state)
    assert scheme.stats.failures == 0  # above this configuration's cliff: a fair comparison
    assert bool((bound.source_bytes >= scheme.last_source_bytes).all())
    assert bool((psnr(images, bound.images) >= psnr(images, recon)).all())


def test_bound_grows_with_snr_and_falls_back_when_nothing_fits(images: torch.Tensor) -> None:
    sizes = [capacity_bound(images, CBR, snr).source_bytes for snr in (0.0, 5.0, 10.0)]
    assert bool((sizes[0] <= sizes[1]).all()) and bool((sizes[1] <= sizes[2]).all())
    low = capacity_bound(images, CBR, -25.0)  # about 2 bytes: no HEVC stream fits
    assert low.quality == [None, None] and low.source_bytes.tolist() == [0, 0]
    assert torch.equal(low.images, torch.full_like(images, FALLBACK_VALUE))


def test_rayleigh_bounds_are_ordered() -> None:
    assert shannon_rate(10.0, "rayleigh-ergodic") == pytest.approx(rayleigh_ergodic_capacity(10.0))
    ergodic = shannon_rate(10.0, "rayleigh-ergodic")
    assert shannon_rate(10.0, "rayleigh-outage", 0.01) < ergodic < shannon_rate(10.0, "awgn")
    with pytest.raises(SemcomError, match="unknown channel"):
        shannon_rate(10.0, "rician")


def test_rayleigh_bound_uses_each_images_own_draw(images: torch.Tensor) -> None:
    """The block-fading bound is C(|h|^2 SNR) of the gain the schemes meet with the same seed, not the ergodic mean."""
    seeds = [11, 12]
    result = capacity_bound(images, CBR, 5.0, channel="rayleigh", seeds=seeds)
    n = channel_uses(CBR, 64, 128)
    for k, seed in enumerate(seeds):
        # what a scheme sending any number of symbols meets: one gain per image, drawn first
        _, state = Rayleigh()(torch.ones(1, 37, dtype=torch.complex64), 5.0, make_generator(seed))
        gain = float(state.gains[0, 0].abs() ** 2)
        assert result.capacity[k].item() == pytest.approx(math.log2(1 + gain * 10**0.5), rel=1e-6)
        assert result.budget_bytes[k].item() == math.floor(n * math.log2(1 + gain * 10**0.5) / 8)
    assert result.capacity[0].item() != pytest.approx(rayleigh_ergodic_capacity(5.0), rel=1e-3)
    with pytest.raises(SemcomError, match="one channel seed per image"):
        capacity_bound(images, CBR, 5.0, channel="rayleigh")
