"""Algorithm 2 of the lightweight JSCC as one block: quantise, QAM-map, send, equalise, demap, dequantise.

Transmitter: ``j = min(floor(z * M), M - 1)`` (eq. 14), ``s = C_j`` (eq. 15, ``C`` the Gray QAM of
:class:`~semcom_bench.phy.qam.QAM`: index ``j`` goes to the point labelled with the binary of ``j``, as a standard
modulator fed with ``j`` would), then power normalisation ``s <- s / sqrt(mean_i |s_i|^2)`` per image (Algorithm 2,
eq. 3). Receiver (perfect CSI, including each image's normalisation factor, which a real system sends as a header
of one number): equalisation, minimum-distance demapping (eq. 18), ``z_hat = j* / M``.

One element of ``z`` is one QAM symbol, so ``k`` features cost ``k`` complex channel uses.

The per-image normalisation makes the sent power exactly 1 whatever the feature distribution: the power of the
constellation is 1 only on average over uniformly used indices, and JSCC features are not uniform (in 16-QAM the
indices 0, 4, 8, 12 are the four inner points, of power 0.2). ``normalize_power=False`` sends the points as they are.
"""

from __future__ import annotations

import torch

from semcom_bench.phy.base import Channel, ChannelState
from semcom_bench.phy.channels import EQUALIZERS, equalize
from semcom_bench.phy.checks import PhyInputError, check_symbols
from semcom_bench.phy.power import average_power
from semcom_bench.phy.qam import QAM
from semcom_bench.phy.quantize import UniformQuantizer


class DigitalLink:
    """Quantisation + M-QAM digital transmission of JSCC features ``z`` in ``[0, 1]`` (Algorithm 2).

    Args:
        order: QAM order ``M``, also the number of quantisation levels (4, 16, 64, 256, 1024).
        equalizer: ``"zf"`` (Algorithm 2's ``y / h``; with perfect CSI the ML symbol decision) or ``"mmse"``
            (minimum-distance demapping of the biased LMMSE estimate ``conj(h) y / (|h|^2 + N0)``; it shrinks the
            constellation toward 0 and loses to ZF for M >= 16; kept as an ablation).
        normalize_power: scale each image's symbols to unit average power (Algorithm 2); see the module docstring.

    ``link(z (B, k), channel, snr_db, generator) -> z_hat (B, k)``; or, when a harness owns the channel,
    ``symbols, scale = link.modulate(z)`` then ``link.demodulate(y, state, scale)``.
    """

    def __init__(self, order: int, equalizer: str = "zf", normalize_power: bool = True) -> None:
        if equalizer not in EQUALIZERS:
            raise PhyInputError(f"unknown equalizer {equalizer!r}", hint=f"use one of: {', '.join(EQUALIZERS)}")
        self.qam = QAM(order)
        self.quantizer = UniformQuantizer(order)
        self.equalizer = equalizer
        self.normalize_power = normalize_power

    @property
    def order(self) -> int:
        """The QAM order ``M``."""
        return self.qam.order

    def channel_uses(self, k: int) -> int:
        """Complex channel uses for ``k`` features: ``k`` (one symbol per feature; the header is not counted)."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise PhyInputError(f"k must be a non-negative int, got {k!r}")
        return k

    def modulate(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantise and map ``z`` ``(B, k)`` real in ``[0, 1]`` (clipped outside) to QAM symbols.

        Returns:
            ``(symbols (B, k) complex64, scale (B,) float32)``: ``symbols = C_j * scale``, ``scale`` the per-image
            power-normalisation factor (all ones with ``normalize_power=False``) the receiver needs.
        """
        if not isinstance(z, torch.Tensor) or z.dim() != 2:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise PhyInputError(
                f"z must have shape (B, k), got {shape}", hint="flatten each image's features: z.reshape(B, -1)"
            )
        symbols = self.qam.modulate_indices(self.quantizer.indices(z))
        if not self.normalize_power:
            return symbols, torch.ones(z.shape[0], dtype=torch.float32, device=z.device)
        scale = average_power(symbols).rsqrt()  # QAM points are never 0, so the power is > 0
        return symbols * scale.unsqueeze(1), scale

    def demodulate(self, y: torch.Tensor, state: ChannelState, scale: torch.Tensor) -> torch.Tensor:
        """Equalise, undo the power scale, demap (eq. 18) and dequantise: ``(B, k)`` complex -> ``(B, k)`` float32."""
        check_symbols(y, "y")
        if scale.shape != (y.shape[0],):
            raise PhyInputError(f"scale must have shape ({y.shape[0]},), got {tuple(scale.shape)}")
        x_hat, _ = equalize(y, state, self.equalizer)
        indices = self.qam.demap_hard(x_hat / scale.to(x_hat.device).unsqueeze(1))
        return self.quantizer.values(indices)

    def __call__(
        self,
        z: torch.Tensor,
        channel: Channel,
        snr_db: float,
        generator: torch.Generator | None = None,
        straight_through: bool = False,
    ) -> torch.Tensor:
        """Send ``z`` ``(B, k)`` in ``[0, 1]`` over ``channel`` at ``snr_db``; returns ``z_hat`` ``(B, k)``, ``z``'s dtype.

        With ``straight_through=True`` the gradient of ``z_hat`` w.r.t. ``z`` is the identity (quantisation and
        symbol errors treated as additive noise independent of ``z``); the forward value is unchanged.
        """
        symbols, scale = self.modulate(z)
        y, state = channel(symbols, snr_db, generator)
        z_hat = self.demodulate(y, state, scale).to(z.dtype)
        return z_hat + (z - z.detach()) if straight_through else z_hat

    def __repr__(self) -> str:
        return f"DigitalLink(order={self.order}, equalizer={self.equalizer!r}, normalize_power={self.normalize_power})"
