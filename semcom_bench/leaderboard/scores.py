"""Leaderboard scores: per-point metrics with paired bootstrap intervals, per-entry means, BD-PSNR / BD-rate, ranking
with ties, CompressAI-style JSON.

An *entry* is one curve: (``scheme``, ``model``, ``config``) under one ``side_rule`` (:class:`Entry`). A *grid
point* is (``channel``, ``snr_db``, ``rate``) (:class:`Point`). Its input is rows of the ``results`` table
(``read_table(path, "results").to_pylist()``), merged with :func:`merge_results` when they come from several runs.

Metrics (:data:`METRICS`), named as :func:`semcom_bench.benchmark.report.summarize` names them: ``psnr``, ``tc_psnr``
and ``psnr_tier3`` .. ``psnr_tier0`` (3 high, 2 medium, 1 low, 0 background) pool squared errors over images before
converting to dB (:func:`~semcom_bench.benchmark.metrics.pooled_psnr`); ``ssim``, ``ms_ssim`` and ``cbr`` are means
over rows.

Uncertainty. The unit of resampling is the image: :func:`score_points` draws ``resamples`` bootstrap samples of the
image ids (with replacement, one seeded NumPy Generator) once, and every entry at every grid point is scored on the
same draws. So any two numbers are *paired*: their difference in one resample is over the same images, which is what
:func:`rank_entries` tests. Each resample re-pools the squared-error and pixel sums of the images it drew (never an
average of dB). An image's rows under several channel seeds move together. Intervals are percentile intervals.

This module loads torch (through :mod:`semcom_bench.benchmark.metrics`) and matplotlib (through ``bjontegaard``) only
inside the functions that need them, so importing it stays light.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np

from semcom_bench.errors import SemcomError
from semcom_bench.schemas.tables import MAX_TIER

DEFAULT_RESAMPLES = 1000
"""Bootstrap resamples of the images: enough for stable 2.5 / 97.5 percentiles (about 25 resamples beyond each)."""
CONFIDENCE = 0.95
BD_METHOD = "akima"
"""Interpolation of ``bjontegaard``'s BD functions: Akima, which its authors found the most accurate and stable
(Herglotz et al., ICIP 2022; "The Bjontegaard Bible", 2023). ``"pchip"`` reproduces the JVET/JCT-VC CTC sheet."""
MIN_BD_POINTS = 4
"""Rate points each curve needs for BD (VCEG-M33 fits four); fewer give ``None`` with a note."""

ENTRY_COLUMNS = ("scheme", "model", "config", "side_rule")
POINT_COLUMNS = ("channel", "snr_db", "rate")
TIERS = tuple(range(MAX_TIER, -1, -1))
POOLED: dict[str, tuple[str, str]] = {
    "psnr": ("sse", "pixels"),
    "tc_psnr": ("tc_sse", "tc_pixels"),
    **{f"psnr_tier{t}": (f"sse_tier{t}", f"pixels_tier{t}") for t in TIERS},
}
"""Pooled metrics -> their (squared-error sum, pixel count) columns."""
MEANS = ("ssim", "ms_ssim", "cbr")
"""Metrics averaged over rows."""
METRICS = (*POOLED, *MEANS)
_SUMMED = (*(column for pair in POOLED.values() for column in pair), *MEANS)
"""The per-image sums every metric is made from, in the column order of the per-image matrices."""
ROW_KEY = (*ENTRY_COLUMNS, *POINT_COLUMNS, "image_id", "seed")
"""What makes a results row unique; the same key twice in a merge means one run was given twice."""
COMPRESSAI_KEYS = {"cbr": "cbr", "psnr-rgb": "psnr", "tc-psnr": "tc_psnr", "ssim-rgb": "ssim",
                   "ms-ssim-rgb": "ms_ssim", **{f"psnr-tier{t}": f"psnr_tier{t}" for t in TIERS}}
"""CompressAI-style result keys -> metrics."""


class Entry(NamedTuple):
    """One curve of the leaderboard."""

    scheme: str
    model: str
    config: str
    side_rule: str


class Point(NamedTuple):
    """One grid point of a curve."""

    channel: str
    snr_db: float
    rate: float


class TaggedRows(NamedTuple):
    """Results rows of one run with the suite and the label set (its hash) they were scored on."""

    suite: str
    labelset_hash: str
    rows: Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class Scores:
    """Every entry's metrics at every grid point, on the full sample and on each bootstrap resample.

    ``image_ids``: the images resampled, sorted. ``draws``: ``(1 + resamples, len(image_ids))``, how often each image
    is drawn; row 0 is the sample itself (every image once), rows 1.. the resamples. ``samples[(entry, point)]``:
    metric -> ``(1 + resamples,)`` values, one per row of ``draws`` (index 0: the point estimate).
    ``images[(entry, point)]``: the number of images scored there.
    """

    image_ids: tuple[str, ...]
    draws: np.ndarray
    samples: dict[tuple[Entry, Point], dict[str, np.ndarray]]
    images: dict[tuple[Entry, Point], int]

    def entries(self) -> list[Entry]:
        """Every entry, sorted."""
        return sorted({entry for entry, _ in self.samples})

    def points(self, entry: Entry) -> list[Point]:
        """The grid points of ``entry``, sorted."""
        return sorted(point for e, point in self.samples if e == entry)

    def entry_samples(self, entry: Entry, metric: str) -> np.ndarray:
        """``(1 + resamples,)``: the mean of ``metric`` over the grid points of ``entry``, per row of ``draws``."""
        _check_metric(metric)
        return np.mean([self.samples[(entry, point)][metric] for point in self.points(entry)], axis=0)


def score_points(rows: Iterable[Mapping[str, Any]], resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> Scores:
    """Score result rows (dicts with :data:`ENTRY_COLUMNS`, :data:`POINT_COLUMNS`, ``image_id`` and the columns of
    :data:`POOLED` and :data:`MEANS`) per entry and grid point, with ``resamples`` paired bootstrap resamples of the
    images drawn from ``numpy.random.default_rng(seed)``: the same seed and rows give the same resamples."""
    rows = list(rows)
    _check_rows(rows)
    if resamples < 1:
        raise SemcomError(f"resamples must be at least 1, got {resamples}", hint=f"use {DEFAULT_RESAMPLES}")
    image_ids = tuple(sorted({row["image_id"] for row in rows}))
    index = {image: i for i, image in enumerate(image_ids)}
    # Per (entry, point): one row per image of summed columns, and the number of rows summed in the last column.
    per_image: dict[tuple[Entry, Point], np.ndarray] = defaultdict(lambda: np.zeros((len(image_ids), len(_SUMMED) + 1)))
    for row in rows:
        key = (Entry(*(row[c] for c in ENTRY_COLUMNS)), Point(*(row[c] for c in POINT_COLUMNS)))
        per_image[key][index[row["image_id"]]] += [*(row[c] for c in _SUMMED), 1]
    draws = _draws(len(image_ids), resamples, seed)
    samples = {key: _metrics(_resampled_sums(draws, sums)) for key, sums in sorted(per_image.items())}
    images = {key: int(np.count_nonzero(sums[:, -1])) for key, sums in per_image.items()}
    return Scores(image_ids, draws, samples, images)


def _check_rows(rows: list[Mapping[str, Any]]) -> None:
    if not rows:
        raise SemcomError("no results rows to score", hint="run `semcom-bench bench eval` to produce results first")
    needed = (*ENTRY_COLUMNS, *POINT_COLUMNS, "image_id", *_SUMMED)
    missing = [column for column in needed if column not in rows[0]]
    if missing:
        raise SemcomError(f"results rows lack column(s) {', '.join(missing)}",
                          hint="pass rows of the results table: read_table(path, 'results').to_pylist()")


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise SemcomError(f"unknown metric {metric!r}", hint=f"choose one of: {', '.join(METRICS)}")


def _draws(images: int, resamples: int, seed: int) -> np.ndarray:
    """``(1 + resamples, images)`` draw counts: a row of ones (the sample), then one row per bootstrap resample."""
    picks = np.random.default_rng(seed).integers(0, images, size=(resamples, images))
    # One bincount for all resamples: resample r's picks are offset by r * images.
    counts = np.bincount((picks + images * np.arange(resamples)[:, None]).ravel(), minlength=resamples * images)
    return np.vstack([np.ones(images), counts.reshape(resamples, images)])


def _resampled_sums(draws: np.ndarray, per_image: np.ndarray) -> np.ndarray:
    """``draws @ per_image``, except that a NaN value (say MS-SSIM of an image too small for it) poisons only the
    resamples that draw its image: in a plain product 0 * NaN would poison them all."""
    nan = np.isnan(per_image)
    sums = draws @ np.where(nan, 0.0, per_image)
    sums[(draws @ nan) > 0] = np.nan
    return sums


def _metrics(sums: np.ndarray) -> dict[str, np.ndarray]:
    """Metric -> ``(1 + resamples,)`` values from the resampled sums (columns :data:`_SUMMED`, then row counts)."""
    # pooled_psnr over arrays: every resample is pooled with the formula the reports use
    from semcom_bench.benchmark.metrics import psnr_db

    column = {name: sums[:, i] for i, name in enumerate(_SUMMED)}
    out = {metric: psnr_db(column[sse], column[pixels]) for metric, (sse, pixels) in POOLED.items()}
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN where a resample drew no image of this entry
        out |= {metric: column[metric] / sums[:, -1] for metric in MEANS}
    return out


def interval(samples: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile interval of the resamples ``samples[1:]`` (index 0 is the point estimate). Resamples where the
    metric is undefined (NaN: they drew no pixel of its region, e.g. no tier-3 patch) are left out; NaN when the
    point estimate itself is NaN (a NaN value in the sample) or no resample defines the metric."""
    if math.isnan(samples[0]) or np.isnan(samples[1:]).all():
        return math.nan, math.nan
    tail = 50.0 * (1.0 - confidence)
    low, high = np.nanpercentile(samples[1:], [tail, 100.0 - tail])
    return float(low), float(high)


def _with_interval(metric: str, samples: np.ndarray, confidence: float) -> dict[str, float]:
    low, high = interval(samples, confidence)
    return {metric: float(samples[0]), f"{metric}_low": low, f"{metric}_high": high}


def point_table(scores: Scores, confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """One row per entry and grid point: :data:`ENTRY_COLUMNS`, :data:`POINT_COLUMNS`, ``images``, and for every
    metric of :data:`METRICS` its value and ``<metric>_low`` / ``<metric>_high``, the ``confidence`` interval."""
    table = []
    for (entry, point), samples in scores.samples.items():
        row: dict[str, Any] = {**entry._asdict(), **point._asdict(), "images": scores.images[(entry, point)]}
        for metric in METRICS:
            row |= _with_interval(metric, samples[metric], confidence)
        table.append(row)
    return table


def entry_summaries(scores: Scores, reference: Entry | None = None, confidence: float = CONFIDENCE,
                    bd_metric: str = "psnr", method: str = BD_METHOD,
                    min_points: int = MIN_BD_POINTS) -> list[dict[str, Any]]:
    """One row per entry: :data:`ENTRY_COLUMNS`, ``points`` (its grid points), every metric's mean over its grid
    points with ``<metric>_low`` / ``<metric>_high``, and ``bd``: :func:`bd_table` against ``reference`` (empty for
    the reference itself or without one)."""
    if reference is not None and reference not in scores.entries():
        raise SemcomError(f"the reference entry {tuple(reference)} has no results",
                          hint="choose one of: " + "; ".join(str(tuple(e)) for e in scores.entries()))
    summaries = []
    for entry in scores.entries():
        row: dict[str, Any] = {**entry._asdict(), "points": len(scores.points(entry))}
        for metric in METRICS:
            row |= _with_interval(metric, scores.entry_samples(entry, metric), confidence)
        row["bd"] = ([] if reference is None or entry == reference
                     else bd_table(scores, entry, reference, bd_metric, method, min_points))
        summaries.append(row)
    return summaries


def _curve(scores: Scores, entry: Entry, channel: str, snr_db: float, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """``(cbr, metric)`` point estimates of ``entry`` at one channel and SNR, in increasing CBR."""
    points = sorted((scores.samples[(entry, p)]["cbr"][0], scores.samples[(entry, p)][metric][0])
                    for p in scores.points(entry) if (p.channel, p.snr_db) == (channel, snr_db))
    return np.array([c for c, _ in points]), np.array([v for _, v in points])


def bd_table(scores: Scores, entry: Entry, reference: Entry, metric: str = "psnr", method: str = BD_METHOD,
             min_points: int = MIN_BD_POINTS) -> list[dict[str, Any]]:
    """BD of ``entry`` against ``reference`` at each (channel, SNR) of ``entry``, on ``metric`` vs mean CBR.

    Rows: ``channel``, ``snr_db``, ``metric``, ``bd_psnr`` (mean ``metric`` gain in dB at equal CBR), ``bd_rate``
    (mean CBR change in % at equal ``metric``; negative: fewer channel uses), both from ``bjontegaard.bd_psnr`` /
    ``bd_rate`` with interpolation ``method``; ``note``: why a value is ``None`` (too few rate points, a curve that
    does not rise with CBR, no overlap), or the package's warning of a small overlap.
    """
    _check_metric(metric)
    rows = []
    for channel, snr_db in sorted({(p.channel, p.snr_db) for p in scores.points(entry)}):
        test = _curve(scores, entry, channel, snr_db, metric)
        anchor = _curve(scores, reference, channel, snr_db, metric)
        bd_psnr, bd_rate, notes = _bd(anchor, test, metric, method, min_points)
        rows.append({"channel": channel, "snr_db": snr_db, "metric": metric, "bd_psnr": bd_psnr, "bd_rate": bd_rate,
                     "note": "; ".join(notes) or None})
    return rows


def _curve_problems(name: str, cbr: np.ndarray, values: np.ndarray, metric: str, min_points: int) -> list[str]:
    """Why a curve cannot enter BD at all."""
    if len(cbr) < min_points:
        return [f"the {name} has {len(cbr)} rate point(s) here; BD needs at least {min_points}"]
    if not (np.isfinite(cbr).all() and np.isfinite(values).all()):
        return [f"the {name}'s CBR or {metric} is not finite at every rate point"]
    if not (np.diff(cbr) > 0).all():
        return [f"the {name} has two rate points at the same CBR"]
    return []


def _bd(anchor: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], metric: str, method: str,
        min_points: int) -> tuple[float | None, float | None, list[str]]:
    """``(bd_psnr, bd_rate, notes)`` of ``test`` against ``anchor``, each ``(cbr, values)`` in increasing CBR."""
    notes = (_curve_problems("reference", *anchor, metric, min_points)
             + _curve_problems("entry", *test, metric, min_points))
    if notes:
        return None, None, notes
    os.environ.setdefault("MPLBACKEND", "Agg")  # bjontegaard imports matplotlib.pyplot; no display here
    import bjontegaard

    args = (*anchor, *test)
    bd_psnr = _call(bjontegaard.bd_psnr, args, method, notes)
    # BD-rate interpolates CBR as a function of the metric, which needs the metric to rise strictly with CBR.
    falling = [name for name, (_, values) in (("reference", anchor), ("entry", test))
               if not (np.diff(values) > 0).all()]
    if falling:
        whose = " and of the ".join(falling)
        notes.append(f"no BD-rate: {metric} of the {whose} does not rise strictly with CBR")
        return bd_psnr, None, notes
    return bd_psnr, _call(bjontegaard.bd_rate, args, method, notes), notes


def _call(function: Any, args: tuple[np.ndarray, ...], method: str, notes: list[str]) -> float | None:
    """``function(*args, method)`` with its warnings added to ``notes``; ``None`` where it gives NaN (no overlap)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # The curves may have different numbers of rate points: BD integrates each over the common range.
        value = float(function(*args, method=method, require_matching_points=False))
    notes.extend(f"{function.__name__}: {w.message}" for w in caught)
    return None if math.isnan(value) else value


def rank_entries(scores: Scores, metric: str = "tc_psnr", confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """Entries from best to worst by the mean of ``metric`` over their grid points (higher is better), with ties.

    Tie rule (paired bootstrap): for two entries A and B, the difference of their means is computed in every
    resample, on the same images for both; A is *significantly better* than B when the ``confidence`` interval of
    A - B lies above 0. An entry's ``rank`` is 1 + the number of entries significantly better than it, so entries
    whose difference interval contains 0 share a rank (competition ranking: 1, 1, 3). ``tied_with`` lists the entries
    not significantly different from it either way (a NaN difference counts as not significant). The rule does not
    depend on the order, but it is not transitive: with A ~ B, B ~ C and A > C, A and B rank 1 and C ranks 2.
    Entries are compared on their own grids: rank entries evaluated on the same grid points.

    Rows: ``rank``, :data:`ENTRY_COLUMNS`, ``metric``, ``value``, ``low``, ``high`` (its own interval), ``tied_with``
    (:class:`Entry` list). Entries with a NaN mean come last.
    """
    means = {entry: scores.entry_samples(entry, metric) for entry in scores.entries()}
    order = sorted(means, key=lambda e: (math.isnan(means[e][0]), -means[e][0]))

    def better(a: Entry, b: Entry) -> bool:
        low, _ = interval(means[a] - means[b], confidence)
        return low > 0

    table = []
    for entry in order:
        others = [other for other in order if other != entry]
        low, high = interval(means[entry], confidence)
        table.append({"rank": 1 + sum(better(other, entry) for other in others), **entry._asdict(), "metric": metric,
                      "value": float(means[entry][0]), "low": low, "high": high,
                      "tied_with": [o for o in others if not better(o, entry) and not better(entry, o)]})
    return table


def merge_results(groups: Iterable[TaggedRows]) -> list[dict[str, Any]]:
    """The rows of every group, as one list; raises :class:`SemcomError` when the groups come from different suites
    or were scored on different label sets (TC-PSNR and tier PSNRs depend on the labels, so such numbers are not
    comparable), or when a row (:data:`ROW_KEY`) appears twice."""
    groups = list(groups)
    for first, group in pairwise(groups):
        if group.suite != first.suite:
            raise SemcomError(f"cannot merge results of suite {first.suite!r} with results of suite {group.suite!r}",
                              hint="rank each suite on its own leaderboard")
        if group.labelset_hash != first.labelset_hash:
            raise SemcomError(
                f"cannot merge results of suite {first.suite!r} scored on label set {first.labelset_hash} with "
                f"results scored on label set {group.labelset_hash}",
                hint="re-run the benchmark of one of them on the other's label set; TC-PSNR and tier PSNRs depend "
                     "on the labels")
    merged = [dict(row) for group in groups for row in group.rows]
    seen: set[tuple[Any, ...]] = set()
    for row in merged:
        key = tuple(row[c] for c in ROW_KEY)
        if key in seen:
            raise SemcomError(f"results row {dict(zip(ROW_KEY, key, strict=True))} appears twice",
                              hint="the same run was given twice: merge each results file once")
        seen.add(key)
    return merged


def compressai_json(scores: Scores) -> list[dict[str, Any]]:
    """One CompressAI-style document per entry: ``name`` (the report's curve name), ``description``, ``results``:
    parallel lists over its grid points in (channel, SNR, rate) order: ``channel``, ``snr``, ``rate``, and the point
    estimates under :data:`COMPRESSAI_KEYS` (``cbr``, ``psnr-rgb``, ``tc-psnr``, ``ssim-rgb``, ``ms-ssim-rgb``,
    ``psnr-tier3`` .. ``psnr-tier0``)."""
    from semcom_bench.benchmark.report import curve_names

    entries = scores.entries()
    docs = []
    for name, entry in zip(curve_names([e._asdict() for e in entries]), entries, strict=True):
        points = scores.points(entry)
        results: dict[str, list[Any]] = {"channel": [p.channel for p in points], "snr": [p.snr_db for p in points],
                                         "rate": [p.rate for p in points]}
        results |= {key: [float(scores.samples[(entry, p)][metric][0]) for p in points]
                    for key, metric in COMPRESSAI_KEYS.items()}
        docs.append({"name": name, "description": f"semcom-bench leaderboard entry ({entry.side_rule} side info); "
                                                  "PSNRs pool squared errors over images", "results": results})
    return docs
