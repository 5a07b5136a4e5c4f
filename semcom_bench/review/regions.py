"""Label Studio's result format, both ways: a label set's objects and triplets as the regions of one prediction
(:func:`prediction`), and one reviewer's annotation back as objects and triplets (:func:`read_annotation`).

Region ids tie the two directions together: the rectangle of object ``n`` is ``obj-n`` and its mask ``mask-n``;
a region with another id is one the reviewer drew. Boxes travel as percentages of the image size, masks as Label
Studio's brush RLE (``label_studio_sdk.converter.brush``), object-stuff triplets as the ``stuff`` choices of their
subject's rectangle and object-object triplets as relations between two rectangles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from semcom_bench.review.config import IMAGE_FLAGS, IMPORTANCE_CHOICES, Vocabulary
from semcom_bench.schemas import decode_mask

REGION_PREFIX = "obj-"
MASK_PREFIX = "mask-"
TIER_OF_CHOICE = {choice: tier for tier, choice in IMPORTANCE_CHOICES.items()}

TripletKey = tuple[int, str, int | None, str]
"""``(subject_id, predicate, object_id, object_class)``: a triplet as pull, merge and agreement compare it
(``object_id`` None for a stuff object)."""
IOU_MATCH = 0.5
"""Box IoU from which two reviewers' added boxes of one class are one object (merge and agreement)."""


def triplet_identity(key: TripletKey) -> tuple[Any, ...]:
    """What makes two triplets one: an instance object by its id (whatever class a reviewer gave it), a stuff object
    by its class."""
    return key[:3] if key[2] is not None else key


def prediction(image: Mapping[str, Any], objects: list[Mapping[str, Any]], triplets: list[Mapping[str, Any]],
               words: Vocabulary) -> list[dict[str, Any]]:
    """The ``result`` list of one image: per object its rectangle, its mask, its importance and stuff choices;
    a relation per object-object triplet."""
    from label_studio_sdk.converter.brush import mask2rle

    width, height = image["width"], image["height"]
    stuff_of: dict[int, list[str]] = {}
    for t in triplets:
        if t["object_id"] is None:
            stuff_of.setdefault(t["subject_id"], []).append(words.stuff_choice(t["predicate"], t["object_class"]))
    result: list[dict[str, Any]] = []
    known = set()
    for obj in objects:
        oid = obj["object_id"]
        known.add(oid)
        common = {"to_name": "image", "original_width": width, "original_height": height, "image_rotation": 0}
        x0, y0, x1, y1 = obj["bbox"]
        box = {"x": 100 * x0 / width, "y": 100 * y0 / height, "width": 100 * (x1 - x0) / width,
               "height": 100 * (y1 - y0) / height, "rotation": 0}
        region = {**common, "id": f"{REGION_PREFIX}{oid}"}
        result.append({**region, "from_name": "objects", "type": "rectanglelabels",
                       "value": {**box, "rectanglelabels": [obj["class_name"]]}})
        if obj["importance"] is not None:
            result.append({**region, "from_name": "importance", "type": "choices",
                           "value": {**box, "choices": [IMPORTANCE_CHOICES[int(obj["importance"])]]}})
        if stuff_of.get(oid):
            result.append({**region, "from_name": "stuff", "type": "choices",
                           "value": {**box, "choices": sorted(stuff_of[oid])}})
        if obj.get("mask") is not None:
            pixels = decode_mask(obj["mask"]).astype(np.uint8) * 255
            result.append({**common, "id": f"{MASK_PREFIX}{oid}", "from_name": "masks", "type": "brushlabels",
                           "value": {"format": "rle", "rle": mask2rle(pixels), "brushlabels": [obj["class_name"]]}})
    for t in triplets:
        if t["object_id"] is not None and t["subject_id"] in known and t["object_id"] in known:
            result.append({"type": "relation", "from_id": f"{REGION_PREFIX}{t['subject_id']}",
                           "to_id": f"{REGION_PREFIX}{t['object_id']}", "direction": "right",
                           "labels": [t["predicate"]]})
    return result


@dataclass
class ReviewedRegion:
    """One rectangle of an annotation: its Label Studio id, class, box in pixels, tier, stuff pairs and mask."""

    region_id: str
    class_name: str
    bbox: tuple[float, float, float, float]
    importance: int | None = None
    stuff: list[tuple[str, str]] = field(default_factory=list)
    mask: np.ndarray | None = None


@dataclass
class ReadAnnotation:
    """An annotation read back: rectangles by region id, relations ``(from id, predicate, to id)``, image flags,
    and what could not be read (one line each)."""

    regions: dict[str, ReviewedRegion]
    relations: list[tuple[str, str, str]]
    flags: list[str]
    problems: list[str]


def read_annotation(result: list[Mapping[str, Any]], width: int, height: int, words: Vocabulary) -> ReadAnnotation:
    """Group a Label Studio ``result`` list by region; brush masks attach to their object's rectangle by id."""
    from label_studio_sdk.converter.brush import decode_rle

    stuff_pairs = words.stuff_pairs()
    regions: dict[str, ReviewedRegion] = {}
    extras: dict[str, list[Mapping[str, Any]]] = {}
    masks: dict[str, np.ndarray] = {}
    relations: list[tuple[str, str, str]] = []
    flags: list[str] = []
    problems: list[str] = []
    for item in result:
        kind, name, value = item.get("type"), item.get("from_name"), item.get("value") or {}
        if kind == "relation":
            labels = item.get("labels") or []
            if not labels:
                problems.append(f"a relation {item.get('from_id')} -> {item.get('to_id')} has no predicate; ignored")
            relations += [(str(item.get("from_id")), str(p), str(item.get("to_id"))) for p in labels]
        elif kind == "rectanglelabels" and name == "objects":
            labels = value.get("rectanglelabels") or []
            if not labels:
                problems.append(f"region {item.get('id')} has no class; ignored")
                continue
            x0, y0 = value["x"] * width / 100, value["y"] * height / 100
            regions[str(item["id"])] = ReviewedRegion(
                str(item["id"]), str(labels[0]),
                (x0, y0, x0 + value["width"] * width / 100, y0 + value["height"] * height / 100))
        elif kind == "brushlabels" and name == "masks":
            if value.get("format") == "rle" and value.get("rle"):
                pixels = decode_rle(value["rle"]).reshape(height, width, 4)[..., 3]
                rid = str(item["id"])
                key = REGION_PREFIX + rid[len(MASK_PREFIX):] if rid.startswith(MASK_PREFIX) else rid
                masks[key] = masks.get(key, np.zeros((height, width), bool)) | (pixels > 0)
        elif kind == "choices" and name == "image_flags":
            flags += [c for c in value.get("choices", []) if c in IMAGE_FLAGS]
        elif kind == "choices" and name in ("importance", "stuff"):
            extras.setdefault(str(item.get("id")), []).append(item)
    for rid, items in extras.items():
        region = regions.get(rid)
        if region is None:
            problems.append(f"choices of region {rid}, which has no rectangle; ignored")
            continue
        for item in items:
            choices = item["value"].get("choices", [])
            if item["from_name"] == "importance" and choices:
                region.importance = TIER_OF_CHOICE.get(choices[0])
            elif item["from_name"] == "stuff":
                region.stuff = sorted(stuff_pairs[c] for c in choices if c in stuff_pairs)
    for rid, mask in masks.items():
        if rid in regions:
            regions[rid].mask = mask
        else:
            problems.append(f"mask {rid} belongs to no rectangle (draw a rectangle for every object); ignored")
    return ReadAnnotation(regions, relations, sorted(set(flags)), problems)
