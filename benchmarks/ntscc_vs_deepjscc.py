"""NTSCC against Deep JSCC at equal CBR on synthcity: do the papers' orderings show at a given training budget?

    python benchmarks/ntscc_vs_deepjscc.py --out runs/ntscc-vs-deepjscc --steps 3000 --threads 1

Generates synthcity (``--n`` training and ``--n-val`` held-out images), labels both splits, trains Deep JSCC (CBR
1/16) and NTSCC with the ``smoke`` profile's models for ``--steps`` steps each (AWGN, the profile's 10 dB), evaluates
both over AWGN at ``--snr`` with paired channel draws, NTSCC at every ``--etas`` rate point, and prints per SNR:
Deep JSCC's pooled PSNR, NTSCC's read off its PSNR-vs-CBR curve at Deep JSCC's CBR
(:func:`semcom_bench.benchmark.report.at_cbr`, linear between the two eta points around it, never extrapolated),
and the difference. ``benchmarks/ntscc_regime.py`` does the same over a lambda sweep and prints the eta/lambda
table. Every stage resumes from ``--out``; a re-run with a larger ``--steps`` trains on from the
checkpoints and evaluates them as a new configuration (``smoke N steps``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from semcom_bench.benchmark.evaluate import EvalSpec, evaluate
from semcom_bench.benchmark.report import at_cbr, summarize
from semcom_bench.benchmark.train import load_profile, train
from semcom_bench.datasets.imageio import parse_size
from semcom_bench.demo import synthcity_label_sets

TASK = "vehicle-following"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="working folder (resumable)")
    parser.add_argument("--n", type=int, default=256, help="training images")
    parser.add_argument("--n-val", type=int, default=16, help="held-out evaluation images")
    parser.add_argument("--size", type=parse_size, default=(128, 256), help="HxW")
    parser.add_argument("--steps", type=int, default=3000, help="training steps of each scheme")
    parser.add_argument("--etas", type=float, nargs="+", default=[0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6],
                        help="NTSCC rate points (the sweep of benchmarks/ntscc_regime.py: it spans the smoke table)")
    parser.add_argument("--snr", type=float, nargs="+", default=[-3.0, 0.0, 3.0, 10.0], help="evaluation SNRs (dB)")
    parser.add_argument("--seed", type=int, default=7, help="synthcity seed (the held-out split uses seed + 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    sets = synthcity_label_sets(args.out, args.n, args.n_val, args.seed, args.size, TASK)
    labels = {split: sets["heuristic", split] for split in ("train", "val")}
    specs = []
    for scheme, rates in (("deepjscc", []), ("ntscc", args.etas)):
        settings = load_profile("smoke", scheme)
        settings.steps = args.steps
        start = time.perf_counter()
        checkpoint = train(scheme, labels["train"], args.out / "runs" / scheme, settings, "smoke")
        print(f"{scheme}: {args.steps} steps, checkpoint {checkpoint} ({time.perf_counter() - start:.0f} s this run)")
        specs.append(EvalSpec(scheme, rates, str(checkpoint), config=f"smoke {args.steps} steps"))
    results = evaluate(specs, labels["val"], args.snr, args.out / "results.parquet")
    summary = summarize(results)

    deepjscc = {e["snr_db"]: e for e in summary if e["scheme"] == "deepjscc"}
    print(f"\n{args.n} training / {args.n_val} held-out synthcity images at {args.size[0]}x{args.size[1]}, "
          f"{args.steps} steps each, AWGN; NTSCC PSNR read at Deep JSCC's CBR")
    print(f"{'SNR dB':>7} {'CBR':>7} {'Deep JSCC':>10} {'NTSCC':>8} {'NTSCC - DJSCC':>14}  NTSCC's CBR range")
    for snr, ref in sorted(deepjscc.items()):
        ntscc = next(r for r in at_cbr(summary, ref["cbr"]) if r["scheme"] == "ntscc" and r["snr_db"] == snr)
        cbrs = [e["cbr"] for e in summary if e["scheme"] == "ntscc" and e["snr_db"] == snr]
        value = ntscc["value"]
        shown = f"{value:8.2f} {value - ref['psnr']:+14.2f}" if value is not None else f"{'n/a':>8} {'':>14}"
        print(f"{snr:7g} {ref['cbr']:7.4f} {ref['psnr']:10.2f} {shown}  {min(cbrs):.4f}-{max(cbrs):.4f}")


if __name__ == "__main__":
    main()
