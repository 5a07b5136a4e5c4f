"""One side of a submission's link, in a process of its own: ``python -m semcom_bench.leaderboard.worker ROLE ...``.

The checker (:mod:`semcom_bench.leaderboard.check`) runs the transmitter and the receiver in separate processes, so
the receiver can read nothing but the file the checker writes for it: the received symbols, the lengths, the side
information and the channel state. Files are ``torch.save`` documents of plain data and tensors, read back with
``weights_only=True``; a scheme's side information that is anything else cannot cross.

``tx SUBMISSION IN OUT``: IN holds ``{"rates": [...], "cases": {key: {"images", "patch_tiers", "patch_size",
"task_mask"}}}``; OUT gets ``{key: {i: {"symbols", "lengths", "side", "side_bits", "repeatable"} | {"error"}}}`` for
rate ``i``. ``rx SUBMISSION IN OUT``: IN holds ``{key: {i: {"received", "lengths", "side", "snr_db", "noise_var",
"gains"}}}``; OUT gets ``{key: {i: {"images", "repeatable"} | {"error"}}}``. ``repeatable``: a second call on the same
input gave the same output. OUT holds ``{"result": ..., "peak_mib": peak resident memory}``. A failure to build the
scheme exits with status 3 and the reason on stderr.
"""

from __future__ import annotations

import importlib
import resource
import sys
import traceback
from pathlib import Path
from typing import Any

import torch

from semcom_bench.leaderboard.manifest import load_manifest
from semcom_bench.phy.base import ChannelState
from semcom_bench.schemes.base import Scheme, Transmission, TransmitterLabels

BUILD_FAILED = 3


def build(root: Path) -> Scheme:
    """Import the submission's entry point (its folder first on ``sys.path``) and call its factory with the folder."""
    manifest = load_manifest(root)
    sys.path.insert(0, str(manifest.root))
    factory = getattr(importlib.import_module(manifest.module), manifest.factory)
    scheme = factory(manifest.root)
    if not isinstance(scheme, Scheme):
        raise TypeError(f"{manifest.entry_point} returned {type(scheme).__name__}, not a semcom_bench Scheme")
    if isinstance(scheme, torch.nn.Module):
        scheme.eval()
    return scheme


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and bool(torch.equal(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def _error(err: BaseException) -> dict[str, str]:
    return {"error": f"{type(err).__name__}: {err}".splitlines()[0][:500]}


def transmit_all(scheme: Scheme, job: dict[str, Any]) -> dict[str, Any]:
    """Every case at every rate, twice each (:mod:`module docstring <semcom_bench.leaderboard.worker>`)."""
    out: dict[str, Any] = {}
    for key, case in job["cases"].items():
        labels = TransmitterLabels(case["patch_tiers"], case["patch_size"], case["task_mask"])
        out[key] = {}
        for i, rate in enumerate(job["rates"]):
            try:
                with torch.no_grad():
                    runs = [scheme.transmit(case["images"].clone(), rate, labels if scheme.uses_labels else None)
                            for _ in range(2)]
                sent = [{"symbols": tx.symbols, "lengths": tx.lengths, "side": tx.side, "side_bits": tx.side_bits}
                        for tx in runs]
                out[key][i] = {**sent[0], "repeatable": _same(sent[0], sent[1])}
            except Exception as err:  # a size or rate the scheme cannot handle is reported, not fatal
                out[key][i] = _error(err)
    return out


def receive_all(scheme: Scheme, job: dict[str, Any]) -> dict[str, Any]:
    """Every received case, twice each; the receiver's ``Transmission`` holds no symbols, only lengths and side."""
    out: dict[str, Any] = {}
    for key, points in job.items():
        out[key] = {}
        for i, got in points.items():
            state = ChannelState(got["snr_db"], got["noise_var"], got["gains"])
            handed = Transmission(got["received"], got["lengths"], got["side"]).for_receiver()
            try:
                with torch.no_grad():
                    runs = [scheme.receive(got["received"].clone(), handed, state) for _ in range(2)]
                out[key][i] = {"images": runs[0], "repeatable": _same(runs[0], runs[1])}
            except Exception as err:
                out[key][i] = _error(err)
    return out


def main(argv: list[str]) -> int:
    role, root, source, target = argv
    torch.set_num_threads(1)  # the checker's processes share the machine
    try:
        scheme = build(Path(root))
    except BaseException:  # noqa: BLE001 - whatever the submission's import raises is its report
        traceback.print_exc()
        return BUILD_FAILED
    job = torch.load(source, weights_only=True)
    result = transmit_all(scheme, job) if role == "tx" else receive_all(scheme, job)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    torch.save({"result": result, "peak_mib": peak_mib}, target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
