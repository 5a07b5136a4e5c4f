"""Reference checkpoints, trained by the project and shipped with it, the way CompressAI ships its zoo.

``--checkpoint zoo:NAME`` works wherever a checkpoint path does (:func:`semcom_bench.benchmark.train.checkpoint_file`);
``semcom-bench zoo list`` prints the entries, ``zoo train`` (``make zoo``) retrains them, ``zoo check`` re-measures them.
"""

from semcom_bench.zoo.catalog import ZOO_DIR, Recipe, is_zoo_ref, load_recipes, manifests, read_manifest, resolve

__all__ = ["ZOO_DIR", "Recipe", "is_zoo_ref", "load_recipes", "manifests", "read_manifest", "resolve"]
