"""`semcom-bench bench train | eval | report`; torch and the harness are imported inside the commands."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

DEVICE_HELP = "auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda or cuda:N."
app = typer.Typer(help="Train, evaluate and compare transmission schemes against a label set.", no_args_is_help=True)
# Wide tables: outside a terminal (a pipe, a log) rich would squeeze them into 80 columns.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True)


def _floats(text: str, what: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"{what} must be comma-separated numbers, e.g. -3,0,3,10") from None


def _bar() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("[cyan]{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=err_console)


@app.command("train")
def train_command(
    scheme: Annotated[str, typer.Option(help="Trainable scheme, e.g. deepjscc, ntscc.")],
    labels: Annotated[Path, typer.Option(help="Label set whose images to train on.")],
    out: Annotated[Path, typer.Option(help="Run folder; an existing checkpoint there is resumed.")],
    profile: Annotated[str, typer.Option(help="smoke (CPU, minutes) or paper (GPU, papers' settings).")] = "smoke",
    snr_train: Annotated[Optional[float], typer.Option(help="Training SNR in dB (profile default if omitted).")] = None,
    cbr: Annotated[Optional[float], typer.Option(help="Target CBR, for schemes with a fixed bandwidth ratio.")] = None,
    steps: Annotated[Optional[int], typer.Option(min=1, help="Optimiser steps (profile default if omitted).")] = None,
    lmbda: Annotated[Optional[float], typer.Option(
        "--lmbda", min=0.0, help="Rate-distortion weight of schemes with an entropy model (NTSCC); profile default "
        "if omitted. Larger: fewer bits per token, so lower CBR and quality at a given eta.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of batches and channel draws.")] = 0,
    device: Annotated[str, typer.Option(help=DEVICE_HELP)] = "auto",
    prune: Annotated[Optional[float], typer.Option(
        min=0.0, max=0.99, help="Pruning ratio gamma of schemes pruned by their BN scales (lightweight): sparse "
        "training into OUT/sparse, then the profile's pruning rounds and fine-tuning; OUT holds the pruned model.",
    )] = None,
    finetune_steps: Annotated[Optional[int], typer.Option(
        min=0, help="With --prune: fine-tuning steps after each pruning round (profile default if omitted).")] = None,
) -> None:
    """Train a scheme over the channel; Ctrl-C keeps the last checkpoint and the same command resumes."""
    from semcom_bench.benchmark.train import TrainState, load_profile, train, train_pruned

    settings = load_profile(profile, scheme)
    settings.seed = seed
    settings.device = device
    if snr_train is not None:
        settings.snr_train = snr_train
    if steps is not None:
        settings.steps = steps
    if cbr is not None:
        settings.hparams["cbr"] = cbr
    if lmbda is not None:
        settings.hparams["lmbda"] = lmbda
    if finetune_steps is not None:
        settings.finetune_steps = finetune_steps
    with _bar() as bar:
        task = bar.add_task(f"train {scheme}", total=settings.steps, info="")

        def update(state: TrainState) -> None:
            # total too: with --prune each stage (sparse training, every fine-tuning round) counts its own steps
            bar.update(task, completed=state.step, total=state.steps,
                       info=f"loss {state.loss:.4f}  PSNR {state.psnr:.2f} dB")

        if prune is None:
            path = train(scheme, labels, out, settings, profile, update)
        else:
            path = train_pruned(scheme, labels, out, settings, prune, profile, update)
    console.print(f"checkpoint: {path.resolve()}")


@app.command("eval")
def eval_command(
    scheme: Annotated[str, typer.Option(help="Scheme: a trained one with --checkpoint, or separation / capacity.")],
    labels: Annotated[Path, typer.Option(help="Label set to evaluate on (its task masks and patch tiers).")],
    out: Annotated[Path, typer.Option(help="Results Parquet file (rows are merged into it).")],
    checkpoint: Annotated[Optional[Path], typer.Option(help="Checkpoint of a trained scheme.")] = None,
    snr: Annotated[str, typer.Option(help="SNRs in dB, comma-separated.")] = "-3,0,3,10",
    channel: Annotated[str, typer.Option(help="awgn or rayleigh.")] = "awgn",
    rate: Annotated[Optional[str], typer.Option(help="Rate points, comma-separated: CBR, or eta for ntscc.")] = None,
    codec: Annotated[str, typer.Option(help="Source codec of separation / capacity: hevc, jpeg2000, webp.")] = "hevc",
    limit: Annotated[Optional[int], typer.Option(min=1, help="Only the first N images.")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 4,
    seed: Annotated[int, typer.Option(help="Run seed; same seed = same channel draws for every scheme.")] = 0,
    force: Annotated[bool, typer.Option(help="Recompute configurations already in the results file.")] = False,
    device: Annotated[str, typer.Option(help=DEVICE_HELP)] = "auto",
    side_info: Annotated[str, typer.Option(
        help="How the harness prices every scheme's side information: ldpc (5G LDPC + QAM at the best setting that "
        "decodes at the SNR) or capacity (an ideal code: an optimistic floor).")] = "ldpc",
    tx_labels: Annotated[Optional[Path], typer.Option(
        help="A label set of the same images whose tiers and task masks the transmitter reads instead of --labels' "
        "(e.g. oosc with a `--labeler static` set, scored on --labels' tiers).")] = None,
    modulation: Annotated[Optional[str], typer.Option(
        help="How a checkpoint with a modulation choice (lightweight) sends its features: analog, 4qam, 16qam, "
        "64qam or 256qam (default analog); the results' config names it.")] = None,
) -> None:
    """Evaluate a scheme over the channel with paired, seeded realisations; one results row per image and point."""
    from semcom_bench.benchmark.evaluate import EvalSpec, evaluate, separation_specs

    rates = _floats(rate, "--rate") if rate else []
    if modulation is not None and scheme in ("separation", "capacity"):
        raise typer.BadParameter(f"{scheme} has its own modulation grid; --modulation is for checkpoints such as "
                                 "lightweight's", param_hint="--modulation")
    if scheme == "separation":
        specs = [spec for cbr in (rates or [1 / 16]) for spec in separation_specs(cbr, codec)]
    elif scheme == "capacity":
        specs = [EvalSpec("capacity", rates or [1 / 16], options={"codec": codec}, config=f"{codec} at capacity")]
    else:
        specs = [EvalSpec(scheme, rates, str(checkpoint) if checkpoint else None,
                          tx_labels=str(tx_labels) if tx_labels else None, modulation=modulation)]
    with _bar() as bar:
        task = bar.add_task(f"eval {scheme}", total=None, info="")
        path = evaluate(specs, labels, _floats(snr, "--snr"), out, channel=channel, seed=seed,
                        batch_size=batch_size, limit=limit, force=force, device=device, side_rule=side_info,
                        progress=lambda done, total: bar.update(task, completed=done, total=total))
    console.print(f"results: {path.resolve()}")


@app.command("report")
def report_command(
    results: Annotated[Path, typer.Argument(help="Results Parquet file from `bench eval`.")],
    out: Annotated[Optional[Path], typer.Option(help="Folder for plots and JSON (default: next to RESULTS).")] = None,
    at: Annotated[Optional[float], typer.Option(
        "--at-cbr", min=0.0,
        help="Also print every curve's PSNR, TC-PSNR and tier-3 PSNR at this CBR (interpolated, not extrapolated).",
    )] = None,
) -> None:
    """Print the comparison table and write plots, summary.json and a CompressAI-style compressai.json."""
    from semcom_bench.benchmark.report import at_cbr, write_report

    folder = out or results.with_suffix("")
    report = write_report(results, folder, at)
    print_summary(report["summary"], f"{results.name}: dataset-level (pooled) metrics")
    if at is not None:
        table = Table(title=f"at CBR {at:.4g} (n/a: the curve's rate points do not reach it)")
        metrics = ("psnr", "tc_psnr", "psnr_tier3")
        for column in ("curve", "channel", "snr_db", *metrics):
            table.add_column(column, justify="left" if column in ("curve", "channel") else "right")
        columns = [at_cbr(report["summary"], at, metric) for metric in metrics]
        for row, *others in zip(*columns, strict=True):
            table.add_row(row["curve"], row["channel"], _fmt(row["snr_db"]),
                          *("n/a" if r["value"] is None else _fmt(r["value"]) for r in (row, *others)))
        console.print(table)
    print_tier_shares(report["summary"])
    print_models(report["models"])
    print_crossings(report["crossings"])
    for path in [*report["plots"], *report["json"]]:
        console.print(f"wrote {path.resolve()}")


def print_summary(summary: list[dict[str, object]], title: str) -> None:
    """The report's comparison table."""
    from semcom_bench.benchmark.report import short_model

    table = Table(title=title)
    columns = ("scheme", "config", "model", "rate", "channel", "snr_db", "cbr", "side_uses", "psnr", "tc_psnr",
               "psnr_tier3", "psnr_tier0", "ssim", "failed", "nan_output", "images", "params", "macs")
    for column in columns:
        text = column in ("scheme", "config", "model", "channel")
        table.add_column(column, justify="left" if text else "right", no_wrap=column in ("scheme", "model"))
    for entry in summary:
        table.add_row(*[_fmt(entry[c]) if c != "model" else short_model(entry[c]) or "-" for c in columns])
    console.print(table)


def print_tier_shares(summary: list[dict[str, object]]) -> None:
    """Where the symbols went: each token-allocating curve's share of channel uses per tier against the tier's share
    of pixels (one row per scheme, model and rate point: the shares depend on neither channel nor SNR)."""
    from semcom_bench.benchmark.report import short_model

    rows = {}
    for e in summary:
        if e.get("uses_share_tier0") is not None:
            rows.setdefault((e["scheme"], e["config"], e["model"], e["rate"]), e)
    if not rows:
        return
    table = Table(title="channel uses per importance tier (uses share / pixel share)")
    for column in ("scheme", "config", "model", "rate", *(f"tier {t}" for t in range(4))):
        table.add_column(column, justify="left" if column in ("scheme", "config", "model") else "right")
    for (scheme, config, model, rate), e in sorted(rows.items()):
        table.add_row(str(scheme), str(config), short_model(str(model)) or "-", _fmt(rate),
                      *(f"{e[f'uses_share_tier{t}']:.1%} / {e[f'pixel_share_tier{t}']:.1%}" for t in range(4)))
    console.print(table)


def print_models(rows: list[dict[str, Any]]) -> None:
    """Each learned curve's size, MACs and quality at its channel's highest SNR (the lightweight paper's Table II)."""
    if not rows:
        return
    table = Table(title="learned models at each channel's highest SNR (size: float32 parameters)")
    for column in ("curve", "channel", "snr_db", "params", "size MiB", "MACs M", "cbr", "psnr", "ssim"):
        table.add_column(column, justify="left" if column in ("curve", "channel") else "right")
    for r in rows:
        macs = "-" if r["macs"] is None else f"{r['macs'] / 1e6:.2f}"
        table.add_row(str(r["curve"]), str(r["channel"]), _fmt(r["snr_db"]), _fmt(r["params"]),
                      f"{r['size_mib']:.3f}", macs, *(_fmt(r[c]) for c in ("cbr", "psnr", "ssim")))
    console.print(table)


def print_crossings(rows: list[dict[str, Any]]) -> None:
    """Below which SNR each learned curve beats the separation baseline at its CBR (the lightweight paper's Fig. 3)."""
    if not rows:
        return
    table = Table(title="learned curve against separation (best) at its CBR: it is better below the crossing SNR")
    for column in ("curve", "metric", "cbr", "separation cbr", "crossing"):
        table.add_column(column, justify="left" if column in ("curve", "metric") else "right")
    for r in rows:
        if r["snr_db"] is not None:
            cross = f"{r['snr_db']:.1f} dB"
        else:  # no fall from above to below: better throughout, or not better at the lowest SNR
            cross = "better at every SNR" if r["above"] else "not better at the lowest SNR"
        table.add_row(str(r["curve"]), str(r["metric"]), _fmt(r["cbr"]), _fmt(r["separation_cbr"]), cross)
    console.print(table)


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else ("nan" if math.isnan(value) else f"{value:.4g}")
    return str(value)
