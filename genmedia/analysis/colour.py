"""Colour and exposure measures of a picture, and the classical colour/texture scene descriptor."""

from __future__ import annotations

import av
import cv2
import numpy as np

DESCRIPTOR_NAME = "classical-colour-texture-v1"
"""The name outputs carry when scene descriptors come from :func:`colour_texture_descriptor`."""


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk's colourfulness (0 for grey pictures, ~100+ for very colourful ones)."""
    r, g, b = (rgb[..., k].astype(np.float32) for k in range(3))
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


_PLANAR_8BIT = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p"})


def chroma_means(frame: av.VideoFrame) -> np.ndarray:
    """Mean U and V (8-bit levels, 128 = grey) of a decoded frame: its chroma planes read by striding
    (every 4th sample); other pixel formats are first converted to a 64-pixel-wide 8-bit YUV picture."""
    if frame.format.name not in _PLANAR_8BIT:
        frame = frame.reformat(
            width=64, height=max(2, round(64 * frame.height / max(frame.width, 1))), format="yuv444p"
        )
    out = np.empty(2, np.float32)
    for k, plane in enumerate(frame.planes[1:3]):
        samples = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
        out[k] = samples[::4, ::4].mean()
    return out


def exposure(gray: np.ndarray) -> float:
    """How well exposed a luma picture is, 0..1: 1 for mid-grey on average with nothing clipped."""
    mean = float(gray.mean()) / 255.0
    clipped = float(((gray <= 8) | (gray >= 247)).mean())
    return float(max(0.0, 1.0 - 2.0 * abs(mean - 0.5)) * (1.0 - clipped))


def _block_variance(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    mean = cv2.resize(x, size, interpolation=cv2.INTER_AREA)
    return np.maximum(cv2.resize(x * x, size, interpolation=cv2.INTER_AREA) - mean * mean, 0.0)


def sharpness_map(gray: np.ndarray, cell: int = 16) -> np.ndarray:
    """Local focus: the variance of the Laplacian in each ``cell`` x ``cell`` block of a luma picture
    (float32, one value per block, ``ceil(h / cell)`` x ``ceil(w / cell)``)."""
    h, w = gray.shape[:2]
    return _block_variance(cv2.Laplacian(gray, cv2.CV_32F), (max(1, -(-w // cell)), max(1, -(-h // cell))))


def contrast_map(gray: np.ndarray, cell: int = 16) -> np.ndarray:
    """Local contrast: the variance of the luma in each ``cell`` x ``cell`` block (as :func:`sharpness_map`)."""
    h, w = gray.shape[:2]
    return _block_variance(gray.astype(np.float32), (max(1, -(-w // cell)), max(1, -(-h // cell))))


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian (focus measure), on a log scale: ``log10(1 + var)``."""
    return float(np.log10(1.0 + cv2.Laplacian(gray, cv2.CV_32F).var()))


def colour_texture_descriptor(rgb: np.ndarray) -> np.ndarray:
    """An L2-normalised 64-d descriptor: a 4x4x2 HSV colour histogram (32), a 16-bin gradient
    orientation histogram weighted by magnitude (texture direction), and 16 bins of gradient
    magnitude (texture strength)."""
    small = cv2.resize(rgb, (128, max(1, round(128 * rgb.shape[0] / rgb.shape[1]))), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    colour = cv2.calcHist([hsv], [0, 1, 2], None, [4, 4, 2], [0, 180, 0, 256, 0, 256]).ravel()
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx, gy = cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)
    mag, ang = cv2.cartToPolar(gx, gy)
    orient = np.histogram(ang % np.pi, bins=16, range=(0, np.pi), weights=mag)[0]
    strength = np.histogram(np.log1p(mag), bins=16, range=(0, 8))[0]
    parts = [p / max(float(np.sum(p)), 1e-6) for p in (colour, orient, strength)]
    vec = np.concatenate(parts).astype(np.float32)
    return vec / max(float(np.linalg.norm(vec)), 1e-6)


def describe(rgb: np.ndarray) -> dict[str, float]:
    """Interpretable colour facts of a picture: brightness, saturation, warmth and texture (0..1)."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    r, b = rgb[..., 0].astype(np.float32), rgb[..., 2].astype(np.float32)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, 60, 120)
    return {
        "brightness": float(hsv[..., 2].mean() / 255.0),
        "saturation": float(hsv[..., 1].mean() / 255.0),
        "warmth": float(np.clip(0.5 + (r.mean() - b.mean()) / 255.0, 0, 1)),
        "texture": float(edges.mean() / 255.0),
        "colourfulness": colourfulness(rgb),
    }
