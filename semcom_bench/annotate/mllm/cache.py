"""The persistent answer cache: one JSON file per request key, written atomically, safe to share between threads.

The key (:func:`request_key`) is the SHA-256 of everything that decides the answer: the messages (which hold the
image bytes sent, as a data URL), the model, the sampling parameters and the answer schema. Only valid answers are
stored, so a re-run with the same inputs sends nothing. A file that cannot be read is a miss and is overwritten by
the next valid answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from semcom_bench.schemas.io import atomic_write

log = logging.getLogger(__name__)


def request_key(model: str, messages: list[dict[str, Any]], params: dict[str, Any], schema: dict[str, Any]) -> str:
    """Hex SHA-256 of the canonical JSON of what is sent (the API key is never part of it)."""
    payload = {"model": model, "messages": messages, "params": params, "schema": schema}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class AnswerCache:
    """Answers by request key under ``folder`` (``<key>.json``); created on the first write."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        """The file that holds (or will hold) the answer of ``key``."""
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored entry of ``key``, or ``None`` when there is none or it cannot be read."""
        path = self.path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            log.warning("ignoring unreadable cache file %s: %s", path, err)
            return None
        return entry if isinstance(entry, dict) and entry.get("key") == key else None

    def put(self, key: str, entry: dict[str, Any]) -> None:
        """Store ``entry`` (JSON-serialisable) under ``key``; readers see the old file or the new one, never half."""
        text = json.dumps({**entry, "key": key}, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        atomic_write(self.path(key), lambda f: f.write(text.encode("utf-8")))
