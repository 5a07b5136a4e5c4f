"""A trainable constellation (DLM: distribution-aware learnable modulation) as one block, in the manner of Sionna's
``Constellation(..., trainable=True)`` plus its mapper and a minimum-distance demapper.

The codebook holds ``M`` complex points ``c_j``; the features are assigned to points by **distance**. The encoder emits
one complex feature ``z`` per channel symbol (two real values, at the codebook's unit power scale), and

* stage 1, soft assignment: ``s = sum_j w_j c_j``, ``w = softmax(-|z - c_j|^2 / (tau * d_nn^2))``;
* stage 2, straight-through hard assignment: forward ``s = c_{j*}``, ``j* = argmin_j |z - c_j|^2``, backward the
  gradient of the soft ``s`` (``s_soft + (c_{j*} - s_soft).detach()``), so both the encoder and the points learn;
* inference: only the index ``j*`` is sent, as the point ``c_{j*}``; the receiver detects ``argmin_j |x - c_j|^2``.

Why distance and not logits over the ``M`` points: the DLM abstract's premise is that the *empirical distribution of
the semantic features* mismatches QAM and that the constellation geometry should be refined to align with it. With
distance assignment the codebook is a vector quantiser of the feature distribution: the loss gradient moves each point
toward the features it wins (denser regions get more, closer points) while the encoder moves the features toward the
points, which is that alignment. Logits would make the point positions irrelevant to the assignment (any geometry gets
any distribution of indices), so nothing would tie the geometry to the features.

``d_nn^2`` is the codebook's mean squared nearest-neighbour distance (no gradient), so ``tau`` means the same softness
for every ``M`` (at ``tau = 0.5`` a feature on a point gives each nearest neighbour ``e^-2`` of its weight).

Power: the points are the raw parameters divided by their root mean power, ``c = r / sqrt(mean_j |r_j|^2)``, in the
forward pass, so the codebook has unit average power (over equiprobable points) at every step, whatever the optimiser
does to ``r``; nothing is fixed after the step.

Initialisation (``init="apsk"``): concentric rings, ring ``k = 1..R`` with ``8k - 4`` points at radius ``2k - 1``,
each ring turned by ``pi / n_k`` (``R = sqrt(M) / 2``: 4 = QPSK, 16 = 4+12 as DVB-S2's 16APSK with radius ratio 3,
64 = 4+12+20+28, 256 = 4+12+...+60). Why this layout: ring ``k`` holds ``n_k = 4 (2k - 1)`` points, in proportion to
its circumference, so the arc spacing ``2 pi (2k - 1) / n_k = pi / 2`` is the same on every ring and close to the ring
gap (2): a near-uniform density over a disc, the circularly symmetric prior for JSCC features that are power-normalised
per image (roughly circular Gaussian); and ``sum_k n_k = 4 R^2`` is every square-QAM order, so the comparison with QAM
is at equal ``M``. ``init="qam"`` gives the Gray square QAM of
:class:`~semcom_bench.phy.qam.QAM` (point ``j`` labelled ``j``); with ``trainable=False`` it is the fixed baseline.

Shapes: features and symbols ``(B, N)`` complex64 (``N`` symbols per image); indices ``(B, N)`` int64 in ``[0, M)``;
``points`` ``(M,)`` complex64. One symbol carries one index, ``log2 M`` bits.
Soft assignment and detection form a ``(B, N, M)`` distance table: memory grows with ``M`` (QAM's per-dimension
slicer avoids it for square grids, which a learned codebook is not).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from semcom_bench.phy.checks import PhyInputError, check_symbols
from semcom_bench.phy.qam import QAM

INITS = ("apsk", "qam")


def apsk_rings(order: int) -> list[int]:
    """Points per ring of the default APSK layout, ``8k - 4`` on ring ``k`` (module docstring): ``M = 4 R^2``."""
    if isinstance(order, bool) or not isinstance(order, int) or order < 4 or 4 * math.isqrt(order // 4) ** 2 != order:
        raise PhyInputError(
            f"the default APSK layout needs M = 4 R^2 points (4, 16, 64, 256, 1024), got {order!r}",
            hint="pass rings=[...] with the points of each ring, summing to M",
        )
    return [8 * k - 4 for k in range(1, math.isqrt(order // 4) + 1)]


def apsk_points(rings: Sequence[int]) -> torch.Tensor:
    """``(sum(rings),)`` complex64 APSK points at unit average power: ring ``k`` (from 1) at radius ``2k - 1`` with
    ``rings[k-1]`` points turned by ``pi / n_k``."""
    if not rings or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in rings):
        raise PhyInputError(f"rings must list positive point counts, got {list(rings)!r}", hint="e.g. rings=[4, 12]")
    parts = []
    for k, n in enumerate(rings, start=1):
        phase = (2 * torch.arange(n, dtype=torch.float64) + 1) * math.pi / n
        parts.append((2 * k - 1) * torch.polar(torch.ones(n, dtype=torch.float64), phase))
    points = torch.cat(parts)
    return (points / points.abs().square().mean().sqrt()).to(torch.complex64)


class LearnableConstellation(nn.Module):
    """A codebook of ``M`` complex points at unit average power, with soft, straight-through and hard assignment.

    Args:
        order: ``M``, the number of points (one symbol carries ``log2 M`` bits; a power of two).
        init: ``"apsk"`` (the module docstring's rings) or ``"qam"`` (Gray square QAM).
        rings: points per ring for ``init="apsk"`` (default :func:`apsk_rings`); must sum to ``M``.
        trainable: the points are a parameter (the DLM) or a fixed buffer (a conventional constellation).
        temperature: ``tau`` of the soft assignment, in units of the mean squared nearest-neighbour distance.

    ``soft(z)``, ``straight_through(z)``: ``(B, N)`` complex -> ``(B, N)`` complex symbols; ``assign(z)`` and
    ``demap(x)``: ``(B, N)`` complex -> ``(B, N)`` int64 indices (minimum distance); ``map(indices)`` -> points.
    """

    def __init__(
        self,
        order: int,
        init: str = "apsk",
        rings: Sequence[int] | None = None,
        trainable: bool = True,
        temperature: float = 0.5,
    ) -> None:
        super().__init__()
        if isinstance(order, bool) or not isinstance(order, int) or order < 2 or order & (order - 1):
            raise PhyInputError(f"order must be a power of two >= 2 (log2 M bits per symbol), got {order!r}",
                                hint="e.g. 16")
        if init not in INITS:
            raise PhyInputError(f"unknown constellation init {init!r}", hint=f"use one of: {', '.join(INITS)}")
        if not temperature > 0:
            raise PhyInputError(f"temperature must be positive, got {temperature!r}", hint="e.g. 0.5")
        if init == "qam":
            if rings is not None:
                raise PhyInputError("rings apply to init='apsk' only", hint="drop rings or use init='apsk'")
            points = QAM(order).points
        else:
            rings = apsk_rings(order) if rings is None else list(rings)
            if sum(rings) != order:
                raise PhyInputError(f"rings {list(rings)} hold {sum(rings)} points, not M = {order}",
                                    hint="the ring counts must sum to the order")
            points = apsk_points(rings)
        self.order = order
        self.init = init
        self.rings = None if rings is None else [int(n) for n in rings]
        self.temperature = float(temperature)
        raw = torch.view_as_real(points).clone()  # (M, 2) real: optimisers and checkpoints see plain floats
        if trainable:
            self.raw = nn.Parameter(raw)
        else:
            self.register_buffer("raw", raw, persistent=False)  # rebuilt from the order, nothing to store

    @property
    def bits_per_symbol(self) -> int:
        """``log2 M``: the bits one symbol (one index) carries."""
        return int(math.log2(self.order))

    @property
    def trainable(self) -> bool:
        """Whether the points are learned."""
        return isinstance(self.raw, nn.Parameter)

    def _real_points(self) -> torch.Tensor:
        """``(M, 2)`` real points at unit average power, normalised here so it holds at every step."""
        return self.raw / self.raw.square().sum(dim=1).mean().sqrt()

    @property
    def points(self) -> torch.Tensor:
        """``(M,)`` complex64 points at unit average power (differentiable w.r.t. the parameter)."""
        return torch.view_as_complex(self._real_points().contiguous())

    def _distances(self, z: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """``(B, N, M)`` squared distances between ``z`` ``(B, N)`` complex and ``points`` ``(M, 2)`` real."""
        check_symbols(z, "z")
        zr = torch.view_as_real(z)  # (B, N, 2)
        cross = zr @ points.T  # (B, N, M)
        return (zr.square().sum(-1, keepdim=True) - 2 * cross + points.square().sum(-1)).clamp_min(0.0)

    def _nearest_spacing(self, points: torch.Tensor) -> torch.Tensor:
        """Mean squared nearest-neighbour distance of ``points`` ``(M, 2)``, a constant for the temperature."""
        with torch.no_grad():
            d2 = torch.cdist(points, points).square()
            d2.fill_diagonal_(float("inf"))
            return d2.min(dim=1).values.mean().clamp_min(torch.finfo(points.dtype).tiny)

    def soft(self, z: torch.Tensor) -> torch.Tensor:
        """Stage 1: ``(B, N)`` complex features -> ``(B, N)`` complex ``sum_j w_j c_j`` (differentiable in both)."""
        points = self._real_points()
        weights = torch.softmax(-self._distances(z, points) / (self.temperature * self._nearest_spacing(points)), -1)
        return torch.view_as_complex((weights @ points).contiguous())

    def assign(self, z: torch.Tensor) -> torch.Tensor:
        """Hard assignment: ``(B, N)`` int64 index of the nearest point to each feature of ``z`` ``(B, N)``."""
        with torch.no_grad():
            return self._distances(z, self._real_points()).argmin(dim=-1)

    demap = assign
    """Minimum-distance detection of equalised received symbols ``(B, N)`` -> ``(B, N)`` int64 (the same rule)."""

    def map(self, indices: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` int64 indices in ``[0, M)`` -> ``(B, N)`` complex64 points (differentiable w.r.t. the points)."""
        if indices.is_floating_point() or indices.is_complex():
            raise PhyInputError(f"indices must be an integer tensor, got {indices.dtype}")
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= self.order):
            raise PhyInputError(f"indices must lie in [0, {self.order - 1}], got "
                                f"[{int(indices.min())}, {int(indices.max())}]")
        return self.points[indices]

    def straight_through(self, z: torch.Tensor) -> torch.Tensor:
        """Stage 2: forward the nearest points to ``z`` ``(B, N)``, backward the soft assignment's gradient."""
        soft = self.soft(z)
        return soft + (self.map(self.assign(z)) - soft).detach()

    def extra_repr(self) -> str:
        return f"order={self.order}, init={self.init!r}, trainable={self.trainable}, temperature={self.temperature:g}"
