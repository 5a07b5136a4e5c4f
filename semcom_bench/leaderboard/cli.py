"""`semcom-bench leaderboard new | check | suites | evaluate | render`; torch is imported inside the commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(help="Submit a codec: scaffold a submission and check it as the leaderboard runs it.",
                  no_args_is_help=True)
console = Console(width=None if sys.stdout.isatty() else 200)


@app.command("new")
def new_command(
    name: Annotated[str, typer.Argument(help="Submission name: lowercase letters, digits and dashes.")],
    out: Annotated[Optional[Path], typer.Option(help="Folder to create (default: ./NAME).")] = None,
) -> None:
    """Create a submission folder with a manifest, weights and a working example codec that passes every check."""
    from semcom_bench.leaderboard.scaffold import scaffold

    folder = scaffold(name, out)
    console.print(f"wrote {folder.resolve()}; check it with `semcom-bench leaderboard check {folder}`")


@app.command("check")
def check_command(
    submission: Annotated[Path, typer.Argument(help="Submission folder (with manifest.json).")],
    side_info: Annotated[str, typer.Option(help="Side-information rule the CBR is counted with: ldpc or capacity.")]
    = "ldpc",
    timeout: Annotated[float, typer.Option(min=1.0, help="Wall-clock limit per process (seconds).")] = 300.0,
    memory: Annotated[int, typer.Option(min=512, help="Address-space limit per process (MiB).")] = 8192,
) -> None:
    """Run the submission as the leaderboard would (transmitter and receiver in separate processes) and report
    every rule it breaks with what to fix; exits with status 1 if any check fails."""
    from semcom_bench.leaderboard.check import check_submission, summary_line

    report = check_submission(submission, side_rule=side_info, timeout_s=timeout, memory_mib=memory)
    table = Table(title=f"{submission}: {summary_line(report)}")
    for column in ("check", "", "finding"):
        table.add_column(column)
    for finding in report.findings:
        table.add_row(finding.check, "[green]ok[/]" if finding.ok else "[red]FAIL[/]", escape(finding.message))
    console.print(table)
    if not report.passed:
        raise typer.Exit(1)


@app.command("suites")
def suites_command() -> None:
    """List the benchmark suites: label set (content hash), channels, SNRs, CBR points, side-information rule."""
    from semcom_bench.leaderboard.suites import load_suites

    table = Table(title="benchmark suites")
    for column in ("suite", "label set", "channels", "SNR dB", "CBR", "side info", "hidden", "description"):
        table.add_column(column)
    for suite in load_suites().values():
        table.add_row(suite.name, str(suite.labelset_hash), ",".join(suite.channels),
                      ",".join(f"{s:g}" for s in suite.snrs), ",".join(f"{c:g}" for c in suite.cbrs),
                      suite.side_rule, "yes" if suite.hidden else "no", suite.description)
    console.print(table)


@app.command("evaluate")
def evaluate_command(
    submission: Annotated[Path, typer.Argument(help="Submission folder (with manifest.json).")],
    suite: Annotated[str, typer.Option(help="Benchmark suite (`semcom-bench leaderboard suites`).")] = "synthcity-smoke",
    out: Annotated[Path, typer.Option(help="The suite's results folder (shared by every entry).")] = Path("leaderboard"),
    labels: Annotated[Optional[Path], typer.Option(
        help="The suite's label set (hidden suites; synthcity suites are built in OUT/cache).")] = None,
    check: Annotated[bool, typer.Option(help="Run `leaderboard check` first and stop if it fails.")] = True,
) -> None:
    """Evaluate a submission on a suite: every entry sees the same seeded channel draws; a rerun adds nothing twice."""
    from semcom_bench.leaderboard.check import check_submission, summary_line
    from semcom_bench.leaderboard.suites import evaluate_submission, get_suite

    chosen = get_suite(suite)
    if check:
        report = check_submission(submission, side_rule=chosen.side_rule)
        if not report.passed:
            for finding in report.findings:
                if not finding.ok:
                    console.print(f"[red]FAIL[/] {finding.check}: {escape(finding.message)}")
            console.print(f"{submission}: {summary_line(report)}; fix it before it is evaluated")
            raise typer.Exit(1)
    results = evaluate_submission(submission, chosen, out, labels)
    console.print(f"results: {results.resolve()}")


@app.command("render")
def render_command(
    results: Annotated[Path, typer.Argument(help="A suite's results folder (from `leaderboard evaluate --out`).")]
    = Path("leaderboard"),
    out: Annotated[Optional[Path], typer.Option(help="Folder for the site (default: RESULTS/site).")] = None,
    reference: Annotated[Optional[str], typer.Option(
        help="Entry to take BD-PSNR / BD-rate against, named as the tables name it (\"scheme config\").")] = None,
) -> None:
    """Write the leaderboard as Markdown, CSV / Parquet and one static, sortable HTML page with plots."""
    from semcom_bench.leaderboard.render import render

    for path in render(results, out, reference=reference):
        console.print(f"wrote {path.resolve()}")
