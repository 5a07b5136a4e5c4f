"""Eval throughput (images/s) of every scheme on this CPU: transmit + channel + receive, medians over repeats.

Ratios are against Deep JSCC measured in the same run. Weights are untrained (throughput does not depend on them).

    .venv/bin/python benchmarks/eval_throughput.py --n 8 --size 128x256 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from semcom_bench.benchmark.train import load_profile
from semcom_bench.datasets import DATASETS
from semcom_bench.datasets.imageio import parse_size
from semcom_bench.datasets.synthcity import generate
from semcom_bench.phy.channels import AWGN, make_generator
from semcom_bench.schemes.base import SCHEMES, Scheme
from semcom_bench.schemes.capacity import capacity_bound


def images(n: int, size: tuple[int, int]) -> torch.Tensor:
    root = Path(tempfile.mkdtemp()) / "city"
    generate(root, n=n, seed=11, size=size)
    stack = np.stack([s.image for s in DATASETS.get("synthcity")(root=root, split="train")])
    return torch.from_numpy(stack).permute(0, 3, 1, 2).float().div(255)


def through(scheme: Scheme, rate: float) -> Callable[[torch.Tensor], None]:
    channel = AWGN()

    def run(batch: torch.Tensor) -> None:
        with torch.no_grad():
            tx = scheme.transmit(batch, rate)
            y, state = channel(tx.symbols, 10.0, make_generator(0))
            scheme.receive(y, tx, state)

    return run


def median_rate(run: Callable[[torch.Tensor], None], batch: torch.Tensor, repeats: int) -> float:
    run(batch[:1])  # warm-up (JIT, caches)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(batch)
        rates.append(len(batch) / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--size", default="128x256")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    size = parse_size(args.size)
    batch = images(args.n, size)
    smoke = {name: load_profile("smoke", name).hparams for name in ("deepjscc", "ntscc")}
    candidates: dict[str, Callable[[torch.Tensor], None]] = {
        "deepjscc (smoke size)": through(SCHEMES.get("deepjscc")(**smoke["deepjscc"]), 1 / 16),
        "ntscc (smoke size, eta 0.3)": through(SCHEMES.get("ntscc")(**smoke["ntscc"]).eval(), 0.3),
        "separation hevc R=1/2 16-QAM": through(SCHEMES.get("separation")(code_rate=0.5, qam_order=16), 1 / 16),
        "capacity bound (hevc)": lambda b: capacity_bound(b, 1 / 16, 10.0),
    }
    results = {name: median_rate(run, batch, args.repeats) for name, run in candidates.items()}
    base = results["deepjscc (smoke size)"]
    print(f"eval throughput, {args.n} synthcity images {size[0]}x{size[1]}, SNR 10 dB AWGN, "
          f"median of {args.repeats}, torch threads {torch.get_num_threads()}")
    for name, rate in results.items():
        print(f"  {name:32s} {rate:9.2f} images/s   x{rate / base:.4f} of deepjscc")


if __name__ == "__main__":
    main()
