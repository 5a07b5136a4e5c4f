"""Visual Genome v1.2 adapter: object boxes and ground-truth relationships, no masks and no semantic map.

Memory: ``relationships.json`` (~700 MB) and ``objects.json`` (~400 MB) would take several GB each as parsed Python
objects. Instead each file is scanned once, on first use, with a streaming decoder that keeps only the byte span of
every image's entry (a few MB for all 108k images); :meth:`VisualGenomeAdapter.load` then reads and parses just that
span. ``image_data.json`` (~17 MB) is parsed in ``__init__`` because it lists the images. The first scan of the real
files takes on the order of a minute.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from semcom_bench.datasets.base import DATASETS, DatasetAdapter, Instance, Relation, Sample
from semcom_bench.datasets.imageio import read_rgb, resize_rgb
from semcom_bench.errors import (
    AnnotationMissingError,
    CorruptFileError,
    DatasetLayoutError,
    DatasetNotFoundError,
    ShapeMismatchError,
)

log = logging.getLogger(__name__)

ENV_ROOT = "VISUAL_GENOME_DATASET"
JSON_FILES = ("image_data.json", "objects.json", "relationships.json")
IMAGE_DIRS = ("VG_100K", "VG_100K_2")
DOWNLOAD_HINT = (
    "download Visual Genome version 1.2 from the Visual Genome website (visualgenome.org): image_data.json.zip, "
    "objects.json.zip, relationships.json.zip, images.zip and images2.zip; unzip them all into one folder "
    f"(giving {', '.join(JSON_FILES)}, VG_100K/ and VG_100K_2/) and pass --root DIR or set {ENV_ROOT}"
)
# Annotation size vs. file size: within this relative aspect-ratio difference the file is taken to be a rescaled copy.
ASPECT_TOLERANCE = 0.02
_CHUNK_BYTES = 1 << 24
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _normalise(text: object) -> str:
    """Lower-case, trimmed, single-spaced form of a VG name or predicate ("" for non-strings)."""
    return " ".join(text.split()).lower() if isinstance(text, str) else ""


class _ArrayScanner:
    """Walks the top-level JSON array of a file one entry at a time, reporting each entry's byte span.

    The file is decoded as latin-1, which maps every byte to one character, so string offsets are byte offsets; JSON
    syntax is ASCII, so entries parse correctly (non-ASCII text comes out garbled, which the index never reads).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("rb")
        self._buf = ""
        self._base = 0  # byte offset of _buf[0] in the file
        self._pos = 0
        self._decoder = json.JSONDecoder()

    def close(self) -> None:
        self._file.close()

    def _read_more(self) -> bool:
        chunk = self._file.read(_CHUNK_BYTES)
        if not chunk:
            return False
        self._base += self._pos
        self._buf = self._buf[self._pos :] + chunk.decode("latin-1")
        self._pos = 0
        return True

    def _malformed(self, what: str, offset: int | None = None) -> CorruptFileError:
        where = self._base + self._pos if offset is None else offset
        return CorruptFileError(
            f"{self.path} is not valid JSON: {what} at byte {where}",
            hint=f"the file is truncated or damaged; unzip {self.path.name}.zip again (Visual Genome v1.2)",
        )

    def _peek(self) -> str:
        """Next non-whitespace character without consuming it; "" at end of file."""
        while True:
            self._pos = _WHITESPACE.match(self._buf, self._pos).end()
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._read_more():
                return ""

    def _expect(self, chars: str) -> str:
        char = self._peek()
        if not char or char not in chars:
            raise self._malformed(f"expected one of {chars!r}, found {char or 'end of file'!r}")
        self._pos += 1
        return char

    def _value(self) -> tuple[Any, int, int]:
        self._peek()
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buf, self._pos)
                break
            except json.JSONDecodeError as err:
                if not self._read_more():  # an entry cut by the chunk end parses once the next chunk is in
                    raise self._malformed(err.msg, self._base + err.pos) from None
        start = self._base + self._pos
        self._pos = end
        return value, start, self._base + end

    def entries(self) -> Iterator[tuple[Any, int, int]]:
        """Yield ``(entry, start, end)`` per array entry, decoding one entry at a time (its text may be garbled)."""
        self._expect("[")
        if self._peek() == "]":
            return
        while True:
            yield self._value()
            if self._expect(",]") == "]":
                return


def _index_by_image(path: Path) -> dict[int, tuple[int, int]]:
    """Byte span of each entry of a VG per-image JSON array file, keyed by the entry's ``image_id``."""
    scanner = _ArrayScanner(path)
    index: dict[int, tuple[int, int]] = {}
    try:
        for entry, start, end in scanner.entries():
            image_id = entry.get("image_id") if isinstance(entry, dict) else None
            if not isinstance(image_id, int):
                raise DatasetLayoutError(
                    f"{path}: the entry at byte {start} has no integer image_id; expected Visual Genome v1.2 files",
                    hint=DOWNLOAD_HINT,
                )
            index[image_id] = (start, end)
    finally:
        scanner.close()
    return index
