"""Deep JSCC: symbol shapes and power, exact CBR, rate refusal, rebuild from hparams, training through the channel."""

from __future__ import annotations

import json

import pytest
import torch
from toy_scenes import mean_colour_psnr, psnr, toy_images

from semcom_bench.errors import SemcomError, ShapeMismatchError
from semcom_bench.phy import AWGN, Rayleigh, average_power, make_generator
from semcom_bench.phy.base import ChannelState
from semcom_bench.schemes.base import SCHEMES
from semcom_bench.schemes.deepjscc import DeepJSCC, RateMismatchError


pytestmark = pytest.mark.usefixtures("one_torch_thread")
FLOOR_MARGIN_DB = 6.0  # above the mean-colour image: a receiver that learned only the colour fails


def test_registered() -> None:
    assert SCHEMES.get("deepjscc") is DeepJSCC


@pytest.mark.parametrize(("downsample", "cbr"), [(4, 1 / 12), (4, 1 / 6), (8, 1 / 48), (16, 1 / 96)])
def test_symbols_shape_power_and_exact_cbr(downsample: int, cbr: float) -> None:
    torch.manual_seed(0)
    model = DeepJSCC(cbr=cbr, downsample=downsample)
    images = torch.rand(3, 3, 32, 64)
    tx = model.transmit(images, cbr)
    assert tx.symbols.dtype == torch.complex64
    assert tx.symbols.shape == (3, model.channels * 32 * 64 // (2 * downsample**2))
    assert tx.lengths.tolist() == [tx.symbols.shape[1]] * 3
    assert tx.side_bits is None
    torch.testing.assert_close(average_power(tx.symbols), torch.ones(3), rtol=1e-5, atol=1e-5)
    measured = tx.lengths.double() / (3 * 32 * 64)
    assert measured.tolist() == pytest.approx([model.cbr] * 3, rel=1e-12)
    assert model.cbr == pytest.approx(cbr, rel=1e-12)


def test_channels_and_cbr_agree() -> None:
    assert DeepJSCC(channels=16).cbr == pytest.approx(1 / 6)
    assert DeepJSCC(cbr=0.083).channels == 8  # nearest realisable: 1/12
    with pytest.raises(SemcomError, match="disagree"):
        DeepJSCC(cbr=1 / 12, channels=16)
    with pytest.raises(SemcomError, match="even"):
        DeepJSCC(channels=7)


def test_rate_mismatch_names_the_model_cbr() -> None:
    model = DeepJSCC(cbr=1 / 12)
    images = torch.rand(1, 3, 32, 32)
    model.transmit(images, 0.0833)  # within 1 % of 1/12
    with pytest.raises(RateMismatchError, match=r"sends CBR 0\.0833333") as err:
        model.transmit(images, 1 / 6)
    assert "channels=16" in str(err.value)


def test_image_size_must_divide() -> None:
    with pytest.raises(ShapeMismatchError, match="divisible"):
        DeepJSCC(cbr=1 / 12).transmit(torch.rand(1, 3, 30, 32), 1 / 12)


def test_hparams_rebuild_identical_architecture() -> None:
    model = DeepJSCC(cbr=1 / 24, downsample=8, hidden=(8, 16, 16, 16), equalizer="zf")
    hp = json.loads(json.dumps(model.hparams()))
    rebuilt = type(model)(**hp)
    assert rebuilt.hparams() == model.hparams()
    rebuilt.load_state_dict(model.state_dict())  # strict: same parameter names and shapes
    images = torch.rand(2, 3, 32, 32)
    model.eval()
    rebuilt.eval()
    with torch.no_grad():
        a, b = model.transmit(images, model.cbr), rebuilt.transmit(images, model.cbr)
    torch.testing.assert_close(b.symbols, a.symbols)


def test_rayleigh_receive_and_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    model = DeepJSCC(cbr=1 / 12)
    out = model.training_step(toy_images(2, 32, 32), Rayleigh(), 10.0, make_generator(1))
    out["loss"].backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


def test_training_reduces_loss_and_reconstructs() -> None:
    torch.manual_seed(0)
    images = toy_images(8, 32, 64)
    model = DeepJSCC(cbr=1 / 6)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(100):
        out = model.training_step(images, AWGN(), 20.0, make_generator(step))
        optimiser.zero_grad()
        out["loss"].backward()
        optimiser.step()
        losses.append(float(out["loss"].detach()))
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5
    model.eval()
    with torch.no_grad():
        tx = model.transmit(images, model.cbr)
        received, state = AWGN()(tx.symbols, 40.0, make_generator(0))
        recon = model.receive(received, tx, state)
    assert recon.shape == images.shape
    assert float(recon.min()) >= 0 and float(recon.max()) <= 1
    assert psnr(recon, images) > mean_colour_psnr(images) + FLOOR_MARGIN_DB


def test_awgn_receiver_does_not_see_the_snr_in_the_signal_scale() -> None:
    """Zero forcing by default: on AWGN the decoder gets the received symbols as they are, whatever N0 is."""
    torch.manual_seed(0)
    model = DeepJSCC(cbr=1 / 12).eval()
    assert model.equalizer == "zf"
    with torch.no_grad():
        tx = model.transmit(torch.rand(1, 3, 32, 32), model.cbr)
        y = tx.symbols + 0.1 * torch.randn_like(tx.symbols)
        outs = [model.receive(y, tx, ChannelState(snr_db=snr, noise_var=10 ** (-snr / 10))) for snr in (0.0, 20.0)]
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)
