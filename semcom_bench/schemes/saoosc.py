"""SA-OOSC (Zhang et al., "SA-OOSC: a multimodal LLM-distilled semantic communication framework") and its static
baseline OOSC, as importance-aware variable-length JSCC on :class:`~semcom_bench.schemes.ntscc.NTSCC`.

Paper: ``../shared/papers/sa-oosc-mllm-distilled-semcom.txt``, sections II-III. Section II's patch importance
``I = [I_1..I_L]`` (tiers 3 high, 2 medium, 1 low, 0 background; a patch takes its most important object's tier) is
the label set's ``patches`` table, which reaches the transmitter as ``TransmitterLabels.patch_tiers``. The paper
leaves ``C1``, ``C2``, the quantiser and every loss to a technical report we cannot read (its eq. 14-16 and
appendices B-H); the choices below are ours, each with its reason, and every weight is a hyper-parameter.

Transmitter, for ``(B, 3, H, W)`` images (``H, W`` multiples of 64), on NTSCC's ``h x w`` grid of tokens (one token
per ``16 x 16`` pixels; a label set's patches of another size are mapped onto it by :func:`token_tiers`):

1. HV vectorisation ``{x, e} = F_e(P)``: NTSCC's ``g_a``, hyperprior and entropy model; ``e_i`` is token ``i``'s
   estimated bits, ``-sum_c log2 p(y_ic | z)``. Trained with the importance-weighted loss below, so it is the
   paper's "SA entropy" (see *Distillation*).
2. Importance ``I_i`` of each token (:meth:`SAOOSC.tier_probs`, as a distribution ``p_i`` over the 4 tiers): ``saoosc``
   and ``oosc`` read it from the labels (one-hot), as the paper's transmitter reads the MLLM labels of a test image
   (Fig. 3, red arrow); ``saoosc-pred`` predicts it with its distilled tier head and reads no labels at test time.
3. Eq. 1, ``k_i = Q0[C1(e_i) + C2(I_i)]`` (:meth:`SAOOSC.length_targets`, :meth:`SAOOSC.quantize_lengths`):

   * ``C1(e_i) = eta * e_i``: NTSCC's length term (eta = channel uses per estimated bit, the scheme's ``rate``).
   * ``C2(I_i) = eta * tier_bonus[I_i] * mean_j(e_j)``: an additive bonus per tier, in units of the image's mean
     token entropy (for a predicted ``p_i``: its expectation ``eta * mean_j(e_j) * sum_t p_it tier_bonus[t]``).
     Why additive: the paper introduces ``C2`` so that important objects get symbols even where the entropy estimate
     misses them (its OOD argument), so it must not vanish on a flat, low-entropy car roof, as a multiplicative
     ``eta * e_i * m(I_i)`` would. Why times ``eta``: one knob moves both terms, so the CBR is monotone in ``eta``
     and a rate sweep keeps the tiers' proportions instead of a fixed bonus swamping the low rates. Why times the
     mean entropy: ``tier_bonus`` is then scale-free (the same numbers serve the smoke and paper models, whose bits
     per token differ tenfold); equivalently a tier-``t`` token's "SA entropy" is ``e_i + tier_bonus[t] * mean(e)``.
     ``tier_bonus`` must be non-decreasing, so a higher tier never gets fewer symbols than a lower one of equal
     entropy (``Q0`` is monotone). Default ``(0, 0.5, 1, 2)``.
   * ``Q0``: NTSCC's quantiser onto the supported lengths ``rate_table``: the nearest entry, ties upwards, values
     past the ends clamped.
4. NTSCC's variable-length JSCC encoder ``G_e`` on the tokens, conditioned on their rate index. The paper writes
   ``y = G_e(e, x, I)``; here ``I`` reaches ``G_e`` only through ``k_i``: the receiver does not know ``I``, and an
   encoder that changed its code by a tier the decoder cannot see would make the decoder guess it.
5. Eq. 2, power normalisation over all patches of an image: the ``sum_i k_i`` symbols of an image, packed token
   after token, are scaled together to unit average power, ``sum_i ||y_i||^2 / sum_i k_i = 1`` (NTSCC's
   ``normalize_power(x, lengths)``); a token's own power is free, so the encoder may spend more on some.
6. ``k`` as side information (footnote 3: sent robustly, as NTSCC does): the rate indices, ``h * w *
   ceil(log2(len(rate_table)))`` bits per image in ``Transmission.side_bits`` (plus ``z_hat``'s bits with
   ``send_hyperprior``), priced in channel uses by the harness, so they are in every CBR it reports.

Receiver: NTSCC's, unchanged. It reads the symbols, ``lengths`` and ``side`` (``rate_indices``, ``image_size``, and
``z_hat`` with ``send_hyperprior``), all of which the side bits or the payload count; it never sees a tier, a label or
the tier head's output except through ``k``.

Training (:meth:`SAOOSC.training_step`; the harness passes the batch's labels in training for all three schemes)::

    loss = D_w(x, x_jscc) + ntc_weight * D_w(x, g_s(round_ste(y))) + lmbda * (bpp_y + bpp_z) + distill_weight * CE

* ``D_w``, the importance-weighted distortion (the paper's appendix B/G, "SA weighted" distortion):
  ``sum_p w[t_p] * ||x_p - x_hat_p||^2 / (3 * sum_p w[t_p])`` over the batch's pixels ``p`` of patch tier ``t_p``,
  ``w = tier_weights`` (default ``(1, 2, 4, 8)``). Normalising by the weights keeps it an MSE (all weights equal:
  NTSCC's MSE), so ``lmbda`` keeps NTSCC's meaning; only the ratios of the weights matter.
* *Distillation* ("SA entropy", appendix D): two routes. (a) The rate-distortion trade-off itself: with ``D_w`` a
  bit spent on a low-weight region buys less, so at the optimum of ``D_w + lmbda * R`` the entropy model gives
  background fewer bits (for a Gaussian latent under weighted MSE, reverse water-filling moves ``1/2 log2(w)`` bits
  per dimension toward heavier regions); ``e`` learns importance from the labels through ``D_w``. (b) A tier head
  (:class:`TierHead`, small convolutions on the latent ``y``) predicts each token's tier, trained by cross-entropy
  against the label tiers; its gradient reaches ``g_a`` (weighted by ``distill_weight``), so the vectorisation network
  is the student, as in the paper. The head's own parameters learn at full speed whatever ``distill_weight`` (Adam
  is scale-free per parameter); ``distill_weight`` only sets how much the importance task shapes the latent. Plain
  cross-entropy, no class re-weighting: it gives calibrated tier probabilities, and the expected bonus of step 3 is
  the right use of a calibrated posterior for a cost linear in the bonus.
* The rate is swept as NTSCC sweeps it: a target mean of ``k_bar`` symbols per token log-uniform between the table's
  ends, ``eta = k_bar / mean(e_i + tier_bonus[I_i] * mean(e))``; or log-uniform in ``eta_range``. ``saoosc`` and
  ``oosc`` allocate with the label tiers, ``saoosc-pred`` with its own predictions (what it will do at test time).

The three registered schemes (one machinery; what differs is where ``I`` comes from):

* ``saoosc``: ``I`` from the label set at the transmitter, in training and at test (the paper's setting).
* ``saoosc-pred``: ``I`` from the tier head; ``uses_labels`` is true in training only (an instance property:
  ``model.eval()`` turns it off), so the harness gives its transmitter no labels at evaluation and users see what the
  distillation buys when no labeller runs at the transmitter.
* ``oosc``: SA-OOSC Fig. 1's static baseline, in which every object of a task-relevant class has one importance from
  a fixed class table whatever the scene. In this toolkit that table is the ``static`` labeler's
  (``semcom-bench annotate ... --labeler static``); ``oosc`` is SA-OOSC's machinery fed with those tiers, so train
  and evaluate it on a static-labelled label set. It has no distillation (``distill_weight = 0``, no tier head):
  OOSC has no teacher to distil. Schemes do not import the annotation stage, so ``oosc`` cannot rebuild the static
  tiers itself: a label set is the only way in. Per-tier PSNRs are scored on the evaluation label set's tiers, so to
  score ``oosc`` on scenario tiers its transmitter must read one label set (static) while the metrics read another
  (SA); the harness has no option for that yet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from compressai.ops import quantize_ste
from torch import nn

from semcom_bench.errors import SemcomError, ShapeMismatchError
from semcom_bench.phy.base import Channel
from semcom_bench.schemes.base import SCHEMES, Transmission, TransmitterLabels
from semcom_bench.schemes.ntscc import NTSCC

TIERS = 4  # importance tiers 0 (background) .. 3 (high), as in TransmitterLabels.patch_tiers
DEFAULT_TIER_BONUS = (0.0, 0.5, 1.0, 2.0)
DEFAULT_TIER_WEIGHTS = (1.0, 2.0, 4.0, 8.0)


def pixel_tiers(patch_tiers: torch.Tensor, patch_size: int, image_size: tuple[int, int]) -> torch.Tensor:
    """``(B, grid_h, grid_w)`` patch tiers -> ``(B, H, W)`` int64 tier of every pixel (edge patches cropped)."""
    height, width = image_size
    if patch_tiers.dim() != 3:
        raise ShapeMismatchError(f"patch tiers must be (B, grid_h, grid_w), got {tuple(patch_tiers.shape)}")
    if patch_tiers.shape[1] * patch_size < height or patch_tiers.shape[2] * patch_size < width:
        raise ShapeMismatchError(
            f"a {patch_tiers.shape[1]}x{patch_tiers.shape[2]} grid of {patch_size}-pixel patches does not cover "
            f"{height}x{width} images",
            hint="evaluate on the label set annotated at the images' resolution (annotate --size HxW)",
        )
    if bool((patch_tiers < 0).any()) or bool((patch_tiers >= TIERS).any()):
        raise SemcomError(f"patch tiers must lie in 0..{TIERS - 1}, got {int(patch_tiers.min())}.."
                          f"{int(patch_tiers.max())}")
    up = patch_tiers.long().repeat_interleave(patch_size, 1).repeat_interleave(patch_size, 2)
    return up[:, :height, :width]


def token_tiers(patch_tiers: torch.Tensor, patch_size: int, image_size: tuple[int, int],
                grid: tuple[int, int]) -> torch.Tensor:
    """``(B, h, w)`` int64 tier of each latent token: the highest tier of any pixel it covers (section II's rule for
    patches holding several objects); the label set's patches at ``patch_size = 16`` are the tokens themselves."""
    pixels = pixel_tiers(patch_tiers, patch_size, image_size)
    height, width = image_size
    if height % grid[0] or width % grid[1]:
        raise ShapeMismatchError(f"a {grid[0]}x{grid[1]} token grid does not tile {height}x{width} images")
    kernel = (height // grid[0], width // grid[1])
    return F.max_pool2d(pixels[:, None].float(), kernel)[:, 0].long()


class TierHead(nn.Module):
    """The distilled importance predictor: latent ``y`` ``(B, C, h, w)`` -> tier logits ``(B, h, w, 4)``.

    Two 3x3 convolutions (each token sees its 5x5 neighbourhood of tokens, 80x80 pixels, beyond ``g_a``'s own
    receptive field) and a 1x1 classifier."""

    def __init__(self, latent_channels: int, dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(latent_channels, dim, 3, padding=1), nn.GELU(),
            nn.Conv2d(dim, dim, 3, padding=1), nn.GELU(),
            nn.Conv2d(dim, TIERS, 1),
        )

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.net(y).permute(0, 2, 3, 1)


def _check_tier_vector(values: Sequence[float], name: str, non_decreasing: bool, positive: bool) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if len(out) != TIERS or not all(math.isfinite(v) for v in out):
        raise SemcomError(f"{name} needs {TIERS} finite numbers (tiers 0..3), got {list(values)}")
    if non_decreasing and any(b < a for a, b in zip(out, out[1:], strict=False)):
        raise SemcomError(f"{name} must be non-decreasing in the tier, got {list(out)}",
                          hint="a higher tier must never get fewer symbols than a lower one of equal entropy")
    if positive and any(v <= 0 for v in out):
        raise SemcomError(f"{name} must be positive, got {list(out)}")
    return out


@SCHEMES.register("saoosc")
class SAOOSC(NTSCC):
    """SA-OOSC: NTSCC with eq. 1's importance-aware lengths, importance-weighted loss and a distilled tier head.

    ``rate`` is eta (channel uses per estimated bit), as NTSCC's. The transmitter reads ``labels.patch_tiers``
    (``uses_labels``); the receiver is NTSCC's and gets only what is sent (module docstring).

    Args:
        tier_bonus: ``C2``'s bonus of tiers 0..3, in units of the image's mean token entropy (non-decreasing).
        tier_weights: pixel weights of tiers 0..3 in the distortion loss (positive; only their ratios matter).
        distill_weight: weight of the tier head's cross-entropy in the loss (0: no tier head, no distillation).
        tier_head_dim: width of the tier head's convolutions.
        **ntscc: NTSCC's arguments (transform, widths, ``rate_table``, ``eta_range``, ``lmbda``, ``ntc_weight``,
            ``send_hyperprior``, ``equalizer``...), with NTSCC's defaults (the paper sizes).
    """

    name = "saoosc"
    uses_labels = True
    predicts_tiers = False
    """Whether the transmitter's tiers come from the tier head (``saoosc-pred``) instead of the labels."""

    def __init__(
        self,
        tier_bonus: Sequence[float] = DEFAULT_TIER_BONUS,
        tier_weights: Sequence[float] = DEFAULT_TIER_WEIGHTS,
        distill_weight: float = 1e-3,
        tier_head_dim: int = 64,
        **ntscc: Any,
    ) -> None:
        super().__init__(**ntscc)
        self.tier_bonus = _check_tier_vector(tier_bonus, "tier_bonus", non_decreasing=True, positive=False)
        self.tier_weights = _check_tier_vector(tier_weights, "tier_weights", non_decreasing=False, positive=True)
        if not math.isfinite(distill_weight) or distill_weight < 0:
            raise SemcomError(f"distill_weight must be >= 0, got {distill_weight}")
        if self.predicts_tiers and distill_weight <= 0:
            raise SemcomError(f"{self.name} predicts tiers with its tier head, which distill_weight=0 leaves untrained "
                              "in the loss", hint="use distill_weight > 0 (default 1e-3)")
        self.distill_weight = float(distill_weight)
        self.tier_head_dim = int(tier_head_dim)
        self.tier_head = TierHead(self.latent_channels, self.tier_head_dim) if self.distill_weight > 0 else None
        self.register_buffer("_bonus", torch.tensor(self.tier_bonus), persistent=False)
        self.register_buffer("_weights", torch.tensor(self.tier_weights), persistent=False)

    def hparams(self) -> dict[str, Any]:
        """Constructor arguments (JSON data): NTSCC's plus the importance terms."""
        return {**super().hparams(), "tier_bonus": list(self.tier_bonus), "tier_weights": list(self.tier_weights),
                "distill_weight": self.distill_weight, "tier_head_dim": self.tier_head_dim}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(transform={self.transform!r}, C={self.latent_channels}, "
                f"rate_table={self.rate_table[0]}..{self.k_max} ({len(self.rate_table)}), "
                f"tier_bonus={list(self.tier_bonus)}, tier_weights={list(self.tier_weights)}, "
                f"distill_weight={self.distill_weight})")

    # --- eq. 1 -------------------------------------------------------------------------------------------------

    def length_targets(self, token_bits: torch.Tensor, tier_probs: torch.Tensor, eta: float) -> torch.Tensor:
        """``C1(e_i) + C2(I_i)`` of eq. 1, ``(B, h, w)`` float: ``eta * (e_i + mean_j(e_j) * sum_t p_it bonus_t)``.

        ``token_bits``: ``(B, h, w)`` entropies ``e``; ``tier_probs``: ``(B, h, w, 4)`` tier distribution of each
        token (one-hot for label tiers)."""
        mean_bits = token_bits.flatten(1).mean(dim=1).view(-1, 1, 1)
        bonus = tier_probs.to(token_bits.dtype) @ self._bonus.to(token_bits.dtype)
        return eta * token_bits + eta * mean_bits * bonus

    def quantize_lengths(self, targets: torch.Tensor) -> torch.Tensor:
        """``Q0``: rate indices ``(B, h, w)`` int64 of the ``rate_table`` entry nearest each target (ties upwards,
        clamped to the ends); ``k = rate_table[index]``."""
        return self.allocate(targets, 1.0)

    def tier_probs(self, y: torch.Tensor, labels: TransmitterLabels | None, image_size: tuple[int, int]
                   ) -> torch.Tensor:
        """``(B, h, w, 4)`` the transmitter's tier distribution per token: one-hot label tiers, or the tier head's
        softmax (``predicts_tiers``), detached (the allocation is not differentiable)."""
        grid = (y.shape[-2], y.shape[-1])
        if self.predicts_tiers:
            return self.tier_head(y).softmax(dim=-1).detach()
        if labels is None:
            raise SemcomError(f"{self.name}'s transmitter reads the label set's patch tiers, and got no labels",
                              hint="pass labels=TransmitterLabels(...) (bench train/eval do for uses_labels schemes), "
                              "or use saoosc-pred, whose transmitter predicts the tiers")
        tiers = token_tiers(labels.patch_tiers.to(y.device), labels.patch_size, image_size, grid)
        return F.one_hot(tiers, TIERS).to(y.dtype)

    def _eta(self, rate: float) -> float:
        eta = float(rate)
        if not math.isfinite(eta) or eta < 0:
            raise SemcomError(f"{self.name}'s rate is eta >= 0 (channel uses per estimated bit), got {rate!r}")
        return eta

    def transmit(self, images: torch.Tensor, rate: float, labels: TransmitterLabels | None = None) -> Transmission:
        """``(B, 3, H, W)`` in ``[0, 1]`` -> variable-length symbols with ``k_i = Q0[C1(e_i) + C2(I_i)]``.

        ``rate`` is eta. ``labels`` give ``I`` (``saoosc``, ``oosc``; ignored by ``saoosc-pred``). The returned
        ``side`` holds ``rate_indices`` ``(B, h, w)`` and ``image_size`` (and ``z_hat`` with ``send_hyperprior``):
        nothing the side bits do not count.
        """
        eta = self._eta(rate)
        self._check_images(images)
        size = (images.shape[-2], images.shape[-1])
        analysis = self._analyse(images)
        probs = self.tier_probs(analysis.y, labels, size)
        index = self.quantize_lengths(self.length_targets(analysis.token_bits, probs, eta))
        return self._transmission(analysis, index, size)

    # --- training ----------------------------------------------------------------------------------------------

    def weighted_mse(self, reconstruction: torch.Tensor, images: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``D_w``: ``sum_p w_p ||x_p - x_hat_p||^2 / (3 sum_p w_p)`` over ``(B, H, W)`` pixel weights ``w``."""
        se = (reconstruction - images).square().sum(dim=1)
        return (se * weights).sum() / (images.shape[1] * weights.sum())

    def training_step(
        self, images: torch.Tensor, channel: Channel, snr_db: float, generator: torch.Generator | None = None,
        labels: TransmitterLabels | None = None,
    ) -> dict[str, torch.Tensor]:
        """SA-OOSC loss (module docstring) for ``(B, 3, H, W)`` images and their ``labels`` at ``snr_db``.

        Returns scalars: ``loss``, ``mse`` (plain, through the channel), ``mse_w`` (``D_w``), ``mse_tier3``,
        ``mse_ntc`` (``D_w`` of the NTC term), ``psnr``, ``bpp_y``, ``bpp_z``, ``tier_ce``, ``tier_acc`` (the tier
        head's, NaN without one), ``cbr`` (mean payload uses / 3HW), ``side_bits``, ``eta`` and ``aux_loss`` (not in
        ``loss``).
        """
        if labels is None:
            raise SemcomError(f"{self.name} trains on a label set's patch tiers and got no labels",
                              hint="train it with `semcom-bench bench train` on a label set with patch tiers")
        self._check_images(images)
        batch, _, height, width = images.shape
        size = (height, width)
        analysis = self._analyse(images)
        grid = (analysis.y.shape[-2], analysis.y.shape[-1])
        label_tiers = token_tiers(labels.patch_tiers, labels.patch_size, size, grid)
        logits = self.tier_head(analysis.y) if self.tier_head is not None else None
        if self.predicts_tiers:
            probs = logits.softmax(dim=-1).detach()
        else:
            probs = F.one_hot(label_tiers, TIERS).to(analysis.y.dtype)
        bits = analysis.token_bits
        eta = self._training_eta(self.length_targets(bits, probs, 1.0))
        index = self.quantize_lengths(self.length_targets(bits, probs, eta))
        transmission = self._transmission(analysis, index, size)
        received, state = channel(transmission.symbols, snr_db, generator)
        recon = self.receive(received, transmission, state)

        tiers_px = pixel_tiers(labels.patch_tiers, labels.patch_size, size)
        weights = self._weights[tiers_px]
        mse_w = self.weighted_mse(recon, images, weights)
        x_ntc = self.g_s(quantize_ste(analysis.y - analysis.means) + analysis.means)
        mse_ntc_w = self.weighted_mse(x_ntc, images, weights)
        pixels = batch * height * width
        bpp_y = -torch.log2(analysis.y_likelihoods).sum() / pixels
        bpp_z = -torch.log2(analysis.z_likelihoods).sum() / pixels
        loss = mse_w + self.ntc_weight * mse_ntc_w + self.lmbda * (bpp_y + bpp_z)
        nan = torch.tensor(float("nan"))
        tier_ce, tier_acc = nan, nan
        if logits is not None:
            tier_ce = F.cross_entropy(logits.reshape(-1, TIERS), label_tiers.reshape(-1))
            loss = loss + self.distill_weight * tier_ce
            tier_acc = (logits.argmax(dim=-1) == label_tiers).float().mean()
        se = (recon.detach() - images).square().sum(dim=1)
        high = tiers_px == TIERS - 1
        mse = se.mean() / 3
        return {
            "loss": loss,
            "mse": mse,
            "mse_w": mse_w.detach(),
            "mse_tier3": se[high].mean() / 3 if bool(high.any()) else nan,
            "mse_ntc": mse_ntc_w.detach(),
            "psnr": -10 * torch.log10(mse.clamp_min(1e-10)),
            "bpp_y": bpp_y.detach(),
            "bpp_z": bpp_z.detach(),
            "tier_ce": tier_ce.detach(),
            "tier_acc": tier_acc,
            "cbr": transmission.lengths.float().mean() / (3 * height * width),
            "side_bits": transmission.bits().float().mean(),
            "eta": torch.tensor(eta),
            "aux_loss": self.entropy_bottleneck.loss(),
        }


@SCHEMES.register("saoosc-pred")
class SAOOSCPred(SAOOSC):
    """SA-OOSC whose transmitter predicts the tiers with its distilled head: labels in training only.

    ``uses_labels`` is ``self.training``: the harness passes labels to ``training_step`` and none to ``transmit`` of
    the evaluated (``eval()``) model; ``transmit`` ignores labels even when given.
    """

    name = "saoosc-pred"
    predicts_tiers = True

    @property  # type: ignore[override]
    def uses_labels(self) -> bool:  # noqa: D102
        return self.training


@SCHEMES.register("oosc")
class OOSC(SAOOSC):
    """OOSC (SA-OOSC Fig. 1): SA-OOSC's machinery fed with a static class table's tiers, without distillation.

    Train and evaluate it on a label set made with ``annotate ... --labeler static`` (module docstring).
    """

    name = "oosc"

    def __init__(self, distill_weight: float = 0.0, **kwargs: Any) -> None:
        super().__init__(distill_weight=distill_weight, **kwargs)

