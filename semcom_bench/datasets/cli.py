"""`semcom-bench datasets ...`: generate the synthetic city and inspect any adapter's split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from semcom_bench.datasets.base import DATASETS, DatasetAdapter
from semcom_bench.datasets.imageio import parse_size
from semcom_bench.datasets.stats import DatasetStats, dataset_stats
from semcom_bench.progress import progress_bar

app = typer.Typer(help="Dataset adapters: generate synthcity, list adapters, print a split's statistics.", no_args_is_help=True)
console = Console()

SizeOption = Annotated[Optional[str], typer.Option(help="Resize to HxW, e.g. 256x512 (masks stay exact).")]


def _size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        return parse_size(text)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None


def open_adapter(name: str, root: Path | None, split: str | None, size: tuple[int, int] | None) -> DatasetAdapter:
    """Build the adapter ``name``; options left as ``None`` take the adapter's defaults."""
    kwargs: dict[str, object] = {"root": root, "size": size}
    if split is not None:
        kwargs["split"] = split
    return DATASETS.get(name)(**kwargs)


def print_stats(stats: DatasetStats) -> None:
    """Render a :class:`DatasetStats` as tables."""
    sizes = ", ".join(f"{h}x{w} ({n})" for (h, w), n in stats.sizes.most_common())
    console.print(
        f"[bold]{stats.dataset}[/] split [bold]{stats.split}[/]: {stats.images} images ({sizes or 'none'}), "
        f"{sum(stats.instances.values())} instances ({stats.instances_per_image:.1f}/image), "
        f"{stats.semantic_maps} semantic maps, {len(stats.skipped)} skipped"
    )
    for title, counter in (("class", stats.instances), ("predicate", stats.predicates)):
        if not counter:
            continue
        table = Table(title=f"instances per {title}" if title == "class" else "ground-truth relations")
        table.add_column(title)
        table.add_column("count", justify="right")
        for key, count in counter.most_common():
            table.add_row(key, str(count))
        console.print(table)
    for item in stats.skipped:
        console.print(f"[yellow]skipped[/] {item.image_id}: {item.reason}")


@app.command("list")
def list_adapters() -> None:
    """List the registered dataset adapters."""
    for name in DATASETS.names():
        doc = (DATASETS.get(name).__doc__ or "").strip().splitlines()[0]
        console.print(f"[bold]{name}[/]: {doc}")


@app.command()
def info(
    dataset: Annotated[str, typer.Argument(help="Adapter name: " + ", ".join(DATASETS.names()))],
    root: Annotated[Optional[Path], typer.Option(help="Dataset folder.")] = None,
    split: Annotated[Optional[str], typer.Option(help="Split (adapter default if omitted).")] = None,
    size: SizeOption = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Only the first N images.")] = None,
) -> None:
    """Read a split once and print its statistics; unreadable files are listed, not fatal."""
    adapter = open_adapter(dataset, root, split, _size(size))
    total = min(len(adapter), limit) if limit else len(adapter)
    with progress_bar(total, f"reading {dataset}") as update:
        stats = dataset_stats(adapter, limit, update)
    print_stats(stats)


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="Output folder (Cityscapes layout).")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of images.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed; image i depends only on (seed, i).")] = 0,
    size: Annotated[str, typer.Option(help="HxW.")] = "256x512",
    split: Annotated[str, typer.Option(help="Split folder name.")] = "train",
) -> None:
    """Generate a synthetic street-scene dataset in the exact Cityscapes layout, with a truth sidecar per image.

    Re-running with the same arguments skips images already written, so an interrupted run resumes.
    """
    from semcom_bench.datasets.synthcity import generate

    hw = _size(size)
    assert hw is not None
    with progress_bar(n, "synthcity") as update:
        report = generate(out, n=n, seed=seed, size=hw, split=split, progress=update)
    console.print(
        f"wrote {report.n_written} images ({report.n_skipped_existing} already present) to {out} "
        f"in {report.seconds:.1f} s"
    )
    print_stats(dataset_stats(DATASETS.get("synthcity")(root=out, split=split)))
