"""The Label Studio labelling config of a label set: what a reviewer sees and may change.

Generated from the label set (:func:`labeling_config`):

* the image;
* a rectangle per object (``objects``), labelled with its class (the label set's classes), and the object's mask
  as a brush region (``masks``) where the label set has one;
* a per-region importance choice (``importance``, :data:`IMPORTANCE_CHOICES`, tiers 3..0), set on the rectangle;
* relations between regions with the label set's predicates: the triplets whose object is an instance;
* a per-region multiple choice of ``predicate stuff`` pairs (``stuff``): the triplets whose object is a stuff class
  (road, sidewalk...), which has no region to draw a relation to;
* image-level flags for labels that are wrong or objects that are missing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from semcom_bench.schemas import LabelSet
from semcom_bench.tasks import Task

IMPORTANCE_CHOICES = {3: "high", 2: "medium", 1: "low", 0: "not relevant"}
"""Importance tier -> the reviewer's choice."""
IMAGE_FLAGS = ("labels wrong", "objects missing")


@dataclass(frozen=True)
class Vocabulary:
    """What a reviewer may choose from: object classes, predicates between instances, and (predicate, stuff) pairs."""

    classes: list[str]
    predicates: list[str]
    stuff: list[tuple[str, str]]

    @staticmethod
    def stuff_choice(predicate: str, stuff: str) -> str:
        """The choice a reviewer ticks for ``<subject, predicate, stuff>``."""
        return f"{predicate} {stuff}"

    def stuff_pairs(self) -> dict[str, tuple[str, str]]:
        """Choice text -> (predicate, stuff class)."""
        return {self.stuff_choice(p, s): (p, s) for p, s in self.stuff}


def vocabulary(labelset: LabelSet, task: Task | None = None) -> Vocabulary:
    """The label set's object classes, instance predicates and (predicate, stuff) pairs, sorted; with ``task``, its
    critical relations are offered too (a reviewer may add a critical triplet the labeller missed)."""
    classes = sorted({row["class_name"] for row in labelset.read("objects").to_pylist()})
    triplets = labelset.read("triplets").to_pylist() if labelset.has("triplets") else []
    predicates = {t["predicate"] for t in triplets if t["object_id"] is not None}
    stuff = {(t["predicate"], t["object_class"]) for t in triplets if t["object_id"] is None}
    for predicate, obj in task.critical_relations if task else ():
        if obj in classes:
            predicates.add(predicate)
        else:
            stuff.add((predicate, obj))
    return Vocabulary(classes, sorted(predicates), sorted(stuff))


def labeling_config(labelset: LabelSet, task: Task | None = None) -> str:
    """The ``<View>`` XML of the module docstring for ``labelset`` (and ``task``'s relations, see
    :func:`vocabulary`)."""
    words = vocabulary(labelset, task)
    view = ET.Element("View")
    ET.SubElement(view, "Image", name="image", value="$image", zoom="true")
    for tag, name in (("RectangleLabels", "objects"), ("BrushLabels", "masks")):
        regions = ET.SubElement(view, tag, name=name, toName="image")
        for label in words.classes:
            ET.SubElement(regions, "Label", value=label)
    importance = ET.SubElement(view, "Choices", name="importance", toName="image", perRegion="true",
                               choice="single")
    for tier in sorted(IMPORTANCE_CHOICES, reverse=True):
        ET.SubElement(importance, "Choice", value=IMPORTANCE_CHOICES[tier])
    if words.stuff:
        stuff = ET.SubElement(view, "Choices", name="stuff", toName="image", perRegion="true", choice="multiple")
        for choice in words.stuff_pairs():
            ET.SubElement(stuff, "Choice", value=choice)
    if words.predicates:
        relations = ET.SubElement(view, "Relations")
        for predicate in words.predicates:
            ET.SubElement(relations, "Relation", value=predicate)
    flags = ET.SubElement(view, "Choices", name="image_flags", toName="image", choice="multiple")
    for flag in IMAGE_FLAGS:
        ET.SubElement(flags, "Choice", value=flag)
    return ET.tostring(view, encoding="unicode")
