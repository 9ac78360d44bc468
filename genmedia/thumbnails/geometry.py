"""Display geometry: the picture as a player shows it (sample aspect ratio applied, then rotation).

Frames decode in coded geometry; thumbnails are cropped in display geometry so nothing is squashed.
Rotation follows the probe: degrees counter-clockwise, as PyAV's ``VideoFrame.rotation`` reports, so the
display picture is ``np.rot90(coded, rotation // 90)`` after scaling for the sample aspect ratio.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from genmedia.media.probe import MediaInfo


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels: left, top, width, height."""

    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    @property
    def area(self) -> float:
        return max(0.0, self.w) * max(0.0, self.h)

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    def union(self, other: Box) -> Box:
        """The smallest box holding both."""
        x, y = min(self.x, other.x), min(self.y, other.y)
        return Box(x, y, max(self.right, other.right) - x, max(self.bottom, other.bottom) - y)

    def intersection_area(self, other: Box) -> float:
        """Area shared with ``other``."""
        w = min(self.right, other.right) - max(self.x, other.x)
        h = min(self.bottom, other.bottom) - max(self.y, other.y)
        return max(0.0, w) * max(0.0, h)

    def contains(self, other: Box, tol: float = 0.5) -> bool:
        """Whether ``other`` lies inside this box (within ``tol`` pixels)."""
        return (
            other.x >= self.x - tol
            and other.y >= self.y - tol
            and other.right <= self.right + tol
            and other.bottom <= self.bottom + tol
        )

    def scaled(self, sx: float, sy: float) -> Box:
        """This box with x scaled by ``sx`` and y by ``sy``."""
        return Box(self.x * sx, self.y * sy, self.w * sx, self.h * sy)

    def as_list(self) -> list[int]:
        """[x, y, w, h] rounded to whole pixels."""
        return [round(self.x), round(self.y), round(self.w), round(self.h)]


@dataclass(frozen=True)
class Geometry:
    """Coded size, sample aspect ratio and rotation of a video, and the display size they give."""

    coded_w: int
    coded_h: int
    sar: Fraction = Fraction(1)
    rotation: int = 0

    @classmethod
    def of(cls, info: MediaInfo) -> Geometry:
        """The geometry of a probed video."""
        return cls(info.width, info.height, Fraction(info.sample_aspect_ratio.replace(":", "/")), info.rotation % 360)

    @property
    def scaled_size(self) -> tuple[int, int]:
        """Width and height after applying the sample aspect ratio (before rotation); never shrinks."""
        w, h = self.coded_w, self.coded_h
        if self.sar > 1:
            w = round(w * self.sar)
        elif self.sar < 1:
            h = round(h / self.sar)
        return w, h

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as shown."""
        w, h = self.scaled_size
        return (h, w) if self.rotation in (90, 270) else (w, h)

    def to_display(self, frame: np.ndarray) -> np.ndarray:
        """A decoded (coded-geometry) frame as shown: scaled for the SAR, then rotated."""
        w, h = self.scaled_size
        if (w, h) != (frame.shape[1], frame.shape[0]):
            frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_LANCZOS4)
        return np.ascontiguousarray(np.rot90(frame, self.rotation // 90)) if self.rotation else frame

    def box_to_display(self, box: Box, frame_w: float | None = None, frame_h: float | None = None) -> Box:
        """A box measured on a coded-geometry picture of ``frame_w`` x ``frame_h`` (default: the coded
        size, e.g. smaller for an analysis picture) in display pixels."""
        fw, fh = frame_w or self.coded_w, frame_h or self.coded_h
        sw, sh = self.scaled_size
        b = box.scaled(sw / fw, sh / fh)
        turns = (self.rotation // 90) % 4
        for _ in range(turns):  # one counter-clockwise quarter turn of a (sw x sh) picture: (x, y) -> (y, sw - x)
            b = Box(b.y, sw - b.right, b.h, b.w)
            sw, sh = sh, sw
        return b
