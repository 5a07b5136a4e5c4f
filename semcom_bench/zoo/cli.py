"""`semcom-bench zoo list | data | train | check`; torch and the harness are imported inside the commands."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Reference checkpoints: list them, retrain them, check them.", no_args_is_help=True)
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True)
WORK = Path("zoo-work")


def _work_option() -> object:
    return typer.Option(help="Work folder of the zoo's data and training runs (resumable).")


@app.command("list")
def list_command() -> None:
    """Print the zoo as a table: what each entry is, how it was trained, its size and validation PSNR."""
    from semcom_bench.zoo.catalog import ZOO_DIR, load_recipes, manifest_path, read_manifest

    table = Table(title=f"semcom-bench zoo ({ZOO_DIR})")
    for column in ("name", "scheme", "hparams", "steps", "wall", "hardware", "MiB", "val PSNR", "at", "sha256"):
        table.add_column(column, justify="right" if column in ("steps", "wall", "MiB", "val PSNR") else "left")
    total = 0
    for name, recipe in load_recipes().entries.items():
        if not manifest_path(name).is_file():
            table.add_row(name, recipe.scheme, "-", "-", "-", "not trained: `semcom-bench zoo train " + name + "`",
                          "-", "-", "-", "-")
            continue
        m = read_manifest(name)
        total += m["size_bytes"]
        v = m["validation"]
        knobs = {k: m["hparams"][k] for k in ("cbr", "lmbda", "order") if k in m["hparams"]}
        if m.get("prune_ratio") is not None:
            knobs["pruned"] = m["prune_ratio"]
        at = f"{v['snr_db']:g} dB" + (f", eta {v['rate']:g}" if v["rate"] is not None else "") + f", CBR {v['cbr']:.4f}"
        table.add_row(name, m["scheme"], ", ".join(f"{k} {val:g}" for k, val in knobs.items()), str(m["steps"]),
                      f"{m['wall_s'] / 60:.1f} min", m["hardware"], f"{m['size_bytes'] / 2**20:.2f}",
                      f"{v['psnr']:.2f}", at, m["sha256"][:8])
    console.print(table)
    console.print(f"total size: {total / 2**20:.1f} MiB")


@app.command("data")
def data_command(work: Annotated[Path, _work_option()] = WORK) -> None:
    """Generate and label the zoo's synthcity train and val splits (recipes.yaml's data) in WORK/data."""
    from semcom_bench.zoo.build import zoo_data

    for (labeler, split), path in zoo_data(work, progress=_stage_printer()).items():
        console.print(f"{split} ({labeler}): {path.resolve()}")


def _stage_printer() -> Callable[[str, int, int], None]:
    """A progress callback that prints each stage about every tenth of its way (the data take seconds)."""
    last: dict[str, int] = {}

    def tick(stage: str, done: int, total: int) -> None:
        if done == total or done - last.get(stage, 0) >= max(total // 10, 1):
            last[stage] = done
            err_console.print(f"{stage}: {done}/{total}")

    return tick


@app.command("train")
def train_command(
    names: Annotated[Optional[list[str]], typer.Argument(help="Entries to train (default: every one).")] = None,
    work: Annotated[Path, _work_option()] = WORK,
) -> None:
    """Train (or resume) zoo entries with the `zoo` profile and export each into the zoo with its manifest. Long:
    about 85 minutes for the whole zoo as `make zoo` runs it (two 1-thread queues on 2 CPU cores). Ctrl-C keeps
    the last checkpoint; rerun to resume."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from semcom_bench.benchmark.train import TrainState
    from semcom_bench.zoo.build import export, train_recipe, zoo_data
    from semcom_bench.zoo.catalog import load_recipes

    recipes = load_recipes()
    chosen = [recipes.get(name) for name in names or recipes.entries]
    data = zoo_data(work, progress=_stage_printer())
    for recipe in chosen:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("[cyan]{task.fields[info]}"), TimeElapsedColumn(), console=err_console) as bar:
            task = bar.add_task(f"train {recipe.name}", total=None, info="")

            def update(state: TrainState) -> None:
                bar.update(task, completed=state.step, total=state.steps, info=f"PSNR {state.psnr:.2f} dB")

            checkpoint = train_recipe(recipe, data, work, update)
        manifest = export(recipe, checkpoint, data, work)
        v = manifest["validation"]
        console.print(f"{recipe.name}: {manifest['file']} ({manifest['size_bytes'] / 2**20:.2f} MiB), "
                      f"val PSNR {v['psnr']:.2f} dB at {v['snr_db']:g} dB, CBR {v['cbr']:.4f}")


@app.command("check")
def check_command(
    names: Annotated[Optional[list[str]], typer.Argument(help="Entries to check (default: every trained one).")]
    = None,
    work: Annotated[Path, _work_option()] = WORK,
) -> None:
    """Re-measure zoo entries on the val split and compare with the PSNR in their manifests (hashes checked too);
    exit status 1 when one is outside its tolerance."""
    from semcom_bench.zoo.build import check
    from semcom_bench.zoo.catalog import manifests

    rows = check(names or [m["name"] for m in manifests()], work)
    table = Table(title="zoo check: val PSNR (dB), recorded against measured")
    for column in ("name", "recorded", "measured", "delta", "tolerance", "ok"):
        table.add_column(column, justify="left" if column == "name" else "right")
    for r in rows:
        table.add_row(r["name"], f"{r['recorded']:.3f}", f"{r['measured']:.3f}", f"{r['delta']:+.3f}",
                      f"{r['tolerance']:g}", "yes" if r["ok"] else "[bold red]NO[/]")
    console.print(table)
    if not all(r["ok"] for r in rows):
        raise typer.Exit(1)
