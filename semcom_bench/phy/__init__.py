"""Physical layer: channels, power normalisation, quantiser, QAM, LDPC, capacity."""

from semcom_bench.phy.base import CHANNELS, Channel, ChannelState
from semcom_bench.phy.capacity import awgn_capacity, rayleigh_ergodic_capacity, rayleigh_outage_capacity
from semcom_bench.phy.channels import AWGN, Rayleigh, equalize, make_generator, noise_variance
from semcom_bench.phy.checks import SNR_DB_RANGE, PhyInputError
from semcom_bench.phy.digital import DigitalLink
from semcom_bench.phy.power import average_power, normalize_power
from semcom_bench.phy.qam import QAM, qam_ser_awgn
from semcom_bench.phy.quantize import UniformQuantizer

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
