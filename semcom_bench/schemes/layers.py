"""Building blocks shared by the learned schemes: real <-> complex symbol packing, strided convolutions, the
pluggable analysis/synthesis transforms of NTSCC, and the token blocks of its variable-length JSCC codec.

Shapes: images ``(B, 3, H, W)``; latents ``(B, C, h, w)``; tokens ``(B, L, D)`` with ``L = h * w`` in raster order.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from compressai.layers import GDN
from torch import nn

from semcom_bench.registry import Registry


def real_to_complex(z: torch.Tensor) -> torch.Tensor:
    """Pair consecutive real values into complex symbols: ``(..., 2K)`` real -> ``(..., K)`` complex64."""
    return torch.view_as_complex(z.float().reshape(*z.shape[:-1], -1, 2).contiguous())


def complex_to_real(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`real_to_complex`: ``(..., K)`` complex -> ``(..., 2K)`` real."""
    return torch.view_as_real(x.to(torch.complex64)).reshape(*x.shape[:-1], -1)


def conv(in_ch: int, out_ch: int, kernel_size: int = 5, stride: int = 1) -> nn.Conv2d:
    """``kernel_size`` conv with 'same' padding: ``(B, in, H, W) -> (B, out, H / stride, W / stride)``."""
    return nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2)


def deconv(in_ch: int, out_ch: int, kernel_size: int = 5, stride: int = 1) -> nn.ConvTranspose2d:
    """Transposed conv inverting :func:`conv`'s shape: ``(B, in, h, w) -> (B, out, h * stride, w * stride)``."""
    return nn.ConvTranspose2d(
        in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2, output_padding=stride - 1
    )


# A transform factory takes (transform_channels, latent_channels) and returns (g_a, g_s) with
# g_a: (B, 3, H, W) -> (B, latent_channels, H / 16, W / 16) and g_s its inverse in shape.
TransformFactory = Callable[[int, int], tuple[nn.Module, nn.Module]]
TRANSFORMS: Registry[TransformFactory] = Registry("NTSCC transform")
TRANSFORM_DOWNSAMPLE = 16  # every registered transform maps 16x16 pixels to one latent token


@TRANSFORMS.register("cnn")
def cnn_transform(channels: int, latent_channels: int) -> tuple[nn.Module, nn.Module]:
    """Ballé et al.'s GDN convolutional transforms (the CompressAI scale-hyperprior ones): four 5x5 stride-2 convs.

    NTSCC's own transform, a Swin transformer with the same 16x downsampling, is the ``"swin"`` factory in
    :mod:`semcom_bench.schemes.swin`.
    """
    g_a = nn.Sequential(
        conv(3, channels, 5, 2),
        GDN(channels),
        conv(channels, channels, 5, 2),
        GDN(channels),
        conv(channels, channels, 5, 2),
        GDN(channels),
        conv(channels, latent_channels, 5, 2),
    )
    g_s = nn.Sequential(
        deconv(latent_channels, channels, 5, 2),
        GDN(channels, inverse=True),
        deconv(channels, channels, 5, 2),
        GDN(channels, inverse=True),
        deconv(channels, channels, 5, 2),
        GDN(channels, inverse=True),
        deconv(channels, 3, 5, 2),
    )
    return g_a, g_s


class TokenBlock(nn.Module):
    """Context mixing over a grid of tokens: a depthwise 3x3 conv (local context, and the position information a
    plain transformer lacks) then a pre-norm transformer encoder layer (global attention, as NTSCC's Swin blocks
    whose window spans the whole latent at training size).

    ``forward(x (B, L, D), grid (h, w)) -> (B, L, D)`` with ``L = h * w``.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.local = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.attention = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=int(dim * mlp_ratio), dropout=0.0, activation="gelu",
            batch_first=True, norm_first=True,
        )

    def forward(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        batch, _, dim = x.shape
        spatial = x.transpose(1, 2).reshape(batch, dim, *grid)
        x = x + self.local(spatial).flatten(2).transpose(1, 2)
        return self.attention(x)
