"""The synthcity adapter: the Cityscapes adapter on a generated tree, plus ground-truth relations from the sidecar."""

from __future__ import annotations

from pathlib import Path

from semcom_bench.datasets.base import DATASETS, Relation, Sample
from semcom_bench.datasets.cityscapes import CityscapesAdapter
from semcom_bench.datasets.synthcity.truth import read_truth
from semcom_bench.errors import AnnotationMissingError, DatasetNotFoundError


@DATASETS.register("synthcity")
class SynthCityAdapter(CityscapesAdapter):
    """The embedded synthetic city (Cityscapes layout) with its true relations; make one with `datasets synth`."""

    name = "synthcity"
    root_hint = "generate one with `semcom-bench datasets synth --out DIR` and pass --root DIR"

    def _resolve_root(self, root: str | Path | None) -> Path:
        if root is None:
            raise DatasetNotFoundError("synthcity needs a root folder", hint=self.root_hint)
        path = Path(root).expanduser()
        if not path.is_dir():
            raise DatasetNotFoundError(f"dataset root {path} does not exist", hint=self.root_hint)
        return path

    def truth_of(self, image_id: str) -> dict:
        """The parsed truth sidecar of ``image_id``."""
        from semcom_bench.datasets.synthcity.writer import truth_path  # not at the top: it loads the generator

        path = truth_path(self.root, self.split, self.path_of(image_id).parent.name, image_id)
        if not path.is_file():
            raise AnnotationMissingError(f"{image_id} has no truth sidecar {path}", hint=self.root_hint)
        return read_truth(path)

    def load(self, image_id: str) -> Sample:
        sample = super().load(image_id)
        # A resize can erase a tiny instance; relations keep only instances that are still there.
        present = {inst.instance_id for inst in sample.instances}
        sample.relations = [
            Relation(obj["instance_id"], rel["predicate"], rel["object"])
            for obj in self.truth_of(image_id)["objects"]
            if obj["instance_id"] in present
            for rel in obj["relations"]
            if isinstance(rel["object"], str) or rel["object"] in present
        ]
        return sample
