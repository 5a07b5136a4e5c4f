"""The figures of the report and the leaderboard page: metric against SNR and against CBR, one colour per curve.

A curve is every rate point of one model on one channel (``{name: [point, ...]}``; a point has ``snr_db``, ``rate``,
``cbr`` and the metrics). Against SNR, a curve swept over its rate knob (NTSCC's eta) draws one line per rate point
in its colour, darker for higher rates; against CBR, one panel per SNR, each curve one line through its rate points.
The legend sits beside the axes, so a zoo of twenty curves hides none of them.
"""

from __future__ import annotations

import math
import os
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any, BinaryIO

from semcom_bench.schemas.tables import MAX_TIER

Curves = dict[str, list[dict[str, Any]]]


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib.pyplot as plt

    return plt


def styles(names: list[str]) -> dict[str, dict[str, Any]]:
    """A colour and line style per curve name: tab20's ten dark colours, its ten light ones, then the same colours
    dashed, dotted, ..."""
    from matplotlib import colormaps

    colors = colormaps["tab20"].colors[0::2] + colormaps["tab20"].colors[1::2]
    return {name: {"color": colors[k % 20], "linestyle": ("-", "--", ":", "-.")[k // 20 % 4]}
            for k, name in enumerate(sorted(names))}


def finish(fig: Any) -> Any:
    """Give ``fig`` one legend for all its axes, beside them (:func:`save` keeps it in the image)."""
    seen: dict[str, Any] = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="upper left", bbox_to_anchor=(1.0, 0.98), fontsize=7,
                   ncols=1 + len(seen) // 30, frameon=False)
    fig.tight_layout()
    return fig


def save(fig: Any, target: str | Path | BinaryIO, dpi: int = 120) -> None:
    """Write ``fig`` as PNG to a path or binary file, legend included ("tight" box), and close it."""
    fig.savefig(target, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)


def against_snr(curves: Curves, metric: str, label: str) -> Any:
    """``metric`` against SNR, one line per curve and rate point. Returns the figure."""
    plt = pyplot()
    style = styles(list(curves))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, points in sorted(curves.items()):
        rates: dict[float, list[dict[str, Any]]] = defaultdict(list)
        for p in points:
            rates[p["rate"]].append(p)
        tag = f" (rates {min(rates):g} to {max(rates):g}, darker: higher)" if len(rates) > 1 else ""
        for k, rate in enumerate(sorted(rates)):
            line = sorted(rates[rate], key=lambda p: p["snr_db"])
            ax.plot([p["snr_db"] for p in line], [p[metric] for p in line], marker="o", markersize=3,
                    alpha=0.35 + 0.65 * (k + 1) / len(rates), label=name + tag if k == len(rates) - 1 else None,
                    **style[name])
    ax.set_xlabel("SNR (Es/N0, dB)")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    return finish(fig)


def against_cbr(curves: Curves, metric: str, label: str) -> Any:
    """``metric`` against CBR (log scale), one panel per SNR, one line per curve. Returns the figure."""
    plt = pyplot()
    style = styles(list(curves))
    snrs = sorted({p["snr_db"] for points in curves.values() for p in points})
    cols = min(len(snrs), 2)
    rows = math.ceil(len(snrs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), sharey=True, squeeze=False)
    for ax, snr in zip(axes.flat, snrs, strict=False):
        for name, points in sorted(curves.items()):
            line = sorted((p for p in points if p["snr_db"] == snr), key=lambda p: p["cbr"])
            if line:
                ax.plot([p["cbr"] for p in line], [p[metric] for p in line], marker="o", markersize=4, label=name,
                        **style[name])
        ax.set_title(f"{snr:g} dB SNR", fontsize=9)
        ax.set_xscale("log")
        ax.set_xlabel("CBR (channel uses / 3HW)")
        ax.grid(alpha=0.3, which="both")
    for ax in axes[:, 0]:
        ax.set_ylabel(label)
    for ax in list(axes.flat)[len(snrs):]:
        ax.set_visible(False)
    return finish(fig)


def per_tier(curves: Curves, cbr: float | None = None) -> Any:
    """PSNR per importance tier (SA-OOSC Fig. 5): each curve at the highest SNR and at its rate point nearest
    ``cbr`` on a log scale (default: the median CBR there), labelled with that point's CBR. Returns the figure."""
    plt = pyplot()
    style = styles(list(curves))
    top = max(p["snr_db"] for points in curves.values() for p in points)
    at_top = {name: [p for p in points if p["snr_db"] == top] for name, points in sorted(curves.items())}
    at_top = {name: points for name, points in at_top.items() if points}
    ref = cbr if cbr is not None else statistics.median(p["cbr"] for points in at_top.values() for p in points)
    tiers = range(MAX_TIER + 1)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / max(len(at_top), 1)
    for k, (name, points) in enumerate(at_top.items()):
        point = min(points, key=lambda p: abs(math.log(max(p["cbr"], 1e-12) / ref)))
        ax.bar([t + k * width for t in tiers], [point[f"psnr_tier{t}"] for t in tiers], width,
               label=f"{name} at CBR {point['cbr']:.3g}", color=style[name]["color"])
    ax.set_xticks([t + 0.4 - width / 2 for t in tiers], ["background", "low", "medium", "high"])
    ax.set_ylabel(f"PSNR (dB) at {top:g} dB SNR")
    ax.set_title(f"PSNR per importance tier (SA-OOSC Fig. 5), rate points nearest CBR {ref:.3g}")
    return finish(fig)
