"""Separation baseline (HEVC-intra + 5G LDPC + QAM): exact channel uses, unit power, the cliff, fallback, pairing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from semcom_bench.errors import SemcomError
from semcom_bench.phy import AWGN, Rayleigh, make_generator
from semcom_bench.phy.ldpc import select_base_graph
from semcom_bench.phy.ldpc.code import K_MAX, K_MIN, RATE_MAX, RATE_MIN
from semcom_bench.schemes.base import SCHEMES
from semcom_bench.schemes.codecs import BudgetTooSmallError, CodecError, get_codec
from semcom_bench.schemes.separation import (
    FALLBACK_VALUE,
    LayoutError,
    SeparationScheme,
    best_over_grid,
    channel_uses,
    images_to_uint8,
    plan,
    psnr,
    uint8_to_images,
)

CBR = 1 / 8  # 64x128 images: N = 3072 channel uses


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> torch.Tensor:
    """Three 64x128 synthcity scenes, ``(3, 3, 64, 128)`` float in ``[0, 1]``."""
    from semcom_bench.datasets import DATASETS
    from semcom_bench.datasets.synthcity import generate

    root = tmp_path_factory.mktemp("separation")
    generate(Path(root), n=3, seed=5, size=(64, 128))
    return uint8_to_images([s.image for s in DATASETS.get("synthcity")(root=root, split="train")])


@pytest.fixture(scope="module")
def scheme() -> SeparationScheme:
    return SeparationScheme("hevc", code_rate=1 / 2, qam_order=16)


def test_registered() -> None:
    assert SCHEMES.get("separation") is SeparationScheme


@pytest.mark.parametrize("uses", [100, 1536, 3072, 24576, 200_000])
@pytest.mark.parametrize("rate", [1 / 5, 1 / 4, 0.3, 1 / 3, 1 / 2, 2 / 3, 3 / 4, 0.9])
@pytest.mark.parametrize("order", [4, 16, 64, 256])
def test_plan_fills_the_uses_with_valid_5g_codewords(uses: int, rate: float, order: int) -> None:
    layout = plan(uses, rate, order)
    bg = select_base_graph(layout.k, layout.k / layout.n)
    assert K_MIN <= layout.k <= K_MAX[bg]
    assert RATE_MIN[bg] <= layout.k / layout.n <= RATE_MAX
    assert layout.k / layout.n == pytest.approx(rate, abs=0.01)
    assert layout.codewords * layout.n + layout.unused_bits == uses * layout.bits_per_symbol
    assert 0 <= layout.unused_bits < layout.codewords * (1 / rate + 1)
    assert 8 * layout.byte_budget + layout.header_bits <= layout.codewords * layout.k
    assert layout.byte_budget < 2**layout.header_bits


def test_symbols_use_exactly_n_channel_uses_at_unit_power(images: torch.Tensor, scheme: SeparationScheme) -> None:
    tx = scheme.transmit(images, CBR)
    n = channel_uses(CBR, 64, 128)
    assert n == round(CBR * 3 * 64 * 128)
    assert tx.symbols.shape == (3, n) and tx.symbols.dtype == torch.complex64
    assert torch.equal(tx.lengths, torch.full((3,), n)) and tx.side_bits is None
    power = tx.symbols.abs().square().mean(dim=1)
    torch.testing.assert_close(power, torch.ones(3), atol=0.06, rtol=0)
    assert bool((scheme.last_source_bytes <= scheme.layout(n).byte_budget).all())


def test_high_snr_gives_the_codecs_own_output_exactly(images: torch.Tensor, scheme: SeparationScheme) -> None:
    tx = scheme.transmit(images, CBR)
    scheme.reset()
    y, state = AWGN()(tx.symbols, 30.0, make_generator(0))
    recon = scheme.receive(y, tx, state)
    codec = get_codec("hevc")
    budget = scheme.layout(tx.symbols.shape[1]).byte_budget
    expected = uint8_to_images([codec.decode(codec.encode_to_budget(a, budget)[0]) for a in images_to_uint8(images)])
    assert torch.equal(recon, expected)
    torch.testing.assert_close(psnr(images, recon), psnr(images, expected))
    assert scheme.stats.failures == 0 and scheme.stats.images == 3
    assert not bool(scheme.last_failed.any())


def test_sionna_decoder_gives_the_same_image_at_high_snr(images: torch.Tensor, scheme: SeparationScheme) -> None:
    other = SeparationScheme("hevc", code_rate=1 / 2, qam_order=16, ldpc_decoder="sionna")
    tx = other.transmit(images[:1], CBR)
    y, state = AWGN()(tx.symbols, 20.0, make_generator(4))
    assert torch.equal(other.receive(y, tx, state), scheme.receive(y, tx, state))
    assert other.stats.failures == 0


def test_perfect_csi_rayleigh_at_high_snr_decodes(images: torch.Tensor) -> None:
    scheme = SeparationScheme("hevc", code_rate=1 / 3, qam_order=4)
    tx = scheme.transmit(images, CBR)
    y, state = Rayleigh(mode="fast")(tx.symbols, 25.0, make_generator(1))
    scheme.receive(y, tx, state)
    assert scheme.stats.failures == 0


def test_very_low_snr_returns_the_counted_grey_fallback(images: torch.Tensor, scheme: SeparationScheme) -> None:
    tx = scheme.transmit(images, CBR)
    scheme.reset()
    y, state = AWGN()(tx.symbols, -5.0, make_generator(0))
    recon = scheme.receive(y, tx, state)
    assert torch.equal(recon, torch.full_like(images, FALLBACK_VALUE))
    assert scheme.stats.ldpc_failures == 3 and scheme.stats.failures == 3
    assert scheme.stats.codeword_failures == scheme.stats.codewords > 0
    assert bool(scheme.last_failed.all())


def test_undecodable_stream_after_ldpc_success_is_a_counted_fallback(
    images: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheme = SeparationScheme("hevc", code_rate=1 / 2, qam_order=16)
    tx = scheme.transmit(images, CBR)

    def broken(data: bytes) -> np.ndarray:
        raise CodecError("undecodable stream")

    monkeypatch.setattr(scheme.codec, "decode", broken)
    y, state = AWGN()(tx.symbols, 30.0, make_generator(0))
    recon = scheme.receive(y, tx, state)
    assert torch.equal(recon, torch.full_like(images, FALLBACK_VALUE))
    assert scheme.stats.decode_failures == 3 and scheme.stats.ldpc_failures == 0


def test_budget_too_small_for_the_codec_is_refused(images: torch.Tensor) -> None:
    with pytest.raises(BudgetTooSmallError, match="smallest"):
        SeparationScheme("hevc", code_rate=1 / 5, qam_order=4).transmit(images, 1 / 64)


def test_too_few_channel_uses_for_a_codeword_is_refused(images: torch.Tensor) -> None:
    with pytest.raises(LayoutError, match="too few for one LDPC codeword"):
        plan(4, 1 / 2, 4)
    with pytest.raises(LayoutError):
        SeparationScheme("hevc", 1 / 2, 4).transmit(images, 1e-4)


def test_invalid_configuration_is_refused() -> None:
    with pytest.raises(SemcomError, match="code rate"):
        SeparationScheme(code_rate=0.1)
    with pytest.raises(SemcomError, match="QAM order"):
        SeparationScheme(qam_order=8)
    with pytest.raises(SemcomError, match="equalizer"):
        SeparationScheme(equalizer="ml")
    with pytest.raises(SemcomError, match="LDPC decoder"):
        SeparationScheme(ldpc_decoder="bp")


def test_seeds_pair_realisations_across_configurations(images: torch.Tensor) -> None:
    a = SeparationScheme("hevc", 1 / 2, 16).transmit(images, CBR)
    b = SeparationScheme("hevc", 3 / 4, 4).transmit(images, CBR)
    ya, _ = AWGN()(a.symbols, 5.0, make_generator(3))
    yb, _ = AWGN()(b.symbols, 5.0, make_generator(3))
    torch.testing.assert_close(ya - a.symbols, yb - b.symbols)  # same noise draw for both configurations


def test_best_over_grid_picks_the_best_paired_configuration(images: torch.Tensor) -> None:
    grid = [(1 / 3, 4), (1 / 2, 16), (3 / 4, 64), (1 / 5, 4)]
    points = best_over_grid(images[:2], [-6.0, 8.0, 25.0], CBR, grid=grid, seed=2)
    assert [p.snr_db for p in points] == [-6.0, 8.0, 25.0]
    for p in points:
        assert p.psnr == max(p.by_config.values())
        assert p.by_config[(p.code_rate, p.qam_order)] == p.psnr
        assert p.infeasible == [(1 / 5, 4)]  # its budget holds no HEVC stream of these images
    assert points[0].failure_rate == 1.0  # below every configuration's threshold
    assert points[-1].failure_rate == 0.0 and (points[-1].code_rate, points[-1].qam_order) == (3 / 4, 64)
    again = best_over_grid(images[:2], [8.0], CBR, grid=grid, seed=2)
    assert again[0].by_config == points[1].by_config  # same seed, same realisations, same result
