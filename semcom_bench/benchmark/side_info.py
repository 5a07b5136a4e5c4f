"""Side information priced by the harness: a scheme reports bits, one declared rule turns them into channel uses.

No scheme prices its own side information (ARCHITECTURE.md, "Schemes and channels"): every scheme's bits go through
the same :class:`SideInfoRule`, and the results record the rule (``side_rule``) and its price (``side_uses``).

Rules (:data:`SIDE_INFO_RULES`):

* ``"ldpc"`` (default): the bits are sent over the same channel with the project's 5G LDPC + Gray QAM at the most
  efficient (code rate, QAM order) that decodes at the SNR, by the measured thresholds of
  :mod:`semcom_bench.phy.thresholds` (frame error rate at most 1 % on AWGN). Codewords hold at most
  :data:`MAX_K` bits, so a message of ``b`` bits takes ``c = ceil(b / MAX_K)`` codewords of ``ceil(b / c)`` bits
  each, coded at rate ``R`` into ``ceil(k / R)`` bits, mapped onto ``ceil(coded / log2 M)`` symbols. Below the most
  robust setting's threshold ``t``, that setting is repeated ``r = ceil(10 ** ((t - SNR) / 10))`` times and the copies
  combined (Chase combining: on AWGN the summed LLRs of ``r`` copies are those of one copy at ``r`` times the SNR),
  so every SNR has a price. On fading channels the rule uses the nominal (average) SNR.
* ``"capacity"``: ``ceil(b / C(SNR))`` uses, ``C = log2(1 + SNR)``: an ideal code of infinite length. An optimistic
  floor, labelled so in reports.

Zero bits cost zero uses under both rules.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

from semcom_bench.errors import SemcomError
from semcom_bench.phy.capacity import awgn_capacity
from semcom_bench.phy.thresholds import Threshold, load_table
from semcom_bench.registry import Registry

MAX_K = 3840  # bits per codeword: 5G's base graph 2 limit, which covers all rates of the table


class SideInfoRule(ABC):
    """Turns side-information bits into the channel uses they cost at an SNR."""

    name: str = ""
    label: str = ""  # how reports name the rule

    @abstractmethod
    def channel_uses(self, bits: int, snr_db: float) -> int:
        """Complex channel uses that carry ``bits`` bits of side information at ``snr_db`` (Es/N0, dB)."""


SIDE_INFO_RULES: Registry[type[SideInfoRule]] = Registry("side-information rule")


def _check_bits(bits: int) -> int:
    if isinstance(bits, bool) or int(bits) != bits or bits < 0:
        raise SemcomError(f"side information must be a non-negative whole number of bits, got {bits!r}")
    return int(bits)


@SIDE_INFO_RULES.register("ldpc")
class LDPCRule(SideInfoRule):
    """The project's 5G LDPC + QAM at the most efficient setting that decodes at the SNR (module docstring)."""

    name = "ldpc"
    label = "5G LDPC + QAM"

    def __init__(self) -> None:
        self.table = load_table()

    def setting(self, snr_db: float) -> tuple[Threshold, int]:
        """The setting used at ``snr_db`` and its repetition factor (1 where it decodes as it is)."""
        for threshold in self.table:  # most efficient first
            if threshold.snr_db <= snr_db:
                return threshold, 1
        robust = min(self.table, key=lambda t: t.snr_db)
        return robust, math.ceil(10 ** ((robust.snr_db - snr_db) / 10))

    def channel_uses(self, bits: int, snr_db: float) -> int:
        bits = _check_bits(bits)
        if bits == 0:
            return 0
        threshold, repeat = self.setting(snr_db)
        codewords = math.ceil(bits / MAX_K)
        k = math.ceil(bits / codewords)
        coded = math.ceil(k / threshold.code_rate)
        per_codeword = math.ceil(coded / math.log2(threshold.qam_order))
        return repeat * codewords * per_codeword


@SIDE_INFO_RULES.register("capacity")
class CapacityRule(SideInfoRule):
    """``ceil(bits / log2(1 + SNR))``: an ideal code, an optimistic floor."""

    name = "capacity"
    label = "at capacity (optimistic)"

    def channel_uses(self, bits: int, snr_db: float) -> int:
        bits = _check_bits(bits)
        return 0 if bits == 0 else math.ceil(bits / float(awgn_capacity(snr_db)))


def get_rule(name: str) -> SideInfoRule:
    """An instance of the rule registered as ``name``; the error lists the known rules."""
    return SIDE_INFO_RULES.get(name)()
