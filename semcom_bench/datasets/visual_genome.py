"""Visual Genome v1.2 adapter: object boxes and ground-truth relationships, no masks and no semantic map.

Memory: ``relationships.json`` (~700 MB) and ``objects.json`` (~400 MB) would take several GB each as parsed Python
objects (about 6x the file size). Instead each file is scanned once, on first use, with a streaming decoder that keeps
only the byte span of every image's entry (a few MB for all 108k images; the scan itself peaks below 100 MB in 16 MB
chunks); :meth:`VisualGenomeAdapter.load` then reads and parses just that span. The scan runs at roughly 100 MB/s plus
disk time. ``image_data.json`` (~17 MB) is parsed in ``__init__`` because it lists the images.
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


def _read_span(path: Path, span: tuple[int, int], image_id: int) -> Any:
    with path.open("rb") as file:
        file.seek(span[0])
        data = file.read(span[1] - span[0])
    try:
        return json.loads(data)
    except ValueError as err:  # JSONDecodeError, or UnicodeDecodeError for bytes that are not UTF-8
        raise CorruptFileError(
            f"{path}: the entry of image {image_id} is not valid JSON ({err})",
            hint="the file changed after it was indexed; start the run again",
        ) from None


def _instance(entry: dict[str, Any], frame: tuple[int, int], scale: tuple[float, float]) -> Instance | None:
    """The instance of a VG object entry, or ``None`` when it has no name or no pixels inside the image.

    ``frame`` is the annotation's ``(width, height)`` (the box is clipped to it), ``scale`` maps it to the output image.
    """
    # objects.json entries carry "names"; relationship ends mostly carry a single "name".
    names = entry.get("names") or [entry.get("name")]
    class_name = _normalise(names[0])
    x, y, w, h = (float(entry[key]) for key in ("x", "y", "w", "h"))
    x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + w, float(frame[0])), min(y + h, float(frame[1]))
    if not class_name or x1 <= x0 or y1 <= y0:
        return None
    sx, sy = scale
    return Instance(int(entry["object_id"]), class_name, (x0 * sx, y0 * sy, x1 * sx, y1 * sy))


def ground_truth(
    objects: list[dict[str, Any]],
    relationships: list[dict[str, Any]],
    frame: tuple[int, int],
    scale: tuple[float, float] = (1.0, 1.0),
) -> tuple[list[Instance], list[Relation]]:
    """Instances and relations of one image from its ``objects.json`` and ``relationships.json`` entries.

    A relationship end whose ``object_id`` is not among ``objects`` becomes an instance built from the end itself (VG
    leaves such objects out of ``objects.json``). Objects without a name or with no area inside ``frame`` are dropped,
    with every relation that involves them. Exact duplicate relations (VG has many) are kept once.

    Args:
        objects: the ``objects`` list of the image's ``objects.json`` entry.
        relationships: the ``relationships`` list of its ``relationships.json`` entry.
        frame: ``(width, height)`` the annotation was made on (``image_data.json``).
        scale: ``(sx, sy)`` from that frame to the output image.
    """
    instances: dict[int, Instance | None] = {}
    for entry in objects:
        instances.setdefault(int(entry["object_id"]), _instance(entry, frame, scale))
    relations: list[Relation] = []
    for rel in relationships:
        ends = []
        for end in (rel["subject"], rel["object"]):
            object_id = int(end["object_id"])
            if object_id not in instances:
                instances[object_id] = _instance(end, frame, scale)
            ends.append(instances[object_id])
        subject, obj = ends
        predicate = _normalise(rel["predicate"])
        if subject is not None and obj is not None and predicate:
            relations.append(Relation(subject.instance_id, predicate, obj.instance_id))
    kept = [instance for instance in instances.values() if instance is not None]
    return kept, list(dict.fromkeys(relations))


@DATASETS.register("visual-genome")
class VisualGenomeAdapter(DatasetAdapter):
    """Reads Visual Genome v1.2: ``image_data.json``, ``objects.json``, ``relationships.json`` and the images in
    ``VG_100K/{image_id}.jpg`` or ``VG_100K_2/{image_id}.jpg``, all in ``root``.

    Samples carry box-only instances (``instance_id`` = VG ``object_id``, ``class_name`` = the first name, lower-cased
    and trimmed; box clipped to the image) and ground-truth relations (predicate lower-cased and trimmed); ``semantic``
    is ``None``. Image ids are VG ``image_id`` numbers as strings. See the module docstring for memory use.

    A few VG image files differ in size from ``image_data.json``. Boxes are in the ``image_data.json`` frame, so when
    the file has the same aspect ratio (within :data:`ASPECT_TOLERANCE`) the boxes are rescaled to the file and a
    warning is logged; otherwise (e.g. a rotated file) :meth:`load` raises :class:`ShapeMismatchError` and iteration
    skips the image.

    Args:
        root: dataset folder; defaults to the ``VISUAL_GENOME_DATASET`` environment variable.
        split: ``all`` (default; every image of ``image_data.json``, in file order). VG has no official splits: any
            other name reads ``root/splits/{split}.txt``, one image id per line, in that order.
        size: optional ``(H, W)``; the image is resized bilinearly and the boxes scaled with it.
    """

    name = "visual-genome"
    root_hint = DOWNLOAD_HINT

    def __init__(self, root: str | Path | None = None, split: str = "all", size: tuple[int, int] | None = None) -> None:
        super().__init__(split)
        self.root = self._resolve_root(root)
        self.size = size
        missing = [name for name in JSON_FILES if not (self.root / name).is_file()]
        if missing:
            zipped = [f"{name}.zip" for name in missing if (self.root / f"{name}.zip").is_file()]
            hint = (f"unzip {', '.join(zipped)} in {self.root}; otherwise " if zipped else "") + DOWNLOAD_HINT
            error = DatasetNotFoundError if len(missing) == len(JSON_FILES) else DatasetLayoutError
            needed = ", ".join(JSON_FILES)
            raise error(f"{self.root} lacks {', '.join(missing)}; Visual Genome needs {needed}", hint=hint)
        if not any((self.root / folder).is_dir() for folder in IMAGE_DIRS):
            folders = " nor ".join(IMAGE_DIRS)
            raise DatasetLayoutError(f"{self.root} has neither image folder {folders}", hint=DOWNLOAD_HINT)
        self._frames = self._read_image_data()
        self._ids = self._split_ids(split)
        self._spans: dict[str, dict[int, tuple[int, int]]] | None = None

    def _resolve_root(self, root: str | Path | None) -> Path:
        if root is None:
            env = os.environ.get(ENV_ROOT)
            if not env:
                raise DatasetNotFoundError(
                    f"no Visual Genome root given and {ENV_ROOT} is not set", hint=self.root_hint
                )
            root = env
        path = Path(root).expanduser()
        if not path.is_dir():
            raise DatasetNotFoundError(
                f"dataset root {path} does not exist; Visual Genome needs {', '.join(JSON_FILES)} and the "
                f"{' and '.join(IMAGE_DIRS)} image folders there",
                hint=self.root_hint,
            )
        return path

    def _read_image_data(self) -> dict[int, tuple[int, int]]:
        """``image_id -> (width, height)`` of ``image_data.json``, in file order."""
        path = self.root / "image_data.json"
        try:
            entries = json.loads(path.read_bytes())
        except ValueError as err:
            raise CorruptFileError(f"{path} is not valid JSON: {err}", hint=f"unzip {path.name}.zip again") from None
        frames: dict[int, tuple[int, int]] = {}
        try:
            for entry in entries:
                frames[int(entry["image_id"])] = (int(entry["width"]), int(entry["height"]))
        except (KeyError, TypeError, ValueError):
            frames = {}
        if not frames or min(min(frame) for frame in frames.values()) <= 0:
            raise DatasetLayoutError(
                f"{path} is not a non-empty list of {{image_id, width, height, ...}} entries with positive sizes",
                hint=DOWNLOAD_HINT,
            )
        return frames

    def _split_ids(self, split: str) -> list[str]:
        if split == "all":
            return [str(image_id) for image_id in self._frames]
        path = self.root / "splits" / f"{split}.txt"
        if not path.is_file():
            found = ", ".join(["all", *sorted(p.stem for p in (self.root / "splits").glob("*.txt"))])
            raise DatasetLayoutError(
                f"Visual Genome has no official splits and {path} does not exist (splits here: {found})",
                hint=f"pass --split all, or write the image ids of split {split!r} to that file, one per line",
            )
        ids: list[str] = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            text = line.strip()
            if not text:
                continue
            if not text.isdigit() or int(text) not in self._frames:
                raise DatasetLayoutError(
                    f"{path}:{number}: {text!r} is not an image_id of image_data.json",
                    hint="list one Visual Genome image_id per line",
                )
            ids.append(str(int(text)))
        if not ids:
            raise DatasetLayoutError(f"{path} lists no image ids", hint="list one Visual Genome image_id per line")
        return list(dict.fromkeys(ids))

    def ids(self) -> list[str]:
        return list(self._ids)

    def path_of(self, image_id: str) -> Path:
        candidates = [self.root / folder / f"{image_id}.jpg" for folder in IMAGE_DIRS]
        return next((path for path in candidates if path.is_file()), candidates[0])

    def _annotation_index(self) -> dict[str, dict[int, tuple[int, int]]]:
        if self._spans is None:
            self._spans = {name: _index_by_image(self.root / name) for name in ("objects.json", "relationships.json")}
        return self._spans

    def _entry(self, file_name: str, image_id: int) -> dict[str, Any]:
        span = self._annotation_index()[file_name].get(image_id)
        if span is None:
            raise AnnotationMissingError(
                f"image {image_id} is in image_data.json but has no entry in {file_name}",
                hint="the JSON files come from different releases; use all three from Visual Genome v1.2",
            )
        return _read_span(self.root / file_name, span, image_id)

    def __iter__(self) -> Iterator[Sample]:
        # Index before the first load: a damaged objects/relationships file must stop the run once, rather than be
        # recorded as a skip of every image.
        self._annotation_index()
        return super().__iter__()

    def load(self, image_id: str) -> Sample:
        vg_id = int(image_id) if image_id.isdigit() else -1
        if vg_id not in self._frames:
            raise AnnotationMissingError(
                f"image {image_id!r} is not listed in {self.root / 'image_data.json'}",
                hint="image ids are Visual Genome image_id numbers, e.g. 1",
            )
        path = self.path_of(image_id)
        if not path.is_file():
            raise AnnotationMissingError(
                f"image {image_id} is listed in image_data.json but neither "
                f"{' nor '.join(f'{folder}/{image_id}.jpg' for folder in IMAGE_DIRS)} exists under {self.root}",
                hint="extract both images.zip (VG_100K) and images2.zip (VG_100K_2) from Visual Genome v1.2 into root",
            )
        image = read_rgb(path)
        frame = self._frames[vg_id]
        self._check_frame(image_id, image.shape[1], image.shape[0], frame)
        objects_entry = self._entry("objects.json", vg_id)
        relationships_entry = self._entry("relationships.json", vg_id)
        if self.size is not None:
            image = resize_rgb(image, self.size)
        scale = (image.shape[1] / frame[0], image.shape[0] / frame[1])
        try:
            instances, relations = ground_truth(
                objects_entry["objects"], relationships_entry["relationships"], frame, scale
            )
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise DatasetLayoutError(
                f"image {image_id}: its objects.json / relationships.json entry lacks a field or has a wrong type "
                f"({err!r})",
                hint="expected Visual Genome v1.2 files",
            ) from None
        return Sample(image_id, self.name, self.split, path, image, instances, None, relations)

    @staticmethod
    def _check_frame(image_id: str, width: int, height: int, frame: tuple[int, int]) -> None:
        """Accept a file of the annotated size or a rescaled copy of it (with a warning); refuse anything else."""
        if (width, height) == frame:
            return
        sizes = f"the file is {width}x{height} but image_data.json says {frame[0]}x{frame[1]} (width x height)"
        if abs((width / height) / (frame[0] / frame[1]) - 1.0) > ASPECT_TOLERANCE:
            raise ShapeMismatchError(
                f"image {image_id}: {sizes}, a different aspect ratio, so the boxes cannot be mapped onto it",
                hint="the file is not the one annotated (rotated or replaced); re-extract it from images(2).zip",
            )
        log.warning("image %s: %s; boxes rescaled to the file", image_id, sizes)
