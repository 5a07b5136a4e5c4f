"""M-level uniform quantiser of the lightweight JSCC (eq. 14) with an optional straight-through gradient.

What is implemented, exactly (``M = levels``):

* index: ``j = min(floor(clip(z, 0, 1) * M), M - 1)``, so bin ``j`` is ``[j/M, (j+1)/M)``, except the last bin which
  also holds ``z = 1`` (eq. 14 alone would give index ``M``, one past the constellation). Values outside ``[0, 1]``
  are clipped first (the encoder's sigmoid keeps them inside; clipping makes the block total).
* value: ``j / M`` (eq. 14 and ``Q^-1(j) = j / M`` after eq. 18), i.e. the *lower* edge of each bin, in
  ``{0, 1/M, ..., (M-1)/M}``. This follows the paper; it is biased by ``-1/(2M)`` on average against the bin midpoint
  (a decoder trained on unquantised features sees that offset; it shrinks with M).
"""

from __future__ import annotations

import torch

from semcom_bench.phy.checks import PhyInputError, check_finite


class UniformQuantizer:
    """``z in [0, 1] -> j = min(floor(z * M), M - 1) -> j / M`` (eq. 14); see the module docstring for the edges.

    Args:
        levels: number of levels ``M`` (>= 2), the QAM order when the indices are sent as symbols.
    """

    def __init__(self, levels: int) -> None:
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2:
            raise PhyInputError(f"levels must be an int >= 2, got {levels!r}", hint="use the QAM order, e.g. 16")
        self.levels = levels

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """Quantisation indices of ``z`` (any shape, real): ``LongTensor`` of the same shape in ``[0, M - 1]``."""
        if not isinstance(z, torch.Tensor) or not z.is_floating_point():
            kind = z.dtype if isinstance(z, torch.Tensor) else type(z).__name__
            raise PhyInputError(f"z must be a real floating-point tensor, got {kind}")
        check_finite(z, "z")
        scaled = torch.floor(z.detach().clamp(0.0, 1.0) * self.levels)
        return scaled.long().clamp_(max=self.levels - 1)

    def values(self, indices: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Dequantised values ``j / M`` of integer ``indices`` (any shape), as ``dtype``."""
        if indices.is_floating_point() or indices.is_complex():
            raise PhyInputError(f"indices must be an integer tensor, got {indices.dtype}")
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= self.levels):
            raise PhyInputError(
                f"indices must lie in [0, {self.levels - 1}], got [{int(indices.min())}, {int(indices.max())}]"
            )
        return indices.to(dtype) / self.levels

    def __call__(self, z: torch.Tensor, straight_through: bool = False) -> torch.Tensor:
        """Quantised values of ``z`` (same shape and dtype).

        With ``straight_through=True`` the forward value is the same but the gradient w.r.t. ``z`` is the identity
        (``q + (z - z.detach())``), so an encoder can be trained through the quantiser; otherwise the result carries
        no gradient (the floor is flat almost everywhere).
        """
        q = self.values(self.indices(z), dtype=z.dtype)
        # q + (z - z.detach()) rather than z + (q - z).detach(): the forward value is exactly q, not q up to rounding
        return q + (z - z.detach()) if straight_through else q

    def __repr__(self) -> str:
        return f"UniformQuantizer(levels={self.levels})"
