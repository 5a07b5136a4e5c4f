"""Results -> tables and plots: PSNR and TC-PSNR vs SNR and vs CBR, per-tier bars, CompressAI-style JSON.

Dataset-level PSNRs pool the squared errors of all images first (dB of the mean MSE, :func:`metrics.pooled_psnr`), as
CompressAI reports; the per-image mean of dB is not used because one perfect or one failed image would dominate it.
Failed decodes and NaN reconstructions are pooled like every image (the harness scores both as the mid-grey image),
and counted. A curve is one model (``model``, ``config``) under one side-information rule; the separation baseline
is reported per configuration and as "best over grid" per channel, SNR and CBR, as the papers do.
"""

from __future__ import annotations

import csv
import json
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


def models_at(summary: list[dict[str, Any]], snr_db: float | None = None) -> list[dict[str, Any]]:
    """Each learned curve's cost and quality at one SNR per channel (the lightweight paper's Table II): ``curve``,
    ``channel``, ``snr_db``, ``params``, ``size_mib`` (float32 parameters), ``macs`` (per image, transmitter plus
    receiver), ``cbr``, ``psnr``, ``ssim``. ``snr_db`` ``None``: each channel's highest SNR."""
    top: dict[str, float] = defaultdict(lambda: float("-inf"))
    for entry in summary:
        top[entry["channel"]] = max(top[entry["channel"]], entry["snr_db"])
    rows = []
    for name, points in sorted(_series(summary).items()):
        for entry in points:
            wanted = top[entry["channel"]] if snr_db is None else snr_db
            if entry["params"] and entry["snr_db"] == wanted:
                rows.append({"curve": name, "channel": entry["channel"], "snr_db": entry["snr_db"],
                             "params": entry["params"], "size_mib": entry["params"] * 4 / 2**20,
                             "macs": entry["macs"], "cbr": entry["cbr"], "psnr": entry["psnr"], "ssim": entry["ssim"]})
    return rows


def crossing(ours: dict[float, float], baseline: dict[float, float]) -> float | None:
    """The SNR (linear between points) below which ``ours`` beats ``baseline``: the first sign change of the
    difference from above to at-or-below, from low to high SNR; ``None`` where the curves do not cross on their
    common SNRs."""
    snrs = sorted(set(ours) & set(baseline))
    diff = [ours[s] - baseline[s] for s in snrs]
    for (s0, d0), (s1, d1) in pairwise(zip(snrs, diff, strict=True)):
        if d0 > 0 >= d1:
            return s0 + (s1 - s0) * d0 / (d0 - d1)
    return None


CBR_MATCH = 0.1
"""A learned curve is compared with the separation baseline run at a target CBR within this relative distance of
its mean CBR (the harness's side uses move a fixed-rate scheme's CBR a little off its nominal value)."""


def crossings(summary: list[dict[str, Any]], metric: str = "psnr") -> list[dict[str, Any]]:
    """Where JSCC stops beating separation (the lightweight paper's Fig. 3): for every learned curve, the SNR below
    which its ``metric`` beats ``separation (best)`` on the same channel and side-information rule at the target CBR
    nearest its mean CBR (within :data:`CBR_MATCH`). Rows: ``curve``, ``channel``, ``side_rule``, ``cbr``,
    ``separation_cbr``, ``metric``, ``snr_db`` (``None``: no crossing on the common SNRs), ``above`` (whether the
    curve is above the baseline at its lowest common SNR)."""
    baselines: dict[tuple[str, str, float], dict[float, float]] = defaultdict(dict)
    for entry in summary:
        if entry["scheme"] == "separation (best)":
            baselines[(entry["channel"], entry["side_rule"], entry["rate"])][entry["snr_db"]] = entry[metric]
    rows = []
    for name, points in sorted(_series(summary).items()):
        if not points[0]["params"]:
            continue
        channel, rule = points[0]["channel"], points[0]["side_rule"]
        cbr = sorted(p["cbr"] for p in points)[len(points) // 2]
        targets = [r for (c, s, r) in baselines if (c, s) == (channel, rule) and abs(r - cbr) <= CBR_MATCH * cbr]
        if not targets:
            continue
        target = min(targets, key=lambda r: abs(r - cbr))
        ours = {p["snr_db"]: p[metric] for p in points}
        theirs = baselines[(channel, rule, target)]
        common = sorted(set(ours) & set(theirs))
        if not common:
            continue
        rows.append({"curve": name, "channel": channel, "side_rule": rule, "cbr": cbr, "separation_cbr": target,
                     "metric": metric, "snr_db": crossing(ours, theirs),
                     "above": ours[common[0]] > theirs[common[0]]})
    return rows


def _curves(summary: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Curves to plot, by name: every rate point of one scheme and config on one channel, except the separation
    grid, shown through its best-of-grid curve."""
    curves: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for name, entry in zip(curve_names(summary), summary, strict=True):
        if entry["scheme"] != "separation":
            curves[f"{name} [{entry['channel']}]"].append(entry)
    return curves


def _save(fig: Any, path: Path) -> Path:
    from semcom_bench.benchmark import plots

    plots.save(fig, path)
    return path


def write_plots(summary: list[dict[str, Any]], out: str | Path, cbr: float | None = None) -> list[Path]:
    """PNG plots of the summary into ``out`` (:mod:`semcom_bench.benchmark.plots`; the per-tier bars nearest
    ``cbr``); returns their paths."""
    from semcom_bench.benchmark import plots

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    curves = _curves(summary)
    paths = []
    for metric, label in (("psnr", "PSNR (dB)"), ("tc_psnr", "TC-PSNR (dB)"), ("ssim", "SSIM")):
        paths.append(_save(plots.against_snr(curves, metric, label), out / f"{metric}_vs_snr.png"))
        if metric != "ssim":
            paths.append(_save(plots.against_cbr(curves, metric, label), out / f"{metric}_vs_cbr.png"))
    paths.append(_save(plots.per_tier(curves, cbr), out / "psnr_per_tier.png"))
    return paths + _config_plots(curves, out)


def _config_plots(curves: dict[str, list[dict[str, Any]]], out: Path) -> list[Path]:
    """One PSNR-vs-SNR plot per model evaluated under several configs (the same weights sent differently: the
    lightweight paper's Fig. 4, analog against M-QAM), ``configs_<model>_<channel>.png``."""
    from semcom_bench.benchmark import plots

    by_model: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = defaultdict(dict)
    for name, points in curves.items():
        if points[0]["model"]:
            by_model[(points[0]["model"], points[0]["channel"])][name] = points
    paths = []
    for (model, channel), configs in sorted(by_model.items()):
        if len({p[0]["config"] for p in configs.values()}) < 2:
            continue
        fig = plots.against_snr(configs, "psnr", "PSNR (dB)")
        fig.axes[0].set_title(f"model {short_model(model)} on {channel}, per config")
        paths.append(_save(fig, out / f"configs_{short_model(model)}_{channel}.png"))
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


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    """``rows`` (dicts with the same keys, at least one) as a CSV file with a header; returns ``path``."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_report(results: str | Path, out: str | Path, cbr: float | None = None) -> dict[str, Any]:
    """Summary table (``summary.json``), plots (:func:`write_plots`, the per-tier bars nearest ``cbr``),
    ``compressai.json`` and, where they have rows, ``models.csv`` (:func:`models_at`) and ``crossings.csv``
    (:func:`crossings`, PSNR and SSIM) into ``out``; returns the summary,
    the written files (``plots``, ``json``: the data files) and the two tables (``models``, ``crossings``)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(results)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    (out / "compressai.json").write_text(json.dumps(compressai_json(summary), indent=1))
    tables = {"models": models_at(summary), "crossings": crossings(summary, "psnr") + crossings(summary, "ssim")}
    written = [out / "summary.json", out / "compressai.json"]
    for name, rows in tables.items():
        if rows:
            written.append(write_csv(rows, out / f"{name}.csv"))
    return {"summary": summary, "plots": write_plots(summary, out, cbr), "json": written, **tables}
