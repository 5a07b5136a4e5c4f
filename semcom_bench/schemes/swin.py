"""NTSCC's own analysis/synthesis transforms: Swin transformers (Liu et al. 2021) with 16x down/upsampling, built on
torchvision's Swin v1 blocks and registered as ``"swin"`` in :data:`~semcom_bench.schemes.layers.TRANSFORMS`.

``g_a`` (:class:`SwinAnalysis`): a 2x2 stride-2 patch embedding, then four stages of (shifted-)window attention
blocks with a 2x2 patch merging between consecutive ones; ``g_s`` (:class:`SwinSynthesis`) mirrors it with a 2x2
patch split (linear expansion then pixel shuffle) after every stage, the last one to RGB. The sizes are NTSCC's:

* depths ``(2, 2, 6, 2)`` in ``g_a`` (``(2, 6, 2, 2)`` in ``g_s``), heads ``(4, 6, 8, 10)`` (reversed in ``g_s``),
  window 8 with the shift of half a window on every second block, MLP ratio 4, no dropout or stochastic depth;
* stage widths ``(4d, 6d, 8d, 10d)`` with head width ``d = round(N / 6)`` for ``transform_channels = N``: N = 192
  gives NTSCC's 128, 192, 256, 320 (:func:`stage_widths`).

Along a side of a feature map shorter than the window, the window shrinks to that side and the shift is off there
(the original Swin's rule, applied per side; :class:`FittedWindowAttention`); torchvision alone would zero-pad the
map to a whole window and let every token attend to the padding. At the benchmark sizes (256x512, 128x256) every
map is a multiple of the window; a longer side that is not (e.g. 12 tokens) is padded as torchvision does.
"""

from __future__ import annotations

import functools

import torch
from torch import nn
from torchvision.models.swin_transformer import (
    PatchMerging,
    ShiftedWindowAttention,
    SwinTransformerBlock,
    shifted_window_attention,
)
from torchvision.ops.misc import Permute

from semcom_bench.errors import ShapeMismatchError
from semcom_bench.schemes.layers import TRANSFORM_DOWNSAMPLE, TRANSFORMS

WINDOW = 8
DEPTHS = (2, 2, 6, 2)  # g_a's stages, finest first; g_s runs them coarsest first
HEADS = (4, 6, 8, 10)


def stage_widths(channels: int) -> tuple[int, ...]:
    """Widths of ``g_a``'s stages, finest first: ``heads * d`` with ``d = max(1, round(channels / 6))``.

    The ramp keeps every head ``d`` wide and makes ``channels`` the width of the second stage when ``6 | channels``
    (192 -> ``(128, 192, 256, 320)``, 48 -> ``(32, 48, 64, 80)``).
    """
    head_dim = max(1, round(channels / 6))
    return tuple(heads * head_dim for heads in HEADS)


@functools.cache
def _relative_position_index(window: tuple[int, int], table_window: tuple[int, int]) -> torch.Tensor:
    """``(N * N,)`` rows of a ``table_window`` relative-position bias table for the token pairs of a ``window``
    (``N = window[0] * window[1]``); equals torchvision's ``relative_position_index`` when the two are the same."""
    coords = torch.stack(torch.meshgrid(torch.arange(window[0]), torch.arange(window[1]), indexing="ij")).flatten(1)
    offset = coords[:, :, None] - coords[:, None, :]  # (2, N, N), each in [-(window - 1), window - 1]
    row = offset[0] + table_window[0] - 1
    col = offset[1] + table_window[1] - 1
    return (row * (2 * table_window[1] - 1) + col).flatten()


class FittedWindowAttention(ShiftedWindowAttention):
    """torchvision's (shifted) window attention whose window shrinks to a smaller feature map.

    ``forward(x (B, H, W, C)) -> (B, H, W, C)``. Along a side shorter than the window the window spans the side
    (torchvision then turns the shift off there, the window covering it) and the relative-position bias of the
    smaller window is read from the same table, so the parameters do not depend on the image size.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        window = [min(size, extent) for size, extent in zip(self.window_size, x.shape[1:3], strict=True)]
        if window == self.window_size:
            return super().forward(x)
        tokens = window[0] * window[1]
        index = _relative_position_index(tuple(window), tuple(self.window_size)).to(x.device)
        bias = self.relative_position_bias_table[index].view(tokens, tokens, -1).permute(2, 0, 1).unsqueeze(0)
        return shifted_window_attention(
            x, self.qkv.weight, self.proj.weight, bias, window, self.num_heads, shift_size=self.shift_size,
            attention_dropout=self.attention_dropout, dropout=self.dropout, qkv_bias=self.qkv.bias,
            proj_bias=self.proj.bias, training=self.training,
        )


def _stage(dim: int, depth: int, heads: int) -> nn.Sequential:
    """``depth`` Swin blocks ``(B, H, W, dim) -> (B, H, W, dim)``, the odd ones with shifted windows."""
    return nn.Sequential(*(
        SwinTransformerBlock(
            dim, heads, window_size=[WINDOW, WINDOW], shift_size=[0, 0] if i % 2 == 0 else [WINDOW // 2] * 2,
            attn_layer=FittedWindowAttention,
        )
        for i in range(depth)
    ))


class PatchMerge(PatchMerging):
    """torchvision's 2x2 patch merging to ``out_dim`` channels (its own keeps ``2 * dim``):
    ``(B, H, W, dim) -> (B, H / 2, W / 2, out_dim)``."""

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__(dim)
        self.reduction = nn.Linear(4 * dim, out_dim, bias=False)


class PatchSplit(nn.Module):
    """The inverse of :class:`PatchMerge` in shape: LayerNorm, a linear map to ``4 * out_dim`` and a pixel shuffle,
    ``(B, H, W, dim) -> (B, 2H, 2W, out_dim)``."""

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.expand = nn.Linear(dim, 4 * out_dim)
        self.shuffle = nn.Sequential(Permute([0, 3, 1, 2]), nn.PixelShuffle(2), Permute([0, 2, 3, 1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.expand(self.norm(x)))


def _init_linear(module: nn.Module) -> None:
    """torchvision's Swin initialisation of every linear layer: truncated normal (std 0.02) weights, zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class SwinAnalysis(nn.Module):
    """``g_a``: images ``(B, 3, H, W)`` -> latent ``(B, latent_channels, H / 16, W / 16)``; ``H, W`` multiples of
    16 (:class:`~semcom_bench.errors.ShapeMismatchError` otherwise).

    Patch embedding to ``(B, H / 2, W / 2, w_0)``, stages of widths ``w_0..w_3`` (:func:`stage_widths`) at
    ``H / 2 .. H / 16`` with patch merging between them, LayerNorm and a linear head to ``latent_channels``.
    """

    def __init__(self, channels: int, latent_channels: int) -> None:
        super().__init__()
        widths = stage_widths(channels)
        layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 2, stride=2), Permute([0, 2, 3, 1]), nn.LayerNorm(widths[0])]
        for i, (width, depth, heads) in enumerate(zip(widths, DEPTHS, HEADS, strict=True)):
            if i:
                layers.append(PatchMerge(widths[i - 1], width))
            layers.append(_stage(width, depth, heads))
        layers += [nn.LayerNorm(widths[-1]), nn.Linear(widths[-1], latent_channels), Permute([0, 3, 1, 2])]
        self.layers = nn.Sequential(*layers)
        _init_linear(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        if height % TRANSFORM_DOWNSAMPLE or width % TRANSFORM_DOWNSAMPLE:
            raise ShapeMismatchError(
                f"the Swin transform needs image sides that are multiples of {TRANSFORM_DOWNSAMPLE}, got "
                f"{height}x{width}",
                hint=f"resize or crop images to multiples of {TRANSFORM_DOWNSAMPLE}",
            )
        return self.layers(images)


class SwinSynthesis(nn.Module):
    """``g_s``: latent ``(B, latent_channels, h, w)`` -> images ``(B, 3, 16h, 16w)``, unbounded (the caller clamps).

    A linear embedding to the widest stage, then stages of widths ``w_3..w_0`` (:func:`stage_widths`) each followed
    by a 2x patch split, the last one to the 3 colour channels.
    """

    def __init__(self, channels: int, latent_channels: int) -> None:
        super().__init__()
        widths = stage_widths(channels)[::-1]
        layers: list[nn.Module] = [Permute([0, 2, 3, 1]), nn.Linear(latent_channels, widths[0])]
        for i, (width, depth, heads) in enumerate(zip(widths, DEPTHS[::-1], HEADS[::-1], strict=True)):
            layers.append(_stage(width, depth, heads))
            layers.append(PatchSplit(width, widths[i + 1] if i + 1 < len(widths) else 3))
        layers.append(Permute([0, 3, 1, 2]))
        self.layers = nn.Sequential(*layers)
        _init_linear(self)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.layers(latent)


@TRANSFORMS.register("swin")
def swin_transform(channels: int, latent_channels: int) -> tuple[nn.Module, nn.Module]:
    """NTSCC's Swin transforms (module docstring): ``(SwinAnalysis, SwinSynthesis)`` with stage widths from
    ``channels`` (:func:`stage_widths`) and ``latent_channels`` values per latent token."""
    return SwinAnalysis(channels, latent_channels), SwinSynthesis(channels, latent_channels)
