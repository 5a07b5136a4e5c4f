"""5G NR LDPC code (3GPP TS 38.212) with rate matching: our encoder, Sionna's or our fast CPU decoder.

The code itself (base graph tables, lifting size, lifted parity-check matrix) comes from Sionna's ``LDPC5GEncoder``;
encoding uses the quasi-cyclic structure directly (:mod:`.encoder`: bit-identical to Sionna's encoder, without its
``(batch, checks, degree)`` gather tensors, which take ~1 GB at 1000 codewords of k=4096).

Rate matching (redundancy version 0, no repetition, no output interleaver) as in Sionna's ``LDPC5GEncoder``: the ``k``
information bits are padded with ``k_ldpc - k`` known-zero *filler* bits (shortening), the mother code of
length ``n_ldpc`` is encoded, the filler bits and the first ``2 Z`` systematic bits are dropped (punctured), and the
first ``n`` bits of what is left are sent. The decoder puts LLR 0 at punctured positions, "known zero" at filler
positions, and prunes the checks whose only unsent bit is a punctured degree-1 parity bit (they carry no information).

LLR convention everywhere in this package: Sionna's, ``llr = ln P(b=1) / P(b=0)`` (positive means bit 1).
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from semcom_bench.errors import SemcomError
from semcom_bench.phy.ldpc.encoder import QCEncoder, rows_from_blocks

K_MIN = 12  # Sionna's lower limit
K_MAX = {"bg1": 8448, "bg2": 3840}
RATE_MAX = 0.95  # 38.212 5.4.2.1 (Sionna warns above 948/1024, as 38.214 quantises rates up to that)
RATE_MIN = {"bg1": 1 / 3, "bg2": 1 / 5}  # lower rates need repetition of the circular buffer: not supported
DECODERS = ("fast", "sionna")
_FILLER_LLR = np.float32(1e30)  # internal LLR of a known-zero filler bit: dominates every real message
_LLR_CLIP = 1e20  # channel LLRs (incl. +-inf) are clipped below the filler value so known bits stay known


@dataclass
class Decoded:
    """Result of :meth:`LDPC5G.decode_full` for ``B`` codewords (leading shape ``...``).

    ``bits``: ``(..., k)`` float32 hard information bits. ``ok``: ``(...,)`` bool, True when the decoded word
    satisfies every parity check. ``iterations``: ``(...,)`` int32, iterations run (the fast decoder stops early).
    """

    bits: torch.Tensor
    ok: torch.Tensor
    iterations: torch.Tensor


def select_base_graph(k: int, rate: float) -> str:
    """Base graph 5G would pick for ``k`` information bits at code rate ``rate`` (38.212 7.2.2, with A = k)."""
    if k <= 292 or (k <= 3824 and rate <= 0.67) or rate <= 0.25:
        return "bg2"
    return "bg1"


def _as_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or float(value) != int(value):
        raise SemcomError(f"LDPC {name} must be an integer number of bits, got {value!r}")
    return int(value)


def _check_params(k: int, n: int, bg: str | None) -> str:
    """Validate ``(k, n, bg)`` against 5G rate matching; return the base graph to use."""
    allowed = (
        f"5G LDPC supports {K_MIN} <= k <= {K_MAX['bg1']} (BG1) / {K_MAX['bg2']} (BG2) and "
        f"rate k/n in [1/3, {RATE_MAX}] for BG1, [1/5, {RATE_MAX}] for BG2"
    )
    if bg not in (None, "bg1", "bg2"):
        raise SemcomError(f"unknown LDPC base graph {bg!r}", hint="use 'bg1', 'bg2' or leave it unset (5G's choice)")
    if not K_MIN <= k <= K_MAX["bg1"]:
        raise SemcomError(f"LDPC k={k} is out of range", hint=allowed + "; segment longer payloads into code blocks")
    if n <= k:
        raise SemcomError(f"LDPC n={n} must be larger than k={k}", hint=allowed)
    rate = k / n
    if rate > RATE_MAX:
        hint = allowed + f"; use n >= {int(np.ceil(k / RATE_MAX))}"
        raise SemcomError(f"LDPC rate k/n={rate:.3f} is above {RATE_MAX}", hint=hint)
    graph = bg or select_base_graph(k, rate)
    if k > K_MAX[graph]:
        raise SemcomError(
            f"LDPC k={k} is too large for {graph.upper()} (at most {K_MAX[graph]})",
            hint=allowed + ("" if bg else f"; 5G picks BG2 for rate {rate:.3f} <= 1/4") + ".",
        )
    if rate < RATE_MIN[graph]:
        other = " or base graph bg2" if graph == "bg1" and k <= K_MAX["bg2"] else ""
        raise SemcomError(
            f"LDPC rate k/n={rate:.3f} is below {RATE_MIN[graph]:.3f}, the lowest {graph.upper()} reaches "
            "without repetition",
            hint=allowed + f"; use n <= {int(k / RATE_MIN[graph])}{other}",
        )
    return graph


class LDPC5G:
    """5G NR LDPC code with rate matching, ``k`` information bits in ``n`` code bits.

    ``decoder``: ``"fast"`` (our layered normalized min-sum on CPU, numba, early stop when all checks hold) or
    ``"sionna"`` (Sionna's ``LDPC5GDecoder``: flooding sum-product "boxplus-phi", ``iterations`` fixed, any device;
    ``sionna_options`` are passed on, e.g. ``{"cn_update": "minsum", "cn_schedule": "layered"}``).
    ``bg``: ``"bg1"``/``"bg2"`` forces a base graph; default is 5G's choice from ``k`` and the rate.
    ``scale``: min-sum normalization factor of the fast decoder. ``early_stop``: let the fast decoder stop a
    codeword once its checks hold (off gives a fixed iteration count, for timing comparisons).
    ``device``: where Sionna's blocks run (default: Sionna's configured device); the fast decoder runs on the CPU.
    Invalid parameters raise :class:`SemcomError` saying what 5G allows.
    """

    def __init__(
        self,
        k: int,
        n: int,
        decoder: str = "fast",
        iterations: int = 20,
        *,
        bg: str | None = None,
        scale: float = 0.7,
        early_stop: bool = True,
        device: str | None = None,
        sionna_options: dict[str, Any] | None = None,
    ) -> None:
        from sionna.phy.fec.ldpc import LDPC5GEncoder

        k, n = _as_int("k", k), _as_int("n", n)
        self.bg = _check_params(k, n, bg)
        if decoder not in DECODERS:
            raise SemcomError(f"unknown LDPC decoder {decoder!r}", hint="choose one of: " + ", ".join(DECODERS))
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise SemcomError(f"LDPC iterations must be a positive integer, got {iterations!r}")
        if not 0.0 < scale <= 1.0:
            raise SemcomError(f"min-sum scale must be in (0, 1], got {scale}")
        self.k, self.n = k, n
        self.decoder = decoder
        self.iterations = iterations
        self.scale = float(scale)
        self.early_stop = bool(early_stop)
        self._encoder = LDPC5GEncoder(k, n, bg=self.bg, device=device, check_input=False)
        self.z = self._encoder.z
        self.k_ldpc = self._encoder.k_ldpc
        self.n_ldpc = self._encoder.n_ldpc
        self._build_graph()
        if sionna_options and decoder != "sionna":
            raise SemcomError("sionna_options only apply to decoder='sionna'")
        self._sionna, self._sionna_pcm = (
            self._make_sionna_decoder(sionna_options or {}) if decoder == "sionna" else (None, None)
        )

    @property
    def rate(self) -> float:
        """Code rate ``k / n`` after rate matching."""
        return self.k / self.n

    @property
    def k_filler(self) -> int:
        """Known-zero filler bits added to reach ``k_ldpc`` (shortening)."""
        return self.k_ldpc - self.k

    def __repr__(self) -> str:
        return (
            f"LDPC5G(k={self.k}, n={self.n}, {self.bg}, Z={self.z}, filler={self.k_filler}, "
            f"decoder={self.decoder!r}, iterations={self.iterations})"
        )

    def _build_graph(self) -> None:
        """Quasi-cyclic structure of the pruned graph (fast decoder, encoder), read off Sionna's lifted matrix."""
        z, k_b = self.z, self.k_ldpc // self.z
        pcm = self._encoder.pcm.tocsr()
        # Last mother-code position that is sent (+1); later bits are punctured.
        sent_end = self.k_ldpc + self.n - (self.k - 2 * z)
        # Extension parity bit k_b*Z + q is the only unsent bit of check q (identity blocks): such checks are pruned.
        checks = max(4 * z, sent_end - k_b * z)
        layers = -(-checks // z)
        blk_ptr, blk_col, blk_shift = [0], [], []
        for r in range(layers):
            cols = pcm.indices[pcm.indptr[r * z] : pcm.indptr[r * z + 1]]
            for c in sorted(cols):
                blk_col.append(c // z)
                blk_shift.append(c % z)
            blk_ptr.append(len(blk_col))
        self._blk_ptr = np.asarray(blk_ptr, dtype=np.int64)
        self._blk_col = np.asarray(blk_col, dtype=np.int64)
        self._blk_shift = np.asarray(blk_shift, dtype=np.int64)
        self._active = np.minimum(z, checks - z * np.arange(layers)).astype(np.int64)
        self._dmax = int(np.diff(self._blk_ptr).max())
        self._num_vars = (max(blk_col) + 1) * z
        self._qc = QCEncoder(rows_from_blocks(self._blk_ptr, self._blk_col, self._blk_shift), z, k_b)

    def _make_sionna_decoder(self, options: dict[str, Any]) -> tuple[torch.nn.Module, Any]:
        """Sionna's 5G decoder (tapped for the full word) and the pruned parity-check matrix it decodes on."""
        from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPCBPDecoder

        class _Tap(LDPCBPDecoder):
            """Sits between ``LDPC5GDecoder`` and its BP core in the MRO and keeps the full hard decisions of the
            last call: ``LDPC5GDecoder.call`` returns only the information bits, the parity check needs the word."""

            def call(self, llr_ch: torch.Tensor, /, **kwargs: Any) -> torch.Tensor:
                out = super().call(llr_ch, **kwargs)
                self.last_codeword = out
                return out

        class _Tapped(LDPC5GDecoder, _Tap):
            pass

        options = {"num_iter": self.iterations, **options, "hard_out": True, "return_infobits": True}
        dec = _Tapped(self._encoder, **options)
        return dec, dec.pcm.tocsr()

    def warmup(self) -> float:
        """Decode one all-zero codeword so JIT compilation / cache loading is not timed later; returns seconds."""
        start = time.perf_counter()
        self.decode(torch.zeros(1, self.n))
        return time.perf_counter() - start

    def encode(self, bits: torch.Tensor) -> torch.Tensor:
        """Encode and rate-match ``bits`` ``(..., k)`` in {0, 1} (float or uint8) -> ``(..., n)``, same dtype."""
        if bits.shape[-1:] != (self.k,):
            raise SemcomError(f"LDPC encoder expects (..., {self.k}) bits, got shape {tuple(bits.shape)}")
        if bits.numel() and not bool(((bits == 0) | (bits == 1)).all()):
            raise SemcomError("LDPC encoder input must contain only 0 and 1")
        flat = bits.reshape(-1, self.k).to(torch.uint8)
        info = torch.nn.functional.pad(flat, (0, self.k_filler))  # known-zero filler bits
        word = self._qc(info)
        sent_sys = self.k - 2 * self.z  # the first 2Z systematic bits are never sent, nor the fillers
        parity = word[:, self.k_ldpc : self.k_ldpc + self.n - sent_sys]
        code = torch.cat([word[:, 2 * self.z : self.k], parity], dim=1)
        return code.to(bits.dtype).reshape(*bits.shape[:-1], self.n)

    def decode(self, llr: torch.Tensor, return_ok: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Decode ``llr`` ``(..., n)`` (``ln P(1)/P(0)``) -> hard information bits ``(..., k)`` float32.

        With ``return_ok`` also ``ok`` ``(...,)`` bool: False where the decoder ended on a word that violates a
        parity check (a detected decoding failure; undetected errors remain possible).
        """
        out = self.decode_full(llr)
        return (out.bits, out.ok) if return_ok else out.bits

    def decode_full(self, llr: torch.Tensor) -> Decoded:
        """Decode ``llr`` ``(..., n)`` and report bits, parity-check status and iterations, see :class:`Decoded`."""
        if llr.shape[-1:] != (self.n,):
            raise SemcomError(f"LDPC decoder expects (..., {self.n}) LLRs, got shape {tuple(llr.shape)}")
        if not llr.is_floating_point():
            raise SemcomError(f"LDPC decoder expects floating-point LLRs, got {llr.dtype}")
        if bool(torch.isnan(llr).any()):
            raise SemcomError(
                "LDPC decoder input contains NaN LLRs",
                hint="check the demapper's noise variance (0 or NaN noise gives NaN LLRs)",
            )
        lead = llr.shape[:-1]
        flat = llr.reshape(-1, self.n)
        if self.decoder == "fast":
            threads = torch.get_num_threads()
            bits, ok, iters = self._decode_fast(flat)
            torch.set_num_threads(threads)  # numba's OpenMP start-up resets torch's thread count
        else:
            bits, ok, iters = self._decode_sionna(flat)
        return Decoded(
            bits=bits.to(llr.device).reshape(*lead, self.k),
            ok=ok.to(llr.device).reshape(lead),
            iterations=iters.to(llr.device).reshape(lead),
        )

    def _decode_fast(self, llr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        from semcom_bench.phy.ldpc.kernels import decode_batch

        z, k, batch = self.z, self.k, llr.shape[0]
        sent = llr.detach().to(device="cpu", dtype=torch.float32).clamp(-_LLR_CLIP, _LLR_CLIP).numpy()
        sys_sent = k - 2 * z
        # Mother-code LLRs in the decoder's sign (positive = 0): punctured 0, filler known zero, the rest sent.
        post = np.zeros((batch, self._num_vars), dtype=np.float32)
        np.negative(sent[:, :sys_sent], out=post[:, 2 * z : k])
        post[:, k : self.k_ldpc] = _FILLER_LLR
        np.negative(sent[:, sys_sent:], out=post[:, self.k_ldpc : self.k_ldpc + self.n - sys_sent])
        bits = np.empty((batch, k), dtype=np.uint8)
        ok = np.empty(batch, dtype=np.bool_)
        iters = np.empty(batch, dtype=np.int32)
        decode_batch(
            post, k, self._blk_ptr, self._blk_col, self._blk_shift, self._active, z, self._dmax,
            np.float32(self.scale), self.iterations, self.early_stop, bits, ok, iters,
        )  # fmt: skip
        return torch.from_numpy(bits).float(), torch.from_numpy(ok), torch.from_numpy(iters)

    def _decode_sionna(self, llr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        dec = self._sionna
        device = self._encoder.device
        if llr.shape[0] == 0:
            empty = torch.zeros(0, dtype=torch.int32)
            return torch.zeros(0, self.k), empty.bool(), empty
        bits = dec(llr.detach().to(device=device, dtype=torch.float32))
        word = dec.last_codeword.reshape(llr.shape[0], -1).detach().cpu().numpy().astype(np.uint8)
        ok = torch.from_numpy(((self._sionna_pcm @ word.T) % 2 == 0).all(axis=0))
        iters = torch.full((llr.shape[0],), self.iterations, dtype=torch.int32)
        return bits.float(), ok, iters
