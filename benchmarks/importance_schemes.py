"""Issue 11's measurement: the importance-aware schemes against NTSCC and Deep JSCC on synthcity after equal steps.

    nice python benchmarks/importance_schemes.py --out runs/importance --steps 3000 --jobs 2 2>&1 | tee log

Generates synthcity (``--n`` training and ``--n-val`` held-out images at ``--size``) and labels both splits twice: with
the ``heuristic`` labeler (scenario tiers, the reference every metric is scored on) and with the ``static`` labeler
(OOSC's fixed class table). Trains, for ``--steps`` steps each with the ``smoke`` profile's models on AWGN at its
10 dB: ``deepjscc``, ``ntscc``, ``saoosc``, ``saoosc-pred`` and ``inscom`` on the heuristic label set and ``oosc`` on
the static one (``--jobs`` trainings at once, one torch thread each). Evaluates every model on the held-out split at
``--snr`` with paired channel draws and side information priced by the harness (``--side-rule``); the variable-rate
schemes at every ``--etas`` point, OOSC's transmitter reading the static tiers (``EvalSpec.tx_labels``) while its
PSNRs are scored on the heuristic tiers like every other scheme's; then the separation baseline (HEVC + LDPC + QAM,
best over its grid) and the capacity bound at the matched CBRs. Prints

1. per SNR, each scheme's tier-3 PSNR, TC-PSNR and PSNR at matched CBR (Deep JSCC's, and ``--cbr`` points), read off
   each curve linearly between rate points (:func:`~semcom_bench.benchmark.report.at_cbr`; ``n/a`` where a sweep does
   not reach the CBR);
2. InsCom against NTSCC per eta, as InsCom's Fig. 3: channel uses per image (its data volume) and TC-PSNR, and the
   NTSCC channel uses needed for InsCom's TC-PSNR (linear on NTSCC's curve);
3. where each scheme's payload went: its share of channel uses per tier against the tier's share of pixels.

Every stage resumes from ``--out``; a larger ``--steps`` trains on from the checkpoints and evaluates them as new
models (the results table keeps earlier rows; only the current checkpoints are printed).
"""

from __future__ import annotations

import argparse
import math
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from semcom_bench.benchmark.data import BenchmarkData
from semcom_bench.benchmark.evaluate import EvalSpec, checkpoint_file, evaluate, file_identity, separation_specs
from semcom_bench.benchmark.report import at_cbr, summarize
from semcom_bench.datasets.imageio import parse_size
from semcom_bench.demo import synthcity_label_sets
from semcom_bench.schemes.codecs import BudgetTooSmallError

TASK = "vehicle-following"
ETAS = [0.0125, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8]
VARIABLE_RATE = ("ntscc", "saoosc", "saoosc-pred", "oosc", "inscom")
STATIC_LABELS = ("oosc",)  # trained on, and transmitting with, the static labeler's tiers
REFERENCES = ("separation (best)", "capacity")  # evaluated at the matched CBRs


def _train(scheme: str, labels: Path, folder: Path, steps: int) -> tuple[str, Path, float]:
    import torch

    from semcom_bench.benchmark.train import load_profile, train

    torch.set_num_threads(1)  # --jobs processes share the cores
    settings = load_profile("smoke", scheme)
    settings.steps = steps
    start = time.perf_counter()
    checkpoint = train(scheme, labels, folder, settings, "smoke")
    return scheme, checkpoint, time.perf_counter() - start


def _mean_colour_floors(labels: Path) -> tuple[float, float]:
    """PSNR and TC-PSNR (dB) of sending nothing: every pixel, and every mask pixel, as the split's mean colour."""
    data = BenchmarkData(labels)
    pixels = np.concatenate([data[i].image.reshape(-1, 3) for i in range(len(data))]).astype(np.float64)
    masked = np.concatenate([data[i].image[data[i].task_mask] for i in range(len(data))]).astype(np.float64)
    return tuple(10 * math.log10(255**2 / float(((p - p.mean(0)) ** 2).mean())) for p in (pixels, masked))


def _uses_for(points: list[tuple[float, float]], target: float) -> float | None:
    """The channel uses at which a (uses, TC-PSNR) curve reaches ``target`` dB, linear between points."""
    points = sorted(points)
    for (u0, v0), (u1, v1) in pairwise(points):
        if min(v0, v1) <= target <= max(v0, v1) and v0 != v1:
            return u0 + (u1 - u0) * (target - v0) / (v1 - v0)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="working folder (resumable)")
    parser.add_argument("--n", type=int, default=128, help="training images")
    parser.add_argument("--n-val", type=int, default=16, help="held-out evaluation images")
    parser.add_argument("--size", type=parse_size, default=(64, 128), help="HxW (multiples of 64)")
    parser.add_argument("--steps", type=int, default=3000, help="training steps of every model (smoke: 300)")
    parser.add_argument("--etas", type=float, nargs="+", default=ETAS, help="rate points of the variable-rate schemes")
    parser.add_argument("--snr", type=float, nargs="+", default=[10.0, -3.0], help="evaluation SNRs (dB)")
    parser.add_argument("--cbr", type=float, nargs="*", default=[0.0201], help="extra matched CBRs (SA-OOSC's 0.0201)")
    parser.add_argument("--side-rule", default="ldpc", help="side-information pricing (ldpc or capacity)")
    parser.add_argument("--seed", type=int, default=11, help="synthcity seed (the held-out split uses seed + 1)")
    parser.add_argument("--jobs", type=int, default=2, help="trainings run at once")
    parser.add_argument("--train-only", action="store_true", help="stop after training")
    args = parser.parse_args()
    started = time.perf_counter()

    labels = synthcity_label_sets(args.out, args.n, args.n_val, args.seed, args.size, TASK, ("heuristic", "static"))
    print(f"data: {time.perf_counter() - started:.0f} s", flush=True)

    schemes = ["ntscc", "saoosc", "saoosc-pred", "oosc", "inscom", "deepjscc"]
    checkpoints: dict[str, Path] = {}
    with ProcessPoolExecutor(args.jobs) as pool:
        jobs = [pool.submit(_train, s, labels["static" if s in STATIC_LABELS else "heuristic", "train"],
                            args.out / "runs" / s, args.steps) for s in schemes]
        for job in jobs:
            scheme, checkpoint, seconds = job.result()
            checkpoints[scheme] = checkpoint
            print(f"train {scheme}: {args.steps} steps, {seconds:.0f} s this run -> {checkpoint}", flush=True)
    if args.train_only:
        return

    specs, names = [], {}
    for scheme in schemes:
        names[file_identity(checkpoint_file(checkpoints[scheme]))] = scheme
        tx = str(labels["static", "val"]) if scheme in STATIC_LABELS else None
        specs.append(EvalSpec(scheme, list(args.etas) if scheme in VARIABLE_RATE else [], str(checkpoints[scheme]),
                              tx_labels=tx))
    start = time.perf_counter()
    results = evaluate(specs, labels["heuristic", "val"], args.snr, args.out / "results.parquet",
                       side_rule=args.side_rule, device="cpu")
    cbrs = sorted({e["cbr"] for e in summarize(results) if e["model"] in names and names[e["model"]] == "deepjscc"}
                  | set(args.cbr))
    references = [spec for cbr in cbrs for spec in separation_specs(cbr)]
    references += [EvalSpec("capacity", cbrs, options={"codec": "hevc"}, config="hevc at capacity")]
    for spec in references:
        try:
            evaluate([spec], labels["heuristic", "val"], args.snr, results, side_rule=args.side_rule)
        except BudgetTooSmallError as err:  # small images at low CBR: no HEVC stream fits; that point stays n/a
            print(f"{spec.scheme} {spec.config} at CBR {spec.rates[0]:.4f}: {str(err).splitlines()[0]}")
    print(f"evaluate: {time.perf_counter() - start:.0f} s", flush=True)
    summary = [e for e in summarize(results) if (e["model"] in names or e["scheme"] in REFERENCES)
               and e["side_rule"] == args.side_rule and e["channel"] == "awgn" and e["snr_db"] in args.snr]
    for entry in summary:
        entry["scheme"] = names.get(entry["model"], entry["scheme"])
    _print_tables(args, summary, _mean_colour_floors(labels["heuristic", "val"]))
    print(f"\ntotal: {time.perf_counter() - started:.0f} s")


def _print_tables(args: argparse.Namespace, summary: list[dict[str, Any]], floors: tuple[float, float]) -> None:
    h, w = args.size
    print(f"\n{args.n} training / {args.n_val} held-out synthcity images ({TASK}) at {h}x{w}, {args.steps} steps per "
          f"model (smoke models, trained on AWGN at 10 dB), side information priced by {args.side_rule!r}; tiers and "
          "task masks of the heuristic labeler (OOSC's transmitter reads the static labeler's); sending nothing "
          f"(the mean colour) scores PSNR {floors[0]:.2f} dB, TC-PSNR {floors[1]:.2f} dB")
    order = ["deepjscc", "ntscc", "oosc", "saoosc", "saoosc-pred", "inscom", *REFERENCES]
    deepjscc = {e["snr_db"]: e["cbr"] for e in summary if e["scheme"] == "deepjscc"}
    for snr in args.snr:
        for cbr in sorted({deepjscc.get(snr, 0.0), *args.cbr} - {0.0}):
            # (separation's best is one curve per winning configuration: keep the one that reaches this CBR)
            reads = {metric: {r["scheme"]: r["value"] for r in at_cbr(summary, cbr, metric)
                              if r["snr_db"] == snr and r["value"] is not None}
                     for metric in ("psnr_tier3", "tc_psnr", "psnr")}
            print(f"\n{snr:g} dB, CBR {cbr:.4f}: pooled dB (n/a: the curve does not reach this CBR)")
            print(f"{'scheme':<17} {'tier-3 PSNR':>12} {'TC-PSNR':>9} {'PSNR':>7}")
            for scheme in order:
                cells = [reads[m].get(scheme) for m in ("psnr_tier3", "tc_psnr", "psnr")]
                print(f"{scheme:<17} " + " ".join(f"{'n/a' if v is None else format(v, '.2f'):>{width}}"
                                                   for v, width in zip(cells, (12, 9, 7), strict=True)))

    print("\nInsCom vs NTSCC per eta (InsCom Fig. 3): channel uses per image (payload + side) / TC-PSNR dB; "
          "'NTSCC uses for it': NTSCC's uses at InsCom's TC-PSNR")
    for snr in args.snr:
        curve = {s: sorted((e["rate"], e["cbr"] * 3 * h * w, e["tc_psnr"]) for e in summary
                           if e["scheme"] == s and e["snr_db"] == snr) for s in ("ntscc", "inscom")}
        ntscc_points = [(u, v) for _, u, v in curve["ntscc"]]
        print(f"{snr:g} dB\n{'eta':>8} {'NTSCC':>16} {'InsCom':>16} {'NTSCC uses for it':>18} {'ratio':>6}")
        for (eta, n_uses, n_tc), (_, i_uses, i_tc) in zip(curve["ntscc"], curve["inscom"], strict=False):
            need = _uses_for(ntscc_points, i_tc)
            print(f"{eta:8g} {n_uses:9.0f}/{n_tc:6.2f} {i_uses:9.0f}/{i_tc:6.2f} "
                  f"{'n/a' if need is None else format(need, '.0f'):>18} "
                  f"{'n/a' if need is None else format(need / i_uses, '.2f'):>6}")

    print("\nShare of payload channel uses per tier (pixels' share in brackets), at the middle eta, highest SNR")
    mid, top = args.etas[len(args.etas) // 2], max(args.snr)
    for scheme in order:
        entry = next((e for e in summary if e["scheme"] == scheme and e["snr_db"] == top
                      and (e["rate"] == mid or scheme == "deepjscc")), None)
        if entry is None or entry["uses_share_tier0"] is None:
            continue
        shares = [f"t{t} {entry[f'uses_share_tier{t}']:.2f} ({entry[f'pixel_share_tier{t}']:.2f})" for t in range(4)]
        print(f"{scheme:<12} " + "  ".join(shares))


if __name__ == "__main__":
    main()
