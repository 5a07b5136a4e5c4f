"""``semcom-bench leaderboard check``: a submission is run as the leaderboard would run it, and every rule it breaks
is reported with what to fix.

The checks, in order (:func:`check_submission`):

1. ``manifest``: ``manifest.json`` follows the schema (:mod:`semcom_bench.leaderboard.manifest`).
2. ``weights``: every weights file exists inside the folder and has the sha256 the manifest gives.
3. ``dependencies``: every listed distribution is installed.
4. ``import``: the entry point imports and its factory returns a ``Scheme`` within the time and memory limits.
5. ``transmitter``, per image size and operating point: it handles the size (one it cannot is reported with its
   error, not crashed on); symbols are ``(B, N)`` complex and finite, zero past each image's ``lengths``; unit average
   power over each image's sent symbols within :data:`POWER_TOLERANCE`; the side information is plain data (tensors,
   numbers, strings and containers of them: it crosses as data); the output repeats for the same input.
6. ``cbr``: payload symbols plus the side bits priced by the harness's rule, at every check SNR, within the CBR the
   operating point claims.
7. ``receiver``, in a process of its own that gets only the received symbols, lengths, side information and channel
   state (the transmitter's process and its files are gone): ``(B, 3, H, W)`` finite output that repeats.

Each process runs under a wall-clock limit and an address-space limit (``timeout_s``, ``memory_mib``); its peak
resident memory is reported. Images are synthcity scenes rendered in memory; the transmitter of a label-reading
scheme gets their vehicles and people as the task mask, and tier 3 on the patches they touch.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from semcom_bench.errors import SemcomError
from semcom_bench.leaderboard.manifest import Manifest, load_manifest, weight_problems

POWER_TOLERANCE = 0.02
"""Allowed relative deviation of an image's mean symbol power from 1."""
CHECK_SIZES = ((128, 256),)
"""Image sizes checked when the manifest names none."""
CHECK_SNRS = (-3.0, 10.0)
"""SNRs (dB) at which the channel uses are counted (side information costs more at low SNR) and symbols received."""
CHECK_IMAGES = 2
PATCH = 16


@dataclass
class Finding:
    """One check's verdict: ``ok``, and a message saying what was found and, when not ok, what to fix."""

    check: str
    ok: bool
    message: str


@dataclass
class CheckReport:
    """Every finding of one submission; ``passed`` when none failed."""

    root: Path
    findings: list[Finding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(f.ok for f in self.findings)

    def add(self, check: str, ok: bool, message: str) -> bool:
        self.findings.append(Finding(check, ok, message))
        return ok


def _check_cases(sizes: tuple[tuple[int, int], ...], seed: int) -> dict[str, dict[str, Any]]:
    """``{"HxW": case}`` with CHECK_IMAGES synthcity scenes per size and their transmitter labels."""
    import numpy as np
    import torch
    from cityscapesscripts.helpers.labels import labels

    from semcom_bench.datasets.synthcity.render import render_scene

    # people and vehicles stand in for a task mask: the check is of mechanics, not of a task's criteria
    task_ids = [label.id for label in labels if label.hasInstances and label.category in ("human", "vehicle")]
    cases = {}
    for h, w in sizes:
        scenes = [render_scene(seed, i, (h, w)) for i in range(CHECK_IMAGES)]
        images = torch.from_numpy(np.stack([s.image for s in scenes])).permute(0, 3, 1, 2).float() / 255
        mask = torch.from_numpy(np.stack([np.isin(s.label_ids, task_ids) for s in scenes]))
        grid = torch.nn.functional.max_pool2d(mask[:, None].float(), PATCH, ceil_mode=True)[:, 0]
        cases[f"{h}x{w}"] = {"images": images.contiguous(), "patch_tiers": (grid > 0).long() * 3,
                             "patch_size": PATCH, "task_mask": mask}
    return cases


def _limits(memory_mib: int) -> Any:
    def apply() -> None:
        import resource

        limit = memory_mib * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def _run(report: CheckReport, role: str, manifest: Manifest, source: Path, target: Path, timeout_s: float,
         memory_mib: int) -> Any:
    """Run one worker; its output document, or ``None`` (with a failed finding) when it did not finish."""
    import torch

    from semcom_bench.leaderboard.worker import BUILD_FAILED

    name = {"tx": "transmitter", "rx": "receiver"}[role]
    try:
        done = subprocess.run([sys.executable, "-m", "semcom_bench.leaderboard.worker", role, str(manifest.root),
                               str(source), str(target)], capture_output=True, text=True, timeout=timeout_s,
                              preexec_fn=_limits(memory_mib), cwd=source.parent)
    except subprocess.TimeoutExpired:
        report.add(name, False, f"the {name} ran past the {timeout_s:g} s limit; make it faster or smaller")
        return None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        what = "could not be built (import or factory failed)" if done.returncode == BUILD_FAILED else "crashed"
        if "MemoryError" in done.stderr or "failed to map segment" in done.stderr or done.returncode == -9:
            what = f"ran out of its {memory_mib} MiB address-space limit"
        report.add("import" if done.returncode == BUILD_FAILED else name, False,
                   f"the {name} process {what}: {tail}; run it locally with "
                   f"`python -m semcom_bench.leaderboard.worker {role} ...` to see the whole traceback")
        return None
    try:
        document = torch.load(target, weights_only=True)
    except Exception as err:  # noqa: BLE001 - an unpicklable object in the side information lands here
        report.add(name, False, f"what the {name} produced cannot be read as plain data ({type(err).__name__}); "
                   "side information must be tensors, numbers, strings and lists/dicts of them")
        return None
    report.add(name, True, f"the {name} process ran and peaked at {document['peak_mib']:.0f} MiB resident")
    return document["result"]


def _check_sent(report: CheckReport, where: str, sent: dict[str, Any], shape: tuple[int, ...]) -> bool:
    """Symbols' type, finiteness, padding, power and repeatability of one transmission."""
    import torch

    symbols, lengths = sent["symbols"], sent["lengths"]
    batch, _, h, w = shape
    if not (isinstance(symbols, torch.Tensor) and symbols.dim() == 2 and symbols.is_complex()
            and symbols.shape[0] == batch):
        return report.add("transmitter", False, f"{where}: symbols must be a ({batch}, N) complex tensor, got "
                          f"{getattr(symbols, 'dtype', type(symbols).__name__)} {tuple(getattr(symbols, 'shape', ()))}")
    if not (isinstance(lengths, torch.Tensor) and lengths.shape == (batch,)
            and bool(((lengths >= 0) & (lengths <= symbols.shape[1])).all())):
        return report.add("transmitter", False, f"{where}: lengths must be ({batch},) ints in 0..N")
    if not bool(torch.isfinite(torch.view_as_real(symbols)).all()):
        return report.add("transmitter", False, f"{where}: symbols hold NaN or inf")
    used = torch.arange(symbols.shape[1])[None] < lengths[:, None]
    if bool((symbols[~used] != 0).any()):
        return report.add("transmitter", False, f"{where}: symbols past lengths[b] are not zero; they would "
                          "cross the channel uncounted: send them within lengths or zero them")
    for b in range(batch):
        n = int(lengths[b])
        if n:
            power = float((symbols[b, :n].abs() ** 2).mean())
            if abs(power - 1) > POWER_TOLERANCE:
                return report.add("transmitter", False, f"{where}: image {b}'s mean symbol power is {power:.4g}, not "
                                  f"1 (tolerance {POWER_TOLERANCE:g}); normalise each image's sent symbols")
    if not sent["repeatable"]:
        return report.add("transmitter", False, f"{where}: two calls on the same images gave different symbols; "
                          "seed any randomness from the input (the leaderboard's pairing needs deterministic schemes)")
    return True


def _check_cbr(report: CheckReport, where: str, sent: dict[str, Any], claimed: float, pixels: int,
               rule: Any) -> bool:
    worst = 0.0
    bits = sent["side_bits"]
    for b, n in enumerate(sent["lengths"].tolist()):
        side = int(bits[b]) if bits is not None else 0
        for snr in CHECK_SNRS:
            worst = max(worst, (n + rule.channel_uses(side, snr)) / pixels)
    if worst > claimed * (1 + 1e-9):
        return report.add("cbr", False, f"{where}: spends CBR {worst:.5g} (payload plus side information priced by "
                          f"the {rule.name!r} rule, worst image and SNR), over the {claimed:.5g} the manifest "
                          "claims; claim more or send less")
    return report.add("cbr", True, f"{where}: CBR at most {worst:.5g} of the {claimed:.5g} claimed")


def check_submission(root: str | Path, side_rule: str = "ldpc", timeout_s: float = 300.0, memory_mib: int = 8192,
                     seed: int = 0) -> CheckReport:
    """Run every check on the submission in ``root`` (module docstring); never raises for the submission's faults."""
    import torch

    from semcom_bench.benchmark.evaluate import pair_seed
    from semcom_bench.benchmark.side_info import SIDE_INFO_RULES
    from semcom_bench.phy import AWGN, make_generator

    report = CheckReport(Path(root))
    try:
        manifest = load_manifest(root)
    except SemcomError as err:
        report.add("manifest", False, str(err))
        return report
    report.add("manifest", True, f"{manifest.name} {manifest.version} by {', '.join(manifest.authors)}")
    problems = weight_problems(manifest)
    report.add("weights", not problems, "; ".join(problems) or f"{len(manifest.weights)} file(s), hashes match")
    missing = []
    for requirement in manifest.dependencies:
        name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    report.add("dependencies", not missing, f"not installed: {', '.join(missing)}; the leaderboard installs only "
               "what the toolkit needs plus declared, installable packages" if missing else "all installed")
    if problems:
        return report  # weights that are not what the manifest says would be run under its name

    rule = SIDE_INFO_RULES.get(side_rule)()
    sizes = manifest.image_sizes or CHECK_SIZES
    cases = _check_cases(sizes, seed)
    rates = [p.rate for p in manifest.operating_points]
    with tempfile.TemporaryDirectory(prefix="semcom-check-tx-") as tx_dir, \
            tempfile.TemporaryDirectory(prefix="semcom-check-rx-") as rx_dir:
        tx_in, tx_out = Path(tx_dir) / "job.pt", Path(tx_dir) / "sent.pt"
        torch.save({"rates": rates, "cases": cases}, tx_in)
        sent = _run(report, "tx", manifest, tx_in, tx_out, timeout_s, memory_mib)
        for path in (tx_in, tx_out):
            path.unlink(missing_ok=True)  # nothing of the transmitter's survives for the receiver to find
        if sent is None:
            return report
        received: dict[str, Any] = {}
        for key, case in cases.items():
            shape = tuple(case["images"].shape)
            errors = [p for p in sent[key].values() if "error" in p]
            if errors:
                report.add("transmitter", False, f"{key} images: not handled ({errors[0]['error']}); "
                           "handle the size or leave it out of image_sizes")
                continue
            for i, point in enumerate(manifest.operating_points):
                where = f"{key} rate {point.rate:g}"
                got = sent[key][i]
                if not (_check_sent(report, where, got, shape)
                        and _check_cbr(report, where, got, point.cbr, 3 * shape[2] * shape[3], rule)):
                    continue
                for snr in CHECK_SNRS:
                    gen = make_generator(pair_seed(seed, f"{key}-{i}", snr))
                    y, state = AWGN()(got["symbols"], snr, gen)
                    received.setdefault(f"{key}@{snr:g}", {})[i] = {
                        "received": y, "lengths": got["lengths"], "side": got["side"], "snr_db": state.snr_db,
                        "noise_var": state.noise_var, "gains": state.gains}
        if not received:
            return report
        rx_in, rx_out = Path(rx_dir) / "job.pt", Path(rx_dir) / "recovered.pt"
        torch.save(received, rx_in)
        recovered = _run(report, "rx", manifest, rx_in, rx_out, timeout_s, memory_mib)
    if recovered is None:
        return report
    for key, points in recovered.items():
        shape = tuple(cases[key.split("@")[0]]["images"].shape)
        for i, out in points.items():
            where = f"{key} dB rate {manifest.operating_points[i].rate:g}"
            images = out.get("images")
            if "error" in out:
                report.add("receiver", False, f"{where}: {out['error']}; the receiver gets only the received "
                           "symbols, lengths, side information and channel state: rebuild from those")
            elif not isinstance(images, torch.Tensor) or tuple(images.shape) != shape:
                report.add("receiver", False, f"{where}: returned {tuple(getattr(images, 'shape', ()))}, not {shape}")
            elif not bool(torch.isfinite(images).all()):
                report.add("receiver", False, f"{where}: the reconstruction holds NaN or inf")
            elif not out["repeatable"]:
                report.add("receiver", False, f"{where}: two calls on the same input gave different images; "
                           "make the receiver deterministic")
    if not any(f.check == "receiver" and not f.ok for f in report.findings):
        report.add("receiver", True, f"{sum(len(p) for p in recovered.values())} receptions, finite and repeatable")
    return report


def summary_line(report: CheckReport) -> str:
    """``"passed"`` or how many checks failed."""
    failed = sum(not f.ok for f in report.findings)
    return "passed every check" if not failed else f"failed {failed} check{'s' if failed > 1 else ''}"

