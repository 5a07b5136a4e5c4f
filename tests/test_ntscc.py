"""NTSCC: variable-length symbols, rate allocation over eta, side information, padding, training, rebuild."""

from __future__ import annotations

import inspect
import json
import math

import pytest
import torch
from toy_scenes import mean_colour_psnr, psnr, toy_images

from semcom_bench.benchmark.train import load_profile
from semcom_bench.errors import SemcomError, ShapeMismatchError
from semcom_bench.phy import AWGN, Rayleigh, average_power, make_generator
from semcom_bench.phy.base import ChannelState
from semcom_bench.schemes.base import SCHEMES
from semcom_bench.schemes.ntscc import NTSCC, NTSCC_RATE_TABLE, ntscc_rate_table

TINY = {
    "transform_channels": 16,
    "latent_channels": 32,
    "hyper_channels": 16,
    "jscc_dim": 32,
    "jscc_depth": 1,
    "jscc_heads": 2,
    "rate_table": [2, 4, 6, 8, 10, 12, 14, 16],  # up to C / 2: a token's 32 reals sent uncoded
}
H, W = 64, 128  # 4 x 8 latent tokens, 1 x 2 hyper-latent
TOKENS = (H // 16) * (W // 16)
ETAS = (0.1, 0.3, 1.0, 3.0)
# The regime test: a 64-channel latent with the default table (ntscc_rate_table: 2, 4, ..., 32 symbols per token),
# the ends of the eta sweep of benchmarks/ntscc_regime.py, and the smoke profile's learning rate.
REGIME = {**TINY, "latent_channels": 64, "rate_table": None}
REGIME_ETAS = (0.025, 1.6)
REGIME_STEPS = 800
REGIME_SIZE = (64, 64)  # 4 x 4 tokens: twice the steps of 64 x 128 in the same time


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
    # rate indices: ceil(log2(8 table entries)) = 3 bits per token, in bits: the harness prices them
    assert tx.side_bits.dtype == torch.int64
    assert tx.side_bits.tolist() == [TOKENS * math.ceil(math.log2(len(TINY["rate_table"])))] * batch


def test_lengths_vary_with_content_and_grow_with_eta(trained: tuple[NTSCC, torch.Tensor, list[float]]) -> None:
    model, images, _ = trained
    with torch.no_grad():
        lengths = torch.stack([model.transmit(images, eta).lengths for eta in ETAS])  # (etas, B)
    assert bool((lengths[1:] >= lengths[:-1]).all())  # monotone for every image
    assert bool((lengths[-1] > lengths[0]).all())
    assert len(set(lengths[-2].tolist())) > 1  # different images, different lengths
    with torch.no_grad():
        index = model.transmit(images, ETAS[1]).side["rate_indices"]
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
    assert recon.shape == images.shape  # quality: test_psnr_rises_with_cbr_over_the_eta_sweep


@pytest.mark.slow
def test_psnr_rises_with_cbr_over_the_eta_sweep() -> None:
    """Issue 9, item 8: over the eta sweep the CBR must move, and PSNR with it, at the low SNRs where symbols matter.

    With the table ending at the latent width (C / 2) in steps of C / 32, the sweep reaches down to 2 symbols per
    token and PSNR rises with CBR after a short training (~40 s); both ends clearly beat the mean colour. Main's
    default table (8..128 symbols whatever C) holds every token at 8 or more: measured on main (this seed and
    schedule) CBR 0.0104 -> 0.0203 (1.95x) and PSNR 18.09 -> 19.29 dB at -3 dB, 19.47 -> 20.44 at 0 dB, which fails
    the CBR span and the PSNR rise; here 0.0026 -> 0.0212, 16.46 -> 19.81 and 17.99 -> 21.04 dB. Other seeds
    (torch and toy images 1, 2, 3) rise by 2.2, 1.8 and 2.5 dB over 2.1x, 2.9x and 3.8x at -3 dB: a tiny NTSCC's
    short training is seed-sensitive, mostly in how many bits its entropy model spends, hence the CBR span."""
    torch.manual_seed(0)
    height, width = REGIME_SIZE
    images = toy_images(8, height, width)
    model = NTSCC(**REGIME)
    assert model.rate_table == list(range(2, 33, 2))
    optimiser = torch.optim.Adam(list(model.main_parameters()), lr=1e-3)
    aux_optimiser = torch.optim.Adam(list(model.aux_parameters()), lr=1e-3)
    for step in range(REGIME_STEPS):
        out = model.training_step(images, AWGN(), 10.0, make_generator(step))
        optimiser.zero_grad()
        out["loss"].backward()
        optimiser.step()
        aux_optimiser.zero_grad()
        out["aux_loss"].backward()
        aux_optimiser.step()
    model.eval()
    floor = mean_colour_psnr(images)  # 12.5 dB on these images (mid-grey: 11.8)
    for snr in (-3.0, 0.0):
        measured = []
        for eta in REGIME_ETAS:
            with torch.no_grad():
                tx = model.transmit(images, eta)
                received, state = AWGN()(tx.symbols, snr, make_generator(1))
                recon = model.receive(received, tx, state)
            measured.append((float(tx.lengths.float().mean()) / (3 * height * width), psnr(recon, images)))
        (cbr_low, psnr_low), (cbr_high, psnr_high) = measured
        assert cbr_high > 2 * cbr_low, (snr, measured)
        assert psnr_high > psnr_low + 1.5, (snr, measured)
        assert psnr_low > floor + 2.0 and psnr_high > floor + 4.0, (snr, floor, measured)


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
    with torch.no_grad():
        z_likelihoods = model._analyse(images).z_likelihoods
    z_bits = torch.ceil(-torch.log2(z_likelihoods).flatten(1).sum(dim=1)).to(torch.int64)
    assert bool((z_bits > 0).all())
    assert torch.equal(tx.side_bits, TOKENS * 3 + z_bits)  # rate indices plus z_hat's ideal code length


def test_zero_forcing_by_default_so_the_decoder_cannot_read_the_snr_on_awgn() -> None:
    torch.manual_seed(0)
    model = NTSCC(**TINY).eval()
    assert model.equalizer == "zf"
    images = toy_images(2, H, W)
    with torch.no_grad():
        tx = model.transmit(images, 0.5)
        received, _ = AWGN()(tx.symbols, 10.0, make_generator(0))
        # the same received symbols, told two different SNRs: the decoder's input, hence its output, is the same
        a = model.receive(received, tx, ChannelState(snr_db=0.0, noise_var=1.0))
        b = model.receive(received, tx, ChannelState(snr_db=20.0, noise_var=0.01))
        torch.testing.assert_close(a, b)
        mmse = NTSCC(**TINY, equalizer="mmse").eval()
        mmse.load_state_dict(model.state_dict())
        c = mmse.receive(received, tx, ChannelState(snr_db=0.0, noise_var=1.0))
        d = mmse.receive(received, tx, ChannelState(snr_db=20.0, noise_var=0.01))
    assert not torch.allclose(c, d)  # MMSE scales by 1 / (1 + N0): the option for fading channels


def test_training_logs_payload_cbr_and_side_bits() -> None:
    torch.manual_seed(0)
    model = NTSCC(**TINY, eta_range=(100.0, 100.0))  # every token at the table's maximum
    out = model.training_step(toy_images(2, H, W), AWGN(), 10.0, make_generator(0))
    k_max = TINY["rate_table"][-1]
    assert float(out["cbr"]) == pytest.approx(TOKENS * k_max / (3 * H * W), rel=1e-6)  # payload only
    assert float(out["side_bits"]) == TOKENS * 3


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
    model = NTSCC(**TINY, eta_range=(0.1, 0.2), equalizer="mmse")
    hp = json.loads(json.dumps(model.hparams()))
    rebuilt = type(model)(**hp)
    assert rebuilt.hparams() == model.hparams()
    rebuilt.load_state_dict(model.state_dict())  # strict: same parameter names and shapes
    images = toy_images(1, H, W)
    with torch.no_grad():
        a, b = model.eval().transmit(images, 0.3), rebuilt.eval().transmit(images, 0.3)
    torch.testing.assert_close(a.symbols, b.symbols)
    assert torch.equal(a.side_bits, b.side_bits)


@pytest.mark.parametrize("profile", ["smoke", "paper"])
def test_profile_rate_tables_end_at_the_latent_width(profile: str) -> None:
    hparams = load_profile(profile, "ntscc").hparams
    channels = hparams.get("latent_channels", inspect.signature(NTSCC).parameters["latent_channels"].default)
    table = hparams.get("rate_table") or ntscc_rate_table(channels)
    assert table[-1] == channels // 2  # a token's C reals, uncoded: no wasted symbols, no cap on quality
    assert table == ntscc_rate_table(channels)  # NTSCC's 16 steps of C / 32
    settings = load_profile(profile, "ntscc")  # NTSCC's lambda = 16, 64, 256 on a 0-255 MSE, set aside from hparams
    assert settings.lmbda_sweep == pytest.approx([16 / 255**2, 64 / 255**2, 256 / 255**2], rel=2e-3)
    assert "lmbda_sweep" not in settings.hparams and settings.hparams["lmbda"] in settings.lmbda_sweep


def test_default_rate_table_follows_the_latent_width() -> None:
    assert NTSCC_RATE_TABLE == tuple(range(8, 129, 8))  # NTSCC's 16..256 reals for C = 256
    assert NTSCC(**{**TINY, "rate_table": None}).rate_table == list(range(1, 17))
    with pytest.raises(SemcomError, match="rate steps"):
        ntscc_rate_table(40)


def test_rejects_bad_inputs() -> None:
    model = NTSCC(**TINY)
    with pytest.raises(ShapeMismatchError, match="multiple of 64"):
        model.transmit(torch.rand(1, 3, 48, 64), 0.2)
    with pytest.raises(SemcomError, match="eta"):
        model.transmit(torch.rand(1, 3, 64, 64), -1.0)
    with pytest.raises(SemcomError, match="rate_table"):
        NTSCC(**{**TINY, "rate_table": [8, 8, 16]})

