"""Uniform quantiser (eq. 14): bins, edges, clipping, dequantised values, straight-through gradient, bad inputs."""

from __future__ import annotations

import pytest
import torch

from semcom_bench.phy import PhyInputError, UniformQuantizer


@pytest.mark.parametrize("levels", [4, 16, 256])
def test_bins_and_edges(levels: int) -> None:
    quantizer = UniformQuantizer(levels)
    edges = torch.arange(levels, dtype=torch.float64) / levels
    # a bin's lower edge belongs to it; just below it belongs to the previous bin
    assert torch.equal(quantizer.indices(edges), torch.arange(levels))
    assert torch.equal(quantizer.indices(edges[1:] - 1e-9), torch.arange(levels - 1))
    # z = 1 falls in the last bin, not one past it
    assert int(quantizer.indices(torch.tensor([1.0]))) == levels - 1
    assert quantizer.indices(edges).dtype == torch.int64


def test_values_are_lower_bin_edges() -> None:
    quantizer = UniformQuantizer(4)
    z = torch.tensor([0.0, 0.1, 0.25, 0.49, 0.5, 0.8, 0.999, 1.0])
    assert torch.equal(quantizer.indices(z), torch.tensor([0, 0, 1, 1, 2, 3, 3, 3]))
    assert torch.equal(quantizer(z), torch.tensor([0.0, 0.0, 0.25, 0.25, 0.5, 0.75, 0.75, 0.75]))
    assert torch.equal(quantizer.values(torch.tensor([0, 3])), torch.tensor([0.0, 0.75]))


def test_out_of_range_values_are_clipped() -> None:
    quantizer = UniformQuantizer(16)
    assert torch.equal(quantizer.indices(torch.tensor([-0.5, -1e-6, 1.0 + 1e-6, 7.0])), torch.tensor([0, 0, 15, 15]))


def test_shape_and_dtype_preserved() -> None:
    z = torch.rand(2, 3, 5, dtype=torch.float64)
    out = UniformQuantizer(64)(z)
    assert out.shape == z.shape and out.dtype == torch.float64
    assert float((z - out).min()) >= 0 and float((z - out).max()) < 1 / 64


def test_straight_through_gradient_is_identity() -> None:
    quantizer = UniformQuantizer(16)
    z = torch.rand(4, 10, requires_grad=True)
    out = quantizer(z, straight_through=True)
    assert torch.equal(out.detach(), quantizer(z.detach()))  # forward value exactly the quantised one
    weights = torch.randn(4, 10)
    (out * weights).sum().backward()
    assert torch.equal(z.grad, weights)


def test_without_straight_through_no_gradient() -> None:
    z = torch.rand(3, requires_grad=True)
    assert not UniformQuantizer(4)(z).requires_grad


@pytest.mark.parametrize("levels", [1, 0, -4, 2.5, True])
def test_bad_levels(levels: object) -> None:
    with pytest.raises(PhyInputError, match="levels must be an int"):
        UniformQuantizer(levels)  # type: ignore[arg-type]


def test_bad_inputs() -> None:
    quantizer = UniformQuantizer(4)
    with pytest.raises(PhyInputError, match="real floating-point"):
        quantizer.indices(torch.tensor([0, 1]))
    with pytest.raises(PhyInputError, match="2 NaN"):
        quantizer(torch.tensor([0.1, float("nan"), float("nan")]))
    with pytest.raises(PhyInputError, match=r"\[0, 3\]"):
        quantizer.values(torch.tensor([4]))
    with pytest.raises(PhyInputError, match="integer tensor"):
        quantizer.values(torch.tensor([0.5]))
