"""Benchmark harness pieces: image-quality, task-critical and per-tier metrics, CBR and model complexity.

The names below come from :mod:`semcom_bench.benchmark.metrics`, which needs torch; they are imported on first use
(PEP 562), so that importing a light submodule such as ``semcom_bench.benchmark.cli`` does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from semcom_bench.lazy import lazy_names

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


__getattr__, __dir__ = lazy_names(__name__, {"metrics": tuple(__all__)}, globals())
