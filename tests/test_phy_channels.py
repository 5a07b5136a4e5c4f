"""Channels, equaliser and power normalisation: shapes, statistics (fixed seeds, many samples), seeds, bad inputs."""

from __future__ import annotations

import math

import pytest
import torch

from semcom_bench.errors import SemcomError
from semcom_bench.phy import (
    AWGN,
    CHANNELS,
    QAM,
    PhyInputError,
    Rayleigh,
    average_power,
    equalize,
    make_generator,
    noise_variance,
    normalize_power,
)


def _qpsk(batch: int, n: int, seed: int = 0) -> torch.Tensor:
    """Random unit-modulus QPSK symbols, ``(batch, n)`` complex64."""
    idx = torch.randint(0, 4, (batch, n), generator=make_generator(seed))
    return QAM(4).modulate_indices(idx)


def _distinct(values: torch.Tensor) -> int:
    """Number of distinct complex values (``torch.unique`` does not take complex tensors)."""
    return torch.unique(torch.view_as_real(values).reshape(-1, 2), dim=0).shape[0]


# -- noise variance and SNR checks ---------------------------------------------------------------------------------


def test_noise_variance_is_es_over_n0() -> None:
    assert noise_variance(0.0) == 1.0
    assert noise_variance(10.0) == pytest.approx(0.1)
    assert noise_variance(-3.0) == pytest.approx(10**0.3)


@pytest.mark.parametrize("snr_db", [-60.0, 150.0, float("nan"), float("inf")])
def test_snr_out_of_range_is_rejected_with_hint(snr_db: float) -> None:
    with pytest.raises(PhyInputError, match="outside the supported range") as err:
        AWGN()(_qpsk(1, 4), snr_db)
    assert isinstance(err.value, SemcomError) and isinstance(err.value, ValueError)
    assert "Hint:" in str(err.value)


def test_snr_must_be_a_number() -> None:
    with pytest.raises(PhyInputError, match="must be a number"):
        noise_variance("ten")  # type: ignore[arg-type]


# -- AWGN ----------------------------------------------------------------------------------------------------------


def test_registry_holds_both_channels() -> None:
    assert CHANNELS.get("awgn") is AWGN
    assert CHANNELS.get("rayleigh") is Rayleigh


def test_awgn_keeps_shape_dtype_and_reports_state() -> None:
    x = _qpsk(3, 17)
    y, state = AWGN()(x, 7.0, make_generator(1))
    assert y.shape == x.shape and y.dtype == torch.complex64
    assert state.gains is None and state.snr_db == 7.0 and state.noise_var == pytest.approx(10**-0.7)
    y64, _ = AWGN()(x.to(torch.complex128), 7.0, make_generator(1))
    assert y64.dtype == torch.complex128


@pytest.mark.parametrize("snr_db", [-10.0, 0.0, 13.0, 30.0])
def test_awgn_measured_snr_within_a_tenth_of_a_db(snr_db: float) -> None:
    # 2e6 symbols: the noise-power estimate has relative std 7e-4 (0.003 dB), so 0.1 dB is ~30 sigma
    x = _qpsk(4, 500_000)
    y, _ = AWGN()(x, snr_db, make_generator(2))
    noise = y - x
    measured = 10 * math.log10(float(average_power(x).mean()) / float(average_power(noise).mean()))
    assert abs(measured - snr_db) < 0.1
    # circular: the same power in both real parts
    assert float(noise.real.var() / noise.imag.var()) == pytest.approx(1.0, abs=0.01)


def test_same_seed_same_noise_for_different_inputs() -> None:
    x1, x2 = _qpsk(2, 64, seed=0), _qpsk(2, 64, seed=1)
    y1, _ = AWGN()(x1, 5.0, make_generator(9))
    y2, _ = AWGN()(x2, 5.0, make_generator(9))
    torch.testing.assert_close(y1 - x1, y2 - x2)
    y3, _ = AWGN()(x1, 5.0, make_generator(10))
    assert not torch.equal(y1, y3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cpu_generator_gives_the_same_draws_on_gpu_inputs() -> None:
    x = _qpsk(2, 64)
    y_cpu, _ = Rayleigh()(x, 5.0, make_generator(3))
    y_gpu, _ = Rayleigh()(x.cuda(), 5.0, make_generator(3))
    assert y_gpu.device.type == "cuda"
    torch.testing.assert_close(y_gpu.cpu(), y_cpu)


# -- Rayleigh ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "shape"),
    [(Rayleigh("fast"), (4, 250_000)), (Rayleigh("block"), (200_000, 3)), (Rayleigh("block", 10), (1000, 1000))],
)
def test_rayleigh_gains_have_unit_mean_power(channel: Rayleigh, shape: tuple[int, int]) -> None:
    # >= 1e5 independent gains: the estimate of E|h|^2 has std <= 3.2e-3
    x = torch.ones(shape, dtype=torch.complex64)
    _, state = channel(x, 20.0, make_generator(4))
    assert state.gains is not None and state.gains.shape == shape
    assert float(state.gains.abs().square().mean()) == pytest.approx(1.0, abs=0.02)
    # circular: E[h] = 0 and the same power in both parts
    assert abs(complex(state.gains.mean())) < 0.02
    assert float(state.gains.real.var() / state.gains.imag.var()) == pytest.approx(1.0, abs=0.03)


def test_block_fading_one_gain_per_image() -> None:
    _, state = Rayleigh()(_qpsk(5, 40), 10.0, make_generator(0))
    assert state.gains is not None
    assert torch.equal(state.gains, state.gains[:, :1].expand(5, 40))
    assert _distinct(state.gains[:, 0]) == 5


def test_block_fading_constant_within_coherence_blocks() -> None:
    _, state = Rayleigh("block", coherence=8)(_qpsk(3, 30), 10.0, make_generator(0))
    gains = state.gains
    assert gains is not None
    for start in range(0, 30, 8):  # blocks [0, 8), [8, 16), [16, 24), [24, 30) (last one short)
        block = gains[:, start : start + 8]
        assert torch.equal(block, block[:, :1].expand_as(block))
    assert not torch.equal(gains[:, 0], gains[:, 8])


def test_fast_fading_changes_every_symbol() -> None:
    _, state = Rayleigh("fast")(_qpsk(2, 50), 10.0, make_generator(0))
    assert state.gains is not None and _distinct(state.gains) == 100


def test_rayleigh_output_is_faded_signal_plus_noise() -> None:
    x = _qpsk(4, 100_000)
    y, state = Rayleigh("fast")(x, 3.0, make_generator(5))
    noise = y - state.gains * x
    assert float(noise.abs().square().mean()) == pytest.approx(noise_variance(3.0), rel=0.02)


def test_rayleigh_seeds_reproduce_and_pair() -> None:
    x1, x2 = _qpsk(3, 32, seed=0), _qpsk(3, 32, seed=1)
    y1, s1 = Rayleigh("block", 4)(x1, 5.0, make_generator(11))
    y1b, s1b = Rayleigh("block", 4)(x1, 5.0, make_generator(11))
    y2, s2 = Rayleigh("block", 4)(x2, 5.0, make_generator(11))
    assert torch.equal(y1, y1b) and torch.equal(s1.gains, s1b.gains)
    assert torch.equal(s1.gains, s2.gains)
    torch.testing.assert_close(y1 - s1.gains * x1, y2 - s2.gains * x2)


def test_per_image_gains_match_across_symbol_counts() -> None:
    # a scheme sending 32 symbols and one sending 100 see the same fade on each image
    _, short = Rayleigh()(_qpsk(6, 32), 5.0, make_generator(12))
    _, long = Rayleigh()(_qpsk(6, 100), 5.0, make_generator(12))
    assert torch.equal(short.gains[:, 0], long.gains[:, 0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"mode": "slow"}, "unknown Rayleigh mode"), ({"mode": "fast", "coherence": 4}, "mode='block' only"),
     ({"coherence": 0}, "positive int")],
)
def test_rayleigh_rejects_bad_configuration(kwargs: dict, match: str) -> None:
    with pytest.raises(PhyInputError, match=match):
        Rayleigh(**kwargs)


# -- bad symbols ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", [AWGN(), Rayleigh()])
def test_channels_reject_bad_symbols(channel: AWGN | Rayleigh) -> None:
    with pytest.raises(PhyInputError, match="must be complex"):
        channel(torch.ones(2, 4), 10.0)
    with pytest.raises(PhyInputError, match=r"shape \(B, N\)"):
        channel(torch.ones(8, dtype=torch.complex64), 10.0)
    with pytest.raises(PhyInputError, match=r"shape \(B, N\)"):
        channel(torch.ones(2, 2, 2, dtype=torch.complex64), 10.0)
    x = _qpsk(2, 10)
    x[0, 3] = complex(float("nan"), 0.0)
    x[1, 5] = complex(0.0, float("nan"))
    x[1, 6] = complex(float("inf"), 0.0)
    with pytest.raises(PhyInputError, match="2 NaN and 1 infinite"):
        channel(x, 10.0)


# -- equaliser -----------------------------------------------------------------------------------------------------


def test_zf_inverts_the_channel_and_reports_noise_enhancement() -> None:
    x = _qpsk(4, 100_000)
    y, state = Rayleigh("fast")(x, 10.0, make_generator(6))
    x_hat, noise_var = equalize(y, state, "zf")
    assert x_hat.shape == noise_var.shape == x.shape and not noise_var.is_complex()
    torch.testing.assert_close(noise_var, state.noise_var / state.gains.abs().square())
    # each error normalised by its own variance has unit mean power
    assert float(((x_hat - x).abs().square() / noise_var).mean()) == pytest.approx(1.0, abs=0.02)
    y_clean, state_clean = Rayleigh("fast")(x[:, :100], 100.0, make_generator(6))
    torch.testing.assert_close(equalize(y_clean, state_clean)[0], x[:, :100], atol=1e-2, rtol=0)


def test_mmse_formula_and_error_variance() -> None:
    x = _qpsk(4, 100_000)  # |x| = 1, so E|x_hat - x|^2 = N0 / (|h|^2 + N0) exactly per symbol
    y, state = Rayleigh("fast")(x, 0.0, make_generator(7))
    x_hat, noise_var = equalize(y, state, "mmse")
    h2 = state.gains.abs().square()
    torch.testing.assert_close(x_hat, state.gains.conj() * y / (h2 + state.noise_var))
    torch.testing.assert_close(noise_var, state.noise_var / (h2 + state.noise_var))
    assert bool((noise_var <= 1).all())
    assert float((x_hat - x).abs().square().mean() / noise_var.mean()) == pytest.approx(1.0, abs=0.02)


def test_equalize_awgn_state() -> None:
    x = _qpsk(2, 8)
    y, state = AWGN()(x, 10.0, make_generator(0))
    x_hat, noise_var = equalize(y, state)
    assert torch.equal(x_hat, y) and torch.equal(noise_var, torch.full((2, 8), state.noise_var))
    x_mmse, var_mmse = equalize(y, state, "mmse")
    torch.testing.assert_close(x_mmse, y / (1 + state.noise_var))
    torch.testing.assert_close(var_mmse, torch.full((2, 8), state.noise_var / (1 + state.noise_var)))


def test_equalize_rejects_bad_method_and_mismatched_state() -> None:
    y, state = Rayleigh()(_qpsk(2, 8), 10.0, make_generator(0))
    with pytest.raises(PhyInputError, match="unknown equalizer"):
        equalize(y, state, "mlse")
    with pytest.raises(PhyInputError, match="do not match"):
        equalize(y[:, :4], state)


# -- power ---------------------------------------------------------------------------------------------------------


def test_normalize_power_gives_unit_power_rows() -> None:
    x = torch.randn(5, 300, dtype=torch.complex64, generator=make_generator(0)) * torch.arange(1, 6).unsqueeze(1)
    out = normalize_power(x)
    torch.testing.assert_close(average_power(out), torch.ones(5))
    torch.testing.assert_close(out, x / average_power(x).sqrt().unsqueeze(1))


def test_normalize_power_with_lengths_zeroes_padding() -> None:
    x = torch.randn(3, 10, dtype=torch.complex64, generator=make_generator(1)) * 3
    lengths = torch.tensor([10, 4, 0])
    out = normalize_power(x, lengths)
    torch.testing.assert_close(average_power(out, lengths), torch.tensor([1.0, 1.0, 0.0]))
    assert torch.equal(out[1, 4:], torch.zeros(6, dtype=torch.complex64))
    assert torch.equal(out[2], torch.zeros(10, dtype=torch.complex64))
    # padding does not count toward the power of the used symbols
    torch.testing.assert_close(out[1, :4], normalize_power(x[1:2, :4])[0])


def test_normalize_power_keeps_zero_rows_finite_and_is_differentiable() -> None:
    x = torch.zeros(2, 6, dtype=torch.complex64)
    x[1] = 2.0
    x.requires_grad_(True)
    out = normalize_power(x)
    assert torch.isfinite(torch.view_as_real(out)).all() and torch.equal(out[0], torch.zeros(6, dtype=out.dtype))
    out.real.sum().backward()
    assert x.grad is not None and torch.isfinite(torch.view_as_real(x.grad)).all()


def test_power_rejects_bad_lengths_and_real_input() -> None:
    x = torch.ones(2, 4, dtype=torch.complex64)
    with pytest.raises(PhyInputError, match="lengths must lie"):
        normalize_power(x, torch.tensor([4, 5]))
    with pytest.raises(PhyInputError, match="integer tensor of shape"):
        normalize_power(x, torch.tensor([4.0, 2.0]))
    with pytest.raises(PhyInputError, match="integer tensor of shape"):
        average_power(x, torch.tensor([4]))
    with pytest.raises(PhyInputError, match="must be complex"):
        normalize_power(torch.ones(2, 4))
