"""Physical layer: channels, power normalisation, quantiser, QAM, LDPC, capacity.

The names below are imported from their submodules on first use (PEP 562): most need torch or scipy, which
``semcom_bench.phy.cli`` (``semcom-bench phy --help``) must not load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from semcom_bench.lazy import lazy_names

if TYPE_CHECKING:
    from semcom_bench.phy.base import CHANNELS, Channel, ChannelState
    from semcom_bench.phy.capacity import awgn_capacity, rayleigh_ergodic_capacity, rayleigh_outage_capacity
    from semcom_bench.phy.channels import AWGN, Rayleigh, equalize, make_generator, noise_variance
    from semcom_bench.phy.checks import SNR_DB_RANGE, PhyInputError
    from semcom_bench.phy.digital import DigitalLink
    from semcom_bench.phy.power import average_power, normalize_power
    from semcom_bench.phy.qam import QAM, qam_ser_awgn
    from semcom_bench.phy.quantize import UniformQuantizer

# CHANNELS is taken from `channels` (which registers awgn and rayleigh in it), so it is never found empty.
_SOURCES = {
    "base": ("Channel", "ChannelState"),
    "channels": ("CHANNELS", "AWGN", "Rayleigh", "equalize", "make_generator", "noise_variance"),
    "capacity": ("awgn_capacity", "rayleigh_ergodic_capacity", "rayleigh_outage_capacity"),
    "checks": ("SNR_DB_RANGE", "PhyInputError"),
    "digital": ("DigitalLink",),
    "power": ("average_power", "normalize_power"),
    "qam": ("QAM", "qam_ser_awgn"),
    "quantize": ("UniformQuantizer",),
}

__all__ = [
    "AWGN",
    "CHANNELS",
    "QAM",
    "SNR_DB_RANGE",
    "Channel",
    "ChannelState",
    "DigitalLink",
    "PhyInputError",
    "Rayleigh",
    "UniformQuantizer",
    "average_power",
    "awgn_capacity",
    "equalize",
    "make_generator",
    "noise_variance",
    "normalize_power",
    "qam_ser_awgn",
    "rayleigh_ergodic_capacity",
    "rayleigh_outage_capacity",
]


__getattr__, __dir__ = lazy_names(__name__, _SOURCES, globals())
