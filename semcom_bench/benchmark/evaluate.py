"""Evaluation runner: every scheme over the same images, SNRs and paired channel realisations -> a results table.

The channel realisation of an image at an SNR comes from a seed derived from (run seed, image id, SNR) only, so two
schemes see the same draws: comparisons are paired. Each image crosses the channel on its own with exactly the
symbols its scheme really sends (``Transmission.lengths``); the harness counts them, plus side information, as the
image's channel uses. A scheme's rows are written as soon as the scheme is done (atomic Parquet), replacing older rows
of the same scheme, checkpoint, configuration and channel, so an interrupted evaluation keeps the schemes it finished.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from semcom_bench.benchmark import metrics
from semcom_bench.benchmark.data import BenchmarkData, LabeledImage
from semcom_bench.benchmark.train import load_checkpoint, resolve_device
from semcom_bench.errors import SemcomError, ShapeMismatchError
from semcom_bench.phy.base import CHANNELS, Channel, ChannelState
from semcom_bench.phy.channels import make_generator
from semcom_bench.schemas import read_table, to_table, write_table
from semcom_bench.schemas.tables import MAX_TIER
from semcom_bench.schemes.base import SCHEMES, Scheme, TrainableScheme
from semcom_bench.schemes.capacity import capacity_bound

# The (code rate, QAM order) grid the separation baseline is evaluated on; the report keeps the best per SNR.
TIERS = range(MAX_TIER + 1)
SEPARATION_GRID: tuple[tuple[float, int], ...] = ((1 / 3, 4), (1 / 2, 4), (3 / 4, 4), (1 / 2, 16), (3 / 4, 16), (2 / 3, 64))


@dataclass
class EvalSpec:
    """One scheme configuration to evaluate at one or more rate points.

    ``rates`` are the scheme's own knob (target CBR; NTSCC's eta); for a checkpoint whose CBR is fixed, leave it empty
    to use the model's. ``options`` are constructor arguments of schemes without checkpoints (e.g. separation's code
    rate and QAM order); ``config`` describes the configuration in words for the results.
    """

    scheme: str
    rates: list[float] = field(default_factory=list)
    checkpoint: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    config: str = ""


def separation_specs(cbr: float, codec: str = "hevc") -> list[EvalSpec]:
    """The separation baseline over :data:`SEPARATION_GRID` at one CBR."""
    return [EvalSpec("separation", [cbr], options={"codec": codec, "code_rate": r, "qam_order": m},
                     config=f"{codec} R={r:.2f} {m}-QAM") for r, m in SEPARATION_GRID]


def pair_seed(seed: int, image_id: str, snr_db: float) -> int:
    """The channel seed of ``image_id`` at ``snr_db``: the same for every scheme."""
    return int(hashlib.sha256(f"{seed}|{image_id}|{snr_db:g}".encode()).hexdigest()[:15], 16)


def image_metrics(item: LabeledImage, reconstruction: torch.Tensor) -> dict[str, Any]:
    """Every metric column of one image from one metrics pass; ``reconstruction`` is ``(1, 3, H, W)`` in [0, 1].

    A reconstruction with NaN pixels gives NaN metrics (see :mod:`semcom_bench.benchmark.metrics`).
    """
    quality = metrics.QualityMetrics()
    has_tiers = item.patch_tiers is not None
    reference = torch.from_numpy(item.image).permute(2, 0, 1)[None]
    quality.update(reference, reconstruction, item.task_mask[None], item.patch_tiers[None] if has_tiers else None,
                   item.patch_size if has_tiers else None)
    (sse,), (pixels,) = quality.psnr.sums()
    (tc_sse,), (tc_pixels,) = quality.tc_psnr.sums()
    tier_sse, tier_pixels = quality.tier_psnr.sums(len(TIERS))
    tier_db = quality.tier_psnr.values()[0] if has_tiers else {}
    row: dict[str, Any] = {
        "psnr": float(quality.psnr.values()[0]), "ssim": float(quality.ssim.values()[0]),
        "ms_ssim": float(quality.ms_ssim.values()[0]), "tc_psnr": float(quality.tc_psnr.values()[0]),
        "sse": float(sse), "pixels": int(pixels), "tc_sse": float(tc_sse), "tc_pixels": int(tc_pixels),
    }
    for t in TIERS:
        row[f"psnr_tier{t}"] = tier_db.get(t, float("nan"))
        row[f"sse_tier{t}"] = float(tier_sse[0, t]) if has_tiers else 0.0
        row[f"pixels_tier{t}"] = int(tier_pixels[0, t]) if has_tiers else 0
    return row


def _through_channel(
    channel: Channel, symbols: torch.Tensor, lengths: torch.Tensor, snr_db: float, seeds: list[int]
) -> tuple[torch.Tensor, ChannelState]:
    """Each image's used symbols through its own seeded realisation; padding stays zero."""
    received = torch.zeros_like(symbols)
    gains = torch.ones_like(symbols)
    noise_var = 0.0
    faded = False
    for i, seed in enumerate(seeds):
        used = int(lengths[i])
        y, state = channel(symbols[i : i + 1, :used], snr_db, make_generator(seed))
        received[i, :used] = y[0]
        noise_var = state.noise_var
        if state.gains is not None:
            gains[i, :used] = state.gains[0]
            faded = True
    return received, ChannelState(snr_db=snr_db, noise_var=noise_var, gains=gains if faded else None)


class _RoundTrip(torch.nn.Module):
    """A trainable scheme's transmitter, channel and receiver as one module, for :func:`metrics.model_complexity`."""

    def __init__(self, scheme: TrainableScheme, channel: Channel, rate: float) -> None:
        super().__init__()
        self.scheme, self.channel, self.rate = scheme, channel, rate

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        tx = self.scheme.transmit(image, self.rate)
        received, state = _through_channel(self.channel, tx.symbols, tx.lengths, 10.0, [0])
        return self.scheme.receive(received, tx, state)


def scheme_complexity(scheme: Scheme, image: torch.Tensor, rate: float, channel: Channel) -> dict[str, int | None]:
    """``params`` and per-image ``macs`` of transmitter plus receiver at ``rate`` on one ``(1, 3, H, W)`` image;
    ``None`` for schemes that are not neural networks (separation, the bound)."""
    if not isinstance(scheme, TrainableScheme):
        return {"params": None, "macs": None}
    trip = _RoundTrip(scheme, channel, rate).train(scheme.training)  # counting must leave the scheme's mode as it was
    return metrics.model_complexity(trip, image)


def _build(spec: EvalSpec, data: BenchmarkData) -> tuple[Scheme, str]:
    if spec.checkpoint:
        model, payload = load_checkpoint(spec.checkpoint, spec.scheme)
        if tuple(payload["resolution"]) != data.resolution:
            raise ShapeMismatchError(
                f"checkpoint {spec.checkpoint} was trained at {tuple(payload['resolution'])}, "
                f"the label set is at {data.resolution}",
                hint="evaluate on a label set annotated at the training resolution (annotate --size HxW)",
            )
        model.eval()
        return model, str(spec.checkpoint)
    cls = SCHEMES.get(spec.scheme)
    if issubclass(cls, TrainableScheme):
        raise SemcomError(f"scheme {spec.scheme!r} needs --checkpoint", hint="train it first with `bench train`")
    return cls(**spec.options), ""


def _batches(n: int, size: int) -> Iterator[list[int]]:
    for start in range(0, n, size):
        yield list(range(start, min(start + size, n)))


def save_heatmaps(maps: torch.Tensor, items: list[LabeledImage], title: str, folder: Path) -> list[Path]:
    """PNGs of ``(B, h, w)`` symbols per token over each image, as SA-OOSC Fig. 4 shows code-length allocation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for grid, item in zip(maps.cpu().numpy(), items, strict=True):
        h, w = item.image.shape[:2]
        fig, ax = plt.subplots(figsize=(8, 8 * h / w + 0.6))
        ax.imshow(item.image)
        shown = ax.imshow(grid, cmap="inferno", alpha=0.55, extent=(0, w, h, 0), interpolation="nearest")
        fig.colorbar(shown, ax=ax, fraction=0.025, label="channel symbols per token")
        ax.set_title(f"{title}: {item.image_id}", fontsize=9)
        ax.axis("off")
        name = "".join(c if c.isalnum() or c in "-." else "_" for c in f"{title}_{item.image_id}") + ".png"
        fig.savefig(folder / name, dpi=100, bbox_inches="tight")
        plt.close(fig)
        paths.append(folder / name)
    return paths


def _sync(device: torch.device) -> None:
    """Wait for the GPU's queued work, so that wall-clock timings cover it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _scheme_rows(spec: EvalSpec, data: BenchmarkData, snrs: list[float], channel_name: str, seed: int,
                 batch_size: int, tick: Callable[[], None], heatmaps: Path, device: torch.device,
                 ) -> list[dict[str, Any]]:
    h, w = data.resolution
    rows = []
    if spec.scheme == "capacity":  # a bound, not a realisable scheme: it needs the SNR at the transmitter
        for rate in spec.rates:
            for snr in snrs:
                for batch in _batches(len(data), batch_size):
                    start = time.perf_counter()
                    bound = capacity_bound(data.batch(batch), rate, snr, channel=channel_name,
                                           codec=spec.options.get("codec", "hevc"))
                    seconds = (time.perf_counter() - start) / len(batch)
                    for k, i in enumerate(batch):
                        values = {**image_metrics(data[i], bound.images[k : k + 1]), "params": None, "macs": None}
                        rows.append(_row(spec, "", data[i], rate, channel_name, snr, None, bound.channel_uses,
                                         (h, w), values, False, seconds, 0.0))
                    tick()
        return rows
    scheme, checkpoint = _build(spec, data)
    # Neural schemes run on ``device``; the separation baseline's codecs and decoders work on CPU tensors.
    on = torch.device("cpu")
    if isinstance(scheme, TrainableScheme):
        on = device
        scheme.to(on)
    channel = CHANNELS.get(channel_name)()
    if spec.rates:
        rates = spec.rates
    elif hasattr(scheme, "cbr"):  # a fixed-bandwidth model has exactly one rate point
        rates = [float(scheme.cbr)]
    else:
        raise SemcomError(f"scheme {spec.scheme!r} needs rate points", hint="pass --rate, e.g. eta values 0.1,0.3,1")
    with torch.no_grad():
        for rate in rates:
            complexity = scheme_complexity(scheme, data.batch([0]).to(on), rate, channel)
            for batch in _batches(len(data), batch_size):
                images = data.batch(batch).to(on)
                start = time.perf_counter()
                tx = scheme.transmit(images, rate)  # once per batch: what is sent does not depend on the SNR
                _sync(on)
                encode_s = (time.perf_counter() - start) / len(batch)
                maps = scheme.code_lengths(tx) if batch[0] == 0 else None
                if maps is not None:
                    save_heatmaps(maps, [data[i] for i in batch], f"{spec.scheme} {spec.config} rate {rate:g}",
                                  heatmaps)
                for snr in snrs:
                    seeds = [pair_seed(seed, data[i].image_id, snr) for i in batch]
                    received, state = _through_channel(channel, tx.symbols, tx.lengths, snr, seeds)
                    start = time.perf_counter()
                    recon = scheme.receive(received, tx, state)
                    _sync(on)
                    decode_s = (time.perf_counter() - start) / len(batch)
                    failed = getattr(scheme, "last_failed", torch.zeros(len(batch), dtype=torch.bool))
                    uses = tx.channel_uses.tolist()
                    for k, i in enumerate(batch):
                        is_nan = bool(torch.isnan(recon[k]).any())
                        values = {**image_metrics(data[i], recon[k : k + 1]), **complexity}
                        rows.append(_row(spec, checkpoint, data[i], rate, channel_name, snr, seeds[k], int(uses[k]),
                                         (h, w), values, bool(failed[k]), encode_s, decode_s, nan_output=is_nan))
                    tick()
    return rows


def _row(spec: EvalSpec, checkpoint: str, item: LabeledImage, rate: float, channel: str, snr: float,
         seed: int | None, uses: int, size: tuple[int, int], values: dict[str, Any], failed: bool,
         encode_s: float, decode_s: float, nan_output: bool = False) -> dict[str, Any]:
    return {"image_id": item.image_id, "scheme": spec.scheme, "checkpoint": checkpoint, "config": spec.config,
            "rate": float(rate), "channel": channel, "snr_db": float(snr), "seed": seed if seed is not None else -1,
            "channel_uses": uses, "cbr": uses / (3 * size[0] * size[1]), **values, "failed": failed,
            "nan_output": nan_output, "encode_s": encode_s, "decode_s": decode_s}


def evaluate(
    specs: list[EvalSpec],
    labelset: str | Path,
    snrs: list[float],
    out: str | Path,
    channel: str = "awgn",
    seed: int = 0,
    batch_size: int = 4,
    limit: int | None = None,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    device: str = "auto",
) -> Path:
    """Evaluate ``specs`` on ``labelset`` at ``snrs``; rows go to the results table ``out`` (merged, atomic).

    A configuration whose rows are all in ``out`` already is skipped unless ``force``; ``progress(done, total)``
    counts batches. Schemes that allocate symbols per token also get code-length heatmaps of their first batch in
    ``{out stem}-heatmaps/``. Trained schemes run on ``device`` (``"auto"``: the GPU when there is one); channel draws
    come from CPU generators, so results do not depend on it beyond floating-point rounding. Returns ``out``.
    """
    on = resolve_device(device)
    out = Path(out)
    CHANNELS.get(channel)  # an unknown channel fails before any work
    data = BenchmarkData(labelset, limit)
    per_spec = [max(len(s.rates), 1) * len(snrs) * math.ceil(len(data) / batch_size) for s in specs]
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, sum(per_spec))

    for spec, batches in zip(specs, per_spec, strict=True):
        existing = read_table(out, "results").to_pylist() if out.is_file() else []
        if not force and _complete(spec, existing, data.image_ids, snrs, channel, seed):
            done += batches  # finished by an earlier run: its rows stay as they are
            continue
        rows = _scheme_rows(spec, data, snrs, channel, seed, batch_size, tick, out.with_name(f"{out.stem}-heatmaps"),
                            on)
        replaced = {(r["scheme"], r["checkpoint"], r["config"], r["channel"]) for r in rows}
        keep = [r for r in existing if (r["scheme"], r["checkpoint"], r["config"], r["channel"]) not in replaced]
        write_table("results", to_table("results", keep + rows), out)
    return out


def _complete(spec: EvalSpec, rows: list[dict[str, Any]], image_ids: list[str], snrs: list[float], channel: str,
              seed: int) -> bool:
    """Whether ``rows`` already hold every (image, rate, SNR) of ``spec`` on ``channel`` with the same run seed."""
    if not spec.rates:  # a fixed-CBR checkpoint: its rate is only known once the model is loaded
        return False
    checkpoint = str(spec.checkpoint) if spec.checkpoint else ""
    have = {(r["image_id"], r["rate"], r["snr_db"]) for r in rows
            if (r["scheme"], r["checkpoint"], r["config"], r["channel"]) == (spec.scheme, checkpoint, spec.config, channel)
            and (r["seed"] == -1 or r["seed"] == pair_seed(seed, r["image_id"], r["snr_db"]))}
    return all((i, float(rate), float(snr)) in have for i in image_ids for rate in spec.rates for snr in snrs)
