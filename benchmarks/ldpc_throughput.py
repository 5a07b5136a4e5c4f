"""5G LDPC: our fast CPU decoder against Sionna's decoder — error rates, throughput, JIT warm-up.

    python benchmarks/ldpc_throughput.py --sections warmup,throughput --repeats 5
    python benchmarks/ldpc_throughput.py --sections curves --decoders fast,sionna-bp \
        --ebn0 4.4:5.0:0.1 --frames 5000 --out-dir /tmp/ldpc-bench          # ~1.5 h: Sionna on 2 shared cores
    python benchmarks/ldpc_throughput.py --sections curves --decoders fast,sionna-layered-nms \
        --ebn0 4.5:4.8:0.1 --layered-frames 1000 --out-dir /tmp/ldpc-bench  # ~1 h: Sionna's layered is slower still
    python benchmarks/ldpc_throughput.py --sections report --decoders fast,sionna-bp,sionna-layered-nms \
        --out-dir /tmp/ldpc-bench

Defaults: (k, n) = (4096, 6144), 16-QAM, 20 iterations. Every Eb/N0 point is seeded alike, so a point's result
does not depend on which other points a run includes.

Sections (``--sections``, default ``warmup,throughput,curves``):

* ``warmup``: seconds of the first decode in a fresh process, with an empty numba cache (full compilation) and with
  the on-disk cache (what every later run pays). Never part of the throughput numbers.
* ``throughput``: one batch of LLRs at ``--thr-ebn0`` decoded ``--repeats`` times by each decoder, interleaved, in
  this process on the same machine; median information Mbit/s, and the ratio fast / Sionna. The fast decoder is
  timed with early stopping (its normal mode) and with a fixed iteration count (no early stop, like Sionna).
* ``curves``: BER/FER vs Eb/N0 (16-QAM, exact LLRs, AWGN) of the fast decoder, Sionna's default decoder
  (flooding sum-product "boxplus-phi") and Sionna's closest setting to ours (layered schedule, min-sum, c2v messages
  scaled by the same normalization; slow); ``--decoders`` picks. All paired (same seed: same bits and noise).
  The Eb/N0 where each curve crosses FER 1e-1 / 1e-2 and BER 1e-3 / 1e-4 is found by linear interpolation of
  log10(rate) between the two bracketing points; the gap is fast minus Sionna (positive: fast needs more dB).
  Curve files are rewritten after every point in ``--out-dir``;
* ``report``: the crossing/gap table and the plot again from the curve files in ``--out-dir`` (``--decoders``).

Timings on a shared machine are noisy: compare numbers from the same run only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from semcom_bench.phy.ber import ebn0_to_snr_db, simulate
from semcom_bench.phy.channels import AWGN, make_generator
from semcom_bench.phy.cli import parse_range, plot
from semcom_bench.phy.ldpc import LDPC5G
from semcom_bench.phy.qam import QAM

TARGET_RATIO = 10.0
TARGET_GAP_DB = 0.1
CROSSINGS = (("fer", 1e-1), ("fer", 1e-2), ("ber", 1e-3), ("ber", 1e-4))


def crossing(rows: list[dict], key: str, level: float) -> float | None:
    """Eb/N0 where ``key`` first falls below ``level`` (log-linear interpolation), None if not bracketed."""
    pts = sorted((r["ebn0_db"], r[key]) for r in rows)
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if y0 >= level > y1:
            if y1 <= 0:  # no errors at the lower end: the crossing is somewhere in (x0, x1]
                return None
            t = (math.log10(y0) - math.log10(level)) / (math.log10(y0) - math.log10(y1))
            return x0 + t * (x1 - x0)
    return None


def warmup_seconds(k: int, n: int, cache_dir: str | None) -> float:
    """First-decode time of the fast decoder in a fresh interpreter (``cache_dir``: numba cache to use)."""
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    code = f"from semcom_bench.phy.ldpc import LDPC5G; print(LDPC5G({k}, {n}).warmup())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def make_llrs(code: LDPC5G, qam_order: int, ebn0_db: float, frames: int, seed: int) -> torch.Tensor:
    """``(frames, n)`` channel LLRs of random codewords at ``ebn0_db`` (same path as :func:`simulate`)."""
    qam = QAM(qam_order)
    pad = -code.n % qam.bits_per_symbol
    gen = make_generator(seed)
    bits = torch.randint(0, 2, (frames, code.k), generator=gen).float()
    word = torch.nn.functional.pad(code.encode(bits), (0, pad))
    y, state = AWGN()(qam.modulate_bits(word), ebn0_to_snr_db(ebn0_db, code.rate, qam.bits_per_symbol), gen)
    return qam.llr(y, state.noise_var, method="exact")[:, : code.n]


def run_throughput(args: argparse.Namespace) -> None:
    decoders = {
        "fast (early stop)": LDPC5G(args.k, args.n, "fast", args.iterations),
        f"fast ({args.iterations} it, no early stop)": LDPC5G(
            args.k, args.n, "fast", args.iterations, early_stop=False
        ),
        "sionna (boxplus-phi, flooding)": LDPC5G(args.k, args.n, "sionna", args.iterations),
    }
    llr = make_llrs(decoders["fast (early stop)"], args.qam, args.thr_ebn0, args.thr_frames, args.seed)
    for dec in decoders.values():
        dec.warmup()
    rates: dict[str, list[float]] = {name: [] for name in decoders}
    iters: dict[str, float] = {}
    for _ in range(args.repeats):  # interleaved, so load changes hit every decoder alike
        for name, dec in decoders.items():
            start = time.perf_counter()
            out = dec.decode_full(llr)
            rates[name].append(llr.shape[0] * args.k / (time.perf_counter() - start) / 1e6)
            iters[name] = float(out.iterations.float().mean())
    print(
        f"\n## throughput: ({args.k},{args.n}) {args.qam}-QAM, Eb/N0 {args.thr_ebn0} dB, {args.thr_frames} frames x "
        f"{args.repeats} repeats; torch threads {torch.get_num_threads()}, numba threads "
        f"{__import__('numba').get_num_threads()}, {os.cpu_count()} CPUs"
    )
    for name, values in rates.items():
        print(f"  {name:40s} median {statistics.median(values):8.3f} Mbit/s  (min {min(values):.3f}, max "
              f"{max(values):.3f}; mean iterations {iters[name]:.1f})")  # fmt: skip
    ref = statistics.median(rates["sionna (boxplus-phi, flooding)"])
    for name in list(decoders)[:2]:
        ratio = statistics.median(rates[name]) / ref
        verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
        print(f"  ratio {name} / sionna: {ratio:.1f}x  (target >= {TARGET_RATIO:g}x: {verdict})")


def _curve_path(args: argparse.Namespace, name: str) -> Path:
    return args.out_dir / f"ldpc_{args.k}_{args.n}_{name}.json"


def run_curves(args: argparse.Namespace) -> dict[str, list[dict]]:
    points = parse_range(args.ebn0)
    scale = LDPC5G(args.k, args.n).scale
    nms = {"cn_update": "minsum", "cn_schedule": "layered", "c2v_callbacks": [lambda msg, it: msg * scale]}
    configs: dict[str, tuple[dict, int]] = {
        "fast": ({"decoder": "fast"}, args.frames),
        "sionna-bp": ({"decoder": "sionna"}, args.frames),
        "sionna-layered-nms": ({"decoder": "sionna", "sionna_options": nms}, args.layered_frames),
    }
    unknown = set(args.decoders) - configs.keys()
    if unknown:
        raise SystemExit(f"unknown --decoders {sorted(unknown)}; choose from {sorted(configs)}")
    curves: dict[str, list[dict]] = {}
    for name in args.decoders:
        options, frames = configs[name]
        code = LDPC5G(args.k, args.n, iterations=args.iterations, **options)
        curves[name] = []
        for ebn0 in points:  # one point at a time so long runs show progress; each point is seeded alike anyway
            row = simulate(code, args.qam, [ebn0], frames, args.batch, args.seed, min_frame_errors=args.min_errors)[0]
            row = {"code": "ldpc5g", "k": args.k, "n": args.n, "qam": args.qam, "decoder": name,
                   "iterations": args.iterations, **row}  # fmt: skip
            curves[name].append(row)
            print(f"  {name:20s} Eb/N0 {ebn0:5.2f}: BER {row['ber']:.2e} FER {row['fer']:.2e} "
                  f"({row['frame_errors']}/{row['frames']}) it {row['avg_iterations']:.1f} "
                  f"{row['info_mbps']:.3f} Mbit/s", file=sys.stderr, flush=True)  # fmt: skip
            if args.out_dir is not None:  # after every point, so a long run can be stopped and still reported
                args.out_dir.mkdir(parents=True, exist_ok=True)
                _curve_path(args, name).write_text(json.dumps(curves[name], indent=1) + "\n")
            if row["fer"] < args.stop_fer or row["frame_errors"] == 0:  # further points cross no target level
                break
    return curves


def report_curves(args: argparse.Namespace, curves: dict[str, list[dict]]) -> None:
    """Crossing points and gaps of ``curves``; with ``--out-dir`` also the PNG of all curves."""
    print(f"\n## curves: ({args.k},{args.n}) {args.qam}-QAM AWGN, {args.iterations} iterations, "
          f"fast scale {LDPC5G(args.k, args.n).scale}")  # fmt: skip
    for name, rows in curves.items():
        points = ", ".join(f"{r['ebn0_db']:.2f} dB: FER {r['frame_errors']}/{r['frames']}" for r in rows)
        print(f"  {name:20s} {points}")
    print(f"  {'Eb/N0 crossing':30s} " + " ".join(f"{key.upper()}={lvl:g}".rjust(12) for key, lvl in CROSSINGS))
    where = {name: [crossing(rows, key, lvl) for key, lvl in CROSSINGS] for name, rows in curves.items()}
    for name, xs in where.items():
        print(f"  {name:30s} " + " ".join(("-" if x is None else f"{x:.3f} dB").rjust(12) for x in xs))
    for ref in [name for name in curves if name != "fast" and "fast" in curves]:
        gaps = [None if a is None or b is None else a - b for a, b in zip(where["fast"], where[ref])]
        cells = " ".join(("-" if g is None else f"{g:+.3f} dB").rjust(12) for g in gaps)
        print(f"  {'gap fast - ' + ref:30s} {cells}")
    if args.out_dir is not None:
        paths = [_curve_path(args, name) for name in curves]
        plot(paths, out=args.out_dir / f"ldpc_{args.k}_{args.n}.png", title=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=4096)
    parser.add_argument("--n", type=int, default=6144)
    parser.add_argument("--qam", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--sections", default="warmup,throughput,curves")
    parser.add_argument("--thr-ebn0", type=float, default=5.0, help="Eb/N0 of the throughput batch (dB)")
    parser.add_argument("--thr-frames", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ebn0", default="4.4:5.3:0.1", help="curve points START:STOP:STEP (dB)")
    parser.add_argument("--frames", type=int, default=5000, help="most frames per curve point")
    parser.add_argument("--decoders", type=lambda text: text.split(","), default=["fast", "sionna-bp"],
                        help="curves to run: fast, sionna-bp, sionna-layered-nms (slow)")
    parser.add_argument("--layered-frames", type=int, default=1000, help="most frames per point, sionna-layered-nms")
    parser.add_argument("--min-errors", type=int, default=100)
    parser.add_argument("--stop-fer", type=float, default=0.0, help="end a curve after a point below this FER")
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out-dir", type=Path, default=None, help="curve JSON files and PNG (written or reported)")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    if "warmup" in sections:
        with tempfile.TemporaryDirectory() as empty:
            cold = warmup_seconds(args.k, args.n, empty)
        warmup_seconds(args.k, args.n, None)  # fills the on-disk cache if this is the first run
        warm = warmup_seconds(args.k, args.n, None)
        print(f"## JIT warm-up of the fast decoder: {cold:.2f} s compiling (empty numba cache), "
              f"{warm:.2f} s loading the cache (every later process)")  # fmt: skip
    if "throughput" in sections:
        run_throughput(args)
    if "curves" in sections:
        report_curves(args, run_curves(args))
    if "report" in sections:  # curves saved by earlier (possibly interrupted) runs in --out-dir
        curves = {name: json.loads(_curve_path(args, name).read_text()) for name in args.decoders}
        report_curves(args, curves)


if __name__ == "__main__":
    main()
