"""`semcom-bench review serve | push`; the SDK and the server are started inside the commands."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

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


@app.command("push")
def push_command(
    labelset: Annotated[Path, typer.Argument(help="Label set to review.")],
    task: Annotated[str, typer.Option(help="Driving task the labels are for, e.g. pedestrian-collision-warning.")],
    round_: Annotated[int, typer.Option("--round", min=1, help="Review round (one project per round).")] = 1,
    sample: Annotated[Optional[int], typer.Option(min=1, help="Push only the first N images (by id).")] = None,
    url: Annotated[Optional[str], typer.Option(help="Server URL (default: LABEL_STUDIO_URL).")] = None,
    files_root: Annotated[Path, typer.Option(help="The server's --files-root.")] = Path("."),
) -> None:
    """Push the label set's images as tasks and its labels as predictions (LABEL_STUDIO_API_KEY authenticates);
    pushing again adds no task twice."""
    from semcom_bench.review.push import push
    from semcom_bench.review.server import connect

    report = push(labelset, connect(url), task, files_root, round_, sample)
    err_console.print(f"project {report.title!r} (id {report.project_id}): {len(report.added)} task(s) added, "
                      f"{len(report.skipped)} already there")
