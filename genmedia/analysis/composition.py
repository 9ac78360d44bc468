"""A composition score for a frame: is it a picture a person would choose (e.g. for a thumbnail)?

It combines, each on 0..1: the subject's placement on a rule-of-thirds point, the subject's size
(neither lost nor cropped), sharpness, exposure and colourfulness. The subject is the largest face
when there is one, else the salient region.
"""

from __future__ import annotations

import math

import numpy as np

WEIGHTS = {"thirds": 0.25, "size": 0.2, "sharpness": 0.2, "exposure": 0.2, "colour": 0.15}


def thirds_score(cx: float, cy: float) -> float:
    """1 when ``(cx, cy)`` (relative) sits on a rule-of-thirds intersection, falling off with distance;
    the exact centre still scores about 0.6 (centred subjects are fine, just less dynamic)."""
    d = min(math.hypot(cx - x, cy - y) for x in (1 / 3, 2 / 3) for y in (1 / 3, 2 / 3))
    centre = math.hypot(cx - 0.5, cy - 0.5)
    return float(max(math.exp(-((d / 0.12) ** 2)), 0.6 * math.exp(-((centre / 0.12) ** 2))))


def size_score(area: float) -> float:
    """1 for a subject covering 5-40% of the frame, lower for tiny or frame-filling subjects."""
    if area <= 0:
        return 0.0
    if area < 0.05:
        return float(area / 0.05)
    if area > 0.4:
        return float(max(0.0, 1.0 - (area - 0.4) / 0.6))
    return 1.0


def composition_score(
    subject_centre: tuple[float, float],
    subject_area: float,
    sharpness: float,
    exposure: float,
    colourfulness: float,
) -> float:
    """The weighted score, 0..1. ``sharpness`` is :func:`genmedia.analysis.colour.sharpness` (log10
    Laplacian variance, ~3 is crisp), ``colourfulness`` Hasler-Suesstrunk (~60 is vivid)."""
    parts = {
        "thirds": thirds_score(*subject_centre),
        "size": size_score(subject_area),
        "sharpness": float(np.clip(sharpness / 3.0, 0, 1)),
        "exposure": float(np.clip(exposure, 0, 1)),
        "colour": float(np.clip(colourfulness / 60.0, 0, 1)),
    }
    return float(sum(WEIGHTS[k] * v for k, v in parts.items()))
