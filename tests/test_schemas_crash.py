"""The atomic writer under simulated crashes: an exception mid-write and a SIGKILL mid-write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from semcom_bench.schemas import LabelSet, connect, read_table, write_json, write_table

MANIFEST = {"dataset": "synthcity", "split": "val", "config": {}}


def _patches(n: int, source: str) -> list[dict[str, Any]]:
    return [{"image_id": f"img{i}", "patch_size": 16, "grid_h": 2, "grid_w": 2, "importance": [0, 1, 2, 3],
             "source": source} for i in range(n)]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def _temp_bytes(folder: Path) -> int:
    """Bytes in the temp files of ``folder`` (0 if none, or if one vanished while looking)."""
    total = 0
    for name in _leftovers(folder):
        try:
            total += (folder / name).stat().st_size
        except FileNotFoundError:
            pass
    return total


class Crash(Exception):
    """Stands in for whatever stops a writer halfway (disk full, a bug, Ctrl-C)."""


def _write_half_then_crash(table: Any, where: Any, **_: Any) -> None:
    where.write(b"PAR1 half a file")
    raise Crash


@pytest.mark.parametrize("previous", [True, False], ids=["old-version-kept", "no-target-made"])
def test_exception_while_writing_leaves_previous_version_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, previous: bool
) -> None:
    target = tmp_path / "patches.parquet"
    if previous:
        write_table("patches", _patches(3, "old"), target)
    old_bytes = target.read_bytes() if previous else None
    monkeypatch.setattr(pq, "write_table", _write_half_then_crash)
    with pytest.raises(Crash):
        write_table("patches", _patches(50, "new"), target)
    assert _leftovers(tmp_path) == []
    if previous:
        assert target.read_bytes() == old_bytes
        assert [r["source"] for r in read_table(target, "patches").to_pylist()] == ["old"] * 3
    else:
        assert not target.exists()


def test_crash_before_the_rename_keeps_old_table_and_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    labels = LabelSet.create(tmp_path, MANIFEST)
    labels.write("patches", _patches(3, "old"))
    manifest_bytes = (tmp_path / "manifest.json").read_bytes()

    def no_replace(src: Any, dst: Any) -> None:
        raise Crash

    monkeypatch.setattr(os, "replace", no_replace)
    with pytest.raises(Crash):
        labels.write("patches", _patches(5, "new"))
    with pytest.raises(Crash):
        write_json({"dataset": "changed"}, tmp_path / "manifest.json")
    assert _leftovers(tmp_path) == []
    assert (tmp_path / "manifest.json").read_bytes() == manifest_bytes
    assert labels.read("patches").num_rows == 3


# The child writes one version of a large patches table after another until it is killed; each version's rows all
# carry the version number in `source`, so a mix of two versions would show.
WRITER = """
import sys
import numpy as np
import pyarrow as pa
from semcom_bench.schemas import write_table

path, rows, cells = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tiers = np.random.default_rng(0).integers(0, 4, rows * cells, dtype=np.uint8)  # random: no easy compression
importance = pa.ListArray.from_arrays(pa.array(np.arange(0, rows * cells + 1, cells, dtype=np.int32)), tiers)
print("ready", flush=True)
version = 0
while True:
    version += 1
    table = pa.table({
        "image_id": pa.array([f"img{i}" for i in range(rows)]),
        "patch_size": pa.array(np.full(rows, 16, np.int16)),
        "grid_h": pa.array(np.full(rows, 32, np.int16)),
        "grid_w": pa.array(np.full(rows, cells // 32, np.int16)),
        "importance": importance,
        "source": pa.array([f"v{version}"] * rows),
    })
    write_table("patches", table, path)
"""


def test_sigkill_mid_write_leaves_a_whole_version(tmp_path: Path) -> None:
    labels = LabelSet.create(tmp_path, MANIFEST)
    target = labels.table_path("patches")
    labels.write("patches", _patches(10, "old"))
    old_inode = target.stat().st_ino
    rows, cells = 20_000, 32 * 64
    command = [sys.executable, "-c", WRITER, str(target), str(rows), str(cells)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:  # closes the pipe, reaps the child
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
            deadline = time.monotonic() + 120
            # Kill once a new version has replaced the old one and the next is partly on disk: the hardest moment.
            while target.stat().st_ino == old_inode or _temp_bytes(tmp_path) == 0:
                assert time.monotonic() < deadline, "the writer never got partway through a second version"
                assert child.poll() is None, "the writer died on its own"
                time.sleep(0.002)
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
    assert child.returncode == -signal.SIGKILL
    assert _leftovers(tmp_path), "the kill should have left the half-written temp file"

    table = labels.read("patches")
    sources = table.column("source").unique().to_pylist()
    assert len(sources) == 1 and sources != ["old"] and table.num_rows == rows
    # the temp file the kill left behind is invisible to every reader
    assert [p.name for p in tmp_path.glob("*.parquet")] == ["patches.parquet"]
    assert labels.tables() == ["patches"]
    assert connect(tmp_path).sql("SELECT count(*) FROM patches").fetchall() == [(rows,)]
