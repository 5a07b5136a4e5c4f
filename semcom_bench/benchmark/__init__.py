"""Benchmark harness pieces: image-quality, task-critical and per-tier metrics, CBR and model complexity."""

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
