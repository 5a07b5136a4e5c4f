"""``semcom-bench leaderboard render``: a suite's results as Markdown, CSV / Parquet and one static HTML page.

The page is self-contained (inline CSS, script and PNG plots; no network): sortable ranking and per-tier tables, the
rate-distortion and SNR plots, and each entry's manifest, model identity and the toolkit version that scored it.
A hidden suite publishes aggregates only: the ranking and the per-point table, never per-image rows.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from semcom_bench.benchmark.report import write_csv
from semcom_bench.errors import SemcomError
from semcom_bench.leaderboard.suites import ENTRIES, RESULTS, SUITE_FILE, get_suite

RANK_METRIC = "tc_psnr"
COLUMNS = (("tc_psnr", "TC-PSNR"), ("psnr", "PSNR"), ("psnr_tier3", "tier 3 (high)"), ("psnr_tier2", "tier 2"),
           ("psnr_tier1", "tier 1"), ("psnr_tier0", "tier 0 (bg)"), ("ssim", "SSIM"), ("ms_ssim", "MS-SSIM"),
           ("cbr", "CBR"))
"""The leaderboard's columns: metric key and heading."""

SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var up = th.getAttribute("data-dir") !== "asc";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-dir"); });
      th.setAttribute("data-dir", up ? "asc" : "desc");
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute("data-value"), y = b.cells[col].getAttribute("data-value");
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (isNaN(nx) || isNaN(ny)) ? String(x).localeCompare(String(y)) : nx - ny;
        return up ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


BD_METRIC = "tc_psnr"
"""BD-PSNR and BD-rate are taken on the ranking metric against CBR."""


def leaderboard_rows(folder: Path, resamples: int = 1000, reference: str | None = None) -> tuple[dict[str, Any], list[dict[str, Any]],
                                                                   list[dict[str, Any]], list[dict[str, Any]]]:
    """``(suite marker, ranked rows, per-point rows, CompressAI-style documents)`` of the results in ``folder``;
    ranked rows hold the rank, ties, every :data:`COLUMNS` metric's mean with its 95 % paired-bootstrap interval,
    and the entry's card (``None`` for built-in schemes), and ``bd``: BD-PSNR / BD-rate of TC-PSNR against CBR per
    (channel, SNR) against the entry named ``reference`` (as the tables name entries: ``bench report``'s curve
    names, "scheme config" plus the model hash where two entries share them). Per-point rows gain ``entry``."""
    from semcom_bench.benchmark.report import curve_names
    from semcom_bench.leaderboard.scores import (
        Entry,
        compressai_json,
        entry_summaries,
        point_table,
        rank_entries,
        score_points,
    )
    from semcom_bench.schemas import read_table

    marker_file, results = folder / SUITE_FILE, folder / RESULTS
    if not marker_file.is_file() or not results.is_file():
        raise SemcomError(f"{folder} holds no leaderboard results", hint="evaluate an entry with "
                          "`semcom-bench leaderboard evaluate SUBMISSION --out DIR` first")
    marker = json.loads(marker_file.read_text())
    scores = score_points(read_table(results, "results").to_pylist(), resamples=resamples)
    entries = scores.entries()
    name_of = dict(zip(entries, curve_names([e._asdict() for e in entries]), strict=True))
    anchor = None
    if reference is not None:
        named = {name: entry for entry, name in name_of.items()}
        if reference not in named:
            raise SemcomError(f"no entry {reference!r} to take BD against",
                              hint="choose one of: " + "; ".join(sorted(named)))
        anchor = named[reference]
    summaries = {tuple(s[c] for c in ("scheme", "model", "config", "side_rule")): s
                 for s in entry_summaries(scores, anchor, bd_metric=BD_METRIC)}
    ranked = []
    for row in rank_entries(scores, RANK_METRIC):
        key = (row["scheme"], row["model"], row["config"], row["side_rule"])
        card = folder / ENTRIES / f"{row['model'].removeprefix('sha256:')}.json"
        ranked.append({**summaries[key], "rank": row["rank"], "tied_with": [name_of[e] for e in row["tied_with"]],
                       "entry": name_of[Entry(*key)], "card": json.loads(card.read_text()) if card.is_file() else None})
    points = [{**p, "entry": name_of[Entry(p["scheme"], p["model"], p["config"], p["side_rule"])]}
              for p in point_table(scores)]
    return marker, ranked, points, compressai_json(scores)


def _cell(value: Any) -> str:
    return "n/a" if value is None or value != value else f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown(marker: dict[str, Any], ranked: list[dict[str, Any]]) -> str:
    """The ranking as a Markdown table (for a README): rank (ties share one), entry, metrics with 95 % intervals."""
    lines = [f"Suite `{marker['suite']}` (label set {marker['labelset_hash']}), ranked by TC-PSNR (dB, mean over the "
             "grid); [low, high] is the 95 % paired-bootstrap interval; entries that share a rank are tied.", "",
             "| rank | entry | model | " + " | ".join(h for _, h in COLUMNS) + " |",
             "|---:|---|---|" + "---:|" * len(COLUMNS)]
    for row in ranked:
        cells = [f"{_cell(row[m])} [{_cell(row[m + '_low'])}, {_cell(row[m + '_high'])}]" if m != "cbr"
                 else _cell(row[m]) for m, _ in COLUMNS]
        lines.append(f"| {row['rank']} | {row['entry']} | {row['model'].removeprefix('sha256:')[:8] or '-'} | "
                     + " | ".join(cells) + " |")
    bd = [(row["entry"], b) for row in ranked for b in row["bd"]]
    if bd:
        lines += ["", "BD of TC-PSNR against CBR versus the reference entry (n/a: see note):", "",
                  "| entry | channel | SNR dB | BD-PSNR dB | BD-rate % | note |", "|---|---|---:|---:|---:|---|"]
        lines += [f"| {entry} | {b['channel']} | {b['snr_db']:g} | {_cell(b['bd_psnr'])} | {_cell(b['bd_rate'])} | "
                  f"{b['note'] or ''} |" for entry, b in bd]
    return "\n".join(lines) + "\n"


def _plots(points: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """``(title, base64 PNG)``: TC-PSNR and PSNR against CBR (a panel per SNR) and against SNR, a curve per entry
    and channel (:mod:`semcom_bench.benchmark.plots`)."""
    from semcom_bench.benchmark import plots

    curves: plots.Curves = {}
    for p in points:
        curves.setdefault(f"{p['entry']} [{p['channel']}]", []).append(p)
    out = []
    for metric, label in (("tc_psnr", "TC-PSNR (dB)"), ("psnr", "PSNR (dB)")):
        for draw, against in ((plots.against_cbr, "CBR"), (plots.against_snr, "SNR")):
            buffer = io.BytesIO()
            plots.save(draw(curves, metric, label), buffer, dpi=100)
            out.append((f"{label} against {against}", base64.b64encode(buffer.getvalue()).decode()))
    return out


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]], table_id: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in columns)
    body = []
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key)
            sort = value if isinstance(value, (int, float)) and value == value else str(value)
            shown = _cell(value)
            if f"{key}_low" in row:
                shown += f" <small>[{_cell(row[key + '_low'])}, {_cell(row[key + '_high'])}]</small>"
            cells.append(f'<td data-value="{html.escape(str(sort))}">{shown}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="sortable" id="{table_id}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def html_page(marker: dict[str, Any], ranked: list[dict[str, Any]], points: list[dict[str, Any]],
              hidden: bool) -> str:
    """One static page: ranking, per-point table (aggregates), plots, and every entry's card."""
    from semcom_bench import __version__

    rank_cols = [("rank", "rank"), ("entry", "entry"), *COLUMNS]
    point_cols = [("entry", "entry"), ("channel", "channel"), ("snr_db", "SNR dB"), ("rate", "rate"),
                  ("images", "images"), *COLUMNS]
    cards = []
    for row in ranked:
        card = row["card"]
        details = html.escape(json.dumps(card, indent=1)) if card else "built-in scheme of semcom-bench"
        cards.append(f"<details><summary>{html.escape(row['entry'])} ({html.escape(row['model'] or 'no model')})"
                     f"</summary><pre>{details}</pre></details>")
    plots = "".join(f'<figure><img alt="{html.escape(t)}" src="data:image/png;base64,{png}">'
                    f"<figcaption>{html.escape(t)}</figcaption></figure>" for t, png in _plots(points))
    note = "<p>Hidden suite: aggregate scores only.</p>" if hidden else ""
    bd_rows = [{"entry": row["entry"], **b} for row in ranked for b in row["bd"]]
    bd_cols = [("entry", "entry"), ("channel", "channel"), ("snr_db", "SNR dB"), ("bd_psnr", "BD-PSNR dB"),
               ("bd_rate", "BD-rate %"), ("note", "note")]
    bd = (f"<h2>BD of TC-PSNR against CBR versus the reference entry</h2>{_table(bd_rows, bd_cols, 'bd')}"
          if bd_rows else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>semcom-bench leaderboard: {html.escape(marker['suite'])}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th{{cursor:pointer;background:#f3f3f3}}
td:nth-child(2){{text-align:left}}figure{{display:inline-block;margin:0 1em 1em 0}}</style></head>
<body><h1>Leaderboard: {html.escape(marker['suite'])}</h1>
<p>Label set {html.escape(marker['labelset_hash'])}; ranked by TC-PSNR (dB, mean over each entry's grid), 95 %
paired-bootstrap intervals over images; entries that share a rank are tied. Scored by semcom-bench
{html.escape(__version__)}. Click a column heading to sort.</p>{note}
<h2>Ranking</h2>{_table(ranked, rank_cols, "ranking")}
<h2>Per channel, SNR and rate</h2>{_table(points, point_cols, "points")}{bd}
<h2>Plots</h2>{plots}
<h2>Entries</h2>{''.join(cards)}
<script>{SORT_SCRIPT}</script></body></html>
"""


def render(folder: str | Path, out: str | Path | None = None, resamples: int = 1000,
           reference: str | None = None) -> list[Path]:
    """Write ``leaderboard.md``, ``leaderboard.csv``, ``leaderboard.parquet``, ``points.csv``, ``index.html`` and
    ``compressai/<entry>.json`` for the results in ``folder`` into ``out`` (default ``folder/site``); returns the
    files. ``reference`` names the entry BD is taken against (none: no BD table)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    out = Path(out) if out is not None else folder / "site"
    out.mkdir(parents=True, exist_ok=True)
    marker, ranked, points, documents = leaderboard_rows(folder, resamples, reference)
    hidden = get_suite(marker["suite"]).hidden
    flat = [{"rank": r["rank"], "entry": r["entry"], "model": r["model"], "tied_with": "; ".join(r["tied_with"]),
             **{k: r[k] for m, _ in COLUMNS for k in (m, f"{m}_low", f"{m}_high") if k in r}} for r in ranked]
    written = [out / "leaderboard.md", out / "leaderboard.csv", out / "leaderboard.parquet", out / "points.csv",
               out / "index.html"]
    written[0].write_text(markdown(marker, ranked))
    write_csv(flat, written[1])
    write_csv(points, written[3])
    pq.write_table(pa.Table.from_pylist(flat), written[2])
    written[4].write_text(html_page(marker, ranked, points, hidden))
    (out / "compressai").mkdir(exist_ok=True)
    for doc in documents:
        name = "".join(c if c.isalnum() or c in "-." else "_" for c in doc["name"]) + ".json"
        written.append(out / "compressai" / name)
        written[-1].write_text(json.dumps(doc, indent=1) + "\n")
    return written
