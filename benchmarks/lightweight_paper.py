"""The lightweight low-SNR JSCC paper (Ren et al.) on synthcity: Table II and Figs. 3, 4 and 6, small and on a CPU.

    nice python benchmarks/lightweight_paper.py --out runs/lightweight-paper --threads 1 2>&1 | tee runs/lw.log

Generates synthcity (``--n`` training and ``--n-val`` held-out images at ``--size``), labels both splits, and runs
Algorithm 1 with the smoke profile's ``lightweight`` model (k/n = 2/3, small hidden widths, 25 dB slow Rayleigh):
one sparse-training run (``--steps``, L1 on the BN scales) into ``runs/sparse``, then for every ``--gammas`` ratio
``--rounds`` pruning rounds of ``--finetune-steps`` MSE-only fine-tuning each into ``runs/gamma-<g>`` (gamma = 0
prunes nothing and is fine-tuned alike, so every model has the same training). For Fig. 6 it trains an unpruned
model from scratch with the latent width (hence bandwidth and parameter count) of the gamma = 0.5 model, for the
same total steps. Every model is evaluated on the held-out split over slow Rayleigh (one gain per image) at ``--snr``
with paired draws, the 32-bit power header priced by the harness (5G LDPC + QAM), plus the separation baseline
(HEVC + 5G LDPC + QAM, best of the harness's grid per SNR) at the CBR of the unpruned and of the gamma = 0.5 model.
It prints

1. Table II: parameters, size (float32 MiB), MACs per image, PSNR and SSIM per gamma at 25 dB (analog);
2. Fig. 3: PSNR / SSIM against SNR per gamma (analog) and the separation baseline, and the SNR where the unpruned
   and the gamma = 0.5 models cross the baseline at their own CBR (linear between SNR points);
3. Fig. 4: the gamma = 0.7 model with analog, 4-, 16-, 64- and 256-QAM against SNR;
4. Fig. 6: the pruned gamma = 0.5 model against the unpruned narrow model of the same width, against SNR.

Every stage resumes from ``--out`` (checkpoints per run folder; the results table keeps its rows).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from semcom_bench.benchmark.evaluate import EvalSpec, checkpoint_file, evaluate, file_identity, separation_specs
from semcom_bench.benchmark.report import crossing, summarize
from semcom_bench.benchmark.train import load_checkpoint, load_profile, prune_and_finetune, train
from semcom_bench.datasets.imageio import parse_size
from semcom_bench.demo import synthcity_label_sets
from semcom_bench.schemes.lightweight import MODULATIONS

TASK = "vehicle-following"
GAMMAS = [0.0, 0.2, 0.5, 0.7, 0.9]


def _table(title: str, rows: dict[str, dict[float, dict[str, Any]]], snrs: list[float]) -> None:
    """One row per curve, PSNR / SSIM per SNR."""
    print(f"\n{title}: pooled PSNR (dB) / mean SSIM per SNR")
    print(f"{'curve':<34} {'CBR':>7} " + " ".join(f"{f'{s:g} dB':>13}" for s in snrs))
    for name, by_snr in rows.items():
        cbr = next(iter(by_snr.values()))["cbr"] if by_snr else float("nan")
        cells = [f"{by_snr[s]['psnr']:5.2f} / {by_snr[s]['ssim']:.3f}" if s in by_snr else "-" for s in snrs]
        print(f"{name:<34} {cbr:7.4f} " + " ".join(f"{c:>13}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="working folder (resumable)")
    parser.add_argument("--n", type=int, default=64, help="training images")
    parser.add_argument("--n-val", type=int, default=8, help="held-out evaluation images")
    parser.add_argument("--size", type=parse_size, default=(64, 128), help="HxW (multiples of 16)")
    parser.add_argument("--steps", type=int, default=None, help="sparse-training steps (smoke profile's if omitted)")
    parser.add_argument("--finetune-steps", type=int, default=None, help="fine-tuning steps per pruning round")
    parser.add_argument("--rounds", type=int, default=None, help="pruning rounds (Algorithm 1's E_pruning)")
    parser.add_argument("--l1", type=float, default=None, help="eq. 12's lambda (smoke profile's if omitted; paper 1e-5)")
    parser.add_argument("--gammas", type=float, nargs="+", default=GAMMAS, help="pruning ratios (Table II)")
    parser.add_argument("--snr", type=float, nargs="+", default=[0.0, 5.0, 10.0, 15.0, 20.0, 25.0],
                        help="evaluation SNRs (dB); 25 is Table II's")
    parser.add_argument("--no-separation", action="store_true", help="skip the HEVC + LDPC + QAM baseline")
    parser.add_argument("--seed", type=int, default=7, help="synthcity seed (the held-out split uses seed + 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()

    sets = synthcity_label_sets(args.out, args.n, args.n_val, args.seed, args.size, TASK)
    labels = {split: sets["heuristic", split] for split in ("train", "val")}
    print(f"data: {time.perf_counter() - started:.0f} s", flush=True)

    settings = load_profile("smoke", "lightweight")
    for name, value in (("steps", args.steps), ("finetune_steps", args.finetune_steps), ("prune_rounds", args.rounds)):
        if value is not None:
            setattr(settings, name, value)
    if args.l1 is not None:
        settings.hparams["l1"] = args.l1
    runs = args.out / "runs"
    start = time.perf_counter()
    sparse = train("lightweight", labels["train"], runs / "sparse", settings, "smoke")
    print(f"sparse training: {settings.steps} steps, {time.perf_counter() - start:.0f} s this run", flush=True)
    scales = torch.cat([bn.weight.detach().abs() for bn in load_checkpoint(sparse)[0].batch_norms()])
    print("sparse model's |BN scale| quantiles 10/50/90 %: "
          + ", ".join(f"{float(q):.3g}" for q in torch.quantile(scales, torch.tensor([0.1, 0.5, 0.9])))
          + f"; {float((scales < 1e-2).float().mean()):.0%} below 0.01", flush=True)
    models: dict[str, Path] = {}
    for gamma in args.gammas:
        start = time.perf_counter()
        models[f"gamma={gamma:g}"] = prune_and_finetune(sparse, labels["train"], runs / f"gamma-{gamma:g}", gamma,
                                                        settings, "smoke")
        print(f"gamma {gamma:g}: {settings.prune_rounds} rounds x {settings.finetune_steps} steps, "
              f"{time.perf_counter() - start:.0f} s this run", flush=True)
    narrow_name = None
    if 0.5 in args.gammas:  # Fig. 6: the gamma = 0.5 model's widths, trained unpruned from scratch
        pruned, _ = load_checkpoint(models["gamma=0.5"])
        narrow = load_profile("smoke", "lightweight")
        narrow.steps = settings.steps + settings.prune_rounds * settings.finetune_steps
        narrow.hparams = {**pruned.hparams(), "l1": 0.0}
        narrow_name = f"unpruned k/n={pruned.cbr:.3g}"
        start = time.perf_counter()
        models[narrow_name] = train("lightweight", labels["train"], runs / "narrow", narrow, "smoke")
        print(f"{narrow_name}: {narrow.steps} steps, {time.perf_counter() - start:.0f} s this run", flush=True)

    names = {file_identity(checkpoint_file(path)): name for name, path in models.items()}
    specs = [EvalSpec("lightweight", [], str(path), modulation="analog") for path in models.values()]
    if "gamma=0.7" in models:
        specs += [EvalSpec("lightweight", [], str(models["gamma=0.7"]), modulation=m) for m in MODULATIONS[1:]]
    cbrs = {name: load_checkpoint(path)[0].cbr for name, path in models.items()}
    separation_cbrs = sorted({cbrs[n] for n in ("gamma=0", "gamma=0.5") if n in cbrs})
    if not args.no_separation:
        specs += [spec for cbr in separation_cbrs for spec in separation_specs(cbr)]
    start = time.perf_counter()
    results = evaluate(specs, labels["val"], args.snr, args.out / "results.parquet", channel="rayleigh",
                       device="cpu")
    print(f"evaluate: {time.perf_counter() - start:.0f} s", flush=True)
    summary = [e for e in summarize(results) if e["channel"] == "rayleigh" and e["side_rule"] == "ldpc"
               and e["snr_db"] in args.snr]

    def curve(name: str, modulation: str = "analog") -> dict[float, dict[str, Any]]:
        return {e["snr_db"]: e for e in summary if e["scheme"] == "lightweight" and names.get(e["model"]) == name
                and e["config"].endswith(f"; {modulation}")}

    def separation(cbr: float) -> dict[float, dict[str, Any]]:
        return {e["snr_db"]: e for e in summary if e["scheme"] == "separation (best)" and abs(e["rate"] - cbr) < 1e-9}

    h, w = args.size
    print(f"\n{args.n} training / {args.n_val} held-out synthcity images at {h}x{w}; sparse {settings.steps} steps "
          f"(l1 {settings.hparams['l1']:g}), {settings.prune_rounds} pruning rounds x {settings.finetune_steps} "
          f"fine-tuning steps; trained at {settings.snr_train:g} dB slow Rayleigh, evaluated on slow Rayleigh")
    table_snr = 25.0 if 25.0 in args.snr else max(args.snr)
    print(f"\nTable II (analog, {table_snr:g} dB): MACs per {h}x{w} image, size = float32 parameters")
    print(f"{'model':<24} {'params':>9} {'size MiB':>9} {'MACs M':>9} {'CBR':>7} {'PSNR':>7} {'SSIM':>6}")
    for name in models:
        entry = curve(name).get(table_snr)
        if entry:
            print(f"{name:<24} {entry['params']:>9} {entry['params'] * 4 / 2**20:9.3f} {entry['macs'] / 1e6:9.2f} "
                  f"{entry['cbr']:7.4f} {entry['psnr']:7.2f} {entry['ssim']:6.3f}")
    for cbr in separation_cbrs:
        entry = separation(cbr).get(table_snr)
        if entry:
            print(f"{'separation ' + entry['config'].removeprefix('best: '):<24} {'-':>9} {'-':>9} {'-':>9} "
                  f"{entry['cbr']:7.4f} {entry['psnr']:7.2f} {entry['ssim']:6.3f}")

    fig3 = {f"{n} analog": curve(n) for n in models if n.startswith("gamma=")}
    fig3.update({f"separation (best) at CBR {cbr:.3g}": separation(cbr) for cbr in separation_cbrs})
    _table("Fig. 3 (slow Rayleigh)", fig3, args.snr)
    for name in ("gamma=0", "gamma=0.5"):
        if name in cbrs and separation(cbrs[name]):
            for metric in ("psnr", "ssim"):
                ours = {s: e[metric] for s, e in curve(name).items()}
                theirs = {s: e[metric] for s, e in separation(cbrs[name]).items()}
                cross = crossing(ours, theirs)
                print(f"{name} vs separation at CBR {cbrs[name]:.3g}, {metric}: "
                      + (f"JSCC better below {cross:.1f} dB" if cross is not None else "no crossing in the SNR range"))
    if "gamma=0.7" in models:
        _table("Fig. 4 (gamma = 0.7)", {f"gamma=0.7 {m}": curve("gamma=0.7", m) for m in MODULATIONS}, args.snr)
    if narrow_name is not None:
        _table("Fig. 6 (same parameter count)", {"pruned gamma=0.5": curve("gamma=0.5"),
                                                 narrow_name: curve(narrow_name)}, args.snr)
        print("parameters: " + ", ".join(f"{n} {next(iter(curve(n).values()))['params']}"
                                         for n in ("gamma=0.5", narrow_name) if curve(n)))
    print(f"\ntotal: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
