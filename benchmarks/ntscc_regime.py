"""NTSCC's operating regime on synthcity: PSNR and CBR over eta and lambda, and NTSCC vs Deep JSCC at equal CBR.

    nice python benchmarks/ntscc_regime.py --out runs/ntscc-regime --threads 2 2>&1 | tee runs/ntscc-regime.log

Generates synthcity (``--n`` training and ``--n-val`` held-out images at ``--size``), labels both splits, trains one
NTSCC smoke model per lambda of ``--lmbda`` (the smoke profile's ``ntscc`` model; default: NTSCC's lambda = 16, 64,
256 on a 0-255 MSE, divided by 255**2) into ``runs/ntscc-lmbda-<lambda>`` and Deep JSCC (the smoke profile's, CBR
1/16) into ``runs/deepjscc``, all for ``--steps`` steps on AWGN at the profile's 10 dB; then evaluates every model on
the held-out split over AWGN at ``--snr`` with paired channel draws, NTSCC at every ``--etas`` point, side
information priced by the harness (``--side-rule``, default 5G LDPC + QAM). It prints

1. the eta/lambda table: per SNR, lambda and eta, NTSCC's mean CBR (payload plus priced side information) and pooled
   PSNR; the mean-colour PSNR of the held-out images is printed as the floor;
2. the equal-CBR comparison: per SNR, Deep JSCC's pooled PSNR and each NTSCC model's read off its PSNR-vs-CBR curve at
   Deep JSCC's CBR (:func:`semcom_bench.benchmark.report.at_cbr`, linear between the eta points around it, never
   extrapolated: ``n/a`` where the sweep does not reach it).

Every stage resumes from ``--out`` (checkpoints per run folder; the results table keeps its rows), so an interrupted
run continues; a larger ``--steps`` trains on from the checkpoints and evaluates them as new models.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

from semcom_bench.benchmark.data import BenchmarkData
from semcom_bench.benchmark.evaluate import EvalSpec, checkpoint_file, evaluate, file_identity
from semcom_bench.benchmark.report import at_cbr, summarize
from semcom_bench.benchmark.train import load_profile, train
from semcom_bench.datasets.imageio import parse_size
from semcom_bench.demo import synthcity_label_sets

TASK = "vehicle-following"
ETAS = [0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6]  # channel uses per estimated bit; NTSCC's eta (reals) is twice these


def _mean_colour_psnr(labels: Path) -> float:
    data = BenchmarkData(labels)
    images = data.batch(list(range(len(data))))
    mean = images.mean(dim=(0, 2, 3), keepdim=True)
    return -10 * math.log10(float(((images - mean) ** 2).mean()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="working folder (resumable)")
    parser.add_argument("--n", type=int, default=128, help="training images")
    parser.add_argument("--n-val", type=int, default=8, help="held-out evaluation images")
    parser.add_argument("--size", type=parse_size, default=(64, 128), help="HxW (multiples of 64)")
    parser.add_argument("--steps", type=int, default=1000, help="training steps of every model")
    parser.add_argument("--lmbda", type=float, nargs="+", default=load_profile("smoke", "ntscc").lmbda_sweep,
                        help="lambda sweep (the smoke profile's: NTSCC's 16, 64, 256 / 255**2)")
    parser.add_argument("--etas", type=float, nargs="+", default=ETAS, help="NTSCC rate points (eta)")
    parser.add_argument("--snr", type=float, nargs="+", default=[-3.0, 0.0, 3.0, 10.0], help="evaluation SNRs (dB)")
    parser.add_argument("--side-rule", default="ldpc", help="side-information pricing (ldpc or capacity)")
    parser.add_argument("--seed", type=int, default=7, help="synthcity seed (the held-out split uses seed + 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()

    sets = synthcity_label_sets(args.out, args.n, args.n_val, args.seed, args.size, TASK)
    labels = {split: sets["heuristic", split] for split in ("train", "val")}
    print(f"data: {time.perf_counter() - started:.0f} s", flush=True)

    runs: list[tuple[str, float | None, Path]] = [("deepjscc", None, args.out / "runs" / "deepjscc")]
    runs += [("ntscc", lmbda, args.out / "runs" / f"ntscc-lmbda-{lmbda:.3g}") for lmbda in args.lmbda]
    specs, names = [], {}
    for scheme, lmbda, folder in runs:
        settings = load_profile("smoke", scheme)
        settings.steps = args.steps
        if lmbda is not None:
            settings.hparams["lmbda"] = lmbda
        start = time.perf_counter()
        checkpoint = train(scheme, labels["train"], folder, settings, "smoke")
        name = scheme if lmbda is None else f"ntscc lambda={lmbda:.3g}"
        print(f"train {name}: {args.steps} steps, {time.perf_counter() - start:.0f} s this run -> {checkpoint}",
              flush=True)
        names[file_identity(checkpoint_file(checkpoint))] = name  # results name a model by its content hash
        specs.append(EvalSpec(scheme, [] if lmbda is None else list(args.etas), str(checkpoint)))
    start = time.perf_counter()
    results = evaluate(specs, labels["val"], args.snr, args.out / "results.parquet", side_rule=args.side_rule,
                       device="cpu")
    print(f"evaluate: {time.perf_counter() - start:.0f} s", flush=True)
    summary = [e for e in summarize(results) if e["model"] in names and e["side_rule"] == args.side_rule
               and e["channel"] == "awgn" and e["snr_db"] in args.snr]

    h, w = args.size
    print(f"\n{args.n} training / {args.n_val} held-out synthcity images at {h}x{w}, {args.steps} steps per model, "
          f"AWGN (trained at 10 dB), side information priced by {args.side_rule!r}; held-out mean colour "
          f"{_mean_colour_psnr(labels['val']):.2f} dB")
    ntscc = [e for e in summary if e["scheme"] == "ntscc"]
    lmbdas = sorted({names[e["model"]] for e in ntscc})
    print("\nNTSCC: CBR (payload + side) / pooled PSNR (dB) per eta")
    print(f"{'SNR dB':>7} {'model':<22} " + " ".join(f"{'eta ' + format(eta, 'g'):>15}" for eta in args.etas))
    for snr in args.snr:
        for name in lmbdas:
            cells = []
            for eta in args.etas:
                entry = next((e for e in ntscc if names[e["model"]] == name and e["snr_db"] == snr
                              and e["rate"] == eta), None)
                cells.append(f"{entry['cbr']:.4f}/{entry['psnr']:5.2f}" if entry else f"{'-':>15}")
            print(f"{snr:7g} {name:<22} " + " ".join(f"{c:>15}" for c in cells))
    side = {snr: [e["side_uses"] for e in ntscc if e["snr_db"] == snr] for snr in args.snr}
    print("side information (rate indices) in those CBRs: "
          + ", ".join(f"{snr:g} dB {sum(v) / len(v) / (3 * h * w):.4f}" for snr, v in side.items() if v))

    print("\nEqual CBR: NTSCC read at Deep JSCC's CBR (linear between eta points; n/a: the sweep does not reach it)")
    deepjscc = {e["snr_db"]: e for e in summary if e["scheme"] == "deepjscc"}
    print(f"{'SNR dB':>7} {'CBR':>7} {'Deep JSCC':>10} " + " ".join(f"{n:>22}" for n in lmbdas))
    for snr, ref in sorted(deepjscc.items()):
        read = {names[r["model"]]: r["value"] for r in at_cbr(summary, ref["cbr"])
                if r["scheme"] == "ntscc" and r["snr_db"] == snr}
        cells = [f"{read[n]:.2f} ({read[n] - ref['psnr']:+.2f})" if read.get(n) is not None else "n/a"
                 for n in lmbdas]
        print(f"{snr:7g} {ref['cbr']:7.4f} {ref['psnr']:10.2f} " + " ".join(f"{c:>22}" for c in cells))
    print(f"\ntotal: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
