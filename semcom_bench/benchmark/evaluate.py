"""Evaluation runner: every scheme over the same images, SNRs and paired channel realisations -> a results table.

The channel realisation of an image at an SNR comes from a seed derived from (run seed, image id, SNR) only, so two
schemes see the same draws: comparisons are paired. Each image crosses the channel on its own with exactly the
symbols its scheme really sends (``Transmission.lengths``); the harness counts them, plus its price for the scheme's
side-information bits (:mod:`semcom_bench.benchmark.side_info`, one rule for every scheme), as the image's channel
uses.

A trained model is identified by its checkpoint file's content hash (``model``) and its training profile
(``config``), whatever path was typed. A row's key is (scheme, model, config, side rule, image, rate, channel, SNR,
seed): a rerun replaces exactly the rows with its keys and nothing else. Rows are merged into the results file after
every rate point under a lock (``{out}.lock``), so an interrupted evaluation keeps the points it finished and two
processes writing one file keep each other's rows.

A reconstruction holding NaN (a diverged receiver) is scored as a failed decode is: as the mid-grey image of a
receiver with nothing decodable (the worst case the harness gives any scheme), so it is pooled, never averaged away;
``nan_output`` counts it.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock

from semcom_bench.benchmark import metrics
from semcom_bench.benchmark.data import BenchmarkData, LabeledImage
from semcom_bench.benchmark.side_info import SideInfoRule, get_rule
from semcom_bench.benchmark.train import checkpoint_file, load_checkpoint, resolve_device
from semcom_bench.errors import SemcomError, ShapeMismatchError
from semcom_bench.hashing import sha256_file
from semcom_bench.phy.base import CHANNELS, Channel, ChannelState
from semcom_bench.phy.channels import make_generator
from semcom_bench.schemas import read_table, to_table, write_table
from semcom_bench.schemas.tables import MAX_TIER
from semcom_bench.schemes.base import FALLBACK_VALUE, SCHEMES, Scheme, TrainableScheme, TransmitterLabels
from semcom_bench.schemes.capacity import capacity_bound

log = logging.getLogger(__name__)

# The (code rate, QAM order) grid the separation baseline is evaluated on; the report keeps the best per SNR and CBR.
TIERS = range(MAX_TIER + 1)
USES_COLUMNS = tuple(f"uses_tier{t}" for t in TIERS)
SEPARATION_GRID: tuple[tuple[float, int], ...] = ((1 / 3, 4), (1 / 2, 4), (3 / 4, 4), (1 / 2, 16), (3 / 4, 16), (2 / 3, 64))


@dataclass
class EvalSpec:
    """One scheme configuration to evaluate at one or more rate points.

    ``rates`` are the scheme's own knob (target CBR; NTSCC's eta); for a checkpoint whose CBR is fixed, leave it empty
    to use the model's. ``options`` are constructor arguments of schemes without checkpoints (e.g. separation's code
    rate and QAM order); ``config`` describes them in words for the results (a checkpoint's is its training profile).
    ``tx_labels`` is a label set of the same images whose patch tiers and task masks the transmitter of a scheme that
    reads labels gets instead of the evaluation label set's (OOSC's static tiers, scored on scenario tiers); the
    metrics always read the evaluation label set, and the results' ``config`` names the labels the transmitter read.
    ``modulation`` is how a checkpoint whose scheme has a ``set_modulation`` (lightweight) sends its features
    (``None``: the scheme's default); the results' ``config`` names it for every such scheme, so each modulation
    is its own curve. ``prebuilt`` is a scheme built elsewhere (a leaderboard submission), ``scheme`` its name in
    the results and ``identity`` its model identity (``sha256:`` + hex of what defines it).
    """

    scheme: str
    rates: list[float] = field(default_factory=list)
    checkpoint: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    config: str = ""
    tx_labels: str | None = None
    modulation: str | None = None
    prebuilt: Scheme | None = None
    identity: str = ""


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
    with warnings.catch_warnings():  # the scale count is said once per evaluation (evaluate), not once per image
        warnings.filterwarnings("ignore", message="MS-SSIM of .* scales", category=metrics.MetricWarning)
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


def uses_per_tier(code_lengths: torch.Tensor, item: LabeledImage) -> dict[str, float | None]:
    """``uses_tier{t}`` of one image: its ``(h, w)`` symbols per token spread evenly over each token's pixels, summed
    over the pixels of each tier (``None`` without patch tiers)."""
    if item.patch_tiers is None:
        return {f"uses_tier{t}": None for t in TIERS}
    height, width = item.image.shape[:2]
    grid_h, grid_w = code_lengths.shape
    if height % grid_h or width % grid_w:
        raise ShapeMismatchError(f"a {grid_h}x{grid_w} token grid does not tile {height}x{width} images")
    per_pixel = code_lengths.double().cpu() / ((height / grid_h) * (width / grid_w))
    per_pixel = per_pixel.repeat_interleave(height // grid_h, 0).repeat_interleave(width // grid_w, 1)
    p = item.patch_size
    tiers = torch.from_numpy(item.patch_tiers).long().repeat_interleave(p, 0).repeat_interleave(p, 1)[:height, :width]
    return {f"uses_tier{t}": float(per_pixel[tiers == t].sum()) for t in TIERS}


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

    def __init__(self, scheme: TrainableScheme, channel: Channel, rate: float,
                 labels: TransmitterLabels | None = None) -> None:
        super().__init__()
        self.scheme, self.channel, self.rate, self.labels = scheme, channel, rate, labels

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        tx = self.scheme.transmit(image, self.rate, self.labels)
        received, state = _through_channel(self.channel, tx.symbols, tx.lengths, 10.0, [0])
        return self.scheme.receive(received, tx.for_receiver(), state)


def scheme_complexity(scheme: Scheme, image: torch.Tensor, rate: float, channel: Channel,
                      labels: TransmitterLabels | None = None) -> dict[str, int | None]:
    """``params`` and per-image ``macs`` of transmitter plus receiver at ``rate`` on one ``(1, 3, H, W)`` image (and
    its ``labels``, for schemes that read them); ``None`` for schemes that are not neural networks."""
    if not isinstance(scheme, TrainableScheme):
        return {"params": None, "macs": None}
    trip = _RoundTrip(scheme, channel, rate, labels).train(scheme.training)  # counting must leave the scheme's mode as it was
    return metrics.model_complexity(trip, image)


@dataclass(frozen=True)
class ModelInfo:
    """Who made a row: ``model`` (``sha256:`` + 16 hex of the checkpoint file, empty without one), ``config`` (a
    checkpoint's training profile, else the spec's words) and ``checkpoint`` (the file read, information only)."""

    model: str
    config: str
    checkpoint: str


def file_identity(path: Path) -> str:
    """``sha256:`` and the first 16 hex digits of the SHA-256 of ``path``'s bytes."""
    return f"sha256:{sha256_file(path)[:16]}"


def _build(spec: EvalSpec, data: BenchmarkData) -> tuple[Scheme | None, ModelInfo]:
    """The scheme of ``spec`` (``None`` for the capacity bound, a function of the images) and its identity."""
    if spec.scheme == "capacity":
        return None, ModelInfo("", spec.config, "")
    if spec.prebuilt is not None:
        return spec.prebuilt, ModelInfo(spec.identity, spec.config, "")
    if spec.checkpoint:
        path = checkpoint_file(spec.checkpoint)
        model, payload = load_checkpoint(path, spec.scheme)
        if tuple(payload["resolution"]) != data.resolution:
            raise ShapeMismatchError(
                f"checkpoint {spec.checkpoint} was trained at {tuple(payload['resolution'])}, "
                f"the label set is at {data.resolution}",
                hint="evaluate on a label set annotated at the training resolution (annotate --size HxW)",
            )
        model.eval()
        config = f"zoo:{payload['zoo_entry']}" if "zoo_entry" in payload else str(payload.get("profile", ""))
        if "prune_ratio" in payload:  # Table II's rows differ by gamma only
            config = f"{config} pruned {payload['prune_ratio']:g}"
        if hasattr(model, "set_modulation"):
            model.set_modulation(spec.modulation or model.modulation)
            config = f"{config}; {model.modulation}"
        elif spec.modulation is not None:
            raise SemcomError(f"scheme {spec.scheme!r} has no modulation choice", hint="drop --modulation for it")
        return model, ModelInfo(file_identity(path), config, str(path.resolve()))
    cls = SCHEMES.get(spec.scheme)
    if issubclass(cls, TrainableScheme):
        raise SemcomError(f"scheme {spec.scheme!r} needs --checkpoint", hint="train it first with `bench train`")
    return cls(**spec.options), ModelInfo("", spec.config, "")


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


@dataclass
class _Run:
    """What every row of one evaluation shares."""

    data: BenchmarkData
    snrs: list[float]
    channel: str
    seed: int
    batch_size: int
    rule: SideInfoRule
    heatmaps: Path
    device: torch.device
    tick: Callable[[], None]

    def seeds(self, batch: list[int], snr: float) -> list[int]:
        return [pair_seed(self.seed, self.data[i].image_id, snr) for i in batch]


def _scored(item: LabeledImage, reconstruction: torch.Tensor) -> tuple[dict[str, Any], bool]:
    """Metrics of one ``(1, 3, H, W)`` reconstruction; a NaN one is scored as the mid-grey fallback (module doc)."""
    is_nan = bool(torch.isnan(reconstruction).any())
    if is_nan:
        reconstruction = torch.full_like(reconstruction, FALLBACK_VALUE)
    return image_metrics(item, reconstruction), is_nan


def _bound_rows(spec: EvalSpec, info: ModelInfo, rate: float, run: _Run) -> list[dict[str, Any]]:
    """The capacity bound at one rate point: it needs the SNR (and the image's draw) at the transmitter."""
    rows = []
    for snr in run.snrs:
        for batch in _batches(len(run.data), run.batch_size):
            seeds = run.seeds(batch, snr)
            start = time.perf_counter()
            bound = capacity_bound(run.data.batch(batch), rate, snr, channel=run.channel,
                                   codec=spec.options.get("codec", "hevc"), seeds=seeds)
            seconds = (time.perf_counter() - start) / len(batch)
            for k, i in enumerate(batch):
                values, is_nan = _scored(run.data[i], bound.images[k : k + 1])
                rows.append(_row(spec, info, run, run.data[i], rate, snr, seeds[k], bound.channel_uses, 0,
                                 {**values, "params": None, "macs": None, **dict.fromkeys(USES_COLUMNS)}, False,
                                 is_nan, seconds, 0.0))
            run.tick()
    return rows


def _scheme_rows(spec: EvalSpec, scheme: Scheme, info: ModelInfo, rate: float, run: _Run,
                 tx_data: BenchmarkData) -> list[dict[str, Any]]:
    """Every row of ``scheme`` at one rate point: each batch is sent once and received at every SNR; a transmitter
    that reads labels reads ``tx_data``'s."""
    # Neural schemes run on ``run.device``; the separation baseline's codecs and decoders work on CPU tensors.
    on = run.device if isinstance(scheme, TrainableScheme) else torch.device("cpu")
    channel = CHANNELS.get(run.channel)()
    rows = []
    with torch.no_grad():
        def labels(batch: list[int]) -> TransmitterLabels | None:
            return tx_data.transmitter_labels(batch).to(on) if scheme.uses_labels else None  # the transmitter's alone

        complexity = scheme_complexity(scheme, run.data.batch([0]).to(on), rate, channel, labels([0]))
        for batch in _batches(len(run.data), run.batch_size):
            images = run.data.batch(batch).to(on)
            start = time.perf_counter()
            tx = scheme.transmit(images, rate, labels(batch))  # once per batch: what is sent does not depend on SNR
            _sync(on)
            encode_s = (time.perf_counter() - start) / len(batch)
            maps = scheme.code_lengths(tx)
            if maps is not None and batch[0] == 0:
                save_heatmaps(maps, [run.data[i] for i in batch], f"{spec.scheme} {info.config} rate {rate:g}",
                              run.heatmaps)
            spent = [uses_per_tier(maps[k], run.data[i]) if maps is not None else dict.fromkeys(USES_COLUMNS)
                     for k, i in enumerate(batch)]
            lengths, side_bits = tx.lengths.tolist(), tx.bits().tolist()
            for snr in run.snrs:
                seeds = run.seeds(batch, snr)
                received, state = _through_channel(channel, tx.symbols, tx.lengths, snr, seeds)
                start = time.perf_counter()
                recon = scheme.receive(received, tx.for_receiver(), state)  # what crossed, no clean symbols
                _sync(on)
                decode_s = (time.perf_counter() - start) / len(batch)
                failed = getattr(scheme, "last_failed", torch.zeros(len(batch), dtype=torch.bool))
                for k, i in enumerate(batch):
                    side = run.rule.channel_uses(int(side_bits[k]), snr)
                    values, is_nan = _scored(run.data[i], recon[k : k + 1])
                    rows.append(_row(spec, info, run, run.data[i], rate, snr, seeds[k], int(lengths[k]) + side,
                                     side, {**values, **complexity, **spent[k]}, bool(failed[k]), is_nan, encode_s,
                                     decode_s))
                run.tick()
    return rows


def _row(spec: EvalSpec, info: ModelInfo, run: _Run, item: LabeledImage, rate: float, snr: float, seed: int,
         uses: int, side_uses: int, values: dict[str, Any], failed: bool, nan_output: bool, encode_s: float,
         decode_s: float) -> dict[str, Any]:
    h, w = run.data.resolution
    return {"image_id": item.image_id, "scheme": spec.scheme, "model": info.model, "checkpoint": info.checkpoint,
            "config": info.config, "rate": float(rate), "channel": run.channel, "snr_db": float(snr), "seed": seed,
            "channel_uses": uses, "side_uses": side_uses, "side_rule": run.rule.name, "cbr": uses / (3 * h * w),
            **values, "failed": failed, "nan_output": nan_output, "encode_s": encode_s, "decode_s": decode_s}


ROW_KEY = ("scheme", "model", "config", "side_rule", "image_id", "rate", "channel", "snr_db", "seed")
"""The columns that identify a results row: a rerun replaces the rows with its keys and no other."""


def row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """``row``'s :data:`ROW_KEY` values."""
    return tuple(row[c] for c in ROW_KEY)


def merge_rows(out: str | Path, rows: list[dict[str, Any]]) -> None:
    """Merge ``rows`` into the results file ``out`` (atomic), replacing rows with the same key, under a file lock."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(out.with_name(out.name + ".lock")):
        existing = read_table(out, "results").to_pylist() if out.is_file() else []
        new = {row_key(r) for r in rows}
        write_table("results", to_table("results", [r for r in existing if row_key(r) not in new] + rows), out)


def _rates(spec: EvalSpec, scheme: Scheme | None) -> list[float]:
    if spec.rates:
        return [float(r) for r in spec.rates]
    if hasattr(scheme, "cbr"):  # a fixed-bandwidth model has exactly one rate point
        return [float(scheme.cbr)]
    raise SemcomError(f"scheme {spec.scheme!r} needs rate points", hint="pass --rate, e.g. eta values 0.1,0.3,1")


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
    side_rule: str = "ldpc",
) -> Path:
    """Evaluate ``specs`` on ``labelset`` at ``snrs``; rows are merged into the results table ``out`` (module doc).

    A rate point whose rows are all in ``out`` already is skipped unless ``force``; ``progress(done, total)`` counts
    batches. ``side_rule`` names the :data:`~semcom_bench.benchmark.side_info.SIDE_INFO_RULES` rule that prices side
    information. Schemes that allocate symbols per token also get code-length heatmaps of their first batch in
    ``{out stem}-heatmaps/``. Trained schemes run on ``device`` (``"auto"``: the GPU when there is one); channel draws
    come from CPU generators, so results do not depend on it beyond floating-point rounding. Returns ``out``.
    """
    on = resolve_device(device)
    out = Path(out)
    CHANNELS.get(channel)  # an unknown channel or rule fails before any work
    rule = get_rule(side_rule)
    data = BenchmarkData(labelset, limit)
    if (scales := metrics.ms_ssim_scales(*data.resolution)) < len(metrics.MS_SSIM_WEIGHTS):
        log.info("MS-SSIM of %dx%d images uses %d scales (5 need a short side of 161 px): not comparable with 5-scale "
                 "values", *data.resolution, scales)
    per_rate = len(snrs) * math.ceil(len(data) / batch_size)
    total = sum(max(len(s.rates), 1) for s in specs) * per_rate
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    run = _Run(data, [float(s) for s in snrs], channel, seed, batch_size, rule, out.with_name(f"{out.stem}-heatmaps"),
               on, tick)
    for spec in specs:
        scheme, info = _build(spec, data)
        tx_data = data
        if spec.tx_labels is not None:
            if scheme is None or not scheme.uses_labels:
                raise SemcomError(f"scheme {spec.scheme!r} reads no labels at its transmitter, so transmitter labels "
                                  f"({spec.tx_labels}) would change nothing", hint="drop --tx-labels for it")
            tx_data = BenchmarkData(spec.tx_labels, limit)
            data.check_same_images(tx_data)
            info = replace(info, config=f"{info.config}; transmitter read {tx_data.labels_identity()}")
        if isinstance(scheme, TrainableScheme):
            scheme.to(on)
        for rate in _rates(spec, scheme):
            existing = read_table(out, "results").to_pylist() if out.is_file() and not force else []
            if _complete(spec, info, rate, run, existing):
                done += per_rate  # finished by an earlier run: its rows stay as they are
                continue
            rows = (_bound_rows(spec, info, rate, run) if scheme is None
                    else _scheme_rows(spec, scheme, info, rate, run, tx_data))
            merge_rows(out, rows)
    return out


def _complete(spec: EvalSpec, info: ModelInfo, rate: float, run: _Run, rows: list[dict[str, Any]]) -> bool:
    """Whether ``rows`` already hold every (image, SNR) of ``spec`` at ``rate`` under the run's keys."""
    have = {row_key(r) for r in rows}
    return all((spec.scheme, info.model, info.config, run.rule.name, image_id, rate, run.channel, snr,
                pair_seed(run.seed, image_id, snr)) in have for image_id in run.data.image_ids for snr in run.snrs)
