"""Level-to-point mappings of Algorithm 2: the MSE of ``z_hat`` under each, against the default ``"raster"``.

    nice python benchmarks/digital_mapping.py --threads 1

For uniform features ``z`` (``--images`` images of ``--k`` features), every QAM order and SNR, sends ``z`` through
:class:`~semcom_bench.phy.digital.DigitalLink` with each mapping over the same channel draws (AWGN and slow Rayleigh,
one gain per image) and prints the MSE of ``z_hat`` against ``z`` per mapping and each one's ratio to raster's
(> 1: raster is better). The MSE includes the quantisation error, the same for every mapping, so the ratios tend to
1 at high SNR. The default mapping of ``DigitalLink`` is chosen from this table.
"""

from __future__ import annotations

import argparse

import torch

from semcom_bench.phy import AWGN, DigitalLink, Rayleigh, make_generator
from semcom_bench.phy.digital import MAPPINGS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=256, help="images (one Rayleigh gain each)")
    parser.add_argument("--k", type=int, default=1024, help="features per image")
    parser.add_argument("--orders", type=int, nargs="+", default=[4, 16, 64, 256])
    parser.add_argument("--snr", type=float, nargs="+", default=[0.0, 5.0, 10.0, 15.0, 20.0, 25.0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    z = torch.rand((args.images, args.k), generator=make_generator(0))
    others = [m for m in MAPPINGS if m != "raster"]
    print(f"MSE of z_hat for uniform z ({args.images} images x {args.k} features); ratios to raster's MSE")
    print(f"{'channel':<9} {'M':>4} {'SNR dB':>7} " + " ".join(f"{m:>11}" for m in MAPPINGS)
          + " ".join(f"{m + '/raster':>18}" for m in others))
    for channel in (AWGN(), Rayleigh()):
        for order in args.orders:
            for snr in args.snr:
                mse = {m: float((DigitalLink(order, mapping=m)(z, channel, snr, make_generator(1)) - z).square().mean())
                       for m in MAPPINGS}
                print(f"{channel.name:<9} {order:>4} {snr:7g} " + " ".join(f"{mse[m]:11.3e}" for m in MAPPINGS)
                      + " ".join(f"{mse[m] / mse['raster']:18.2f}" for m in others))


if __name__ == "__main__":
    main()
