"""`semcom-bench phy ...`: channel-code BER/FER simulation (AFF3CT-style table or JSON) and curve plots."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from semcom_bench.errors import SemcomError
from semcom_bench.progress import progress_bar

app = typer.Typer(help="Physical layer: BER/FER of channel codes over AWGN, and their plots.", no_args_is_help=True)

CODES = ("ldpc5g",)


def parse_range(text: str) -> list[float]:
    """``"START:STOP:STEP"`` (STOP included) or a single number -> list of values; ValueError says what is wrong."""
    parts = text.split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"{text!r} is not START:STOP:STEP in dB (e.g. 3:5:0.25)") from None
    if len(values) == 1:
        return values
    if len(values) != 3:
        raise ValueError(f"{text!r} is not START:STOP:STEP in dB (e.g. 3:5:0.25)")
    start, stop, step = values
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{text!r} must hold finite numbers")
    if step <= 0:
        raise ValueError(f"STEP must be positive, got {step:g}")
    if stop < start:
        raise ValueError(f"STOP ({stop:g}) must not be below START ({start:g})")
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > 1000:
        raise ValueError(f"{text!r} gives {count} points; use at most 1000")
    return [round(start + i * step, 10) for i in range(count)]


def _table(rows: list[dict]) -> str:
    """AFF3CT-like text table of simulation rows."""
    cols = (
        ("Eb/N0", "ebn0_db", "{:.2f}"), ("Es/N0", "snr_db", "{:.2f}"), ("FRA", "frames", "{:d}"),
        ("BE", "bit_errors", "{:d}"), ("FE", "frame_errors", "{:d}"), ("BER", "ber", "{:.2e}"),
        ("FER", "fer", "{:.2e}"), ("ITE", "avg_iterations", "{:.1f}"), ("THR(Mbps)", "info_mbps", "{:.3f}"),
    )  # fmt: skip
    widths = [max(len(head), 9) for head, _, _ in cols]
    line = "# " + "-" * (sum(widths) + 3 * len(cols) + 1)
    head = "# | " + " | ".join(h.rjust(w) for (h, _, _), w in zip(cols, widths)) + " |"
    body = ["  | " + " | ".join(f.format(r[key]).rjust(w) for (_, key, f), w in zip(cols, widths)) + " |" for r in rows]
    return "\n".join([line, head, line, *body, line])


@app.command()
def ber(
    k: Annotated[int, typer.Option("--k", help="Information bits per codeword.")],
    n: Annotated[int, typer.Option("--n", help="Codeword bits after rate matching.")],
    ebn0: Annotated[str, typer.Option("--ebn0", help="Eb/N0 in dB: START:STOP:STEP (STOP included) or one value.")],
    code: Annotated[str, typer.Option("--code", help="Channel code: " + ", ".join(CODES) + ".")] = "ldpc5g",
    qam: Annotated[int, typer.Option("--qam", help="QAM order M (4, 16, 64, 256, 1024).")] = 16,
    decoder: Annotated[str, typer.Option("--decoder", help="fast (layered min-sum, CPU) or sionna.")] = "fast",
    frames: Annotated[int, typer.Option("--frames", min=1, help="Most frames per point.")] = 10000,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Frames decoded together.")] = 256,
    min_errors: Annotated[int, typer.Option("--min-errors", min=1, help="End a point at N frame errors.")] = 100,
    iterations: Annotated[int, typer.Option("--iterations", min=1, help="Most decoder iterations.")] = 20,
    llr: Annotated[str, typer.Option("--llr", help="Demapper: exact or maxlog.")] = "exact",
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of bits and noise (same seed = paired runs).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON instead of the table.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write the rows as JSON to this file.")] = None,
) -> None:
    """Monte-Carlo BER/FER and decoder throughput of a channel code with QAM over AWGN."""
    from semcom_bench.phy.ber import simulate
    from semcom_bench.phy.ldpc import DECODERS, LDPC5G
    from semcom_bench.phy.qam import LLR_METHODS, SUPPORTED_ORDERS

    if code not in CODES:
        raise typer.BadParameter(f"unknown code {code!r}; choose one of: {', '.join(CODES)}", param_hint="--code")
    if qam not in SUPPORTED_ORDERS:
        orders = ", ".join(map(str, SUPPORTED_ORDERS))
        raise typer.BadParameter(f"unsupported QAM order {qam}; use one of: {orders}", param_hint="--qam")
    if decoder not in DECODERS:
        known = ", ".join(DECODERS)
        raise typer.BadParameter(f"unknown decoder {decoder!r}; choose one of: {known}", param_hint="--decoder")
    if llr not in LLR_METHODS:
        known = ", ".join(LLR_METHODS)
        raise typer.BadParameter(f"unknown demapper {llr!r}; choose one of: {known}", param_hint="--llr")
    try:
        points = parse_range(ebn0)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--ebn0") from None
    try:
        ldpc = LDPC5G(k, n, decoder=decoder, iterations=iterations)
    except SemcomError as err:
        raise typer.BadParameter(str(err), param_hint="--k/--n") from None

    label = f"{code} ({k},{n}) {ldpc.bg} {qam}-QAM {decoder} {iterations} it"
    with progress_bar(frames * len(points), label, unit="frames") as update:
        rows = simulate(
            ldpc, qam, points, frames=frames, batch=batch, seed=seed, min_frame_errors=min_errors, llr_method=llr,
            progress=lambda done, total: update(done),
        )  # fmt: skip
    meta = {"code": code, "k": k, "n": n, "bg": ldpc.bg, "qam": qam, "decoder": decoder, "iterations": iterations}
    rows = [{**meta, **row} for row in rows]
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=1) + "\n")
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
    else:
        typer.echo(f"# {label}, {llr} LLRs, seed {seed}")
        typer.echo(_table(rows))


def _curve_label(path: Path, rows: list[dict]) -> str:
    first = rows[0]
    if all(key in first for key in ("code", "k", "n", "qam", "decoder", "iterations")):
        code = f"{first['code']} ({first['k']},{first['n']})"
        return f"{code} {first['qam']}-QAM {first['decoder']} {first['iterations']} it"
    return path.stem


def _read_rows(path: Path) -> list[dict]:
    try:
        rows = json.loads(path.read_text())
    except FileNotFoundError:
        raise typer.BadParameter(f"{path} does not exist", param_hint="RESULTS") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise typer.BadParameter(f"{path} is not JSON: {err}", param_hint="RESULTS") from None
    if (
        not isinstance(rows, list)
        or not rows
        or not all(isinstance(r, dict) and {"ebn0_db", "ber", "fer"} <= r.keys() for r in rows)
    ):
        raise typer.BadParameter(
            f"{path} is not a list of rows with ebn0_db, ber and fer (write one with `phy ber --out`)",
            param_hint="RESULTS",
        )
    return sorted(rows, key=lambda r: r["ebn0_db"])


@app.command()
def plot(
    results: Annotated[list[Path], typer.Argument(help="JSON files written by `phy ber --out` (or --json).")],
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")],
    title: Annotated[Optional[str], typer.Option("--title", help="Figure title.")] = None,
) -> None:
    """Draw BER and FER versus Eb/N0 (log scale) for one or more result files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = [(path, _read_rows(path)) for path in results]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for path, rows in curves:
        label = _curve_label(path, rows)
        for ax, key in zip(axes, ("ber", "fer")):
            pts = [(r["ebn0_db"], r[key]) for r in rows if r[key] > 0]  # zero errors cannot sit on a log axis
            if pts:
                ax.semilogy(*zip(*pts), marker="o", markersize=3, label=label)
    for ax, name in zip(axes, ("BER", "FER")):
        ax.set_xlabel("Eb/N0 (dB)")
        ax.set_ylabel(name)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    typer.echo(f"wrote {out}")
