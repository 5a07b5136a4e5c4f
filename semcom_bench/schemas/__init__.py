"""The label set's tables: versioned Arrow schemas, atomic Parquet writes, validated reads, mask RLE, DuckDB views.

Typical use::

    from semcom_bench.schemas import LabelSet, connect
    labels = LabelSet.create(out, {"dataset": "synthcity", "split": "val", "config": pipeline_config})
    labels.write("objects", rows)          # row dicts or a pyarrow.Table, validated against TABLES["objects"]
    con = connect(out)                     # DuckDB views: images, objects, patches, ...

The names below are imported from their submodules on first use (PEP 562): pyarrow, DuckDB and pycocotools load
only when a table is touched, so a light submodule (``schemas.vocabulary``, ``schemas.cli``) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from semcom_bench.lazy import lazy_names

if TYPE_CHECKING:
    from semcom_bench.schemas.io import atomic_write, read_schema, read_table, write_json, write_table
    from semcom_bench.schemas.labelset import MANIFEST_NAME, LabelSet
    from semcom_bench.schemas.rle import RLE_TYPE, decode_mask, decode_masks, encode_mask, encode_masks
    from semcom_bench.schemas.tables import (
        LABEL_SET_TABLES,
        SCHEMA_VERSION,
        TABLES,
        conform_table,
        table_schema,
        to_table,
    )
    from semcom_bench.schemas.views import connect, labelset_stats

_SOURCES = {
    "io": ("atomic_write", "read_schema", "read_table", "write_json", "write_table"),
    "labelset": ("MANIFEST_NAME", "LabelSet"),
    "rle": ("RLE_TYPE", "decode_mask", "decode_masks", "encode_mask", "encode_masks"),
    "tables": ("LABEL_SET_TABLES", "SCHEMA_VERSION", "TABLES", "conform_table", "table_schema", "to_table"),
    "views": ("connect", "labelset_stats"),
}

__all__ = [
    "MANIFEST_NAME",
    "RLE_TYPE",
    "SCHEMA_VERSION",
    "LABEL_SET_TABLES",
    "TABLES",
    "LabelSet",
    "atomic_write",
    "conform_table",
    "connect",
    "decode_mask",
    "decode_masks",
    "encode_mask",
    "encode_masks",
    "labelset_stats",
    "read_schema",
    "read_table",
    "table_schema",
    "to_table",
    "write_json",
    "write_table",
]


__getattr__, __dir__ = lazy_names(__name__, _SOURCES, globals())
