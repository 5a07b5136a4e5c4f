"""`semcom-bench annotate DATASET ...` and `semcom-bench labels score ...`.

The pipeline (pyarrow, and openai for the MLLM stages) is imported inside the commands; at the top only what the
options' help needs (the registries' names), so that `semcom-bench --help` starts fast.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from semcom_bench.annotate.base import DETECTORS, LABELERS, RELATION_PREDICTORS
from semcom_bench.datasets.base import DATASETS
from semcom_bench.datasets.imageio import parse_size
from semcom_bench.logs import redact
from semcom_bench.tasks import task_names

EXIT_INCOMPLETE = 3
"""Exit status of an annotate run that ended with failed (unlabelled) images; 2 is an error, 0 a complete set."""
DEFAULT_TIMEOUT_S = 60.0

console = Console()
err_console = Console(stderr=True)


def annotate_command(
    dataset: Annotated[str, typer.Argument(help="Dataset adapter: " + ", ".join(DATASETS.names()))],
    out: Annotated[Path, typer.Option(help="Label-set folder to write (or resume).")],
    root: Annotated[Optional[Path], typer.Option(help="Dataset folder.")] = None,
    split: Annotated[Optional[str], typer.Option(help="Split (adapter default if omitted).")] = None,
    task: Annotated[str, typer.Option(help="Task name (" + ", ".join(task_names()) + ") or a task YAML path.")] = "pedestrian-collision-warning",
    detector: Annotated[str, typer.Option(help="Detector: " + ", ".join(DETECTORS.names()))] = "gt",
    weights: Annotated[Optional[Path], typer.Option(help="YOLO weights file (detector yolo).")] = None,
    relations: Annotated[str, typer.Option(help="Relation predictor: " + ", ".join(RELATION_PREDICTORS.names()))] = "geometric",
    labeler: Annotated[Optional[str], typer.Option(help="Labeler: " + ", ".join(LABELERS.names()) + " (default: mllm when a server is configured, else heuristic).")] = None,
    size: Annotated[Optional[str], typer.Option(help="Resize images to HxW, e.g. 256x512.")] = None,
    patch_size: Annotated[int, typer.Option(min=1, help="Patch size in pixels for patch tiers.")] = 16,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Only the first N images.")] = None,
    base_url: Annotated[Optional[str], typer.Option(help="OpenAI-compatible API root; default $OPENAI_BASE_URL. Key from $OPENAI_API_KEY.")] = None,
    model: Annotated[Optional[str], typer.Option(help="MLLM model name.")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Images (and so MLLM requests) in flight at once.")] = 4,
    timeout: Annotated[float, typer.Option(min=0.001, help="Seconds one MLLM request may take before it is retried "
                                           "(then counted as failed); other images go on meanwhile.")] = DEFAULT_TIMEOUT_S,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Write finished images to disk every N images; an "
                                                  "interrupted run loses at most the last N.")] = 25,
    cache_dir: Annotated[Optional[Path], typer.Option(help="MLLM answer cache (default OUT/llm_cache).")] = None,
    dry_run: Annotated[bool, typer.Option(help="Estimate MLLM requests, tokens and cost; send and write nothing.")] = False,
) -> None:
    """Turn a dataset split into a label set: objects, importance tiers, patch tiers, triplets, task masks.

    Re-running the same command resumes: finished images are kept, failed ones are retried. Exit status: 0 when
    every image is labelled, 3 when some failed (re-run to retry them), 2 on an error (nothing more was done).
    """
    from semcom_bench.annotate.pipeline import AnnotateConfig, Progress as Counters, annotate, estimate
    from semcom_bench.schemas import labelset_stats

    base_url = base_url or os.environ.get("OPENAI_BASE_URL")
    if labeler is None:
        labeler = "mllm" if base_url else "heuristic"
        if labeler == "heuristic":
            err_console.print(
                "[yellow]notice:[/] no MLLM server configured (--base-url or OPENAI_BASE_URL); "
                "using the offline heuristic labeler"
            )
    mllm: dict[str, Any] = {}
    if "mllm" in (labeler, relations):
        mllm = {"base_url": base_url, "timeout_s": timeout} | ({"model": model} if model else {})
    config = AnnotateConfig(
        dataset=dataset, task=task, root=str(root) if root else None, split=split,
        size=parse_size(size) if size else None, detector=detector, weights=str(weights) if weights else None,
        relations=relations, labeler=labeler, patch_size=patch_size, limit=limit, mllm=mllm,
    )
    if dry_run:
        totals = estimate(config)
        cost = "unknown (no price for this model)" if totals["cost_usd"] is None else f"${totals['cost_usd']:.4f}"
        console.print(
            f"dry run over {totals['images']} images: {totals['requests']} requests, "
            f"{totals['tokens_in']} input + {totals['tokens_out']} output tokens, cost {cost}; nothing sent or written"
        )
        return
    columns = (
        TextColumn("[bold]annotate"), BarColumn(), MofNCompleteColumn(), TextColumn("[cyan]{task.fields[info]}"),
        TimeElapsedColumn(), TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console) as bar:
        bar_task = bar.add_task("annotate", total=None, info="")

        def update(counters: Counters, total: int) -> None:
            speed = bar.tasks[0].speed or 0.0
            info = f"{speed:.1f} img/s, {counters.failed} failed"
            if counters.requests:
                info += f", {counters.requests} requests, {counters.tokens} tokens, ${counters.cost_usd:.4f}"
            bar.update(bar_task, total=total, completed=counters.done + counters.skipped, info=info)

        report = annotate(config, out, concurrency=concurrency, checkpoint_every=checkpoint_every,
                          cache_dir=cache_dir, progress=update)
    console.print(
        f"labelled {report.labelled} images ({report.already_done} already done), "
        f"{len(report.failed)} failed, {len(report.skipped)} unreadable; label set: {out.resolve()}"
    )
    stats = labelset_stats(out)
    console.print(f"objects per tier: {stats['object_importance']}; patches per tier: {stats['patch_importance']}")
    if report.failed:
        for image_id in report.failed:
            err_console.print(f"[yellow]failed[/] {escape(image_id)}: see its llm_calls rows")
        err_console.print(
            f"[bold yellow]incomplete:[/] {len(report.failed)} image(s) failed and are unlabelled; the same command "
            f"retries them (the rest is kept):\n  {escape(redact(shlex.join(['semcom-bench', *sys.argv[1:]])))}",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_INCOMPLETE)


def score_command(
    labelset: Annotated[Path, typer.Argument(help="Label set made on a synthcity root.")],
    truth: Annotated[Path, typer.Option(help="The synthcity root it was made from.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Score a label set against synthcity's truth: relation P/R/F1, tier kappa and confusion, task-mask IoU."""
    from semcom_bench.annotate.score import score_labelset

    scores = score_labelset(labelset, truth)
    if scores["unlabelled_objects"]:
        err_console.print(f"[yellow]warning:[/] {scores['unlabelled_objects']} object(s) have no tier and are scored "
                          "as tier 0; re-run the label set's annotate command to label them")
    if as_json:
        typer.echo(json.dumps(scores))
        return
    for key, value in scores.items():
        console.print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
