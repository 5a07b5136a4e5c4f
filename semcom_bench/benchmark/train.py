"""Training harness: profiles, seeds, checkpoints with resume, one loop for every trainable scheme.

The harness owns the optimiser and the schedule; a scheme owns its loss (``TrainableScheme.training_step``).
CompressAI's entropy-bottleneck quantiles (parameters named ``*.quantiles``) get their own optimiser on ``aux_loss``,
as CompressAI's own training does.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import yaml

from semcom_bench.benchmark.data import BenchmarkData
from semcom_bench.errors import SemcomError
from semcom_bench.phy.base import CHANNELS
from semcom_bench.phy.channels import make_generator
from semcom_bench.schemes.base import SCHEMES, TrainableScheme

PROFILES_FILE = Path(__file__).with_name("profiles.yaml")
PROVENANCE = ("pruned_from", "prune_ratio")
"""Checkpoint keys that say where a model came from; a run resumed from such a checkpoint keeps them."""
CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainSettings:
    """A training run's schedule; a profile gives the defaults, the CLI may override them.

    ``lr_drops``: ``[from_step, lr]`` pairs, e.g. ``[[100000, 1.0e-4]]`` for Deep JSCC's 1e-3 then 1e-4.
    ``lmbda_sweep``: the rate-distortion weights a paper trains one model each for (NTSCC's 16, 64, 256 / 255**2);
    one run trains at ``hparams["lmbda"]``, so it is a list for sweeps (``bench train --lmbda``,
    ``benchmarks/ntscc_regime.py``) and is not read by :func:`train`.
    ``prune_rounds`` and ``finetune_steps``: Algorithm 1 of the lightweight JSCC (:func:`train_pruned`): the pruning
    rounds after sparse training and the MSE-only fine-tuning steps after each round.
    ``clip_grad_norm``: the largest L2 norm of the main parameters' gradient in one step (``None``: no clipping), as
    CompressAI's example trainer clips at 1.0; it binds only on a spike, which it keeps from wrecking the weights.
    """

    steps: int
    batch_size: int
    lr: float
    snr_train: float
    channel: str = "awgn"
    seed: int = 0
    checkpoint_every: int = 50
    aux_lr: float = 1e-3
    lr_drops: list[list[float]] = field(default_factory=list)
    lmbda_sweep: list[float] = field(default_factory=list)
    prune_rounds: int = 1
    finetune_steps: int = 0
    hparams: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    clip_grad_norm: float | None = None

    def lr_at(self, step: int) -> float:
        """The learning rate of ``step``: ``lr``, or the last ``[from_step, lr]`` of ``lr_drops`` reached."""
        lr = self.lr
        for start, value in sorted(self.lr_drops):
            if step >= start:
                lr = value
        return lr


def load_profile(profile: str, scheme: str) -> TrainSettings:
    """The settings of ``profile`` (``smoke`` or ``paper``) for ``scheme``, from ``profiles.yaml``."""
    profiles = yaml.safe_load(PROFILES_FILE.read_text())
    if profile not in profiles:
        raise SemcomError(f"unknown profile {profile!r}", hint=f"choose one of: {', '.join(profiles)}")
    base = dict(profiles[profile])
    base.pop("description", None)
    per_scheme = base.pop("schemes", {})
    if scheme not in per_scheme:
        raise SemcomError(f"profile {profile!r} has no settings for scheme {scheme!r}",
                          hint=f"trainable schemes in it: {', '.join(per_scheme)}")
    overrides = dict(per_scheme[scheme])
    hparams = overrides.pop("hparams", {})
    return TrainSettings(**{**base, **overrides}, hparams=hparams)


@dataclass
class TrainState:
    """Progress of a run, reported after every step."""

    step: int
    steps: int
    loss: float
    psnr: float


def resolve_device(name: str) -> torch.device:
    """``"auto"`` (CUDA when there is a GPU, else the CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` as a device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SemcomError(f"unknown device {name!r}", hint="use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise SemcomError(f"device {name!r} is not supported", hint="use auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SemcomError(f"device {name!r} asked for, but torch sees no CUDA GPU here",
                          hint="use --device cpu (or auto), or install a CUDA build of torch on a GPU machine")
    return device


def build_scheme(name: str, hparams: dict[str, Any]) -> TrainableScheme:
    """A fresh trainable scheme ``name`` with ``hparams``."""
    cls = SCHEMES.get(name)
    if not issubclass(cls, TrainableScheme):
        raise SemcomError(f"scheme {name!r} has nothing to train", hint="evaluate it directly with `bench eval`")
    return cls(**hparams)


def hardware(device: torch.device) -> str:
    """Where a run trains, in words: the GPU's name, or the CPU's with the threads torch uses."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")  # Linux names the model there; platform only gives the architecture
    if info.is_file():
        cpu = next((line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
                    if line.startswith("model name")), cpu)
    return f"{cpu}, {torch.get_num_threads()} torch threads"


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write a checkpoint's payload atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # a crash mid-save leaves the previous checkpoint intact


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's payload, unpickling tensors and plain data only (no code runs from the file)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError) as err:  # torch reports a damaged zip or refused content this way
        raise SemcomError(f"{path} cannot be read as a semcom-bench checkpoint ({str(err).splitlines()[0]})",
                          hint="re-train it with `semcom-bench bench train`, or pass another checkpoint") from None


def checkpoint_file(ref: str | Path) -> Path:
    """The checkpoint file behind ``ref``: a run folder, the file itself, or ``zoo:NAME`` (a zoo entry, its SHA-256
    checked against its manifest)."""
    from semcom_bench.zoo.catalog import is_zoo_ref, resolve

    if is_zoo_ref(ref):
        return resolve(ref)
    path = Path(ref)
    return path / CHECKPOINT if path.is_dir() else path


def load_checkpoint(path: str | Path, scheme: str | None = None) -> tuple[TrainableScheme, dict[str, Any]]:
    """Rebuild the scheme stored in checkpoint ``path`` (see :func:`checkpoint_file`); ``scheme`` (if given) must
    match the stored one."""
    path = checkpoint_file(path)
    if not path.is_file():
        raise SemcomError(f"no checkpoint {path}", hint="train one with `semcom-bench bench train --out DIR`")
    payload = read_checkpoint(path)
    if scheme is not None and payload["scheme"] != scheme:
        raise SemcomError(f"{path} is a checkpoint of scheme {payload['scheme']!r}, not {scheme!r}",
                          hint=f"pass --scheme {payload['scheme']} or the checkpoint of a {scheme} run")
    model = build_scheme(payload["scheme"], payload["hparams"])
    model.load_state_dict(payload["state_dict"])
    return model, payload


def train(
    scheme: str,
    labelset: str | Path,
    out: str | Path,
    settings: TrainSettings,
    profile: str = "custom",
    progress: Callable[[TrainState], None] | None = None,
) -> Path:
    """Train ``scheme`` on the images of ``labelset``; checkpoints go to ``out/checkpoint.pt``, and a run that finds one
    there continues from it (same scheme, hyper-parameters and data resolution only). Returns the checkpoint path."""
    if settings.clip_grad_norm is not None and not settings.clip_grad_norm > 0:
        raise SemcomError(f"clip_grad_norm must be > 0 (or None: no clipping), got {settings.clip_grad_norm}",
                          hint="CompressAI's example trainer clips at 1.0")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = BenchmarkData(labelset)
    device = resolve_device(settings.device)
    with torch.random.fork_rng():  # seeded initial weights, without touching the caller's random state
        torch.manual_seed(settings.seed)
        model = build_scheme(scheme, settings.hparams)
    aux_params = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    main_params = [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
    optimizer = torch.optim.Adam(main_params, lr=settings.lr)
    aux_optimizer = torch.optim.Adam(aux_params, lr=settings.aux_lr) if aux_params else None
    channel = CHANNELS.get(settings.channel)()
    meta = {"scheme": scheme, "hparams": model.hparams(), "resolution": list(data.resolution),
            "settings": asdict(settings), "profile": profile, "labelset": str(Path(labelset).resolve())}
    path = out / CHECKPOINT
    start, wall_before = 0, 0.0
    if path.is_file():
        payload = read_checkpoint(path)
        for key in ("scheme", "hparams", "resolution"):
            if payload[key] != meta[key]:
                raise SemcomError(f"{path} was trained with another {key} ({payload[key]} != {meta[key]})",
                                  hint="resume with the same scheme, settings and data, or choose a new --out")
        model.load_state_dict(payload["state_dict"])
        start = payload["step"]
        wall_before = payload.get("wall_s", 0.0)
        meta.update({key: payload[key] for key in PROVENANCE if key in payload})  # a fine-tuned round stays "pruned"
    model.to(device)  # before the optimiser states load: they follow their parameters' device
    if start:
        optimizer.load_state_dict(payload["optimizer"])
        if aux_optimizer is not None:
            aux_optimizer.load_state_dict(payload["aux_optimizer"])
    batch_gen = torch.Generator().manual_seed(settings.seed)
    for _ in range(start):  # replay the batch draws so a resumed run sees the batches an unbroken one would
        torch.randint(len(data), (settings.batch_size,), generator=batch_gen)
    model.train()
    meta["hardware"] = hardware(device)
    started = time.perf_counter()
    for step in range(start, settings.steps):
        indices = torch.randint(len(data), (settings.batch_size,), generator=batch_gen).tolist()
        for group in optimizer.param_groups:
            group["lr"] = settings.lr_at(step)
        images = data.batch(indices).to(device)
        labels = {"labels": data.transmitter_labels(indices).to(device)} if model.uses_labels else {}
        out_step = model.training_step(images, channel, settings.snr_train,
                                       make_generator(settings.seed * 1_000_003 + step), **labels)
        loss = out_step["loss"]
        if not torch.isfinite(loss):
            raise SemcomError(f"training diverged at step {step}: loss {loss.item()}", hint="lower the learning rate")
        optimizer.zero_grad()
        loss.backward()
        if settings.clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(main_params, settings.clip_grad_norm)
        optimizer.step()
        if aux_optimizer is not None and "aux_loss" in out_step:
            aux_optimizer.zero_grad()
            out_step["aux_loss"].backward()
            aux_optimizer.step()
        mse = float(out_step.get("mse", torch.tensor(float("nan"))).detach())
        if progress is not None:
            progress(TrainState(step + 1, settings.steps, float(loss.detach()), 10 * math.log10(1 / mse) if mse > 0 else float("nan")))
        if (step + 1) % settings.checkpoint_every == 0 or step + 1 == settings.steps:
            save_checkpoint(path, {
                **meta, "state_dict": model.state_dict(), "optimizer": optimizer.state_dict(),
                "aux_optimizer": aux_optimizer.state_dict() if aux_optimizer else None, "step": step + 1,
                "wall_s": wall_before + time.perf_counter() - started})
    return path


def prune_and_finetune(
    source: str | Path,
    labelset: str | Path,
    out: str | Path,
    ratio: float,
    settings: TrainSettings,
    profile: str = "custom",
    progress: Callable[[TrainState], None] | None = None,
) -> Path:
    """Algorithm 1's pruning loop on the (sparse-trained) checkpoint ``source``: ``settings.prune_rounds`` rounds, round
    ``r`` pruning the model to ``floor(C (1 - ratio r / R))`` of the source's ``C`` BN channels (the scheme's
    ``prune``) and fine-tuning it ``settings.finetune_steps`` steps with MSE only (``l1 = 0``).

    Round ``r < R`` lives in ``out/round-r``, the last in ``out`` (``out/checkpoint.pt``, the pruned model; its hparams
    hold the pruned widths). Each round first writes its pruned, untrained model as a step-0 checkpoint, which
    :func:`train` resumes from, so an interrupted run continues where it stopped. Returns the final checkpoint.
    """
    out = Path(out)
    model, payload = load_checkpoint(source)
    if not hasattr(model, "prune"):
        raise SemcomError(f"scheme {payload['scheme']!r} has no pruning", hint="--prune applies to lightweight")
    if not 0.0 <= ratio < 1.0:
        raise SemcomError(f"pruning ratio must lie in [0, 1), got {ratio}", hint="e.g. --prune 0.5 removes half")
    data = BenchmarkData(labelset)
    channels = model.prunable_channels()
    previous = checkpoint_file(source)  # a zoo name too
    rounds = max(settings.prune_rounds, 1)
    for r in range(1, rounds + 1):
        folder = out if r == rounds else out / f"round-{r}"
        if not (folder / CHECKPOINT).is_file():
            model, payload = load_checkpoint(previous)
            keep = int(channels * (1 - ratio * r / rounds))
            if keep < model.prunable_channels():  # ratio 0 prunes nothing and fine-tunes alike (Table II's gamma = 0)
                # the pruner keeps floor(C_now (1 - rho)) channels: the + 0.5 makes that exactly ``keep``
                model.prune(1 - (keep + 0.5) / model.prunable_channels(), data.batch([0]))
            model.l1 = 0.0  # fine-tuning uses the MSE alone (Algorithm 1)
            folder.mkdir(parents=True, exist_ok=True)
            round_settings = replace(settings, hparams=model.hparams())
            save_checkpoint(folder / CHECKPOINT, {
                "scheme": payload["scheme"], "hparams": model.hparams(), "resolution": list(data.resolution),
                "settings": asdict(round_settings), "profile": profile, "labelset": str(Path(labelset).resolve()),
                "state_dict": model.state_dict(), "optimizer": None, "aux_optimizer": None, "step": 0,
                "pruned_from": str(Path(previous).resolve()), "prune_ratio": ratio * r / rounds})
        hparams = read_checkpoint(folder / CHECKPOINT)["hparams"]
        round_settings = replace(settings, steps=settings.finetune_steps, seed=settings.seed + r, hparams=hparams)
        previous = train(payload["scheme"], labelset, folder, round_settings, profile, progress)
    return previous


def train_pruned(
    scheme: str,
    labelset: str | Path,
    out: str | Path,
    settings: TrainSettings,
    ratio: float,
    profile: str = "custom",
    progress: Callable[[TrainState], None] | None = None,
) -> Path:
    """Algorithm 1 whole: sparse training (``settings``, whose hparams give eq. 12's ``l1``) into ``out/sparse``, then
    :func:`prune_and_finetune` at ``ratio`` into ``out``. Both stages resume. Returns the pruned checkpoint."""
    sparse = train(scheme, labelset, Path(out) / "sparse", settings, profile, progress)
    return prune_and_finetune(sparse, labelset, out, ratio, settings, profile, progress)
