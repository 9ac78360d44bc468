"""A video denoiser: FFmpeg's adaptive temporal averaging (``atadenoise``) run as a libavfilter graph.

Each output pixel averages itself with the pixels at the same place in up to ``radius`` frames on
either side, stopping at the first neighbour that differs by more than a threshold (motion), so
static areas lose noise without ghosting moving ones. The thresholds follow the strength, the noise
standard deviation in 8-bit code values (:func:`estimate_noise` measures it). A shot boundary ends
the graph (:func:`denoise_frames` takes each frame's shot), so no frame is averaged with another shot.
Frames are whatever the pipeline carries: planar YUV 4:2:0 or packed RGB, 8 or 10/16 bit.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from genmedia.enhance.filters import Filter, equal_runs, layout_format, run_arrays
from genmedia.enhance.pixels import luma, to_unit

_LAPLACE = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
MIN_SIGMA = 0.8
"""Below this estimated noise (8-bit units) ``auto`` leaves the video alone."""
THRESHOLD_PER_SIGMA = 3.5
"""atadenoise's per-pixel threshold (``0a``) in noise sigmas: a neighbour within it is averaged in. On
static texture with sigma 8 noise this gains 5.3 dB PSNR (of 7 for a plain 5-frame mean) while a
picture moving 12 pixels a frame stays above 39 dB (neighbours that moved are not averaged in)."""
YUV_NOISE = 0.6
"""Noise of sigma s in each RGB channel is about 0.6 s in each limited-range Y'CbCr plane (BT.709)."""
MIN_RADIUS = 2
"""atadenoise averages at least 5 frames (2 each side)."""


def estimate_noise(frames: np.ndarray) -> float:
    """Standard deviation of additive noise in 8-bit code values, median over ``frames``.

    Immerkaer's estimator (the mean absolute response of a Laplacian difference mask, which cancels
    smooth image content) per RGB channel, measured over the flattest half of each (pre-smoothed) picture so edges and
    texture are not mistaken for noise.
    """
    estimates = []
    for frame in frames:
        y = luma(frame) * 255.0
        smooth = cv2.GaussianBlur(y, (0, 0), 2.0)  # structure, not noise, decides what is flat
        gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)[1:-1, 1:-1]
        gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)[1:-1, 1:-1]
        gradient = np.hypot(gx, gy)
        flat = gradient <= np.percentile(gradient, 50)
        if flat.sum() < 16:
            continue
        channels = to_unit(frame) * 255.0
        for c in range(channels.shape[2]):
            response = np.abs(cv2.filter2D(channels[..., c], -1, _LAPLACE))[1:-1, 1:-1]
            estimates.append(math.sqrt(math.pi / 2) * float(response[flat].mean()) / 6.0)
    return float(np.median(estimates)) if estimates else 0.0


def denoise_filters(sigma: float, radius: int, *, yuv: bool = False) -> list[Filter]:
    """The libavfilter chain denoising RGB noise of ``sigma`` (8-bit units) with ``radius`` frames each side,
    on RGB frames or (``yuv``) on Y'CbCr frames."""
    a = min(0.3, THRESHOLD_PER_SIGMA * sigma * (YUV_NOISE if yuv else 1.0) / 255.0)
    size = 2 * max(MIN_RADIUS, radius) + 1
    planes = ":".join(f"{p}a={a:.4f}:{p}b={2 * a:.4f}" for p in range(3))
    return [("atadenoise", f"s={size}:{planes}")]


def denoise_frames(
    frames: np.ndarray,
    sigma: float,
    *,
    radius: int = 2,
    core: slice | None = None,
    shots: np.ndarray | None = None,
) -> np.ndarray:
    """Denoise ``frames[core]`` (default: all) using up to ``radius`` neighbours each side from ``frames``.

    ``frames`` are consecutive frames in display order, in any layout :func:`layout_format` knows
    (planar YUV 4:2:0 or packed RGB, 8 or 16 bit); neighbours outside the array are simply absent.
    ``shots`` (one id per frame) splits them into runs that never see each other. ``sigma`` is the
    noise level in 8-bit code values; 0 returns the frames unchanged. Same layout and dtype out.
    """
    core = core or slice(0, len(frames))
    if sigma <= 0 or len(frames) == 0:
        return frames[core].copy()
    first, last = core.indices(len(frames))[:2]
    lo, hi = max(0, first - max(MIN_RADIUS, radius)), min(len(frames), last + max(MIN_RADIUS, radius))
    labels = np.zeros(hi - lo, dtype=np.int64) if shots is None else np.asarray(shots)[lo:hi]
    fmt = layout_format(frames)
    chain = denoise_filters(sigma, radius, yuv=fmt.startswith("yuv"))
    out = run_arrays(frames[lo:hi], fmt, chain, runs=equal_runs(labels))
    return out[first - lo : last - lo]


def resolve_strength(setting: str | float, frames: np.ndarray) -> tuple[float, float | None]:
    """The sigma to denoise with for ``setting`` (``auto``, ``off`` or a number) and the measured noise.

    ``auto`` measures the noise on ``frames`` (a sample of the video) and returns 0 when it is under
    :data:`MIN_SIGMA`; a number is used as given; ``off`` is 0. The second value is the measurement
    (None when nothing was measured).
    """
    if setting == "off":
        return 0.0, None
    if setting == "auto":
        measured = estimate_noise(frames)
        return (measured if measured >= MIN_SIGMA else 0.0), measured
    return float(setting), None
