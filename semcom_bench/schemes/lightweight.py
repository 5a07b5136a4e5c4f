"""Lightweight low-SNR-robust JSCC (Ren, Wei, Zhao 2026): BN-slimming pruning, analog training, M-QAM deployment.

Architecture (Table I): six 5x5 convs of 16, 32, 64, 128, 256 and 512 channels, the last with batch norm (Table I's
"Conv 6 with BN") and a sigmoid, so the features ``z`` lie in ``(0, 1)`` (Sec. II); six transposed convs back to 3
channels (the last 6x6) and a sigmoid. Activations between layers are PReLU, as in Deep JSCC [3], which the paper
builds on (it names none). The first four convs have stride 2 (the paper gives no strides; 16x downsampling is what
makes its 512 latent channels of a 512x512 image the stated ``k/n = 2/3``), so with ``c`` latent channels

    k = c * H * W / 256 features, one per complex channel use (Algorithm 2),  CBR = k / (3 H W) = c / 768,

and ``cbr`` picks ``c = round(768 cbr)`` (2/3 -> 512, the paper's; 1/16 -> 48 for our grid). ``hidden`` and
``decoder_hidden`` set the other widths (the smoke profile's are small). ``bn="all"`` puts batch norm after every
hidden layer too (an option beyond the paper, for pruning them).

Transmission (``modulation``, chosen at evaluation, :meth:`LightweightJSCC.set_modulation`):

* ``"analog"``: each feature is the real part of one symbol, ``s = a z`` with ``a = 1 / sqrt(mean z^2)`` per image
  (unit average power); the receiver equalises, ``z_tilde = Re(y / h) / a`` (eq. 16-17), and decodes.
* ``"4qam"`` .. ``"256qam"``: Algorithm 2 through :class:`~semcom_bench.phy.digital.DigitalLink` (uniform
  quantisation to M levels, M-QAM, per-image power normalisation, minimum-distance demapping, ``z_hat = j / M``).

Both send the per-image power factor as a :data:`~semcom_bench.phy.digital.SCALE_HEADER_BITS`-bit header, reported as
``Transmission.side_bits`` for the harness to price. The analog receiver does not clip ``z_tilde`` to ``(0, 1)``
(eq. 17 feeds ``y / h`` to the decoder); the digital demapper's decision always lies in ``[0, 1)``.

Training (train-deploy separation, Sec. III-B): always analog through the channel (slow Rayleigh in the paper:
``rayleigh``, one gain per image), loss ``MSE + l1 * sum |eta|`` over the BN scales (eq. 12; its gradient is eq. 13's
``lambda sign(eta)``). :meth:`LightweightJSCC.prune` then removes the channels of smallest ``|eta|`` with
torch-pruning's dependency graph (the BN channel with its conv filter and the next layer's input kernels), and the
harness fine-tunes with ``l1 = 0`` (Algorithm 1, :func:`semcom_bench.benchmark.train.train_pruned`). With the
paper's BN on conv 6 alone, pruning removes latent channels: the pruned model sends fewer symbols (its CBR is
counted by the harness, not assumed to stay 2/3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from semcom_bench.errors import SemcomError, ShapeMismatchError
from semcom_bench.phy.base import Channel, ChannelState
from semcom_bench.phy.channels import equalize
from semcom_bench.phy.digital import MAPPINGS, SCALE_HEADER_BITS, DigitalLink
from semcom_bench.schemes.base import SCHEMES, TrainableScheme, Transmission
from semcom_bench.schemes.deepjscc import RATE_RTOL, RateMismatchError
from semcom_bench.schemes.layers import conv, deconv

MODULATIONS = ("analog", "4qam", "16qam", "64qam", "256qam")
BN_PLACEMENTS = ("last", "all")
DOWNSAMPLE = 16
STRIDES = (2, 2, 2, 2, 1, 1)  # encoder; the decoder mirrors them
PAPER_HIDDEN = (16, 32, 64, 128, 256)
KERNEL = 5
LAST_KERNEL = 6  # Table I's Trans Conv 6: a 6x6 kernel at stride 2 doubles the size with padding 2 exactly


def latent_for(cbr: float) -> int:
    """Latent channels ``c`` (at least 1) whose CBR ``c / 768`` is closest to ``cbr``."""
    return max(1, round(cbr * 3 * DOWNSAMPLE**2))


def _order(modulation: str) -> int:
    """The QAM order of ``"16qam"`` and the like."""
    return int(modulation.removesuffix("qam"))


@SCHEMES.register("lightweight")
class LightweightJSCC(TrainableScheme):
    """The paper's JSCC; ``rate`` of :meth:`transmit` must be the model's CBR (payload only).

    Args:
        cbr: target bandwidth ratio; sets ``latent`` to ``round(768 cbr)`` (paper: 2/3).
        latent: latent channels ``c`` (Table I: 512); give this or ``cbr`` (both: they must agree).
        hidden: the five hidden encoder widths (Table I: 16, 32, 64, 128, 256).
        decoder_hidden: the five hidden decoder widths (default: ``hidden`` reversed, Table I's 256 .. 16).
        bn: ``"last"`` (Table I: BN on conv 6 only) or ``"all"`` (BN after every hidden layer too).
        l1: eq. 12's ``lambda`` on the BN scales during training (paper: 1e-5; 0 for fine-tuning).
        mapping: DigitalLink's level-to-point mapping for the QAM modulations.

    After :meth:`prune` the widths in :meth:`hparams` are the pruned ones, so a checkpoint rebuilds the pruned model.
    """

    name = "lightweight"

    def __init__(
        self,
        cbr: float | None = None,
        latent: int | None = None,
        hidden: Sequence[int] = PAPER_HIDDEN,
        decoder_hidden: Sequence[int] | None = None,
        bn: str = "last",
        l1: float = 0.0,
        mapping: str = "raster",
    ) -> None:
        super().__init__()
        if bn not in BN_PLACEMENTS:
            raise SemcomError(f"unknown BN placement {bn!r}", hint=f"use one of: {', '.join(BN_PLACEMENTS)}")
        if mapping not in MAPPINGS:
            raise SemcomError(f"unknown level-to-point mapping {mapping!r}", hint=f"use one of: {', '.join(MAPPINGS)}")
        decoder_hidden = list(hidden)[::-1] if decoder_hidden is None else list(decoder_hidden)
        if len(hidden) != 5 or len(decoder_hidden) != 5:
            raise SemcomError(f"hidden and decoder_hidden must list 5 widths each (six layers), got {list(hidden)} "
                              f"and {decoder_hidden}", hint="e.g. hidden=[16, 32, 64, 128, 256] (Table I)")
        if latent is None:
            if cbr is None:
                raise SemcomError("LightweightJSCC needs cbr or latent", hint="e.g. LightweightJSCC(cbr=2/3)")
            latent = latent_for(cbr)
        elif cbr is not None and not math.isclose(latent / (3 * DOWNSAMPLE**2), cbr, rel_tol=RATE_RTOL):
            raise SemcomError(f"cbr={cbr:g} and latent={latent} disagree",
                              hint=f"latent={latent} gives CBR {latent / 768:g}; pass one of the two")
        if l1 < 0:
            raise SemcomError(f"l1 must be >= 0, got {l1}")
        self.latent, self.bn, self.l1, self.mapping = int(latent), bn, float(l1), mapping
        self.hidden, self.decoder_hidden = [int(w) for w in hidden], [int(w) for w in decoder_hidden]
        self.modulation = "analog"

        widths = [3, *self.hidden, self.latent]
        enc: list[nn.Module] = []
        for i, stride in enumerate(STRIDES):
            enc.append(conv(widths[i], widths[i + 1], KERNEL, stride))
            if i == 5:
                enc += [nn.BatchNorm2d(self.latent), nn.Sigmoid()]
            else:
                enc += [nn.BatchNorm2d(widths[i + 1])] if bn == "all" else []
                enc.append(nn.PReLU(widths[i + 1]))
        self.encoder = nn.Sequential(*enc)
        back = [self.latent, *self.decoder_hidden, 3]
        dec: list[nn.Module] = []
        for i, stride in enumerate(STRIDES[::-1]):
            if i == 5:
                dec += [nn.ConvTranspose2d(back[i], 3, LAST_KERNEL, stride=stride, padding=2), nn.Sigmoid()]
            else:
                dec.append(deconv(back[i], back[i + 1], KERNEL, stride))
                dec += [nn.BatchNorm2d(back[i + 1])] if bn == "all" else []
                dec.append(nn.PReLU(back[i + 1]))
        self.decoder = nn.Sequential(*dec)

    @property
    def cbr(self) -> float:
        """The payload CBR ``latent / 768`` (the header's priced channel uses come on top)."""
        return self.latent / (3 * DOWNSAMPLE**2)

    def hparams(self) -> dict[str, Any]:
        """Constructor arguments (JSON data), the current (possibly pruned) widths included."""
        return {"cbr": self.cbr, "latent": self.latent, "hidden": list(self.hidden),
                "decoder_hidden": list(self.decoder_hidden), "bn": self.bn, "l1": self.l1, "mapping": self.mapping}

    def __repr__(self) -> str:
        return (f"LightweightJSCC(cbr={self.cbr:.5g}, latent={self.latent}, hidden={self.hidden}, "
                f"decoder_hidden={self.decoder_hidden}, bn={self.bn!r}, modulation={self.modulation!r})")

    def set_modulation(self, modulation: str) -> None:
        """Choose how :meth:`transmit` sends the features: one of :data:`MODULATIONS` (training is always analog)."""
        if modulation not in MODULATIONS:
            raise SemcomError(f"unknown modulation {modulation!r}", hint=f"use one of: {', '.join(MODULATIONS)}")
        self.modulation = modulation

    def _link(self, modulation: str) -> DigitalLink:
        """Algorithm 2's link for a QAM ``modulation`` (cheap to build: its tables are M entries long)."""
        return DigitalLink(_order(modulation), mapping=self.mapping)

    # -- transmitter and receiver ----------------------------------------------------------------------------------

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The noise-free autoencoder ``(B, 3, H, W) -> (B, 3, H, W)``: the graph torch-pruning traces."""
        return self.decoder(self.encoder(images))

    def _check(self, images: torch.Tensor, rate: float) -> None:
        if not math.isclose(float(rate), self.cbr, rel_tol=RATE_RTOL):
            raise RateMismatchError(
                f"this lightweight model sends CBR {self.cbr:.6g} ({self.latent} latent channels); it cannot "
                f"transmit at rate {rate:g}",
                hint=f"pass rate={self.cbr:.6g}, or train a model with cbr={rate:g} (latent={latent_for(rate)})")
        if images.dim() != 4 or images.shape[1] != 3:
            raise ShapeMismatchError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        height, width = images.shape[-2:]
        if height % DOWNSAMPLE or width % DOWNSAMPLE:
            raise ShapeMismatchError(f"image size {height}x{width} is not divisible by the encoder's {DOWNSAMPLE}x",
                                     hint=f"resize or crop images to multiples of {DOWNSAMPLE}")

    def _send(self, images: torch.Tensor, modulation: str) -> Transmission:
        z = self.encoder(images).flatten(1)  # (B, k) in (0, 1)
        if modulation == "analog":
            scale = z.square().mean(dim=1).rsqrt()  # the sigmoid never gives 0, so the power is > 0
            symbols = torch.complex(z * scale.unsqueeze(1), torch.zeros_like(z))
        else:
            symbols, scale = self._link(modulation).modulate(z)
        batch = images.shape[0]
        return Transmission(
            symbols=symbols,
            lengths=torch.full((batch,), symbols.shape[1], dtype=torch.int64, device=symbols.device),
            side={"image_size": tuple(images.shape[-2:]), "scale": scale, "modulation": modulation},
            side_bits=torch.full((batch,), SCALE_HEADER_BITS, dtype=torch.int64, device=symbols.device),
        )

    def transmit(self, images: torch.Tensor, rate: float, labels: Any | None = None) -> Transmission:
        """``(B, 3, H, W)`` in ``[0, 1]`` -> ``(B, latent * H * W / 256)`` complex64 symbols at unit power, one per
        feature, sent with :attr:`modulation`; ``side_bits``: the 32-bit power header of each image."""
        self._check(images, rate)
        return self._send(images, self.modulation)

    def receive(self, received: torch.Tensor, transmission: Transmission, state: ChannelState) -> torch.Tensor:
        """``(B, N)`` noisy symbols -> ``(B, 3, H, W)`` images in ``[0, 1]``: ZF equalisation, then eq. 17 (analog)
        or Algorithm 2's demapping, then the decoder."""
        height, width = transmission.side["image_size"]
        scale, modulation = transmission.side["scale"], transmission.side["modulation"]
        if modulation == "analog":
            x_hat, _ = equalize(received, state, "zf")
            z = x_hat.real / scale.unsqueeze(1)
        else:
            z = self._link(modulation).demodulate(received, state, scale)
        return self.decoder(z.reshape(received.shape[0], self.latent, height // DOWNSAMPLE, width // DOWNSAMPLE))

    # -- training and pruning --------------------------------------------------------------------------------------

    def batch_norms(self) -> list[nn.BatchNorm2d]:
        """The BN layers whose scales ``eta`` are regularised (eq. 12) and rank channels for pruning."""
        return [m for m in self.modules() if isinstance(m, nn.BatchNorm2d)]

    def bn_l1(self) -> torch.Tensor:
        """``sum_i |eta_i|`` over every BN scale (eq. 12's regulariser), a scalar."""
        return sum(bn.weight.abs().sum() for bn in self.batch_norms())

    def training_step(
        self, images: torch.Tensor, channel: Channel, snr_db: float, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Eq. 12 through the analog channel (eq. 16-17), whatever :attr:`modulation` is (train-deploy separation).

        Returns ``loss`` (MSE + ``l1`` * BN L1), ``mse``, ``psnr`` (dB, peak 1) and ``bn_l1``, all scalars.
        """
        self._check(images, self.cbr)
        transmission = self._send(images, "analog")
        received, state = channel(transmission.symbols, snr_db, generator)
        mse = torch.mean((self.receive(received, transmission, state) - images) ** 2)
        l1 = self.bn_l1()
        loss = mse + self.l1 * l1 if self.l1 else mse
        return {"loss": loss, "mse": mse.detach(), "psnr": -10 * torch.log10(mse.detach().clamp_min(1e-10)),
                "bn_l1": l1.detach()}

    def prunable_channels(self) -> int:
        """Channels that carry a BN scale: what :meth:`prune`'s ratio is a share of."""
        return sum(bn.num_features for bn in self.batch_norms())

    def prune(self, ratio: float, example: torch.Tensor) -> None:
        """Remove, in place, the ``C - floor(C (1 - ratio))`` of the ``C`` :meth:`prunable_channels` with the smallest
        ``|eta|``, ranked over all BN layers together (the paper's global ratio; of equal scales the earlier channels go).

        The ranking is done here so that exactly that many go (torch-pruning's global threshold ``|eta| <= t`` takes
        every tie, and after L1 training under Adam many scales are equal); the removal is torch-pruning's
        dependency graph (DepGraph): each BN channel with the conv filter before it, its PReLU slope and the next
        layer's input kernels. ``example``: a ``(1, 3, H, W)`` image to trace the graph with. The widths in
        :meth:`hparams` follow.
        """
        import torch_pruning as tp

        if not 0.0 <= ratio < 1.0:
            raise SemcomError(f"pruning ratio must lie in [0, 1), got {ratio}", hint="e.g. 0.5 removes half")
        norms = self.batch_norms()
        scales = torch.cat([bn.weight.detach().abs().cpu() for bn in norms])
        total = len(scales)
        smallest = torch.argsort(scales, stable=True)[: total - int(total * (1 - ratio))]
        starts = torch.tensor([0, *[bn.num_features for bn in norms]]).cumsum(0)
        chosen = [(smallest[(smallest >= lo) & (smallest < hi)] - lo).sort().values.tolist()
                  for lo, hi in zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True)]
        for bn, idxs in zip(norms, chosen, strict=True):
            if len(idxs) == bn.num_features:
                raise SemcomError(f"pruning ratio {ratio:g} would remove all {bn.num_features} channels of a layer",
                                  hint="lower the ratio, or train longer without such a strong l1")
        was_training = self.training
        self.eval()  # tracing must not update the BN statistics
        graph = tp.DependencyGraph().build_dependency(self, example_inputs=example)
        for bn, idxs in zip(norms, chosen, strict=True):
            if idxs:
                graph.get_pruning_group(bn, tp.prune_batchnorm_out_channels, idxs=idxs).prune()
        self.train(was_training)
        convs = [m for m in self.encoder if isinstance(m, nn.Conv2d)]
        deconvs = [m for m in self.decoder if isinstance(m, nn.ConvTranspose2d)]
        self.hidden = [m.out_channels for m in convs[:-1]]
        self.latent = convs[-1].out_channels
        self.decoder_hidden = [m.out_channels for m in deconvs[:-1]]
