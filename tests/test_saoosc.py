"""SA-OOSC, its tier-predicting variant and OOSC: eq. 1 and its quantiser, tier monotonicity, eq. 2, k as counted side
information, a receiver without labels, and a short synthcity training run through the harness."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from semcom_bench.annotate.pipeline import AnnotateConfig, annotate
from semcom_bench.benchmark.data import BenchmarkData
from semcom_bench.benchmark.evaluate import EvalSpec, evaluate
from semcom_bench.benchmark.side_info import LDPCRule
from semcom_bench.benchmark.train import TrainSettings, build_scheme, load_checkpoint, load_profile, train
from semcom_bench.datasets.synthcity import generate
from semcom_bench.errors import SemcomError
from semcom_bench.phy.base import CHANNELS
from semcom_bench.phy.channels import make_generator
from semcom_bench.schemas import read_table
from semcom_bench.schemes.base import SCHEMES, Transmission, TransmitterLabels
from semcom_bench.schemes.saoosc import OOSC, SAOOSC, TIERS, SAOOSCPred, token_tiers

TABLE = [2, 4, 6, 8, 10, 12, 14, 16]
TINY = dict(transform_channels=16, latent_channels=32, hyper_channels=16, jscc_dim=32, jscc_depth=1, jscc_heads=4,
            rate_table=TABLE, tier_head_dim=16)
SIZE = (64, 128)  # a 4 x 8 grid of 16 x 16 tokens


def _model(cls: type[SAOOSC] = SAOOSC, seed: int = 0, **kwargs: object) -> SAOOSC:
    torch.manual_seed(seed)
    return cls(**{**TINY, **kwargs}).eval()


def _images(batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.rand(batch, 3, *SIZE, generator=torch.Generator().manual_seed(seed))


def _labels(tiers: torch.Tensor, patch_size: int = 16) -> TransmitterLabels:
    return TransmitterLabels(tiers.long(), patch_size, torch.zeros(tiers.shape[0], *SIZE, dtype=torch.bool))


def _random_tiers(batch: int, seed: int) -> torch.Tensor:
    return torch.randint(0, TIERS, (batch, 4, 8), generator=torch.Generator().manual_seed(seed))


def _eta_for_mean_length(model: SAOOSC, images: torch.Tensor, mean_k: float) -> float:
    """An eta putting the entropy term's mean at ``mean_k`` symbols (the mid-table, where nothing clamps)."""
    with torch.no_grad():
        return mean_k / float(model._analyse(images).token_bits.mean())


def test_eq1_targets_and_the_quantiser_onto_supported_lengths() -> None:
    model = _model(tier_bonus=(0.0, 0.5, 1.0, 2.0))
    bits = torch.tensor([[[1.0, 3.0], [5.0, 7.0]]])  # mean 4 bits
    tiers = torch.tensor([[[0, 1], [2, 3]]])
    targets = model.length_targets(bits, F.one_hot(tiers, TIERS).float(), eta=0.5)
    # C1 = eta * e; C2 = eta * mean(e) * bonus[I] = 0.5 * 4 * (0, 0.5, 1, 2)
    assert torch.allclose(targets, torch.tensor([[[0.5 + 0.0, 1.5 + 1.0], [2.5 + 2.0, 3.5 + 4.0]]]))
    # a predicted tier distribution gives the expected bonus
    soft = torch.tensor([0.5, 0.0, 0.0, 0.5]).expand(1, 2, 2, 4)
    assert torch.allclose(model.length_targets(bits, soft, 0.5), 0.5 * bits + 0.5 * 4 * 1.0)

    # Q0: the nearest supported length, ties upwards, past the ends clamped
    raw = torch.tensor([[[-3.0, 0.5, 3.0, 5.0, 7.0, 7.1, 8.9, 15.0, 100.0]]])
    k = torch.tensor(TABLE)[model.quantize_lengths(raw)]
    assert k.tolist() == [[[2, 2, 4, 6, 8, 8, 8, 16, 16]]]
    dense = torch.linspace(-2, 20, 997).view(1, 1, -1)
    k = torch.tensor(TABLE)[model.quantize_lengths(dense)]
    assert set(k.unique().tolist()) <= set(TABLE)
    best = (dense[..., None] - torch.tensor(TABLE, dtype=torch.float)).abs().min(dim=-1).values
    assert torch.allclose((dense - k).abs(), best)

    # transmit spends exactly k_i = Q0[C1(e_i) + C2(I_i)] on each token
    images, tiers = _images(), _random_tiers(2, 2)
    eta = _eta_for_mean_length(model, images, 6.0)
    with torch.no_grad():
        tx = model.transmit(images, eta, _labels(tiers))
        e = model._analyse(images).token_bits
    one_hot = F.one_hot(tiers, TIERS).float()
    expected = torch.tensor(TABLE)[model.quantize_lengths(model.length_targets(e, one_hot, eta))]
    assert torch.equal(model.code_lengths(tx), expected)
    assert torch.equal(tx.lengths, expected.flatten(1).sum(dim=1))


def test_higher_tiers_get_at_least_as_many_symbols_as_lower_tiers_of_equal_entropy() -> None:
    model = _model()
    # one row of tokens per tier, every row the same entropies: column by column k must not fall with the tier
    base = torch.rand(1, 1, 8, generator=torch.Generator().manual_seed(3)) * 10
    bits = base.expand(1, TIERS, 8)
    tiers = torch.arange(TIERS).view(1, TIERS, 1).expand(1, TIERS, 8)
    one_hot = F.one_hot(tiers, TIERS).float()
    for eta in (0.1, 0.5, 1.0, 2.0):
        k = torch.tensor(TABLE)[model.quantize_lengths(model.length_targets(bits, one_hot, eta))]
        assert bool((k[:, 1:] >= k[:, :-1]).all()), (eta, k)
    assert bool((k[0, 3] > k[0, 0]).any())

    # through the transmitter: raising one region's tier never lowers a length, and changes only that region
    images = _images(1)
    eta = _eta_for_mean_length(model, images, 6.0)
    flat = torch.zeros(1, 4, 8, dtype=torch.long)
    raised = flat.clone()
    raised[0, 1:3, 2:6] = 3
    with torch.no_grad():
        k0 = model.code_lengths(model.transmit(images, eta, _labels(flat)))
        k3 = model.code_lengths(model.transmit(images, eta, _labels(raised)))
    region = raised > 0
    assert bool((k3 >= k0).all()) and bool((k3[region] > k0[region]).any())
    assert torch.equal(k3[~region], k0[~region])


def test_label_patches_of_another_size_map_onto_tokens_by_their_highest_tier() -> None:
    fine = torch.zeros(1, 8, 16, dtype=torch.long)  # 8-pixel patches: 2 x 2 per token
    fine[0, 0, 1] = 3
    fine[0, 3, 5] = 1
    tokens = token_tiers(fine, 8, SIZE, (4, 8))
    assert tokens[0, 0, 0] == 3 and tokens[0, 1, 2] == 1 and int(tokens.sum()) == 4
    coarse = torch.tensor([[[2, 0, 1, 0]]])  # 32-pixel patches over a 64 x 128 image: 2 rows, 4 columns of tokens
    assert torch.equal(token_tiers(coarse.expand(1, 2, 4), 32, SIZE, (4, 8)),
                       torch.tensor([2, 2, 0, 0, 1, 1, 0, 0]).expand(1, 4, 8))


def test_eq2_unit_average_power_over_all_patches_of_each_image() -> None:
    model = _model()
    images = _images(3)
    eta = _eta_for_mean_length(model, images, 6.0)
    with torch.no_grad():
        tx = model.transmit(images, eta, _labels(_random_tiers(3, 4)))
    k = model.code_lengths(tx).flatten(1)
    assert torch.equal(tx.lengths, k.sum(dim=1)) and len(set(tx.lengths.tolist())) > 1
    for b in range(3):
        used = int(tx.lengths[b])
        segments = torch.split(tx.symbols[b, :used], k[b].tolist())  # y_1 .. y_L, token after token
        energy = sum(float(seg.abs().square().sum()) for seg in segments)
        assert energy / float(k[b].sum()) == pytest.approx(1.0, abs=1e-5)  # eq. 2
        assert bool((tx.symbols[b, used:] == 0).all())
        token_power = torch.stack([seg.abs().square().mean() for seg in segments])
        assert float(token_power.std()) > 1e-3  # one normalisation per image, not per patch


def test_the_rate_indices_are_the_side_information_and_all_of_it_is_counted() -> None:
    model = _model()
    with torch.no_grad():
        tx = model.transmit(_images(), 0.5, _labels(_random_tiers(2, 5)))
    assert set(tx.side) == {"rate_indices", "image_size"}
    per_image = 4 * 8 * math.ceil(math.log2(len(TABLE)))  # h * w tokens, 3 bits each
    assert tx.bits().tolist() == [per_image, per_image]
    hyper = _model(send_hyperprior=True)
    with torch.no_grad():
        tx = hyper.transmit(_images(), 0.5, _labels(_random_tiers(2, 5)))
    assert set(tx.side) == {"rate_indices", "image_size", "z_hat"} and bool((tx.bits() > per_image).all())


def test_the_receiver_knows_only_what_was_sent() -> None:
    transmitter = _model()
    images = _images(2)
    eta = _eta_for_mean_length(transmitter, images, 6.0)
    labels_a, labels_b = _labels(_random_tiers(2, 6)), _labels(_random_tiers(2, 7))
    with torch.no_grad():
        tx = transmitter.transmit(images, eta, labels_a)
        other = transmitter.transmit(images, eta, labels_b)
    assert not torch.equal(transmitter.code_lengths(tx), transmitter.code_lengths(other))  # the labels matter...
    # ...and reach the receiver only through k: the side holds nothing the side bits do not count
    assert set(tx.side) == {"rate_indices", "image_size"}
    sent = Transmission(symbols=tx.symbols.clone(), lengths=tx.lengths.clone(),
                        side={"rate_indices": tx.side["rate_indices"].clone(), "image_size": tx.side["image_size"]},
                        side_bits=tx.side_bits.clone())
    assert "labels" not in inspect.signature(SAOOSC.receive).parameters
    received, state = CHANNELS.get("awgn")()(sent.symbols, 10.0, make_generator(11))
    receiver = SAOOSC(**TINY).eval()  # a separate receiver that never transmitted: the weights and what it received
    receiver.load_state_dict(transmitter.state_dict())
    with torch.no_grad():
        fresh = receiver.receive(received, sent, state)
        transmitter.transmit(images.flip(0), eta, labels_b)  # the transmitter moves on to other images and labels
        again = transmitter.receive(received, sent, state)
    assert torch.equal(fresh, again)


def test_the_predicting_variant_reads_no_labels_at_test_time() -> None:
    model = _model(SAOOSCPred)
    assert model.uses_labels is False  # eval(): the harness passes it no labels
    assert model.train().uses_labels is True and model.eval().uses_labels is False
    images = _images()
    eta = _eta_for_mean_length(model, images, 6.0)
    with torch.no_grad():
        txs = [model.transmit(images, eta, labels) for labels in (None, _labels(_random_tiers(2, 8)),
                                                                   _labels(torch.full((2, 4, 8), 3)))]
    for tx in txs[1:]:
        assert torch.equal(tx.side["rate_indices"], txs[0].side["rate_indices"])
        assert torch.equal(tx.symbols, txs[0].symbols)
    with pytest.raises(SemcomError, match="reads the label set's patch tiers"):
        _model().transmit(images, eta, None)


def test_oosc_is_the_same_machinery_without_distillation_and_bad_weights_are_refused() -> None:
    oosc = _model(OOSC)
    assert oosc.tier_head is None and oosc.distill_weight == 0.0 and oosc.uses_labels
    assert SCHEMES.get("oosc") is OOSC and SCHEMES.get("saoosc") is SAOOSC and SCHEMES.get("saoosc-pred") is SAOOSCPred
    for name in ("saoosc", "saoosc-pred", "oosc"):
        for profile in ("smoke", "paper"):
            settings = load_profile(profile, name)
            if profile == "smoke":
                model = build_scheme(name, settings.hparams)
                assert type(model)(**model.hparams()).hparams() == model.hparams()
    with pytest.raises(SemcomError, match="non-decreasing"):
        SAOOSC(**TINY, tier_bonus=(0, 2, 1, 3))
    with pytest.raises(SemcomError, match="positive"):
        SAOOSC(**TINY, tier_weights=(0, 1, 1, 1))
    with pytest.raises(SemcomError, match="distill_weight"):
        SAOOSCPred(**TINY, distill_weight=0.0)


def _labelset(folder: Path, n: int, seed: int) -> Path:
    root = folder / "city"
    generate(root, n=n, seed=seed, size=(128, 256))
    annotate(AnnotateConfig(dataset="synthcity", root=str(root), split="train", task="pedestrian-collision-warning"),
             folder / "labels")
    return folder / "labels"


@pytest.mark.slow
def test_after_training_on_synthcity_tier3_gets_more_symbols_per_pixel_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_torch_thread: None
) -> None:
    labels = _labelset(tmp_path, 8, 5)
    data = BenchmarkData(labels)
    assert sum(int((data[i].patch_tiers == 3).sum()) for i in range(len(data))) >= 5  # the test needs tier-3 patches
    settings = dict(steps=40, batch_size=4, lr=2e-3, snr_train=10.0, checkpoint_every=40, hparams=dict(TINY))
    ckpt = train("saoosc", labels, tmp_path / "sa", TrainSettings(**settings))
    ckpt_pred = train("saoosc-pred", labels, tmp_path / "pred", TrainSettings(**settings))

    model, _ = load_checkpoint(ckpt)
    model.eval()
    images = data.batch(list(range(len(data))))
    eta = _eta_for_mean_length(model, images, 6.0)

    seen: list[object] = []
    transmit = SAOOSCPred.transmit

    def spy(self: SAOOSCPred, images: torch.Tensor, rate: float, labels: object = None) -> Transmission:
        seen.append(labels)
        return transmit(self, images, rate, labels)

    monkeypatch.setattr(SAOOSCPred, "transmit", spy)
    out = tmp_path / "results.parquet"
    evaluate([EvalSpec("saoosc", [eta], str(ckpt)), EvalSpec("saoosc-pred", [eta], str(ckpt_pred))], labels,
             [10.0, -3.0], out, batch_size=4)
    assert seen and all(labels is None for labels in seen)  # the variant's transmitter got no labels at evaluation
    rows = read_table(out, "results").to_pylist()
    assert {r["scheme"] for r in rows} == {"saoosc", "saoosc-pred"} and len(rows) == 2 * 2 * len(data)
    rule = LDPCRule()
    for r in rows:
        assert all(r[f"uses_tier{t}"] is not None for t in range(TIERS))
        payload = sum(r[f"uses_tier{t}"] for t in range(TIERS))  # every payload symbol lands on some tier
        side_bits = 8 * 16 * math.ceil(math.log2(len(TABLE)))  # a 128 x 256 image: 8 x 16 tokens
        assert r["side_uses"] == rule.channel_uses(side_bits, r["snr_db"]) > 0
        assert r["channel_uses"] == pytest.approx(payload + r["side_uses"])
        assert r["cbr"] == pytest.approx(r["channel_uses"] / (3 * 128 * 256))

    def per_pixel(scheme: str, tier: int) -> float:
        chosen = [r for r in rows if r["scheme"] == scheme and r["snr_db"] == 10.0]
        return sum(r[f"uses_tier{tier}"] for r in chosen) / sum(r[f"pixels_tier{tier}"] for r in chosen)

    assert per_pixel("saoosc", 3) > per_pixel("saoosc", 0)
    # ...because of C2: the same trained model with the tier bonus switched off spends far less on tier 3
    tiers = data.transmitter_labels(list(range(len(data))))
    grid_tiers = tiers.patch_tiers
    with torch.no_grad():
        k_on = model.code_lengths(model.transmit(images, eta, tiers)).float()
        model._bonus.zero_()
        k_off = model.code_lengths(model.transmit(images, eta, tiers)).float()

    def ratio(k: torch.Tensor) -> float:
        return float(k[grid_tiers == 3].mean() / k[grid_tiers == 0].mean())

    assert ratio(k_on) > 1.2 * ratio(k_off)
    assert sorted(p.name for p in (tmp_path / "results-heatmaps").iterdir())  # Fig. 4 code-length heatmaps
