"""How fast synthcity generates images, single process, against the 20 images/s target and the PNG I/O floor.

    python benchmarks/synthcity_rate.py --n 50 --size 256x512 --repeats 5

Three rates per repeat, each the median over repeats:

* render: ``render_scene`` only (in memory);
* render+write: ``generate`` into a fresh temporary folder (all six files per image, atomic writes);
* I/O floor: PNG-encoding and writing four blank images of the same size and modes (RGB, L, 16-bit, RGBA) per image,
  i.e. the least any generator writing these files can spend.

The process is pinned to one CPU core where the OS allows it. The texture bank is built once before timing, as in any
run of more than one image.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from semcom_bench.datasets.imageio import parse_size
from semcom_bench.datasets.synthcity import generate, render_scene
from semcom_bench.datasets.synthcity.writer import PNG_LEVEL, atomic_write, encode_png

TARGET_RATE = 20.0  # images/s at 256x512 on one core, files included


def _render_rate(n: int, size: tuple[int, int], seed: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        render_scene(seed, i, size)
    return n / (time.perf_counter() - start)


def _generate_rate(n: int, size: tuple[int, int], seed: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        generate(Path(tmp), n, seed=seed, size=size)
        return n / (time.perf_counter() - start)


def _io_floor_rate(n: int, size: tuple[int, int]) -> float:
    h, w = size
    blanks = [np.zeros((h, w, 3), np.uint8), np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint16),
              np.zeros((h, w, 4), np.uint8)]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for i in range(n):
            for k, blank in enumerate(blanks):
                atomic_write(Path(tmp) / f"{i}_{k}.png", encode_png(blank))
        return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50, help="images per repeat")
    parser.add_argument("--size", type=parse_size, default=(256, 512), help="HxW, e.g. 256x512")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    render_scene(args.seed, 0, args.size)  # builds the per-process texture bank
    rates: dict[str, list[float]] = {"render": [], "render+write": [], "I/O floor": []}
    for _ in range(args.repeats):
        rates["render"].append(_render_rate(args.n, args.size, args.seed))
        rates["render+write"].append(_generate_rate(args.n, args.size, args.seed))
        rates["I/O floor"].append(_io_floor_rate(args.n, args.size))
    med = {k: statistics.median(v) for k, v in rates.items()}
    h, w = args.size
    print(f"synthcity, {h}x{w}, n={args.n}, repeats={args.repeats}, one process, PNG level {PNG_LEVEL}")
    for name, rate in med.items():
        spread = f"{min(rates[name]):.1f}-{max(rates[name]):.1f}"
        print(f"  {name:<13} median {rate:7.1f} images/s  (range {spread}, {1000 / rate:6.1f} ms/image)")
    print(f"  render+write / {TARGET_RATE:.0f} img/s target: {med['render+write'] / TARGET_RATE:.2f}x")
    print(f"  render+write / I/O floor:       {med['render+write'] / med['I/O floor']:.3f}")


if __name__ == "__main__":
    main()
