"""The scheme role: transmitter and receiver of one transmission scheme, judged by the harness.

A scheme maps images (and, where it uses them, their labels) to complex channel symbols with unit average power; the
receiver maps the noisy symbols back to images. The harness, not the scheme, passes the symbols through the channel,
counts the channel uses that cross it and computes CBR = channel uses / (3 * H * W). A scheme reports its side
information in bits (``Transmission.side_bits``); the harness prices those bits in channel uses by one rule for every
scheme (:mod:`semcom_bench.benchmark.side_info`), so no scheme prices its own.

Shapes: images are ``(B, 3, H, W)`` float32 in ``[0, 1]``; symbols ``(B, N)`` complex64.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import torch

from semcom_bench.phy.base import Channel, ChannelState
from semcom_bench.registry import Registry

FALLBACK_VALUE = 0.5
"""The mid-grey value of the image a receiver shows when it has nothing decodable (the harness scores it)."""


@dataclass
class TransmitterLabels:
    """What the transmitter may read of a batch's label set (the receiver never gets it).

    ``patch_tiers``: ``(B, grid_h, grid_w)`` int64 importance tiers 0..3 of ``patch_size``-pixel patches (raster
    order as in the ``patches`` table); ``task_mask``: ``(B, H, W)`` bool, the TOIF task-critical mask (InsCom eq. 7).
    """

    patch_tiers: torch.Tensor
    patch_size: int
    task_mask: torch.Tensor

    def to(self, device: torch.device | str) -> TransmitterLabels:
        """The same labels on ``device``."""
        return TransmitterLabels(self.patch_tiers.to(device), self.patch_size, self.task_mask.to(device))


@dataclass
class Transmission:
    """What crosses the channel for a batch of images.

    ``symbols``: ``(B, N)`` complex64, unit average power over the used symbols of each image.
    ``lengths``: ``(B,)`` int64, symbols of each image that are really sent (variable-length schemes pad the rest).
    ``side``: side information the receiver gets error-free (rate indices, headers), whatever the scheme needs.
    ``side_bits``: ``(B,)`` int64, the bits ``side`` takes to send (``None``: nothing to send; system parameters
    such as the image size cost nothing). The harness turns them into channel uses and adds those to ``lengths``.
    """

    symbols: torch.Tensor
    lengths: torch.Tensor
    side: dict[str, Any] = field(default_factory=dict)
    side_bits: torch.Tensor | None = None

    def bits(self) -> torch.Tensor:
        """``(B,)`` int64 side-information bits per image (zeros when the scheme sends none)."""
        return self.side_bits if self.side_bits is not None else torch.zeros_like(self.lengths)

    def for_receiver(self) -> Transmission:
        """What the receiver is handed besides the received symbols: ``lengths``, ``side`` and ``side_bits``, with
        ``symbols`` an empty ``(B, 0)`` tensor, so a receiver cannot read what was sent before the channel."""
        empty = torch.zeros(self.symbols.shape[0], 0, dtype=self.symbols.dtype, device=self.symbols.device)
        return Transmission(empty, self.lengths, self.side, self.side_bits)


class Scheme(ABC):
    """A transmission scheme. ``rate`` is the scheme's own rate knob (a target CBR, NTSCC's eta...)."""

    name: str = ""
    uses_labels: bool = False
    """Whether :meth:`transmit` reads the label set; the harness then passes ``labels`` (to the transmitter only)."""

    @abstractmethod
    def transmit(self, images: torch.Tensor, rate: float, labels: TransmitterLabels | None = None) -> Transmission:
        """Encode ``(B, 3, H, W)`` images in ``[0, 1]`` into channel symbols; ``labels`` only for ``uses_labels``."""

    @abstractmethod
    def receive(self, received: torch.Tensor, transmission: Transmission, state: ChannelState) -> torch.Tensor:
        """Reconstruct ``(B, 3, H, W)`` images in ``[0, 1]`` from the noisy ``(B, N)`` symbols.

        ``transmission`` gives the receiver only what it legitimately has: ``lengths`` and ``side`` (the harness
        hands it :meth:`Transmission.for_receiver`, whose ``symbols`` are empty).
        """

    def code_lengths(self, transmission: Transmission) -> torch.Tensor | None:
        """``(B, h, w)`` channel symbols spent on each spatial token (SA-OOSC Fig. 4), or ``None`` for schemes that
        spend them uniformly or have no token grid."""
        return None


SCHEMES: Registry[type[Scheme]] = Registry("scheme")


class TrainableScheme(Scheme, torch.nn.Module):
    """A scheme with learnable parameters, trained end to end through a channel.

    The harness owns the optimiser, epochs, checkpoints and seeds; the scheme owns its loss. ``hparams()`` returns the
    constructor arguments (JSON data): checkpoints store them so a checkpoint rebuilds its scheme and a checkpoint of
    another scheme or shape is refused with a clear error.
    """

    def __init__(self) -> None:
        torch.nn.Module.__init__(self)

    @abstractmethod
    def hparams(self) -> dict[str, Any]:
        """Constructor arguments, enough to rebuild an identical untrained model with ``type(self)(**hparams)``."""

    @abstractmethod
    def training_step(
        self, images: torch.Tensor, channel: Channel, snr_db: float, generator: torch.Generator | None = None,
        labels: TransmitterLabels | None = None,
    ) -> dict[str, torch.Tensor]:
        """One differentiable pass of ``(B, 3, H, W)`` images through transmitter, channel and receiver; ``labels``
        (for ``uses_labels`` schemes) may shape the transmitter and the loss, never the receiver's input.

        Returns scalars: ``loss`` (what the optimiser minimises) plus anything worth logging (``mse``, ``rate``...).
        """
