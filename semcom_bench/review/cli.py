"""`semcom-bench review serve`; the SDK and the server are started inside the command."""

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
) -> None:
    """Start the real Label Studio server on 127.0.0.1 (installed into its own environment on first use) with the
    credentials of LABEL_STUDIO_USERNAME / LABEL_STUDIO_PASSWORD / LABEL_STUDIO_API_KEY; Ctrl-C stops it."""
    from semcom_bench.review.server import LabelStudioServer, ensure_venv

    ensure_venv(progress=err_console.print)
    with LabelStudioServer(data_dir, port) as server:
        err_console.print(f"Label Studio is up at {server.url} (data: {server.data_dir}); Ctrl-C stops it")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            err_console.print("stopping Label Studio")
