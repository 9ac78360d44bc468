"""Where the eye goes: spectral-residual saliency (Hou and Zhang, 2007) for cropping and composition."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SIZE = 64


@dataclass(frozen=True)
class Salient:
    """The salient region of a picture in relative coordinates (0..1): centre and a bounding box."""

    cx: float
    cy: float
    box: tuple[float, float, float, float]
    """``(x, y, w, h)`` of the region holding the most salient pixels."""


def saliency_map(gray: np.ndarray) -> np.ndarray:
    """A saliency map (float32, 0..1) the size of ``gray``: the spectral residual of its log amplitude."""
    h, w = gray.shape[:2]
    small = cv2.resize(gray, (SIZE, SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
    spectrum = np.fft.fft2(small)
    log_amp = np.log(np.abs(spectrum) + 1e-6)
    residual = log_amp - cv2.blur(log_amp, (3, 3))
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = cv2.GaussianBlur(sal.astype(np.float32), (0, 0), 2.5)
    sal = cv2.resize(sal, (w, h), interpolation=cv2.INTER_LINEAR)
    return sal / max(float(sal.max()), 1e-9)


def salient_region(sal: np.ndarray, share: float = 0.5) -> Salient:
    """The centre of mass of ``sal`` and the box around the pixels that hold ``share`` of its mass."""
    h, w = sal.shape
    total = float(sal.sum())
    if total <= 0:
        return Salient(0.5, 0.5, (0.0, 0.0, 1.0, 1.0))
    ys, xs = np.mgrid[0:h, 0:w]
    cx, cy = float((sal * xs).sum() / total), float((sal * ys).sum() / total)
    order = np.sort(sal.ravel())[::-1]
    cut = order[min(len(order) - 1, int(np.searchsorted(np.cumsum(order), share * total)))]
    ys_in, xs_in = np.nonzero(sal >= cut)
    x0, x1, y0, y1 = xs_in.min(), xs_in.max() + 1, ys_in.min(), ys_in.max() + 1
    return Salient(cx / w, cy / h, (x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h))
