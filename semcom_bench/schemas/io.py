"""Atomic writes and validated reads of label-set files.

A writer never leaves a half-written target: it writes ``.<name>.<random>.tmp`` in the target's folder, fsyncs it,
``os.replace``-s it onto the target and fsyncs the folder. A crash at any point leaves the previous target (or none);
a leftover temp file starts with a dot and ends in ``.tmp``, so neither ``glob("*.parquet")`` nor a reader sees it.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from semcom_bench import __version__
from semcom_bench.errors import CorruptFileError, SchemaError, SemcomError
from semcom_bench.schemas.tables import (
    MADE_BY,
    SCHEMA_VERSION,
    TABLE_KEY,
    VERSION_KEY,
    conform_table,
    table_schema,
    to_table,
)


def _temp_path(path: Path) -> Path:
    """A fresh temp-file name beside ``path`` that no reader or ``*.parquet``/``*.json`` glob picks up."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(file)`` on a temp file beside ``path`` and move it onto ``path`` only once it is complete.

    On any exception the temp file is removed and a previous ``path`` stays as it was. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(path)
    try:
        # O_EXCL: never write into a file another writer owns; mode 0o666 lets the umask decide, like open().
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable: the directory entry lives in the folder's own metadata."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(obj: Any, path: str | Path) -> Path:
    """Atomically write ``obj`` as indented UTF-8 JSON; paths become strings, anything else non-JSON raises."""

    def default(value: Any) -> str:
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        raise TypeError(f"{type(value).__name__} is not JSON serializable")

    try:
        text = json.dumps(obj, indent=2, sort_keys=True, default=default, allow_nan=False) + "\n"
    except (TypeError, ValueError) as err:
        raise SchemaError(
            f"cannot write {path} as JSON: {err}", hint="pass plain dicts, lists, str, int, float, bool and None"
        ) from None
    return atomic_write(path, lambda file: file.write(text.encode("utf-8")))


def write_table(table_name: str, data: pa.Table | Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Validate ``data`` (a table or row dicts) as table ``table_name`` and write it atomically as Parquet."""
    table = conform_table(table_name, data) if isinstance(data, pa.Table) else to_table(table_name, data)
    return atomic_write(path, lambda file: pq.write_table(table, file, compression="zstd"))


def _remake_hint(table_name: str) -> str:
    return f"re-create it with `{MADE_BY[table_name]}`"


def read_schema(path: str | Path, table_name: str) -> pa.Schema:
    """Check the Parquet footer of ``path`` against table ``table_name`` and return the expected schema.

    Reads no data pages. Raises :class:`SemcomError` when the file is missing, :class:`CorruptFileError` when it is
    not valid Parquet, and :class:`SchemaError` when it holds another table, another schema version or other columns.
    """
    expected = table_schema(table_name)
    path = Path(path)
    if not path.is_file():
        raise SemcomError(
            f"{path} does not exist: the label set has no {table_name!r} table",
            hint=f"the table is made by `{MADE_BY[table_name]}`",
        )
    try:
        found = pq.read_schema(path)
    except (pa.ArrowException, OSError) as err:
        raise CorruptFileError(
            f"{path} is not a valid Parquet file ({err})",
            hint=f"it was cut short or damaged; {_remake_hint(table_name)}",
        ) from None
    metadata = found.metadata or {}
    if metadata.get(TABLE_KEY) is None:
        raise SchemaError(
            f"{path} was not written by semcom-bench (its metadata names no table)",
            hint=f"write label-set tables with semcom_bench.schemas.write_table, or {_remake_hint(table_name)}",
        )
    if metadata[TABLE_KEY].decode() != table_name:
        raise SchemaError(
            f"{path} holds table {metadata[TABLE_KEY].decode()!r}, expected {table_name!r}",
            hint=f"rename the file or {_remake_hint(table_name)}",
        )
    version = metadata.get(VERSION_KEY, b"?").decode()
    if version != str(SCHEMA_VERSION):
        raise SchemaError(version_mismatch(str(path), version), hint=version_hint(version, table_name))
    problems = _field_differences(expected, found)
    if problems:
        raise SchemaError(
            f"{path} does not match table {table_name!r}: {'; '.join(problems)}", hint=_remake_hint(table_name)
        )
    return expected


def version_mismatch(what: str, version: str) -> str:
    """The message for ``what`` written under schema ``version`` while this toolkit reads :data:`SCHEMA_VERSION`."""
    return (
        f"{what} was written with label-set schema version {version}; "
        f"this toolkit (semcom-bench {__version__}) reads schema version {SCHEMA_VERSION}"
    )


def version_hint(version: str, table_name: str | None = None) -> str:
    """What to do about a schema-version mismatch: upgrade the toolkit or re-create the data."""
    if version.isdigit() and int(version) > SCHEMA_VERSION:
        return "upgrade semcom-bench to a release that reads this version"
    remake = f"`{MADE_BY[table_name]}`" if table_name else "the command that made it"
    return f"re-create it with this toolkit ({remake}), or read it with the semcom-bench release that wrote it"


def _field_differences(expected: pa.Schema, found: pa.Schema) -> list[str]:
    problems: list[str] = []
    missing = [n for n in expected.names if n not in found.names]
    extra = [n for n in found.names if n not in expected.names]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if extra:
        problems.append(f"unknown column(s) {', '.join(extra)}")
    for field in expected:
        if field.name in found.names:
            other = found.field(field.name)
            # DataType equality ignores list item names (Parquet renames "item" to "element") but not nullability.
            if not other.type.equals(field.type) or other.nullable != field.nullable:
                problems.append(f"column {field.name} is {_describe(other)}, expected {_describe(field)}")
    return problems


def _describe(field: pa.Field) -> str:
    return f"{field.type}{'' if field.nullable else ' not null'}"


def read_table(path: str | Path, table_name: str) -> pa.Table:
    """Read table ``table_name`` from the Parquet file ``path`` after :func:`read_schema`'s checks.

    The result carries the toolkit's schema (column docs and metadata included).
    """
    expected = read_schema(path, table_name)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise CorruptFileError(
            f"{path} cannot be read as Parquet ({err})", hint=f"it is damaged; {_remake_hint(table_name)}"
        ) from None
    return pa.Table.from_arrays([table[name] for name in expected.names], schema=expected)
