"""Gray square QAM: constellation and labels against Sionna, demapper, LLRs (sign and value), bad inputs."""

from __future__ import annotations

import pytest
import torch

from semcom_bench.phy import AWGN, QAM, PhyInputError, make_generator, qam_ser_awgn

ORDERS = (4, 16, 64, 256, 1024)


def _random_received(order: int, n: int, seed: int, spread: float = 1.3) -> torch.Tensor:
    """Points spread over and beyond the constellation, ``(3, n)`` complex64."""
    return torch.randn((3, n), dtype=torch.complex64, generator=make_generator(seed)) * spread


@pytest.fixture(scope="module")
def sionna_mapping():  # noqa: ANN201 - module object
    return pytest.importorskip("sionna.phy.mapping")


@pytest.mark.parametrize("order", ORDERS)
def test_constellation_matches_sionna_and_has_unit_power(order: int, sionna_mapping) -> None:  # noqa: ANN001
    qam = QAM(order)
    assert qam.points.shape == (order,) and qam.points.dtype == torch.complex64
    assert qam.bits_per_symbol == order.bit_length() - 1
    reference = sionna_mapping.Constellation("qam", qam.bits_per_symbol)().detach().cpu().to(torch.complex64)
    torch.testing.assert_close(qam.points, reference, atol=1e-6, rtol=0)
    assert float(qam.points.abs().square().mean()) == pytest.approx(1.0, abs=1e-6)
    # label of point j is the big-endian binary of j
    weights = 2 ** torch.arange(qam.bits_per_symbol - 1, -1, -1)
    assert torch.equal((qam.labels.long() * weights).sum(1), torch.arange(order))


@pytest.mark.parametrize("order", ORDERS)
def test_gray_neighbours_differ_in_one_bit(order: int) -> None:
    qam = QAM(order)
    spacing = 2 / qam.scale
    dist = (qam.points.unsqueeze(0) - qam.points.unsqueeze(1)).abs()
    neighbours = (dist - spacing).abs() < 1e-4  # horizontal and vertical neighbours only
    hamming = (qam.labels.unsqueeze(0) != qam.labels.unsqueeze(1)).sum(-1)
    assert int(neighbours.sum()) == 2 * 2 * int(order**0.5) * (int(order**0.5) - 1)
    assert bool((hamming[neighbours] == 1).all())


@pytest.mark.parametrize("order", ORDERS)
def test_modulate_bits_matches_sionna_mapper(order: int, sionna_mapping) -> None:  # noqa: ANN001
    qam = QAM(order)
    bits = torch.randint(0, 2, (2, 40 * qam.bits_per_symbol), generator=make_generator(0)).float()
    symbols = qam.modulate_bits(bits)
    assert symbols.shape == (2, 40)
    reference = sionna_mapping.Mapper("qam", qam.bits_per_symbol)(bits).detach().cpu().to(torch.complex64)
    torch.testing.assert_close(symbols, reference, atol=1e-6, rtol=0)
    assert torch.equal(qam.modulate_bits(bits.long()), symbols)
    assert torch.equal(qam.modulate_indices(qam.bits_to_indices(bits)), symbols)


@pytest.mark.parametrize("order", ORDERS)
def test_demap_hard_is_the_minimum_distance_decision(order: int) -> None:
    qam = QAM(order)
    y = _random_received(order, 2000, seed=order)
    brute = (y.unsqueeze(-1) - qam.points).abs().argmin(-1)
    assert torch.equal(qam.demap_hard(y), brute)


@pytest.mark.parametrize("order", ORDERS)
def test_demapper_inverts_mapper_at_high_snr(order: int) -> None:
    qam = QAM(order)
    idx = torch.randint(0, order, (4, 1000), generator=make_generator(1))
    y, _ = AWGN()(qam.modulate_indices(idx), 45.0, make_generator(2))
    assert torch.equal(qam.demap_hard(y), idx)
    assert torch.equal(qam.demap_bits_hard(y), qam.labels[idx].reshape(4, -1))
    assert torch.equal(qam.demap_hard(qam.points), torch.arange(order))


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(("method", "sionna_method"), [("exact", "app"), ("maxlog", "maxlog")])
def test_llr_values_match_sionna(order: int, method: str, sionna_method: str, sionna_mapping) -> None:  # noqa: ANN001
    qam = QAM(order)
    demapper = sionna_mapping.Demapper(sionna_method, "qam", qam.bits_per_symbol)
    y = _random_received(order, 300, seed=7)
    for no in (0.01, 0.3, 2.0):
        ours = qam.llr(y, no, method)
        assert ours.shape == (3, 300 * qam.bits_per_symbol)
        torch.testing.assert_close(ours, demapper(y, torch.tensor(no)), atol=2e-3, rtol=1e-4)
    per_symbol = torch.rand((3, 300), generator=make_generator(8)) + 0.05  # e.g. N0 / |h|^2 after equalisation
    torch.testing.assert_close(qam.llr(y, per_symbol, method), demapper(y, per_symbol), atol=2e-3, rtol=1e-4)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("method", ["exact", "maxlog"])
def test_llr_sign_is_positive_for_one(order: int, method: str) -> None:
    qam = QAM(order)
    bits = torch.randint(0, 2, (2, 50 * qam.bits_per_symbol), generator=make_generator(3)).float()
    # noiseless points, N0 well below the squared spacing (at low SNR the exact LLR of an inner bit may flip)
    llr = qam.llr(qam.modulate_bits(bits), 1e-3, method)
    assert torch.equal((llr > 0).float(), bits)
    assert bool((llr != 0).all())


def test_llr_accepts_sionna_method_name_and_rejects_bad_noise() -> None:
    qam = QAM(16)
    y = qam.points.unsqueeze(0)
    torch.testing.assert_close(qam.llr(y, 0.5, "app"), qam.llr(y, 0.5, "exact"))
    with pytest.raises(PhyInputError, match="unknown LLR method"):
        qam.llr(y, 0.5, "logmap")
    with pytest.raises(PhyInputError, match="non-negative"):
        qam.llr(y, -1.0)
    with pytest.raises(PhyInputError, match="does not broadcast"):
        qam.llr(y, torch.ones(3))
    with pytest.raises(PhyInputError, match="NaN"):
        qam.llr(y, float("nan"))


def test_ser_matches_closed_form() -> None:
    # 16-QAM at 10 dB: SER ~ 0.22; 2e5 symbols give a relative std below 0.5%
    qam = QAM(16)
    idx = torch.randint(0, 16, (1, 200_000), generator=make_generator(4))
    y, _ = AWGN()(qam.modulate_indices(idx), 10.0, make_generator(5))
    ser = float((qam.demap_hard(y) != idx).float().mean())
    assert ser == pytest.approx(qam_ser_awgn(16, 10.0), rel=0.05)


@pytest.mark.parametrize("order", [2, 8, 32, 128, 0, 3, 16.0, True])
def test_unsupported_order(order: object) -> None:
    with pytest.raises(PhyInputError, match="unsupported QAM order"):
        QAM(order)  # type: ignore[arg-type]


def test_bad_mapper_and_demapper_inputs() -> None:
    qam = QAM(16)
    with pytest.raises(PhyInputError, match="divisible by 4"):
        qam.modulate_bits(torch.zeros(2, 6))
    with pytest.raises(PhyInputError, match="only 0 and 1"):
        qam.modulate_bits(torch.full((2, 8), 2.0))
    with pytest.raises(PhyInputError, match=r"\[0, 15\]"):
        qam.modulate_indices(torch.tensor([0, 16]))
    with pytest.raises(PhyInputError, match="integer tensor"):
        qam.modulate_indices(torch.tensor([0.0, 1.0]))
    with pytest.raises(PhyInputError, match="complex tensor"):
        qam.demap_hard(torch.ones(4))
    y = qam.points.clone()
    y[2] = complex(float("nan"), 0)
    with pytest.raises(PhyInputError, match="1 NaN"):
        qam.demap_hard(y)
