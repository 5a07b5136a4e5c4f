"""Gray-labelled square M-QAM: mapping (eq. 15), minimum-distance demapping (eq. 18) and bit LLRs.

Labelling: identical to Sionna's ``Constellation("qam", log2(M))`` (3GPP TS 38.211 sec. 5.1): point ``j`` carries the
``log2(M)``-bit big-endian binary label of ``j``; the even-position bits ``b0, b2, ...`` pick the in-phase PAM level
and the odd-position bits ``b1, b3, ...`` the quadrature level, each Gray-coded, so neighbouring points differ in one
bit. Points are ``(a + 1j * b) / sqrt(2 (M - 1) / 3)`` with ``a, b`` in ``{±1, ±3, ..., ±(sqrt(M) - 1)}``: unit average
power over equiprobable points.

Both demappers work per dimension (the labelling and circular noise make the I and Q bits separable), so they cost
``O(sqrt(M))`` per symbol instead of ``O(M)`` and never form an ``(n, M)`` distance table; they are exactly the
minimum-distance decision and the exact/max-log LLRs over the full 2-D constellation.

LLR sign convention (Sionna's, used by the LDPC decoders): ``LLR = ln(P(b=1 | y) / P(b=0 | y))``, positive means 1.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import erfc

from semcom_bench.phy.checks import PhyInputError, check_finite

SUPPORTED_ORDERS = (4, 16, 64, 256, 1024)
LLR_METHODS = ("maxlog", "exact")


def _pam_gray(bits: np.ndarray) -> np.ndarray:
    """Gray PAM level in ``{±1, ±3, ...}`` of each row of ``bits`` ``(L, m)`` (3GPP recursion, as in Sionna)."""
    if bits.shape[1] == 1:
        return 1 - 2 * bits[:, 0]
    return (1 - 2 * bits[:, 0]) * (2 ** (bits.shape[1] - 1) - _pam_gray(bits[:, 1:]))


def _binary_labels(num: int, width: int) -> np.ndarray:
    """``(num, width)`` big-endian bits of ``0 .. num - 1``."""
    return (np.arange(num)[:, None] >> np.arange(width - 1, -1, -1)) & 1


def qam_ser_awgn(order: int, snr_db: float | np.ndarray) -> float | np.ndarray:
    """Closed-form symbol error rate of square M-QAM with ML detection over AWGN at ``Es/N0 = snr_db``.

    ``P_s = 1 - (1 - p)^2`` with ``p = 2 (1 - 1/sqrt(M)) Q(sqrt(3 SNR / (M - 1)))`` the error rate of each
    ``sqrt(M)``-PAM branch (the standard result, e.g. Proakis, Digital Communications). Exact, not a union bound.
    """
    snr = 10.0 ** (np.asarray(snr_db, dtype=np.float64) / 10.0)
    q = 0.5 * erfc(np.sqrt(3.0 * snr / (order - 1)) / math.sqrt(2.0))
    p = 2.0 * (1.0 - 1.0 / math.sqrt(order)) * q
    ser = 1.0 - (1.0 - p) ** 2
    return float(ser) if ser.ndim == 0 else ser


class QAM:
    """Square Gray-labelled M-QAM with unit average power (Sionna's labelling).

    Args:
        order: ``M``, one of 4, 16, 64, 256, 1024.

    Attributes:
        order: ``M``.
        bits_per_symbol: ``log2(M)``.
        points: ``(M,)`` complex64, point ``j`` has label ``j``.
        labels: ``(M, log2 M)`` float32 in ``{0, 1}``, the bits of each point (big-endian binary of its index).
        scale: ``sqrt(2 (M - 1) / 3)``, the factor that takes the odd-integer grid to unit power.
    """

    def __init__(self, order: int) -> None:
        if isinstance(order, bool) or not isinstance(order, int) or order not in SUPPORTED_ORDERS:
            raise PhyInputError(
                f"unsupported QAM order {order!r}",
                hint=f"use a square QAM order: {', '.join(map(str, SUPPORTED_ORDERS))}",
            )
        self.order = order
        self.bits_per_symbol = int(math.log2(order))
        half = self.bits_per_symbol // 2  # bits per dimension
        side = 2**half  # PAM levels per dimension
        self.scale = math.sqrt(2.0 * (order - 1) / 3.0)

        labels = _binary_labels(order, self.bits_per_symbol)
        in_phase, quadrature = _pam_gray(labels[:, 0::2]), _pam_gray(labels[:, 1::2])
        self.points = torch.from_numpy((in_phase + 1j * quadrature) / self.scale).to(torch.complex64)
        self.labels = torch.from_numpy(labels).to(torch.float32)

        # per-dimension tables, ordered by PAM level from -(side - 1) to side - 1 ("position" p)
        dim_bits = _binary_labels(side, half)
        levels = _pam_gray(dim_bits)
        order_by_level = np.argsort(levels)
        self._pam_levels = torch.from_numpy(levels[order_by_level] / self.scale)  # (side,) float64
        bits_by_position = dim_bits[order_by_level]  # (side, half): the dimension's bits at each position
        # (half, side / 2): for each bit of the dimension, the positions where it is 1 (resp. 0), for the LLRs
        self._positions_with_one = torch.from_numpy(np.stack([np.flatnonzero(b) for b in bits_by_position.T]))
        self._positions_with_zero = torch.from_numpy(np.stack([np.flatnonzero(1 - b) for b in bits_by_position.T]))
        # contribution of each position's bits to the QAM index: I bits at label positions 0, 2, ..; Q at 1, 3, ..
        weights_i = 2 ** np.arange(self.bits_per_symbol - 1, -1, -2)
        weights_q = 2 ** np.arange(self.bits_per_symbol - 2, -1, -2)
        self._index_i = torch.from_numpy(bits_by_position @ weights_i)  # (side,) int64
        self._index_q = torch.from_numpy(bits_by_position @ weights_q)
        self._side = side

    def __repr__(self) -> str:
        return f"QAM(order={self.order})"

    # -- mapping -------------------------------------------------------------------------------------------------

    def modulate_indices(self, idx: torch.Tensor) -> torch.Tensor:
        """Constellation points of integer indices ``idx`` (any shape, values in ``[0, M)``): complex64, same shape."""
        if not isinstance(idx, torch.Tensor) or idx.is_floating_point() or idx.is_complex():
            kind = idx.dtype if isinstance(idx, torch.Tensor) else type(idx).__name__
            raise PhyInputError(f"symbol indices must be an integer tensor, got {kind}")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.order):
            raise PhyInputError(
                f"symbol indices must lie in [0, {self.order - 1}], got [{int(idx.min())}, {int(idx.max())}]"
            )
        return self.points.to(idx.device)[idx.long()]

    def bits_to_indices(self, bits: torch.Tensor) -> torch.Tensor:
        """Indices ``(..., n)`` int64 of the bit groups in ``bits`` ``(..., n * log2 M)`` (first bit is the MSB)."""
        k = self.bits_per_symbol
        if not isinstance(bits, torch.Tensor) or bits.dim() == 0 or bits.shape[-1] % k:
            shape = tuple(bits.shape) if isinstance(bits, torch.Tensor) else type(bits).__name__
            raise PhyInputError(
                f"bits must have a last dimension divisible by {k} (bits per {self.order}-QAM symbol), got {shape}",
                hint="pad the bit stream to a whole number of symbols",
            )
        if bits.is_complex() or bool(((bits != 0) & (bits != 1)).any()):
            raise PhyInputError("bits must hold only 0 and 1")
        groups = bits.reshape(*bits.shape[:-1], -1, k).long()
        weights = 2 ** torch.arange(k - 1, -1, -1, device=bits.device)
        return (groups * weights).sum(dim=-1)

    def modulate_bits(self, bits: torch.Tensor) -> torch.Tensor:
        """Map ``bits`` ``(..., n * log2 M)`` in ``{0, 1}`` (any numeric dtype) to symbols ``(..., n)`` complex64."""
        return self.points.to(bits.device)[self.bits_to_indices(bits)]

    # -- demapping -----------------------------------------------------------------------------------------------

    def _check_received(self, y: torch.Tensor) -> None:
        if not isinstance(y, torch.Tensor) or not y.is_complex():
            kind = y.dtype if isinstance(y, torch.Tensor) else type(y).__name__
            raise PhyInputError(f"received symbols must be a complex tensor, got {kind}")
        check_finite(y, "received symbols")

    def _positions(self, component: torch.Tensor) -> torch.Tensor:
        """Nearest PAM position ``p`` in ``[0, side)`` of each real ``component`` (unit-power scale)."""
        # levels are (2p - (side - 1)) / scale, so the nearest one is p = round((u * scale + side - 1) / 2)
        p = torch.round((component * self.scale + (self._side - 1)) / 2)
        return p.clamp_(0, self._side - 1).long()

    def demap_hard(self, y: torch.Tensor) -> torch.Tensor:
        """Minimum-distance decision (eq. 18): index ``argmin_j |y - C_j|^2`` for ``y`` ``(..., n)`` complex.

        Returns ``(..., n)`` int64. Computed by slicing each dimension to its nearest PAM level, which on a square grid
        is the same decision as the 2-D argmin (boundary ties aside).
        """
        self._check_received(y)
        index_i, index_q = self._index_i.to(y.device), self._index_q.to(y.device)
        return index_i[self._positions(y.real)] + index_q[self._positions(y.imag)]

    def demap_bits_hard(self, y: torch.Tensor) -> torch.Tensor:
        """Bits ``(..., n * log2 M)`` float32 in ``{0, 1}`` of the minimum-distance decisions on ``y`` ``(..., n)``."""
        bits = self.labels.to(y.device)[self.demap_hard(y)]
        return bits.reshape(*y.shape[:-1], -1)

    def llr(
        self, y: torch.Tensor, noise_var: float | torch.Tensor, method: str = "maxlog"
    ) -> torch.Tensor:
        """Bit LLRs ``ln(P(b=1 | y) / P(b=0 | y))`` (Sionna's sign) of ``y`` ``(..., n)`` complex, equiprobable bits.

        ``"exact"`` (Sionna's ``"app"``): ``ln sum_{c: b=1} exp(-|y-c|^2 / N0) - ln sum_{c: b=0} exp(-|y-c|^2 / N0)``;
        ``"maxlog"``: the same with ``max`` for the sums. ``noise_var`` is ``N0`` per complex symbol: a number or a
        tensor broadcastable to ``y`` (per-symbol variance after equalisation, e.g. ``N0 / |h|^2``); it is clamped
        to the smallest positive float like Sionna's demapper.

        Returns:
            ``(..., n * log2 M)`` real tensor (``y``'s real dtype), bits in label order per symbol.
        """
        if method == "app":  # Sionna's name for the exact demapper
            method = "exact"
        if method not in LLR_METHODS:
            raise PhyInputError(f"unknown LLR method {method!r}", hint=f"use one of: {', '.join(LLR_METHODS)}")
        self._check_received(y)
        real = y.real.dtype
        no = torch.as_tensor(noise_var, dtype=real, device=y.device)
        check_finite(no, "noise_var")
        if bool((no < 0).any()):
            raise PhyInputError("noise_var must be non-negative")
        try:
            no = torch.broadcast_to(no, y.shape)
        except RuntimeError:
            raise PhyInputError(
                f"noise_var of shape {tuple(no.shape)} does not broadcast to y of shape {tuple(y.shape)}"
            ) from None
        no = no.clamp_min(torch.finfo(real).tiny).unsqueeze(-1)

        levels = self._pam_levels.to(device=y.device, dtype=real)  # (side,)
        with_one = self._positions_with_one.to(y.device)  # (half, side / 2)
        with_zero = self._positions_with_zero.to(y.device)
        reduce = torch.logsumexp if method == "exact" else torch.amax
        llr = torch.empty((*y.shape, self.bits_per_symbol), dtype=real, device=y.device)
        for dim, component in enumerate((y.real, y.imag)):
            metric = -(component.unsqueeze(-1) - levels).square() / no  # (..., n, side)
            for j in range(self.bits_per_symbol // 2):
                # this dimension's bit j is label bit 2j (I) or 2j + 1 (Q)
                one = reduce(metric.index_select(-1, with_one[j]), dim=-1)
                zero = reduce(metric.index_select(-1, with_zero[j]), dim=-1)
                llr[..., 2 * j + dim] = one - zero
        return llr.reshape(*y.shape[:-1], -1)
