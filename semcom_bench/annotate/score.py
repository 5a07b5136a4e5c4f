"""Scoring a label set made on a synthcity tree against the generator's truth sidecars.

What is compared, per image, after matching the label set's objects to the truth instances one to one (Hungarian
assignment on box IoU, pairs below :data:`IOU_THRESHOLD` left unmatched, so label sets from any detector score):

* **relations**: precision, recall and F1 over ``(subject, predicate, object)`` triplets, with predicted subjects
  and instance objects mapped through the matching (an unmatched one matches nothing) and stuff objects compared by
  name. Only the predicates the truth annotates (:data:`TRUTH_PREDICATES`) count: a spatial triplet such as
  ``in front of`` is neither right nor wrong, since the truth says nothing about it.
* **importance tiers**: quadratic-weighted Cohen's kappa and the 4 x 4 confusion matrix (rows truth, columns
  label set; tiers 0-3, an unlabelled object counting as 0) over matched objects, for the label set's task;
  ``unlabelled_objects`` counts the objects without a tier (a run that failed on them), and a warning is logged.
* **task-critical mask**: the label set's ``task_masks`` against the mask of InsCom eq. (5-7) built from the boxes of
  the truth's task-critical instances and the gtFine semantic map; the dataset-level IoU (sum of intersections over
  sum of unions) and the mean per-image IoU over images where either mask is non-empty.

Use :func:`score_labelset`; ``python benchmarks/annotate_quality.py`` runs it on a freshly generated set.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from semcom_bench.annotate.base import Detection, Scene, Triplet
from semcom_bench.annotate.toif import task_mask
from semcom_bench.datasets.base import DATASETS
from semcom_bench.datasets.synthcity import truth_path
from semcom_bench.errors import AnnotationMissingError, SemcomError
from semcom_bench.schemas import LabelSet, decode_mask
from semcom_bench.tasks import Task, load_task

log = logging.getLogger(__name__)

IOU_THRESHOLD = 0.5
TIERS = [0, 1, 2, 3]
TRUTH_PREDICATES = frozenset({
    "driving on", "in ego lane", "in adjacent lane", "oncoming", "parked on",
    "walking on", "standing on", "crossing", "riding", "on",
})
"""Predicates synthcity's truth uses (``synthcity.truth.relations_of``); others are left out of the scores."""
NEEDED_TABLES = ("images", "objects", "triplets", "task_masks")


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` IoU of two arrays of ``(x0, y0, x1, y1)`` boxes."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def match_objects(predicted: list[tuple[int, tuple[float, ...]]], truth: list[tuple[int, tuple[float, ...]]],
                  threshold: float = IOU_THRESHOLD) -> dict[int, int]:
    """Predicted id -> truth id, one to one, maximising the total box IoU; pairs below ``threshold`` dropped."""
    if not predicted or not truth:
        return {}
    iou = box_iou(np.array([b for _, b in predicted], np.float64), np.array([b for _, b in truth], np.float64))
    rows, cols = linear_sum_assignment(-iou)
    return {predicted[r][0]: truth[c][0] for r, c in zip(rows, cols, strict=True) if iou[r, c] >= threshold}


def quadratic_kappa(y_true: list[int], y_pred: list[int]) -> float:
    """Quadratic-weighted Cohen's kappa over tiers 0..3; nan on no items, 1.0 on identical lists."""
    if not y_true:
        return float("nan")
    if y_true == y_pred:
        return 1.0  # sklearn gives nan when both sides are one constant tier
    return float(cohen_kappa_score(y_true, y_pred, labels=TIERS, weights="quadratic"))


def _ratio(num: float, den: float) -> float:
    return num / den if den else float("nan")


def _open(labelset: Path, truth_root: Path, task: str | None) -> tuple[LabelSet, Task, Any]:
    """The label set, the task it is scored for, and the synthcity adapter on ``truth_root``; raises clear errors."""
    labels = LabelSet.open(labelset)
    manifest = labels.manifest
    if manifest.get("dataset") != "synthcity":
        raise SemcomError(
            f"{labelset} was made from dataset {manifest.get('dataset')!r}; only synthcity label sets have a truth "
            "to score against",
            hint="annotate a synthcity tree (`semcom-bench datasets synth`) and score that label set",
        )
    missing = [t for t in NEEDED_TABLES if not labels.has(t)]
    if missing:
        raise SemcomError(f"label set {labelset} has no {', '.join(missing)} table", hint="finish the annotate run")
    config = manifest.get("config", {})
    made_for = config.get("task")
    if task is not None and made_for is not None and Path(task).stem != Path(made_for).stem:
        raise SemcomError(
            f"label set {labelset} was made for task {made_for!r}, not {task!r}",
            hint="leave the task out to score the label set's own task",
        )
    chosen = task or made_for
    if chosen is None:
        raise SemcomError(f"label set {labelset} names no task", hint="pass the task it was made for")
    spec = load_task(chosen)
    root = Path(truth_root)
    if not (root / "synthcity").is_dir():
        raise AnnotationMissingError(
            f"{root} holds no synthcity truth sidecars (no {root / 'synthcity'} folder)",
            hint="pass the root the synthcity generator wrote (`semcom-bench datasets synth --out DIR`)",
        )
    size = config.get("size")
    adapter = DATASETS.get("synthcity")(root=root, split=manifest["split"], size=tuple(size) if size else None)
    return labels, spec, adapter


def score_labelset(labelset: Path, truth_root: Path, task: str | None = None) -> dict[str, Any]:
    """Score the label set in ``labelset`` against the synthcity truth under ``truth_root`` (see the module doc).

    ``task`` defaults to the one in the label set's manifest (a different one is refused: the tiers were made for
    that one). Returns ``images``, ``matched_objects``, ``unmatched_truth``, ``unmatched_predicted``,
    ``relation_precision``/``_recall``/``_f1`` (with ``relation_counts`` per predicate), ``tier_kappa``,
    ``tier_confusion`` (rows truth 0-3, columns label set 0-3), ``tier_accuracy``, ``mask_iou`` (dataset level),
    ``mask_iou_mean`` (per image) and ``task``.
    """
    labels, task_spec, adapter = _open(Path(labelset), Path(truth_root), task)
    task_name = task_spec.name
    images = labels.read("images").to_pylist()
    by_image: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for table in ("objects", "triplets", "task_masks"):
        for row in labels.read(table).to_pylist():
            by_image[row["image_id"]][table].append(row)
    known = set(adapter.ids())
    counts: Counter[str] = Counter()
    per_predicate: dict[str, Counter[str]] = defaultdict(Counter)
    y_true: list[int] = []
    y_pred: list[int] = []
    inter_sum = union_sum = unlabelled = 0
    per_image_iou: list[float] = []
    for image in images:
        image_id = image["image_id"]
        if image_id not in known:
            raise SemcomError(
                f"image {image_id} of the label set is not in {truth_root} (split {adapter.split})",
                hint="score against the synthcity root the label set was made from",
            )
        path = truth_path(adapter.root, adapter.split, adapter.path_of(image_id).parent.name, image_id)
        if not path.is_file():
            raise AnnotationMissingError(f"{image_id} has no truth sidecar {path}", hint="regenerate the synthcity tree")
        sample = adapter.load(image_id)
        truth = {o["instance_id"]: o for o in adapter.truth_of(image_id)["objects"]}
        instances = [inst for inst in sample.instances if inst.instance_id in truth]
        rows = by_image[image_id]
        predicted = [(r["object_id"], tuple(r["bbox"])) for r in rows["objects"]]
        matching = match_objects(predicted, [(inst.instance_id, inst.bbox) for inst in instances])
        counts["matched"] += len(matching)
        counts["unmatched_truth"] += len(instances) - len(matching)
        counts["unmatched_predicted"] += len(predicted) - len(matching)

        truth_triplets = {
            (rel.subject_id, rel.predicate, rel.object) for rel in sample.relations or []
            if rel.predicate in TRUTH_PREDICATES
        }
        predicted_triplets = {
            (matching.get(t["subject_id"], ("unmatched", t["subject_id"])), t["predicate"],
             t["object_class"] if t["object_id"] is None else matching.get(t["object_id"], ("unmatched", t["object_id"])))
            for t in rows["triplets"] if t["predicate"] in TRUTH_PREDICATES
        }
        for triplet in truth_triplets | predicted_triplets:
            outcome = "tp" if triplet in truth_triplets and triplet in predicted_triplets else (
                "fn" if triplet in truth_triplets else "fp")
            counts[outcome] += 1
            per_predicate[triplet[1]][outcome] += 1

        tiers = {r["object_id"]: r["importance"] for r in rows["objects"]}
        unlabelled += sum(tier is None for tier in tiers.values())
        for pred_id, truth_id in matching.items():
            tier = truth[truth_id]["importance"].get(task_name)
            if tier is None:
                raise SemcomError(f"the synthcity truth has no tiers for task {task_name!r}",
                                  hint=f"score one of: {', '.join(sorted(truth[truth_id]['importance']))}")
            y_true.append(int(tier))
            y_pred.append(int(tiers[pred_id] or 0))

        mask_rows = [r for r in rows["task_masks"] if r["task"] == task_name]
        if not mask_rows:
            raise SemcomError(f"label set has no task mask for image {image_id} and task {task_name}",
                              hint="re-run annotate for this task")
        predicted_mask = decode_mask(mask_rows[-1]["mask"])
        expected = _truth_mask(sample, instances, truth, task_spec)
        if predicted_mask.shape != expected.shape:
            raise SemcomError(f"{image_id}: task mask is {predicted_mask.shape}, the image {expected.shape}")
        inter = int((predicted_mask & expected).sum())
        union = int((predicted_mask | expected).sum())
        inter_sum += inter
        union_sum += union
        if union:
            per_image_iou.append(inter / union)

    if unlabelled:
        log.warning("%s has %d unlabelled object(s), scored as tier 0: re-run its annotate command to label them",
                    labelset, unlabelled)
    precision = _ratio(counts["tp"], counts["tp"] + counts["fp"])
    recall = _ratio(counts["tp"], counts["tp"] + counts["fn"])
    return {
        "task": task_name,
        "images": len(images),
        "matched_objects": counts["matched"],
        "unlabelled_objects": unlabelled,
        "unmatched_truth": counts["unmatched_truth"],
        "unmatched_predicted": counts["unmatched_predicted"],
        "relation_precision": precision,
        "relation_recall": recall,
        "relation_f1": _ratio(2 * precision * recall, precision + recall),
        "relation_counts": {p: dict(c) for p, c in sorted(per_predicate.items())},
        "tier_kappa": quadratic_kappa(y_true, y_pred),
        "tier_accuracy": _ratio(sum(a == b for a, b in zip(y_true, y_pred, strict=True)), len(y_true)),
        "tier_confusion": confusion_matrix(y_true, y_pred, labels=TIERS).tolist() if y_true else [[0] * 4 for _ in TIERS],
        "mask_iou": _ratio(inter_sum, union_sum) if union_sum else 1.0,  # both empty everywhere: they agree
        "mask_iou_mean": float(np.mean(per_image_iou)) if per_image_iou else 1.0,
    }


def _truth_mask(sample: Any, instances: list[Any], truth: dict[int, dict[str, Any]], task: Task) -> np.ndarray:
    """Eq. (5-7) from the truth: the task's classes in the gtFine map inside the boxes of its critical instances."""
    objects = [Detection(inst.instance_id, inst.class_name, inst.bbox, inst.mask) for inst in instances]
    scene = Scene(sample.image_id, sample.image, objects, sample.semantic)
    critical = [
        Triplet(inst.instance_id, "task-critical", None, "truth")
        for inst in instances if truth[inst.instance_id]["task_critical"].get(task.name, False)
    ]
    return task_mask(scene, critical, [True] * len(critical), task)
