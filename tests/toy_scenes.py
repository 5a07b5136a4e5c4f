"""Toy images for the model tests: smooth gradients with flat rectangles, cheap to learn on a CPU."""

from __future__ import annotations

import torch


def toy_images(n: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """``(n, 3, H, W)`` smooth scenes: a vertical colour gradient with two flat rectangles."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, height)[:, None].expand(height, width)
    out = []
    for _ in range(n):
        top, bottom = torch.rand(2, 3, 1, 1, generator=g)
        img = top * (1 - t) + bottom * t
        for _ in range(2):
            y0 = int(torch.randint(0, height // 2, (), generator=g))
            x0 = int(torch.randint(0, width // 2, (), generator=g))
            img[:, y0 : y0 + height // 3, x0 : x0 + width // 4] = torch.rand(3, 1, 1, generator=g)
        out.append(img)
    return torch.stack(out)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


def mean_colour_psnr(images: torch.Tensor) -> float:
    """PSNR of the batch's mean colour shown for every pixel: the floor a trained receiver must clearly beat."""
    return psnr(images.mean(dim=(0, 2, 3), keepdim=True).expand_as(images), images)
