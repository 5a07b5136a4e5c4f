"""`semcom-bench review serve | push | pull | merge | agreement`; the SDK, the server and the statistics load
inside the commands."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

app = typer.Typer(help="Human review rounds in Label Studio.", no_args_is_help=True)
err_console = Console(stderr=True)


@app.command("serve")
def serve_command(
    port: Annotated[Optional[int], typer.Option(min=1, max=65535, help="Port on 127.0.0.1 (default: a free one).")]
    = None,
    data_dir: Annotated[Path, typer.Option(help="Label Studio's data folder (database, uploads).")]
    = Path("label-studio-data"),
    files_root: Annotated[Path, typer.Option(help="Folder Label Studio may serve images from (holds the datasets).")]
    = Path("."),
) -> None:
    """Start the real Label Studio server on 127.0.0.1 (installed into its own environment on first use) with the
    credentials of LABEL_STUDIO_USERNAME / LABEL_STUDIO_PASSWORD / LABEL_STUDIO_API_KEY; Ctrl-C stops it."""
    from semcom_bench.review.server import LabelStudioServer, ensure_venv

    ensure_venv(progress=err_console.print)
    with LabelStudioServer(data_dir, port, files_root=files_root) as server:
        err_console.print(f"Label Studio is up at {server.url} (data: {server.data_dir}); Ctrl-C stops it")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            err_console.print("stopping Label Studio")


def _task_option() -> Any:
    return typer.Option(help="Driving task of the round (default: the label set's own).")


def _round_option(what: str) -> Any:
    return typer.Option("--round", min=1, help=f"Review round {what} (one project per round).")


def _warn(lines: list[str]) -> None:
    for line in lines:
        err_console.print(f"[yellow]warning:[/] {line}")


@app.command("push")
def push_command(
    labelset: Annotated[Path, typer.Argument(help="Label set to review.")],
    task: Annotated[Optional[str], _task_option()] = None,
    round_: Annotated[int, _round_option("to push")] = 1,
    sample: Annotated[Optional[int], typer.Option(min=1, help="Push only the first N images (by id).")] = None,
    disputed: Annotated[bool, typer.Option("--disputed", help="Push the images the previous round left disputed "
                                           "(see `review agreement --disputed`).")] = False,
    url: Annotated[Optional[str], typer.Option(help="Server URL (default: LABEL_STUDIO_URL).")] = None,
    files_root: Annotated[Path, typer.Option(help="The server's --files-root.")] = Path("."),
) -> None:
    """Push the label set's images as tasks and its labels as predictions (LABEL_STUDIO_API_KEY authenticates);
    pushing again adds no task twice."""
    from semcom_bench.review.push import push
    from semcom_bench.review.server import connect

    only = None
    if disputed:
        from semcom_bench.review.agreement import disputed_images
        from semcom_bench.schemas import LabelSet

        if round_ < 2:
            raise typer.BadParameter("--disputed needs --round 2 or later (it reads the round before)")
        only = disputed_images(LabelSet.open(labelset), round_ - 1)
        if not only:
            err_console.print(f"round {round_ - 1} left no image disputed; nothing to push")
            return
    report = push(labelset, connect(url), files_root, task, round_, sample, only)
    err_console.print(f"project {report.title!r} (id {report.project_id}): {len(report.added)} task(s) added, "
                      f"{len(report.skipped)} already there")


@app.command("pull")
def pull_command(
    labelset: Annotated[Path, typer.Argument(help="Label set that was pushed.")],
    task: Annotated[Optional[str], _task_option()] = None,
    round_: Annotated[int, _round_option("to pull")] = 1,
    url: Annotated[Optional[str], typer.Option(help="Server URL (default: LABEL_STUDIO_URL).")] = None,
) -> None:
    """Export the round's annotations into the label set's reviews table; pulling again replaces, never
    duplicates."""
    from semcom_bench.review.pull import pull
    from semcom_bench.review.server import connect

    report = pull(labelset, connect(url), task, round_)
    _warn(report.warnings)
    err_console.print(f"round {round_}: {report.annotations} annotation(s) of {report.images} image(s), "
                      f"{report.rows} review row(s) ({report.added_objects} added object(s)) in "
                      f"{labelset / 'reviews.parquet'}")


@app.command("merge")
def merge_command(
    labelset: Annotated[Path, typer.Argument(help="Label set with pulled reviews.")],
    out: Annotated[Path, typer.Option(help="New folder for the verified label set.")],
    policy: Annotated[str, typer.Option(help="majority, latest or annotator=NAME.")] = "majority",
) -> None:
    """Write a verified label set in which the reviewers' decisions override the labeller's (the source is
    untouched); patch tiers and task masks are recomputed."""
    from semcom_bench.review.merge import merge

    r = merge(labelset, out, policy)
    err_console.print(f"verified label set {r.out}: {r.images_reviewed} image(s) decided by review; "
                      f"{r.tiers_changed} tier(s) changed, {r.objects_removed} object(s) removed, "
                      f"{r.objects_added} added, {r.triplets_rejected} triplet(s) rejected, {r.triplets_added} added")


@app.command("agreement")
def agreement_command(
    labelset: Annotated[Path, typer.Argument(help="Label set with pulled reviews.")],
    out: Annotated[Optional[Path], typer.Option(help="Folder for agreement.csv / .md / .png (default: "
                                                "LABELSET/agreement).")] = None,
    disputed: Annotated[Optional[int], typer.Option(help="Print the images round R left disputed (what "
                                                    "`review push --disputed --round R+1` sends).")] = None,
) -> None:
    """Labeller against each reviewer and reviewer against reviewer, per round and class: quadratic-weighted kappa,
    Krippendorff's alpha (ordinal), exact and within-one agreement, confusion matrices, triplet P/R/F1."""
    from semcom_bench.review.agreement import agreement_report, disputed_images, format_table, write_agreement
    from semcom_bench.schemas import LabelSet

    labels = LabelSet.open(labelset)
    if disputed is not None:
        for image_id in disputed_images(labels, disputed):
            typer.echo(image_id)
        return
    report = agreement_report(labels)
    typer.echo(format_table(report))
    files = write_agreement(report, out or labelset / "agreement")
    err_console.print("wrote " + ", ".join(str(p) for p in files.values()))
