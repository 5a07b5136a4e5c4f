"""Input checks shared by the physical-layer blocks: each failure says what is wrong and how to fix it."""

from __future__ import annotations

import math

import torch

from semcom_bench.errors import SemcomError

SNR_DB_RANGE: tuple[float, float] = (-50.0, 100.0)
"""SNRs (Es/N0, dB) the blocks accept; outside it the noise is either negligible or the symbols are, and a value there
is almost always a unit slip (linear instead of dB, or a percentage)."""


class PhyInputError(SemcomError, ValueError):
    """A physical-layer block got an input it cannot use (bad SNR, wrong dtype or shape, NaN symbols...)."""


def check_snr_db(snr_db: float) -> float:
    """``snr_db`` as a float after checking it is a finite number inside :data:`SNR_DB_RANGE`."""
    if isinstance(snr_db, torch.Tensor):
        if snr_db.numel() != 1:
            raise PhyInputError(
                f"snr_db must be one number, got a tensor of shape {tuple(snr_db.shape)}",
                hint="run the channel once per SNR; every image of a batch sees the same SNR",
            )
        snr_db = snr_db.item()
    try:
        value = float(snr_db)
    except (TypeError, ValueError):
        raise PhyInputError(f"snr_db must be a number, got {snr_db!r}", hint="pass the SNR in dB, e.g. 10.0") from None
    low, high = SNR_DB_RANGE
    if not math.isfinite(value) or not low <= value <= high:
        raise PhyInputError(
            f"snr_db={value} dB is outside the supported range [{low:g}, {high:g}] dB",
            hint="the SNR is Es/N0 in dB (10*log10 of the linear ratio); check for a linear value or a unit slip",
        )
    return value


def check_symbols(x: torch.Tensor, name: str = "x") -> None:
    """Check that ``x`` is a ``(B, N)`` complex tensor of finite symbols."""
    if not isinstance(x, torch.Tensor):
        raise PhyInputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_complex():
        raise PhyInputError(
            f"{name} must be complex, got dtype {x.dtype}",
            hint="pair real features into complex symbols, e.g. torch.view_as_complex(z.reshape(B, -1, 2))",
        )
    if x.dim() != 2:
        raise PhyInputError(
            f"{name} must have shape (B, N), got shape {tuple(x.shape)}",
            hint="flatten each image's symbols into one row: x.reshape(B, -1)",
        )
    check_finite(x, name)


def check_finite(x: torch.Tensor, name: str = "x") -> None:
    """Raise naming how many entries of ``x`` are NaN or infinite, if any are."""
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        n_nan = int(torch.isnan(x).sum())
        n_inf = int(bad.sum()) - n_nan
        raise PhyInputError(
            f"{name} holds {n_nan} NaN and {n_inf} infinite value(s) out of {x.numel()}",
            hint="the encoder or a normalisation upstream produced them (e.g. dividing by a zero power)",
        )
