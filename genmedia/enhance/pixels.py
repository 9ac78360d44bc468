"""Frames as numbers: uint8 (8-bit sources) or uint16 (high-bit-depth and HDR sources), RGB, N x H x W x 3."""

from __future__ import annotations

import cv2
import numpy as np


def peak(dtype: np.dtype | type) -> float:
    """The largest code value of an integer frame dtype (255 or 65535)."""
    return float(np.iinfo(np.dtype(dtype)).max)


def to_unit(frames: np.ndarray) -> np.ndarray:
    """Integer frames as float32 in [0, 1]."""
    return frames.astype(np.float32) * np.float32(1.0 / peak(frames.dtype))


def from_unit(values: np.ndarray, dtype: np.dtype | type) -> np.ndarray:
    """Float values in [0, 1] back to integer frames of ``dtype`` (rounded, clipped)."""
    scale = peak(dtype)
    return np.clip(np.rint(values * scale), 0, scale).astype(dtype)


def resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize one frame: Lanczos-4 when enlarging, area averaging when shrinking."""
    h, w = frame.shape[:2]
    if (w, h) == (width, height):
        return frame
    method = cv2.INTER_AREA if width < w and height < h else cv2.INTER_LANCZOS4
    return cv2.resize(frame, (width, height), interpolation=method)


def luma(frames: np.ndarray) -> np.ndarray:
    """BT.709 luma of RGB frames as float32 in [0, 1] (any leading shape)."""
    unit = to_unit(frames)
    return unit[..., 0] * 0.2126 + unit[..., 1] * 0.7152 + unit[..., 2] * 0.0722


def small_gray(frame: np.ndarray, max_width: int) -> np.ndarray:
    """One frame as 8-bit gray, shrunk (area filter) to at most ``max_width`` pixels wide: the BT.709 luma
    of an RGB frame (H x W x 3), or the Y plane of a planar Y'CbCr 4:2:0 frame (H*3/2 x W, 8 or 10 bit)."""
    if frame.ndim == 2:
        y = frame[: frame.shape[0] * 2 // 3]
        return _shrink((y >> 2).astype(np.uint8) if y.dtype == np.uint16 else y, max_width)
    return np.clip(_shrink(luma(frame), max_width) * 255 + 0.5, 0, 255).astype(np.uint8)


def _shrink(gray: np.ndarray, max_width: int) -> np.ndarray:
    h, w = gray.shape
    if w > max_width:
        return cv2.resize(gray, (max_width, max(1, round(h * max_width / w))), interpolation=cv2.INTER_AREA)
    return gray
