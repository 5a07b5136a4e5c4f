"""The benchmark harness with a tiny scheme of the test's own: training, resume, evaluation, bad inputs, report."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from semcom_bench.annotate.pipeline import AnnotateConfig, annotate
from semcom_bench.benchmark import metrics
from semcom_bench.benchmark.data import BenchmarkData
from semcom_bench.benchmark.evaluate import EvalSpec, evaluate, pair_seed, separation_specs
from semcom_bench.benchmark.side_info import CapacityRule, LDPCRule
from semcom_bench.benchmark import report
from semcom_bench.benchmark.report import at_cbr, summarize, write_report
from semcom_bench.benchmark.train import TrainSettings, load_checkpoint, resolve_device, train
from semcom_bench.datasets.synthcity import generate
from semcom_bench.errors import SemcomError, ShapeMismatchError
from semcom_bench.phy.base import Channel, ChannelState
from semcom_bench.phy.power import normalize_power
from semcom_bench.schemas import LabelSet, read_table, write_table
from semcom_bench.schemes.base import SCHEMES, Scheme, TrainableScheme, Transmission, TransmitterLabels


@SCHEMES.register("test-tiny")
class TinyJSCC(TrainableScheme):
    """A two-layer conv autoencoder: 4x4 patches of 48 values -> ``symbols`` complex symbols each."""

    def __init__(self, symbols: int = 6, nan_first: bool = False, side_bits: int = 0) -> None:
        super().__init__()
        self.symbols, self.nan_first, self.side_bits = symbols, nan_first, side_bits
        self.enc = torch.nn.Conv2d(3, 2 * symbols, 4, stride=4)
        self.dec = torch.nn.ConvTranspose2d(2 * symbols, 3, 4, stride=4)

    def hparams(self) -> dict[str, Any]:
        return {"symbols": self.symbols, "nan_first": self.nan_first, "side_bits": self.side_bits}

    def transmit(self, images: torch.Tensor, rate: float, labels: Any | None = None) -> Transmission:
        z = self.enc(images)
        self._shape = z.shape
        flat = z.flatten(1)
        x = normalize_power(torch.complex(flat[:, ::2], flat[:, 1::2]))
        batch = x.shape[0]
        side = torch.full((batch,), self.side_bits, dtype=torch.int64) if self.side_bits else None
        return Transmission(x, torch.full((batch,), x.shape[1], dtype=torch.int64), side_bits=side)

    def receive(self, received: torch.Tensor, transmission: Transmission, state: ChannelState) -> torch.Tensor:
        real = torch.stack([received.real, received.imag], dim=-1).flatten(1).reshape(self._shape)
        out = torch.sigmoid(self.dec(real))
        if self.nan_first and not self.training:  # a model that breaks at evaluation time
            out = out.clone()
            out[0] = float("nan")
        return out

    def training_step(self, images: torch.Tensor, channel: Channel, snr_db: float,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        tx = self.transmit(images, 0.0)
        y, state = channel(tx.symbols, snr_db, generator)
        mse = torch.mean((self.receive(y, tx, state) - images) ** 2)
        return {"loss": mse, "mse": mse}


@SCHEMES.register("test-peek")
class PeekingScheme(Scheme):
    """Sends ones; its receiver notes what it was handed besides the received symbols."""

    seen: list[tuple[int, ...]] = []

    def transmit(self, images: torch.Tensor, rate: float, labels: Any | None = None) -> Transmission:
        batch = images.shape[0]
        return Transmission(torch.ones(batch, 64, dtype=torch.complex64), torch.full((batch,), 64),
                            side={"size": tuple(images.shape[-2:])}, side_bits=torch.full((batch,), 8))

    def receive(self, received: torch.Tensor, transmission: Transmission, state: ChannelState) -> torch.Tensor:
        PeekingScheme.seen.append(tuple(transmission.symbols.shape))
        return torch.full((received.shape[0], 3, *transmission.side["size"]), 0.5)


SETTINGS = dict(batch_size=2, lr=5e-3, snr_train=10.0, checkpoint_every=2)


def make_labels(folder: Path, n: int, size: tuple[int, int], seed: int) -> Path:
    root = folder / f"city-{seed}-{size[0]}"
    generate(root, n=n, seed=seed, size=size)
    annotate(AnnotateConfig(dataset="synthcity", root=str(root), split="train", task="pedestrian-collision-warning"),
             folder / f"labels-{seed}-{size[0]}")
    return folder / f"labels-{seed}-{size[0]}"


@pytest.fixture(scope="module")
def labels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_labels(tmp_path_factory.mktemp("bench"), 5, (64, 128), 3)


def test_training_lowers_the_loss_and_resumes_exactly(labels: Path, tmp_path: Path) -> None:
    losses: list[float] = []
    straight = train("test-tiny", labels, tmp_path / "straight", TrainSettings(steps=12, **SETTINGS),
                     progress=lambda s: losses.append(s.loss))
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    train("test-tiny", labels, tmp_path / "broken", TrainSettings(steps=6, **SETTINGS))
    resumed = train("test-tiny", labels, tmp_path / "broken", TrainSettings(steps=12, **SETTINGS))
    a, payload = load_checkpoint(straight)
    b, _ = load_checkpoint(resumed)
    assert payload["step"] == 12 and payload["resolution"] == [64, 128]
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.allclose(p, q, atol=1e-6), name


def test_checkpoint_of_another_scheme_is_refused(labels: Path, tmp_path: Path) -> None:
    path = train("test-tiny", labels, tmp_path / "run", TrainSettings(steps=2, **SETTINGS))
    with pytest.raises(SemcomError, match="checkpoint of scheme 'test-tiny', not 'deepjscc'"):
        load_checkpoint(path, "deepjscc")
    with pytest.raises(SemcomError, match="another hparams"):
        train("test-tiny", labels, tmp_path / "run", TrainSettings(steps=4, **SETTINGS, hparams={"symbols": 3}))


def test_the_receiver_is_handed_no_clean_symbols(labels: Path, tmp_path: Path) -> None:
    PeekingScheme.seen.clear()
    evaluate([EvalSpec("test-peek", [1.0])], labels, [0.0, 10.0], tmp_path / "r.parquet", batch_size=2, limit=2)
    assert PeekingScheme.seen and all(shape[1] == 0 for shape in PeekingScheme.seen), PeekingScheme.seen
    rows = read_table(tmp_path / "r.parquet", "results").to_pylist()
    assert all(r["channel_uses"] > 64 for r in rows)  # lengths and side bits still reach the harness's count


def test_gradient_clipping_binds_only_above_its_norm(labels: Path, tmp_path: Path) -> None:
    def weights(name: str, clip: float | None) -> dict[str, torch.Tensor]:
        path = train("test-tiny", labels, tmp_path / name, TrainSettings(steps=4, **SETTINGS, clip_grad_norm=clip))
        return load_checkpoint(path)[0].state_dict()

    plain, loose, tight = weights("plain", None), weights("loose", 1e9), weights("tight", 1e-9)
    assert all(torch.equal(plain[k], loose[k]) for k in plain)  # a norm never reached changes nothing
    # Adam's step is scale-free except for its eps (1e-8): gradients clipped far below it barely move the weights
    assert not all(torch.equal(plain[k], tight[k]) for k in plain)
    with pytest.raises(SemcomError, match="clip_grad_norm"):
        weights("bad", 0.0)


def test_eval_rows_pairing_nan_and_report(labels: Path, tmp_path: Path) -> None:
    ckpt = train("test-tiny", labels, tmp_path / "run", TrainSettings(steps=4, **SETTINGS), "a")
    nan_ckpt = train("test-tiny", labels, tmp_path / "nan", TrainSettings(steps=2, **SETTINGS, hparams={"nan_first": True}),
                     "nan")
    out = tmp_path / "results.parquet"
    evaluate([EvalSpec("test-tiny", [0.1], str(ckpt))], labels, [0.0, 10.0], out, batch_size=2)
    evaluate([EvalSpec("test-tiny", [0.1], str(nan_ckpt))], labels, [0.0, 10.0], out, batch_size=2)
    rows = read_table(out, "results").to_pylist()
    assert len(rows) == 2 * 5 * 2  # two schemes x five images x two SNRs, the first run's rows kept
    good = [r for r in rows if r["config"] == "a"]  # a checkpoint's config is its training profile
    assert all(r["channel_uses"] == 6 * 16 * 32 and math.isclose(r["cbr"], 6 * 16 * 32 / (3 * 64 * 128)) for r in good)
    assert all(r["side_uses"] == 0 and r["side_rule"] == "ldpc" for r in rows)
    # 4x4 conv to 12 channels and back on 64x128: 2 * (16 * 32 positions) * 12 * 48 MACs; weights and biases.
    assert all(r["params"] == 2 * 12 * 48 + 12 + 3 and r["macs"] == 2 * 16 * 32 * 12 * 48 for r in good)
    by_key = {(r["config"], r["image_id"], r["snr_db"]): r for r in rows}
    for (config, image_id, snr), r in by_key.items():
        assert r["seed"] == pair_seed(0, image_id, snr) == by_key[("a", image_id, snr)]["seed"]  # paired draws
    low, high = (np.mean([r["psnr"] for r in good if r["snr_db"] == s]) for s in (0.0, 10.0))
    assert high > low
    summary = [s for s in summarize(out) if s["config"] == "a" and s["snr_db"] == 10.0][0]
    sse = sum(r["sse"] for r in good if r["snr_db"] == 10.0)
    pixels = sum(r["pixels"] for r in good if r["snr_db"] == 10.0)
    assert math.isclose(summary["psnr"], 10 * math.log10(255**2 / (sse / (3 * pixels))))
    written = write_report(out, tmp_path / "report")
    assert {p.name for p in written["plots"]} >= {"psnr_vs_snr.png", "tc_psnr_vs_cbr.png", "psnr_per_tier.png",
                                                  "ssim_vs_snr.png"}
    assert all(p.stat().st_size > 1000 for p in written["plots"])
    models = (tmp_path / "report" / "models.csv").read_text().splitlines()  # Table II's columns, both models
    assert models[0].startswith("curve,channel,snr_db,params,size_mib,macs") and len(models) == 3
    cbr = good[0]["cbr"]
    done = subprocess.run([sys.executable, "-m", "semcom_bench", "bench", "report", str(out), "--out",
                           str(tmp_path / "cli-report"), "--at-cbr", str(cbr)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    at_table = done.stdout[done.stdout.index(f"at CBR {cbr:.4g}"):]
    assert f"{summary['psnr']:.4g}" in at_table  # config a at 10 dB, read at its own CBR
    line = next(line for line in at_table.splitlines() if f"{summary['psnr']:.4g}" in line)
    assert all(f"{summary[m]:.4g}" in line for m in ("tc_psnr", "psnr_tier3") if summary[m] is not None)


def test_nan_reconstructions_are_pooled_as_failed_decodes(labels: Path, tmp_path: Path) -> None:
    """A NaN output is scored as the mid-grey image and pooled (metrics.py: failures cannot be averaged away)."""
    nan_ckpt = train("test-tiny", labels, tmp_path / "nan", TrainSettings(steps=2, **SETTINGS, hparams={"nan_first": True}))
    out = tmp_path / "results.parquet"
    evaluate([EvalSpec("test-tiny", [0.1], str(nan_ckpt))], labels, [10.0], out, batch_size=2)
    rows = read_table(out, "results").to_pylist()
    nan_rows = [r for r in rows if r["nan_output"]]
    assert len(nan_rows) == 3  # batch heads: images 0, 2, 4
    data = BenchmarkData(labels)
    for r in nan_rows:
        image = data[data.image_ids.index(r["image_id"])].image
        grey = np.full_like(image, 128)  # 0.5 quantised as every metric does
        assert r["sse"] == float(((image.astype(np.float64) - grey) ** 2).sum())
        assert math.isfinite(r["psnr"])
    (entry,) = summarize(out)
    assert entry["nan_output"] == 3 and math.isfinite(entry["psnr"])
    assert entry["psnr"] == pytest.approx(metrics.pooled_psnr(sum(r["sse"] for r in rows), sum(r["pixels"] for r in rows)))
    clean = [r for r in rows if not r["nan_output"]]
    assert entry["psnr"] < metrics.pooled_psnr(sum(r["sse"] for r in clean), sum(r["pixels"] for r in clean))


def test_resolution_mismatch_is_refused(labels: Path, tmp_path: Path) -> None:
    ckpt = train("test-tiny", labels, tmp_path / "run", TrainSettings(steps=2, **SETTINGS))
    bigger = make_labels(tmp_path, 2, (128, 256), 4)
    with pytest.raises(ShapeMismatchError, match="trained at"):
        evaluate([EvalSpec("test-tiny", [0.1], str(ckpt))], bigger, [10.0], tmp_path / "r.parquet")


def test_label_set_without_task_masks_names_the_task(labels: Path, tmp_path: Path) -> None:
    copy = LabelSet.create(tmp_path / "copy", {"dataset": "synthcity", "split": "train",
                                               "config": LabelSet.open(labels).manifest["config"]})
    for name in ("images", "patches"):
        copy.write(name, LabelSet.open(labels).read(name))
    write_table("task_masks", LabelSet.open(labels).read("task_masks").slice(0, 0), copy.table_path("task_masks"))
    with pytest.raises(SemcomError, match="no task mask for task 'pedestrian-collision-warning'"):
        evaluate([EvalSpec("capacity", [0.1])], tmp_path / "copy", [10.0], tmp_path / "r.parquet")


def test_evaluation_resumes_finished_configurations(labels: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from semcom_bench.benchmark import evaluate as evaluate_module

    out = tmp_path / "results.parquet"
    spec = EvalSpec("capacity", [0.1], options={"codec": "hevc"}, config="hevc at capacity")
    evaluate([spec], labels, [3.0], out, limit=2)
    before = read_table(out, "results").to_pylist()

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished configuration was evaluated again")

    monkeypatch.setattr(evaluate_module, "_bound_rows", refuse)
    evaluate([spec], labels, [3.0], out, limit=2)
    assert repr(read_table(out, "results").to_pylist()) == repr(before)  # repr: NaN columns compare equal
    with pytest.raises(AssertionError, match="evaluated again"):
        evaluate([spec], labels, [3.0], out, limit=2, force=True)


def test_ntscc_evaluation_draws_code_length_heatmaps(labels: Path, tmp_path: Path) -> None:
    from semcom_bench.benchmark.train import load_profile

    settings = load_profile("smoke", "ntscc")
    settings.steps, settings.batch_size = 2, 2
    ckpt = train("ntscc", labels, tmp_path / "ntscc", settings)
    out = tmp_path / "results.parquet"
    evaluate([EvalSpec("ntscc", [0.3], str(ckpt), config="smoke")], labels, [10.0], out, batch_size=2, limit=2)
    rows = read_table(out, "results").to_pylist()
    assert len(rows) == 2 and all(r["channel_uses"] > 0 for r in rows)
    pngs = sorted((tmp_path / "results-heatmaps").glob("*.png"))
    assert len(pngs) == 2 and all(p.stat().st_size > 2000 for p in pngs)


def test_curves_are_read_at_equal_cbr_without_extrapolation() -> None:
    def entry(scheme: str, config: str, cbr: float, psnr: float, snr: float = 3.0) -> dict[str, object]:
        return {"scheme": scheme, "config": config, "model": "", "side_rule": "ldpc", "channel": "awgn",
                "snr_db": snr, "cbr": cbr, "psnr": psnr, "rate": cbr}

    summary = [
        entry("ntscc", "smoke", 0.04, 20.0), entry("ntscc", "smoke", 0.08, 24.0), entry("ntscc", "smoke", 0.02, 17.0),
        entry("ntscc", "smoke", 0.04, 10.0, snr=-3.0),  # one point only at this SNR
        entry("deepjscc", "smoke", 0.0625, 22.0),
        entry("separation", "hevc r1/2 16qam", 0.0625, 30.0),  # a grid point: read through its best-of-grid row
        entry("separation (best)", "best: hevc r1/2 16qam", 0.0625, 30.0),
        entry("separation (best)", "best: hevc r2/3 64qam", 0.0201, 12.0),  # another winner at another CBR
    ]
    assert [r["value"] for r in at_cbr(summary, 0.0625) if r["scheme"] == "separation (best)"] == [30.0]  # one curve
    rows = {(r["scheme"], r["snr_db"]): r["value"] for r in at_cbr(summary, 0.0625)}
    assert rows[("ntscc", 3.0)] == pytest.approx(20.0 + 4.0 * (0.0625 - 0.04) / 0.04)
    assert rows[("ntscc", -3.0)] is None  # 0.04 alone does not reach 0.0625
    assert rows[("deepjscc", 3.0)] == 22.0 and rows[("separation (best)", 3.0)] == 30.0
    assert ("separation", 3.0) not in rows
    assert {r["value"] for r in at_cbr(summary, 0.1)} == {None}  # beyond every curve
    near = {(r["scheme"], r["snr_db"]): r["value"] for r in at_cbr(summary, 0.0401)}
    assert near[("ntscc", 3.0)] == 20.0 and near[("ntscc", -3.0)] == 10.0  # within 1 %: the point itself


def test_model_table_and_separation_crossings_follow_the_curves() -> None:
    def entry(scheme: str, config: str, snr: float, psnr: float, cbr: float = 0.1667, model: str = "sha256:aa",
              params: int | None = 1000) -> dict[str, object]:
        return {"scheme": scheme, "config": config, "model": model, "side_rule": "ldpc", "channel": "rayleigh",
                "snr_db": snr, "cbr": cbr, "psnr": psnr, "ssim": psnr / 100, "rate": cbr, "params": params,
                "macs": 5_000_000 if params else None}

    jscc = {0.0: 12.0, 5.0: 15.0, 10.0: 18.0, 15.0: 19.0, 25.0: 19.5}  # flat above 10 dB: the JSCC plateau
    sep = {0.0: 5.0, 5.0: 9.0, 10.0: 16.0, 15.0: 21.0, 25.0: 30.0}
    summary = [entry("lightweight", "smoke; analog", s, v, cbr=0.1681) for s, v in jscc.items()]
    summary += [entry("lightweight", "smoke; 4qam", s, v - 6.0, cbr=0.1681) for s, v in jscc.items()]
    summary += [entry("lightweight", "smoke; analog", s, 25.0, model="sha256:bb", params=400, cbr=0.0834)
                for s in jscc]  # above separation at every SNR, but at a CBR no baseline was run at
    summary += [entry("separation (best)", "best: hevc", s, v, cbr=0.16, model="", params=None) for s, v in sep.items()]
    summary.append(entry("separation (best)", "best: hevc", 25.0, 40.0, cbr=0.5, model="", params=None))
    rows = {r["curve"]: r for r in report.models_at(summary)}
    assert set(rows) == {"lightweight smoke; analog aa [rayleigh]", "lightweight smoke; 4qam [rayleigh]",
                         "lightweight smoke; analog bb [rayleigh]"}  # learned curves only, at the top SNR
    top = rows["lightweight smoke; analog aa [rayleigh]"]
    assert top["snr_db"] == 25.0 and top["psnr"] == 19.5 and top["size_mib"] == 1000 * 4 / 2**20
    assert report.models_at(summary, 5.0)[0]["snr_db"] == 5.0

    cross = {(r["curve"], r["metric"]): r for r in report.crossings(summary) + report.crossings(summary, "ssim")}
    analog = cross[("lightweight smoke; analog aa [rayleigh]", "psnr")]
    # 10 dB: +2; 15 dB: -2 -> the difference reaches 0 half-way
    assert analog["snr_db"] == pytest.approx(12.5) and analog["separation_cbr"] == 0.16 and analog["above"]
    assert cross[("lightweight smoke; analog aa [rayleigh]", "ssim")]["snr_db"] == pytest.approx(12.5)
    qam = cross[("lightweight smoke; 4qam [rayleigh]", "psnr")]  # 6 dB lower: 12 - 6 > 5, 15 - 6 = 9
    assert qam["snr_db"] == pytest.approx(5.0) and qam["above"]
    assert not any(curve.startswith("lightweight smoke; analog bb") for curve, _ in cross)  # no baseline at its CBR
    assert report.crossing({0.0: 1.0, 5.0: 2.0}, {0.0: 0.0, 5.0: 1.0}) is None  # never falls below
    assert report.crossing({0.0: 0.0, 5.0: 2.0}, {0.0: 1.0, 5.0: 1.0}) is None  # rises above: not Fig. 3's crossing


def test_devices_are_resolved_or_refused_clearly() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    for bad, words in (("tpu", "unknown device"), ("meta", "not supported")):
        with pytest.raises(SemcomError, match=words) as err:
            resolve_device(bad)
        assert "cpu" in err.value.hint
    if not torch.cuda.is_available():
        with pytest.raises(SemcomError, match="no CUDA GPU") as err:
            resolve_device("cuda")
        assert "--device cpu" in err.value.hint


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_training_and_evaluation_match_the_cpu(labels: Path, tmp_path: Path) -> None:
    runs = {}
    for device in ("cpu", "cuda"):
        ckpt = train("test-tiny", labels, tmp_path / device, TrainSettings(steps=4, **SETTINGS, device=device))
        out = tmp_path / f"{device}.parquet"
        evaluate([EvalSpec("test-tiny", [0.1], str(ckpt))], labels, [0.0, 10.0], out, device=device)
        runs[device] = read_table(out, "results").to_pylist()
    cpu_weights, _ = load_checkpoint(tmp_path / "cpu")
    gpu_weights, _ = load_checkpoint(tmp_path / "cuda")  # saved from the GPU, loaded on the CPU
    for p, q in zip(cpu_weights.state_dict().values(), gpu_weights.state_dict().values(), strict=True):
        assert torch.allclose(p, q, atol=1e-4)
    for a, b in zip(runs["cpu"], runs["cuda"], strict=True):
        assert a["channel_uses"] == b["channel_uses"] and abs(a["psnr"] - b["psnr"]) < 0.05


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "semcom_bench", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_a_later_eval_keeps_earlier_rows_and_a_rerun_replaces_only_its_own(labels: Path, tmp_path: Path) -> None:
    ckpt = train("test-tiny", labels, tmp_path / "run", TrainSettings(steps=2, **SETTINGS), "smoke")
    out = tmp_path / "r.parquet"
    evaluate([EvalSpec("test-tiny", [0.1], str(ckpt))], labels, [5.0], out, limit=2)
    evaluate([EvalSpec("test-tiny", [0.1], str(ckpt))], labels, [7.0], out, limit=2)
    rows = read_table(out, "results").to_pylist()
    assert sorted(r["snr_db"] for r in rows) == [5.0, 5.0, 7.0, 7.0]  # the SNR-5 rows survive the SNR-7 eval
    first = {r["image_id"]: r["encode_s"] for r in rows if r["snr_db"] == 5.0}
    evaluate([EvalSpec("test-tiny", [0.1], str(ckpt))], labels, [5.0], out, limit=2, force=True)
    again = read_table(out, "results").to_pylist()
    assert len(again) == 4 and sorted(r["snr_db"] for r in again) == [5.0, 5.0, 7.0, 7.0]  # replaced, not duplicated
    assert {r["image_id"] for r in again if r["snr_db"] == 5.0} == set(first)


def test_two_processes_writing_one_results_file_keep_each_others_rows(labels: Path, tmp_path: Path) -> None:
    out = tmp_path / "shared.parquet"
    rates = ",".join(f"{0.05 + 0.01 * i:.2f}" for i in range(8))  # eight merges per process
    procs = [_cli("bench", "eval", "--scheme", "capacity", "--labels", str(labels), "--out", str(out), "--limit", "2",
                  "--rate", rates, "--snr", snr) for snr in ("3", "9")]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    rows = read_table(out, "results").to_pylist()
    assert len(rows) == 2 * 8 * 2  # both processes' rows, none lost
    assert {(r["snr_db"], round(r["rate"], 2)) for r in rows} == {(s, round(0.05 + 0.01 * i, 2))
                                                                 for s in (3.0, 9.0) for i in range(8)}


def test_one_checkpoint_is_one_model_whatever_path_was_typed(labels: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    ckpt = train("test-tiny", labels, run, TrainSettings(steps=2, **SETTINGS), "smoke")
    out = tmp_path / "r.parquet"
    evaluate([EvalSpec("test-tiny", [0.1], str(ckpt))], labels, [5.0], out, limit=2)
    evaluate([EvalSpec("test-tiny", [0.1], str(run))], labels, [5.0], out, limit=2, force=True)
    rows = read_table(out, "results").to_pylist()
    assert len(rows) == 2  # the folder and the file are one model: the second run replaced the first's rows
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert {r["model"] for r in rows} == {f"sha256:{digest[:16]}"} and {r["config"] for r in rows} == {"smoke"}
    assert [entry["scheme"] for entry in summarize(out)] == ["test-tiny"]  # one curve
    train("test-tiny", labels, run, TrainSettings(steps=4, **SETTINGS), "smoke")  # new weights: a new model
    evaluate([EvalSpec("test-tiny", [0.1], str(run))], labels, [5.0], out, limit=2)
    assert len({r["model"] for r in read_table(out, "results").to_pylist()}) == 2


def test_separation_best_is_picked_per_cbr(labels: Path, tmp_path: Path) -> None:
    out = tmp_path / "sep.parquet"
    specs = [spec for cbr in (1 / 8, 1 / 2) for spec in separation_specs(cbr)]
    evaluate(specs, labels, [20.0], out, limit=1)
    best = [e for e in summarize(out) if e["scheme"] == "separation (best)"]
    assert sorted(e["rate"] for e in best) == [1 / 8, 1 / 2]  # one best configuration per CBR
    low = {e["config"]: e["psnr"] for e in summarize(out) if e["scheme"] == "separation" and e["rate"] == 1 / 8}
    assert next(e for e in best if e["rate"] == 1 / 8)["psnr"] == max(low.values())
    values = {r["value"] for r in at_cbr(summarize(out), 1 / 8) if r["scheme"] == "separation (best)"}
    assert values == {max(low.values())}  # --at-cbr reads the lower-CBR point


def test_side_information_is_priced_by_the_harness_rule(labels: Path, tmp_path: Path) -> None:
    ckpt = train("test-tiny", labels, tmp_path / "run", TrainSettings(steps=2, **SETTINGS, hparams={"side_bits": 384}))
    out = tmp_path / "r.parquet"
    snrs = [-3.0, 0.0, 10.0]
    for rule in ("ldpc", "capacity"):
        evaluate([EvalSpec("test-tiny", [0.1], str(ckpt))], labels, snrs, out, limit=2, side_rule=rule)
    rows = read_table(out, "results").to_pylist()
    assert len(rows) == 2 * 3 * 2  # the two rules are two sets of rows
    ldpc, capacity = LDPCRule(), CapacityRule()
    for r in rows:
        price = (ldpc if r["side_rule"] == "ldpc" else capacity).channel_uses(384, r["snr_db"])
        assert r["side_uses"] == price and r["channel_uses"] == 6 * 16 * 32 + price
    at = {(r["side_rule"], r["snr_db"]): r["side_uses"] for r in rows}
    assert at[("capacity", -3.0)] == math.ceil(384 / math.log2(1 + 10**-0.3))
    assert at[("ldpc", -3.0)] > at[("capacity", -3.0)] > 384 / 2  # a fixed 2 bits per use understates it
    assert at[("ldpc", 10.0)] < at[("ldpc", 0.0)] < at[("ldpc", -3.0)]


def test_fixed_cbr_checkpoint_evaluation_is_resumed(labels: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from semcom_bench.benchmark import evaluate as evaluate_module

    settings = TrainSettings(steps=2, **SETTINGS, hparams={"cbr": 1 / 12, "hidden": [4, 4, 4, 4]})
    ckpt = train("deepjscc", labels, tmp_path / "dj", settings, "smoke")
    out = tmp_path / "r.parquet"
    evaluate([EvalSpec("deepjscc", [], str(ckpt))], labels, [5.0], out, limit=2)
    monkeypatch.setattr(evaluate_module, "_scheme_rows", lambda *a, **k: pytest.fail("evaluated again"))
    evaluate([EvalSpec("deepjscc", [], str(ckpt))], labels, [5.0], out, limit=2)


@SCHEMES.register("test-tiered")
class TieredJSCC(TinyJSCC):
    """TinyJSCC that reads the labels: each 16x16 patch of tier t is said to get t + 1 symbols (code_lengths)."""

    uses_labels = True
    seen: list[TransmitterLabels] = []

    def transmit(self, images: torch.Tensor, rate: float, labels: TransmitterLabels | None = None) -> Transmission:
        assert labels is not None and labels.patch_tiers.shape[0] == images.shape[0]
        TieredJSCC.seen.append(labels)
        tx = super().transmit(images, rate)
        tx.side["k"] = labels.patch_tiers + 1  # what a variable-length scheme sends (here: for code_lengths only)
        return tx

    def code_lengths(self, transmission: Transmission) -> torch.Tensor:
        return transmission.side["k"]

    def training_step(self, images: torch.Tensor, channel: Channel, snr_db: float,
                      generator: torch.Generator | None = None,
                      labels: TransmitterLabels | None = None) -> dict[str, torch.Tensor]:
        assert labels is not None and labels.task_mask.shape[0] == images.shape[0]
        tx = self.transmit(images, 0.0, labels)
        y, state = channel(tx.symbols, snr_db, generator)
        mse = torch.mean((self.receive(y, tx, state) - images) ** 2)
        return {"loss": mse, "mse": mse}


def test_label_reading_schemes_get_labels_and_report_where_the_symbols_went(labels: Path, tmp_path: Path) -> None:
    ckpt = train("test-tiered", labels, tmp_path / "run", TrainSettings(steps=2, **SETTINGS))
    TieredJSCC.seen.clear()
    out = tmp_path / "r.parquet"
    evaluate([EvalSpec("test-tiered", [0.1], str(ckpt))], labels, [10.0], out, batch_size=2)
    assert TieredJSCC.seen  # the transmitter got the labels
    data = BenchmarkData(labels)
    rows = read_table(out, "results").to_pylist()
    for r in rows:
        tiers = data[data.image_ids.index(r["image_id"])].patch_tiers
        for t in range(4):  # every patch of tier t is 16x16 pixels carrying t + 1 symbols
            assert r[f"uses_tier{t}"] == pytest.approx((t + 1) * float((tiers == t).sum()))
    (entry,) = summarize(out)
    total = sum((t + 1) * sum(r[f"pixels_tier{t}"] for r in rows) for t in range(4))
    assert entry["uses_share_tier3"] == pytest.approx(4 * sum(r["pixels_tier3"] for r in rows) / total)
    assert entry["pixel_share_tier3"] == pytest.approx(sum(r["pixels_tier3"] for r in rows) /
                                                       sum(r["pixels"] for r in rows))
    done = subprocess.run([sys.executable, "-m", "semcom_bench", "bench", "report", str(out)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and "channel uses per importance tier" in done.stdout


def test_transmitter_labels_from_another_label_set_are_read_by_the_transmitter_alone(labels: Path,
                                                                                      tmp_path: Path) -> None:
    static = tmp_path / "labels-static"
    annotate(AnnotateConfig(dataset="synthcity", root=str(labels.parent / "city-3-64"), split="train",
                            task="pedestrian-collision-warning", labeler="static"), static)
    ours, theirs = BenchmarkData(labels), BenchmarkData(static)
    assert any((ours[i].patch_tiers != theirs[i].patch_tiers).any() for i in range(len(ours)))  # a real difference
    ckpt = train("test-tiered", labels, tmp_path / "run", TrainSettings(steps=2, **SETTINGS))
    TieredJSCC.seen.clear()
    out = tmp_path / "r.parquet"
    evaluate([EvalSpec("test-tiered", [0.1], str(ckpt), tx_labels=str(static))], labels, [10.0], out, batch_size=5)
    (seen,) = TieredJSCC.seen[-1:]  # the last batch: all five images
    assert torch.equal(seen.patch_tiers, torch.from_numpy(np.stack([theirs[i].patch_tiers for i in range(5)])).long())
    rows = read_table(out, "results").to_pylist()
    for r in rows:  # scored on the evaluation label set's tiers; symbols counted where the transmitter put them
        i = ours.image_ids.index(r["image_id"])
        for t in range(4):
            assert r[f"pixels_tier{t}"] == 256 * int((ours[i].patch_tiers == t).sum())
            sent = theirs[i].patch_tiers.astype(int) + 1  # the static tiers' symbols, on the scenario tiers' pixels
            assert r[f"uses_tier{t}"] == pytest.approx(float(sent[ours[i].patch_tiers == t].sum()))
    assert {r["config"] for r in rows} == {f"custom; transmitter read {theirs.labels_identity()}"}
    assert theirs.labels_identity().startswith("static labels sha256:")
    assert theirs.labels_identity() != ours.labels_identity()
    evaluate([EvalSpec("test-tiered", [0.1], str(ckpt))], labels, [10.0], out, batch_size=5)
    assert len(read_table(out, "results")) == 2 * len(rows)  # its own labels: another curve, not a replacement


def test_transmitter_labels_of_other_images_or_for_a_label_blind_scheme_are_refused(labels: Path,
                                                                                      tmp_path: Path) -> None:
    other = make_labels(tmp_path, 4, (64, 128), 9)
    ckpt = train("test-tiered", labels, tmp_path / "run", TrainSettings(steps=1, **SETTINGS))
    with pytest.raises(SemcomError, match="do not hold the same images"):
        evaluate([EvalSpec("test-tiered", [0.1], str(ckpt), tx_labels=str(other))], labels, [10.0],
                 tmp_path / "r.parquet")
    blind = train("test-tiny", labels, tmp_path / "blind", TrainSettings(steps=1, **SETTINGS))
    with pytest.raises(SemcomError, match="reads no labels"):
        evaluate([EvalSpec("test-tiny", [0.1], str(blind), tx_labels=str(labels))], labels, [10.0],
                 tmp_path / "r.parquet")
    assert not (tmp_path / "r.parquet").exists()  # refused before any row
