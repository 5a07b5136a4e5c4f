"""The Label Studio labelling config of a label set: what a reviewer sees and may change.

Generated from the label set (:func:`labeling_config`): the image; a rectangle per object labelled with its class
(the label set's classes); a per-region importance choice (:data:`IMPORTANCE_CHOICES`, tiers 3..0); relations
between regions with the label set's predicate vocabulary (triplets); and image-level flags for labels that are
wrong or objects that are missing. Object masks are not shown yet: Label Studio's brush format is its own RLE.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from semcom_bench.schemas import LabelSet

IMPORTANCE_CHOICES = {3: "high", 2: "medium", 1: "low", 0: "not relevant"}
"""Importance tier -> the reviewer's choice."""
IMAGE_FLAGS = ("labels wrong", "objects missing")


def vocabulary(labelset: LabelSet) -> tuple[list[str], list[str]]:
    """The label set's object classes and triplet predicates, sorted."""
    classes = sorted({row["class_name"] for row in labelset.read("objects").to_pylist()})
    predicates = sorted({row["predicate"] for row in labelset.read("triplets").to_pylist()}) \
        if labelset.has("triplets") else []
    return classes, predicates


def labeling_config(labelset: LabelSet) -> str:
    """The ``<View>`` XML of the module docstring for ``labelset``."""
    classes, predicates = vocabulary(labelset)
    view = ET.Element("View")
    ET.SubElement(view, "Image", name="image", value="$image", zoom="true")
    regions = ET.SubElement(view, "RectangleLabels", name="objects", toName="image")
    for name in classes:
        ET.SubElement(regions, "Label", value=name)
    importance = ET.SubElement(view, "Choices", name="importance", toName="image", perRegion="true",
                               choice="single")
    for tier in sorted(IMPORTANCE_CHOICES, reverse=True):
        ET.SubElement(importance, "Choice", value=IMPORTANCE_CHOICES[tier])
    if predicates:
        relations = ET.SubElement(view, "Relations")
        for predicate in predicates:
            ET.SubElement(relations, "Relation", value=predicate)
    flags = ET.SubElement(view, "Choices", name="image_flags", toName="image", choice="multiple")
    for flag in IMAGE_FLAGS:
        ET.SubElement(flags, "Choice", value=flag)
    return ET.tostring(view, encoding="unicode")
