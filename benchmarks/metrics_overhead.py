"""Metric overhead: time of every image metric per image against a scheme's own evaluation time, and against
pytorch-msssim's SSIM and MS-SSIM plus a torch PSNR on the same images (target: the one pass no slower).

    python benchmarks/metrics_overhead.py --size 256x512 --batch 4 --repeats 7 --threads 1

On ``--batch`` synthcity scenes (rendered in memory), with a task mask (person and rider pixels) and a 16-px patch-tier
grid (3 person/rider, 2 vehicles, 1 traffic lights and signs) per image:

* the scheme's eval time per image: transmit + AWGN channel + receive of one batch (SNR ``--snr``) for each of
  ``--schemes``: Deep JSCC (default (paper) widths, CBR 1/12), NTSCC at eta 1 with the ``smoke`` profile's CNN sizes
  and with the ``paper`` profile's Swin sizes (models untrained: the time does not depend on the weights), and the
  separation baseline (HEVC + 5G LDPC + 16-QAM R=1/2, CBR 1/12) when its codec runs;
* the metric time per image of all metrics (PSNR, SSIM, MS-SSIM, TC-PSNR, per-tier PSNR) on that scheme's
  reconstruction, two ways: one :class:`~semcom_bench.benchmark.QualityMetrics` pass per batch (rounds once, shares
  SSIM's full-resolution pass with MS-SSIM), and the five functions called image by image; plus each function alone.

Scheme and metric timings alternate within each repeat and are medians, so machine load hits both alike; torch runs
on ``--threads`` threads for both. Prints the metric/eval ratio per scheme.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import pytorch_msssim
import torch

from semcom_bench.annotate.patches import pool_any
from semcom_bench.benchmark import (
    QualityMetrics,
    ms_ssim,
    psnr,
    ssim,
    tc_psnr,
    tier_psnr,
)
from semcom_bench.benchmark.train import load_profile
from semcom_bench.datasets.imageio import parse_size
from semcom_bench.datasets.synthcity.render import render_scene
from semcom_bench.errors import SemcomError
from semcom_bench.phy import AWGN, make_generator
from semcom_bench.schemes.base import Scheme
from semcom_bench.schemes.deepjscc import DeepJSCC
from semcom_bench.schemes.ntscc import NTSCC
from semcom_bench.schemes.separation import SeparationScheme

PATCH = 16
CBR = 1 / 12  # Deep JSCC's operating point (paper preset)
TIER_LABELS = {3: (24, 25), 2: (26, 27, 28, 29, 30, 31, 32, 33), 1: (19, 20)}  # Cityscapes label ids
TASK_LABELS = (24, 25)  # pedestrian-collision-warning style mask: persons and riders
SCHEMES_MEASURED = ("deepjscc", "ntscc-smoke", "ntscc-paper", "separation")


def scenes(batch: int, size: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(B, H, W, 3)`` uint8 images, ``(B, H, W)`` task masks, ``(B, gh, gw)`` patch tiers."""
    images, masks, grids = [], [], []
    for i in range(batch):
        scene = render_scene(seed, i, size)
        images.append(scene.image)
        masks.append(np.isin(scene.label_ids, TASK_LABELS))
        grid = np.zeros(pool_any(masks[-1], PATCH).shape, np.uint8)
        for tier in sorted(TIER_LABELS):  # ascending: higher tiers overwrite
            grid[pool_any(np.isin(scene.label_ids, TIER_LABELS[tier]), PATCH)] = tier
        grids.append(grid)
    return np.stack(images), np.stack(masks), np.stack(grids)


def _through_awgn(scheme: Scheme, rate: float, snr: float, seed: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The scheme's eval path: transmit, AWGN at ``snr``, receive."""

    def run(x: torch.Tensor) -> torch.Tensor:
        tx = scheme.transmit(x, rate)
        y, state = AWGN()(tx.symbols, snr, make_generator(seed))
        return scheme.receive(y, tx, state)

    return run


def candidate_schemes(names: list[str], snr: float, seed: int) -> list[tuple[str, Callable[[torch.Tensor], torch.Tensor]]]:
    """``(name, eval)`` of the schemes asked for: ``eval`` maps ``(B, 3, H, W)`` images to reconstructions.

    Models are untrained (the time does not depend on the weights): Deep JSCC with its default (paper) widths, NTSCC
    with the ``smoke`` profile's CNN sizes and with the ``paper`` profile's (the Swin transform).
    """
    found = []
    for name in names:
        if name == "separation":
            try:
                scheme: Scheme = SeparationScheme("hevc", code_rate=1 / 2, qam_order=16)
            except SemcomError as err:  # the codec may be missing on this machine: say so and go on
                print(f"separation baseline skipped: {err}")
                continue
            rate = CBR
        elif name == "deepjscc":
            scheme = DeepJSCC(cbr=CBR).eval()
            rate = CBR
        else:  # ntscc-smoke, ntscc-paper
            scheme = NTSCC(**load_profile(name.split("-")[1], "ntscc").hparams).eval()
            rate = 1.0
        found.append((f"{name}: {scheme!r} transmit+AWGN+receive", _through_awgn(scheme, rate, snr, seed)))
    return found


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def measure(
    name: str,
    scheme: Callable[[torch.Tensor], torch.Tensor],
    images: np.ndarray,
    masks: np.ndarray,
    grids: np.ndarray,
    args: argparse.Namespace,
) -> None:
    """Time ``scheme`` on the batch and every metric on its reconstruction; print the ratios."""
    reference = torch.from_numpy(images).permute(0, 3, 1, 2)  # (B, 3, H, W) uint8
    x = reference.float() / 255
    b = len(images)
    with torch.no_grad():
        recon = scheme(x)
    quality = QualityMetrics()

    def evaluate() -> None:
        with torch.no_grad():
            scheme(x)

    def one_pass() -> None:
        quality.update(reference, recon, masks, grids, PATCH)

    def baseline() -> None:  # what a user would otherwise run: pytorch-msssim's SSIM and MS-SSIM plus a torch PSNR
        ref8 = reference.float()
        rec8 = (recon * 255).clamp(0, 255).round()
        10 * torch.log10(255**2 / ((ref8 - rec8) ** 2).flatten(1).mean(1))
        pytorch_msssim.ssim(ref8, rec8, data_range=255, size_average=False)
        if min(images.shape[1:3]) > 160:  # pytorch-msssim's 5 scales need a short side of 161 px
            pytorch_msssim.ms_ssim(ref8, rec8, data_range=255, size_average=False)

    def per_image() -> None:
        for i in range(b):
            ref, rec = images[i], recon[i : i + 1]
            psnr(ref, rec), ssim(ref, rec), ms_ssim(ref, rec)
            tc_psnr(ref, rec, masks[i]), tier_psnr(ref, rec, grids[i], PATCH)

    eval_t, pass_t, loop_t, base_t = [], [], [], []
    for _ in range(args.repeats):  # alternate so that load changes hit scheme and metrics alike
        eval_t.append(median_ms(evaluate, 1) / b)
        # numba's parallel LDPC kernel (OpenMP layer) resets torch's thread count: set it back.
        torch.set_num_threads(args.threads)
        pass_t.append(median_ms(one_pass, 1) / b)
        loop_t.append(median_ms(per_image, 1) / b)
        base_t.append(median_ms(baseline, 1) / b)
    eval_ms, pass_ms, loop_ms, base_ms = (statistics.median(t) for t in (eval_t, pass_t, loop_t, base_t))
    parts = {
        "psnr": lambda: psnr(images[0], recon[:1]),
        "ssim": lambda: ssim(images[0], recon[:1]),
        "ms_ssim": lambda: ms_ssim(images[0], recon[:1]),
        "tc_psnr": lambda: tc_psnr(images[0], recon[:1], masks[0]),
        "tier_psnr": lambda: tier_psnr(images[0], recon[:1], grids[0], PATCH),
    }
    alone = {k: median_ms(f, args.repeats) for k, f in parts.items()}
    values = {k: v if isinstance(v, dict) else round(v, 4) for k, v in quality.compute().items()}
    print(f"\n{name}\n  eval {eval_ms:9.2f} ms/image")
    print(f"  metrics, one QualityMetrics pass   {pass_ms:8.2f} ms/image = {100 * pass_ms / eval_ms:6.2f} % of eval")
    print(f"  metrics, five functions per image  {loop_ms:8.2f} ms/image = {100 * loop_ms / eval_ms:6.2f} % of eval")
    print(f"  baseline, pytorch-msssim SSIM + MS-SSIM + torch PSNR {base_ms:8.2f} ms/image; one pass / baseline = "
          f"{pass_ms / base_ms:.2f} (target <= 1; the pass also computes TC-PSNR and tier PSNR)")
    print("  each function alone: " + ", ".join(f"{k} {v:.2f}" for k, v in alone.items()) + " ms/image")
    print(f"  dataset values: {values}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=(256, 512), help="HxW")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for schemes and metrics alike")
    parser.add_argument("--snr", type=float, default=10.0, help="AWGN SNR in dB")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--schemes", nargs="+", default=list(SCHEMES_MEASURED), choices=SCHEMES_MEASURED,
                        help="schemes to time (ntscc-paper is slow on a CPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images, masks, grids = scenes(args.batch, args.size, args.seed)
    print(
        f"{args.batch} images {args.size[0]}x{args.size[1]}, {args.repeats} repeats, {args.threads} torch "
        "thread(s); times are medians per image"
    )
    for name, scheme in candidate_schemes(args.schemes, args.snr, args.seed):
        measure(name, scheme, images, masks, grids, args)


if __name__ == "__main__":
    main()
