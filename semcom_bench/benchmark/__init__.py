"""Benchmark harness pieces: image-quality, task-critical and per-tier metrics, CBR and model complexity.

The names below come from :mod:`semcom_bench.benchmark.metrics`, which needs torch; they are imported on first use
(PEP 562), so that importing a light submodule such as ``semcom_bench.benchmark.cli`` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from semcom_bench.benchmark.metrics import (
        MSSSIM,
        PSNR,
        SSIM,
        TCPSNR,
        MetricWarning,
        QualityMetrics,
        TierPSNR,
        cbr,
        model_complexity,
        ms_ssim,
        ms_ssim_scales,
        psnr,
        ssim,
        tc_psnr,
        tier_psnr,
    )

__all__ = [
    "MSSSIM",
    "PSNR",
    "SSIM",
    "TCPSNR",
    "MetricWarning",
    "QualityMetrics",
    "TierPSNR",
    "cbr",
    "model_complexity",
    "ms_ssim",
    "ms_ssim_scales",
    "psnr",
    "ssim",
    "tc_psnr",
    "tier_psnr",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        value = getattr(importlib.import_module("semcom_bench.benchmark.metrics"), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
