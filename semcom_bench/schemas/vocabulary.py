"""The predicate vocabulary shared by ground truth, relation predictors and the MLLM prompt."""

from __future__ import annotations

from pathlib import Path

import yaml

PREDICATES: dict[str, dict[str, str]] = yaml.safe_load((Path(__file__).parent / "predicates.yaml").read_text())

# Stuff classes a relation may point at instead of an instance; "crosswalk" is a region of "road" in Cityscapes terms.
STUFF_OBJECTS: tuple[str, ...] = ("road", "sidewalk", "crosswalk", "parking", "rail track", "terrain")
