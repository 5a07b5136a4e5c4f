"""Agreement of the reviews: the labeller against each human and human against human, per round and per class.

What is compared, in each round, for every pair of raters and for every class (the object's class in ``objects``,
plus ``"all"``), over the images both raters reviewed (a human reviewed an image when they have an image row for it
in the round; of several annotations of one image by one annotator in one round, the latest ``updated_at`` counts):

* **tiers**: the proposed objects (``object_id < ADDED_ID_BASE``) both raters gave a tier, the labeller's from
  ``objects.importance``, a human's from their ``kept`` row. Quadratic-weighted Cohen's kappa, Krippendorff's ordinal
  alpha, exact and within-one agreement and the 4 x 4 confusion matrix (rows rater_a, columns rater_b). Removed and
  added objects are no tier items; for a labeller-human pair the row counts them (``removed``, ``added``).
* **triplets**: ``(subject_id, predicate, object_id, object_class)`` keys, the labeller's being the proposed
  triplets and a human's their ``accept`` and ``new`` decisions; micro precision, recall and F1 of rater_a
  (predicted) against rater_b (reference). Between two humans, an object both drew (same class, box IoU >= 0.5)
  carries rater_a's id on both sides. Per class, a triplet goes by its subject's class (for an object a human added,
  the class they gave it).

Conventions: a statistic over no items is NaN; kappa and alpha are 1.0 when the two sides agree on every item even
if they all share one tier (where both formulas divide 0 by 0). Use :func:`agreement_report`, then
:func:`write_agreement` or :func:`format_table`; :func:`disputed_images` picks the images for the next round.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import krippendorff
import numpy as np

from semcom_bench.annotate.score import match_objects, quadratic_kappa
from semcom_bench.errors import SemcomError
from semcom_bench.review.annotations import Annotation, latest_annotations
from semcom_bench.review.regions import IOU_MATCH, TripletKey
from semcom_bench.schemas import LabelSet, atomic_write
from semcom_bench.schemas.tables import ADDED_ID_BASE, MAX_TIER, MADE_BY

TIERS = tuple(range(MAX_TIER + 1))
LABELLER = "labeller"
"""Rater name of the machine labeller in the report's rows."""
ALL = "all"
"""``class_name`` of the rows pooled over every class."""
COLUMNS = ("round", "rater_a", "rater_b", "class_name", "images", "n", "kappa", "alpha", "exact", "within_one",
           "triplet_precision", "triplet_recall", "triplet_f1", "removed", "added")
"""Columns of every report row, in CSV order."""

_PULL_HINT = "run `semcom-bench review pull` first"


def _ratio(num: float, den: float) -> float:
    return num / den if den else float("nan")


def _is_tier(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool) and 0 <= value <= MAX_TIER


def _tiers(values: Iterable[Any], what: str) -> np.ndarray:
    """``values`` as an int64 array, or a ValueError naming ``what`` when one is not an integer tier 0..3."""
    values = list(values)
    bad = [v for v in values if not _is_tier(v)]
    if bad:
        raise ValueError(f"{what}: {bad[0]!r} is not a tier; tiers are the integers 0..{MAX_TIER}")
    return np.array(values, dtype=np.int64)


# ---------------------------------------------------------------------------------------------------- metrics

@dataclass(frozen=True)
class TierScores:
    """Agreement of two raters' tiers over ``n`` items; rates are NaN when ``n`` is 0."""

    n: int
    kappa: float
    exact: float
    within_one: float
    confusion: np.ndarray
    """``(4, 4)`` int64 counts, rows rater a's tier, columns rater b's."""


class TierAgreement:
    """Quadratic-weighted Cohen's kappa, exact and within-one agreement of two raters' tiers (torchmetrics style).

    The state is the confusion matrix, so two accumulators add up and a bootstrap can re-pool per-image matrices.
    """

    higher_is_better = True

    def __init__(self) -> None:
        self.confusion = np.zeros((len(TIERS), len(TIERS)), np.int64)

    def update(self, a: Sequence[int], b: Sequence[int]) -> None:
        """Fold in items whose tiers rater a gave as ``a`` and rater b as ``b`` (equal lengths, tiers 0..3)."""
        if len(a) != len(b):
            raise ValueError(f"tier sequences differ in length: {len(a)} and {len(b)}; give one tier per item each")
        np.add.at(self.confusion, (_tiers(a, "rater a"), _tiers(b, "rater b")), 1)

    def compute(self) -> TierScores:
        """Scores of everything folded in so far."""
        n = int(self.confusion.sum())
        rows, cols = np.indices(self.confusion.shape)
        counts = self.confusion.ravel()
        # quadratic_kappa (annotate.score) takes item lists: nan on none, 1.0 on identical lists, else sklearn's
        # cohen_kappa_score(weights="quadratic", labels=[0, 1, 2, 3]).
        kappa = quadratic_kappa(np.repeat(rows.ravel(), counts).tolist(), np.repeat(cols.ravel(), counts).tolist())
        near = np.abs(rows - cols) <= 1
        return TierScores(n, kappa, _ratio(int(np.trace(self.confusion)), n),
                          _ratio(int(self.confusion[near].sum()), n), self.confusion.copy())


class KrippendorffAlpha:
    """Krippendorff's alpha at the ordinal level over tiers 0..3, any number of raters, missing values allowed.

    The ``krippendorff`` package is the implementation; the tests check it against cases computed by hand from the
    coincidence matrix. NaN with fewer than 2 pairable values (values of items that 2 or more raters rated); 1.0
    when all pairable values are one tier, where the package divides 0 by 0.
    """

    higher_is_better = True

    def __init__(self) -> None:
        self._values: dict[tuple[Hashable, Hashable], int] = {}

    def update(self, item: Hashable, rater: Hashable, tier: int) -> None:
        """Record that ``rater`` gave ``item`` the tier ``tier``; each rater rates an item at most once."""
        value = int(_tiers([tier], f"rater {rater!r}, item {item!r}")[0])
        if (item, rater) in self._values:
            raise ValueError(f"rater {rater!r} already rated item {item!r}; give one tier per rater and item")
        self._values[item, rater] = value

    def compute(self) -> float:
        """Alpha of everything recorded so far."""
        raters = sorted({r for _, r in self._values}, key=repr)
        items = sorted({i for i, _ in self._values}, key=repr)
        data = np.full((len(raters), len(items)), np.nan)
        rater_index = {r: k for k, r in enumerate(raters)}
        item_index = {i: k for k, i in enumerate(items)}
        for (item, rater), value in self._values.items():
            data[rater_index[rater], item_index[item]] = value
        rated = (~np.isnan(data)).sum(axis=0)
        pairable = data[:, rated >= 2]
        pairable = pairable[~np.isnan(pairable)]
        if pairable.size < 2:
            return float("nan")
        if np.all(pairable == pairable[0]):
            return 1.0
        return float(krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal",
                                        value_domain=list(TIERS)))


@dataclass(frozen=True)
class TripletScores:
    """Micro precision, recall and F1 (``2 tp / (2 tp + fp + fn)``); NaN where the denominator is 0."""

    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int


class TripletAgreement:
    """Micro precision / recall / F1 of predicted triplet sets against reference sets, image by image."""

    higher_is_better = True

    def __init__(self) -> None:
        self.tp = self.fp = self.fn = 0

    def update(self, predicted: set[Hashable], reference: set[Hashable]) -> None:
        """Fold in one image's predicted and reference triplets."""
        self.tp += len(predicted & reference)
        self.fp += len(predicted - reference)
        self.fn += len(reference - predicted)

    def compute(self) -> TripletScores:
        """Scores of everything folded in so far."""
        tp, fp, fn = self.tp, self.fp, self.fn
        return TripletScores(_ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(2 * tp, 2 * tp + fp + fn), tp, fp, fn)


# ---------------------------------------------------------------------------------------------------- reading

@dataclass(frozen=True)
class _Proposal:
    """The labeller's labels of one image: object rows by id and proposed triplets."""

    objects: dict[int, dict[str, Any]]
    triplets: set[TripletKey]


@dataclass(frozen=True)
class _Side:
    """What one rater says about one image, as compared: tiers of proposed objects, triplets, added classes."""

    tiers: dict[int, int]
    triplets: set[TripletKey]
    added: dict[int, str]


def _reviews(labelset: LabelSet) -> dict[int, dict[str, dict[str, Annotation]]]:
    """Round -> image -> annotator -> their latest annotation there, as ``review merge`` counts them. Raises when
    there are no reviews."""
    if not labelset.has("reviews"):
        raise SemcomError(f"label set {labelset.path} has no reviews table", hint=_PULL_HINT)
    table = labelset.read("reviews")
    if table.num_rows == 0:
        raise SemcomError(f"the reviews table of label set {labelset.path} has no rows", hint=_PULL_HINT)
    return latest_annotations(table.drop_columns(["mask"]).to_pylist())


def _proposals(labelset: LabelSet) -> dict[str, _Proposal]:
    """Image -> the labeller's objects and triplets (a label set without a triplets table proposed none)."""
    if not labelset.has("objects"):
        raise SemcomError(f"label set {labelset.path} has no objects table", hint=f"run `{MADE_BY['objects']}`")
    objects: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for row in labelset.read("objects").select(["image_id", "object_id", "class_name", "importance"]).to_pylist():
        objects[row["image_id"]][row["object_id"]] = row
    triplets: dict[str, set[TripletKey]] = defaultdict(set)
    if labelset.has("triplets"):
        columns = ["image_id", "subject_id", "predicate", "object_id", "object_class"]
        for row in labelset.read("triplets").select(columns).to_pylist():
            triplets[row["image_id"]].add((row["subject_id"], row["predicate"], row["object_id"], row["object_class"]))
    return defaultdict(lambda: _Proposal({}, set()),
                       {i: _Proposal(objects[i], triplets[i]) for i in set(objects) | set(triplets)})


def _labeller_side(proposal: _Proposal) -> _Side:
    tiers = {oid: row["importance"] for oid, row in proposal.objects.items() if row["importance"] is not None}
    return _Side(tiers, set(proposal.triplets), {})


def _human_side(review: Annotation, rename: dict[int, int] | None = None) -> _Side:
    """``review`` as compared; ``rename`` maps its added ids onto the other human's ids for the same objects."""
    rename = rename or {}
    tiers = {oid: row["importance"] for oid, row in review.with_status("kept").items()
             if oid < ADDED_ID_BASE and row["importance"] is not None}
    added = {rename.get(oid, oid): row["class_name"] for oid, row in review.with_status("added").items()}
    triplets = {(rename.get(s, s), p, None if o is None else rename.get(o, o), c)
                for s, p, o, c in review.decided("accept", "new")}
    return _Side(tiers, triplets, added)


def _match_added(a: Annotation, b: Annotation) -> dict[int, int]:
    """b's added id -> a's added id for the objects both drew: same class, one to one, box IoU >= IOU_MATCH."""
    matched: dict[int, int] = {}
    added_a, added_b = a.with_status("added"), b.with_status("added")
    for cls in {r["class_name"] for r in added_a.values()} & {r["class_name"] for r in added_b.values()}:
        boxes_a = [(oid, tuple(r["bbox"])) for oid, r in added_a.items() if r["class_name"] == cls and r["bbox"]]
        boxes_b = [(oid, tuple(r["bbox"])) for oid, r in added_b.items() if r["class_name"] == cls and r["bbox"]]
        matched |= match_objects(boxes_b, boxes_a, IOU_MATCH)
    return matched


# ---------------------------------------------------------------------------------------------------- report

@dataclass
class _Cell:
    """Accumulators of one (round, rater_a, rater_b, class) row."""

    tiers: TierAgreement = field(default_factory=TierAgreement)
    alpha: KrippendorffAlpha = field(default_factory=KrippendorffAlpha)
    triplets: TripletAgreement = field(default_factory=TripletAgreement)
    images: set[str] = field(default_factory=set)
    removed: int = 0
    added: int = 0


@dataclass
class AgreementReport:
    """Rows (dicts with :data:`COLUMNS`, one per round, pair and class) and each row's tier confusion matrix keyed
    by ``(round, rater_a, rater_b, class_name)`` (rows rater_a's tier, columns rater_b's)."""

    rows: list[dict[str, Any]]
    confusion: dict[tuple[int, str, str, str], np.ndarray]


def _fold(cells: dict[str, _Cell], image_id: str, proposal: _Proposal, left: _Side, right: _Side) -> None:
    """Add one image's comparison of ``left`` (rater_a) with ``right`` (rater_b) to the cells of each class."""
    classes = {oid: row["class_name"] for oid, row in proposal.objects.items()}
    for cls in {ALL, *classes.values(), *left.added.values(), *right.added.values()}:
        cells[cls].images.add(image_id)
    pairs: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for oid in sorted(left.tiers.keys() & right.tiers.keys()):
        for cls in (ALL, classes[oid]):
            pairs[cls][0].append(left.tiers[oid])
            pairs[cls][1].append(right.tiers[oid])
            cells[cls].alpha.update((image_id, oid), "a", left.tiers[oid])
            cells[cls].alpha.update((image_id, oid), "b", right.tiers[oid])
    for cls, (a, b) in pairs.items():
        cells[cls].tiers.update(a, b)

    def by_class(side: _Side) -> dict[str, set[TripletKey]]:
        out: dict[str, set[TripletKey]] = defaultdict(set)
        for key in side.triplets:
            out[ALL].add(key)
            cls = classes.get(key[0], side.added.get(key[0]))
            if cls is not None:  # a subject neither in objects nor added counts in "all" only
                out[cls].add(key)
        return out

    predicted, reference = by_class(left), by_class(right)
    for cls in predicted.keys() | reference.keys():
        cells[cls].triplets.update(predicted[cls], reference[cls])


def _row(key: tuple[int, str, str, str], cell: _Cell, counted: bool) -> dict[str, Any]:
    tiers, triplets = cell.tiers.compute(), cell.triplets.compute()
    return dict(zip(COLUMNS, (*key, len(cell.images), tiers.n, tiers.kappa, cell.alpha.compute(), tiers.exact,
                              tiers.within_one, triplets.precision, triplets.recall, triplets.f1,
                              cell.removed if counted else None, cell.added if counted else None), strict=True))


def agreement_report(labelset: LabelSet) -> AgreementReport:
    """Agreement per round, pair and class (module docstring): ``("labeller", annotator)`` for every annotator of a
    round and ``(a, b)``, ``a < b``, for every two annotators of it. ``removed`` and ``added`` count the annotator's
    removed and added objects on labeller rows and are None on human pairs. Raises :class:`SemcomError` when the
    label set has no reviews."""
    reviews, proposals = _reviews(labelset), _proposals(labelset)
    cells: dict[tuple[int, str, str], dict[str, _Cell]] = defaultdict(lambda: defaultdict(_Cell))
    for round_, images in reviews.items():
        for image_id, by_annotator in images.items():
            proposal = proposals[image_id]
            classes = {oid: row["class_name"] for oid, row in proposal.objects.items()}
            for name, review in by_annotator.items():
                pair = cells[round_, LABELLER, name]
                _fold(pair, image_id, proposal, _labeller_side(proposal), _human_side(review))
                for oid in review.with_status("removed"):
                    for cls in {ALL, classes.get(oid, ALL)}:  # an id unknown to objects counts in "all" only
                        pair[cls].removed += 1
                for row in review.with_status("added").values():
                    for cls in {ALL, row["class_name"]}:
                        pair[cls].added += 1
            for a, b in combinations(sorted(by_annotator), 2):
                first, second = by_annotator[a], by_annotator[b]
                _fold(cells[round_, a, b], image_id, proposal, _human_side(first),
                      _human_side(second, _match_added(first, second)))
    rows: list[dict[str, Any]] = []
    confusion: dict[tuple[int, str, str, str], np.ndarray] = {}
    # labeller pairs first, then human pairs; "all" before the classes
    for round_, rater_a, rater_b in sorted(cells, key=lambda k: (k[0], k[1] != LABELLER, k[1], k[2])):
        by_class = cells[round_, rater_a, rater_b]
        for cls in sorted(by_class, key=lambda c: (c != ALL, c)):
            key = (round_, rater_a, rater_b, cls)
            rows.append(_row(key, by_class[cls], counted=rater_a == LABELLER))
            confusion[key] = by_class[cls].tiers.compute().confusion
    return AgreementReport(rows, confusion)


# ---------------------------------------------------------------------------------------------------- output

_HEADERS = ("round", "rater a", "rater b", "class", "images", "n", "kappa", "alpha", "exact", "within 1",
            "triplet P", "triplet R", "triplet F1", "removed", "added")


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(_HEADERS) + " |", "|" + "---|" * len(_HEADERS)]
    lines += ["| " + " | ".join(_cell(row[c]) for c in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def format_table(report: AgreementReport) -> str:
    """The ``"all"`` rows as an aligned plain-text table for a terminal ("-" for NaN and empty values)."""
    cells = [list(_HEADERS)] + [[_cell(row[c]) for c in COLUMNS]
                                for row in report.rows if row["class_name"] == ALL]
    widths = [max(len(line[k]) for line in cells) for k in range(len(_HEADERS))]
    return "\n".join("  ".join(text.rjust(w) if k >= 4 else text.ljust(w)
                               for k, (text, w) in enumerate(zip(line, widths, strict=True))).rstrip()
                     for line in cells)


def _write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _plot(report: AgreementReport, path: Path) -> Path:
    """kappa and alpha per pair across rounds, and the latest round's labeller-human confusion matrices."""
    # The Agg canvas on a bare Figure: no pyplot state and no process-wide backend switch.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    pooled = [row for row in report.rows if row["class_name"] == ALL]
    latest = max(row["round"] for row in pooled)
    heatmaps = [row for row in pooled if row["round"] == latest and row["rater_a"] == LABELLER]
    panels = 1 + len(heatmaps)
    ncols = min(panels, 3)
    nrows = math.ceil(panels / ncols)
    fig = Figure(figsize=(5 * ncols, 4.2 * nrows))
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[panels:]:
        ax.set_visible(False)
    trend = axes[0]
    series: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in pooled:
        series[row["rater_a"], row["rater_b"]].append(row)
    for k, ((rater_a, rater_b), points) in enumerate(sorted(series.items())):
        colour = f"C{k % 10}"
        rounds = [p["round"] for p in points]
        trend.plot(rounds, [p["kappa"] for p in points], marker="o", color=colour, label=f"{rater_a}-{rater_b} kappa")
        trend.plot(rounds, [p["alpha"] for p in points], marker="s", linestyle="--", color=colour,
                   label=f"{rater_a}-{rater_b} alpha")
    trend.axhline(0.0, color="grey", linewidth=0.5)
    trend.set_xticks(sorted({row["round"] for row in pooled}))
    trend.set_xlabel("review round")
    trend.set_ylabel("tier agreement")
    trend.set_title("quadratic kappa (solid), ordinal alpha (dashed)")
    trend.grid(alpha=0.3)
    trend.legend(fontsize=6)
    for ax, row in zip(axes[1:], heatmaps, strict=False):
        matrix = report.confusion[latest, LABELLER, row["rater_b"], ALL]
        ax.imshow(matrix, cmap="Blues")
        top = matrix.max()
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(j, i, str(count), ha="center", va="center", color="white" if top and count > top / 2 else "black")
        ax.set_xticks(TIERS)
        ax.set_yticks(TIERS)
        ax.set_xlabel(f"{row['rater_b']} tier")
        ax.set_ylabel("labeller tier")
        ax.set_title(f"round {latest}: labeller vs {row['rater_b']} (kappa {_cell(row['kappa'])})", fontsize=9)
    fig.tight_layout()
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120))


def write_agreement(report: AgreementReport, out: Path) -> dict[str, Path]:
    """Write ``agreement.csv`` (every row), ``agreement.md`` (the ``"all"`` rows, then the per-class rows) and
    ``agreement.png`` (kappa / alpha per pair per round; the latest round's labeller-human confusion matrices) into
    the folder ``out``; returns their paths keyed ``csv``, ``md`` and ``png``."""
    if not report.rows:
        raise SemcomError("the agreement report has no rows", hint=_PULL_HINT)
    out = Path(out)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(report.rows)
    pooled = [row for row in report.rows if row["class_name"] == ALL]
    per_class = [row for row in report.rows if row["class_name"] != ALL]
    markdown = (f"# Review agreement\n\n## All classes\n\n{_markdown(pooled)}\n\n"
                f"## Per class\n\n{_markdown(per_class)}\n")
    return {"csv": _write_text(out / "agreement.csv", buffer.getvalue()),
            "md": _write_text(out / "agreement.md", markdown),
            "png": _plot(report, out / "agreement.png")}


# ---------------------------------------------------------------------------------------------------- disputes

def _changed(review: Annotation, proposal: _Proposal) -> bool:
    """Whether one human's annotation changes anything against the labeller."""
    for oid, row in review.with_status("kept").items():
        labelled = proposal.objects.get(oid)
        if labelled is None:
            continue
        tiers = (row["importance"], labelled["importance"])
        if None not in tiers and tiers[0] != tiers[1]:
            return True
        if row["class_name"] is not None and row["class_name"] != labelled["class_name"]:
            return True
    return bool(review.with_status("removed") or review.with_status("added") or review.decided("reject", "new"))


def _disagree(a: Annotation, b: Annotation) -> bool:
    """Whether two humans' annotations of one image differ (``disputed_images``)."""
    kept_a, kept_b = a.with_status("kept"), b.with_status("kept")
    if a.with_status("removed").keys() != b.with_status("removed").keys() or kept_a.keys() != kept_b.keys():
        return True
    rename = _match_added(a, b)
    added_a, added_b = a.with_status("added"), b.with_status("added")
    if len(rename) != len(added_a) or len(rename) != len(added_b):
        return True  # an object only one of them drew
    same = [(kept_a[oid], kept_b[oid]) for oid in kept_a] + [(added_a[ia], added_b[ib]) for ib, ia in rename.items()]
    for x, y in same:
        tiers = (x["importance"], y["importance"])
        if (None not in tiers and tiers[0] != tiers[1]) or x["class_name"] != y["class_name"]:
            return True
    return _human_side(a).triplets != _human_side(b, rename).triplets


def disputed_images(labelset: LabelSet, round_: int) -> list[str]:
    """Sorted ids of the images of round ``round_`` that need another look. An image is disputed when

    * any reviewer ticked a flag on it; or
    * two of its reviewers disagree: an object one kept and the other removed, an added object only one drew (added
      objects are the same when their class is and their boxes overlap with IoU >= 0.5, matched one to one), a
      different tier (both set) or class on an object both kept or drew, or different triplets (accepted plus new,
      which covers an accept against a reject); or
    * only one human reviewed it and they changed anything against the labeller: a tier (both set) or class of a
      proposed object, a removed or added object, a rejected or a new triplet. Box edits alone do not count.

    Each annotator's latest annotation of the image in the round counts. Raises :class:`SemcomError` when the label
    set has no reviews or none in ``round_``."""
    reviews = _reviews(labelset)
    if round_ not in reviews:
        raise SemcomError(f"label set {labelset.path} has no reviews of round {round_}",
                          hint=f"choose a reviewed round: {', '.join(map(str, sorted(reviews)))}")
    proposals = _proposals(labelset)
    disputed = []
    for image_id, by_annotator in reviews[round_].items():
        annotations = [by_annotator[name] for name in sorted(by_annotator)]
        if any(r.image["flags"] for r in annotations):
            disputed.append(image_id)
        elif len(annotations) == 1:
            if _changed(annotations[0], proposals[image_id]):
                disputed.append(image_id)
        elif any(_disagree(a, b) for a, b in combinations(annotations, 2)):
            disputed.append(image_id)
    return sorted(disputed)
