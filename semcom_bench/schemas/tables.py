"""The tables of a label set: their Arrow schemas, the schema version, and validated tables built from rows.

Columns are the contract between pipeline stages. Every column carries its documentation in the field metadata
(``field.metadata[b"doc"]``), so the docs below travel inside every Parquet file as well.

Conventions shared by all tables:

* ``image_id`` joins every table to ``images``; it is unique within a dataset split.
* ``object_id`` is unique within one image; for ground truth it is the dataset's instance id.
* ``bbox`` is ``(x0, y0, x1, y1)`` in pixels, half-open: the object's pixels satisfy ``x0 <= x < x1``, ``y0 <= y < y1``.
* Importance tiers (SA-OOSC): 0 background, 1 low, 2 medium, 3 high.
* ``source`` names the stage and model that made a row (``"gt"``, ``"yolo"``, ``"mllm:<model>"``); together with
  the label set's ``manifest.json`` (the full pipeline configuration) it traces every row to what made it.
* Masks are COCO compressed RLE structs (:data:`semcom_bench.schemas.rle.RLE_TYPE`).

Each schema's metadata names its table (:data:`TABLE_KEY`) and the :data:`SCHEMA_VERSION` it belongs to
(:data:`VERSION_KEY`). Raise ``SCHEMA_VERSION`` whenever a column is added, removed, renamed or retyped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from semcom_bench.errors import SchemaError
from semcom_bench.schemas.rle import RLE_TYPE

SCHEMA_VERSION: int = 3
"""Version of the set of table schemas below; a file written under another version is refused by the reader."""

TABLE_KEY = b"semcom_bench.table"
VERSION_KEY = b"semcom_bench.schema_version"

MAX_TIER = 3

# The command that writes each table, named in error messages about a missing or outdated file.
MADE_BY: dict[str, str] = {
    "images": "semcom-bench annotate",
    "objects": "semcom-bench annotate",
    "patches": "semcom-bench annotate",
    "triplets": "semcom-bench annotate",
    "task_masks": "semcom-bench annotate",
    "llm_calls": "semcom-bench annotate",
    "reviews": "semcom-bench review pull",
    "results": "semcom-bench bench eval",
}


def _col(name: str, type_: pa.DataType, doc: str, *, nullable: bool = False) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


def _schema(name: str, *fields: pa.Field) -> pa.Schema:
    return pa.schema(list(fields), metadata={TABLE_KEY: name.encode(), VERSION_KEY: str(SCHEMA_VERSION).encode()})


def _source(what: str) -> pa.Field:
    return _col("source", pa.string(), f"Stage and model that made the {what}, e.g. 'gt', 'yolo', 'mllm:<model>'.")


_IMAGE_ID = _col("image_id", pa.string(), "Image key, unique within the dataset split; joins to images.image_id.")
_TIER = pa.uint8()
_TIER_DOC = "0 background, 1 low, 2 medium, 3 high"

IMAGES = _schema(
    "images",
    _IMAGE_ID,
    _col("dataset", pa.string(), "Name of the dataset adapter that yielded the image, e.g. 'cityscapes'."),
    _col("split", pa.string(), "Dataset split, e.g. 'train', 'val'."),
    _col("path", pa.string(), "Image file path as reported by the dataset adapter."),
    _col("width", pa.int32(), "Image width in pixels."),
    _col("height", pa.int32(), "Image height in pixels."),
    _col("sha256", pa.string(), "Hex SHA-256 of the image file's bytes; detects a changed image behind a label."),
)

OBJECTS = _schema(
    "objects",
    _IMAGE_ID,
    _col("object_id", pa.int64(), "Instance id, unique within the image; for ground truth the dataset's id."),
    _col("class_name", pa.string(), "Class of the instance, e.g. 'person', 'car'."),
    _col(
        "bbox",
        pa.list_(pa.field("item", pa.float32(), nullable=False), 4),
        "Box (x0, y0, x1, y1) in pixels, half-open.",
    ),
    _col("score", pa.float32(), "Detector confidence in [0, 1]; null for ground truth.", nullable=True),
    _col("mask", RLE_TYPE, "Instance mask as COCO RLE; null for box-only sources.", nullable=True),
    _source("instance"),
    _col("importance", _TIER, f"Importance tier ({_TIER_DOC}); null until labelled.", nullable=True),
    _col(
        "importance_source",
        pa.string(),
        "Labeler that set importance, e.g. 'mllm:<model>', 'heuristic', 'static', 'review'; null when unlabelled.",
        nullable=True,
    ),
    _col("rationale", pa.string(), "The labeler's reason for the tier (MLLM answer text); null if none.",
         nullable=True),
)

PATCHES = _schema(
    "patches",
    _IMAGE_ID,
    _col("patch_size", pa.int16(), "Side of a square patch in pixels."),
    _col("grid_h", pa.int16(), "Patch rows: ceil(height / patch_size)."),
    _col("grid_w", pa.int16(), "Patch columns: ceil(width / patch_size)."),
    _col(
        "importance",
        pa.list_(pa.field("item", _TIER, nullable=False)),
        f"Tier of every patch in raster order (row by row), grid_h * grid_w values ({_TIER_DOC}); a patch takes "
        "the highest tier of any object whose mask overlaps it.",
    ),
    _source("patch tiers"),
)

TRIPLETS = _schema(
    "triplets",
    _IMAGE_ID,
    _col("subject_id", pa.int64(), "objects.object_id of the subject."),
    _col("predicate", pa.string(), "Predicate from semcom_bench.schemas.vocabulary.PREDICATES."),
    _col(
        "object_id",
        pa.int64(),
        "objects.object_id of the object instance; null when the object is a stuff class.",
        nullable=True,
    ),
    _col(
        "object_class",
        pa.string(),
        "Class of the object instance, or the stuff name (road, sidewalk, crosswalk...) when object_id is null.",
    ),
    _col("score", pa.float32(), "Relation predictor confidence; null for ground truth.", nullable=True),
    _source("relation"),
    _col("task", pa.string(), "Task the criticality refers to (tasks/*.yaml name); null if not judged.", nullable=True),
    _col(
        "task_critical",
        pa.bool_(),
        "Whether the triplet passes the task's TOIF (subject class in C_T and (predicate, object) in IR_T); "
        "null if not judged.",
        nullable=True,
    ),
)

TASK_MASKS = _schema(
    "task_masks",
    _IMAGE_ID,
    _col("task", pa.string(), "Task name (tasks/*.yaml)."),
    _col("mask", RLE_TYPE, "Task-critical pixels m_sem AND m_ins (InsCom eq. 5-7) as COCO RLE."),
    _col("pixel_fraction", pa.float32(), "Fraction of the image's pixels in the mask, in [0, 1]."),
)

LLM_CALLS = _schema(
    "llm_calls",
    _col("request_key", pa.string(), "Hash of image, prompt, model and parameters; the cache key of the answer."),
    _IMAGE_ID,
    _col("model", pa.string(), "Model name as sent to the server."),
    _col("tokens_in", pa.int64(), "Prompt tokens reported by the server."),
    _col("tokens_out", pa.int64(), "Completion tokens reported by the server."),
    _col("cost_usd", pa.float64(), "Cost in US dollars; null when the price is unknown.", nullable=True),
    _col("latency_s", pa.float64(), "Wall-clock seconds from request to answer."),
    _col("status", pa.string(), "Outcome, e.g. 'ok', 'cached', 'invalid', 'error'."),
    _col("error", pa.string(), "Error text when status is not ok; null otherwise.", nullable=True),
    _col("created_at", pa.timestamp("us", tz="UTC"), "When the call was made (UTC)."),
    _col("call_id", pa.string(), "Unique id of the row (hex uuid4); rows are also appended to the run's ledger as "
         "they are made, and the ledger is folded in by this id, so a crash loses no paid call."),
)

TRIPLET_DECISIONS = ("accept", "reject", "new")
"""A reviewer's verdict on a triplet: a proposed one kept or deleted, or one the reviewer drew."""

TRIPLET_DECISION_TYPE: pa.StructType = pa.struct(
    [
        pa.field("subject_id", pa.int64(), nullable=False),
        pa.field("predicate", pa.string(), nullable=False),
        pa.field("object_id", pa.int64(), nullable=True),
        pa.field("object_class", pa.string(), nullable=False),
        pa.field("decision", pa.string(), nullable=False),
    ]
)
"""One reviewer decision on a triplet (:data:`TRIPLET_DECISIONS`); the other fields mean what they mean in
``triplets``, with the ids of ``reviews.object_id`` (a reviewer-added object may be subject or object)."""

OBJECT_STATUSES = ("kept", "removed", "added")
"""What a reviewer did with a region: left a proposed object (maybe changing its class, box or tier), deleted it,
or drew a new one."""

REVIEWS = _schema(
    "reviews",
    _col("round", pa.int32(), "Review round, 1 for the first pass over the label set."),
    _col("annotator", pa.string(), "Reviewer as known to Label Studio (e-mail address or user name)."),
    _IMAGE_ID,
    _col("annotation_id", pa.int64(), "Label Studio's id of the annotation the row comes from; a later pull of the "
         "round replaces the rows of the annotations it exports."),
    _col("object_id", pa.int64(), "Reviewed object: the label set's object_id, or for an object the reviewer added an "
         "id from ADDED_ID_BASE up; null for the row about the whole image.", nullable=True),
    _col("status", pa.string(), "Object rows: 'kept', 'removed' or 'added' (OBJECT_STATUSES); null on the image row.",
         nullable=True),
    _col("class_name", pa.string(), "Class the reviewer's region has; null on removed objects and the image row.",
         nullable=True),
    _col("bbox", pa.list_(pa.field("item", pa.float32(), nullable=False), 4),
         "The reviewer's box (x0, y0, x1, y1) in pixels, half-open; null on removed objects and the image row.",
         nullable=True),
    _col("mask", RLE_TYPE, "The reviewer's mask of the object as COCO RLE; null when their annotation has none "
         "(the label set's mask stands).", nullable=True),
    _col("importance", _TIER, f"Tier the reviewer's region has ({_TIER_DOC}); null when it has none.", nullable=True),
    _col(
        "triplet_decisions",
        pa.list_(pa.field("item", TRIPLET_DECISION_TYPE, nullable=False)),
        "On the image row: the reviewer's verdict on every proposed triplet and each triplet they added; empty on "
        "object rows.",
    ),
    _col("flags", pa.list_(pa.field("item", pa.string(), nullable=False)),
         "On the image row: the image flags the reviewer ticked ('labels wrong', 'objects missing'); empty otherwise."),
    _col("lead_time_s", pa.float64(), "Seconds the reviewer spent, as Label Studio reports; null if unknown.",
         nullable=True),
    _col("updated_at", pa.timestamp("us", tz="UTC"), "When the annotation was last saved (UTC); the 'latest' merge "
         "policy goes by it."),
)

ADDED_ID_BASE = 1 << 40
"""Reviewer-added objects get ``object_id`` s from here up (``ADDED_ID_BASE + annotation_id * 1000 + k``), far
above any dataset instance id, and the same on every pull of the same annotation."""

_TIER_SUFFIXES = range(MAX_TIER + 1)

RESULTS = _schema(
    "results",
    _IMAGE_ID,
    _col("scheme", pa.string(), "Registered scheme name, e.g. 'deepjscc', 'ntscc', 'separation', 'capacity'."),
    _col("model", pa.string(), "Identity of a trained model: 'sha256:' and the first 16 hex digits of its checkpoint "
         "file's SHA-256, whatever path was typed; empty for schemes without a checkpoint."),
    _col("checkpoint", pa.string(), "Checkpoint file the model was read from (information only: 'model' identifies it)."),
    _col("config", pa.string(), "A trained model's training profile (e.g. 'smoke'); otherwise the scheme's settings in "
         "words, e.g. 'hevc R=1/2 16-QAM'."),
    _col("rate", pa.float64(), "The scheme's own rate knob as passed to transmit (target CBR, NTSCC's eta...)."),
    _col("channel", pa.string(), "Channel name, e.g. 'awgn', 'rayleigh'."),
    _col("snr_db", pa.float64(), "Es/N0 in dB at unit average symbol power."),
    _col("seed", pa.int64(), "Seed of the channel realisation; equal seeds mean paired draws across schemes."),
    _col("channel_uses", pa.int64(), "Complex channel uses counted by the harness, side information included."),
    _col("side_uses", pa.int64(), "Of channel_uses, those that carry the scheme's side information (priced by side_rule)."),
    _col("side_rule", pa.string(), "How the harness priced side information: 'ldpc' (5G LDPC + QAM at the best setting "
         "that decodes) or 'capacity' (optimistic floor); see benchmark.side_info."),
    _col("cbr", pa.float64(), "channel_uses / (3 * H * W)."),
    _col("psnr", pa.float64(), "PSNR in dB of the uint8-rounded reconstruction (inf when perfect, NaN on NaN output)."),
    _col("ssim", pa.float64(), "SSIM of the uint8-rounded reconstruction."),
    _col("ms_ssim", pa.float64(), "MS-SSIM of the uint8-rounded reconstruction (see benchmark.metrics for small images)."),
    _col("tc_psnr", pa.float64(), "TC-PSNR (InsCom eq. 8-9) over the task mask; NaN when the mask is empty."),
    _col("tc_sse", pa.float64(), "Sum of squared errors over the task mask, for pooled TC-PSNR."),
    _col("tc_pixels", pa.int64(), "Pixels in the task mask."),
    *[_col(f"psnr_tier{t}", pa.float64(), f"PSNR over the patches of tier {t}; NaN when the image has none.")
      for t in _TIER_SUFFIXES],
    *[_col(f"sse_tier{t}", pa.float64(), f"Sum of squared errors over the patches of tier {t}.") for t in _TIER_SUFFIXES],
    *[_col(f"pixels_tier{t}", pa.int64(), f"Pixels in the patches of tier {t}.") for t in _TIER_SUFFIXES],
    *[_col(f"uses_tier{t}", pa.float64(), f"Payload channel uses spent on the pixels of tier {t} (a token's uses spread "
           "evenly over its pixels); null for schemes without a token grid (Scheme.code_lengths) or images without "
           "patch tiers.", nullable=True) for t in _TIER_SUFFIXES],
    _col("sse", pa.float64(), "Sum of squared errors over the whole image, for pooled PSNR."),
    _col("pixels", pa.int64(), "Pixels of the image (H * W)."),
    _col("params", pa.int64(), "Parameters of a neural scheme's model; null for other schemes.", nullable=True),
    _col("macs", pa.int64(), "Multiply-accumulates of transmitter + receiver per image at this rate point (matrix "
         "products and convolutions, as benchmark.metrics.model_complexity counts); null for non-neural schemes.",
         nullable=True),
    _col("failed", pa.bool_(), "The receiver could not decode (e.g. an LDPC failure) and output its fallback."),
    _col("nan_output", pa.bool_(), "The reconstruction held NaN; its metrics are NaN and the run went on."),
    _col("encode_s", pa.float64(), "Seconds spent in transmit for this image (its share of the batch)."),
    _col("decode_s", pa.float64(), "Seconds spent in receive for this image (its share of the batch)."),
)

TABLES: dict[str, pa.Schema] = {
    schema.metadata[TABLE_KEY].decode(): schema
    for schema in (IMAGES, OBJECTS, PATCHES, TRIPLETS, TASK_MASKS, LLM_CALLS, REVIEWS, RESULTS)
}
"""Every typed table by name; the name is also its file stem (``objects.parquet``) and DuckDB view."""

LABEL_SET_TABLES: tuple[str, ...] = ("images", "objects", "patches", "triplets", "task_masks", "llm_calls", "reviews")
"""The tables a label-set folder holds; ``results`` belongs to the benchmark's output instead."""

# Columns holding importance tiers, checked to lie in 0..MAX_TIER.
_TIER_COLUMNS: dict[str, str] = {"objects": "importance", "patches": "importance", "reviews": "importance"}


def table_schema(name: str) -> pa.Schema:
    """The schema of table ``name``; an unknown name raises :class:`SchemaError` listing the known ones."""
    try:
        return TABLES[name]
    except KeyError:
        raise SchemaError(f"unknown table {name!r}", hint=f"choose one of: {', '.join(TABLES)}") from None


def to_table(name: str, rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Build table ``name`` from row dicts, each holding every column (``None`` where a column is nullable).

    Raises :class:`SchemaError` naming the table and columns when a row lacks a column or has an extra one, a value
    cannot be converted to its column's type, a non-nullable column holds a null, or a tier is out of range.
    """
    schema = table_schema(name)
    rows = list(rows)
    expected = set(schema.names)
    for i, row in enumerate(rows):
        if row.keys() != expected:
            missing = [c for c in schema.names if c not in row]
            extra = sorted(set(row.keys()) - expected)
            parts = ([f"missing column(s) {', '.join(missing)}"] if missing else []) + (
                [f"unknown column(s) {', '.join(extra)}"] if extra else []
            )
            raise SchemaError(
                f"table {name!r}, row {i}: {'; '.join(parts)}",
                hint=f"give every row exactly the columns {', '.join(schema.names)} (None where nullable)",
            )
    arrays: list[pa.Array] = []
    bad: list[str] = []
    for field in schema:
        values = [row[field.name] for row in rows]
        try:
            array = pa.array(values, type=field.type)
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as err:
            bad.append(f"{field.name} ({str(err)[:160]})")
            continue
        # pyarrow truncates 1.5 to 1 when asked for an integer type; a fractional id or size is a bug upstream.
        if pa.types.is_integer(field.type) and any(
            isinstance(v, float | np.floating) and not float(v).is_integer() for v in values
        ):
            bad.append(f"{field.name} (fractional value for an integer column)")
            continue
        arrays.append(array)
    if bad:
        raise SchemaError(
            f"table {name!r}: cannot convert column(s) to their types: {'; '.join(bad)}",
            hint=f"pass values of the documented types (see semcom_bench.schemas.tables.TABLES[{name!r}])",
        )
    return _checked(name, pa.Table.from_arrays(arrays, schema=schema))


def conform_table(name: str, table: pa.Table) -> pa.Table:
    """Return ``table`` as table ``name``: columns reordered, types safely cast, schema metadata set, values checked.

    Raises :class:`SchemaError` like :func:`to_table`.
    """
    schema = table_schema(name)
    missing = [c for c in schema.names if c not in table.column_names]
    extra = [c for c in table.column_names if c not in schema.names]
    if missing or extra or len(set(table.column_names)) != len(table.column_names):
        raise SchemaError(
            f"table {name!r} has columns {', '.join(table.column_names)}; "
            f"missing: {', '.join(missing) or 'none'}; unknown: {', '.join(extra) or 'none'}",
            hint=f"give it exactly the columns {', '.join(schema.names)}",
        )
    columns: list[pa.ChunkedArray] = []
    bad: list[str] = []
    for field in schema:
        column = table[field.name]
        if not column.type.equals(field.type):
            try:
                column = column.cast(field.type)  # safe: overflow and truncation raise
            except (pa.ArrowException, TypeError, ValueError) as err:
                bad.append(f"{field.name}: {column.type} -> {field.type} ({str(err)[:160]})")
                continue
        columns.append(column)
    if bad:
        raise SchemaError(
            f"table {name!r}: cannot cast column(s) to their types: {'; '.join(bad)}",
            hint=f"pass columns of the documented types (see semcom_bench.schemas.tables.TABLES[{name!r}])",
        )
    return _checked(name, pa.Table.from_arrays(columns, schema=schema))


def _null_violations(array: pa.Array, field: pa.Field, path: str) -> list[str]:
    """Dotted paths under ``field`` that hold nulls although the schema says not nullable (nested ones too)."""
    found = [path] if not field.nullable and array.null_count else []
    type_ = field.type
    if pa.types.is_struct(type_):
        # flatten() merges the parent's validity into each child; only rows with a valid parent count.
        valid = array.is_valid()
        for child_field, child in zip(type_, array.flatten(), strict=True):
            found += _null_violations(child.filter(valid), child_field, f"{path}.{child_field.name}")
    elif pa.types.is_list(type_) or pa.types.is_fixed_size_list(type_) or pa.types.is_large_list(type_):
        found += _null_violations(array.flatten(), type_.value_field, f"{path}[]")
    return found


def _checked(name: str, table: pa.Table) -> pa.Table:
    """Raise :class:`SchemaError` for nulls in non-nullable (nested) fields and out-of-range values."""
    nulls: list[str] = []
    for field, column in zip(table.schema, table.columns, strict=True):
        for chunk in column.chunks:
            nulls += [p for p in _null_violations(chunk, field, field.name) if p not in nulls]
    if nulls:
        raise SchemaError(
            f"table {name!r}: non-nullable column(s) hold nulls: {', '.join(nulls)}",
            hint="fill these values in the stage that makes the table; only documented columns may be null",
        )
    problems: list[str] = []
    if name in _TIER_COLUMNS:
        column = table[_TIER_COLUMNS[name]]
        values = pc.list_flatten(column) if pa.types.is_list(column.type) else column
        top = pc.max(values).as_py()
        if top is not None and top > MAX_TIER:
            problems.append(f"{_TIER_COLUMNS[name]} holds tier {top}, tiers are 0..{MAX_TIER}")
    if name == "patches" and table.num_rows:
        cells = pc.multiply(table["grid_h"].cast(pa.int64()), table["grid_w"].cast(pa.int64()))
        wrong = pc.sum(pc.not_equal(pc.list_value_length(table["importance"]).cast(pa.int64()), cells)).as_py()
        if wrong:
            problems.append(f"importance of {wrong} row(s) does not hold grid_h * grid_w tiers")
    if problems:
        raise SchemaError(f"table {name!r}: {'; '.join(problems)}", hint="fix the stage that makes the table")
    return table
