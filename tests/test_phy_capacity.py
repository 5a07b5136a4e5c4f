"""Capacity formulas: AWGN values, Rayleigh ergodic against Monte Carlo and quadrature, outage, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from semcom_bench.phy import PhyInputError, awgn_capacity, rayleigh_ergodic_capacity, rayleigh_outage_capacity


def test_awgn_capacity_values() -> None:
    assert awgn_capacity(0.0) == pytest.approx(1.0)
    assert awgn_capacity(10 * math.log10(3)) == pytest.approx(2.0)
    out = awgn_capacity(np.array([0.0, 10.0]))
    assert isinstance(out, np.ndarray) and out.shape == (2,)
    np.testing.assert_allclose(out, [1.0, math.log2(11)])


@pytest.mark.parametrize("snr_db", [-10.0, 0.0, 10.0, 25.0])
def test_ergodic_capacity_matches_monte_carlo(snr_db: float) -> None:
    # 2e6 draws of |h|^2 ~ Exp(1): the sample mean of log2(1 + g SNR) has relative std well below 0.2%
    gains = np.random.default_rng(0).exponential(1.0, 2_000_000)
    monte_carlo = float(np.mean(np.log2(1 + gains * 10 ** (snr_db / 10))))
    assert rayleigh_ergodic_capacity(snr_db) == pytest.approx(monte_carlo, rel=5e-3)


@pytest.mark.parametrize("snr_db", [-50.0, -30.0, 5.0, 60.0, 100.0])
def test_ergodic_capacity_matches_quadrature_over_the_whole_range(snr_db: float) -> None:
    snr = 10 ** (snr_db / 10)
    integral, _ = quad(lambda g: math.log2(1 + g * snr) * math.exp(-g), 0, math.inf, epsabs=0, epsrel=1e-10)
    assert rayleigh_ergodic_capacity(snr_db) == pytest.approx(integral, rel=1e-6)


def test_ergodic_below_awgn_and_outage_below_ergodic() -> None:
    snrs = np.arange(-20.0, 41.0, 5.0)
    ergodic = rayleigh_ergodic_capacity(snrs)
    assert np.all(ergodic < awgn_capacity(snrs))  # Jensen
    assert np.all(rayleigh_outage_capacity(snrs, 0.01) < ergodic)
    # high SNR: the ergodic loss against AWGN tends to Euler's gamma * log2(e) ~ 0.83 bit
    gap = awgn_capacity(60.0) - rayleigh_ergodic_capacity(60.0)
    assert gap == pytest.approx(np.euler_gamma * math.log2(math.e), abs=1e-3)


def test_outage_capacity_formula_and_meaning() -> None:
    eps, snr_db = 0.1, 12.0
    rate = rayleigh_outage_capacity(snr_db, eps)
    assert rate == pytest.approx(math.log2(1 + 10 ** 1.2 * -math.log(0.9)))
    # the channel falls short of that rate with probability eps
    gains = np.random.default_rng(1).exponential(1.0, 1_000_000)
    assert float(np.mean(np.log2(1 + gains * 10**1.2) < rate)) == pytest.approx(eps, abs=2e-3)


@pytest.mark.parametrize("outage", [0.0, 1.0, -0.1, 1.5])
def test_bad_outage(outage: float) -> None:
    with pytest.raises(PhyInputError, match="outage must lie"):
        rayleigh_outage_capacity(10.0, outage)


@pytest.mark.parametrize("func", [awgn_capacity, rayleigh_ergodic_capacity, rayleigh_outage_capacity])
def test_bad_snr(func) -> None:  # noqa: ANN001
    with pytest.raises(PhyInputError, match="outside the supported range"):
        func(np.array([0.0, 120.0]))
    with pytest.raises(PhyInputError, match="outside the supported range"):
        func(float("nan"))
