"""Average-power measurement and normalisation of complex symbol rows (the transmit power constraint, eq. 3).

Every scheme sends ``(B, N)`` complex symbols with unit average power per image. Variable-length schemes pad rows
with zeros past ``lengths[b]``; the padding is neither counted in the average nor sent.
"""

from __future__ import annotations

import torch

from semcom_bench.phy.checks import PhyInputError, check_symbols


def _used_mask(x: torch.Tensor, lengths: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor]:
    """``(mask (B, N) bool or None, counts (B,) float)`` of the symbols each row really sends."""
    batch, n = x.shape
    real_dtype = x.real.dtype
    if lengths is None:
        return None, torch.full((batch,), float(n), dtype=real_dtype, device=x.device)
    if not isinstance(lengths, torch.Tensor) or lengths.shape != (batch,) or lengths.is_floating_point():
        shape = tuple(lengths.shape) if isinstance(lengths, torch.Tensor) else type(lengths).__name__
        raise PhyInputError(
            f"lengths must be an integer tensor of shape ({batch},), got {shape}",
            hint="pass one symbol count per row, e.g. torch.full((B,), N)",
        )
    lengths = lengths.to(x.device)
    if bool((lengths < 0).any()) or bool((lengths > n).any()):
        raise PhyInputError(
            f"lengths must lie in [0, {n}], got min {int(lengths.min())} and max {int(lengths.max())}",
            hint="a row cannot send more symbols than the tensor holds",
        )
    mask = torch.arange(n, device=x.device).unsqueeze(0) < lengths.unsqueeze(1)
    return mask, lengths.to(real_dtype)


def average_power(x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Mean ``|x|^2`` of each row over its first ``lengths[b]`` symbols.

    Args:
        x: ``(B, N)`` complex symbols.
        lengths: ``(B,)`` integer symbol counts; ``None`` means every row uses all ``N``.

    Returns:
        ``(B,)`` real tensor; 0 for a row with ``lengths[b] == 0``.
    """
    check_symbols(x)
    mask, counts = _used_mask(x, lengths)
    energy = x.real.square() + x.imag.square()
    if mask is not None:
        energy = energy * mask
    return energy.sum(dim=1) / counts.clamp_min(1.0)


def normalize_power(x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Scale each row to unit average power over its first ``lengths[b]`` symbols; padding is set to 0.

    ``x[b] / sqrt(mean_{i < lengths[b]} |x[b, i]|^2)``. Differentiable (schemes normalise inside training). A row
    with zero power (or zero length) stays all-zero instead of turning into NaN.

    Args:
        x: ``(B, N)`` complex symbols.
        lengths: ``(B,)`` integer symbol counts; ``None`` means every row uses all ``N``.

    Returns:
        ``(B, N)`` tensor, same dtype and device as ``x``.
    """
    power = average_power(x, lengths)
    # clamp instead of branching: 0 / sqrt(tiny) = 0 keeps empty rows empty without a host sync
    scale = power.clamp_min(torch.finfo(power.dtype).tiny).rsqrt()
    out = x * scale.unsqueeze(1)
    mask, _ = _used_mask(x, lengths)
    return out if mask is None else out * mask
