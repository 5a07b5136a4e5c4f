"""synthcity: a seeded procedural street-scene generator that writes a small dataset in the Cityscapes layout.

Layout under ``out`` (``image_id = {city}_000000_{index:06d}``)::

    leftImg8bit/{split}/{city}/{image_id}_leftImg8bit.png         RGB
    gtFine/{split}/{city}/{image_id}_gtFine_labelIds.png          L, Cityscapes label ids
    gtFine/{split}/{city}/{image_id}_gtFine_instanceIds.png       16-bit, label_id*1000+k for instances
    gtFine/{split}/{city}/{image_id}_gtFine_color.png             RGBA label colours
    gtFine/{split}/{city}/{image_id}_gtFine_polygons.json         the polygons, back to front
    synthcity/{split}/{city}/{image_id}_truth.json                truth sidecar (see :mod:`.truth`)

Encodings follow cityscapesscripts exactly: labelIds and instanceIds are what ``json2labelImg`` and
``json2instanceImg`` (encoding ``ids``) produce from the polygons file. ``k`` counts the polygons of a class in
drawing order from 0, occluded ones included; crowd polygons (``persongroup``, ``cargroup``) carry the plain label id;
the crosswalk is ``road`` in the label maps and its region is in the sidecar's ``stuff_regions.crosswalk``.

Scene model: a pinhole camera over a flat ground plane (:mod:`.geometry`), right-hand traffic. A street of an ego
lane, one or two oncoming lanes, sometimes an adjacent same-direction lane, a kerb parking lane or a parking strip,
sidewalks, terrain strips, building and hedge facades (:mod:`.street`); cars, trucks and buses, pedestrians, cyclists,
poles with lamps, lights and signs, trees and far crowds at real-world sizes, drawn far to near (:mod:`.objects`).

Sidecar ``objects`` lists exactly the instances visible in instanceIds, with ``bbox`` the half-open box of the visible
mask (``x0 <= x < x1``, ``y0 <= y < y1``) and ``pixel_count`` its area. Truth rules:

Relations (predicates from ``schemas/predicates.yaml``; objects are stuff class names or instance ids)
    * driving vehicle: ``driving on road`` + ``in ego lane road`` | ``in adjacent lane road`` | ``oncoming road``
    * parked vehicle: ``parked on road`` (kerb lane) | ``parked on parking`` (strip) | ``parked on sidewalk``
    * pedestrian: ``walking on`` | ``standing on`` ``sidewalk``; on the crosswalk ``walking on crosswalk`` +
      ``crossing road``; jaywalking ``walking on road`` + ``crossing road``, or ``standing on road``. The posture is
      only claimed where it can be seen: a pedestrian (off the crosswalk) whose lower legs (the lowest 30 % of its
      height) are cut by the border, covered by anything drawn later, or under 8 px tall is just ``on`` its surface
      (``crossing road`` kept)
    * rider: ``riding <bicycle instance_id>`` + ``on road``; its bicycle: ``on road``

Importance tiers (SA-OOSC section II: 3 high, 2 medium, 1 low), distances from the constants in :mod:`.truth`
    * vehicle-following: ego-lane vehicle 3 if z < 30 m else 2; adjacent-lane vehicle 2 if z < 30 m else 1; oncoming
      vehicle 2 at any distance (SA-OOSC Fig. 2: "the oncoming vehicle in the opposite lane at a distance is assigned
      'medium importance'"); parked vehicle 1; person or rider on road or crosswalk 3 if z < 30 m else 2; person on
      the sidewalk 1
    * pedestrian-collision-warning: person or rider on road or crosswalk 3 if z < 30 m else 2; person on the
      sidewalk 1; vehicles 1
    * a bicycle takes its rider's tier in both tasks

``task_critical[task]`` applies InsCom's TOIF: any relation with a class-named object for which
``load_task(task).is_critical(class_name, predicate, object)`` holds.

The names below are imported from their submodules on first use (PEP 562), so that registering the adapter (which
every start of the CLI does) does not load the generator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from semcom_bench.lazy import lazy_names

if TYPE_CHECKING:
    from semcom_bench.datasets.synthcity.render import RenderedScene, render_scene
    from semcom_bench.datasets.synthcity.truth import GENERATOR_VERSION, read_truth
    from semcom_bench.datasets.synthcity.writer import SynthReport, encode_scene, generate, scene_paths, truth_path

_SOURCES = {
    "render": ("RenderedScene", "render_scene"),
    "truth": ("GENERATOR_VERSION", "read_truth"),
    "writer": ("SynthReport", "encode_scene", "generate", "scene_paths", "truth_path"),
}

__all__ = [
    "GENERATOR_VERSION",
    "RenderedScene",
    "SynthReport",
    "encode_scene",
    "generate",
    "read_truth",
    "render_scene",
    "scene_paths",
    "truth_path",
]


__getattr__, __dir__ = lazy_names(__name__, _SOURCES, globals())
