"""AWGN and Rayleigh fading channels, and the perfect-CSI equaliser (system model of the lightweight JSCC, eq. 2/16).

``y = h * x + n`` with ``x`` of shape ``(B, N)`` complex at unit average power, ``n ~ CN(0, N0)`` i.i.d. with
``N0 = 10 ** (-snr_db / 10)`` (SNR = Es/N0, see :mod:`semcom_bench.phy.base`), and ``h = 1`` (AWGN) or
``h ~ CN(0, 1)`` (Rayleigh, ``E|h|^2 = 1`` so the average received SNR equals the nominal one).

Reproducibility: all draws come from the ``generator`` argument, on the generator's device, and are then moved to
``x``'s device, so one seed gives identical realisations on CPU and GPU inputs. The draws depend only on the shape of
``x`` (never on its values): two schemes sending the same number of symbols with the same seed see the same fading
and noise (paired comparisons). Rayleigh draws the gains before the noise, so with one gain per image
(``coherence=None``) the gains also match between schemes that send different numbers of symbols.
"""

from __future__ import annotations

import math

import torch

from semcom_bench.phy.base import CHANNELS, Channel, ChannelState
from semcom_bench.phy.checks import PhyInputError, check_snr_db, check_symbols

EQUALIZERS = ("zf", "mmse")


def noise_variance(snr_db: float) -> float:
    """``N0 = 10 ** (-snr_db / 10)``: noise variance per complex symbol at unit signal power (SNR = Es/N0 in dB)."""
    return 10.0 ** (-check_snr_db(snr_db) / 10.0)


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` seeded with ``seed``; one per evaluation run gives every scheme the same draws."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise PhyInputError(f"seed must be a non-negative int, got {seed!r}")
    return torch.Generator(device=device).manual_seed(seed)


def _complex_normal(
    shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """``CN(0, 1)`` samples of ``shape`` (variance 1/2 per real part), dtype and device of ``like``."""
    device = generator.device if generator is not None else like.device
    draws = torch.randn(shape, dtype=like.dtype, device=device, generator=generator)
    return draws.to(like.device)


def _awgn(x: torch.Tensor, noise_var: float, generator: torch.Generator | None) -> torch.Tensor:
    return _complex_normal(tuple(x.shape), x, generator) * math.sqrt(noise_var)


@CHANNELS.register("awgn")
class AWGN(Channel):
    """Additive white Gaussian noise: ``y = x + n``, ``n ~ CN(0, N0)``.

    ``__call__(x (B, N) complex, snr_db, generator) -> (y (B, N), ChannelState(gains=None))``.
    """

    name = "awgn"

    def __call__(
        self, x: torch.Tensor, snr_db: float, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, ChannelState]:
        check_symbols(x)
        snr_db = check_snr_db(snr_db)
        noise_var = noise_variance(snr_db)
        return x + _awgn(x, noise_var, generator), ChannelState(snr_db=snr_db, noise_var=noise_var)

    def __repr__(self) -> str:
        return "AWGN()"


@CHANNELS.register("rayleigh")
class Rayleigh(Channel):
    """Flat Rayleigh fading plus AWGN: ``y = h * x + n``, ``h ~ CN(0, 1)``, ``n ~ CN(0, N0)``.

    Args:
        mode: ``"block"`` (slow/block fading, the paper's slow Rayleigh channel): one gain per image when
            ``coherence`` is ``None``, else one gain per block of ``coherence`` consecutive symbols (the last block
            of a row may be shorter). ``"fast"``: an independent gain per symbol.
        coherence: block length in symbols for ``mode="block"``; must be ``None`` for ``"fast"``.

    ``__call__(x (B, N) complex, snr_db, generator) -> (y (B, N), state)`` with ``state.gains`` of shape ``(B, N)``
    (every symbol's own gain, repeated within a block).
    """

    name = "rayleigh"

    def __init__(self, mode: str = "block", coherence: int | None = None) -> None:
        if mode not in ("block", "fast"):
            raise PhyInputError(f"unknown Rayleigh mode {mode!r}", hint="use 'block' (slow fading) or 'fast'")
        if coherence is not None:
            if mode == "fast":
                raise PhyInputError(
                    "coherence applies to mode='block' only",
                    hint="fast fading draws one gain per symbol; drop coherence or use mode='block'",
                )
            if isinstance(coherence, bool) or not isinstance(coherence, int) or coherence < 1:
                raise PhyInputError(f"coherence must be a positive int (symbols per block), got {coherence!r}")
        self.mode = mode
        self.coherence = coherence

    def gains(self, batch: int, n: int, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Draw ``(batch, n)`` complex gains ``CN(0, 1)`` with this channel's time structure."""
        if self.mode == "fast":
            return _complex_normal((batch, n), like, generator)
        if self.coherence is None:
            return _complex_normal((batch, 1), like, generator).expand(batch, n).contiguous()
        blocks = math.ceil(n / self.coherence)
        per_block = _complex_normal((batch, blocks), like, generator)
        return per_block.repeat_interleave(self.coherence, dim=1)[:, :n]

    def __call__(
        self, x: torch.Tensor, snr_db: float, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, ChannelState]:
        check_symbols(x)
        snr_db = check_snr_db(snr_db)
        noise_var = noise_variance(snr_db)
        h = self.gains(x.shape[0], x.shape[1], x, generator)
        y = h * x + _awgn(x, noise_var, generator)
        return y, ChannelState(snr_db=snr_db, noise_var=noise_var, gains=h)

    def __repr__(self) -> str:
        return f"Rayleigh(mode={self.mode!r}, coherence={self.coherence!r})"


def equalize(y: torch.Tensor, state: ChannelState, method: str = "zf") -> tuple[torch.Tensor, torch.Tensor]:
    """One-tap equalisation with perfect CSI (``state.gains``; gain 1 for AWGN).

    * ``"zf"`` (zero forcing, eq. 17 and Algorithm 2): ``x_hat = y / h = x + n / h``, unbiased, effective noise
      variance ``N0 / |h|^2``. With perfect CSI, minimum-distance demapping of ``y / h`` is the ML symbol decision
      (``|y - h c|^2 = |h|^2 |y / h - c|^2``), and ``(x_hat, N0 / |h|^2)`` give exact LLRs.
    * ``"mmse"`` (linear MMSE for unit-power symbols): ``x_hat = conj(h) y / (|h|^2 + N0)``; it is biased
      (``E[x_hat | x] = g x`` with ``g = |h|^2 / (|h|^2 + N0)``) and the returned variance is its mean squared error
      ``E|x_hat - x|^2 = N0 / (|h|^2 + N0)``, bounded by 1 where ZF's blows up in deep fades. Meant for analog
      (continuous-symbol) schemes; for demapping a constellation use ``"zf"`` (or divide by ``g``, which is ZF).

    Args:
        y: ``(B, N)`` complex received symbols.
        state: the :class:`ChannelState` the channel returned with ``y``.
        method: ``"zf"`` or ``"mmse"``.

    Returns:
        ``(x_hat (B, N) complex, noise_var (B, N) real)``: the estimate and its effective per-symbol noise variance.
    """
    check_symbols(y, "y")
    if method not in EQUALIZERS:
        raise PhyInputError(f"unknown equalizer {method!r}", hint=f"use one of: {', '.join(EQUALIZERS)}")
    n0 = state.noise_var
    if state.gains is None:
        h = torch.ones((), dtype=y.dtype, device=y.device)
    else:
        h = state.gains.to(y.device)
        if h.shape != y.shape:
            raise PhyInputError(
                f"channel gains of shape {tuple(h.shape)} do not match y of shape {tuple(y.shape)}",
                hint="equalize with the state returned by the same channel call",
            )
    gain2 = h.real.square() + h.imag.square()
    if method == "zf":
        x_hat, noise_var = y / h, n0 / gain2
    else:
        x_hat, noise_var = h.conj() * y / (gain2 + n0), n0 / (gain2 + n0)
    return x_hat, noise_var.to(y.real.dtype).expand(y.shape).contiguous()
