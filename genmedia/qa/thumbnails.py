"""Thumbnail checks: not black (mean luma), not blurred (variance of the Laplacian, OpenCV), faces whole.

Each published image of ``thumbnails.json`` is decoded and measured; a face box the analysis or the renderer
found (the aspect entry's ``faces``, in the picture's pixels) must not be cut by the crop's edge by more than
``qa.face_tolerance`` of its width or height.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import cv2
import numpy as np

from genmedia.qa.verdict import QaInput
from genmedia.schemas import QaCheck

BLUR_SIDE = 512
"""Larger pictures are measured with their longer side scaled down to this many pixels, so the blur bound depends
neither on the output size nor on its orientation (smaller ones are measured as they are)."""


def decode_image(data: bytes, name: str) -> np.ndarray:
    """RGB pixels of JPEG/WebP/PNG ``data``; ValueError naming ``name`` when it does not decode."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{name}: not a decodable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image


def mean_luma(image: np.ndarray) -> float:
    """Mean luma (0-255) of an RGB or grey picture."""
    return float(cv2.mean(_gray(image))[0])


def laplacian_variance(image: np.ndarray, side: int = BLUR_SIDE) -> float:
    """Variance of the Laplacian of the picture's luma, its longer side scaled down to ``side`` pixels when
    longer: low means blurred."""
    gray = _gray(image)
    h, w = gray.shape[:2]
    if max(h, w) > side:
        scale = side / max(h, w)
        gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def cut_fraction(crop: Sequence[float], face: Sequence[float]) -> float:
    """The largest fraction of the face box's width or height that lies outside ``crop`` (both ``[x, y, w, h]``)."""
    cx, cy, cw, ch = crop
    fx, fy, fw, fh = face
    out_x = max(0.0, cx - fx) + max(0.0, (fx + fw) - (cx + cw))
    out_y = max(0.0, cy - fy) + max(0.0, (fy + fh) - (cy + ch))
    return max(min(1.0, out_x / fw) if fw > 0 else 0.0, min(1.0, out_y / fh) if fh > 0 else 0.0)


def image_checks(image: np.ndarray, name: str, *, black_max_luma: float, blur_min_var: float) -> list[QaCheck]:
    """``not_black`` and ``sharp`` of one picture."""
    luma, sharpness = mean_luma(image), laplacian_variance(image)
    return [
        QaCheck(
            name="not_black",
            output=name,
            passed=luma >= black_max_luma,
            value=round(luma, 2),
            reason=f"mean luma {luma:.1f} ({'under' if luma < black_max_luma else 'at least'} {black_max_luma:g})",
        ),
        QaCheck(
            name="sharp",
            output=name,
            passed=sharpness >= blur_min_var,
            value=round(sharpness, 2),
            reason=f"variance of the Laplacian {sharpness:.1f} "
            f"({'under' if sharpness < blur_min_var else 'at least'} {blur_min_var:g})",
        ),
    ]


def faces_check(crop: Sequence[float], faces: Sequence[Sequence[float]], name: str, tolerance: float) -> QaCheck:
    """``faces_whole``: no face box is cut by the crop's edge by more than ``tolerance`` of its size."""
    cuts = [(list(face), cut_fraction(crop, face)) for face in faces]
    cut = [(face, f) for face, f in cuts if f > tolerance]
    worst = max((f for _, f in cuts), default=0.0)
    if cut:
        reason = "; ".join(f"face {face} cut by {f:.0%} at the crop {list(crop)}" for face, f in cut)
    else:
        reason = f"{len(cuts)} face(s) in the crop, none cut by more than {tolerance:.0%}"
    return QaCheck(name="faces_whole", output=name, passed=not cut, value=round(worst, 3), reason=reason)


def check(qa: QaInput) -> list[QaCheck]:
    """Every published image of ``thumbnails.json``: not black, not blurred, faces whole."""
    settings = qa.cfg.qa
    doc = json.loads(qa.output.read_bytes("thumbnails.json"))
    checks: list[QaCheck] = []
    for variant in doc["variants"]:
        if not variant.get("published"):
            continue
        for entry in variant["aspects"].values():
            name = entry.get("file")
            if not name:
                continue
            image = decode_image(qa.output.read_bytes(name), name)
            checks += image_checks(
                image, name, black_max_luma=settings.black_max_luma, blur_min_var=settings.blur_min_laplacian_var
            )
            if "faces" in entry and "crop" in entry:
                checks.append(faces_check(entry["crop"], entry["faces"], name, settings.face_tolerance))
    return checks


__all__ = ["check", "cut_fraction", "decode_image", "faces_check", "image_checks", "laplacian_variance", "mean_luma"]
