"""Deep JSCC (Bourtsoulatze, Kurka, Gündüz, 2019): a convolutional autoencoder trained through the channel.

Transmitter: five 5x5 conv layers with PReLU (widths ``hidden`` then ``channels``); the first ``log2(downsample)``
have stride 2 (the paper's 4x; 8x or 16x give smaller bandwidths at a given ``channels``). The ``channels`` real
feature maps of size ``(H / d, W / d)`` are flattened and paired into complex symbols, then normalised to unit
average power per image (the paper's power constraint). So every image sends exactly

    k = channels * H * W / (2 * d^2) channel uses,  CBR = k / (3 * H * W) = channels / (6 * d^2),

with no side information: the bandwidth ratio is a property of the trained model, not of ``transmit``'s ``rate``.

Receiver: one-tap equalisation with perfect CSI (``equalizer``: zero forcing by default, the identity on AWGN as in
the paper; MMSE, an option for fading, keeps deep fades bounded),
then the mirror decoder of transposed convs with PReLU and a final sigmoid.

Training (:meth:`DeepJSCC.training_step`): transmit -> channel -> receive -> MSE on images in ``[0, 1]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from semcom_bench.errors import SemcomError, ShapeMismatchError
from semcom_bench.phy.base import Channel, ChannelState
from semcom_bench.phy.channels import EQUALIZERS, equalize
from semcom_bench.phy.power import normalize_power
from semcom_bench.schemes.base import SCHEMES, TrainableScheme, Transmission
from semcom_bench.schemes.layers import complex_to_real, conv, deconv, real_to_complex

DOWNSAMPLES = (4, 8, 16)
RATE_RTOL = 1e-2  # a rate within 1 % of the model's CBR names it (e.g. 0.083 for 1/12)


class RateMismatchError(SemcomError, ValueError):
    """``transmit`` was asked for a bandwidth ratio the model was not built (trained) for."""


def channels_for(cbr: float, downsample: int) -> int:
    """Latent channels (even, at least 2) whose CBR ``channels / (6 d^2)`` is closest to ``cbr``."""
    return max(2, 2 * round(cbr * 3 * downsample**2))


@SCHEMES.register("deepjscc")
class DeepJSCC(TrainableScheme):
    """Bourtsoulatze et al.'s Deep JSCC; ``rate`` of :meth:`transmit` must be the model's CBR.

    Args:
        cbr: target bandwidth ratio; sets ``channels`` to the nearest even count (the exact CBR is :attr:`cbr`).
        channels: latent channels ``c`` (even); give this or ``cbr`` (both: they must agree).
        downsample: 4, 8 or 16, the spatial reduction of the encoder; images need ``H, W`` divisible by it.
        hidden: widths of the four hidden conv layers (paper: 16, 32, 32, 32).
        kernel_size: conv kernel size (paper: 5).
        equalizer: ``"zf"`` (default; identity on AWGN) or ``"mmse"`` (fading channels only: on AWGN it scales the
            output by ``1 / (1 + N0)``, which tells the decoder the SNR).

    The defaults are the paper's layer widths (about 0.14 M parameters at CBR 1/12); they also suit CPU smoke runs.
    """

    name = "deepjscc"

    def __init__(
        self,
        cbr: float | None = None,
        channels: int | None = None,
        downsample: int = 4,
        hidden: Sequence[int] = (16, 32, 32, 32),
        kernel_size: int = 5,
        equalizer: str = "zf",
    ) -> None:
        super().__init__()
        if downsample not in DOWNSAMPLES:
            raise SemcomError(f"downsample must be one of {DOWNSAMPLES}, got {downsample!r}")
        if equalizer not in EQUALIZERS:
            raise SemcomError(f"unknown equalizer {equalizer!r}", hint=f"use one of: {', '.join(EQUALIZERS)}")
        if len(hidden) != 4:
            raise SemcomError(f"hidden must list 4 layer widths (5 conv layers in all), got {list(hidden)}")
        if channels is None:
            if cbr is None:
                raise SemcomError("DeepJSCC needs cbr or channels", hint="e.g. DeepJSCC(cbr=1/12)")
            channels = channels_for(cbr, downsample)
        elif channels < 2 or channels % 2:
            raise SemcomError(f"channels must be a positive even number, got {channels}")
        elif cbr is not None and channels_for(cbr, downsample) != channels:
            raise SemcomError(
                f"cbr={cbr:g} and channels={channels} disagree at downsample={downsample}",
                hint=f"channels={channels} gives CBR {channels / (6 * downsample**2):g}; pass one of the two",
            )
        self.channels = int(channels)
        self.downsample = int(downsample)
        self.hidden = [int(h) for h in hidden]
        self.kernel_size = int(kernel_size)
        self.equalizer = equalizer
        self.cbr = self.channels / (6 * self.downsample**2)

        stride_2 = int(math.log2(self.downsample))
        widths = [3, *self.hidden, self.channels]
        enc: list[nn.Module] = []
        for i in range(5):
            enc += [conv(widths[i], widths[i + 1], kernel_size, 2 if i < stride_2 else 1), nn.PReLU(widths[i + 1])]
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = []
        back = widths[::-1]  # channels, hidden reversed, 3
        for i in range(5):
            dec.append(deconv(back[i], back[i + 1], kernel_size, 2 if i >= 5 - stride_2 else 1))
            dec.append(nn.PReLU(back[i + 1]) if i < 4 else nn.Sigmoid())
        self.decoder = nn.Sequential(*dec)

    def hparams(self) -> dict[str, Any]:
        """Constructor arguments (JSON data); ``cbr`` is the exact CBR."""
        return {
            "cbr": self.cbr,
            "channels": self.channels,
            "downsample": self.downsample,
            "hidden": list(self.hidden),
            "kernel_size": self.kernel_size,
            "equalizer": self.equalizer,
        }

    def __repr__(self) -> str:
        return f"DeepJSCC(cbr={self.cbr:.5g}, channels={self.channels}, downsample={self.downsample})"

    def _check_rate(self, rate: float) -> None:
        if not math.isclose(float(rate), self.cbr, rel_tol=RATE_RTOL):
            raise RateMismatchError(
                f"this DeepJSCC model sends CBR {self.cbr:.6g} ({self.channels} latent channels at "
                f"{self.downsample}x downsampling); it cannot transmit at rate {rate:g}",
                hint=f"pass rate={self.cbr:.6g}, or train/load a checkpoint built with "
                f"cbr={rate:g} (channels={channels_for(float(rate), self.downsample)})",
            )

    def _check_images(self, images: torch.Tensor) -> None:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ShapeMismatchError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        height, width = images.shape[-2:]
        if height % self.downsample or width % self.downsample:
            raise ShapeMismatchError(
                f"image size {height}x{width} is not divisible by the encoder's downsampling {self.downsample}",
                hint=f"resize or crop images to multiples of {self.downsample}",
            )

    def transmit(self, images: torch.Tensor, rate: float, labels: Any | None = None) -> Transmission:
        """``(B, 3, H, W)`` in ``[0, 1]`` -> ``(B, channels * H * W / (2 d^2))`` complex64 symbols, unit power.

        Raises :class:`RateMismatchError` when ``rate`` is not this model's CBR (within 1 %).
        """
        self._check_rate(rate)
        self._check_images(images)
        latent = self.encoder(images)  # (B, c, H/d, W/d)
        symbols = normalize_power(real_to_complex(latent.flatten(1)))
        batch = images.shape[0]
        return Transmission(
            symbols=symbols,
            lengths=torch.full((batch,), symbols.shape[1], dtype=torch.int64, device=symbols.device),
            side={"image_size": tuple(images.shape[-2:])},  # a system parameter: no side bits to send
        )

    def receive(self, received: torch.Tensor, transmission: Transmission, state: ChannelState) -> torch.Tensor:
        """``(B, N)`` noisy symbols -> ``(B, 3, H, W)`` images in ``[0, 1]``."""
        height, width = transmission.side["image_size"]
        x_hat, _ = equalize(received, state, self.equalizer)
        latent = complex_to_real(x_hat).reshape(
            received.shape[0], self.channels, height // self.downsample, width // self.downsample
        )
        return self.decoder(latent)

    def training_step(
        self, images: torch.Tensor, channel: Channel, snr_db: float, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """MSE between ``(B, 3, H, W)`` images and their reconstruction through ``channel`` at ``snr_db``.

        Returns ``loss`` (= ``mse``), ``mse`` and ``psnr`` (dB, peak 1), all scalars.
        """
        transmission = self.transmit(images, self.cbr)
        received, state = channel(transmission.symbols, snr_db, generator)
        recon = self.receive(received, transmission, state)
        mse = torch.mean((recon - images) ** 2)
        return {"loss": mse, "mse": mse.detach(), "psnr": -10 * torch.log10(mse.detach().clamp_min(1e-10))}
