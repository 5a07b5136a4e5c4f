"""Side-information pricing: the shipped LDPC thresholds hold under simulation, and both rules price as declared."""

from __future__ import annotations

import math

import pytest

from semcom_bench.benchmark.side_info import MAX_K, SIDE_INFO_RULES, CapacityRule, LDPCRule, get_rule
from semcom_bench.errors import SemcomError
from semcom_bench.phy.ber import ebn0_to_snr_db, simulate
from semcom_bench.phy.ldpc import LDPC5G
from semcom_bench.phy.thresholds import REFERENCE_K, load_table, shannon_limit_db


def test_table_is_sane_against_shannon() -> None:
    table = load_table()
    assert len(table) == 18
    for t in table:  # no code beats capacity; a short min-sum code is within a few dB of it
        assert shannon_limit_db(t.bits_per_use) < t.snr_db < shannon_limit_db(t.bits_per_use) + 4.5
    by_order: dict[int, list[float]] = {}
    for t in sorted(table, key=lambda t: t.code_rate):
        by_order.setdefault(t.qam_order, []).append(t.snr_db)
    assert all(a < b for snrs in by_order.values() for a, b in zip(snrs, snrs[1:]))  # higher rate, more SNR


@pytest.mark.slow
def test_a_shipped_threshold_holds_under_simulation() -> None:
    """QPSK at rate 1/2 decodes just above its threshold and clearly fails 1.5 dB below it."""
    (t,) = [t for t in load_table() if t.qam_order == 4 and t.code_rate == 0.5]
    code = LDPC5G(REFERENCE_K, 2 * REFERENCE_K)

    def fer(snr_db: float) -> float:
        ebn0 = snr_db - 10 * math.log10(code.rate * 2)
        assert ebn0_to_snr_db(ebn0, code.rate, 2) == pytest.approx(snr_db)
        (row,) = simulate(code, 4, [ebn0], frames=400, batch=200, seed=7, min_frame_errors=400)
        return row["fer"]

    assert fer(t.snr_db + 0.5) <= 0.02
    assert fer(t.snr_db - 1.5) >= 0.1


def test_ldpc_rule_picks_the_most_efficient_setting_that_decodes() -> None:
    rule = LDPCRule()
    for snr in (-2.0, 0.0, 4.0, 10.0, 20.0):
        chosen, repeat = rule.setting(snr)
        assert repeat == 1 and chosen.snr_db <= snr
        assert all(t.bits_per_use <= chosen.bits_per_use for t in load_table() if t.snr_db <= snr)
    robust = min(load_table(), key=lambda t: t.snr_db)
    chosen, repeat = rule.setting(robust.snr_db - 3.5)  # Chase combining of copies makes up the missing SNR
    assert chosen == robust and repeat == math.ceil(10 ** 0.35)
    prices = [rule.channel_uses(384, snr) for snr in (-6.0, -3.0, 0.0, 3.0, 10.0, 20.0)]
    assert all(a >= b for a, b in zip(prices, prices[1:])) and prices[0] > prices[-1]


def test_ldpc_rule_counts_codewords_and_symbols() -> None:
    rule = LDPCRule()
    t, _ = rule.setting(10.0)
    bits = 2 * MAX_K + 10  # three codewords of ceil(bits / 3) information bits
    k = math.ceil(bits / 3)
    assert rule.channel_uses(bits, 10.0) == 3 * math.ceil(math.ceil(k / t.code_rate) / math.log2(t.qam_order))
    assert rule.channel_uses(0, -10.0) == 0


def test_capacity_rule_and_registry() -> None:
    assert CapacityRule().channel_uses(1000, 0.0) == 1000  # 1 bit per use at 0 dB
    assert CapacityRule().channel_uses(1000, 10.0) == math.ceil(1000 / math.log2(11))
    assert set(SIDE_INFO_RULES.names()) == {"ldpc", "capacity"}
    with pytest.raises(SemcomError, match="unknown side-information rule") as err:
        get_rule("free")
    assert "capacity" in err.value.hint
    with pytest.raises(SemcomError, match="non-negative whole number"):
        LDPCRule().channel_uses(-1, 3.0)
