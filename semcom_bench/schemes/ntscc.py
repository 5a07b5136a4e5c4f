"""NTSCC, nonlinear transform source-channel coding (Dai et al., JSAC 2022), the backbone of InsCom's ISE/ISD.

Transmitter, for ``(B, 3, H, W)`` images (``H, W`` multiples of 64):

1. Analysis transform ``g_a`` (pluggable, :data:`~semcom_bench.schemes.layers.TRANSFORMS`): latent ``y`` of shape
   ``(B, C, h, w)``, ``h = H / 16``, ``w = W / 16``; each spatial position is one *token* of ``C`` values.
2. Hyperprior: ``z = h_a(y)`` (``(B, Cz, h / 4, w / 4)``) with a factorised prior (CompressAI ``EntropyBottleneck``);
   ``h_s(z_hat)`` gives the mean and scale of a Gaussian for every element of ``y`` (``GaussianConditional``).
3. Rate allocation: token ``i``'s estimated information is ``bits_i = -sum_c log2 p(y_hat_ic | z_hat)`` (the
   likelihood of the rounded latent at evaluation, of the noise-relaxed one in training). It gets
   ``k_i = Q(eta * bits_i)`` complex channel symbols, ``Q`` rounding to the nearest entry of ``rate_table`` (ties
   upwards; values past the ends clamp). So ``eta`` is channel uses per estimated bit; NTSCC's eta counts real
   dimensions and equals twice ours. ``k_i`` is monotone in ``eta`` for a given image: sweeping ``eta`` sweeps the
   CBR (InsCom Fig. 3).
4. Variable-length JSCC encoder ``f_e``: tokens ``[y_i, 1 - p(y_i | z)]`` plus a learned embedding of the rate
   index, context blocks (:class:`~semcom_bench.schemes.layers.TokenBlock`), and one shared head to ``2 * k_max``
   reals of which the first ``2 * k_i`` are kept (a rate-conditioned prefix). The kept reals of all tokens are
   paired into complex symbols, packed token after token (raster order) into the first ``lengths[b] = sum_i k_i``
   positions of row ``b``, and normalised to unit average power over those (``normalize_power(x, lengths)``);
   rows are zero-padded to the longest one of the batch.

Side information (``Transmission.side``, received error-free) and its size in bits (``Transmission.side_bits``):

* ``rate_indices`` ``(B, h, w)`` int64: ``h * w * ceil(log2(len(rate_table)))`` bits per image.
* with ``send_hyperprior=True``, also ``z_hat``: ``ceil(-sum log2 p(z_hat))`` bits, the length an ideal arithmetic
  coder reaches under the factorised prior (CompressAI's range coder is within a few bytes of it).
* ``image_size`` is a system parameter and costs nothing.

The scheme reports bits only; the harness prices them in channel uses by its one rule for every scheme
(:mod:`semcom_bench.benchmark.side_info`) and adds those to ``lengths``.

Receiver: one-tap equalisation (perfect CSI; zero forcing by default, so on AWGN the decoder sees ``x + n`` and
cannot read the SNR off the signal's scale as it could from MMSE's ``x / (1 + N0)``), unpacking with the known rate
indices (unused positions are zero), decoder ``f_d`` (rate embedding, context blocks, and with ``send_hyperprior``
the hyperprior's means and scales as extra token features, NTSCC's hyperprior-aided decoding) back to ``y_hat``, then
``g_s`` and clamping to ``[0, 1]``.

Training (:meth:`NTSCC.training_step`) sweeps the rate so that one model serves every ``eta``: by default each step
draws a target mean of ``k_bar`` symbols per token log-uniformly between the table's ends and uses
``eta = k_bar / mean_i(bits_i)`` over the batch (the allocation across tokens still follows their bits, and the whole
table is trained whatever the entropy of the data); with ``eta_range=(low, high)`` it draws ``eta`` log-uniformly
there instead (``(0.1, 0.1)``: NTSCC's fixed-eta training, in our units). Then

    loss = MSE(x, x_jscc) + ntc_weight * MSE(x, g_s(round_ste(y))) + lmbda * (bpp_y + bpp_z)

MSE on images in ``[0, 1]``; ``bpp`` = entropy-model bits per pixel (noise relaxation, Ballé et al.). The NTC term
(decoding the quantised latent without the channel) is the NTSCC reference training's stabiliser; ``lmbda = 1e-3``
matches its lambda = 64 on a 0-255 MSE. The rate term shrinks the estimated bits, hence the CBR at a given ``eta``.
CompressAI's auxiliary loss, which fits the ``EntropyBottleneck`` quantiles, is returned as ``aux_loss`` and is NOT
part of ``loss``: step it with its own optimiser over :meth:`NTSCC.aux_parameters` (CompressAI uses Adam, lr 1e-3);
``loss`` gives those parameters no gradient. Leaving it out only keeps the z medians at 0 (the rounding offset of z).

Operating regime (issue 9, item 8). A model's latent carries a fixed amount of information; ``eta`` only decides how
many symbols carry it, so PSNR rises with ``eta`` only while the symbols are the bottleneck: roughly below
``eta = 1 / log2(1 + SNR)`` (0.29 at 10 dB, 1 at 0 dB, 1.7 at -3 dB), and only where ``eta * bits_i`` lands inside
the table. Three things place a model there:

* the table: from ``C / 32`` to ``C / 2`` symbols (:func:`ntscc_rate_table`). A high minimum (main's 8..128 for any
  ``C``, or 8..64 for the old ``C = 64`` smoke model) gives every token 8 symbols at the low end of the sweep, already
  enough for a short-trained model's quality ceiling: the demo's flat 16-17 dB;
* the sweep: ``eta`` in 0.025..1.6 (``benchmarks/ntscc_regime.py``; NTSCC's reference trains at 0.2 reals per bit,
  0.1 here), which spans the table for the bits per token our models spend (about 10 to 200);
* lambda: under the rate-targeted training the symbol counts seen in training do not depend on lambda, so lambda sets
  the bits per token, hence which ``eta`` maps to which ``k``, more than the curve at equal CBR. Measured after 1000
  steps (64x128 synthcity, ``C = 128``): 2.5e-4, 1e-3 and 4e-3 (NTSCC's lambda 16, 64, 256 on a 0-255 MSE) give
  110-220 bits per token and curves within about 1 dB of each other at equal CBR, in no order of lambda (the spread
  of short runs). 1e-2 (``C = 64``, 128x256, 300 steps) collapses the entropy model to about 7 bits per token: every
  ``eta`` up to 1 then gives the table's minimum to most tokens and PSNR is flat again. Training at a fixed eta range
  (``eta_range``, NTSCC's own regime) trades as well inside the trained range, falls off above it, and collapses the
  same way at 1e-2.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.ops import quantize_ste
from torch import nn

from semcom_bench.errors import SemcomError, ShapeMismatchError
from semcom_bench.phy.base import Channel, ChannelState
from semcom_bench.phy.channels import EQUALIZERS, equalize
from semcom_bench.phy.power import normalize_power
from semcom_bench.schemes import swin  # noqa: F401  (registers the "swin" transform)
from semcom_bench.schemes.base import SCHEMES, TrainableScheme, Transmission
from semcom_bench.schemes.layers import (
    TRANSFORM_DOWNSAMPLE,
    TRANSFORMS,
    TokenBlock,
    complex_to_real,
    conv,
    deconv,
    real_to_complex,
)

HYPER_DOWNSAMPLE = 4  # h_a halves the latent grid twice
IMAGE_MULTIPLE = TRANSFORM_DOWNSAMPLE * HYPER_DOWNSAMPLE
RATE_STEPS = 16  # NTSCC's table: 16 equal steps up to the latent width


def ntscc_rate_table(latent_channels: int, steps: int = RATE_STEPS) -> list[int]:
    """NTSCC's rate table for a latent of ``C`` channels, in complex symbols: ``steps`` equal steps up to ``C / 2``.

    A token of ``C`` reals needs at most ``C / 2`` complex symbols to be sent uncoded, so that is the table's
    maximum (NTSCC: ``C = 256``, 16..256 reals, i.e. 8..128 symbols); far more wastes symbols on redundancy,
    far fewer caps quality. ``C = 128`` gives 4, 8, ..., 64.
    """
    k_max = int(latent_channels) // 2
    if k_max < steps or k_max % steps:
        raise SemcomError(f"latent_channels={latent_channels} does not split into {steps} rate steps up to C/2",
                          hint=f"use a multiple of {2 * steps} channels, or pass rate_table explicitly")
    return list(range(k_max // steps, k_max + 1, k_max // steps))


NTSCC_RATE_TABLE = tuple(ntscc_rate_table(256))  # NTSCC's 16..256 real values per token, in complex symbols


def _tokens(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, h, w)`` -> ``(B, h * w, C)``."""
    return x.flatten(2).transpose(1, 2)


def _grid(x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """``(B, h * w, C)`` -> ``(B, C, h, w)``."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *grid)


class JSCCEncoder(nn.Module):
    """``f_e``: ``(y (B, L, C), 1 - p (B, L, C), rate index (B, L))`` -> ``(B, L, 2 * k_max)`` reals (unmasked)."""

    def __init__(self, latent_channels: int, dim: int, depth: int, heads: int, rates: int, k_max: int) -> None:
        super().__init__()
        self.embed = nn.Linear(2 * latent_channels, dim)
        self.rate_embed = nn.Embedding(rates, dim)
        self.blocks = nn.ModuleList(TokenBlock(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 2 * k_max)

    def forward(
        self, y: torch.Tensor, surprise: torch.Tensor, index: torch.Tensor, grid: tuple[int, int]
    ) -> torch.Tensor:
        x = self.embed(torch.cat([y, surprise], dim=-1)) + self.rate_embed(index)
        for block in self.blocks:
            x = block(x, grid)
        return self.head(self.norm(x))


class JSCCDecoder(nn.Module):
    """``f_d``: ``(noisy reals (B, L, 2 * k_max) zero past 2 k_i, rate index (B, L), hyper (B, L, 2C) or None)``
    -> ``y_hat (B, L, C)``."""

    def __init__(
        self, latent_channels: int, dim: int, depth: int, heads: int, rates: int, k_max: int, hyper: bool
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(2 * k_max, dim)
        self.rate_embed = nn.Embedding(rates, dim)
        self.hyper = nn.Linear(2 * latent_channels, dim) if hyper else None
        self.blocks = nn.ModuleList(TokenBlock(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, latent_channels)

    def forward(
        self, s: torch.Tensor, index: torch.Tensor, hyper: torch.Tensor | None, grid: tuple[int, int]
    ) -> torch.Tensor:
        x = self.embed(s) + self.rate_embed(index)
        if self.hyper is not None and hyper is not None:
            x = x + self.hyper(hyper)
        for block in self.blocks:
            x = block(x, grid)
        return self.head(self.norm(x))


@dataclass
class _Analysis:
    """Transmitter-side intermediates of one batch (shapes for ``h x w`` latent tokens)."""

    y: torch.Tensor  # (B, C, h, w)
    z_hat: torch.Tensor  # (B, Cz, h/4, w/4), quantised (straight-through)
    z_likelihoods: torch.Tensor  # (B, Cz, h/4, w/4)
    means: torch.Tensor  # (B, C, h, w)
    y_likelihoods: torch.Tensor  # (B, C, h, w)

    @property
    def token_bits(self) -> torch.Tensor:
        """``(B, h, w)`` estimated bits of each token, ``-sum_c log2 p(y_c | z)`` (no gradient)."""
        return -torch.log2(self.y_likelihoods.detach()).sum(dim=1)


@SCHEMES.register("ntscc")
class NTSCC(TrainableScheme):
    """NTSCC with a hyperprior, entropy-guided rate allocation and a variable-length JSCC; ``rate`` is eta.

    Args:
        transform: name of the ``g_a``/``g_s`` pair in :data:`~semcom_bench.schemes.layers.TRANSFORMS`: ``"cnn"``
            (Ballé et al.'s GDN convolutions) or ``"swin"`` (NTSCC's own, stage widths ~2N/3..5N/3, in
            :mod:`semcom_bench.schemes.swin`).
        transform_channels: width ``N`` of the transforms' hidden layers.
        latent_channels: channels ``C`` of the latent ``y`` (values per token).
        hyper_channels: channels ``Cz`` of the hyper-latent ``z`` and width of ``h_a``/``h_s``.
        jscc_dim: token width inside ``f_e`` and ``f_d``.
        jscc_depth: context blocks in each of ``f_e`` and ``f_d``.
        jscc_heads: attention heads (must divide ``jscc_dim``).
        rate_table: allowed symbol counts per token, strictly increasing non-negative ints (complex channel uses);
            ``None`` (default): :func:`ntscc_rate_table` of ``latent_channels`` (maximum ``C / 2``).
        eta_range: ``None`` (rate-targeted training, module docstring) or ``(low, high)``: training draws eta
            log-uniformly in it (equal ends: a fixed eta).
        lmbda: weight of the entropy-model rate ``bpp_y + bpp_z`` in the loss.
        ntc_weight: weight of the channel-free NTC reconstruction term.
        send_hyperprior: also send ``z_hat`` (counted in ``side_bits``) and let ``f_d`` use the hyperprior.
        equalizer: ``"zf"`` (default; the identity on AWGN) or ``"mmse"`` (for fading channels; on AWGN it scales
            the output by ``1 / (1 + N0)``, which tells the decoder the SNR).

    The defaults are the paper sizes (NTSCC's widths: N 192, C 256, Cz 192, a 256-wide JSCC of 4 blocks, the 8..128
    table; about 20 M parameters with the cnn transform, 32 M with swin). For CPU smoke runs (the smoke profile):
    ``transform_channels=48, latent_channels=128, hyper_channels=48, jscc_dim=64, jscc_depth=1, jscc_heads=4``,
    the table ``4, 8, ..., 64`` (about 1.6 M).
    """

    name = "ntscc"

    def __init__(
        self,
        transform: str = "cnn",
        transform_channels: int = 192,
        latent_channels: int = 256,
        hyper_channels: int = 192,
        jscc_dim: int = 256,
        jscc_depth: int = 4,
        jscc_heads: int = 8,
        rate_table: Sequence[int] | None = None,
        eta_range: Sequence[float] | None = None,
        lmbda: float = 1e-3,
        ntc_weight: float = 1.0,
        send_hyperprior: bool = False,
        equalizer: str = "zf",
    ) -> None:
        super().__init__()
        table = ntscc_rate_table(latent_channels) if rate_table is None else [int(k) for k in rate_table]
        if not table or table[0] < 0 or any(b <= a for a, b in itertools.pairwise(table)) or table[-1] < 1:
            raise SemcomError(
                f"rate_table must be strictly increasing non-negative ints with a positive maximum, got {table}",
                hint="e.g. multiples of 8 up to 128: list(range(8, 129, 8))",
            )
        if eta_range is not None:
            low, high = (float(e) for e in eta_range)
            if not 0 < low <= high:
                raise SemcomError(f"eta_range must be (low, high) with 0 < low <= high, got {list(eta_range)}")
        if equalizer not in EQUALIZERS:
            raise SemcomError(f"unknown equalizer {equalizer!r}", hint=f"use one of: {', '.join(EQUALIZERS)}")
        if jscc_dim % jscc_heads:
            raise SemcomError(f"jscc_heads={jscc_heads} must divide jscc_dim={jscc_dim}")
        self.transform = transform
        self.transform_channels = int(transform_channels)
        self.latent_channels = int(latent_channels)
        self.hyper_channels = int(hyper_channels)
        self.jscc_dim = int(jscc_dim)
        self.jscc_depth = int(jscc_depth)
        self.jscc_heads = int(jscc_heads)
        self.rate_table = table
        self.eta_range = None if eta_range is None else (low, high)
        self.lmbda = float(lmbda)
        self.ntc_weight = float(ntc_weight)
        self.send_hyperprior = bool(send_hyperprior)
        self.equalizer = equalizer
        self.k_max = table[-1]
        self.index_bits = math.ceil(math.log2(len(table)))  # per token

        c, cz = self.latent_channels, self.hyper_channels
        self.g_a, self.g_s = TRANSFORMS.get(transform)(self.transform_channels, c)
        self.h_a = nn.Sequential(
            conv(c, cz, 3, 1), nn.LeakyReLU(inplace=True),
            conv(cz, cz, 5, 2), nn.LeakyReLU(inplace=True),
            conv(cz, cz, 5, 2),
        )
        self.h_s = nn.Sequential(
            deconv(cz, cz, 5, 2), nn.LeakyReLU(inplace=True),
            deconv(cz, 3 * c // 2, 5, 2), nn.LeakyReLU(inplace=True),
            conv(3 * c // 2, 2 * c, 3, 1),
        )
        self.entropy_bottleneck = EntropyBottleneck(cz)
        self.gaussian_conditional = GaussianConditional(None)
        args = (c, self.jscc_dim, self.jscc_depth, self.jscc_heads, len(table), self.k_max)
        self.f_e = JSCCEncoder(*args)
        self.f_d = JSCCDecoder(*args, hyper=self.send_hyperprior)
        self.register_buffer("_table", torch.tensor(table, dtype=torch.int64), persistent=False)

    def hparams(self) -> dict[str, Any]:
        """Constructor arguments (JSON data)."""
        return {
            "transform": self.transform,
            "transform_channels": self.transform_channels,
            "latent_channels": self.latent_channels,
            "hyper_channels": self.hyper_channels,
            "jscc_dim": self.jscc_dim,
            "jscc_depth": self.jscc_depth,
            "jscc_heads": self.jscc_heads,
            "rate_table": list(self.rate_table),
            "eta_range": None if self.eta_range is None else list(self.eta_range),
            "lmbda": self.lmbda,
            "ntc_weight": self.ntc_weight,
            "send_hyperprior": self.send_hyperprior,
            "equalizer": self.equalizer,
        }

    def __repr__(self) -> str:
        return (
            f"NTSCC(transform={self.transform!r}, C={self.latent_channels}, jscc_dim={self.jscc_dim}, "
            f"rate_table={self.rate_table[0]}..{self.k_max} ({len(self.rate_table)}), "
            f"send_hyperprior={self.send_hyperprior})"
        )

    def aux_parameters(self) -> Iterator[nn.Parameter]:
        """The ``EntropyBottleneck`` quantiles, trained by ``aux_loss`` only."""
        yield self.entropy_bottleneck.quantiles

    def main_parameters(self) -> Iterator[nn.Parameter]:
        """Every parameter but :meth:`aux_parameters`: what ``loss`` trains."""
        aux = {id(p) for p in self.aux_parameters()}
        return (p for p in self.parameters() if id(p) not in aux)

    # --- transmitter -------------------------------------------------------------------------------------------

    def _check_images(self, images: torch.Tensor) -> None:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ShapeMismatchError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        height, width = images.shape[-2:]
        if height % IMAGE_MULTIPLE or width % IMAGE_MULTIPLE:
            raise ShapeMismatchError(
                f"image size {height}x{width} is not a multiple of {IMAGE_MULTIPLE} (16x transform, 4x hyperprior)",
                hint=f"resize or crop images to multiples of {IMAGE_MULTIPLE}, e.g. 128x256 or 256x512",
            )

    def _analyse(self, images: torch.Tensor) -> _Analysis:
        """``g_a``, hyperprior and entropy model; noise-relaxed likelihoods in training, rounded ones in eval."""
        y = self.g_a(images)
        z = self.h_a(y)
        _, z_likelihoods = self.entropy_bottleneck(z)
        medians = self.entropy_bottleneck._get_medians().detach().reshape(1, -1, 1, 1)
        z_hat = quantize_ste(z - medians) + medians
        scales, means = self.h_s(z_hat).chunk(2, dim=1)
        _, y_likelihoods = self.gaussian_conditional(y, scales, means=means)
        return _Analysis(y, z_hat, z_likelihoods, means, y_likelihoods)

    def allocate(self, token_bits: torch.Tensor, eta: float) -> torch.Tensor:
        """Rate indices ``(B, h, w)`` int64: the table entry nearest ``eta * token_bits`` (ties up) for each token."""
        target = eta * token_bits
        table = self._table.to(target.dtype)
        upper = torch.searchsorted(table, target.contiguous()).clamp(max=len(self.rate_table) - 1)
        lower = (upper - 1).clamp_min(0)
        use_lower = (target - table[lower]) < (table[upper] - target)
        return torch.where(use_lower, lower, upper)

    def _symbol_mask(self, index: torch.Tensor) -> torch.Tensor:
        """``(B, L, 2 * k_max)`` bool: the reals each token sends (``2 * k_i`` of them, a prefix)."""
        counts = self._table[index.flatten(1)]  # (B, L)
        return torch.arange(2 * self.k_max, device=index.device) < 2 * counts.unsqueeze(-1)

    def _transmission(self, analysis: _Analysis, index: torch.Tensor, image_size: tuple[int, int]) -> Transmission:
        """Run ``f_e``, pack each image's used symbols into one row and count the side information's bits."""
        y = analysis.y
        grid = tuple(y.shape[-2:])
        batch = y.shape[0]
        surprise = 1 - analysis.y_likelihoods.detach()
        reals = self.f_e(_tokens(y), _tokens(surprise), index.flatten(1), grid)  # (B, L, 2 k_max)
        mask = self._symbol_mask(index)
        lengths = self._table[index.flatten(1)].sum(dim=1)  # (B,)
        width = max(1, int(lengths.max()))
        row_mask = torch.arange(2 * width, device=reals.device) < 2 * lengths.unsqueeze(1)
        # token after token, each token's prefix, into the first 2 * lengths[b] reals of row b
        packed = reals.new_zeros(batch, 2 * width).masked_scatter(row_mask, reals[mask])
        symbols = normalize_power(real_to_complex(packed), lengths)

        side_bits = torch.full((batch,), grid[0] * grid[1] * self.index_bits, dtype=torch.int64, device=reals.device)
        side: dict[str, Any] = {"rate_indices": index, "image_size": image_size}
        if self.send_hyperprior:
            z_bits = -torch.log2(analysis.z_likelihoods.detach()).flatten(1).sum(dim=1)
            side_bits = side_bits + torch.ceil(z_bits).to(torch.int64)
            side["z_hat"] = analysis.z_hat.detach()
        return Transmission(symbols=symbols, lengths=lengths, side=side, side_bits=side_bits)

    def code_lengths(self, transmission: Transmission) -> torch.Tensor:
        """``(B, h, w)`` k_i of every latent token."""
        return self._table[transmission.side["rate_indices"]]

    def transmit(self, images: torch.Tensor, rate: float, labels: Any | None = None) -> Transmission:
        """``(B, 3, H, W)`` in ``[0, 1]`` -> variable-length symbols; ``rate`` is eta (channel uses per bit).

        ``symbols``: ``(B, max lengths)`` complex64, zero past ``lengths[b]``; ``side``: ``rate_indices``
        ``(B, H/16, W/16)``, ``image_size`` (and ``z_hat`` with ``send_hyperprior``).
        """
        eta = float(rate)
        if not math.isfinite(eta) or eta < 0:
            raise SemcomError(f"NTSCC's rate is eta >= 0 (channel uses per estimated bit), got {rate!r}")
        self._check_images(images)
        analysis = self._analyse(images)
        return self._transmission(analysis, self.allocate(analysis.token_bits, eta), tuple(images.shape[-2:]))

    # --- receiver ----------------------------------------------------------------------------------------------

    def receive(self, received: torch.Tensor, transmission: Transmission, state: ChannelState) -> torch.Tensor:
        """``(B, N)`` noisy symbols (``N >= max lengths``; what lies past ``lengths[b]`` is ignored) -> images."""
        index = transmission.side["rate_indices"].to(received.device)
        grid = tuple(index.shape[-2:])
        x_hat, _ = equalize(received, state, self.equalizer)
        reals = complex_to_real(x_hat)  # (B, 2N)
        lengths = transmission.lengths.to(received.device)
        if received.shape[1] < int(lengths.max()):
            raise ShapeMismatchError(
                f"received rows hold {received.shape[1]} symbols but an image sent {int(lengths.max())}",
                hint="pass the channel output of the whole symbols tensor of this transmission",
            )
        row_mask = torch.arange(reals.shape[1], device=reals.device) < 2 * lengths.unsqueeze(1)
        mask = self._symbol_mask(index)
        s = reals.new_zeros(mask.shape).masked_scatter(mask, reals[row_mask])  # (B, L, 2 k_max)
        hyper = None
        if self.send_hyperprior:
            scales, means = self.h_s(transmission.side["z_hat"].to(received.device)).chunk(2, dim=1)
            hyper = _tokens(torch.cat([means, scales], dim=1))
        y_hat = _grid(self.f_d(s, index.flatten(1), hyper, grid), grid)
        return self.g_s(y_hat).clamp(0, 1)

    # --- training ----------------------------------------------------------------------------------------------

    def _training_eta(self, token_bits: torch.Tensor) -> float:
        """This step's eta: from ``eta_range``, or aimed at a random mean length per token (module docstring)."""
        if self.eta_range is None:
            low, high = float(max(self.rate_table[0], 1)), float(self.k_max)
        else:
            low, high = self.eta_range
        draw = math.exp(math.log(low) + (math.log(high) - math.log(low)) * float(torch.rand(())))
        if self.eta_range is None:
            return draw / max(float(token_bits.mean()), 1e-6)
        return draw

    def training_step(
        self, images: torch.Tensor, channel: Channel, snr_db: float, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """NTSCC loss (module docstring) for ``(B, 3, H, W)`` images through ``channel`` at ``snr_db``.

        The training rate is drawn from the global torch RNG (as CompressAI's quantisation noise); ``generator``
        drives the channel. Returns scalars: ``loss``, ``mse`` (through the channel), ``mse_ntc``, ``psnr``, ``bpp_y``,
        ``bpp_z``, ``cbr`` (mean payload channel uses / 3HW; the harness prices the side information), ``side_bits``
        (mean per image), ``eta``, and ``aux_loss`` (not in ``loss``).
        """
        self._check_images(images)
        analysis = self._analyse(images)
        eta = self._training_eta(analysis.token_bits)
        index = self.allocate(analysis.token_bits, eta)
        transmission = self._transmission(analysis, index, tuple(images.shape[-2:]))
        received, state = channel(transmission.symbols, snr_db, generator)
        recon = self.receive(received, transmission, state)

        batch, _, height, width = images.shape
        pixels = batch * height * width
        mse = torch.mean((recon - images) ** 2)
        x_ntc = self.g_s(quantize_ste(analysis.y - analysis.means) + analysis.means)
        mse_ntc = torch.mean((x_ntc - images) ** 2)
        bpp_y = -torch.log2(analysis.y_likelihoods).sum() / pixels
        bpp_z = -torch.log2(analysis.z_likelihoods).sum() / pixels
        loss = mse + self.ntc_weight * mse_ntc + self.lmbda * (bpp_y + bpp_z)
        uses = transmission.lengths.float().mean()  # payload only: the harness prices the side information
        return {
            "loss": loss,
            "mse": mse.detach(),
            "mse_ntc": mse_ntc.detach(),
            "psnr": -10 * torch.log10(mse.detach().clamp_min(1e-10)),
            "bpp_y": bpp_y.detach(),
            "bpp_z": bpp_z.detach(),
            "cbr": uses / (3 * height * width),
            "side_bits": transmission.bits().float().mean(),
            "eta": torch.tensor(eta),
            "aux_loss": self.entropy_bottleneck.loss(),
        }
