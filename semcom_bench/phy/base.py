"""The channel role: complex baseband symbols in, noisy (and faded) symbols plus what the receiver may know out.

Conventions (every channel and every scheme relies on them):

* Symbols are complex64 torch tensors of shape ``(B, N)``: ``B`` images, ``N`` channel uses each.
* SNR is Es/N0 in dB at unit average symbol power: the noise is circular complex Gaussian with variance
  ``N0 = 10 ** (-snr_db / 10)`` per complex symbol. Schemes normalise their own power (``phy.power``).
* Realisations come from an explicit ``torch.Generator`` (or seed), so two schemes evaluated with the same seed see the
  same noise and fading draws: comparisons are paired.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from semcom_bench.registry import Registry


@dataclass
class ChannelState:
    """What a receiver with perfect CSI knows about one channel realisation.

    ``gains``: ``(B, N)`` complex fading coefficients, ``None`` for AWGN (gain 1). ``noise_var``: N0 per complex symbol.
    """

    snr_db: float
    noise_var: float
    gains: torch.Tensor | None = None


class Channel(ABC):
    """``channel(x, snr_db, generator) -> (y, state)`` with ``x``, ``y`` of shape ``(B, N)`` complex."""

    name: str = ""

    @abstractmethod
    def __call__(
        self, x: torch.Tensor, snr_db: float, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, ChannelState]:
        """Pass ``x`` through one realisation of the channel at ``snr_db``."""


CHANNELS: Registry[type[Channel]] = Registry("channel")
