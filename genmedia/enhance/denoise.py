"""A video denoiser: motion-adaptive temporal averaging plus an edge-preserving spatial pass.

Each output frame averages itself with its ``radius`` neighbours on either side, weighting every
neighbour pixel by how well it matches (a locally averaged difference within the expected noise keeps
full weight; motion beyond it drops to zero), so static areas lose noise without ghosting moving ones.
Where few neighbours matched (motion, shot changes) a bilateral filter makes up the difference. The
strength is the noise standard deviation in 8-bit code values; :func:`estimate_noise` measures it.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from genmedia.enhance.pixels import luma, to_unit

_LAPLACE = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
MIN_SIGMA = 0.8
"""Below this estimated noise (8-bit units) ``auto`` leaves the video alone."""


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


def _weight_table(sigma: float) -> np.ndarray:
    """Neighbour weight for each local mean absolute difference 0..255 (8-bit units), as a lookup table."""
    expected = 1.13 * sigma  # E|a - b| of two independent N(0, sigma) pixels, averaged over 3x3 and RGB
    excess = np.maximum(np.arange(256, dtype=np.float32) - expected, 0.0) / max(sigma, 1e-3)
    return np.exp(-excess * excess).astype(np.float32)


def _to8(frame: np.ndarray) -> np.ndarray:
    return frame if frame.dtype == np.uint8 else (frame >> 8).astype(np.uint8)


def denoise_frames(frames: np.ndarray, sigma: float, *, radius: int = 2, core: slice | None = None) -> np.ndarray:
    """Denoise ``frames[core]`` (default: all) using up to ``radius`` neighbours each side from ``frames``.

    ``frames`` is N x H x W x 3 uint8 or uint16 in display order; neighbours outside the array are
    simply absent. ``sigma`` is the noise level in 8-bit code values; 0 returns the frames unchanged.
    Matching is measured on 8-bit copies (fast integer OpenCV paths), averaging is done at full depth.
    Returns the denoised core frames with the input dtype.
    """
    core = core or slice(0, len(frames))
    indices = range(*core.indices(len(frames)))
    if sigma <= 0:
        return frames[core].copy()
    table = _weight_table(sigma)
    peak = float(np.iinfo(frames.dtype).max)
    small = [_to8(f) for f in frames]
    out = np.empty((len(indices),) + frames.shape[1:], dtype=frames.dtype)
    for k, t in enumerate(indices):
        acc = frames[t].astype(np.float32)
        weight_sum = np.ones(acc.shape[:2], dtype=np.float32)
        for j in range(max(0, t - radius), min(len(frames), t + radius + 1)):
            if j == t:
                continue
            diff = cv2.blur(cv2.cvtColor(cv2.absdiff(small[j], small[t]), cv2.COLOR_RGB2GRAY), (3, 3))
            w = cv2.LUT(diff, table)
            acc += frames[j].astype(np.float32) * w[..., None]
            weight_sum += w
        temporal = acc / weight_sum[..., None]
        scale = 255.0 / peak
        spatial = cv2.bilateralFilter(temporal * np.float32(scale), d=5, sigmaColor=2.5 * sigma, sigmaSpace=1.5) / scale
        alone = (1.0 / weight_sum)[..., None]  # 1 where no neighbour matched, 1/(2r+1) where all did
        out[k] = np.clip(np.rint(temporal + (spatial - temporal) * alone), 0, peak).astype(frames.dtype)
    return out


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
