"""The `semcom-bench` command: each subpackage contributes a sub-app; no logic lives here.

Start-up stays light (``benchmarks/cli_startup.py`` times it): the sub-apps import torch, compressai, pyarrow, openai
and matplotlib inside the commands that use them, never at the top (``tests/test_cli_startup.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from semcom_bench import __version__
from semcom_bench.annotate.cli import annotate_command, score_command
from semcom_bench.benchmark.cli import app as bench_app
from semcom_bench.datasets.cli import app as datasets_app
from semcom_bench.errors import SemcomError
from semcom_bench.leaderboard.cli import app as leaderboard_app
from semcom_bench.logs import configure as configure_logging
from semcom_bench.logs import redact
from semcom_bench.phy.cli import app as phy_app
from semcom_bench.review.cli import app as review_app
from semcom_bench.schemas.cli import app as labels_app
from semcom_bench.zoo.cli import app as zoo_app

app = typer.Typer(
    help="Labels, human review and a fair benchmark for importance-aware semantic communication.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(datasets_app, name="datasets")
app.add_typer(labels_app, name="labels")
app.add_typer(bench_app, name="bench")
app.add_typer(phy_app, name="phy")
app.add_typer(leaderboard_app, name="leaderboard")
app.add_typer(review_app, name="review")
app.add_typer(zoo_app, name="zoo")
app.command("annotate")(annotate_command)
labels_app.command("score")(score_command)
err_console = Console(stderr=True)


@app.callback()
def _root(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True,
                                         help="-v: debug messages; -v -v: also every HTTP request (redacted).")] = 0,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()
    configure_logging(verbose, err_console)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for everything the demo writes.")] = Path("demo-output"),
    n: Annotated[int, typer.Option("--n", min=1, help="Synthetic training images.")] = 48,
    n_eval: Annotated[int, typer.Option(min=1, help="Synthetic evaluation images.")] = 8,
    steps: Annotated[int | None, typer.Option(min=1, help="Steps of the demo's own short training run (smoke "
                                              "profile if omitted).")] = None,
    zoo: Annotated[str | None, typer.Option(help="Zoo entries to evaluate, comma-separated (default: every "
                                            "trained one; `semcom-bench zoo list`).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic city.")] = 0,
) -> None:
    """Run the toolkit's main job on the embedded default (synthcity), offline: labels, the zoo's trained models and
    one short training run evaluated, report.

    Re-running resumes every step.
    """
    from rich.progress import Progress

    from semcom_bench.benchmark.cli import print_summary, print_tier_shares
    from semcom_bench.datasets.cli import print_stats
    from semcom_bench.demo import run_demo

    with Progress(console=err_console) as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        names = [name.strip() for name in zoo.split(",") if name.strip()] if zoo is not None else None
        result = run_demo(out, n=n, n_eval=n_eval, seed=seed, steps=steps, zoo=names, progress=update)
    print_stats(result.dataset_stats)
    typer.echo("label set vs synthcity truth: " + ", ".join(
        f"{key} {result.scores[key]:.3f}" for key in ("relation_f1", "tier_kappa", "mask_iou")))
    print_summary([e for e in result.summary if e["scheme"] != "separation"], "demo: pooled metrics on the val split")
    print_tier_shares(result.summary)
    typer.echo("zoo checkpoints evaluated: " + (", ".join(result.zoo) or "none")
               + " (trained on 1024 synthcity images at 128x256 for a CPU budget, not to convergence: the toolkit at "
               "work, not the papers' numbers; `semcom-bench zoo list`)")
    typer.echo("the demo's own training run: " + ", ".join(f"{k} {v} steps (smoke)" for k, v in result.steps.items())
               + ", to show training at work; `bench train --profile paper` trains the papers' settings")
    err_console.print("[bold green]demo finished[/]; outputs:")
    for what, path in result.outputs.items():
        err_console.print(f"  {what}: {path.resolve()}")


def main() -> None:
    """Entry point: a :class:`SemcomError` is printed as a message with its hint, exit status 2."""
    try:
        app()
    except SemcomError as err:
        err_console.print(f"[bold red]error:[/] {escape(redact(str(err)))}", highlight=False, soft_wrap=True)
        sys.exit(2)
