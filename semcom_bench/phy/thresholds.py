"""Decoding thresholds of the project's 5G LDPC + Gray QAM: the lowest Es/N0 at which each setting decodes.

The harness prices side information with them (:mod:`semcom_bench.benchmark.side_info`): a setting "decodes at an
SNR" when its measured frame error rate there is at most :data:`TARGET_FER`. The table ships with the package
(``ldpc_thresholds.json``, next to this file) and is remade, in a few minutes on a CPU, by

    python -m semcom_bench.phy.thresholds

Measurement (:func:`measure`): for each (code rate, QAM order) of :data:`SETTINGS`, codewords of :data:`REFERENCE_K`
information bits (the size of a small side-information message: NTSCC's rate indices at 128x256 take 384 bits, at
256x512 2048), the fast min-sum decoder (20 iterations), exact LLRs, AWGN. The SNR is scanned upwards in
:data:`STEP_DB` steps from the Shannon limit of the setting's spectral efficiency; the first point with at most
``TARGET_FER * frames`` frame errors in ``frames`` frames is the threshold. Shorter messages need a little more SNR
than the reference block, longer ones a little less: the table is a stated approximation, the same for every scheme.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from semcom_bench.errors import SemcomError

TABLE_FILE = Path(__file__).with_name("ldpc_thresholds.json")
REFERENCE_K = 512
TARGET_FER = 0.01
STEP_DB = 0.25
SETTINGS: tuple[tuple[float, int], ...] = tuple(
    (rate, order) for order in (4, 16, 64) for rate in (1 / 5, 1 / 3, 1 / 2, 2 / 3, 3 / 4, 5 / 6)
)
COMMAND = "python -m semcom_bench.phy.thresholds"


@dataclass(frozen=True)
class Threshold:
    """``snr_db``: the lowest Es/N0 (dB) on the scan grid at which ``code_rate`` with ``qam_order``-QAM decodes."""

    code_rate: float
    qam_order: int
    snr_db: float

    @property
    def bits_per_use(self) -> float:
        """Information bits per complex channel use: ``code_rate * log2(qam_order)``."""
        return self.code_rate * math.log2(self.qam_order)


def shannon_limit_db(bits_per_use: float) -> float:
    """The Es/N0 (dB) at which AWGN capacity equals ``bits_per_use``: no code decodes below it."""
    return 10 * math.log10(2**bits_per_use - 1)


def measure(frames: int = 1000, k: int = REFERENCE_K, seed: int = 0, log: bool = True) -> list[Threshold]:
    """Measure the threshold of every setting in :data:`SETTINGS` (see the module docstring)."""
    from semcom_bench.phy.ber import simulate
    from semcom_bench.phy.ldpc import LDPC5G

    out = []
    errors_allowed = int(TARGET_FER * frames)
    for rate, order in SETTINGS:
        code = LDPC5G(k, round(k / rate))
        efficiency = code.rate * math.log2(order)
        snr = math.ceil(shannon_limit_db(efficiency) / STEP_DB) * STEP_DB
        while True:
            ebn0 = snr - 10 * math.log10(efficiency)
            (row,) = simulate(code, order, [ebn0], frames=frames, batch=200, seed=seed,
                              min_frame_errors=errors_allowed + 1)
            if row["frame_errors"] <= errors_allowed and row["frames"] == frames:
                break
            snr += STEP_DB
        out.append(Threshold(rate, order, round(snr, 2)))
        if log:
            print(f"R={rate:.3f} {order:>2}-QAM ({efficiency:.2f} bit/use): decodes from {snr:.2f} dB "
                  f"(Shannon limit {shannon_limit_db(efficiency):.2f} dB)", flush=True)
    return out


@cache
def load_table(path: Path = TABLE_FILE) -> tuple[Threshold, ...]:
    """The shipped thresholds, most efficient setting first."""
    if not path.is_file():
        raise SemcomError(f"no LDPC threshold table at {path}", hint=f"make it with `{COMMAND}`")
    doc = json.loads(path.read_text())
    rows = [Threshold(float(r["code_rate"]), int(r["qam_order"]), float(r["snr_db"])) for r in doc["thresholds"]]
    return tuple(sorted(rows, key=lambda t: -t.bits_per_use))


def main() -> None:
    """Measure every threshold and write the table (``--out``, default the shipped file)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=TABLE_FILE)
    args = parser.parse_args()
    rows = measure(args.frames, seed=args.seed)
    doc = {"k": REFERENCE_K, "target_fer": TARGET_FER, "frames": args.frames, "step_db": STEP_DB,
           "decoder": "fast min-sum, 20 iterations", "llr": "exact", "channel": "awgn", "seed": args.seed,
           "command": COMMAND, "thresholds": [asdict(t) for t in rows]}
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
