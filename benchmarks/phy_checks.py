"""Statistical checks of the physical-layer blocks against theory, with a table and a plot.

    python benchmarks/phy_checks.py --symbols 2000000 --repeats 3 --out /tmp/phy-checks

Three checks, each repeated ``--repeats`` times with different seeds and reported as the median over repeats:

* QAM symbol error rate over AWGN (M = 4, 16, 64, minimum-distance demapping) against the exact closed form for
  square M-QAM, at every SNR of a 1 dB grid where the theoretical SER is above 1e-3. Target: max relative deviation
  within 10%. With 2e6 symbols a point at SER 1e-3 has ~2000 errors, a relative std of ~2%.
* measured channel SNR (average received signal power ``E|h x|^2`` over noise power) against the requested one,
  AWGN and Rayleigh fading (block fading over 2e5 images of 10 symbols). Target: within 0.1 dB.
* Rayleigh mean ``|h|^2`` for fast, per-image block and coherence-block fading. Target: 1 (within 0.01).

The SER table also gives the median throughput of the simulated chain (map, channel, demap) in Msymbols/s, for
orientation only (shared machines make it noisy). Writes ``ser_awgn.png`` (simulated vs theory) under ``--out``.
Exits with status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend
import numpy as np  # noqa: E402
import torch  # noqa: E402

from semcom_bench.phy import AWGN, QAM, Rayleigh, average_power, make_generator, qam_ser_awgn  # noqa: E402

ORDERS = (4, 16, 64)
SER_FLOOR = 1e-3
SER_TARGET = 0.10  # max relative deviation
SNR_TARGET_DB = 0.1
GAIN_TARGET = 0.01
CHUNK = 500_000  # symbols per batch row, bounds memory


def simulate_ser(order: int, snr_db: float, symbols: int, seed: int) -> tuple[float, float]:
    """``(SER, Msymbols/s)`` of ``order``-QAM over AWGN at ``snr_db`` with ``symbols`` random symbols."""
    qam, channel = QAM(order), AWGN()
    generator = make_generator(seed)
    errors, sent, elapsed = 0, 0, 0.0
    while sent < symbols:
        n = min(CHUNK, symbols - sent)
        idx = torch.randint(0, order, (1, n), generator=generator)
        start = time.perf_counter()
        y, _ = channel(qam.modulate_indices(idx), snr_db, generator)
        decided = qam.demap_hard(y)
        elapsed += time.perf_counter() - start
        errors += int((decided != idx).sum())
        sent += n
    return errors / sent, sent / elapsed / 1e6


def measured_snr_db(channel: AWGN | Rayleigh, snr_db: float, shape: tuple[int, int], seed: int) -> float:
    """Received signal power over noise power (dB) of ``shape`` unit-power QPSK symbols through ``channel``."""
    qam, generator = QAM(4), make_generator(seed)
    x = qam.modulate_indices(torch.randint(0, 4, shape, generator=generator))
    y, state = channel(x, snr_db, generator)
    signal = x if state.gains is None else state.gains * x
    return 10 * math.log10(float(average_power(signal).mean()) / float(average_power(y - signal).mean()))


def mean_gain_power(channel: Rayleigh, shape: tuple[int, int], seed: int) -> float:
    """Mean ``|h|^2`` over one realisation of ``shape`` gains."""
    _, state = channel(torch.ones(shape, dtype=torch.complex64), 10.0, make_generator(seed))
    return float(state.gains.abs().square().mean())


def ser_check(symbols: int, repeats: int) -> tuple[list[tuple[int, float, float, float, float]], float]:
    """Rows ``(M, SNR dB, theory, simulated median, Msym/s median)`` and the max relative deviation."""
    rows = []
    for order in ORDERS:
        for snr_db in np.arange(-5.0, 40.0, 1.0):
            theory = qam_ser_awgn(order, float(snr_db))
            if theory <= SER_FLOOR:
                break
            runs = [simulate_ser(order, float(snr_db), symbols, seed) for seed in range(repeats)]
            rows.append((order, float(snr_db), theory, statistics.median(r[0] for r in runs),
                         statistics.median(r[1] for r in runs)))
    worst = max(abs(sim / theory - 1) for _, _, theory, sim, _ in rows)
    return rows, worst


def plot_ser(rows: list[tuple[int, float, float, float, float]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for order in ORDERS:
        snrs = [r[1] for r in rows if r[0] == order]
        fine = np.linspace(min(snrs), max(snrs), 200)
        (line,) = ax.semilogy(fine, qam_ser_awgn(order, fine), label=f"{order}-QAM theory")
        ax.semilogy(snrs, [r[3] for r in rows if r[0] == order], "o", color=line.get_color(), mfc="none",
                    label=f"{order}-QAM simulated")
    ax.axhline(SER_FLOOR, color="grey", lw=0.8, ls=":")
    ax.set(xlabel="Es/N0 (dB)", ylabel="symbol error rate", title="Square QAM over AWGN, minimum-distance demapping")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=2_000_000, help="symbols per SER point and per SNR check")
    parser.add_argument("--repeats", type=int, default=3, help="seeds per measurement; the table shows medians")
    parser.add_argument("--out", type=Path, default=None, help="folder for the plot (default: a new temp folder)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = args.out or Path(tempfile.mkdtemp(prefix="phy-checks-"))
    out.mkdir(parents=True, exist_ok=True)
    ok = True

    rows, worst_ser = ser_check(args.symbols, args.repeats)
    print(f"QAM SER over AWGN, {args.symbols} symbols per point, median of {args.repeats} seeds")
    print(f"{'M':>4} {'SNR dB':>7} {'theory':>10} {'simulated':>10} {'rel dev':>8} {'Msym/s':>7}")
    for order, snr_db, theory, sim, rate in rows:
        print(f"{order:>4} {snr_db:>7.1f} {theory:>10.3e} {sim:>10.3e} {sim / theory - 1:>+8.2%} {rate:>7.2f}")
    print(f"max |relative deviation| = {worst_ser:.2%} over {len(rows)} points (target {SER_TARGET:.0%}); "
          f"median throughput {statistics.median(r[4] for r in rows):.2f} Msym/s")
    ok &= worst_ser <= SER_TARGET

    print(f"\nMeasured channel SNR, {args.symbols} symbols, median of {args.repeats} seeds")
    print(f"{'channel':>16} {'requested':>9} {'measured':>9} {'error dB':>9}")
    worst_snr = 0.0
    rows_of = max(1, args.symbols // CHUNK)
    wide = (rows_of, args.symbols // rows_of)
    # block fading: the received power averages over images, so many short rows (one gain each)
    snr_cases = (("awgn", AWGN(), wide), ("rayleigh fast", Rayleigh("fast"), wide),
                 ("rayleigh block", Rayleigh(), (args.symbols // 10, 10)))
    for name, channel, shape in snr_cases:
        for snr_db in (-10.0, 0.0, 10.0, 20.0, 30.0):
            measured = statistics.median(measured_snr_db(channel, snr_db, shape, s) for s in range(args.repeats))
            worst_snr = max(worst_snr, abs(measured - snr_db))
            print(f"{name:>16} {snr_db:>9.1f} {measured:>9.3f} {measured - snr_db:>+9.3f}")
    print(f"max |error| = {worst_snr:.3f} dB (target {SNR_TARGET_DB} dB)")
    ok &= worst_snr <= SNR_TARGET_DB

    print(f"\nRayleigh mean |h|^2, median of {args.repeats} seeds")
    worst_gain = 0.0
    gain_cases = (
        ("fast", Rayleigh("fast"), (1, args.symbols)),
        ("block, per image", Rayleigh(), (args.symbols // 10, 10)),
        ("block, coherence 16", Rayleigh("block", 16), (16, args.symbols // 16)),
    )
    for name, channel, shape in gain_cases:
        gains = [mean_gain_power(channel, shape, seed) for seed in range(args.repeats)]
        median = statistics.median(gains)
        worst_gain = max(worst_gain, abs(median - 1))
        print(f"{name:>20}: {median:.4f}  ({shape[0]}x{shape[1]} symbols)")
    print(f"max |mean |h|^2 - 1| = {worst_gain:.4f} (target {GAIN_TARGET})")
    ok &= worst_gain <= GAIN_TARGET

    plot = out / "ser_awgn.png"
    plot_ser(rows, plot)
    print(f"\nplot: {plot}")
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
