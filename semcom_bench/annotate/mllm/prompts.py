"""The chat messages sent to the MLLM: instructions, the numbered instance list, the marked image, retry feedback.

Every numbered object is listed as one line ``#<number> <class> box=(x0, y0, x1, y1)`` (:data:`INSTANCE_LINE`
parses it back), in pixels of the image sent. The tier definitions paraphrase SA-OOSC section II: importance follows
the scenario (lane, distance, motion), not the class alone.
"""

from __future__ import annotations

import re
from typing import Any

from semcom_bench.annotate.base import Scene, Triplet
from semcom_bench.annotate.mllm.marks import numbered
from semcom_bench.schemas.answers import predicate_meanings
from semcom_bench.schemas.vocabulary import STUFF_OBJECTS
from semcom_bench.tasks import Task

INSTANCE_LINE = re.compile(r"^#(\d+) (.+) box=\((-?\d+), (-?\d+), (-?\d+), (-?\d+)\)$", re.MULTILINE)
"""One line of the instance list: number, class name and the box corners."""

TIERS: dict[int, str] = {
    3: "high: the task depends on it right now, e.g. the vehicle ahead in the ego lane, a nearby pedestrian "
    "crossing or standing on the road, anyone in the ego vehicle's path",
    2: "medium: relevant but not immediately, e.g. an oncoming vehicle in the opposite lane at a distance, vehicles "
    "in adjacent lanes, people at the kerb who may step onto the road",
    1: "low: present but of little consequence for the task, e.g. vehicles parked at the roadside, pedestrians "
    "walking along the sidewalk, far-away objects",
}
"""SA-OOSC's tiers (3 high, 2 medium, 1 low) with its examples as guidance; 0 (background) is never asked for."""

IMPORTANCE_SYSTEM = (
    "You rate how much each object in a driving-scene image matters for a driving task. A semantic communication "
    "system spends more bits on the objects you rate higher, so judge each object in its scene, not by its class "
    "alone: the same class deserves any tier depending on where the object is, how near it is, how it moves and "
    "which lane it is in.\n\nTiers (the examples are for driving in general; the task below decides):\n"
    + "\n".join(f"{tier} {text}" for tier, text in TIERS.items())
    + "\n\nEvery numbered object gets exactly one tier: 1, 2 or 3. Give each a one-line rationale (no line breaks) "
    "about what you see. Answer with JSON only."
)

RELATIONS_SYSTEM = (
    "You list the relations of a driving-scene image as <subject, predicate, object> triplets among its numbered "
    "objects and between them and stuff regions.\n\nPredicates (use only these):\n"
    + "\n".join(f"- {name}: {meaning}" for name, meaning in predicate_meanings().items())
    + "\n\nThe subject is an object's number. The object is another object's number or one of the stuff regions: "
    + ", ".join(STUFF_OBJECTS)
    + ".\nList every relation you can see; an object may have several or none. Account for every number: each is "
    'the subject of at least one triplet or listed in "unrelated". Answer with JSON only.'
)


def instance_list(scene: Scene) -> str:
    """The numbered objects, one :data:`INSTANCE_LINE` each."""
    return "\n".join(
        f"#{number} {det.class_name} box=({', '.join(str(int(round(v))) for v in det.bbox)})"
        for number, det in numbered(scene)
    )


def importance_messages(
    scene: Scene, triplets: list[Triplet], task: Task, image_url: str, detail: str
) -> list[dict[str, Any]]:
    """The request asking for a tier for every numbered object of ``scene`` under ``task``.

    ``triplets`` (the scene graph found so far) are shown as context where both ends are numbered objects or stuff.
    """
    numbers = {det.object_id: number for number, det in numbered(scene)}
    relations = [
        f"#{numbers[t.subject_id]} {scene.object(t.subject_id).class_name} {t.predicate} "
        + (f"#{numbers[t.object_id]} {t.object_class}" if t.object_id is not None else t.object_class)
        for t in triplets
        if t.subject_id in numbers and (t.object_id is None or t.object_id in numbers)
    ]
    k = len(numbers)
    text = (
        f"Task: {task.name}\n{task.description}\n\n"
        f"The image ({scene.width}x{scene.height} pixels) shows {k} numbered objects; boxes are (x0, y0, x1, y1) "
        f"in pixels:\n{instance_list(scene)}\n\n"
        + ("Relations found so far (may be incomplete):\n" + "\n".join(relations) + "\n\n" if relations else "")
        + 'Answer as {"objects": [{"id": <number>, "rationale": "<one line>", "importance": <1, 2 or 3>}, ...]} '
        f"with every number from 1 to {k} exactly once."
    )
    return _messages(IMPORTANCE_SYSTEM, text, image_url, detail)


def relation_messages(scene: Scene, image_url: str, detail: str) -> list[dict[str, Any]]:
    """The request asking for the triplets of ``scene``."""
    text = (
        f"The image ({scene.width}x{scene.height} pixels) shows {len(scene.objects)} numbered objects; boxes are "
        f"(x0, y0, x1, y1) in pixels:\n{instance_list(scene)}\n\n"
        'Answer as {"triplets": [{"subject": <number>, "predicate": "<predicate>", '
        '"object": <number> or "<stuff region>"}, ...], "unrelated": [<number>, ...]} with every number from 1 to '
        f"{len(scene.objects)} the subject of a triplet or in unrelated."
    )
    return _messages(RELATIONS_SYSTEM, text, image_url, detail)


def retry_message(problems: list[str]) -> dict[str, Any]:
    """The user turn that sends a rejected answer's problems back to the model."""
    listed = "\n".join(f"- {p}" for p in problems)
    return {
        "role": "user",
        "content": f"Your answer is not valid:\n{listed}\nAnswer again with the complete JSON, fixing these problems.",
    }


def message_text(messages: list[dict[str, Any]]) -> str:
    """All text of ``messages`` (image parts left out), for token estimates."""
    parts: list[str] = []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            parts.append(content)
        else:
            parts += [part["text"] for part in content if part["type"] == "text"]
    return "\n".join(parts)


def _messages(system: str, text: str, image_url: str, detail: str) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": system},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": image_url, "detail": detail}},
            ],
        },
    ]
