"""Monte-Carlo BER/FER of a channel code with Gray QAM over AWGN, one row per Eb/N0 point (AFF3CT-style).

Per frame: ``k`` uniform information bits -> :meth:`LDPC5G.encode` -> QAM (the codeword is zero-padded to a whole
number of symbols; the padding is dropped after demapping) -> AWGN at ``Es/N0 = Eb/N0 + 10 log10(R * log2 M)`` ->
bit LLRs (exact or max-log) -> decoder. ``Eb`` is the energy per *information* bit.

Stopping rule per point: batches of ``batch`` frames run until ``frames`` frames were simulated or, after a whole
batch, at least ``min_frame_errors`` frame errors were seen (100 errors give the FER to about +-20 % at 95 %
confidence; low-SNR points then stop after a batch or two).

Draws come from one ``torch.Generator`` per point seeded with ``seed``: two decoders simulated with the same seed,
code and batch size see the same bits and noise (paired comparison).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from semcom_bench.errors import SemcomError
from semcom_bench.phy.channels import AWGN, make_generator
from semcom_bench.phy.ldpc import LDPC5G
from semcom_bench.phy.qam import QAM

ROW_KEYS = (
    "ebn0_db", "snr_db", "ber", "fer", "frames", "bit_errors", "frame_errors",
    "detected_failures", "avg_iterations", "info_mbps", "decode_s",
)  # fmt: skip


def ebn0_to_snr_db(ebn0_db: float, rate: float, bits_per_symbol: int) -> float:
    """Es/N0 in dB of ``ebn0_db`` for code rate ``rate`` and ``bits_per_symbol`` bits per QAM symbol."""
    return ebn0_db + 10.0 * math.log10(rate * bits_per_symbol)


def simulate(
    code: LDPC5G,
    qam_order: int,
    ebn0_db: Sequence[float],
    frames: int,
    batch: int,
    seed: int,
    *,
    min_frame_errors: int = 100,
    llr_method: str = "exact",
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, float | int]]:
    """BER/FER of ``code`` with ``qam_order``-QAM over AWGN at each Eb/N0 in ``ebn0_db`` (dB).

    Returns one dict per point with the keys :data:`ROW_KEYS`: ``ebn0_db``, ``snr_db`` (Es/N0), ``ber``, ``fer``,
    ``frames``, ``bit_errors``, ``frame_errors``, ``detected_failures`` (frames whose decoded word violates a
    check), ``avg_iterations``, ``info_mbps`` (decoded information bits per second of decoder time, in Mbit/s:
    the decoder's throughput, without encoding/channel/demapping) and ``decode_s``.
    ``progress(done, total)`` is called after each batch with frames done out of ``frames * len(ebn0_db)``
    (a point that stops early counts as finished).
    """
    if frames < 1 or batch < 1:
        raise SemcomError(f"frames and batch must be positive, got frames={frames}, batch={batch}")
    if min_frame_errors < 1:
        raise SemcomError(f"min_frame_errors must be positive, got {min_frame_errors}")
    qam = QAM(qam_order)
    m = qam.bits_per_symbol
    pad = -code.n % m
    channel = AWGN()
    rows: list[dict[str, float | int]] = []
    code.warmup()  # JIT compilation / cache loading stays out of info_mbps
    total = frames * len(ebn0_db)
    for point, ebn0 in enumerate(ebn0_db):
        snr_db = ebn0_to_snr_db(float(ebn0), code.rate, m)
        gen = make_generator(seed)
        done = bit_err = frame_err = failures = iterations = 0
        decode_s = 0.0
        while done < frames and frame_err < min_frame_errors:
            size = min(batch, frames - done)
            bits = torch.randint(0, 2, (size, code.k), generator=gen).float()
            word = F.pad(code.encode(bits), (0, pad))
            y, state = channel(qam.modulate_bits(word), snr_db, gen)
            llr = qam.llr(y, state.noise_var, method=llr_method)[:, : code.n]
            start = time.perf_counter()
            out = code.decode_full(llr)
            decode_s += time.perf_counter() - start
            wrong = out.bits != bits
            bit_err += int(wrong.sum())
            frame_err += int(wrong.any(dim=1).sum())
            failures += int((~out.ok).sum())
            iterations += int(out.iterations.sum())
            done += size
            if progress is not None:
                finished = done >= frames or frame_err >= min_frame_errors
                progress(point * frames + (frames if finished else done), total)
        rows.append({
            "ebn0_db": float(ebn0),
            "snr_db": snr_db,
            "ber": bit_err / (done * code.k),
            "fer": frame_err / done,
            "frames": done,
            "bit_errors": bit_err,
            "frame_errors": frame_err,
            "detected_failures": failures,
            "avg_iterations": iterations / done,
            "info_mbps": done * code.k / decode_s / 1e6 if decode_s > 0 else float("nan"),
            "decode_s": decode_s,
        })  # fmt: skip
    return rows
