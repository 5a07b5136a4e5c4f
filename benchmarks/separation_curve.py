"""PSNR vs SNR of the separation baseline (HEVC-intra (BPG-equivalent) + 5G LDPC + QAM) and of its capacity bound.

    python benchmarks/separation_curve.py --n 4 --size 256x512 --cbr 0.0625 --snr -5 20 1 --out separation_curve.png

On ``--n`` synthcity images generated into a temporary folder, at one channel bandwidth ratio (default 1/16, the
DeepJSCC/NTSCC operating point), over AWGN (or fast Rayleigh with ``--channel rayleigh``):

* the separation baseline for every (code rate, QAM order) of a 5G-like ladder, each source-coded once and received
  at every SNR with the same noise draw (paired, seed ``--seed``), and the best configuration per SNR (as the papers
  report their BPG+LDPC baselines, :func:`semcom_bench.schemes.separation.best_over_grid` does the same);
* the capacity bound (:func:`semcom_bench.schemes.capacity.capacity_bound`), AWGN or ergodic Rayleigh capacity;
* the gap above the cliff: in dB of PSNR (bound minus best separation at each SNR where every image decodes) and in
  dB of SNR (each configuration's threshold, found by bisection to 0.05 dB, minus the SNR at which the bound has the
  same byte budget, hence the same reconstruction);
* median timings per image, and a PNG plot of the curves showing the cliff.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from semcom_bench.datasets import DATASETS
from semcom_bench.datasets.imageio import parse_size
from semcom_bench.datasets.synthcity import generate
from semcom_bench.phy import AWGN, Rayleigh, make_generator
from semcom_bench.phy.base import Channel
from semcom_bench.schemes.base import Transmission
from semcom_bench.schemes.capacity import capacity_bound, shannon_rate
from semcom_bench.schemes.codecs import BudgetTooSmallError, get_codec
from semcom_bench.schemes.separation import (
    LayoutError,
    SeparationScheme,
    channel_uses,
    images_to_uint8,
    plan,
    psnr,
    uint8_to_images,
)

# 5G-like ladder of spectral efficiencies (info bits per channel use): 0.4 .. 6.
GRID = (
    (1 / 5, 4), (1 / 3, 4), (1 / 2, 4), (3 / 4, 4), (1 / 2, 16), (3 / 4, 16), (2 / 3, 64), (3 / 4, 64), (3 / 4, 256),
)


def _label(config: tuple[float, int]) -> str:
    rate, order = config
    return f"{order}-QAM R={rate:.2f}"


def _snr_for_rate(bits_per_use: float, channel: str) -> float:
    """The SNR (dB) at which the capacity equals ``bits_per_use`` (bisection; capacity grows with SNR)."""
    lo, hi = -30.0, 60.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if shannon_rate(mid, channel) < bits_per_use else (lo, mid)
    return hi


class _Link:
    """One configuration: its scheme, its transmission, and receive timings."""

    def __init__(self, scheme: SeparationScheme, tx: Transmission, images: torch.Tensor) -> None:
        self.scheme, self.tx, self.images = scheme, tx, images
        self.receive_s: list[float] = []

    def run(self, channel: Channel, snr: float, seed: int) -> tuple[float, float]:
        """``(mean PSNR, failure rate)`` at ``snr`` with the draw of ``seed``."""
        y, state = channel(self.tx.symbols, snr, make_generator(seed))
        start = time.perf_counter()
        recon = self.scheme.receive(y, self.tx, state)
        self.receive_s.append((time.perf_counter() - start) / len(self.images))
        return float(psnr(self.images, recon).mean()), float(self.scheme.last_failed.float().mean())

    def threshold(self, channel: Channel, fail_snr: float, ok_snr: float, seed: int) -> float:
        """Lowest SNR (to 0.05 dB) at which every image decodes, between a failing and a clean SNR."""
        while ok_snr - fail_snr > 0.05:
            mid = (fail_snr + ok_snr) / 2
            if self.run(channel, mid, seed)[1] == 0.0:
                ok_snr = mid
            else:
                fail_snr = mid
        return ok_snr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=4, help="synthcity images")
    parser.add_argument("--size", default="256x512", help="HxW")
    parser.add_argument("--cbr", type=float, default=1 / 16)
    parser.add_argument("--snr", type=float, nargs=3, default=(-5.0, 20.0, 1.0), metavar=("FROM", "TO", "STEP"))
    parser.add_argument("--channel", choices=("awgn", "rayleigh"), default="awgn", help="rayleigh: fast fading")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("separation_curve.png"))
    args = parser.parse_args()
    size = parse_size(args.size)
    start, stop, step = args.snr
    snrs = [round(start + i * step, 6) for i in range(int(round((stop - start) / step)) + 1)]
    channel: Channel = AWGN() if args.channel == "awgn" else Rayleigh(mode="fast")
    bound_channel = "awgn" if args.channel == "awgn" else "rayleigh-ergodic"  # fast fading: the ergodic capacity

    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp), n=args.n, seed=args.seed, size=size)
        images = uint8_to_images([s.image for s in DATASETS.get("synthcity")(root=tmp, split="train")])
    print(f"{args.n} synthcity images {size[0]}x{size[1]}, CBR {args.cbr:.4f}, {args.channel}, seed {args.seed}")

    codec = get_codec("hevc")
    budget = plan(channel_uses(args.cbr, *size), 1 / 2, 16).byte_budget
    search_s = []
    for array in images_to_uint8(images):  # the source-coding part alone, at the 16-QAM R=1/2 budget
        t0 = time.perf_counter()
        codec.encode_to_budget(array, budget)
        search_s.append(time.perf_counter() - t0)

    links: dict[tuple[float, int], _Link] = {}
    transmit_s = []
    for config in GRID:
        scheme = SeparationScheme("hevc", *config)
        t0 = time.perf_counter()
        try:
            tx = scheme.transmit(images, args.cbr)
        except (BudgetTooSmallError, LayoutError) as exc:
            print(f"  {_label(config)}: infeasible ({str(exc).splitlines()[0]})")
            continue
        transmit_s.append((time.perf_counter() - t0) / args.n)
        links[config] = _Link(scheme, tx, images)

    scores = {c: [link.run(channel, snr, args.seed) for snr in snrs] for c, link in links.items()}
    bound_s, bound = [], []
    for snr in snrs:
        t0 = time.perf_counter()
        result = capacity_bound(images, args.cbr, snr, channel=bound_channel)
        bound_s.append((time.perf_counter() - t0) / args.n)
        bound.append((float(psnr(images, result.images).mean()), float(result.source_bytes.float().mean())))

    print(
        f"\n{'SNR':>6} {'best separation':>18} {'PSNR':>7} {'fail':>5} {'bytes':>7} | "
        f"{'bound PSNR':>10} {'bytes':>7} {'gap':>6}"
    )
    gaps = []
    for i, snr in enumerate(snrs):
        best = max(scores, key=lambda c: scores[c][i][0])
        p, fail = scores[best][i]
        sep_bytes = float(links[best].scheme.last_source_bytes.float().mean()) if fail < 1 else 0.0
        gap = bound[i][0] - p
        if fail == 0.0:
            gaps.append(gap)
        print(
            f"{snr:6.1f} {_label(best) if fail < 1 else '(all fail)':>18} {p:7.2f} {fail:5.2f} "
            f"{sep_bytes:7.0f} | {bound[i][0]:10.2f} {bound[i][1]:7.0f} {gap:6.2f}"
        )

    print(f"\nPSNR gap to the bound above the cliff: median {statistics.median(gaps):.2f} dB, "
          f"range {min(gaps):.2f}..{max(gaps):.2f} dB over {len(gaps)} SNRs")
    print(f"\n{'configuration':>18} {'bits/use':>8} {'budget B':>8} {'threshold':>9} {'bound SNR':>9} {'SNR gap':>7}")
    for config, link in links.items():
        flags = [s[1] for s in scores[config]]
        clean = [i for i, f in enumerate(flags) if f == 0.0]
        if not clean or clean[0] == 0:
            print(f"{_label(config):>18} threshold outside the SNR range")
            continue
        threshold = link.threshold(channel, snrs[clean[0] - 1], snrs[clean[0]], args.seed)
        layout = link.scheme.layout(link.tx.symbols.shape[1])
        bound_snr = _snr_for_rate(8 * layout.byte_budget / layout.channel_uses, bound_channel)
        print(
            f"{_label(config):>18} {config[0] * layout.bits_per_symbol:8.2f} {layout.byte_budget:8d} "
            f"{threshold:9.2f} {bound_snr:9.2f} {threshold - bound_snr:7.2f}"
        )

    median = {
        "budget search (HEVC, 16-QAM R=1/2 budget)": statistics.median(search_s),
        "transmit (search + LDPC + QAM)": statistics.median(transmit_s),
        "receive (LLR + LDPC + decode)": statistics.median(r for link in links.values() for r in link.receive_s),
        "capacity bound": statistics.median(bound_s),
    }
    print("\nmedian time per image: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in median.items()))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for config in links:
        ax.plot(snrs, [s[0] for s in scores[config]], lw=0.8, alpha=0.6, label=_label(config))
    best_curve = [max(scores[c][i][0] for c in scores) for i in range(len(snrs))]
    ax.plot(snrs, best_curve, "k-", lw=2.2, label="separation, best of grid")
    ax.plot(snrs, [b[0] for b in bound], "r--", lw=2.2, label=f"capacity bound ({args.channel})")
    ax.set_xlabel("SNR (Es/N0, dB)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(
        f"HEVC-intra (BPG-equivalent) + 5G LDPC + QAM, CBR {args.cbr:.4f}, synthcity {size[0]}x{size[1]}, n={args.n}"
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()
    fig.savefig(args.out, dpi=130)
    print(f"plot: {args.out}")


if __name__ == "__main__":
    main()
