"""Action intensity: how much the picture changes from frame to frame, at a low resolution.

Motion energy is the mean absolute difference of consecutive frames after reducing them to 64 px wide
(block means, so sensor noise and compression artefacts average out), scaled to 0..1. It rises with
fast movement, camera motion and cuts; :func:`shot_motion` summarises it per shot without the cut
frames themselves.
"""

from __future__ import annotations

import cv2
import numpy as np

MOTION_WIDTH = 64


def motion_picture(gray: np.ndarray) -> np.ndarray:
    """The small picture motion is measured on (about 64 px wide, float32)."""
    h, w = gray.shape
    width = min(MOTION_WIDTH, w)
    height = max(1, round(h * width / w))
    return cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)


def motion_energy(previous: np.ndarray, current: np.ndarray) -> float:
    """Mean absolute difference of two :func:`motion_picture` results, 0 (still) .. 1 (every pixel flipped)."""
    return float(cv2.absdiff(previous, current).mean() / 255.0)


def shot_motion(motion: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Mean motion of each shot ``[starts[k], ends[k])`` (positions), leaving out the shot's first frame
    (its difference is the transition into it). NaN values (unknown) are ignored."""
    out = np.full(len(starts), np.nan)
    for k, (s, e) in enumerate(zip(starts, ends, strict=True)):
        values = motion[s + 1 : e] if e - s > 1 else motion[s:e]
        values = values[np.isfinite(values)]
        if values.size:
            out[k] = float(values.mean())
    return out
