"""DLM: distribution-aware learnable modulation (related-abstracts.txt, first abstract) on the Deep JSCC codec.

The encoder and decoder are Deep JSCC's (:class:`~semcom_bench.schemes.deepjscc.DeepJSCC`, inherited, not copied);
between them sits a digital modulator, ``constellation``:

* ``"learned"``: the DLM, a trainable codebook of ``M`` points initialised from APSK
  (:class:`~semcom_bench.phy.constellation.LearnableConstellation`);
* ``"qam"``: Gray square M-QAM of the same order as a fixed codebook in the same block, assigned, trained and detected
  by the same rules, so that the two differ only in the constellation (``2 M`` parameters).

Transmitter: the ``channels`` feature maps are paired into complex features ``z`` (B, N) and normalised to unit
average power per image (the codebook's scale); each feature is assigned its nearest point ``c_j`` (the index ``j``
is what is sent), and the image's points are scaled by ``a = 1 / sqrt(mean |c_j|^2)`` to unit average power (the used
points are not equiprobable, so their power is not the codebook's 1). ``a`` is a header: 16 bits (float16) per image in
``Transmission.side_bits``, priced by the harness; the receiver gets the float16 value.

Receiver: zero-forcing equalisation with perfect CSI (then minimum-distance detection is the ML symbol decision),
division by the header's ``a``, minimum-distance detection ``j_hat = argmin_j |x - c_j|^2``, the detected points
``c_{j_hat}`` into Deep JSCC's decoder.

Channel uses: one symbol carries one index, ``log2 M`` bits, so an image of ``H x W`` sends

    N = channels * H * W / (2 d^2) symbols = payload bits / log2 M,  CBR = N / (3 H W) = bpp / (3 log2 M)

plus the harness's price of the 16 header bits. ``bpp`` (payload bits per pixel) may be given instead of ``cbr``.

Training (:meth:`DLM.training_step`, MSE on images in ``[0, 1]``), two stages by the model's own step count (a
buffer, so a resumed run continues in the right stage): steps ``< hard_from`` send the soft assignment
``sum_j w_j c_j`` and decode the equalised symbols as they are; from ``hard_from`` on, the straight-through hard
assignment is sent (forward: codebook points; backward: the soft assignment's gradient) and the receiver detects the
nearest point (forward: ``c_{j_hat}``; backward: the identity to the equalised symbol, plus the point's own gradient).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from semcom_bench.errors import SemcomError
from semcom_bench.phy.base import Channel, ChannelState
from semcom_bench.phy.channels import equalize
from semcom_bench.phy.constellation import LearnableConstellation
from semcom_bench.phy.power import average_power, normalize_power
from semcom_bench.schemes.base import SCHEMES, Transmission
from semcom_bench.schemes.deepjscc import DeepJSCC
from semcom_bench.schemes.layers import complex_to_real, real_to_complex

CONSTELLATIONS = ("learned", "qam")
SCALE_BITS = 16
"""Header bits per image: the power scale ``a`` as one float16."""


@SCHEMES.register("dlm")
class DLM(DeepJSCC):
    """Deep JSCC with a learnable (DLM) or fixed Gray QAM constellation of order ``M``; ``rate`` is the payload CBR.

    Args:
        order: ``M`` (4, 16, 64, 256, 1024); one symbol carries ``log2 M`` bits.
        constellation: ``"learned"`` (APSK-initialised trainable codebook) or ``"qam"`` (fixed Gray QAM).
        hard_from: the training step from which stage 2 (straight-through hard assignment) replaces stage 1 (soft).
        temperature: the soft assignment's ``tau`` in units of the codebook's mean squared nearest-neighbour distance.
        cbr, channels, downsample, hidden, kernel_size: Deep JSCC's (give ``cbr``, ``channels`` or ``bpp``).
        bpp: payload bits per pixel instead of ``cbr``: ``cbr = bpp / (3 log2 M)`` (rounded as Deep JSCC rounds).
        equalizer: ``"zf"`` only (MMSE shrinks the constellation toward 0, which breaks minimum-distance detection).
    """

    name = "dlm"

    def __init__(
        self,
        order: int = 16,
        constellation: str = "learned",
        hard_from: int = 1000,
        temperature: float = 0.5,
        cbr: float | None = None,
        channels: int | None = None,
        bpp: float | None = None,
        downsample: int = 4,
        hidden: Sequence[int] = (16, 32, 32, 32),
        kernel_size: int = 5,
        equalizer: str = "zf",
    ) -> None:
        if constellation not in CONSTELLATIONS:
            raise SemcomError(f"unknown constellation {constellation!r}",
                              hint=f"use one of: {', '.join(CONSTELLATIONS)}")
        if equalizer != "zf":
            raise SemcomError(f"DLM detects symbols by minimum distance, which needs equalizer='zf', got {equalizer!r}",
                              hint="drop the equalizer argument")
        if isinstance(hard_from, bool) or not isinstance(hard_from, int) or hard_from < 0:
            raise SemcomError(f"hard_from must be a non-negative step count, got {hard_from!r}",
                              hint="e.g. half the training steps")
        block = LearnableConstellation(order, "apsk" if constellation == "learned" else "qam",
                                       trainable=constellation == "learned", temperature=temperature)
        if bpp is not None:
            if cbr is not None:
                raise SemcomError("give cbr or bpp, not both", hint=f"bpp = 3 * log2(M) * cbr for M = {order}")
            cbr = bpp / (3 * block.bits_per_symbol)
        super().__init__(cbr=cbr, channels=channels, downsample=downsample, hidden=hidden, kernel_size=kernel_size,
                         equalizer=equalizer)
        self.constellation_kind = constellation
        self.hard_from = hard_from
        self.constellation = block
        self.register_buffer("trained_steps", torch.zeros((), dtype=torch.int64))  # drives the two stages

    @property
    def order(self) -> int:
        """The constellation order ``M``."""
        return self.constellation.order

    @property
    def bpp(self) -> float:
        """Payload bits per pixel: ``3 * CBR * log2 M``."""
        return 3 * self.cbr * self.constellation.bits_per_symbol

    def payload_bits(self, height: int, width: int) -> int:
        """Bits of one ``height x width`` image's indices: ``log2 M`` per channel symbol."""
        return self.channels * height * width // (2 * self.downsample**2) * self.constellation.bits_per_symbol

    def hparams(self) -> dict[str, Any]:
        """Constructor arguments (JSON data): Deep JSCC's plus the constellation's."""
        return {**super().hparams(), "order": self.order, "constellation": self.constellation_kind,
                "hard_from": self.hard_from, "temperature": self.constellation.temperature}

    def __repr__(self) -> str:
        return (f"DLM(constellation={self.constellation_kind!r}, order={self.order}, cbr={self.cbr:.5g}, "
                f"channels={self.channels}, downsample={self.downsample})")

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, N)`` complex features, one per channel symbol, at unit average power per image
        (the codebook's scale): what the constellation assigns to its points."""
        self._check_images(images)
        return normalize_power(real_to_complex(self.encoder(images).flatten(1)))

    def _decode(self, symbols: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
        """``(B, N)`` complex (detected points or soft symbols) -> ``(B, 3, H, W)`` images."""
        height, width = image_size
        latent = complex_to_real(symbols).reshape(
            symbols.shape[0], self.channels, height // self.downsample, width // self.downsample
        )
        return self.decoder(latent)

    def transmit(self, images: torch.Tensor, rate: float, labels: Any | None = None) -> Transmission:
        """``(B, 3, H, W)`` in ``[0, 1]`` -> ``(B, N)`` codebook points times each image's power scale (module doc).

        ``side``: ``image_size`` (a system parameter) and ``scale`` ``(B,)`` float32, the float16 header the receiver
        gets; ``side_bits``: 16 per image. Always the hard assignment, whatever the training mode.
        """
        self._check_rate(rate)
        points = self.constellation.map(self.constellation.assign(self.features(images)))
        scale = average_power(points).rsqrt()  # codebook points have positive power, unless all sit at 0
        batch = images.shape[0]
        return Transmission(
            symbols=points * scale.unsqueeze(1),
            lengths=torch.full((batch,), points.shape[1], dtype=torch.int64, device=points.device),
            side={"image_size": tuple(images.shape[-2:]), "scale": scale.half().float()},
            side_bits=torch.full((batch,), SCALE_BITS, dtype=torch.int64, device=points.device),
        )

    def receive(self, received: torch.Tensor, transmission: Transmission, state: ChannelState) -> torch.Tensor:
        """``(B, N)`` noisy symbols -> ``(B, 3, H, W)`` images: ZF, header scale, minimum-distance detection, decode."""
        x_hat, _ = equalize(received, state, "zf")
        x_hat = x_hat / transmission.side["scale"].to(x_hat.device).unsqueeze(1)
        detected = self.constellation.map(self.constellation.demap(x_hat))
        return self._decode(detected, transmission.side["image_size"])

    def training_step(
        self, images: torch.Tensor, channel: Channel, snr_db: float, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """MSE of ``(B, 3, H, W)`` images through ``channel`` at ``snr_db``, stage 1 (soft) or 2 (straight-through).

        Returns ``loss`` (= ``mse``), ``mse``, ``psnr`` (dB, peak 1) and ``stage`` (1 or 2), all scalars.
        """
        hard = int(self.trained_steps) >= self.hard_from
        self.trained_steps += 1
        z = self.features(images)
        sent = self.constellation.straight_through(z) if hard else self.constellation.soft(z)
        scale = average_power(sent).clamp_min(torch.finfo(torch.float32).tiny).rsqrt().unsqueeze(1)
        received, state = channel(sent * scale, snr_db, generator)
        x_hat = equalize(received, state, "zf")[0] / scale
        if hard:
            points = self.constellation.map(self.constellation.demap(x_hat))
            x_hat = points + (x_hat - x_hat.detach())  # forward: the detected point exactly; backward: identity
        recon = self._decode(x_hat, tuple(images.shape[-2:]))
        mse = torch.mean((recon - images) ** 2)
        return {"loss": mse, "mse": mse.detach(), "psnr": -10 * torch.log10(mse.detach().clamp_min(1e-10)),
                "stage": torch.tensor(2.0 if hard else 1.0)}

