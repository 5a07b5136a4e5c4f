"""5G LDPC: codewords satisfy the mother code's checks, both decoders recover clean and high-SNR words and agree,
punctured/filler positions are handled, failures are flagged, bad parameters and NaN LLRs are rejected."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semcom_bench.errors import SemcomError
from semcom_bench.phy.ldpc import LDPC5G, select_base_graph

# (k, n, bg, why): both base graphs, filler bits (k < k_ldpc), heavy/little puncturing
CASES = [
    (256, 768, None, "BG2, rate 1/3"),
    (100, 480, None, "BG2, small k: 80 filler bits"),
    (1000, 1500, None, "BG2, rate 2/3"),
    (1024, 1280, None, "BG1, rate 0.8"),
    (950, 1000, None, "BG1, rate 0.95: core parity bits punctured too"),
    (512, 1024, "bg1", "BG1 forced where 5G picks BG2"),
]
IDS = [why for *_, why in CASES]


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def codes(request: pytest.FixtureRequest) -> tuple[LDPC5G, LDPC5G]:
    k, n, bg, _ = request.param
    # 10 iterations keep Sionna's CPU decoding short; high-SNR words converge well within that
    return LDPC5G(k, n, bg=bg, iterations=10), LDPC5G(k, n, decoder="sionna", bg=bg, iterations=10)


def _bits(batch: int, k: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 2, (batch, k), generator=torch.Generator().manual_seed(seed)).float()


def _bpsk_llr(word: torch.Tensor, ebn0_db: float, rate: float, seed: int) -> torch.Tensor:
    """Sionna-sign LLRs of ``word`` sent as BPSK over AWGN."""
    sigma2 = 1 / (2 * rate * 10 ** (ebn0_db / 10))
    gen = torch.Generator().manual_seed(seed)
    y = (2 * word - 1) + torch.randn(word.shape, generator=gen) * sigma2**0.5
    return 2 * y / sigma2


def test_codeword_satisfies_mother_code_checks(codes: tuple[LDPC5G, LDPC5G]) -> None:
    code, _ = codes
    u = _bits(8, code.k, 0)
    word = code.encode(u).numpy().astype(np.int64)
    assert np.array_equal(word, code._encoder(u).numpy())  # bit-identical to Sionna's encoder
    z = code.z
    sent_sys = code.k - 2 * z
    # mother codeword: information bits, zero fillers, the sent parity bits; later parity bits are unknown (punctured)
    mother = np.zeros((8, code.n_ldpc), dtype=np.int64)
    mother[:, : code.k] = u.numpy()
    mother[:, code.k_ldpc : code.k_ldpc + code.n - sent_sys] = word[:, sent_sys:]
    assert np.array_equal(word[:, :sent_sys], mother[:, 2 * z : code.k])  # systematic part sent after 2Z punctured
    known = np.zeros(code.n_ldpc, dtype=bool)
    known[: code.k_ldpc + code.n - sent_sys] = True
    pcm = code._encoder.pcm.tocsr()
    rows = [r for r in range(pcm.shape[0]) if known[pcm.indices[pcm.indptr[r] : pcm.indptr[r + 1]]].all()]
    assert len(rows) >= 2 * z  # not vacuous: at least the checks that involve no punctured parity bit
    assert not ((pcm[rows] @ mother.T) % 2).any()


def test_encode_shapes_and_dtypes() -> None:
    code = LDPC5G(256, 512)
    u = _bits(6, 256, 1).reshape(2, 3, 256)
    word = code.encode(u.to(torch.uint8))
    assert word.shape == (2, 3, 512) and word.dtype == torch.uint8
    assert torch.equal(word.float(), code.encode(u))
    assert code.encode(torch.zeros(0, 256)).shape == (0, 512)
    assert code.decode(torch.zeros(0, 512)).shape == (0, 256)
    bits, ok = code.decode(8.0 * (2 * word.float() - 1), return_ok=True)
    assert bits.shape == (2, 3, 256) and ok.shape == (2, 3) and ok.all()
    assert torch.equal(bits, u)
    with pytest.raises(SemcomError, match="only 0 and 1"):
        code.encode(2 * u)
    with pytest.raises(SemcomError, match=r"\(\.\.\., 256\)"):
        code.encode(u[..., :100])


def test_noiseless_and_high_snr_decode_exactly(codes: tuple[LDPC5G, LDPC5G]) -> None:
    fast, sionna = codes
    u = _bits(8, fast.k, 2)
    word = fast.encode(u)
    llr = torch.stack([20.0 * (2 * word - 1), _bpsk_llr(word, 7.0, fast.rate, 3)])  # noiseless, high SNR
    for dec in (fast, sionna):
        out = dec.decode_full(llr)
        assert torch.equal(out.bits, u.expand(2, -1, -1)), dec
        assert out.ok.all(), dec


def test_fast_matches_sionna_at_high_snr(codes: tuple[LDPC5G, LDPC5G]) -> None:
    fast, sionna = codes
    u = _bits(16, fast.k, 4)
    llr = _bpsk_llr(fast.encode(u), 7.0, fast.rate, 5)  # still 0.1-3 % wrong hard decisions before decoding
    assert ((llr > 0) != (fast.encode(u) > 0)).any()
    assert torch.equal(fast.decode(llr), sionna.decode(llr))


def test_punctured_bits_are_recovered(codes: tuple[LDPC5G, LDPC5G]) -> None:
    fast, _ = codes
    u = _bits(16, fast.k, 6)
    llr = _bpsk_llr(fast.encode(u), 8.0, fast.rate, 7)
    llr[:, :: int(np.ceil(3 / (1 - fast.rate)))] = 0.0  # erase a third of the redundancy on top of the 2Z unsent bits
    out = fast.decode_full(llr)
    assert torch.equal(out.bits[:, : 2 * fast.z], u[:, : 2 * fast.z])  # the punctured systematic bits
    assert torch.equal(out.bits, u) and out.ok.all()


def test_pruned_graph_matches_sionna(codes: tuple[LDPC5G, LDPC5G]) -> None:
    fast, sionna = codes
    # Sionna prunes the checks of punctured degree-1 parity bits at bit granularity, like the fast decoder
    assert int(fast._active.sum()) == sionna._sionna_pcm.shape[0]


def test_return_ok_flags_failures() -> None:
    for decoder in ("fast", "sionna"):
        code = LDPC5G(256, 512, decoder=decoder)
        u = _bits(16, 256, 8)
        llr = _bpsk_llr(code.encode(u), -3.0, code.rate, 9)
        bits, ok = code.decode(llr, return_ok=True)
        wrong = (bits != u).any(dim=1)
        assert wrong.all() and not ok.any(), decoder
    out = LDPC5G(256, 512).decode_full(llr)
    assert (out.iterations == 20).all()  # never satisfied, so never stopped early


def test_early_stop() -> None:
    code = LDPC5G(512, 1024)
    u = _bits(8, 512, 10)
    out = code.decode_full(20.0 * (2 * code.encode(u) - 1))
    assert (out.iterations == 1).all()
    fixed = LDPC5G(512, 1024, early_stop=False, iterations=7).decode_full(20.0 * (2 * code.encode(u) - 1))
    assert (fixed.iterations == 7).all() and fixed.ok.all() and torch.equal(fixed.bits, u)


def test_infinite_llrs_are_clipped_not_fatal() -> None:
    code = LDPC5G(256, 512)
    u = _bits(4, 256, 11)
    llr = torch.where(code.encode(u) > 0, torch.tensor(float("inf")), torch.tensor(float("-inf")))
    assert torch.equal(code.decode(llr), u)


def test_nan_llrs_rejected() -> None:
    code = LDPC5G(256, 512)
    llr = torch.zeros(2, 512)
    llr[1, 7] = float("nan")
    with pytest.raises(SemcomError, match="NaN"):
        code.decode(llr)
    with pytest.raises(SemcomError, match=r"\(\.\.\., 512\)"):
        code.decode(torch.zeros(2, 500))


def test_base_graph_selection() -> None:
    assert select_base_graph(4096, 2 / 3) == "bg1"
    assert select_base_graph(292, 0.9) == "bg2"
    assert select_base_graph(3824, 0.6) == "bg2"
    assert select_base_graph(3825, 0.6) == "bg1"
    assert select_base_graph(8000, 0.25) == "bg2"
    code = LDPC5G(4096, 6144)
    assert (code.bg, code.z, code.k_filler, code.rate) == ("bg1", 192, 128, 4096 / 6144)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 512, "n": 400}, "must be larger than k"),
        ({"k": 9000, "n": 12000}, "out of range"),
        ({"k": 5, "n": 20}, "out of range"),
        ({"k": 1000, "n": 1040}, "above 0.95"),
        ({"k": 1000, "n": 6000}, "below 0.200"),
        ({"k": 1000, "n": 3500, "bg": "bg1"}, "below 0.333"),
        ({"k": 4000, "n": 8000, "bg": "bg2"}, "too large for BG2"),
        ({"k": 6000, "n": 26000}, "too large for BG2"),
        ({"k": 100.5, "n": 200}, "integer"),
        ({"k": 256, "n": 512, "bg": "bg3"}, "base graph"),
        ({"k": 256, "n": 512, "decoder": "bp"}, "unknown LDPC decoder"),
        ({"k": 256, "n": 512, "iterations": 0}, "iterations"),
    ],
)
def test_invalid_parameters(kwargs: dict, message: str) -> None:
    with pytest.raises(SemcomError, match=message):
        LDPC5G(**kwargs)


def test_fast_decoding_leaves_torchs_thread_count_alone() -> None:
    import subprocess
    import sys

    code = ("import torch; torch.set_num_threads(1); from semcom_bench.phy.ldpc import LDPC5G; c = LDPC5G(512, 1024); "
            "x = c.encode(torch.randint(0, 2, (4, 512)).float()); c.decode((2 * x - 1) * 8.0); "
            "print(torch.get_num_threads())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
