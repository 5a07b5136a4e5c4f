"""DLM (learnable constellation) on Deep JSCC: APSK start, unit power throughout training, codebook points only at
inference, soft and straight-through gradients, channel uses from M and the bits, the harness, learned vs fixed QAM."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from toy_scenes import toy_images

from semcom_bench.annotate.pipeline import AnnotateConfig, annotate
from semcom_bench.benchmark.evaluate import EvalSpec, evaluate
from semcom_bench.benchmark.train import TrainSettings, build_scheme, load_checkpoint, load_profile, train
from semcom_bench.datasets.synthcity import generate
from semcom_bench.errors import SemcomError
from semcom_bench.phy import AWGN, QAM, Rayleigh, average_power, make_generator
from semcom_bench.phy.checks import PhyInputError
from semcom_bench.phy.constellation import LearnableConstellation, apsk_points, apsk_rings
from semcom_bench.schemas import read_table
from semcom_bench.schemes.base import SCHEMES
from semcom_bench.schemes.dlm import DLM, SCALE_BITS

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SMALL = dict(cbr=1 / 16, hidden=(8, 8, 8, 8))


def _nearest_gap(symbols: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``(B, N)`` distance of each symbol to its nearest point of ``points`` ``(M,)``."""
    return (symbols.unsqueeze(-1) - points).abs().min(dim=-1).values


def test_registered_and_rebuilds_from_hparams() -> None:
    assert SCHEMES.get("dlm") is DLM
    model = DLM(order=64, hard_from=7, temperature=0.3, **SMALL)
    rebuilt = DLM(**json.loads(json.dumps(model.hparams())))
    assert rebuilt.hparams() == model.hparams()
    rebuilt.load_state_dict(model.state_dict())  # strict: same names and shapes


def test_apsk_initialisation() -> None:
    assert [apsk_rings(m) for m in (4, 16, 64)] == [[4], [4, 12], [4, 12, 20, 28]]
    points = LearnableConstellation(16).points.detach().to(torch.complex128)
    torch.testing.assert_close(points, apsk_points([4, 12]).to(torch.complex128))
    radius = points.abs()
    inner, outer = radius[:4], radius[4:]
    assert float(inner.std()) < 1e-6 and float(outer.std()) < 1e-6
    assert float(outer.mean() / inner.mean()) == pytest.approx(3.0, rel=1e-6)  # DVB-S2 16APSK's ratio range
    # each ring evenly spaced in phase and turned by pi / n: the inner ring is QPSK at 45 degrees
    for ring, n in ((points[:4], 4), (points[4:], 12)):
        phases = torch.sort(torch.remainder(ring.angle(), 2 * math.pi)).values
        expected = (2 * torch.arange(n, dtype=torch.float64) + 1) * math.pi / n
        torch.testing.assert_close(phases, expected, atol=1e-6, rtol=0)
    assert float(points.abs().square().mean()) == pytest.approx(1.0, abs=1e-6)
    assert torch.equal(LearnableConstellation(16, "qam", trainable=False).points, QAM(16).points)
    with pytest.raises(PhyInputError, match="4 R"):
        LearnableConstellation(32)


def test_unit_average_power_after_every_optimiser_step() -> None:
    torch.manual_seed(0)
    model = DLM(order=16, hard_from=4, **SMALL)
    initial = model.constellation.points.detach().clone()
    optimiser = torch.optim.Adam(model.parameters(), lr=5e-2)  # large steps: the raw points move a lot
    images = toy_images(2, 32, 32)
    for step in range(8):  # 4 soft steps, then 4 straight-through steps
        out = model.training_step(images, AWGN(), 0.0, make_generator(step))
        optimiser.zero_grad()
        out["loss"].backward()
        optimiser.step()
        assert float(average_power(model.constellation.points.detach().unsqueeze(0))) == pytest.approx(1.0, abs=1e-5)
    raw_power = float(model.constellation.raw.detach().square().sum(dim=1).mean())
    assert abs(raw_power - 1.0) > 1e-3  # the optimiser changed the scale; the forward normalisation undoes it
    assert float((model.constellation.points.detach() - initial).abs().max()) > 1e-2  # and the geometry did learn
    model.eval()
    with torch.no_grad():
        tx = model.transmit(images, model.cbr)
    torch.testing.assert_close(average_power(tx.symbols), torch.ones(2), rtol=1e-5, atol=1e-5)


def test_inference_sends_only_codebook_points_and_detects_them() -> None:
    torch.manual_seed(0)
    model = DLM(order=16, hard_from=0, **SMALL)
    images = toy_images(3, 32, 64)
    points = model.constellation.points.detach()
    for mode in (True, False):  # what is sent does not depend on the training mode
        model.train(mode)
        with torch.no_grad():
            tx = model.transmit(images, model.cbr)
        # each image's symbols are codebook points times one real positive scale, the header's up to float16
        unscaled = tx.symbols / tx.side["scale"].unsqueeze(1)
        indices = model.constellation.demap(unscaled)
        ratio = tx.symbols / points[indices]
        assert float(ratio.imag.abs().max()) < 1e-5
        torch.testing.assert_close(ratio.real, ratio.real[:, :1].expand_as(ratio.real), rtol=1e-5, atol=0)
        torch.testing.assert_close(ratio.real[:, 0], tx.side["scale"], rtol=1e-3, atol=0)
        # noiseless channel: the receiver's minimum-distance detection recovers every sent index
        features = model.features(images)
        assert torch.equal(indices, model.constellation.assign(features))
    # the stage-2 training forward also sends codebook points only
    z = model.features(images)
    assert float(_nearest_gap(model.constellation.straight_through(z).detach(), points).max()) < 1e-6
    assert float(_nearest_gap(model.constellation.soft(z).detach(), points).max()) > 1e-2  # stage 1 does not


def test_soft_assignment_differentiable_and_straight_through_passes_its_gradient() -> None:
    torch.manual_seed(0)
    block = LearnableConstellation(16)
    z = torch.randn(2, 50, dtype=torch.complex64, requires_grad=True)
    target = torch.randn(2, 50, dtype=torch.complex64)

    def grads(fn):  # gradients of a squared error through the assignment, w.r.t. the features and the points
        block.zero_grad()
        z.grad = None
        ((fn(z) - target).abs().square()).sum().backward()
        return z.grad.clone(), block.raw.grad.clone()

    soft_z, soft_points = grads(block.soft)
    assert float(soft_z.abs().min()) > 0 and float(soft_points.abs().sum()) > 0
    hard_z, hard_points = grads(block.straight_through)
    assert float(hard_z.abs().sum()) > 0 and float(hard_points.abs().sum()) > 0
    # the straight-through backward is the soft assignment's, evaluated at the hard forward's output
    with torch.no_grad():
        hard_out = block.map(block.assign(z))
    z.grad = None
    block.zero_grad()
    soft = block.soft(z)
    (2 * (hard_out - target).conj() * soft).real.sum().backward()  # d|s - t|^2 = 2 Re((s - t)^* ds)
    torch.testing.assert_close(hard_z, z.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("constellation", ["learned", "qam"])
def test_every_parameter_gets_gradients_in_both_stages(constellation: str) -> None:
    torch.manual_seed(0)
    model = DLM(order=16, constellation=constellation, hard_from=1, **SMALL)
    images = toy_images(2, 32, 32)
    for stage in (1, 2):
        model.zero_grad()
        out = model.training_step(images, Rayleigh(), 10.0, make_generator(stage))
        assert float(out["stage"]) == stage
        out["loss"].backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None or float(p.grad.abs().sum()) == 0]
        assert not missing, (stage, missing)


@pytest.mark.parametrize("order", [4, 16, 64, 256])
def test_channel_uses_follow_from_the_order_and_the_bits(order: int) -> None:
    """At 3 payload bits per pixel, N = 3 H W / log2 M symbols: one symbol per log2 M bits, plus a 16-bit header."""
    model = DLM(order=order, bpp=3.0, hidden=(8, 8, 8, 8))
    height, width = 32, 64
    bits = int(3.0 * height * width)
    assert model.payload_bits(height, width) == bits
    assert model.bpp == pytest.approx(3.0)
    with torch.no_grad():
        tx = model.eval().transmit(torch.rand(2, 3, height, width), model.cbr)
    assert tx.lengths.tolist() == [bits // int(math.log2(order))] * 2 == [tx.symbols.shape[1]] * 2
    assert tx.side_bits.tolist() == [SCALE_BITS] * 2
    assert model.cbr == pytest.approx(3.0 / (3 * math.log2(order)))


def test_learned_and_qam_differ_only_in_the_constellation() -> None:
    torch.manual_seed(0)
    learned = DLM(order=16, constellation="learned", **SMALL)
    qam = DLM(order=16, constellation="qam", **SMALL)
    assert type(learned.encoder) is type(qam.encoder) and type(learned.decoder) is type(qam.decoder)
    assert str(learned.encoder) == str(qam.encoder) and str(learned.decoder) == str(qam.decoder)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(learned) - count(qam) == 2 * 16
    names = set(learned.state_dict()) - set(qam.state_dict())
    assert names == {"constellation.raw"} and set(qam.state_dict()) <= set(learned.state_dict())
    qam.load_state_dict({k: v for k, v in learned.state_dict().items() if k != "constellation.raw"})
    images = toy_images(2, 32, 32)
    torch.testing.assert_close(learned.features(images), qam.features(images))  # same encoder, same features
    assert not qam.constellation.trainable
    assert torch.equal(qam.constellation.points, QAM(16).points)


def test_bad_arguments_say_what_to_do() -> None:
    with pytest.raises(SemcomError, match="unknown constellation"):
        DLM(constellation="apsk", **SMALL)
    with pytest.raises(SemcomError, match="cbr or bpp"):
        DLM(bpp=1.0, cbr=0.1)
    with pytest.raises(SemcomError, match="zf"):
        DLM(equalizer="mmse", **SMALL)
    with pytest.raises(PhyInputError, match="unsupported QAM order"):
        DLM(order=8, constellation="qam", **SMALL)


@pytest.fixture(scope="module")
def labels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dlm")
    generate(folder / "city", n=3, seed=5, size=(64, 128))
    annotate(AnnotateConfig(dataset="synthcity", root=str(folder / "city"), split="train",
                            task="pedestrian-collision-warning"), folder / "labels")
    return folder / "labels"


def test_trains_resumes_into_stage_two_and_evaluates_through_the_harness(labels: Path, tmp_path: Path) -> None:
    settings = dict(batch_size=2, lr=5e-3, snr_train=10.0, checkpoint_every=3,
                    hparams={"order": 16, "hard_from": 3, **SMALL})
    losses: list[float] = []
    train("dlm", labels, tmp_path / "run", TrainSettings(steps=3, **settings))
    path = train("dlm", labels, tmp_path / "run", TrainSettings(steps=6, **settings),
                 progress=lambda s: losses.append(s.loss))
    model, payload = load_checkpoint(path, "dlm")  # weights_only=True inside
    assert payload["step"] == 6 and int(model.trained_steps) == 6 and len(losses) == 3
    assert isinstance(model, DLM) and model.constellation.trainable
    results = evaluate([EvalSpec("dlm", [], str(path))], labels, [0.0, 10.0], tmp_path / "results.parquet",
                       device="cpu")
    rows = read_table(results, "results").to_pylist()
    assert len(rows) == 3 * 2
    symbols = model.channels * 64 * 128 // (2 * model.downsample**2)
    for row in rows:
        assert row["side_uses"] > 0  # the 16-bit header is priced by the harness
        assert row["channel_uses"] == symbols + row["side_uses"]
        assert row["cbr"] == pytest.approx(row["channel_uses"] / (3 * 64 * 128))
        assert math.isfinite(row["psnr"]) and not row["nan_output"]


@pytest.mark.parametrize("profile", ["smoke", "paper"])
def test_profiles_build_dlm_on_deepjscc_codec_with_both_stages(profile: str) -> None:
    settings = load_profile(profile, "dlm")
    model = build_scheme("dlm", settings.hparams)
    codec = build_scheme("deepjscc", load_profile(profile, "deepjscc").hparams)
    assert isinstance(model, DLM) and model.constellation.trainable
    assert 0 < model.hard_from < settings.steps  # a soft stage, then a straight-through stage
    assert str(model.encoder) == str(codec.encoder) and model.cbr == codec.cbr
