"""Images/s of the MLLM labeler with N worker threads against a local server with a fixed model latency.

The pipeline labels images from a ``ThreadPoolExecutor``; with a server that takes ``--latency`` seconds per answer,
throughput should grow about linearly with N until the client's own per-image work (drawing marks, JPEG, JSON,
validation) or the server saturates the cores. Every request goes to the server (no cache). Each N runs
``--repeats`` times over ``--images`` images; the table gives the median images/s and its ratio to N=1 of the same run.

    .venv/bin/python benchmarks/mllm_concurrency.py --latency 0.2 --images 32 --repeats 3 --workers 1 2 4 8
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from semcom_bench.annotate.base import LABELERS, Detection, Scene
from semcom_bench.annotate.labelers import mllm  # noqa: F401 (registers the "mllm" labeler)
from semcom_bench.tasks import load_task
from semcom_bench.testing.openai_server import LocalOpenAIServer

CLASSES = ("car", "person", "car", "rider", "bicycle", "truck")


def scenes(count: int, height: int, width: int) -> list[Scene]:
    """``count`` distinct noisy images with six boxes each."""
    rng = np.random.default_rng(0)
    made = []
    for i in range(count):
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        step = width // (len(CLASSES) + 1)
        objects = [
            Detection(object_id=k + 1, class_name=c,
                      bbox=(float(k * step), height / 4, float((k + 1) * step), height - 1.0))
            for k, c in enumerate(CLASSES)
        ]
        made.append(Scene(image_id=f"bench-{i}", image=image, objects=objects))
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.2, help="server seconds per answer")
    parser.add_argument("--images", type=int, default=32, help="images per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per N (the median is reported)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8], help="thread counts N")
    parser.add_argument("--size", type=int, nargs=2, default=[256, 512], metavar=("H", "W"), help="image size")
    args = parser.parse_args()

    task = load_task("vehicle-following")
    images = scenes(args.images, *args.size)
    rates: dict[int, float] = {}
    with LocalOpenAIServer(latency_s=args.latency) as server:
        labeler = LABELERS.get("mllm")(base_url=server.base_url, model="bench-model", max_retries=0, timeout_s=30)
        labeler.label(images[0], [], task)  # warm up: the client, the connection pool, the font
        for workers in args.workers:
            runs = []
            for _ in range(args.repeats):
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    started = time.perf_counter()
                    results = list(pool.map(lambda s: labeler.label(s, [], task), images))
                    runs.append(len(images) / (time.perf_counter() - started))
                failed = [r.error for r in results if r.error is not None]
                if failed:
                    raise SystemExit(f"N={workers}: {len(failed)} image(s) failed, first: {failed[0]}")
            rates[workers] = statistics.median(runs)
        problems = server.problems
    if problems:
        raise SystemExit(f"the server saw malformed requests: {problems[:3]}")

    base = rates[args.workers[0]]
    print(f"latency {args.latency:g} s, {args.images} images of {args.size[0]}x{args.size[1]}, "
          f"{args.repeats} repeats, {os.cpu_count()} CPU(s)")
    print(f"{'N':>3}  {'images/s':>9}  {'x N=' + str(args.workers[0]):>8}  {'ideal':>6}")
    for workers, rate in rates.items():
        print(f"{workers:>3}  {rate:>9.2f}  {rate / base:>8.2f}  {workers / args.workers[0]:>6.1f}")


if __name__ == "__main__":
    main()
