"""The reviews table read back as annotations: which annotation of each annotator counts, for merge and agreement."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from semcom_bench.review.regions import TripletKey


@dataclass(frozen=True)
class Annotation:
    """One annotator's annotation of one image in one round: its image row (``object_id`` null) and its object rows
    by object id, as ``review pull`` wrote them."""

    annotator: str
    image: dict[str, Any]
    objects: dict[int, dict[str, Any]]

    @property
    def annotation_id(self) -> int:
        """Label Studio's id of the annotation."""
        return self.image["annotation_id"]

    @property
    def updated_at(self) -> Any:
        """When the annotator last saved it."""
        return self.image["updated_at"]

    def with_status(self, status: str) -> dict[int, dict[str, Any]]:
        """Its object rows of one status (``kept``, ``removed`` or ``added``) by object id."""
        return {oid: row for oid, row in self.objects.items() if row["status"] == status}

    def decided(self, *decisions: str) -> set[TripletKey]:
        """The triplets it gave one of ``decisions`` (``accept``, ``reject``, ``new``)."""
        return {(d["subject_id"], d["predicate"], d["object_id"], d["object_class"])
                for d in self.image["triplet_decisions"] if d["decision"] in decisions}


def latest_annotations(rows: Iterable[dict[str, Any]]) -> dict[int, dict[str, dict[str, Annotation]]]:
    """Round -> image -> annotator -> the annotation that counts: their latest there (``updated_at``, then the
    annotation id). Object rows whose annotation has no image row are left out."""
    grouped: dict[tuple[int, str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row["round"], row["image_id"], row["annotation_id"]].append(row)
    chosen: dict[int, dict[str, dict[str, Annotation]]] = defaultdict(lambda: defaultdict(dict))
    for (round_, image_id, _), items in grouped.items():
        head = next((r for r in items if r["object_id"] is None), None)
        if head is None:
            continue
        annotation = Annotation(head["annotator"], head,
                                {r["object_id"]: r for r in items if r["object_id"] is not None})
        old = chosen[round_][image_id].get(annotation.annotator)
        if old is None or (annotation.updated_at, annotation.annotation_id) > (old.updated_at, old.annotation_id):
            chosen[round_][image_id][annotation.annotator] = annotation
    return chosen
