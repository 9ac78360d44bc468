"""Full-reference quality metrics: PSNR and SSIM (luma, Wang et al. 2004 with an 11x11 Gaussian window).

VMAF needs FFmpeg's ``libvmaf`` filter, which neither the FFmpeg inside PyAV nor this machine's ffmpeg
has, so it is not computed; :func:`vmaf_note` says so in ``enhance.json``.
"""

from __future__ import annotations

import math

import av
import cv2
import numpy as np

from genmedia.enhance.pixels import luma


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over all channels (inf when identical); same shape and dtype."""
    if reference.shape != test.shape:
        raise ValueError(f"psnr: shapes differ {reference.shape} vs {test.shape}")
    peak = float(np.iinfo(reference.dtype).max) if reference.dtype.kind in "ui" else 1.0
    mse = float(np.mean((reference.astype(np.float64) - test.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)


def ssim(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean structural similarity of the luma of two RGB frames (1.0 when identical)."""
    if reference.shape != test.shape:
        raise ValueError(f"ssim: shapes differ {reference.shape} vs {test.shape}")
    x, y = luma(reference).astype(np.float64), luma(test).astype(np.float64)
    c1, c2 = (0.01**2), (0.03**2)

    def blur(a: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(a, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s[5:-5, 5:-5].mean()) if min(s.shape) > 10 else float(s.mean())


def vmaf_note() -> str:
    """Why ``enhance.json`` carries no VMAF score (one line)."""
    if "libvmaf" in av.filter.filters_available:
        return "VMAF not computed: this FFmpeg has libvmaf, but genmedia computes PSNR and SSIM only"
    return "VMAF not computed: the FFmpeg inside PyAV has no libvmaf filter"
