"""DLM (learnable constellation) against the same encoder with fixed Gray QAM of the same order, on synthcity.

    nice python benchmarks/dlm_vs_qam.py --out runs/dlm-vs-qam --threads 1 2>&1 | tee runs/dlm-vs-qam.log

Generates synthcity (``--n`` training and ``--n-val`` held-out images at ``--size``), labels both splits, and for
every order of ``--order`` trains the smoke profile's ``dlm`` model twice for ``--steps`` steps, with
``constellation: learned`` (APSK-initialised codebook) and ``constellation: qam`` (fixed Gray M-QAM), the same
encoder, seed (``--train-seed``), batches and two-stage schedule (soft for the first ``--hard-from`` steps, default half, then
straight-through), on AWGN at ``--snr-train``; with ``--analog``, also Deep JSCC with the same encoder and no
modulation (the analog reference the DLM abstract compares with). Every model is evaluated on the held-out split over
AWGN at ``--snr`` with paired channel draws, the 16-bit power header priced by the harness (``--side-rule``).

It prints, per order and SNR: the CBR (payload + priced header), the pooled PSNR of each model and learned minus qam;
then, per order, how each codebook is used on the held-out images (entropy of the sent indices in bits, of log2 M)
and how far the learned points moved from APSK.

Every stage resumes from ``--out`` (checkpoints per run folder, named by order, steps and switch step; the results
table keeps its rows), so an interrupted run continues and a re-run evaluates nothing twice.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import torch

from semcom_bench.benchmark.data import BenchmarkData
from semcom_bench.benchmark.evaluate import EvalSpec, checkpoint_file, evaluate, file_identity
from semcom_bench.benchmark.report import summarize
from semcom_bench.benchmark.train import load_checkpoint, load_profile, train
from semcom_bench.datasets.imageio import parse_size
from semcom_bench.demo import synthcity_label_sets
from semcom_bench.phy.constellation import apsk_points

TASK = "vehicle-following"
KINDS = ("learned", "qam")


def _usage_entropy(checkpoint: Path, labels: Path) -> float:
    """Entropy (bits) of the indices a DLM checkpoint sends for the images of ``labels``."""
    model, _ = load_checkpoint(checkpoint, "dlm")
    model.eval()
    data = BenchmarkData(labels)
    with torch.no_grad():
        indices = model.constellation.assign(model.features(data.batch(list(range(len(data))))))
    p = torch.bincount(indices.flatten(), minlength=model.order).double() / indices.numel()
    return float(-(p[p > 0] * p[p > 0].log2()).sum())


def _moved(checkpoint: Path) -> float:
    """Mean distance of a learned codebook's points from their APSK start (unit-power scale)."""
    model, _ = load_checkpoint(checkpoint, "dlm")
    start = apsk_points(model.constellation.rings)
    return float((model.constellation.points.detach() - start).abs().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="working folder (resumable)")
    parser.add_argument("--n", type=int, default=128, help="training images")
    parser.add_argument("--n-val", type=int, default=8, help="held-out evaluation images")
    parser.add_argument("--size", type=parse_size, default=(64, 128), help="HxW (multiples of 4)")
    parser.add_argument("--steps", type=int, default=1000, help="training steps of every model")
    parser.add_argument("--hard-from", type=int, default=None, help="first straight-through step (default: half)")
    parser.add_argument("--order", type=int, nargs="+", default=[16], help="constellation orders M")
    parser.add_argument("--snr-train", type=float, default=None, help="training SNR (default: the profile's)")
    parser.add_argument("--snr", type=float, nargs="+", default=[-3.0, 0.0, 3.0, 10.0], help="evaluation SNRs (dB)")
    parser.add_argument("--analog", action="store_true", help="also Deep JSCC with the same encoder (analog)")
    parser.add_argument("--side-rule", default="ldpc", help="side-information pricing (ldpc or capacity)")
    parser.add_argument("--seed", type=int, default=7, help="synthcity seed (the held-out split uses seed + 1)")
    parser.add_argument("--train-seed", type=int, default=None,
                        help="weights and batches seed of every model (default: the profile's)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--device", default="cpu", help="training and evaluation device (auto, cpu, cuda)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    hard_from = args.steps // 2 if args.hard_from is None else args.hard_from
    seeded = "" if args.train_seed is None else f"-seed{args.train_seed}"
    started = time.perf_counter()

    sets = synthcity_label_sets(args.out, args.n, args.n_val, args.seed, args.size, TASK)
    labels = {split: sets["heuristic", split] for split in ("train", "val")}
    print(f"data: {time.perf_counter() - started:.0f} s", flush=True)

    runs: list[tuple[str, dict[str, Any], str, Path]] = []  # (scheme, hparams overrides, name, folder)
    for order in args.order:
        for kind in KINDS:
            runs.append(("dlm", {"order": order, "constellation": kind, "hard_from": hard_from}, f"{kind} M={order}",
                         args.out / "runs" / f"dlm-{kind}-M{order}-s{args.steps}-h{hard_from}{seeded}"))
    if args.analog:
        runs.append(("deepjscc", {}, "analog", args.out / "runs" / f"deepjscc-s{args.steps}{seeded}"))
    specs, names, checkpoints = [], {}, {}
    for scheme, overrides, name, folder in runs:
        settings = load_profile("smoke", scheme)
        settings.steps, settings.device = args.steps, args.device
        settings.hparams.update(overrides)
        if args.snr_train is not None:
            settings.snr_train = args.snr_train
        if args.train_seed is not None:
            settings.seed = args.train_seed
        start = time.perf_counter()
        checkpoint = train(scheme, labels["train"], folder, settings, "smoke")
        print(f"train {name}: {args.steps} steps, {time.perf_counter() - start:.0f} s this run -> {checkpoint}",
              flush=True)
        names[file_identity(checkpoint_file(checkpoint))] = name  # results name a model by its content hash
        checkpoints[name] = checkpoint
        specs.append(EvalSpec(scheme, [], str(checkpoint)))
    start = time.perf_counter()
    results = evaluate(specs, labels["val"], args.snr, args.out / "results.parquet", side_rule=args.side_rule,
                       device=args.device)
    print(f"evaluate: {time.perf_counter() - start:.0f} s", flush=True)
    summary = {(names[e["model"]], e["snr_db"]): e for e in summarize(results)
               if e["model"] in names and e["side_rule"] == args.side_rule and e["channel"] == "awgn"}

    h, w = args.size
    snr_train = args.snr_train if args.snr_train is not None else load_profile("smoke", "dlm").snr_train
    print(f"\n{args.n} training / {args.n_val} held-out synthcity images at {h}x{w}, {args.steps} steps per model "
          f"(soft assignment for {hard_from}, then straight-through), AWGN trained at {snr_train:g} dB, header priced "
          f"by {args.side_rule!r}; pooled PSNR (dB)")
    analog = " analog" if args.analog else ""
    print(f"{'M':>4} {'SNR dB':>7} {'CBR':>7} {'learned':>8} {'qam':>8} {'l - q':>7}{analog:>8}")
    for order in args.order:
        for snr in args.snr:
            learned, qam = summary.get((f"learned M={order}", snr)), summary.get((f"qam M={order}", snr))
            if learned is None or qam is None:
                continue
            cells = f"{order:>4} {snr:7g} {learned['cbr']:7.4f} {learned['psnr']:8.2f} {qam['psnr']:8.2f} " \
                    f"{learned['psnr'] - qam['psnr']:+7.2f}"
            if args.analog and ("analog", snr) in summary:
                cells += f" {summary[('analog', snr)]['psnr']:7.2f}"
            print(cells)
    print("\nheld-out index entropy (bits, of log2 M) and the learned points' mean move from APSK (unit power)")
    for order in args.order:
        entropies = {kind: _usage_entropy(checkpoints[f"{kind} M={order}"], labels["val"]) for kind in KINDS}
        print(f"M={order}: learned {entropies['learned']:.2f}, qam {entropies['qam']:.2f} of {math.log2(order):g}; "
              f"moved {_moved(checkpoints[f'learned M={order}']):.3f}")
    print(f"\ntotal: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
