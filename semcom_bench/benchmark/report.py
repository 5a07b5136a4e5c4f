"""Results -> tables and plots: PSNR and TC-PSNR vs SNR and vs CBR, per-tier bars, CompressAI-style JSON.

Dataset-level PSNRs pool the squared errors of all images first (dB of the mean MSE, :func:`metrics.pooled_psnr`), as
CompressAI reports; the per-image mean of dB is not used because one perfect or one failed image would dominate it.
Failed decodes and NaN reconstructions are pooled like every image (the harness scores both as the mid-grey image),
and counted. A curve is one model (``model``, ``config``) under one side-information rule; the separation baseline
is reported per configuration and as "best over grid" per channel, SNR and CBR, as the papers do.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

from semcom_bench.benchmark.metrics import pooled_psnr
from semcom_bench.schemas import read_table
from semcom_bench.schemas.tables import MAX_TIER

TIERS = range(MAX_TIER + 1)
GROUP = ("scheme", "model", "config", "side_rule", "rate", "channel", "snr_db")
"""The columns one summary entry shares: one model at one rate point, channel and SNR."""


def summarize(results: str | Path) -> list[dict[str, Any]]:
    """One entry per :data:`GROUP`: images, mean CBR and side uses, pooled PSNR / TC-PSNR / tier PSNRs, mean SSIM,
    failure and NaN counts, the model's parameters and MACs per image; plus ``separation (best)`` entries picking the
    best configuration per (side rule, channel, SNR, CBR)."""
    rows = read_table(results, "results").to_pylist()
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[c] for c in GROUP)].append(row)
    summary = []
    for key, group in sorted(groups.items()):
        entry: dict[str, Any] = {
            **dict(zip(GROUP, key, strict=True)),
            "images": len(group),
            "cbr": sum(r["cbr"] for r in group) / len(group),
            "side_uses": sum(r["side_uses"] for r in group) / len(group),
            "psnr": pooled_psnr(sum(r["sse"] for r in group), sum(r["pixels"] for r in group)),
            "tc_psnr": pooled_psnr(sum(r["tc_sse"] for r in group), sum(r["tc_pixels"] for r in group)),
            "ssim": sum(r["ssim"] for r in group) / len(group),
            "failed": sum(r["failed"] for r in group), "nan_output": sum(r["nan_output"] for r in group),
            "params": group[0]["params"], "macs": group[0]["macs"],  # one model per group
        }
        for t in TIERS:
            entry[f"psnr_tier{t}"] = pooled_psnr(sum(r[f"sse_tier{t}"] for r in group),
                                                 sum(r[f"pixels_tier{t}"] for r in group))
        entry.update(_shares(group))
        summary.append(entry)
    best: dict[tuple[str, str, float, float], dict[str, Any]] = {}
    for entry in summary:
        if entry["scheme"] == "separation":
            key = (entry["side_rule"], entry["channel"], entry["snr_db"], entry["rate"])  # rate: its target CBR
            if key not in best or entry["psnr"] > best[key]["psnr"]:
                best[key] = entry
    summary += [{**entry, "scheme": "separation (best)", "config": f"best: {entry['config']}"}
                for _, entry in sorted(best.items())]
    return summary


def _shares(group: list[dict[str, Any]]) -> dict[str, float | None]:
    """``uses_share_tier{t}`` (share of the payload channel uses spent on tier t's pixels; ``None`` for schemes
    without a token grid) and ``pixel_share_tier{t}`` (tier t's share of the pixels), over the images with tiers."""
    tiered = [r for r in group if sum(r[f"pixels_tier{t}"] for t in TIERS)]
    pixels = sum(r[f"pixels_tier{t}"] for r in tiered for t in TIERS)
    with_uses = [r for r in tiered if r["uses_tier0"] is not None]
    uses = sum(r[f"uses_tier{t}"] for r in with_uses for t in TIERS)
    shares: dict[str, float | None] = {}
    for t in TIERS:
        shares[f"uses_share_tier{t}"] = (sum(r[f"uses_tier{t}"] for r in with_uses) / uses
                                         if with_uses and len(with_uses) == len(tiered) and uses else None)
        shares[f"pixel_share_tier{t}"] = sum(r[f"pixels_tier{t}"] for r in tiered) / pixels if pixels else None
    return shares


def short_model(model: str) -> str:
    """A model's identity abbreviated to 8 hex digits, as curve names show it ("" for schemes without one)."""
    return model.removeprefix("sha256:")[:8]


def _curve(entry: dict[str, Any], ambiguous: set[tuple[str, str]], rules: int) -> str:
    """A curve's name: scheme and config, the model's hash where two models share them, the rule where several."""
    name = entry["scheme"] if entry["scheme"] == "separation (best)" else f"{entry['scheme']} {entry['config']}".strip()
    if (entry["scheme"], entry["config"]) in ambiguous and entry["model"]:
        name += f" {short_model(entry['model'])}"
    if rules > 1:
        name += f" ({entry['side_rule']} side info)"
    return name


def curve_names(summary: list[dict[str, Any]]) -> list[str]:
    """The curve name of every summary entry, in order."""
    models: dict[tuple[str, str], set[str]] = defaultdict(set)
    for entry in summary:
        models[(entry["scheme"], entry["config"])].add(entry["model"])
    ambiguous = {key for key, found in models.items() if len(found) > 1}
    rules = len({entry["side_rule"] for entry in summary})
    return [_curve(entry, ambiguous, rules) for entry in summary]


def _series(summary: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Curves to draw: one per scheme and config, except the separation grid, shown through its best-of-grid curve."""
    series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    names = curve_names(summary)
    rates: dict[str, set[float]] = defaultdict(set)
    for name, entry in zip(names, summary, strict=True):
        rates[name].add(entry["rate"])
    for name, entry in zip(names, summary, strict=True):
        if entry["scheme"] == "separation":
            continue
        if len(rates[name]) > 1 and entry["scheme"] != "separation (best)":
            name += f" rate {entry['rate']:g}"  # a scheme swept over its rate knob draws one curve per point
        series[f"{name} [{entry['channel']}]"].append(entry)
    return series


def at_cbr(summary: list[dict[str, Any]], cbr: float, metric: str = "psnr") -> list[dict[str, Any]]:
    """Each curve's ``metric`` at one CBR, per channel and SNR: papers compare schemes at equal CBR.

    A scheme swept over its rate knob (NTSCC's eta) is read off its metric-vs-CBR curve, linearly between the two
    rate points around ``cbr`` (a point within 1 % of it is used as is); ``value`` is ``None`` where its points do
    not reach ``cbr``, since extrapolating a rate curve would invent a result. Rows: ``curve`` (its name in the
    plots), ``scheme``, ``config``, ``model``, ``channel``, ``snr_db``, ``cbr``, ``value``.
    """
    curves: dict[tuple[str, str, str, str, str, float], list[tuple[float, float]]] = defaultdict(list)
    for name, entry in zip(curve_names(summary), summary, strict=True):
        if entry["scheme"] != "separation":  # its grid is read through "separation (best)"
            # The best of the grid is one curve whichever configuration wins at each CBR.
            config = "" if entry["scheme"] == "separation (best)" else entry["config"]
            key = (name, entry["scheme"], config, entry["model"], entry["channel"], entry["snr_db"])
            curves[key].append((entry["cbr"], entry[metric]))
    rows = []
    for (name, scheme, config, model, channel, snr), points in sorted(curves.items()):
        points.sort()
        value = next((v for c, v in points if abs(c - cbr) <= 0.01 * cbr), None)
        if value is None:
            for (c0, v0), (c1, v1) in pairwise(points):
                if c0 < cbr < c1:
                    value = v0 + (v1 - v0) * (cbr - c0) / (c1 - c0)
        rows.append({"curve": name, "scheme": scheme, "config": config, "model": model, "channel": channel,
                     "snr_db": snr, "cbr": cbr, "value": value})
    return rows


def write_plots(summary: list[dict[str, Any]], out: str | Path) -> list[Path]:
    """PNG plots of the summary into ``out``; returns their paths."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    series = _series(summary)
    paths = []
    for metric, label in (("psnr", "PSNR (dB)"), ("tc_psnr", "TC-PSNR (dB)")):
        for x, xlabel in (("snr_db", "SNR (Es/N0, dB)"), ("cbr", "CBR (channel uses / 3HW)")):
            fig, ax = plt.subplots(figsize=(7, 4.5))
            for name, points in sorted(series.items()):
                points = sorted(points, key=lambda p: p[x])
                ax.plot([p[x] for p in points], [p[metric] for p in points], marker="o", label=name)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
            path = out / f"{metric}_vs_{'snr' if x == 'snr_db' else 'cbr'}.png"
            fig.tight_layout()
            fig.savefig(path, dpi=120)
            plt.close(fig)
            paths.append(path)
    top_snr = max(entry["snr_db"] for entry in summary)
    at_top = {name: next(p for p in points if p["snr_db"] == top_snr)
              for name, points in series.items() if any(p["snr_db"] == top_snr for p in points)}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    width = 0.8 / max(len(at_top), 1)
    for k, (name, entry) in enumerate(sorted(at_top.items())):
        ax.bar([t + k * width for t in TIERS], [entry[f"psnr_tier{t}"] for t in TIERS], width, label=name)
    ax.set_xticks([t + 0.4 - width / 2 for t in TIERS], ["background", "low", "medium", "high"])
    ax.set_ylabel(f"PSNR (dB) at {top_snr:g} dB SNR")
    ax.set_title("PSNR per importance tier (SA-OOSC Fig. 5)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(out / "psnr_per_tier.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


def compressai_json(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One CompressAI-style results document per curve (``name``, ``description``, ``results`` lists)."""
    docs = []
    for name, points in sorted(_series(summary).items()):
        points = sorted(points, key=lambda p: p["snr_db"])
        docs.append({
            "name": name,
            "description": "semcom-bench results; PSNRs pool squared errors over images",
            "results": {key: [p[column] for p in points] for key, column in
                        (("snr", "snr_db"), ("cbr", "cbr"), ("psnr-rgb", "psnr"), ("tc-psnr", "tc_psnr"),
                         ("ssim-rgb", "ssim"))},
        })
    return docs


def write_report(results: str | Path, out: str | Path) -> dict[str, Any]:
    """Summary table (``summary.json``), plots and ``compressai.json`` into ``out``; returns paths and summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(results)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    (out / "compressai.json").write_text(json.dumps(compressai_json(summary), indent=1))
    return {"summary": summary, "plots": write_plots(summary, out), "json": [out / "summary.json", out / "compressai.json"]}
