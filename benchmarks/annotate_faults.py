"""Annotation against a faulty MLLM server: does every image get labelled, and at what cost in time?

    .venv/bin/python benchmarks/annotate_faults.py --n 48 --latency 0.5 --timeout 10 --concurrency 8 --seed 0

Generates a synthcity split, then runs ``annotate()`` (MLLM relations and MLLM labeler, the real ``openai`` client)
against the project's local OpenAI-compatible server twice over:

* **fault-free**: every answer valid, after ``--latency`` seconds (the model's time);
* **faulty**: the same latency, and each request drawn from a seeded fault mix: malformed JSON, HTTP 429 with
  ``Retry-After: 1``, HTTP 500, a hang past ``--timeout``, and answers that omit objects (importance for the last
  object, relations of the last object); the rest valid. The faulty run is re-run (the same command, as a user would)
  until every image is labelled or ``--runs`` runs are done.

Prints, per run: images labelled so far, requests sent, wall time; then the faulty total wall time against the
fault-free run's (ratio) and both label sets' scores against the synthcity truth. The answers come from the test
server's built-in rules (tier by class, every object "on road"), not from a model: the scores show that faults cost no
quality, not how good an MLLM is. Goal (issue 10): every image labelled by the second run, wall time within 2x of the
fault-free run at ``--timeout 10``.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from pathlib import Path

from semcom_bench.annotate.pipeline import AnnotateConfig, annotate
from semcom_bench.annotate.score import score_labelset
from semcom_bench.datasets.imageio import parse_size
from semcom_bench.datasets.synthcity import generate
from semcom_bench.schemas import LabelSet
from semcom_bench.testing.openai_server import (
    LocalOpenAIServer,
    RecordedRequest,
    Reply,
    Responder,
    answer,
    content,
    error,
    missing_object_answer,
    omitting_relations_answer,
    stall,
)

FAULTS = {"malformed": 0.06, "429": 0.06, "500": 0.06, "hang": 0.03, "omits": 0.08}
"""Probability of each fault per request; the rest are valid answers."""


class FaultMix:
    """A responder drawing each request's fault from a seeded generator (thread-safe), counting what it drew."""

    def __init__(self, seed: int, hang_s: float) -> None:
        self.rng = random.Random(seed)
        self.hang_s = hang_s
        self.counts = dict.fromkeys([*FAULTS, "valid"], 0)
        self.lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Reply:
        with self.lock:
            u = self.rng.random()
            fault = "valid"
            for name, p in FAULTS.items():
                if u < p:
                    fault = name
                    break
                u -= p
            self.counts[fault] += 1
        relations = request.schema_name == "mllm_relations"
        responders: dict[str, Responder] = {
            "malformed": content("{not json"),
            "429": error(429, "rate limited", retry_after=1.0),
            "500": error(500),
            "hang": stall(self.hang_s),
            "omits": answer(omitting_relations_answer if relations else missing_object_answer),
            "valid": answer(),
        }
        return responders[fault](request)


def run_all(root: Path, out: Path, server: LocalOpenAIServer, args: argparse.Namespace, runs: int) -> list[dict]:
    config = AnnotateConfig(dataset="synthcity", root=str(root), split="train", task="pedestrian-collision-warning",
                            relations="mllm", labeler="mllm",
                            mllm={"base_url": server.base_url, "model": "test-model", "timeout_s": args.timeout,
                                  "max_retries": 2, "validation_retries": 2, "price_in_per_m": 0.0,
                                  "price_out_per_m": 0.0})
    rows = []
    for k in range(1, runs + 1):
        before = len(server.questions)
        start = time.perf_counter()
        annotate(config, out, concurrency=args.concurrency)
        seconds = time.perf_counter() - start
        objects = LabelSet.open(out).read("objects").to_pylist()
        unlabelled = {r["image_id"] for r in objects if r["importance"] is None}
        images = {r["image_id"] for r in objects}
        rows.append({"run": k, "labelled": len(images - unlabelled), "images": args.n,
                     "requests": len(server.questions) - before, "seconds": seconds})
        if not unlabelled and len(images) == args.n:
            break
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=48, help="images")
    parser.add_argument("--size", default="128x256", help="HxW")
    parser.add_argument("--latency", type=float, default=0.5, help="server seconds per answer (the model's time)")
    parser.add_argument("--timeout", type=float, default=10.0, help="the client's request timeout (--timeout)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--runs", type=int, default=4, help="at most this many faulty runs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault draws and of the synthcity split")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = work / "synthcity"
        generate(root, n=args.n, seed=args.seed, size=parse_size(args.size), split="train")
        with LocalOpenAIServer(latency_s=args.latency) as server:
            clean = run_all(root, work / "clean", server, args, 1)
        mix = FaultMix(args.seed, args.timeout + 2.0)
        with LocalOpenAIServer(latency_s=args.latency, default=mix) as server:
            faulty = run_all(root, work / "faulty", server, args, args.runs)
        scores = {name: score_labelset(work / name, root) for name in ("clean", "faulty")}

    print(f"{args.n} synthcity images {args.size}, latency {args.latency:g} s, --timeout {args.timeout:g}, "
          f"concurrency {args.concurrency}, seed {args.seed}")
    print(f"faults drawn: {mix.counts}")
    print(f"{'run':<14} {'labelled':>9} {'requests':>9} {'seconds':>8}")
    for name, rows in (("fault-free", clean), ("faulty", faulty)):
        for r in rows:
            print(f"{name + ' ' + str(r['run']):<14} {r['labelled']:>4}/{r['images']:<4} {r['requests']:>9} "
                  f"{r['seconds']:>8.1f}")
    total = sum(r["seconds"] for r in faulty)
    print(f"faulty wall time (all runs) / fault-free: {total:.1f} s / {clean[0]['seconds']:.1f} s = "
          f"{total / clean[0]['seconds']:.2f}x (goal <= 2x)")
    second = faulty[min(1, len(faulty) - 1)]["labelled"]
    print(f"labelled by the second run: {second}/{args.n} (goal: all)")
    for name, s in scores.items():
        print(f"score vs truth, {name}: relation F1 {s['relation_f1']:.3f}, tier kappa {s['tier_kappa']:.3f}, "
              f"mask IoU {s['mask_iou']:.3f}")


if __name__ == "__main__":
    main()
