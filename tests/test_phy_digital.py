"""DigitalLink (Algorithm 2): exact at high SNR, power normalisation, paired draws, gradient, equalisers."""

from __future__ import annotations

import pytest
import torch

from semcom_bench.phy import AWGN, DigitalLink, PhyInputError, Rayleigh, UniformQuantizer, average_power, make_generator


def _features(batch: int = 4, k: int = 512, seed: int = 0) -> torch.Tensor:
    """Sigmoid-like features bunched around 0.5, ``(batch, k)`` float32."""
    return torch.sigmoid(torch.randn((batch, k), generator=make_generator(seed)))


@pytest.mark.parametrize("order", [4, 16, 64, 256])
@pytest.mark.parametrize("channel", [AWGN(), Rayleigh(), Rayleigh("fast")])
def test_noise_free_link_returns_the_quantised_features(order: int, channel: AWGN | Rayleigh) -> None:
    z = _features()
    z_hat = DigitalLink(order)(z, channel, 100.0, make_generator(1))
    assert z_hat.shape == z.shape and z_hat.dtype == z.dtype
    assert torch.equal(z_hat, UniformQuantizer(order)(z))


def test_channel_uses_one_symbol_per_feature() -> None:
    link = DigitalLink(64)
    assert link.channel_uses(1536) == 1536
    symbols, _ = link.modulate(_features(2, 1536))
    assert symbols.shape == (2, 1536) and symbols.dtype == torch.complex64
    with pytest.raises(PhyInputError):
        link.channel_uses(-1)


def test_power_normalisation_per_image() -> None:
    z = _features()
    symbols, scale = DigitalLink(16).modulate(z)
    torch.testing.assert_close(average_power(symbols), torch.ones(4))
    # z = 0.5 -> level 8 -> (gray-label) the point labelled 8, an inner 16-QAM point of power 0.2: scaled by sqrt(5)
    _, inner = DigitalLink(16, mapping="gray-label").modulate(torch.full((1, 32), 0.5))
    torch.testing.assert_close(inner, torch.tensor([5**0.5]))
    raw, ones = DigitalLink(16, normalize_power=False).modulate(z)
    assert torch.equal(ones, torch.ones(4))
    torch.testing.assert_close(raw * scale.unsqueeze(1), symbols)


def test_call_equals_modulate_channel_demodulate() -> None:
    link, channel, z = DigitalLink(16), Rayleigh("block", 64), _features()
    symbols, scale = link.modulate(z)
    y, state = channel(symbols, 8.0, make_generator(2))
    assert torch.equal(link(z, channel, 8.0, make_generator(2)), link.demodulate(y, state, scale))


def test_errors_fall_with_snr_and_draws_are_paired() -> None:
    link, channel, z = DigitalLink(16), Rayleigh(), _features(8, 4096)
    mse = [float((link(z, channel, snr, make_generator(3)) - z).square().mean()) for snr in (0.0, 10.0, 30.0)]
    assert mse[0] > mse[1] > mse[2]
    assert torch.equal(link(z, channel, 10.0, make_generator(3)), link(z, channel, 10.0, make_generator(3)))


def test_mmse_and_zf_decide_alike_for_qpsk() -> None:
    # the biased MMSE estimate is y / h times a positive real, which never moves a QPSK decision
    z, channel = _features(4, 2048), Rayleigh("fast")
    zf = DigitalLink(4, "zf")(z, channel, 3.0, make_generator(4))
    mmse = DigitalLink(4, "mmse")(z, channel, 3.0, make_generator(4))
    assert torch.equal(zf, mmse)


def test_straight_through_gradient_is_identity() -> None:
    z = _features(2, 64).requires_grad_(True)
    out = DigitalLink(16)(z, AWGN(), 5.0, make_generator(5), straight_through=True)
    assert torch.equal(out.detach(), DigitalLink(16)(z.detach(), AWGN(), 5.0, make_generator(5)))
    out.sum().backward()
    assert torch.equal(z.grad, torch.ones_like(z))


def test_bad_inputs() -> None:
    with pytest.raises(PhyInputError, match="unknown equalizer"):
        DigitalLink(16, "mlse")
    with pytest.raises(PhyInputError, match="unsupported QAM order"):
        DigitalLink(32)
    with pytest.raises(PhyInputError, match=r"shape \(B, k\)"):
        DigitalLink(16)(torch.rand(64), AWGN(), 10.0)
    with pytest.raises(PhyInputError, match="outside the supported range"):
        DigitalLink(16)(torch.rand(2, 64), AWGN(), 200.0)
