"""The annotation pipeline: dataset -> detector -> relations -> labeler -> patch tiers + TOIF -> label set.

Resumable: finished images are flushed every ``checkpoint_every`` images as part files under ``{out}/parts/``
(atomic writes), and a re-run skips every image already in a part or in the final tables. Images whose labeler
failed are written with null importance and retried by the next run. At the end the parts are folded into one
Parquet file per table (the last version of each image wins) and removed.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from semcom_bench.annotate.base import (
    DETECTORS,
    LABELERS,
    RELATION_PREDICTORS,
    Detector,
    Labeler,
    LabelResult,
    RelationPredictor,
)
from semcom_bench.annotate.mllm.client import MLLMClient, safe_url
from semcom_bench.annotate.mllm.ledger import read_ledger
from semcom_bench.annotate.patches import patch_tiers
from semcom_bench.annotate.toif import critical_flags, task_mask
from semcom_bench.datasets.base import DATASETS, DatasetAdapter, Sample
from semcom_bench.errors import SemcomError
from semcom_bench.hashing import sha256_file
from semcom_bench.schemas import LabelSet, encode_mask, read_table, table_schema, to_table, write_table
from semcom_bench.tasks import Task, load_task

log = logging.getLogger(__name__)

PER_IMAGE_TABLES = ("images", "objects", "patches", "triplets", "task_masks")
TABLES_WRITTEN = (*PER_IMAGE_TABLES, "llm_calls")
PARTS = "parts"
LEDGER = "llm_ledger.jsonl"  # every MLLM call as it is made, folded into llm_calls by finalize


PATH_OPTIONS = ("root", "weights")
"""Options that name files or folders: stored absolute and compared as paths."""


@dataclass
class AnnotateConfig:
    """Everything that decides the labels; stored whole in the manifest (never a secret)."""

    dataset: str
    task: str
    root: str | None = None
    split: str | None = None
    size: tuple[int, int] | None = None
    detector: str = "gt"
    weights: str | None = None
    relations: str = "geometric"
    labeler: str = "heuristic"
    patch_size: int = 16
    limit: int | None = None
    mllm: dict[str, Any] = field(default_factory=dict)  # base_url, model, ... (the API key comes from the environment)

    def manifest_config(self) -> dict[str, Any]:
        """The configuration as JSON data: paths absolute (``d`` and ``/abs/d`` are one folder), the server URL
        without credentials, and ``limit`` left out so a later run can extend the label set."""
        data = asdict(self)
        data.pop("limit")
        for name in PATH_OPTIONS:
            if data[name] is not None:
                data[name] = str(Path(data[name]).expanduser().resolve())
        if data["mllm"].get("base_url"):
            data["mllm"]["base_url"] = safe_url(data["mllm"]["base_url"])
        return json.loads(json.dumps(data))


@dataclass
class Progress:
    """Counters shown on the progress bar."""

    done: int = 0
    failed: int = 0
    skipped: int = 0
    requests: int = 0
    tokens: int = 0
    cost_usd: float = 0.0


@dataclass
class AnnotateReport:
    """What a run did: images labelled now, already present, failed (labeler), skipped (unreadable)."""

    out: Path
    labelled: int
    already_done: int
    failed: list[str]
    skipped: list[str]
    progress: Progress


def build_stages(config: AnnotateConfig, cache_dir: Path | None, ledger: Path | None = None,
                 ) -> tuple[Detector, RelationPredictor, Labeler]:
    """Instantiate the three stages the configuration names; MLLM stages get the ``mllm`` options, the cache and
    the call ledger."""
    mllm = {**config.mllm, "cache_dir": cache_dir, "ledger": ledger}
    detector_cls = DETECTORS.get(config.detector)
    detector = detector_cls(weights=config.weights) if config.detector == "yolo" else detector_cls()
    predictor_cls = RELATION_PREDICTORS.get(config.relations)
    predictor = predictor_cls(**mllm) if config.relations == "mllm" else predictor_cls()
    labeler_cls = LABELERS.get(config.labeler)
    labeler = labeler_cls(**mllm) if config.labeler == "mllm" else labeler_cls()
    return detector, predictor, labeler


def open_adapter(config: AnnotateConfig) -> DatasetAdapter:
    """The dataset adapter of ``config``."""
    kwargs: dict[str, Any] = {"root": config.root, "size": config.size}
    if config.split is not None:
        kwargs["split"] = config.split
    return DATASETS.get(config.dataset)(**kwargs)


def image_rows(
    sample: Sample, detector: Detector, predictor: RelationPredictor, labeler: Labeler, task: Task, patch_size: int
) -> tuple[dict[str, list[dict[str, Any]]], str | None]:
    """All rows of one image, and the labeler's error if it failed."""
    scene = detector.detect(sample)
    relations = predictor.predict_result(scene)
    triplets = relations.triplets
    if relations.error is None:
        result = labeler.label(scene, triplets, task)
    else:  # labelling without the relations would be a guess; the next run retries the image
        result = LabelResult([], labeler.name, error=f"relations: {relations.error}")
    result.calls = [*relations.calls, *result.calls]
    tiers = {lab.object_id: lab.importance for lab in result.labels}
    rationale = {lab.object_id: lab.rationale for lab in result.labels}
    flags = critical_flags(scene, triplets, task)
    mask = task_mask(scene, triplets, flags, task)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES_WRITTEN}
    rows["images"].append({
        "image_id": sample.image_id, "dataset": sample.dataset, "split": sample.split, "path": str(sample.path),
        "width": sample.width, "height": sample.height, "sha256": sha256_file(sample.path),
    })
    for obj in scene.objects:
        labelled = result.error is None and obj.object_id in tiers
        rows["objects"].append({
            "image_id": sample.image_id, "object_id": obj.object_id, "class_name": obj.class_name,
            "bbox": list(obj.bbox), "score": obj.score,
            "mask": encode_mask(obj.mask) if obj.mask is not None else None, "source": obj.source,
            "importance": tiers[obj.object_id] if labelled else None,
            "importance_source": result.source if labelled else None,
            "rationale": rationale[obj.object_id] if labelled else None,
        })
    if result.error is None:
        grid = patch_tiers(scene.objects, tiers, scene.height, scene.width, patch_size)
        rows["patches"].append({
            "image_id": sample.image_id, "patch_size": patch_size, "grid_h": grid.shape[0], "grid_w": grid.shape[1],
            "importance": grid.ravel().tolist(), "source": result.source,
        })
    for triplet, critical in zip(triplets, flags, strict=True):
        rows["triplets"].append({
            "image_id": sample.image_id, "subject_id": triplet.subject_id, "predicate": triplet.predicate,
            "object_id": triplet.object_id, "object_class": triplet.object_class, "score": triplet.score,
            "source": triplet.source, "task": task.name, "task_critical": critical,
        })
    rows["task_masks"].append({
        "image_id": sample.image_id, "task": task.name, "mask": encode_mask(mask),
        "pixel_fraction": float(mask.mean()),
    })
    rows["llm_calls"].extend(result.calls)
    return rows, result.error


class PartWriter:
    """Buffers rows and flushes them as numbered part files, one folder per table."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.buffer: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES_WRITTEN}
        existing = [int(p.stem) for p in folder.glob("*/*.parquet")]
        self.next_index = max(existing, default=-1) + 1
        self.lock = threading.Lock()

    def add(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        with self.lock:
            for name, table_rows in rows.items():
                self.buffer[name].extend(table_rows)

    def flush(self) -> None:
        """Write every buffered table as part ``next_index``; images go last so a part counts once all is on disk."""
        with self.lock:
            if not self.buffer["images"] and not self.buffer["llm_calls"]:
                return
            for name in (*[t for t in TABLES_WRITTEN if t != "images"], "images"):
                write_table(name, to_table(name, self.buffer[name]), self.folder / name / f"{self.next_index:05d}.parquet")
                self.buffer[name] = []
            self.next_index += 1


def _parts(folder: Path, table: str) -> list[Path]:
    return sorted((folder / table).glob("*.parquet"))


def _complete_parts(folder: Path) -> set[str]:
    """Part numbers whose images file exists: the last file a flush writes."""
    return {p.stem for p in _parts(folder, "images")}


def _pieces(labels: LabelSet, table: str, complete: list[str]) -> list[tuple[int, pa.Table]]:
    """``(piece, rows)``: piece 0 is the final table, piece k the k-th complete part, in write order."""
    folder = labels.path / PARTS
    pieces = [(0, labels.read(table))] if labels.has(table) else []
    pieces += [(k, read_table(folder / table / f"{stem}.parquet", table)) for k, stem in enumerate(complete, start=1)]
    return pieces


def finalize(labels: LabelSet) -> None:
    """Fold the complete parts into one file per table and remove the parts; every table exists afterwards.

    Per-image tables keep each image's rows from its latest piece only (a retried image replaces its failure).
    ``llm_calls`` keeps every call once (by ``call_id``), the calls of the ledger that no part holds included (those
    of images a crash cut short); a crash between folding and removing the parts and ledger repeats nothing.
    """
    folder = labels.path / PARTS
    complete = sorted(_complete_parts(folder)) if folder.is_dir() else []
    latest: dict[str, int] = {}
    for piece, rows in _pieces(labels, "images", complete):
        latest.update(dict.fromkeys(rows["image_id"].to_pylist(), piece))
    for name in TABLES_WRITTEN:
        kept = [table_schema(name).empty_table()]
        for piece, rows in _pieces(labels, name, complete):
            if name in PER_IMAGE_TABLES:
                rows = rows.filter(pa.array([latest.get(i) == piece for i in rows["image_id"].to_pylist()], pa.bool_()))
            kept.append(rows)
        table = pa.concat_tables(kept)
        if name == "llm_calls":
            unique = {row["call_id"]: row for row in [*table.to_pylist(), *read_ledger(labels.path / LEDGER)]}
            table = to_table("llm_calls", unique.values())
        labels.write(name, table)
    if folder.is_dir():
        shutil.rmtree(folder)
    (labels.path / LEDGER).unlink(missing_ok=True)


def _done_and_failed(labels: LabelSet) -> tuple[set[str], set[str]]:
    """Images already written, and those among them whose latest labelling failed (an object without a tier)."""
    folder = labels.path / PARTS
    complete = sorted(_complete_parts(folder)) if folder.is_dir() else []
    done: set[str] = set()
    for _, rows in _pieces(labels, "images", complete):
        done.update(rows["image_id"].to_pylist())
    failed: dict[str, bool] = {}
    for _, rows in _pieces(labels, "objects", complete):
        in_piece: dict[str, bool] = {}
        for image_id, tier in zip(rows["image_id"].to_pylist(), rows["importance"].to_pylist(), strict=True):
            in_piece[image_id] = in_piece.get(image_id, False) or tier is None
        failed.update(in_piece)  # a later piece (a retry) overrides an earlier one
    return done, {image_id for image_id, bad in failed.items() if bad}


# MLLM options that change how a run reaches the server, not what the labels are: a resume may change them.
RUN_ONLY_MLLM_OPTIONS = ("base_url", "timeout_s", "max_retries")


def _label_deciding(config: dict[str, Any]) -> dict[str, Any]:
    mllm = {k: v for k, v in config.get("mllm", {}).items() if k not in RUN_ONLY_MLLM_OPTIONS}
    return {**config, "mllm": mllm}


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"mllm": {"model": m}}`` -> ``{"mllm.model": m}``."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """The label-deciding options of a stored or wanted configuration, paths resolved (older manifests may hold
    relative ones, read from the current folder)."""
    flat = _flat(_label_deciding(config))
    for name in PATH_OPTIONS:
        if flat.get(name) is not None:
            flat[name] = str(Path(flat[name]).expanduser().resolve())
    return flat


def open_existing(out: Path, config: AnnotateConfig) -> LabelSet | None:
    """The label set in ``out`` to resume (same configuration only), or ``None`` when there is none yet.

    A different configuration is refused with the options that differ and their two values.
    """
    if not (out / "manifest.json").exists():
        return None
    labels = LabelSet.open(out)
    stored, wanted = _comparable(labels.manifest.get("config", {})), _comparable(config.manifest_config())
    differ = [f"{k}: {stored.get(k)!r} there, {wanted.get(k)!r} now" for k in sorted(set(stored) | set(wanted))
              if stored.get(k) != wanted.get(k)]
    if differ:
        raise SemcomError(
            f"{out} holds a label set made with another configuration ({'; '.join(differ)})",
            hint="resume with the same options, or write to a new --out folder",
        )
    return labels


def check_servers(*stages: object) -> None:
    """Check once, before any image, that every MLLM stage's server can be used (:meth:`MLLMClient.check`)."""
    seen = set()
    for stage in stages:
        client = getattr(stage, "client", None)
        if isinstance(client, MLLMClient) and (client.settings.base_url, client.settings.model) not in seen:
            seen.add((client.settings.base_url, client.settings.model))
            client.check()


def annotate(
    config: AnnotateConfig,
    out: Path,
    concurrency: int = 1,
    checkpoint_every: int = 25,
    cache_dir: Path | None = None,
    progress: Callable[[Progress, int], None] | None = None,
) -> AnnotateReport:
    """Label ``config.dataset`` into the label set ``out``; resumes a run that stopped.

    ``progress(counters, total)`` is called after each image. ``concurrency`` images are processed at once (use it
    with the MLLM stages, whose requests then overlap). MLLM answers are cached in ``cache_dir`` (default
    ``{out}/llm_cache``), so a re-run sends no request twice.
    """
    # Every input is checked before the manifest is written: a failed start leaves nothing that blocks a fix.
    task = load_task(config.task)
    adapter = open_adapter(config)
    ids = adapter.ids()[: config.limit] if config.limit else adapter.ids()
    detector, predictor, labeler = build_stages(config, cache_dir or out / "llm_cache", out / LEDGER)
    existing = open_existing(out, config)
    done, failed = _done_and_failed(existing) if existing is not None else (set(), set())
    todo = [i for i in ids if i not in done or i in failed]
    if todo:
        check_servers(predictor, labeler)
    labels = existing or LabelSet.create(out, {"dataset": adapter.name, "split": adapter.split,
                                               "config": config.manifest_config()})
    writer = PartWriter(out / PARTS)
    counters = Progress()
    failures: list[str] = []
    lock = threading.Lock()

    def work(image_id: str) -> str | None:
        sample = adapter.try_load(image_id)
        if sample is None:
            with lock:
                counters.skipped += 1
            return None
        rows, error = image_rows(sample, detector, predictor, labeler, task, config.patch_size)
        writer.add(rows)
        with lock:
            counters.done += 1
            counters.failed += error is not None
            counters.requests += sum(1 for c in rows["llm_calls"] if c["status"] != "cached")
            counters.tokens += sum(c["tokens_in"] + c["tokens_out"] for c in rows["llm_calls"] if c["status"] != "cached")
            counters.cost_usd += sum(c["cost_usd"] or 0.0 for c in rows["llm_calls"] if c["status"] != "cached")
            if error is not None:
                failures.append(image_id)
        return error

    try:
        for finished, _ in enumerate(_run(work, todo, concurrency), start=1):
            if finished % checkpoint_every == 0:
                writer.flush()
            if progress is not None:
                progress(counters, len(todo))
    finally:
        writer.flush()  # an interrupted run keeps everything it finished
    finalize(labels)  # each skipped image was logged once, by the adapter, when it failed to load
    if todo and not done and len(adapter.skipped) == len(todo):
        raise SemcomError(
            f"nothing to label: none of the {len(todo)} image(s) of {config.dataset} could be read "
            f"(e.g. {adapter.skipped[0].image_id}: {adapter.skipped[0].reason})",
            hint="check --root and the image files; the warnings above name each unreadable one",
        )
    return AnnotateReport(out, counters.done - counters.failed, len(ids) - len(todo), failures,
                          [s.image_id for s in adapter.skipped], counters)


def estimate(config: AnnotateConfig, cache_dir: Path | None = None) -> dict[str, Any]:
    """What a run would cost: images, MLLM requests, tokens and USD (``None`` if a price is unknown); sends nothing.

    Answers already in the cache cost nothing.
    """
    task = load_task(config.task)
    adapter = open_adapter(config)
    ids = adapter.ids()[: config.limit] if config.limit else adapter.ids()
    detector, predictor, labeler = build_stages(config, cache_dir)
    totals: dict[str, Any] = {"images": 0, "requests": 0, "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0}
    for image_id in ids:
        sample = adapter.try_load(image_id)
        if sample is None:
            continue
        scene = detector.detect(sample)
        relations_cost = predictor.estimate(scene)
        # Relations that cost nothing (offline or cached) are predicted, so the labeler can find its cached answer.
        triplets = predictor.predict_result(scene).triplets if relations_cost["requests"] == 0 else None
        parts = [relations_cost, labeler.estimate(scene, task, triplets)]
        totals["images"] += 1
        for part in parts:
            for key in ("requests", "tokens_in", "tokens_out"):
                totals[key] += part[key]
            costs = (totals["cost_usd"], part["cost_usd"])
            totals["cost_usd"] = None if None in costs else costs[0] + costs[1]
    return totals


def _run(work: Callable[[str], str | None], ids: list[str], concurrency: int) -> Iterator[str | None]:
    """Apply ``work`` to ``ids`` with at most ``concurrency`` in flight, yielding results as they finish."""
    if concurrency <= 1:
        for image_id in ids:
            yield work(image_id)
        return
    pool = ThreadPoolExecutor(max_workers=concurrency)
    try:
        pending: set[Future[str | None]] = set()
        queue = iter(ids)
        for image_id in queue:
            pending.add(pool.submit(work, image_id))
            if len(pending) >= concurrency * 2:
                break
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
                nxt = next(queue, None)
                if nxt is not None:
                    pending.add(pool.submit(work, nxt))
    finally:  # a fatal error (the server refused the key) starts no further image
        pool.shutdown(wait=True, cancel_futures=True)
