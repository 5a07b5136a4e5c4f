"""The call ledger: every ``llm_calls`` row appended to a JSON-lines file the moment it is made.

An answer received just before a crash is cached, and the resumed run gets it back from the cache at $0; its cost is
counted all the same, because the row of the paid call reached the ledger first (flushed to disk) and
:func:`~semcom_bench.annotate.pipeline.finalize` folds the ledger into ``llm_calls`` by ``call_id``.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()  # one for every client: the labeler's and the relation predictor's share a ledger


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Append one ``llm_calls`` row to the ledger ``path`` and flush it to disk."""
    line = json.dumps({**row, "created_at": row["created_at"].isoformat()}) + "\n"
    with _LOCK, path.open("a", encoding="utf-8") as ledger:
        ledger.write(line)
        ledger.flush()
        os.fsync(ledger.fileno())


def read_ledger(path: Path) -> list[dict[str, Any]]:
    """The ``llm_calls`` rows of the ledger ``path`` (``[]`` if there is none); a line torn by a crash is skipped."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            row["created_at"] = datetime.fromisoformat(row["created_at"])
        except (ValueError, KeyError, TypeError):
            continue
        rows.append(row)
    return rows
