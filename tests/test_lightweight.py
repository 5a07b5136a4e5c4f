"""Lightweight JSCC (issue 12 scheme 1): L1 sparsity, BN-scale pruning, Algorithm 2, channel uses, the harness."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from toy_scenes import toy_images

from semcom_bench.annotate.pipeline import AnnotateConfig, annotate
from semcom_bench.benchmark.evaluate import EvalSpec, evaluate
from semcom_bench.benchmark.metrics import model_complexity
from semcom_bench.benchmark.report import write_report
from semcom_bench.benchmark.side_info import LDPCRule
from semcom_bench.benchmark.train import TrainSettings, load_checkpoint, train, train_pruned
from semcom_bench.datasets.synthcity import generate
from semcom_bench.errors import SemcomError
from semcom_bench.phy import AWGN, QAM, DigitalLink, Rayleigh, UniformQuantizer, average_power, make_generator
from semcom_bench.phy.digital import MAPPINGS, SCALE_HEADER_BITS
from semcom_bench.schemas import read_table
from semcom_bench.schemes.base import SCHEMES
from semcom_bench.schemes.lightweight import MODULATIONS, LightweightJSCC

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SMALL = dict(hidden=[4, 8, 8, 8, 16])


def test_registered_and_paper_widths() -> None:
    assert SCHEMES.get("lightweight") is LightweightJSCC
    model = LightweightJSCC(cbr=2 / 3)  # Table I
    assert model.latent == 512 and model.hidden == [16, 32, 64, 128, 256] and model.decoder_hidden[::-1] == model.hidden
    assert [bn.num_features for bn in model.batch_norms()] == [512]  # "Conv 6 with BN"
    assert model.decoder[-2].kernel_size == (6, 6)


@pytest.mark.parametrize("modulation", MODULATIONS)
def test_channel_uses_one_symbol_per_feature_and_a_priced_header(modulation: str) -> None:
    torch.manual_seed(0)
    model = LightweightJSCC(cbr=1 / 16, **SMALL).eval()
    model.set_modulation(modulation)
    images = torch.rand(2, 3, 32, 64)
    with torch.no_grad():
        tx = model.transmit(images, model.cbr)
    k = model.latent * 32 * 64 // 256  # one feature per complex symbol, for analog too (Algorithm 2's accounting)
    assert model.latent == 48 and tx.symbols.shape == (2, k) and tx.lengths.tolist() == [k, k]
    assert k / (3 * 32 * 64) == pytest.approx(1 / 16)
    assert tx.bits().tolist() == [SCALE_HEADER_BITS] * 2  # the per-image power factor
    torch.testing.assert_close(average_power(tx.symbols), torch.ones(2), rtol=1e-5, atol=1e-5)
    if modulation != "analog":  # every symbol is a point of the M-QAM, scaled by the header's factor
        points = QAM(int(modulation.removesuffix("qam"))).points
        unscaled = tx.symbols / tx.side["scale"].unsqueeze(1)
        assert float((unscaled.unsqueeze(-1) - points).abs().min(dim=-1).values.max()) < 1e-5
    else:
        assert bool((tx.symbols.imag == 0).all())


@pytest.mark.parametrize("mapping", MAPPINGS)
@pytest.mark.parametrize("order", [4, 16, 64, 256])
def test_algorithm2_round_trips_losslessly_at_high_snr(order: int, mapping: str) -> None:
    z = torch.rand((3, 4096), generator=make_generator(order))
    link = DigitalLink(order, mapping=mapping)
    for channel in (AWGN(), Rayleigh()):
        assert torch.equal(link(z, channel, 100.0, make_generator(1)), UniformQuantizer(order)(z))


def test_raster_mapping_puts_neighbouring_levels_on_neighbouring_points() -> None:
    qam = QAM(256)
    levels = (torch.arange(256.0)[None] + 0.5) / 256
    raster = DigitalLink(256, normalize_power=False).modulate(levels)[0][0]
    grid, spacing = raster.reshape(16, 16), 2 / qam.scale  # rows of 16 consecutive levels
    torch.testing.assert_close((grid[:, 1:] - grid[:, :-1]).abs(), torch.full((16, 15), spacing))
    torch.testing.assert_close((grid[1:] - grid[:-1]).abs(), torch.full((15, 16), spacing))
    gray = DigitalLink(256, mapping="gray-label", normalize_power=False).modulate(levels)[0][0]
    torch.testing.assert_close(gray, qam.points)  # gray-label: level j on the point labelled j
    assert float((gray[1:] - gray[:-1]).abs().max()) > 8 * spacing  # there neighbouring levels can lie far apart


def test_l1_on_bn_scales_drives_them_toward_zero() -> None:
    images = toy_images(8, 32, 64)
    scales = {}
    for l1 in (0.0, 3e-2):
        torch.manual_seed(0)
        model = LightweightJSCC(cbr=1 / 16, **SMALL, l1=l1)
        optimiser = torch.optim.Adam(model.parameters(), lr=5e-3)
        for step in range(100):
            out = model.training_step(images, Rayleigh(), 25.0, make_generator(step))
            optimiser.zero_grad()
            out["loss"].backward()
            optimiser.step()
        scales[l1] = model.batch_norms()[0].weight.detach().abs()
    assert float(scales[0.0].mean()) > 0.8  # BN scales start at 1; MSE alone keeps them there
    assert float(scales[3e-2].mean()) < 0.6 and float(scales[3e-2].max()) < float(scales[0.0].min())


@pytest.mark.parametrize("bn", ["last", "all"])
def test_pruning_removes_exactly_the_smallest_scales(bn: str) -> None:
    torch.manual_seed(0)
    model = LightweightJSCC(cbr=1 / 16, **SMALL, bn=bn)
    with torch.no_grad():
        for norm in model.batch_norms():
            norm.weight.copy_(torch.randn(norm.num_features))
    before = [norm.weight.detach().clone() for norm in model.batch_norms()]
    every = torch.cat(before).abs()
    keep = int(len(every) * (1 - 0.5))
    threshold = torch.sort(every, descending=True).values[keep - 1]  # the smallest kept |eta|, ranked globally
    image = torch.rand(1, 3, 32, 64)
    complexity = model_complexity(model, image)
    model.prune(0.5, image)
    after = [norm.weight.detach() for norm in model.batch_norms()]
    assert model.prunable_channels() == keep
    for old, new in zip(before, after, strict=True):
        torch.testing.assert_close(new, old[old.abs() >= threshold])  # the largest, in their order
    pruned = model_complexity(model, image)
    assert pruned["params"] < complexity["params"] and pruned["macs"] < complexity["macs"]
    assert model.latent == len(after[-1] if bn == "last" else after[5])
    rebuilt = LightweightJSCC(**json.loads(json.dumps(model.hparams())))
    rebuilt.load_state_dict(model.state_dict())  # strict: the hparams hold the pruned widths
    model.eval()
    tx = model.transmit(image, model.cbr)
    y, state = Rayleigh()(tx.symbols, 25.0, make_generator(0))
    assert model.receive(y, tx, state).shape == image.shape
    assert tx.symbols.shape[1] == model.latent * 32 * 64 // 256  # fewer latent channels: fewer symbols


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(SemcomError, match="unknown modulation"):
        LightweightJSCC(cbr=1 / 16).set_modulation("8psk")
    with pytest.raises(SemcomError, match="disagree"):
        LightweightJSCC(cbr=1 / 16, latent=40)
    with pytest.raises(SemcomError, match=r"\[0, 1\)"):
        LightweightJSCC(cbr=1 / 16, **SMALL).prune(1.0, torch.rand(1, 3, 32, 32))


@pytest.fixture(scope="module")
def labels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lightweight")
    generate(folder / "city", n=4, seed=5, size=(64, 128))
    annotate(AnnotateConfig(dataset="synthcity", root=str(folder / "city"), split="train",
                            task="pedestrian-collision-warning"), folder / "labels")
    return folder / "labels"


def _pruned(labels: Path, out: Path) -> Path:
    settings = TrainSettings(steps=3, batch_size=2, lr=1e-3, snr_train=25.0, channel="rayleigh", checkpoint_every=2,
                             prune_rounds=2, finetune_steps=2, hparams={"cbr": 1 / 16, **SMALL, "l1": 1e-3})
    return train_pruned("lightweight", labels, out, settings, 0.5, "smoke")


def test_pruned_checkpoint_reloads_and_evaluates_per_modulation(labels: Path, tmp_path: Path) -> None:
    path = _pruned(labels, tmp_path / "run")
    sparse, _ = load_checkpoint(tmp_path / "run" / "sparse")
    model, payload = load_checkpoint(path, "lightweight")  # weights_only: the pruned widths come from hparams
    assert payload["step"] == 2 and payload["hparams"]["l1"] == 0.0  # fine-tuned with the MSE alone
    assert payload["prune_ratio"] == 0.5 and payload["pruned_from"] == str((tmp_path / "run" / "round-1" /
                                                                            "checkpoint.pt").resolve())
    assert model.latent == 24 == sparse.latent // 2 and model.hparams()["cbr"] == pytest.approx(1 / 32)
    assert (tmp_path / "run" / "round-1" / "checkpoint.pt").is_file()
    assert load_checkpoint(tmp_path / "run" / "round-1")[0].latent == 36  # round 1 of 2: a quarter removed
    assert _pruned(labels, tmp_path / "run") == path  # a finished run resumes to the same checkpoint
    out = tmp_path / "r.parquet"
    specs = [EvalSpec("lightweight", [], str(path), modulation=m) for m in ("analog", "16qam")]
    evaluate(specs, labels, [5.0], out, channel="rayleigh", limit=2, device="cpu")
    rows = read_table(out, "results").to_pylist()
    assert sorted(r["config"] for r in rows) == ["smoke pruned 0.5; 16qam"] * 2 + ["smoke pruned 0.5; analog"] * 2
    side = LDPCRule().channel_uses(SCALE_HEADER_BITS, 5.0)
    assert {r["channel_uses"] for r in rows} == {24 * 64 * 128 // 256 + side}
    assert {r["side_uses"] for r in rows} == {side}
    assert {r["params"] for r in rows} == {sum(p.numel() for p in model.parameters())}
    assert rows[0]["params"] < sum(p.numel() for p in sparse.parameters())
    written = write_report(out, tmp_path / "report")  # Fig. 4: one model's modulations in a plot of their own
    short = rows[0]["model"].removeprefix("sha256:")[:8]
    assert f"configs_{short}_rayleigh.png" in {p.name for p in written["plots"]}
    assert len(written["models"]) == 2 and {r["params"] for r in written["models"]} == {rows[0]["params"]}
    other = train("deepjscc", labels, tmp_path / "deepjscc", TrainSettings(steps=1, batch_size=1, lr=1e-3,
                                                                            snr_train=10.0, hparams={"cbr": 1 / 16}))
    with pytest.raises(SemcomError, match="no modulation choice"):
        evaluate([EvalSpec("deepjscc", [], str(other), modulation="16qam")], labels, [5.0], out, limit=1)


def test_modulation_reaches_the_model_through_the_cli(labels: Path, tmp_path: Path) -> None:
    path = _pruned(labels, tmp_path / "run")
    out = tmp_path / "cli.parquet"
    common = dict(snrs=[20.0], out=out, channel="rayleigh", limit=2, device="cpu")
    evaluate([EvalSpec("lightweight", [], str(path))], labels, **common)  # no modulation: analog
    done = subprocess.run([sys.executable, "-m", "semcom_bench", "bench", "eval", "--scheme", "lightweight",
                           "--labels", str(labels), "--out", str(out), "--checkpoint", str(path), "--snr", "20",
                           "--channel", "rayleigh", "--limit", "2", "--device", "cpu", "--modulation", "4qam"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = read_table(out, "results").to_pylist()
    psnr = {m: sorted((r["image_id"], r["psnr"]) for r in rows if r["config"] == f"smoke pruned 0.5; {m}")
            for m in ("analog", "4qam")}
    assert len(psnr["analog"]) == len(psnr["4qam"]) == 2  # two curves, the analog rows kept
    assert psnr["analog"] != psnr["4qam"]  # 4 levels per feature reconstruct otherwise than analog features
    with pytest.raises(SemcomError, match="unknown modulation"):
        evaluate([EvalSpec("lightweight", [], str(path), modulation="32qam")], labels, **common)


def test_ties_in_the_scales_still_prune_exactly_the_ratio() -> None:
    model = LightweightJSCC(cbr=1 / 16, **SMALL)  # BN scales start equal (1.0), as near-equal after L1 under Adam
    model.prune(0.7, torch.rand(1, 3, 32, 32))
    assert model.latent == 14  # floor(48 * 0.3) kept
