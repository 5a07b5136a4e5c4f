"""``semcom-bench review pull``: the reviewers' annotations of a round, as rows of the label set's ``reviews`` table.

Each annotation becomes one image row (its triplet decisions, flags, lead time and save time) and one row per
region: ``kept`` for a proposed object whose rectangle is still there (with the reviewer's class, box, tier and
mask), ``removed`` for one the reviewer deleted, ``added`` for a rectangle the reviewer drew. Proposed triplets are
``accept`` ed when the reviewer left them (the relation between the two rectangles, or the stuff choice of the
subject) and ``reject`` ed otherwise; relations and stuff choices the labeller did not propose are ``new``.

A pull replaces the round's rows of every image the export holds, so pulling again adds nothing twice; rows of an
image whose task was deleted in Label Studio are kept (and reported). Nothing is written when the server cannot be
reached or the export holds no annotation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


from semcom_bench.errors import SemcomError
from semcom_bench.review.config import Vocabulary, vocabulary
from semcom_bench.review.projects import find_project, labelset_task, project_title, rows_by_image
from semcom_bench.review.regions import (
    REGION_PREFIX,
    ReadAnnotation,
    TripletKey,
    read_annotation,
    triplet_identity,
)
from semcom_bench.schemas import LabelSet, encode_mask
from semcom_bench.schemas.tables import ADDED_ID_BASE

log = logging.getLogger(__name__)


@dataclass
class PullReport:
    """What a pull did: annotations and rows written, and what it kept or could not read (one line each)."""

    project_id: int
    annotations: int
    images: int
    rows: int
    added_objects: int
    warnings: list[str] = field(default_factory=list)


def _user_names(client: Any) -> dict[int, str]:
    return {u.id: u.email or u.username or f"user {u.id}" for u in client.users.list()}


def _when(text: str | None) -> datetime:
    return datetime.fromisoformat((text or "1970-01-01T00:00:00Z").replace("Z", "+00:00"))


def annotation_rows(round_: int, annotator: str, annotation: dict[str, Any], image: dict[str, Any],
                    objects: list[dict[str, Any]], triplets: list[dict[str, Any]], words: Vocabulary,
                    ) -> tuple[list[dict[str, Any]], list[str]]:
    """The ``reviews`` rows of one annotation of ``image`` and what could not be read in it."""
    read: ReadAnnotation = read_annotation(annotation.get("result") or [], image["width"], image["height"], words)
    problems = list(read.problems)
    known = {o["object_id"]: o for o in objects}
    common = {"round": round_, "annotator": annotator, "image_id": image["image_id"],
              "annotation_id": int(annotation["id"]), "lead_time_s": annotation.get("lead_time"),
              "updated_at": _when(annotation.get("updated_at") or annotation.get("created_at"))}
    ids: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    added = 0
    for rid in sorted(read.regions):
        region = read.regions[rid]
        number = rid[len(REGION_PREFIX):]
        if rid.startswith(REGION_PREFIX) and number.lstrip("-").isdigit() and int(number) in known:
            ids[rid], status = int(number), "kept"
        else:
            if rid.startswith(REGION_PREFIX):
                problems.append(f"region {rid} names object {number}, which image {image['image_id']} no longer has; "
                                "recorded as an object the reviewer added")
            ids[rid], status = ADDED_ID_BASE + int(annotation["id"]) * 1000 + added, "added"
            added += 1
        rows.append({**common, "object_id": ids[rid], "status": status, "class_name": region.class_name,
                     "bbox": list(region.bbox), "mask": encode_mask(region.mask) if region.mask is not None else None,
                     "importance": region.importance, "triplet_decisions": [], "flags": []})
    kept = set(ids.values())
    for oid in sorted(set(known) - kept):
        rows.append({**common, "object_id": oid, "status": "removed", "class_name": None, "bbox": None, "mask": None,
                     "importance": None, "triplet_decisions": [], "flags": []})
    chosen: set[TripletKey] = set()
    for rid, region in read.regions.items():
        chosen |= {(ids[rid], predicate, None, stuff) for predicate, stuff in region.stuff}
    classes = {ids[rid]: region.class_name for rid, region in read.regions.items()}
    for source, predicate, target in read.relations:
        if source in ids and target in ids:
            chosen.add((ids[source], predicate, ids[target], classes[ids[target]]))
        else:
            problems.append(f"relation {source} -> {target} ({predicate}) joins a region that is gone; ignored")
    proposed = {(t["subject_id"], t["predicate"], t["object_id"], t["object_class"]) for t in triplets}

    left = {triplet_identity(key) for key in chosen}
    decisions = [(key, "accept" if triplet_identity(key) in left else "reject")
                 for key in sorted(proposed, key=repr)]
    taken = {triplet_identity(key) for key in proposed}
    decisions += [(key, "new") for key in sorted(chosen, key=repr) if triplet_identity(key) not in taken]
    rows.append({**common, "object_id": None, "status": None, "class_name": None, "bbox": None, "mask": None,
                 "importance": None, "flags": read.flags,
                 "triplet_decisions": [{"subject_id": s, "predicate": p, "object_id": o, "object_class": c,
                                        "decision": d} for (s, p, o, c), d in decisions]})
    return rows, problems


def pull(labelset_path: str | Path, client: Any, task: str | None = None, round_: int = 1) -> PullReport:
    """Export the round's project and write its annotations into the label set's ``reviews`` table."""
    labelset = LabelSet.open(labelset_path)
    spec = labelset_task(labelset, task)
    title = project_title(labelset, spec, round_)
    project = find_project(client, title)
    if project is None:
        raise SemcomError(f"Label Studio has no project {title!r} (round {round_} of {labelset.path}, task "
                          f"{spec.name})", hint=f"push it first: `semcom-bench review push {labelset.path} --round "
                          f"{round_}`")
    exported = client.projects.exports.as_json(project.id)
    names = _user_names(client)
    images = {r["image_id"]: r for r in labelset.read("images").to_pylist()}
    objects, triplets = rows_by_image(labelset, "objects"), rows_by_image(labelset, "triplets")
    words = vocabulary(labelset, spec)
    warnings: list[str] = []
    rows: list[dict[str, Any]] = []
    exported_images: set[str] = set()
    count = 0
    for task_ in exported:
        image_id = (task_.get("data") or {}).get("image_id")
        if image_id not in images:
            warnings.append(f"task {task_.get('id')} shows image {image_id!r}, which {labelset.path} does not hold; "
                            "skipped")
            continue
        exported_images.add(image_id)
        for annotation in task_.get("annotations") or []:
            if annotation.get("was_cancelled"):
                continue
            annotator = names.get(annotation.get("completed_by"), f"user {annotation.get('completed_by')}")
            made, problems = annotation_rows(round_, annotator, annotation, images[image_id], objects[image_id],
                                             triplets[image_id], words)
            rows += made
            warnings += [f"{image_id}, annotation {annotation['id']} ({annotator}): {p}" for p in problems]
            count += 1
    if count == 0:
        raise SemcomError(f"project {title!r} holds no annotation yet ({len(exported)} task(s)); nothing written",
                          hint="review the tasks in Label Studio, then pull again")
    previous = labelset.read("reviews").to_pylist() if labelset.has("reviews") else []
    gone = sorted({r["image_id"] for r in previous if r["round"] == round_} - exported_images)
    if gone:
        warnings.append(f"{len(gone)} image(s) reviewed in an earlier pull have no task any more (deleted in Label "
                        f"Studio?), e.g. {gone[0]}; their reviews are kept; push again to review them anew")
    kept = [r for r in previous if not (r["round"] == round_ and r["image_id"] in exported_images)]
    labelset.write("reviews", kept + rows)
    for line in warnings:
        log.warning("%s", line)
    return PullReport(project.id, count, len({r["image_id"] for r in rows}), len(rows),
                      sum(r["status"] == "added" for r in rows), warnings)
