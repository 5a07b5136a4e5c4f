"""NTSCC: variable-length symbols, rate allocation over eta, side information, padding, training, rebuild."""

from __future__ import annotations

import json
import math

import pytest
import torch
from toy_scenes import psnr, toy_images

from semcom_bench.errors import SemcomError, ShapeMismatchError
from semcom_bench.phy import AWGN, Rayleigh, average_power, make_generator
from semcom_bench.schemes.base import SCHEMES
from semcom_bench.schemes.ntscc import NTSCC

TINY = {
    "transform_channels": 16,
    "latent_channels": 32,
    "hyper_channels": 16,
    "jscc_dim": 32,
    "jscc_depth": 1,
    "jscc_heads": 2,
    "rate_table": [4, 8, 12, 16, 20, 24, 28, 32],
}
H, W = 64, 128  # 4 x 8 latent tokens, 1 x 2 hyper-latent
TOKENS = (H // 16) * (W // 16)
ETAS = (0.1, 0.3, 1.0, 3.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained() -> tuple[NTSCC, torch.Tensor, list[float]]:
    """A tiny NTSCC after 120 steps on 8 toy images (AWGN, 20 dB), in eval mode; with its training losses."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    images = toy_images(8, H, W)
    model = NTSCC(**TINY)
    optimiser = torch.optim.Adam(list(model.main_parameters()), lr=3e-3)
    losses = []
    for step in range(120):
        out = model.training_step(images, AWGN(), 20.0, make_generator(step))
        optimiser.zero_grad()
        out["loss"].backward()
        optimiser.step()
        losses.append(float(out["loss"].detach()))
    torch.set_num_threads(threads)
    return model.eval(), images, losses


def test_registered() -> None:
    assert SCHEMES.get("ntscc") is NTSCC


def test_training_reduces_loss(trained: tuple[NTSCC, torch.Tensor, list[float]]) -> None:
    _, _, losses = trained
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:5]) / 5


def test_symbols_power_lengths_and_side_bits(trained: tuple[NTSCC, torch.Tensor, list[float]]) -> None:
    model, images, _ = trained
    with torch.no_grad():
        tx = model.transmit(images, 1.0)
    batch = images.shape[0]
    index = tx.side["rate_indices"]
    assert tx.symbols.dtype == torch.complex64
    assert tx.symbols.shape == (batch, int(tx.lengths.max()))
    assert index.shape == (batch, H // 16, W // 16) and index.dtype == torch.int64
    table = torch.tensor(TINY["rate_table"])
    # every token sends an allowed count, and lengths are their sums
    assert torch.equal(tx.lengths, table[index.flatten(1)].sum(dim=1))
    torch.testing.assert_close(average_power(tx.symbols, tx.lengths), torch.ones(batch), rtol=1e-5, atol=1e-5)
    past = torch.arange(tx.symbols.shape[1]) >= tx.lengths[:, None]
    assert bool((tx.symbols[past] == 0).all())
    # rate indices: 3 bits per token (8 table entries) at 2 bits per channel use
    assert tx.side_bits.tolist() == [TOKENS * 3] * batch  # 3 bits of rate index per token


def test_lengths_vary_with_content_and_grow_with_eta(trained: tuple[NTSCC, torch.Tensor, list[float]]) -> None:
    model, images, _ = trained
    with torch.no_grad():
        lengths = torch.stack([model.transmit(images, eta).lengths for eta in ETAS])  # (etas, B)
    assert bool((lengths[1:] >= lengths[:-1]).all())  # monotone for every image
    assert bool((lengths[-1] > lengths[0]).all())
    assert len(set(lengths[-2].tolist())) > 1  # different images, different lengths
    with torch.no_grad():
        index = model.transmit(images, ETAS[-2]).side["rate_indices"]
    assert bool((index.flatten(1).min(dim=1).values < index.flatten(1).max(dim=1).values).all())  # and tokens
    assert float(lengths[-1].float().mean()) <= TOKENS * TINY["rate_table"][-1]


def test_receive_ignores_padding_and_reconstructs(trained: tuple[NTSCC, torch.Tensor, list[float]]) -> None:
    model, images, _ = trained
    with torch.no_grad():
        tx = model.transmit(images, 1.0)
        received, state = AWGN()(tx.symbols, 40.0, make_generator(0))
        recon = model.receive(received, tx, state)
        # what lies past each image's length (padding, extra columns) never reaches the decoder
        garbage = torch.randn(received.shape[0], received.shape[1] + 16, dtype=torch.complex64) * 10
        used = torch.arange(received.shape[1] + 16) < tx.lengths[:, None]
        padded = torch.where(used, torch.nn.functional.pad(received, (0, 16)), garbage)
        recon_padded = model.receive(padded, tx, state)
    torch.testing.assert_close(recon_padded, recon)
    assert recon.shape == images.shape
    assert psnr(recon, images) > 12.0  # weak floor: mid-grey scores 11.8 dB, the untrained model about 6


def test_rayleigh_and_hyperprior_side_information() -> None:
    torch.manual_seed(0)
    model = NTSCC(**TINY, send_hyperprior=True).eval()
    images = toy_images(2, H, W)
    with torch.no_grad():
        tx = model.transmit(images, 0.5)
        received, state = Rayleigh()(tx.symbols, 10.0, make_generator(0))
        recon = model.receive(received, tx, state)
    assert recon.shape == images.shape
    assert tx.side["z_hat"].shape == (2, TINY["hyper_channels"], 1, 2)
    assert bool((tx.side_bits > TOKENS * 3).all())  # z_hat's bits are counted too


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    model = NTSCC(**TINY, send_hyperprior=True)
    out = model.training_step(toy_images(2, H, W), Rayleigh(), 10.0, make_generator(0))
    assert set(out) >= {"loss", "mse", "bpp_y", "bpp_z", "cbr", "eta", "aux_loss"}
    out["loss"].backward()
    aux = {id(p) for p in model.aux_parameters()}
    missing = [n for n, p in model.named_parameters() if id(p) not in aux and p.grad is None]
    assert not missing
    assert all(p.grad is None for p in model.aux_parameters())  # the quantiles train on aux_loss only
    out["aux_loss"].backward()
    assert all(p.grad is not None for p in model.aux_parameters())
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p.grad).all()]
    assert not bad


def test_hparams_rebuild_identical_architecture() -> None:
    model = NTSCC(**TINY, eta_range=(0.1, 0.2), equalizer="zf")
    hp = json.loads(json.dumps(model.hparams()))
    rebuilt = type(model)(**hp)
    assert rebuilt.hparams() == model.hparams()
    rebuilt.load_state_dict(model.state_dict())  # strict: same parameter names and shapes
    images = toy_images(1, H, W)
    with torch.no_grad():
        a, b = model.eval().transmit(images, 0.3), rebuilt.eval().transmit(images, 0.3)
    torch.testing.assert_close(a.symbols, b.symbols)
    assert torch.equal(a.side_bits, b.side_bits)


def test_rejects_bad_inputs() -> None:
    model = NTSCC(**TINY)
    with pytest.raises(ShapeMismatchError, match="multiple of 64"):
        model.transmit(torch.rand(1, 3, 48, 64), 0.2)
    with pytest.raises(SemcomError, match="eta"):
        model.transmit(torch.rand(1, 3, 64, 64), -1.0)
    with pytest.raises(SemcomError, match="rate_table"):
        NTSCC(**{**TINY, "rate_table": [8, 8, 16]})

