"""InsCom, instance communication (Zhang et al.): TOIF's task-critical mask, then NTSCC-style ISE/ISD on ``x_T``.

Paper: ``../shared/papers/inscom-instance-communication.txt``, section II (system model) and Fig. 3. The IDL and TOIF
modules (scene graph, two-stage filtering, eq. 5-7) live in :mod:`semcom_bench.annotate.toif` and end in the label
set's task mask ``m_T``; this module is ISE and ISD, built on :class:`~semcom_bench.schemes.ntscc.NTSCC`.

Transmitter (ISE), for ``(B, 3, H, W)`` images and their ``(B, H, W)`` task masks (``labels.task_mask``):

1. ``x_T = m_T * x`` (eq. 7: ``m_T = m_sem * m_ins``, eq. 5-6): every pixel outside the mask is set to 0 before anything
   else reads the image, so no symbol and no length depends on a pixel outside the mask.
2. NTSCC's analysis transform, hyperprior and entropy model on ``x_T`` (section II-C: "a nonlinear analysis transform
   maps x_T to a latent tensor l, and a hyper-encoder produces a hyperprior p"): token ``i`` (one ``16 x 16``
   patch of the image, one position of the latent grid) gets its estimated bits ``b_i = -sum_c log2 p(y_ic | z)``.
3. Rate allocation with an empty entry. InsCom's rate table is ``[0] + rate_table`` (``rate_table``: NTSCC's
   positive lengths). A token whose ``16 x 16`` patch holds no mask pixel is *empty* and gets index 0, ``k_i = 0``:
   it sends nothing, whatever its latent (which can be non-zero: the transform's receptive field reaches past the
   patch, and biases). Every other token gets NTSCC's rule on the positive entries only, ``k_i = Q(eta * b_i)``,
   nearest entry, ties up, clamped to the ends; so an occupied token sends at least ``rate_table[0]`` symbols and
   the empty tokens are exactly the tokens of index 0. ``eta`` is NTSCC's rate knob, channel uses per estimated bit
   (the paper sweeps it in Fig. 3); ``k_i`` is monotone in ``eta``.
4. NTSCC's variable-length JSCC encoder and packing; an empty token's ``k_i = 0`` reals are a zero-length prefix, so
   ``lengths[b] = sum_i k_i`` counts the occupied tokens only, and an image whose mask is empty sends 0 payload
   symbols (its row is all padding).

Side information (error-free, priced in channel uses by the harness, :mod:`semcom_bench.benchmark.side_info`):

* the rate indices, coded as an occupancy bitmap plus the occupied tokens' indices: ``h * w`` bits (one per token:
  empty or not) plus ``ceil(log2(len(rate_table)))`` bits per occupied token. NTSCC's fixed code,
  ``h * w * ceil(log2(len(rate_table) + 1))`` bits, would also carry the 0 entry; with synthcity's
  pedestrian-collision-warning masks (about 2 % of tokens occupied, a 16-entry table) it costs about 4.6 times as many
  bits (640 against ~138 per 128 x 256 image), nearly all of them saying "empty". The bitmap is a fixed-length code the
  receiver parses without a model (first ``h * w`` bits, then ``ceil(log2 .)`` bits per 1 in raster order); a
  run-length or arithmetic code of the bitmap would be shorter still and is not used, to keep the count exact and
  model-free. An image with an empty mask costs its ``h * w`` bitmap bits and nothing else. The occupancy is computed
  from ``labels.task_mask`` at the latent grid (``16 x 16`` patches), whatever the label set's ``patch_size``.
* with ``send_hyperprior``, also ``z_hat`` (``ceil(-sum log2 p(z_hat))`` bits, as NTSCC), for images with at least one
  occupied token only: the receiver of an all-empty bitmap needs nothing more.
* ``image_size`` is a system parameter and costs nothing.

Receiver (ISD): NTSCC's receiver (section II-D, hyperprior-aided when ``send_hyperprior``) reconstructs ``x_T``; then
every pixel of an empty token is set to 0, which is what ``x_T`` holds there and what the rate indices tell it (index
0). It gets no mask: inside occupied tokens it does not know which pixels are in the mask, and shows what ``g_s``
gives there. ``receive`` reads only the symbols, ``lengths`` and ``side`` (``rate_indices``, ``image_size``, and
``z_hat`` with ``send_hyperprior``). The bitmap does tell it the mask's shape at token resolution; on a small
training set a receiver can learn to recognise images from it (the side information is error-free), so TC-PSNR
that does not fall with the SNR or rise with CBR means that, not a working code.

Training (:meth:`InsCom.training_step`; "InsCom trains on x_T", the paper gives no loss): NTSCC's loss with ``x_T``
as both input and target, over the whole image:

    loss = MSE(x_T, x_hat_T) + ntc_weight * MSE(x_T, g_s(round_ste(y))) + lmbda * (bpp_y + bpp_z)

with MSE and bpp per image pixel as NTSCC's. ``x_T`` is 0 outside the mask, so the model learns to reconstruct the
mask's pixels and to put 0 around them; the receiver's 0 on empty tokens is exact and costs nothing. The rate term
counts every token's entropy-model bits, as NTSCC trained on ``x_T`` would, although empty tokens send nothing: their
latents still reach occupied tokens' pixels through ``g_s``'s receptive field, and the entropy term keeps them small.
An earlier loss judged mask pixels only (divided by the batch's mask pixel count), so nothing bounded ``g_s`` outside
the mask; test_inscom checks that output there now costs loss. Neither loss trains stably alone on synthcity's
vehicle-following masks (~2 % of the pixels, 64 x 128, smoke model): a rare batch spikes the gradient norm from ~0.01
to ~1e3 and the GDN synthesis diverges (the old loss after ~700 steps, this one after ~1170; the NTC term reached
1e18 and every output saturated, so the receiver's output no longer depended on the symbols). The profiles
therefore clip the gradient norm at 1.0 (``clip_grad_norm``), with which the same run recovers from the spike.
The training rate is drawn as NTSCC draws it, a mean of ``k_bar`` symbols per occupied token log-uniform between
``rate_table``'s ends, ``eta = k_bar / mean(b_i over occupied tokens)``; or log-uniform in ``eta_range``.

Full-image PSNR of InsCom compares ``x_hat_T`` with ``x`` and is low by design (nothing outside the mask is sent);
InsCom's measure is TC-PSNR (eq. 8-9) against the channel uses spent (its Fig. 3 "data volume").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from compressai.ops import quantize_ste

from semcom_bench.errors import SemcomError, ShapeMismatchError
from semcom_bench.phy.base import Channel, ChannelState
from semcom_bench.schemes.base import SCHEMES, Transmission, TransmitterLabels
from semcom_bench.schemes.layers import TRANSFORM_DOWNSAMPLE
from semcom_bench.schemes.ntscc import NTSCC, ntscc_rate_table


def token_occupancy(task_mask: torch.Tensor) -> torch.Tensor:
    """``(B, H, W)`` bool task mask -> ``(B, H / 16, W / 16)`` bool: whether each latent token's patch holds a mask
    pixel."""
    return F.max_pool2d(task_mask[:, None].float(), TRANSFORM_DOWNSAMPLE)[:, 0] > 0


@SCHEMES.register("inscom")
class InsCom(NTSCC):
    """InsCom: ``x_T = m_T * x`` at the transmitter, then NTSCC on ``x_T`` with empty tokens sending nothing.

    Reads ``labels.task_mask`` at the transmitter (``uses_labels``); ``rate`` is eta, as NTSCC's. Arguments are
    NTSCC's (see :class:`~semcom_bench.schemes.ntscc.NTSCC`), except:

    Args:
        rate_table: the *positive* symbol counts an occupied token may get (NTSCC's table; ``None``: NTSCC's default
            for ``latent_channels``); InsCom adds the 0 entry of empty tokens itself.
    """

    name = "inscom"
    uses_labels = True

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
        positive = ntscc_rate_table(latent_channels) if rate_table is None else [int(k) for k in rate_table]
        if not positive or positive[0] < 1:
            raise SemcomError(
                f"InsCom's rate_table lists the positive symbol counts of occupied tokens, got {positive}",
                hint="leave the 0 out (InsCom adds it for empty tokens), e.g. [8, 16, 24, 32, 40, 48, 56, 64]",
            )
        super().__init__(
            transform=transform, transform_channels=transform_channels, latent_channels=latent_channels,
            hyper_channels=hyper_channels, jscc_dim=jscc_dim, jscc_depth=jscc_depth, jscc_heads=jscc_heads,
            rate_table=[0, *positive], eta_range=eta_range, lmbda=lmbda, ntc_weight=ntc_weight,
            send_hyperprior=send_hyperprior, equalizer=equalizer,
        )
        self.payload_table = positive
        self.occupied_index_bits = math.ceil(math.log2(len(positive)))  # per occupied token, after the bitmap
        self.register_buffer("_payload_table", torch.tensor(positive, dtype=torch.int64), persistent=False)

    def hparams(self) -> dict[str, Any]:
        """Constructor arguments (JSON data); ``rate_table`` without the 0 entry."""
        return {**super().hparams(), "rate_table": list(self.payload_table)}

    def __repr__(self) -> str:
        return (
            f"InsCom(transform={self.transform!r}, C={self.latent_channels}, jscc_dim={self.jscc_dim}, "
            f"rate_table=0 + {self.payload_table[0]}..{self.k_max} ({len(self.payload_table)}), "
            f"send_hyperprior={self.send_hyperprior})"
        )

    # --- transmitter -------------------------------------------------------------------------------------------

    def _task_mask(self, images: torch.Tensor, labels: TransmitterLabels | None) -> torch.Tensor:
        """``(B, 1, H, W)`` float task mask of ``images`` from ``labels`` (checked)."""
        if labels is None:
            raise SemcomError("InsCom's transmitter needs the task mask (labels.task_mask) of every image",
                              hint="run it through the harness (bench train/eval pass labels to uses_labels schemes)")
        mask = labels.task_mask
        if mask.shape != (images.shape[0], *images.shape[-2:]):
            raise ShapeMismatchError(f"task mask {tuple(mask.shape)} does not match images {tuple(images.shape)}",
                                     hint="pass one (H, W) mask per image, at the image's resolution")
        return mask.to(device=images.device, dtype=images.dtype)[:, None]

    def allocate_masked(self, token_bits: torch.Tensor, eta: float, occupied: torch.Tensor) -> torch.Tensor:
        """Rate indices ``(B, h, w)`` int64 into ``[0] + rate_table``: 0 for empty tokens, else the positive entry
        nearest ``eta * token_bits`` (ties up, clamped to the ends)."""
        target = (eta * token_bits).contiguous()
        table = self._payload_table.to(target.dtype)
        upper = torch.searchsorted(table, target).clamp(max=len(self.payload_table) - 1)
        lower = (upper - 1).clamp_min(0)
        use_lower = (target - table[lower]) < (table[upper] - target)
        nearest = torch.where(use_lower, lower, upper)
        return torch.where(occupied, nearest + 1, torch.zeros_like(nearest))

    def _masked_transmission(
        self, images: torch.Tensor, mask: torch.Tensor, eta: float | None
    ) -> tuple[Transmission, Any, torch.Tensor, float]:
        """``x_T``'s transmission at ``eta`` (``None``: the training draw); also the analysis, occupancy and eta."""
        analysis = self._analyse(images * mask)  # x_T = m_T * x (eq. 7): nothing below sees a pixel outside m_T
        occupied = token_occupancy(mask[:, 0] > 0)
        bits = analysis.token_bits
        if eta is None:
            eta = self._occupied_training_eta(bits[occupied])
        index = self.allocate_masked(bits, eta, occupied)
        tx = self._transmission(analysis, index, tuple(images.shape[-2:]))
        tx.side_bits = self._side_bits(analysis, occupied)
        return tx, analysis, occupied, eta

    def _side_bits(self, analysis: Any, occupied: torch.Tensor) -> torch.Tensor:
        """``(B,)`` int64: occupancy bitmap + occupied tokens' indices (+ ``z_hat`` of non-empty images)."""
        tokens = occupied[0].numel()
        count = occupied.flatten(1).sum(dim=1)
        bits = tokens + count * self.occupied_index_bits
        if self.send_hyperprior:
            z_bits = torch.ceil(-torch.log2(analysis.z_likelihoods.detach()).flatten(1).sum(dim=1)).to(torch.int64)
            bits = bits + torch.where(count > 0, z_bits, torch.zeros_like(z_bits))
        return bits.to(torch.int64)

    def transmit(self, images: torch.Tensor, rate: float, labels: TransmitterLabels | None = None) -> Transmission:
        """``(B, 3, H, W)`` in ``[0, 1]`` and their task masks -> symbols of ``x_T``; ``rate`` is eta.

        ``symbols``: ``(B, max(1, max lengths))`` complex64, zero past ``lengths[b]`` (``lengths[b] = 0`` for an
        empty mask); ``side``: ``rate_indices`` ``(B, H/16, W/16)`` into ``[0] + rate_table``, ``image_size`` (and
        ``z_hat`` with ``send_hyperprior``).
        """
        eta = float(rate)
        if not math.isfinite(eta) or eta < 0:
            raise SemcomError(f"InsCom's rate is eta >= 0 (channel uses per estimated bit), got {rate!r}")
        self._check_images(images)
        mask = self._task_mask(images, labels)
        return self._masked_transmission(images, mask, eta)[0]

    # --- receiver ----------------------------------------------------------------------------------------------

    def receive(self, received: torch.Tensor, transmission: Transmission, state: ChannelState) -> torch.Tensor:
        """``(B, N)`` noisy symbols -> ``x_hat_T`` ``(B, 3, H, W)``: NTSCC's receiver, empty tokens' pixels 0."""
        recon = super().receive(received, transmission, state)
        occupied = transmission.side["rate_indices"].to(recon.device) > 0
        pixels = occupied.repeat_interleave(TRANSFORM_DOWNSAMPLE, 1).repeat_interleave(TRANSFORM_DOWNSAMPLE, 2)
        return recon * pixels[:, None].to(recon.dtype)

    # --- training ----------------------------------------------------------------------------------------------

    def _occupied_training_eta(self, occupied_bits: torch.Tensor) -> float:
        """This step's eta: from ``eta_range``, or aimed at a random mean length per occupied token."""
        if self.eta_range is None:
            low, high = float(self.payload_table[0]), float(self.k_max)
        else:
            low, high = self.eta_range
        draw = math.exp(math.log(low) + (math.log(high) - math.log(low)) * float(torch.rand(())))
        if self.eta_range is not None:
            return draw
        mean_bits = float(occupied_bits.mean()) if occupied_bits.numel() else 1.0
        return draw / max(mean_bits, 1e-6)

    def training_step(
        self, images: torch.Tensor, channel: Channel, snr_db: float, generator: torch.Generator | None = None,
        labels: TransmitterLabels | None = None,
    ) -> dict[str, torch.Tensor]:
        """InsCom loss (module docstring) for ``(B, 3, H, W)`` images and their task masks at ``snr_db``.

        Returns scalars: ``loss``, ``mse`` (inside the mask, through the channel; eq. 8's ``MSE_TC``, not in ``loss``),
        ``mse_xt`` (``x_T`` against its reconstruction through the channel, the loss's term), ``mse_ntc``, ``psnr``
        (of ``mse``), ``bpp_y`` and ``bpp_z`` (bits per image pixel), ``cbr`` (mean payload channel uses / 3HW),
        ``side_bits`` (mean per image), ``mask_fraction``, ``eta`` and ``aux_loss`` (not in ``loss``).
        """
        self._check_images(images)
        mask = self._task_mask(images, labels)
        tx, analysis, _, eta = self._masked_transmission(images, mask, None)
        received, state = channel(tx.symbols, snr_db, generator)
        recon = self.receive(received, tx, state)

        height, width = images.shape[-2:]
        x_t = images * mask
        mse_xt = torch.mean((recon - x_t) ** 2)
        x_ntc = self.g_s(quantize_ste(analysis.y - analysis.means) + analysis.means)
        mse_ntc = torch.mean((x_ntc - x_t) ** 2)
        pixels = images.shape[0] * height * width
        bpp_y = -torch.log2(analysis.y_likelihoods).sum() / pixels
        bpp_z = -torch.log2(analysis.z_likelihoods).sum() / pixels
        loss = mse_xt + self.ntc_weight * mse_ntc + self.lmbda * (bpp_y + bpp_z)
        mse = (((recon - images) ** 2) * mask).sum().detach() / (3 * mask.sum().clamp_min(1.0))
        return {
            "loss": loss,
            "mse": mse,
            "mse_xt": mse_xt.detach(),
            "mse_ntc": mse_ntc.detach(),
            "psnr": -10 * torch.log10(mse.clamp_min(1e-10)),
            "bpp_y": bpp_y.detach(),
            "bpp_z": bpp_z.detach(),
            "cbr": tx.lengths.float().mean() / (3 * height * width),
            "side_bits": tx.bits().float().mean(),
            "mask_fraction": mask.mean().detach(),
            "eta": torch.tensor(eta),
            "aux_loss": self.entropy_bottleneck.loss(),
        }
