"""Shannon limits per complex channel use at SNR = Es/N0 (dB): AWGN, and Rayleigh fading with perfect receiver CSI.

Which Rayleigh limit to use:

* fast fading (``Rayleigh(mode="fast")``, or block fading with many independent blocks per codeword): the codeword
  averages over the fades, so the achievable rate is the **ergodic** capacity ``E[log2(1 + |h|^2 SNR)]``.
* slow fading (``Rayleigh(mode="block")`` with one gain per image, the paper's slow Rayleigh channel): one codeword
  sees a single gain, the Shannon capacity in the strict sense is 0, and the meaningful limit is the **outage**
  capacity: the largest rate that the channel supports with probability ``1 - eps``.

All functions take a number or an array of SNRs in dB and return a float or an ``ndarray`` of the same shape.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import hyperu

from semcom_bench.phy.checks import SNR_DB_RANGE, PhyInputError, check_snr_db


def _linear_snr(snr_db: float | np.ndarray) -> np.ndarray:
    """Checked linear SNR (float64 array) of ``snr_db``."""
    values = np.asarray(snr_db, dtype=np.float64)
    low, high = SNR_DB_RANGE
    bad = ~((values >= low) & (values <= high))  # NaN counts as bad
    if bad.any():
        check_snr_db(float(values[bad].reshape(-1)[0]))  # raises with the message for the first bad value
    return 10.0 ** (values / 10.0)


def _as_output(values: np.ndarray) -> float | np.ndarray:
    return float(values) if values.ndim == 0 else values


def awgn_capacity(snr_db: float | np.ndarray) -> float | np.ndarray:
    """``log2(1 + SNR)`` bits per complex channel use."""
    return _as_output(np.log2(1.0 + _linear_snr(snr_db)))


def rayleigh_ergodic_capacity(snr_db: float | np.ndarray) -> float | np.ndarray:
    """Ergodic capacity ``E[log2(1 + |h|^2 SNR)]``, ``|h|^2 ~ Exp(1)``, bits per complex channel use (fast fading).

    Closed form: ``log2(e) * exp(1/SNR) * E1(1/SNR)`` with ``E1`` the exponential integral. ``exp(x) E1(x)`` is
    evaluated as the confluent hypergeometric ``U(1, 1, x)``, which stays finite where ``exp(1/SNR)`` would overflow
    (SNR below about -28 dB).
    """
    snr = _linear_snr(snr_db)
    return _as_output(math.log2(math.e) * hyperu(1.0, 1.0, 1.0 / snr))


def rayleigh_outage_capacity(snr_db: float | np.ndarray, outage: float = 0.01) -> float | np.ndarray:
    """``eps``-outage capacity ``log2(1 + SNR * F^-1(eps))`` of slow Rayleigh fading, bits per complex channel use.

    ``F^-1(eps) = -ln(1 - eps)`` is the ``eps``-quantile of ``|h|^2 ~ Exp(1)``: with probability ``eps`` the channel
    of a codeword cannot support this rate.
    """
    if not 0.0 < outage < 1.0:
        raise PhyInputError(f"outage must lie in (0, 1), got {outage!r}", hint="e.g. 0.01 for 1% outage")
    return _as_output(np.log2(1.0 + _linear_snr(snr_db) * -math.log1p(-outage)))
