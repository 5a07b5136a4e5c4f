"""Benchmark suites (``suites.yaml``) and the evaluation of a submission on one.

A suite fixes the label set by content hash (:meth:`semcom_bench.schemas.LabelSet.content_hash`), the channels, SNR
grid, CBR points, side-information rule and channel seed. Every entry is evaluated by the harness
(:func:`semcom_bench.benchmark.evaluate.evaluate`) with the suite's seed, so all entries see the same channel draws.
A suite's results live in one folder with ``suite.json`` naming the suite and its label-set hash; results of another
suite or label set are refused there, never merged. A ``hidden`` suite's images are not shipped: its organiser passes
``--labels``, and only aggregate scores are published.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from semcom_bench.errors import SemcomError
from semcom_bench.hashing import sha256_file
from semcom_bench.leaderboard.manifest import MANIFEST, Manifest

SUITES_FILE = Path(__file__).with_name("suites.yaml")
SUITE_FILE = "suite.json"
RESULTS = "results.parquet"
ENTRIES = "entries"
"""Subfolder of a results folder: one card per evaluated submission (its manifest, identity, scoring version)."""


@dataclass(frozen=True)
class Suite:
    """One suite of ``suites.yaml``."""

    name: str
    description: str
    dataset: str
    synthcity: dict[str, Any] | None
    task: str
    labeler: str
    labelset_hash: str | None
    channels: tuple[str, ...]
    snrs: tuple[float, ...]
    cbrs: tuple[float, ...]
    side_rule: str
    seed: int
    hidden: bool


def load_suites() -> dict[str, Suite]:
    """Every suite of ``suites.yaml`` by name."""
    raw = yaml.safe_load(SUITES_FILE.read_text())
    return {name: Suite(name=name, description=s["description"], dataset=s["dataset"], synthcity=s.get("synthcity"),
                        task=s["task"], labeler=s["labeler"], labelset_hash=s.get("labelset_hash"),
                        channels=tuple(s["channels"]), snrs=tuple(float(x) for x in s["snrs"]),
                        cbrs=tuple(float(x) for x in s["cbrs"]), side_rule=s["side_rule"], seed=int(s["seed"]),
                        hidden=bool(s["hidden"]))
            for name, s in raw.items()}


def get_suite(name: str) -> Suite:
    """The suite ``name``; an unknown one is refused with the list of known ones."""
    suites = load_suites()
    if name not in suites:
        raise SemcomError(f"unknown suite {name!r}", hint=f"choose one of: {', '.join(suites)}")
    return suites[name]


def suite_labels(suite: Suite, cache: Path, labels: Path | None = None) -> Path:
    """The suite's label set: ``labels`` if given, else built in ``cache`` (synthcity suites only; resumes); refused
    unless its content hash is the suite's."""
    from semcom_bench.schemas import LabelSet

    if labels is None:
        if suite.dataset != "synthcity" or suite.synthcity is None:
            raise SemcomError(f"suite {suite.name!r} uses {suite.dataset} images, which are not built here",
                              hint="pass the suite's label set with --labels")
        from semcom_bench.annotate.pipeline import AnnotateConfig, annotate
        from semcom_bench.datasets.synthcity import generate

        spec = suite.synthcity
        root = cache / "synthcity"
        generate(root, n=int(spec["n"]), seed=int(spec["seed"]), size=tuple(spec["size"]), split=spec["split"])
        labels = cache / f"labels-{spec['split']}"
        annotate(AnnotateConfig(dataset="synthcity", root=str(root), split=spec["split"], task=suite.task,
                                labeler=suite.labeler), labels)
    if suite.labelset_hash is not None and (found := LabelSet.open(labels).content_hash()) != suite.labelset_hash:
        raise SemcomError(f"label set {labels} has content hash {found}, suite {suite.name!r} is scored on "
                          f"{suite.labelset_hash}", hint="pass the suite's own label set (or rebuild its cache)")
    return labels


def submission_identity(manifest: Manifest) -> str:
    """``sha256:`` + 16 hex digits over the manifest's bytes and every weights file: the entry's model identity."""
    import hashlib

    digest = hashlib.sha256((manifest.root / MANIFEST).read_bytes())
    for rel, _ in manifest.weights:
        digest.update(sha256_file(manifest.root / rel).encode())
    return f"sha256:{digest.hexdigest()[:16]}"


def claim_folder(out: Path, suite: Suite, labelset_hash: str) -> None:
    """Make ``out`` this suite's results folder, or refuse if it holds another suite's or label set's results."""
    out.mkdir(parents=True, exist_ok=True)
    marker = out / SUITE_FILE
    mine = {"suite": suite.name, "labelset_hash": labelset_hash}
    if marker.is_file():
        theirs = json.loads(marker.read_text())
        if theirs != mine:
            raise SemcomError(f"{out} holds results of suite {theirs.get('suite')!r} on label set "
                              f"{theirs.get('labelset_hash')}, not of {suite.name!r} on {labelset_hash}; results of "
                              "different suites or label sets are never merged", hint="choose another --out")
    else:
        marker.write_text(json.dumps(mine, indent=1) + "\n")


def evaluate_submission(root: str | Path, suite: Suite, out: str | Path, labels: Path | None = None,
                        device: str = "cpu") -> Path:
    """Evaluate the (checked) submission in ``root`` on ``suite`` into ``out/results.parquet``; a rerun adds
    nothing twice and loses nothing (the harness's row keys: this entry's model identity, rate, image, channel,
    SNR, seed). Returns the results file."""
    from semcom_bench.benchmark.evaluate import EvalSpec, evaluate
    from semcom_bench.leaderboard.manifest import load_manifest
    from semcom_bench.leaderboard.worker import build
    from semcom_bench.schemas import LabelSet

    out = Path(out)
    manifest = load_manifest(root)
    labels = suite_labels(suite, out / "cache", labels)
    claim_folder(out, suite, suite.labelset_hash or LabelSet.open(labels).content_hash())  # checked, or as found
    spec = EvalSpec(manifest.name, [p.rate for p in manifest.operating_points], config=manifest.version,
                    prebuilt=build(manifest.root), identity=submission_identity(manifest))
    for channel in suite.channels:
        evaluate([spec], labels, list(suite.snrs), out / RESULTS, channel=channel, seed=suite.seed,
                 side_rule=suite.side_rule, device=device)
    from semcom_bench import __version__

    cards = out / ENTRIES
    cards.mkdir(exist_ok=True)
    card = {"model": spec.identity, "manifest": json.loads((manifest.root / MANIFEST).read_text()),
            "scored_by": f"semcom-bench {__version__}"}
    (cards / f"{spec.identity.removeprefix('sha256:')}.json").write_text(json.dumps(card, indent=1) + "\n")
    return out / RESULTS


def publish_baselines(results: Path, labels: Path, out: Path, suite: Suite) -> Path | None:
    """The built-in schemes' results (a ``bench eval`` table made on ``labels``) as the baseline entries of
    ``suite`` in ``out``, rendered; ``None`` (nothing written) when ``labels`` is not the suite's label set. The
    results must have been made with the suite's seed, channels, SNRs and side rule (``make demo``'s are)."""
    import shutil

    from semcom_bench.leaderboard.render import render
    from semcom_bench.schemas import LabelSet, read_table

    found = LabelSet.open(labels).content_hash()
    if found != suite.labelset_hash:
        return None
    rows = read_table(results, "results").to_pylist()
    grid = ({r["channel"] for r in rows}, {r["snr_db"] for r in rows}, {r["side_rule"] for r in rows})
    if grid != (set(suite.channels), set(suite.snrs), {suite.side_rule}):
        raise SemcomError(f"{results} was evaluated on channels, SNRs and side rules {grid}, not suite "
                          f"{suite.name!r}'s", hint="evaluate with the suite's grid (`leaderboard suites`)")
    claim_folder(out, suite, found)
    shutil.copyfile(results, out / RESULTS)  # the harness's rows, as they are: one table per suite folder
    render(out)
    return out / "site"
