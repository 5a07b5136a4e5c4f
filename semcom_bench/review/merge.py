"""``semcom-bench review merge``: a verified label set in which the reviewers' decisions override the labeller's.

For every image, the latest round that reviewed it decides, and in that round each annotator's latest annotation.
A :class:`Policy` turns those annotations into one decision per item:

* ``majority``: an object is removed, an added object (boxes matched across annotators by IoU >= 0.5 and class)
  or a new triplet kept, and a proposed triplet rejected, when more than half of the annotators say so. Class and
  tier are the most voted; on a tie the labeller's value stands if it is among the tied, otherwise the lower median
  of the votes. Boxes are the median of the annotators' boxes, masks the pixel-wise majority of their masks;
* ``latest``: the image's most recently saved annotation decides everything;
* ``annotator=NAME``: NAME's annotation decides; images NAME did not review keep the labeller's labels.

Patch tiers, TOIF flags and task masks are recomputed from the verified objects and triplets with the annotate
stage's own functions (the task mask reads the dataset's semantic map, as at annotation time). Each changed row
names its provenance (``importance_source`` / ``source`` ``review r<R> <policy>: <annotators>``) and
``review.json`` lists who decided each image. The result is written to a new folder; the source is untouched.
"""

from __future__ import annotations

import shutil
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semcom_bench.annotate.base import Detection, Scene, Triplet
from semcom_bench.annotate.patches import patch_tiers
from semcom_bench.annotate.pipeline import AnnotateConfig, open_adapter
from semcom_bench.annotate.score import box_iou
from semcom_bench.annotate.toif import critical_flags, task_mask
from semcom_bench.errors import SemcomError
from semcom_bench.hashing import sha256_file
from semcom_bench.review.annotations import Annotation, latest_annotations
from semcom_bench.review.projects import labelset_task, rows_by_image
from semcom_bench.review.regions import IOU_MATCH, triplet_identity
from semcom_bench.schemas import LabelSet, decode_mask, encode_mask, write_json
from semcom_bench.schemas.tables import ADDED_ID_BASE



@dataclass(frozen=True)
class Policy:
    """How several annotations of one image become one decision (module docstring)."""

    kind: str
    annotator: str | None = None

    @classmethod
    def parse(cls, text: str) -> Policy:
        """``majority``, ``latest`` or ``annotator=NAME``."""
        if text in ("majority", "latest"):
            return cls(text)
        if text.startswith("annotator=") and text[len("annotator="):]:
            return cls("annotator", text[len("annotator="):])
        raise SemcomError(f"unknown merge policy {text!r}", hint="use majority, latest or annotator=NAME")

    def __str__(self) -> str:
        return f"annotator={self.annotator}" if self.kind == "annotator" else self.kind

    def choose(self, annotations: list[Annotation]) -> list[Annotation]:
        """The annotations (one per annotator) that decide under this policy."""
        if self.kind == "latest":
            return [max(annotations, key=lambda a: (a.updated_at, a.annotation_id))]
        if self.kind == "annotator":
            return [a for a in annotations if a.annotator == self.annotator]
        return annotations


@dataclass
class MergeReport:
    """What a merge did: the new label set, images decided by review, and the changes it made."""

    out: Path
    images_reviewed: int
    tiers_changed: int
    objects_removed: int
    objects_added: int
    triplets_rejected: int
    triplets_added: int


def _vote(values: list[Any], model: Any) -> Any:
    """The most voted value; a tie keeps ``model`` if tied, else the lower median (ordinal tiers) or the smallest."""
    if not values:
        return model
    counts = Counter(values).most_common()
    tied = sorted(v for v, c in counts if c == counts[0][1])
    if len(tied) == 1:
        return tied[0]
    if model in tied:
        return model
    return statistics.median_low(values) if all(isinstance(v, int) for v in values) else tied[0]


def _mask(rows: list[dict[str, Any]], fallback: Any) -> Any:
    """The pixel-wise majority of the masks the rows give, when more than half of them give one."""
    masks = [decode_mask(r["mask"]) for r in rows if r["mask"] is not None]
    if len(masks) * 2 <= len(rows):
        return fallback
    return encode_mask(np.sum(masks, axis=0) * 2 > len(masks))


def _annotations(rows: list[dict[str, Any]]) -> dict[str, tuple[int, list[Annotation]]]:
    """Image -> (the latest round reviewing it, each annotator's latest annotation there, by annotator)."""
    chosen: dict[str, tuple[int, list[Annotation]]] = {}
    latest = latest_annotations(rows)
    for round_ in sorted(latest):  # a later round replaces an earlier one
        for image_id, by_annotator in latest[round_].items():
            chosen[image_id] = (round_, sorted(by_annotator.values(), key=lambda a: a.annotator))
    return chosen


def _clusters(votes: list[Annotation]) -> list[list[dict[str, Any]]]:
    """Added objects of several annotators grouped: same class and IoU >= 0.5 with the group's first box, at most one
    object per annotator in a group."""
    groups: list[list[dict[str, Any]]] = []
    for vote in votes:
        for row in sorted((r for r in vote.objects.values() if r["status"] == "added"),
                          key=lambda r: r["object_id"]):
            for group in groups:
                first = group[0]
                if (first["class_name"] == row["class_name"] and row["annotator"] not in {g["annotator"] for g in group}
                        and box_iou(np.array([first["bbox"]]), np.array([row["bbox"]]))[0, 0] >= IOU_MATCH):
                    group.append(row)
                    break
            else:
                groups.append([row])
    return groups


def decide_image(image_id: str, objects: list[dict[str, Any]], triplets: list[dict[str, Any]],
                 votes: list[Annotation], provenance: str, counts: Counter[str],
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The verified objects and triplets (rows of ``objects`` and ``triplets``, before TOIF) of one image; ``counts``
    gathers what changed."""
    n = len(votes)
    verified: list[dict[str, Any]] = []
    for obj in objects:
        rows = [v.objects.get(obj["object_id"]) for v in votes]
        rows = [r for r in rows if r is not None]
        keepers = [r for r in rows if r["status"] == "kept"]
        if (len(rows) - len(keepers)) * 2 > n:
            counts["objects_removed"] += 1
            continue
        tier = _vote([r["importance"] for r in keepers if r["importance"] is not None], obj["importance"])
        counts["tiers_changed"] += tier != obj["importance"]
        box = np.median([r["bbox"] for r in keepers], axis=0).tolist() if keepers else obj["bbox"]
        verified.append({**obj, "class_name": _vote([r["class_name"] for r in keepers], obj["class_name"]),
                         "bbox": box, "mask": _mask(keepers, obj["mask"]) if keepers else obj["mask"],
                         "importance": tier, "importance_source": provenance,
                         "rationale": obj["rationale"] if tier == obj["importance"] else f"set by {provenance}"})
    next_id = max([o["object_id"] for o in objects if o["object_id"] < ADDED_ID_BASE], default=0) + 1
    renamed: dict[tuple[int, int], int] = {}  # (annotation, reviewer-added id) -> the merged object's id
    for group in _clusters(votes):
        if len(group) * 2 <= n:
            continue
        for row in group:
            renamed[row["annotation_id"], row["object_id"]] = next_id
        tiers = [r["importance"] for r in group if r["importance"] is not None]
        verified.append({"image_id": image_id, "object_id": next_id, "class_name": group[0]["class_name"],
                         "bbox": np.median([r["bbox"] for r in group], axis=0).tolist(), "score": None,
                         "mask": _mask(group, None), "source": provenance,
                         "importance": _vote(tiers, None) if tiers else None,
                         "importance_source": provenance if tiers else None, "rationale": f"added by {provenance}"})
        counts["objects_added"] += 1
        next_id += 1
    alive = {o["object_id"]: o for o in verified}

    ballots: list[tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]] = []  # per vote: (rejected, chosen)
    for vote in votes:
        rejected, chosen = set(), set()
        for d in vote.image["triplet_decisions"]:
            s, o = d["subject_id"], d["object_id"]
            s = renamed.get((vote.annotation_id, s), s)
            o = renamed.get((vote.annotation_id, o), o) if o is not None else None
            key = triplet_identity((s, d["predicate"], o, d["object_class"]))
            (rejected if d["decision"] == "reject" else chosen).add(key)
        ballots.append((rejected, chosen))
    verified_triplets: list[dict[str, Any]] = []
    proposed = set()
    for t in triplets:
        key = triplet_identity((t["subject_id"], t["predicate"], t["object_id"], t["object_class"]))
        proposed.add(key)
        if sum(key in rejected for rejected, _ in ballots) * 2 > n:
            counts["triplets_rejected"] += 1
            continue
        if t["subject_id"] in alive and (t["object_id"] is None or t["object_id"] in alive):
            verified_triplets.append({**t, "source": f"{t['source']}; verified by {provenance}"})
    new = Counter(key for _, chosen in ballots for key in chosen if key not in proposed)
    for key, votes_for in sorted(new.items(), key=repr):
        subject, predicate, obj = key[0], key[1], key[2]
        if votes_for * 2 <= n or subject not in alive or (obj is not None and obj not in alive):
            continue
        cls = alive[obj]["class_name"] if obj is not None else key[3]
        verified_triplets.append({"image_id": image_id, "subject_id": subject, "predicate": predicate, "object_id": obj,
                                  "object_class": cls, "score": None, "source": provenance, "task": None,
                                  "task_critical": None})
        counts["triplets_added"] += 1
    return verified, verified_triplets


def merge(labelset_path: str | Path, out: str | Path, policy: str | Policy = "majority") -> MergeReport:
    """Write the verified label set of ``labelset_path`` to the new folder ``out`` (module docstring)."""
    source = LabelSet.open(labelset_path)
    rule = policy if isinstance(policy, Policy) else Policy.parse(policy)
    out = Path(out)
    if out.resolve() == source.path.resolve() or (out.exists() and any(out.iterdir())):
        raise SemcomError(f"{out} is not a new folder", hint="merge into a folder that does not exist yet; the "
                          "source label set is never changed")
    if not source.has("reviews") or source.read("reviews").num_rows == 0:
        raise SemcomError(f"{source.path} has no reviews", hint="pull them first: `semcom-bench review pull`")
    task = labelset_task(source, None)
    config = source.manifest["config"]
    reviewed = _annotations(source.read("reviews").to_pylist())
    images = {r["image_id"]: r for r in source.read("images").to_pylist()}
    objects, triplets = rows_by_image(source, "objects"), rows_by_image(source, "triplets")
    patches = {r["image_id"]: r for r in source.read("patches").to_pylist()} if source.has("patches") else {}
    masks = {r["image_id"]: r for r in source.read("task_masks").to_pylist()} if source.has("task_masks") else {}
    adapter = open_adapter(AnnotateConfig(**{**config, "size": tuple(config["size"]) if config.get("size") else None}))
    counts: Counter[str] = Counter()
    decided: dict[str, dict[str, Any]] = {}
    for image_id, (round_, annotations) in sorted(reviewed.items()):
        votes = rule.choose(annotations)
        if image_id not in images or not votes:
            continue
        names = ",".join(v.annotator for v in votes)
        provenance = f"review r{round_} {rule}: {names}"
        image = images[image_id]
        if sha256_file(Path(image["path"])) != image["sha256"]:
            raise SemcomError(f"image {image_id} ({image['path']}) changed since it was labelled",
                              hint="re-annotate the dataset before merging its reviews")
        new_objects, new_triplets = decide_image(image_id, objects[image_id], triplets[image_id], votes,
                                                  provenance, counts)
        sample = adapter.load(image_id)
        scene = Scene(image_id, sample.image, [
            Detection(o["object_id"], o["class_name"], tuple(o["bbox"]),
                      decode_mask(o["mask"]) if o["mask"] is not None else None, o["score"], o["source"])
            for o in new_objects], sample.semantic)
        chain = [Triplet(t["subject_id"], t["predicate"], t["object_id"], t["object_class"]) for t in new_triplets]
        flags = critical_flags(scene, chain, task)
        for row, critical in zip(new_triplets, flags, strict=True):
            row.update(task=task.name, task_critical=critical)
        size = patches[image_id]["patch_size"] if image_id in patches else int(config.get("patch_size", 16))
        grid = patch_tiers(scene.objects, {o["object_id"]: o["importance"] for o in new_objects
                                           if o["importance"] is not None}, scene.height, scene.width, size)
        patches[image_id] = {"image_id": image_id, "patch_size": size, "grid_h": grid.shape[0],
                             "grid_w": grid.shape[1], "importance": grid.ravel().tolist(), "source": provenance}
        mask = task_mask(scene, chain, flags, task)
        masks[image_id] = {"image_id": image_id, "task": task.name, "mask": encode_mask(mask),
                           "pixel_fraction": float(mask.mean())}
        objects[image_id], triplets[image_id] = new_objects, new_triplets
        decided[image_id] = {"round": round_, "policy": str(rule), "annotators": [v.annotator for v in votes],
                             "annotations": [v.annotation_id for v in votes],
                             "flags": sorted({f for v in votes for f in v.image["flags"]})}
    partial = out.parent / f".{out.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    merged = LabelSet.create(partial, {**{k: v for k, v in source.manifest.items()
                                          if k not in ("schema_version", "package_version", "created_at")},
                                       "review": {"source": str(source.path.resolve()),
                                                  "source_hash": source.content_hash(), "policy": str(rule),
                                                  "images_reviewed": len(decided)}})
    merged.write("images", source.read("images"))
    merged.write("objects", [r for rows in objects.values() for r in rows])
    merged.write("triplets", [r for rows in triplets.values() for r in rows])
    merged.write("patches", list(patches.values()))
    merged.write("task_masks", list(masks.values()))
    for table in ("llm_calls", "reviews"):
        if source.has(table):
            merged.write(table, source.read(table))
    write_json(decided, partial / "review.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.rmdir()  # empty, checked above
    partial.rename(out)
    return MergeReport(out, len(decided), counts["tiers_changed"], counts["objects_removed"], counts["objects_added"],
                       counts["triplets_rejected"], counts["triplets_added"])
