"""``semcom-bench labels ...``: commands that inspect a label set (DuckDB and pyarrow are imported inside them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

TIER_NAMES = {"0": "background", "1": "low", "2": "medium", "3": "high"}

app = typer.Typer(help="Inspect label sets (a folder of Parquet tables plus manifest.json).", no_args_is_help=True)


@app.callback()
def labels() -> None:
    """Inspect label sets (a folder of Parquet tables plus manifest.json)."""
    # A callback keeps `stats` a sub-command: typer would otherwise run a lone command as the app itself.


@app.command()
def stats(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Label-set folder (holds manifest.json).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """Row counts, importance-tier histograms of objects and patches, and triplets per predicate."""
    from semcom_bench.schemas.views import UNLABELLED, labelset_stats

    numbers = labelset_stats(directory)  # a SemcomError is printed by the entry point, "error:" first, exit 2
    unlabelled = (numbers["object_importance"] or {}).get(UNLABELLED, 0)
    if unlabelled:
        Console(stderr=True).print(f"[yellow]warning:[/] {unlabelled} object(s) have no tier (an annotate run failed "
                                   "on them); re-run its command to label them")
    if as_json:
        typer.echo(json.dumps(numbers, indent=2))
        return
    _print_tables(numbers, Console())


def _print_tables(numbers: dict[str, Any], console: Console) -> None:
    from semcom_bench.schemas.views import TIERS, UNLABELLED

    console.print(
        f"[bold]{escape(numbers['path'])}[/bold]: dataset {escape(str(numbers['dataset']))}, "
        f"split {escape(str(numbers['split']))}, "
        f"schema v{numbers['schema_version']}, semcom-bench {numbers['package_version']}, "
        f"created {numbers['created_at']}"
    )
    rows = Table("table", "rows", title="Tables")
    for name, count in numbers["rows"].items():
        rows.add_row(name, "-" if count is None else str(count))
    console.print(rows)

    objects, patches = numbers["object_importance"], numbers["patch_importance"]
    if objects is not None or patches is not None:
        tiers = Table("tier", "objects", "patches", title="Importance tiers")
        for tier in [*TIERS, UNLABELLED]:
            tiers.add_row(
                f"{tier} {TIER_NAMES[tier]}" if tier in TIER_NAMES else tier,
                *(str(counts[tier]) if counts is not None and tier in counts else "-" for counts in (objects, patches)),
            )
        console.print(tiers)

    triplets = numbers["triplets"]
    if triplets is not None:
        predicates = Table("predicate", "triplets", title="Triplets")
        for predicate, count in triplets["per_predicate"].items():
            predicates.add_row(escape(predicate), str(count))
        console.print(predicates)
        critical = Table("task", "triplets", title="Task-critical")
        for task, count in triplets["task_critical_per_task"].items():
            critical.add_row(escape(task), str(count))
        critical.add_row("[bold]all tasks[/bold]", f"[bold]{triplets['task_critical']}[/bold]")
        console.print(critical)
