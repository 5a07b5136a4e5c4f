"""Separate source-channel coding, the papers' "BPG+LDPC" baseline: a real image codec, 5G LDPC and Gray M-QAM.

Transmitter, per image of ``H x W`` pixels at channel bandwidth ratio ``cbr``:

1. ``N = round(cbr * 3 * H * W)`` channel uses carry ``T = N * log2(M)`` coded bits.
2. Code blocks (:func:`plan`): ``C`` equal LDPC codewords of ``k = floor(R * T / C)`` information bits and
   ``n = floor(k / R)`` coded bits (so the rate is ``R`` or a hair above), ``C`` the fewest that keep ``k`` within
   5G's limit (8448 on BG1; 3824 below rate 1/3, where BG2 must be picked). The ``T - C * n`` bits left over (fewer
   than ``C * (1 + 1/R)``) are sent as scrambled zeros and counted in ``Layout.unused_bits``.
3. Byte budget: the ``C * k`` information bits hold an in-band length header of ``h = bit_length(C * k // 8)`` bits
   (the stream size in bytes; the receiver derives ``h`` from ``N``, ``R`` and ``M`` alone) then the codec stream,
   zero-padded. So the header costs no channel uses beyond ``N`` (no ``side_bits``) and is protected by the first
   codeword like the data.
4. The codec (HEVC-intra (BPG-equivalent) by default) is searched for the best quality whose stream fits
   (:meth:`SourceCodec.encode_to_budget`, never more bytes than the budget).
5. LDPC encoding, scrambling of the coded bits with a fixed pseudo-random sequence known to both ends (as 5G's
   Gold-sequence scrambling, TS 38.211 7.3.1.1: it keeps the QAM points equiprobable, so the power is the
   constellation's unit average whatever the padding), Gray M-QAM (unit average power): exactly ``N`` symbols.

Receiver: one-tap equalisation with perfect CSI, max-log LLRs, descrambling, LDPC decoding, length header, codec
decoding. When any codeword fails its parity checks, or the header or the stream is invalid, the receiver outputs
what a real one would have: nothing decodable, shown as the **mid-grey image** (0.5 everywhere), and counts the
failure in :attr:`SeparationScheme.stats` (and per image in ``SeparationScheme.last_failed``). It never switches to
another codec. The parity check is the only error detection (5G's CRC is not modelled), so an undetected LDPC error
can reach the codec: it then decodes to whatever the corrupt stream gives, or fails and is counted.

Side information: ``side["image_size"] = (H, W)``, a system parameter the receiver knows beforehand (it is also in
the codec stream; the receiver needs it for the fallback image), so it costs no channel uses.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from semcom_bench.errors import SemcomError
from semcom_bench.phy.base import CHANNELS, ChannelState
from semcom_bench.phy.channels import EQUALIZERS, equalize, make_generator
from semcom_bench.phy.ldpc import DECODERS, LDPC5G
from semcom_bench.phy.ldpc.code import K_MAX, K_MIN, RATE_MAX, RATE_MIN
from semcom_bench.phy.qam import QAM
from semcom_bench.schemes.base import FALLBACK_VALUE, SCHEMES, Scheme, Transmission
from semcom_bench.schemes.codecs import BudgetTooSmallError, CodecError, SourceCodec, get_codec

_SCRAMBLING_SEED = 0x5E9A  # fixed: both ends know the sequence
_K_MAX_BG2_CHOSEN = 3824  # 5G picks BG2 at rates in (1/4, 2/3] only up to this k (38.212 7.2.2)

# The (code rate, QAM order) grid of best_over_grid by default: 5G's usual rates with 4/16/64-QAM.
DEFAULT_GRID: tuple[tuple[float, int], ...] = tuple(
    (rate, order) for order in (4, 16, 64) for rate in (1 / 3, 1 / 2, 2 / 3, 3 / 4)
)


class LayoutError(SemcomError):
    """The channel uses cannot hold one LDPC codeword, or 5G LDPC has no code at the rate asked for."""


def channel_uses(cbr: float, height: int, width: int) -> int:
    """``N = round(cbr * 3 * H * W)``: the complex channel uses an image of ``H x W`` pixels gets at ``cbr``."""
    if not isinstance(cbr, int | float) or isinstance(cbr, bool) or not 0 < cbr <= 1e3:
        raise SemcomError(f"channel bandwidth ratio must be a positive number, got {cbr!r}")
    return int(round(cbr * 3 * height * width))


def images_to_uint8(images: torch.Tensor) -> list[np.ndarray]:
    """``(B, 3, H, W)`` float images in ``[0, 1]`` -> ``B`` arrays ``(H, W, 3)`` uint8 (rounded, clipped)."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise SemcomError(f"images must have shape (B, 3, H, W), got {shape}")
    pixels = (images.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    return [np.ascontiguousarray(p.permute(1, 2, 0).numpy()) for p in pixels]


def uint8_to_images(arrays: Sequence[np.ndarray]) -> torch.Tensor:
    """``B`` arrays ``(H, W, 3)`` uint8 -> ``(B, 3, H, W)`` float32 in ``[0, 1]``."""
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0


def psnr(reference: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """``(B,)`` PSNR in dB (peak 1) of ``images`` against ``reference``, both ``(B, 3, H, W)`` in ``[0, 1]``."""
    mse = (reference.float() - images.float()).square().flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-12))


@dataclass(frozen=True)
class Layout:
    """How one image's ``channel_uses`` symbols are filled (see the module docstring).

    ``codewords`` LDPC codewords of ``k`` information and ``n`` coded bits; ``header_bits`` of length header;
    ``byte_budget`` bytes of codec stream at most; ``unused_bits`` coded bits sent that carry nothing.
    """

    channel_uses: int
    bits_per_symbol: int
    codewords: int
    k: int
    n: int
    header_bits: int
    byte_budget: int
    unused_bits: int

    @property
    def coded_bits(self) -> int:
        """``N * log2(M)``: every bit the ``N`` symbols carry."""
        return self.channel_uses * self.bits_per_symbol


def plan(uses: int, code_rate: float, qam_order: int) -> Layout:
    """The code-block layout of ``uses`` channel uses at LDPC rate ``code_rate`` and ``qam_order``-QAM.

    Raises :class:`LayoutError` when the rate is outside 5G's range or the uses are too few for one codeword.
    """
    if not RATE_MIN["bg2"] <= code_rate <= RATE_MAX:
        raise LayoutError(f"code rate {code_rate} is outside 5G LDPC's range [{RATE_MIN['bg2']}, {RATE_MAX}]")
    m = QAM(qam_order).bits_per_symbol
    total = uses * m
    # BG1 goes down to rate 1/3 only; below, the codewords must stay short enough for 5G to pick BG2.
    k_max = K_MAX["bg1"] if code_rate >= RATE_MIN["bg1"] else _K_MAX_BG2_CHOSEN
    codewords = max(1, math.ceil(total * code_rate / k_max))
    k = min(math.floor(code_rate * total / codewords), k_max)
    n = math.floor(k / code_rate)  # so k / n >= code_rate: never below the base graph's lowest rate
    if k > RATE_MAX * n:
        k -= 1
    if k < K_MIN or n <= k:
        raise LayoutError(
            f"{uses} channel uses carry {total} coded bits: too few for one LDPC codeword at rate {code_rate:.3f}",
            hint="raise the channel bandwidth ratio or the QAM order",
        )
    info = codewords * k
    header = (info // 8).bit_length()
    return Layout(uses, m, codewords, k, n, header, (info - header) // 8, total - codewords * n)


@functools.lru_cache(maxsize=16)
def _scrambling(length: int) -> torch.Tensor:
    """The first ``length`` bits ``(length,)`` bool of the fixed scrambling sequence."""
    return torch.from_numpy(np.random.default_rng(_SCRAMBLING_SEED).integers(0, 2, length).astype(bool))


@dataclass
class SeparationStats:
    """Counters over every :meth:`SeparationScheme.receive` call since construction (or :meth:`reset`).

    ``images``: images received. ``ldpc_failures``: images with at least one codeword failing its parity checks.
    ``decode_failures``: images whose codewords all passed but whose length header or codec stream was invalid
    (undetected LDPC errors). ``codewords`` / ``codeword_failures``: the same per codeword. Every failed image was
    output as the mid-grey fallback.
    """

    images: int = 0
    ldpc_failures: int = 0
    decode_failures: int = 0
    codewords: int = 0
    codeword_failures: int = 0

    @property
    def failures(self) -> int:
        """Images output as the fallback."""
        return self.ldpc_failures + self.decode_failures


@SCHEMES.register("separation")
class SeparationScheme(Scheme):
    """Source codec + 5G LDPC (rate ``code_rate``) + Gray ``qam_order``-QAM; ``rate`` of ``transmit`` is the CBR.

    Args:
        codec: a :data:`~semcom_bench.schemes.codecs.CODECS` name (``"hevc"``: HEVC-intra (BPG-equivalent)).
        code_rate: LDPC rate ``R`` in [1/5, 0.95].
        qam_order: 4, 16, 64, 256 or 1024.
        ldpc_decoder: ``"fast"`` (layered min-sum, early stop) or ``"sionna"``.
        iterations: LDPC decoder iterations (at most).
        equalizer: ``"zf"`` (with perfect CSI, exact LLRs) or ``"mmse"`` (biased; an ablation only).

    After ``transmit``: ``last_quality`` / ``last_source_bytes`` ``(B,)`` int64, the codec quality and stream size
    of each image (transmitter-side diagnostics). After ``receive``: ``last_failed`` ``(B,)`` bool; ``stats``
    accumulates over calls.
    """

    name = "separation"

    def __init__(
        self,
        codec: str = "hevc",
        code_rate: float = 1 / 2,
        qam_order: int = 16,
        ldpc_decoder: str = "fast",
        iterations: int = 20,
        equalizer: str = "zf",
    ) -> None:
        if equalizer not in EQUALIZERS:
            raise SemcomError(f"unknown equalizer {equalizer!r}", hint=f"use one of: {', '.join(EQUALIZERS)}")
        if ldpc_decoder not in DECODERS:
            raise SemcomError(f"unknown LDPC decoder {ldpc_decoder!r}", hint=f"use one of: {', '.join(DECODERS)}")
        self.codec: SourceCodec = get_codec(codec)
        self.code_rate = float(code_rate)
        self.qam = QAM(qam_order)
        self.ldpc_decoder = ldpc_decoder
        self.iterations = iterations
        self.equalizer = equalizer
        self.stats = SeparationStats()
        self.last_quality = torch.zeros(0, dtype=torch.int64)
        self.last_source_bytes = torch.zeros(0, dtype=torch.int64)
        self.last_failed = torch.zeros(0, dtype=torch.bool)
        self._codes: dict[tuple[int, int], LDPC5G] = {}
        plan(1 << 16, self.code_rate, qam_order)  # reject a rate 5G cannot do now, not at the first image

    def __repr__(self) -> str:
        return (
            f"SeparationScheme(codec={self.codec.name!r}, code_rate={self.code_rate:.3f}, "
            f"qam_order={self.qam.order}, ldpc_decoder={self.ldpc_decoder!r})"
        )

    def reset(self) -> None:
        """Zero :attr:`stats`."""
        self.stats = SeparationStats()

    def layout(self, uses: int) -> Layout:
        """The :class:`Layout` of ``uses`` channel uses with this scheme's rate and modulation."""
        return plan(uses, self.code_rate, self.qam.order)

    def _code(self, layout: Layout) -> LDPC5G:
        key = (layout.k, layout.n)
        if key not in self._codes:  # building a 5G code (lifted parity-check matrix) takes about a second
            self._codes[key] = LDPC5G(layout.k, layout.n, decoder=self.ldpc_decoder, iterations=self.iterations)
        return self._codes[key]

    def transmit(self, images: torch.Tensor, rate: float, labels: Any | None = None) -> Transmission:
        """``(B, 3, H, W)`` images in ``[0, 1]`` -> ``(B, N)`` complex64 symbols, ``N = round(rate * 3 * H * W)``.

        Raises :class:`~semcom_bench.schemes.codecs.BudgetTooSmallError` when an image's smallest codec stream does
        not fit the byte budget this rate, code rate and modulation give, :class:`LayoutError` when the channel
        uses cannot hold one codeword.
        """
        arrays = images_to_uint8(images)
        height, width = arrays[0].shape[:2]
        layout = self.layout(channel_uses(rate, height, width))
        info = torch.zeros(len(arrays), layout.codewords * layout.k)
        qualities, sizes = [], []
        for row, array in zip(info, arrays, strict=True):
            stream, quality = self.codec.encode_to_budget(array, layout.byte_budget)
            header = [(len(stream) >> i) & 1 for i in range(layout.header_bits - 1, -1, -1)]
            payload = np.unpackbits(np.frombuffer(stream, dtype=np.uint8))
            row[: layout.header_bits] = torch.tensor(header, dtype=torch.float32)
            row[layout.header_bits : layout.header_bits + payload.size] = torch.from_numpy(payload)
            qualities.append(quality)
            sizes.append(len(stream))
        coded = self._code(layout).encode(info.reshape(len(arrays), layout.codewords, layout.k))
        bits = torch.zeros(len(arrays), layout.coded_bits, dtype=torch.bool)
        bits[:, : layout.codewords * layout.n] = coded.reshape(len(arrays), -1).bool()
        bits ^= _scrambling(layout.coded_bits)
        self.last_quality = torch.tensor(qualities, dtype=torch.int64)
        self.last_source_bytes = torch.tensor(sizes, dtype=torch.int64)
        return Transmission(
            symbols=self.qam.modulate_bits(bits.to(torch.uint8)).to(images.device),
            lengths=torch.full((len(arrays),), layout.channel_uses, dtype=torch.int64),
            side={"image_size": (height, width)},
        )

    def receive(self, received: torch.Tensor, transmission: Transmission, state: ChannelState) -> torch.Tensor:
        """Decode ``(B, N)`` noisy symbols into ``(B, 3, H, W)`` images; failures give the mid-grey fallback."""
        height, width = transmission.side["image_size"]
        batch = received.shape[0]
        layout = self.layout(received.shape[1])
        x_hat, noise_var = equalize(received, state, self.equalizer)
        llr = self.qam.llr(x_hat.cpu(), noise_var.cpu()).float()  # (B, N * log2 M)
        llr = torch.where(_scrambling(layout.coded_bits), -llr, llr)
        words = llr[:, : layout.codewords * layout.n].reshape(batch, layout.codewords, layout.n)
        bits, ok = self._code(layout).decode(words, return_ok=True)  # (B, C, k), (B, C)
        bits = bits.reshape(batch, -1).to(torch.uint8).numpy()
        recon = torch.full((batch, 3, height, width), FALLBACK_VALUE)
        failed = torch.ones(batch, dtype=torch.bool)
        for i, (row, row_ok) in enumerate(zip(bits, ok, strict=True)):
            if not bool(row_ok.all()):
                continue
            image = self._decode_row(row, layout, (height, width))
            if image is None:
                self.stats.decode_failures += 1
            else:
                recon[i] = uint8_to_images([image])[0]
                failed[i] = False
        self.stats.images += batch
        self.stats.ldpc_failures += int((~ok.all(dim=1)).sum())
        self.stats.codewords += ok.numel()
        self.stats.codeword_failures += int((~ok).sum())
        self.last_failed = failed
        return recon.to(received.device)

    def _decode_row(self, bits: np.ndarray, layout: Layout, size: tuple[int, int]) -> np.ndarray | None:
        """The image of one image's decoded information bits, or ``None`` when the header or stream is invalid."""
        length = int("".join(map(str, bits[: layout.header_bits])) or "0", 2)
        if length > layout.byte_budget:
            return None
        stream = np.packbits(bits[layout.header_bits : layout.header_bits + 8 * length]).tobytes()
        try:
            image = self.codec.decode(stream)
        except CodecError:
            return None
        return image if image.shape == (*size, 3) else None


@dataclass
class GridPoint:
    """The best (code rate, QAM order) of the grid at one SNR.

    ``psnr``: mean PSNR (dB) over the images of the best configuration; ``failure_rate``: its fraction of fallback
    images; ``by_config``: mean PSNR of every feasible configuration, keyed by ``(code_rate, qam_order)``
    (configurations whose byte budget holds no codec stream of some image are absent, see ``infeasible``).
    """

    snr_db: float
    code_rate: float
    qam_order: int
    psnr: float
    failure_rate: float
    by_config: dict[tuple[float, int], float] = field(default_factory=dict)
    infeasible: list[tuple[float, int]] = field(default_factory=list)


def best_over_grid(
    images: torch.Tensor,
    snrs_db: Sequence[float],
    cbr: float,
    grid: Sequence[tuple[float, int]] = DEFAULT_GRID,
    codec: str = "hevc",
    channel: str = "awgn",
    channel_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    ldpc_decoder: str = "fast",
    iterations: int = 20,
) -> list[GridPoint]:
    """Per SNR, the best separation configuration over ``grid``, as the papers report their BPG+LDPC baselines.

    ``images``: ``(B, 3, H, W)`` in ``[0, 1]``. Every configuration sends ``N = round(cbr * 3 * H * W)`` symbols per
    image through the channel ``CHANNELS.get(channel)(**channel_kwargs)`` drawn from ``make_generator(seed)``: the
    same noise and fading for every configuration and SNR (paired). Each configuration is source-coded once and
    received at every SNR. Best = highest mean PSNR over the images; a configuration that cannot carry some image
    at all (budget below the codec's smallest stream, or too few bits for a codeword) is listed as infeasible.
    """
    if not grid:
        raise SemcomError("the (code rate, QAM order) grid is empty")
    chan = CHANNELS.get(channel)(**(channel_kwargs or {}))
    sent: dict[tuple[float, int], tuple[SeparationScheme, Transmission]] = {}
    infeasible: list[tuple[float, int]] = []
    for rate, order in grid:
        scheme = SeparationScheme(codec, rate, order, ldpc_decoder=ldpc_decoder, iterations=iterations)
        try:
            sent[(rate, order)] = scheme, scheme.transmit(images, cbr)
        except (LayoutError, BudgetTooSmallError):
            infeasible.append((rate, order))
    if not sent:
        raise SemcomError(
            f"no (code rate, QAM order) configuration of the grid can carry these images at CBR {cbr}",
            hint="raise the CBR or add higher rates/orders to the grid",
        )
    points = []
    for snr in snrs_db:
        scores: dict[tuple[float, int], tuple[float, float]] = {}
        for config, (scheme, tx) in sent.items():
            y, state = chan(tx.symbols, snr, make_generator(seed))
            recon = scheme.receive(y, tx, state)
            scores[config] = float(psnr(images, recon).mean()), float(scheme.last_failed.float().mean())
        best = max(scores, key=lambda c: scores[c][0])
        points.append(
            GridPoint(
                snr_db=float(snr), code_rate=best[0], qam_order=best[1], psnr=scores[best][0],
                failure_rate=scores[best][1], by_config={c: s[0] for c, s in scores.items()},
                infeasible=list(infeasible),
            )
        )
    return points

