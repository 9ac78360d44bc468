"""Smart cropping to an aspect ratio, in display geometry.

The crop is the largest window of the aspect ratio that fits the picture, slid to where it best frames the
subject. Priorities: faces (kept whole: a face box is never cut; when they cannot all fit, the largest that
fit together are kept and the rest left wholly outside), then salient objects (e.g. detector boxes), then
the one sharp region of a picture that is otherwise blurred, then the saliency map. Among windows that keep the subject, the one that puts it
closest to a rule-of-thirds point (a face's eye line on the upper third) while keeping the most saliency wins.

With a local sharpness map (:func:`genmedia.analysis.colour.sharpness_map`), what is out of focus does not
count: a face, object or salient region much blurrier than the frame's sharpest subject (below
:data:`BLUR_RATIO` of its focus) is not framed on (a face or object too plain to tell, under
:data:`MIN_CONTRAST` of luma variance everywhere in it, is not judged), and saliency only counts where the picture is sharp, so
a shallow-depth-of-field shot is framed on what the camera focused on. When that sharp subject is compact
but cannot fit the window (a wide sharp object and a 9:16 crop), the crop says so (``fits`` False) and the
picture should not be used for that aspect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from genmedia.thumbnails.aspects import Aspect
from genmedia.thumbnails.geometry import Box

Reason = Literal["faces", "objects", "saliency", "focus", "centre"]
POSITIONS = 160
"""Window positions tried along each axis (a coarser step on large pictures)."""
THIRDS_WEIGHT = 1.0
SALIENCY_WEIGHT = 1.0
BLUR_RATIO = 0.3
"""A subject whose focus (Laplacian variance) is below this share of the sharpest subject's is not framed on."""
SHARP_LEVEL = 0.5
"""Cells at least this share of the sharpest (smoothed) cell's focus make up the sharp region."""
COMPACT_SHARE = 0.25
"""A sharp region covering less than this share of the picture is one subject (more: the frame is in focus)."""
UNFIT = 1.5
MIN_CONTRAST = 144.0
"""Luma variance (a standard deviation of 12 levels) a box needs somewhere in it before its focus is judged."""
"""A lone sharp subject this many times the window's width (or height) cannot be framed: the crop is unusable."""


@dataclass(frozen=True)
class Crop:
    """A crop window in display pixels and what it was framed on."""

    box: Box
    reason: Reason
    subject: Box | None
    fits: bool = True
    """False when the frame's only sharp subject is compact but larger than the window: do not use it."""


@dataclass(frozen=True)
class Focus:
    """Where a picture is sharp: a per-cell focus map over a ``width`` x ``height`` picture."""

    cells: np.ndarray
    width: int
    height: int
    contrast: np.ndarray | None = None
    """Per-cell luma variance (same grid); None: every box is judged."""

    def _cells(self, box: Box, grid: np.ndarray) -> np.ndarray:
        """The cells of ``grid`` whose centre lies in ``box`` (else the cell at its centre)."""
        rows, cols = grid.shape
        sx, sy = cols / self.width, rows / self.height
        c0, c1 = (
            int(np.clip(np.ceil(box.x * sx - 0.5), 0, cols - 1)),
            int(np.clip(np.floor(box.right * sx - 0.5), 0, cols - 1)),
        )
        r0, r1 = (
            int(np.clip(np.ceil(box.y * sy - 0.5), 0, rows - 1)),
            int(np.clip(np.floor(box.bottom * sy - 0.5), 0, rows - 1)),
        )
        if c1 < c0 or r1 < r0:
            cx, cy = box.centre
            return grid[int(np.clip(cy * sy, 0, rows - 1)), int(np.clip(cx * sx, 0, cols - 1))][None]
        return grid[r0 : r1 + 1, c0 : c1 + 1]

    def of(self, box: Box) -> float:
        """The focus of ``box``: its sharpest cell. The sharpest, not a typical one: a plain object is sharp
        at its edges only."""
        return float(self._cells(box, self.cells).max())

    def judged(self, box: Box) -> bool:
        """Whether ``box`` has the contrast for its focus to say anything (a plain box is neither sharp nor blurred)."""
        return self.contrast is None or float(self._cells(box, self.contrast).max()) >= MIN_CONTRAST

    def sharp_region(self) -> tuple[Box, float]:
        """The box (picture pixels) of the connected sharp cells around the sharpest one, and their share of the picture."""
        smooth = cv2.blur(self.cells.astype(np.float32), (3, 3))
        mask = (smooth >= SHARP_LEVEL * float(smooth.max())).astype(np.uint8)
        _, labels = cv2.connectedComponents(mask, connectivity=8)
        peak = np.unravel_index(int(np.argmax(smooth)), smooth.shape)
        ys, xs = np.nonzero(labels == labels[peak])
        rows, cols = self.cells.shape
        sx, sy = self.width / cols, self.height / rows
        box = Box(xs.min() * sx, ys.min() * sy, (xs.max() + 1 - xs.min()) * sx, (ys.max() + 1 - ys.min()) * sy)
        return box, len(ys) / float(rows * cols)

    def weights(self, floor: float) -> np.ndarray:
        """Per picture pixel: 1 where the focus is at least ``floor``, else 0.05 (blurred parts barely count)."""
        sharp = cv2.resize(self.cells.astype(np.float32), (self.width, self.height), interpolation=cv2.INTER_NEAREST)
        return np.where(sharp >= floor, 1.0, 0.05).astype(np.float32)


def window_size(width: int, height: int, aspect: Aspect) -> tuple[float, float]:
    """The largest ``aspect`` window inside a ``width`` x ``height`` picture."""
    w = min(float(width), height * aspect.ratio)
    return w, w / aspect.ratio


def _fitting_union(boxes: list[Box], win_w: float, win_h: float) -> tuple[Box | None, list[Box]]:
    """Union of the largest boxes that fit in the window together (greedy by area), and the boxes used."""
    union, used = None, []
    for b in sorted(boxes, key=lambda b: b.area, reverse=True):
        cand = b if union is None else union.union(b)
        if cand.w <= win_w + 0.5 and cand.h <= win_h + 0.5:
            union, used = cand, used + [b]
    return union, used


def _saliency_subject(sal: np.ndarray, width: int, height: int) -> Box | None:
    """The bounding box of the most salient region (top 5% of the map), in picture pixels."""
    if sal.max() <= sal.min():
        return None
    level = np.quantile(sal, 0.95)
    ys, xs = np.nonzero(sal >= level)
    sx, sy = width / sal.shape[1], height / sal.shape[0]
    return Box(xs.min() * sx, ys.min() * sy, (xs.max() - xs.min() + 1) * sx, (ys.max() - ys.min() + 1) * sy)


def _axis_positions(lo: float, hi: float) -> np.ndarray:
    """Window offsets from ``lo`` to ``hi`` (inclusive)."""
    if hi <= lo:
        return np.array([max(0.0, lo)])
    return np.unique(np.concatenate([np.linspace(lo, hi, min(POSITIONS, int(hi - lo) + 1)), [lo, hi]]))


def _thirds_cost(pos: np.ndarray, size: float, target: float, lines: tuple[float, ...]) -> np.ndarray:
    """Distance (in window fractions) from ``target`` to the nearest of ``lines`` for windows at ``pos``."""
    rel = (target - pos) / size
    return np.min(np.abs(rel[:, None] - np.asarray(lines)[None, :]), axis=1)


def smart_crop(
    width: int,
    height: int,
    aspect: Aspect,
    *,
    faces: list[Box] | None = None,
    objects: list[Box] | None = None,
    saliency: np.ndarray | None = None,
    sharpness: np.ndarray | None = None,
    contrast: np.ndarray | None = None,
) -> Crop:
    """The ``aspect`` crop of a ``width`` x ``height`` display picture that best frames its subject.

    ``faces`` and ``objects`` are boxes in display pixels; ``saliency`` is a map of any resolution
    covering the picture (higher = more salient); ``sharpness`` a per-cell focus map covering it and
    ``contrast`` the per-cell luma variance on the same grid (see the module docstring).
    """
    win_w, win_h = window_size(width, height, aspect)
    faces = [b for b in faces or [] if b.area > 0]
    objects = [b for b in objects or [] if b.area > 0]
    sal = (
        None
        if saliency is None
        else cv2.resize(saliency.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    )
    region, compact = None, False
    if sharpness is not None and float(sharpness.max()) > 0:
        focus = Focus(sharpness, width, height, contrast)
        region, share = focus.sharp_region()
        compact = share < COMPACT_SHARE
        floor = BLUR_RATIO * max(focus.of(b) for b in [region, *faces, *objects])
        faces = [b for b in faces if focus.of(b) >= floor or not focus.judged(b)]
        objects = [b for b in objects if focus.of(b) >= floor or not focus.judged(b)]
        if sal is not None:
            sal = sal * focus.weights(floor)

    reason: Reason = "centre"
    subject, used = _fitting_union(faces, win_w, win_h)
    if subject is not None:
        reason = "faces"
    elif faces:  # a single face larger than the window: frame its centre
        subject, reason = max(faces, key=lambda b: b.area), "faces"
    else:
        subject, used = _fitting_union(objects, win_w, win_h)
        if subject is not None:
            reason = "objects"
        elif region is not None and compact:  # one sharp subject on a blurred picture
            subject, reason = region, "focus"
        elif sal is not None and (subject := _saliency_subject(sal, width, height)) is not None:
            reason = "saliency"
    if subject is None:
        return Crop(Box((width - win_w) / 2, (height - win_h) / 2, win_w, win_h), "centre", None)
    fits = not (reason == "focus" and (region.w > UNFIT * win_w or region.h > UNFIT * win_h))

    xs = _axis_positions(0.0, width - win_w)
    ys = _axis_positions(0.0, height - win_h)
    cost = np.zeros((len(ys), len(xs)))
    # Keep the subject whole where it fits; otherwise stay as close to its centre as possible.
    cx, cy = subject.centre
    if subject.w <= win_w + 0.5:
        cost += 1e6 * ((xs > subject.x + 0.5) | (xs + win_w < subject.right - 0.5))[None, :]
    else:
        cost += 1e3 * np.abs(xs + win_w / 2 - cx)[None, :] / width
    if subject.h <= win_h + 0.5:
        cost += 1e6 * ((ys > subject.y + 0.5) | (ys + win_h < subject.bottom - 0.5))[:, None]
    else:
        cost += 1e3 * np.abs(ys + win_h / 2 - cy)[:, None] / height
    # Never cut through a face: each one is wholly inside or wholly outside the window.
    for f in faces:
        cut_x = (xs < f.right - 0.5) & (xs + win_w > f.x + 0.5) & ((xs > f.x + 0.5) | (xs + win_w < f.right - 0.5))
        cut_y = (ys < f.bottom - 0.5) & (ys + win_h > f.y + 0.5) & ((ys > f.y + 0.5) | (ys + win_h < f.bottom - 0.5))
        overlap_x = (xs < f.right - 0.5) & (xs + win_w > f.x + 0.5)
        overlap_y = (ys < f.bottom - 0.5) & (ys + win_h > f.y + 0.5)
        cut = (cut_x[None, :] & overlap_y[:, None]) | (cut_y[:, None] & overlap_x[None, :])
        cost += 1e5 * cut
    # Rule of thirds: the subject's centre (a face's eye line: 40% down the box) near a thirds line.
    eye_y = subject.y + 0.4 * subject.h if reason == "faces" else cy
    cost += THIRDS_WEIGHT * _thirds_cost(xs, win_w, cx, (1 / 3, 1 / 2, 2 / 3))[None, :]
    cost += (
        THIRDS_WEIGHT
        * _thirds_cost(ys, win_h, eye_y, (1 / 3, 1 / 2, 2 / 3) if reason != "faces" else (1 / 3,))[:, None]
    )
    if sal is not None and sal.sum() > 0:
        integral = cv2.integral(sal)
        xi, yi = np.round(xs).astype(int), np.round(ys).astype(int)
        w, h = int(round(win_w)), int(round(win_h))
        x2, y2 = np.minimum(xi + w, width), np.minimum(yi + h, height)
        mass = (integral[y2][:, x2] - integral[y2][:, xi] - integral[yi][:, x2] + integral[yi][:, xi]) / integral[
            -1, -1
        ]
        cost -= SALIENCY_WEIGHT * mass
    iy, ix = np.unravel_index(int(np.argmin(cost)), cost.shape)
    return Crop(Box(float(xs[ix]), float(ys[iy]), win_w, win_h), reason, subject, fits)


def crop_pixels(image: np.ndarray, crop: Crop) -> np.ndarray:
    """The pixels of ``crop`` in ``image`` (a view, its box rounded to whole pixels)."""
    b = crop.box
    x0, y0 = int(round(b.x)), int(round(b.y))
    x1, y1 = min(image.shape[1], int(round(b.right))), min(image.shape[0], int(round(b.bottom)))
    return image[y0:y1, x0:x1]


def resample(part: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``part`` resized to ``size`` (width, height): area filtering down, Lanczos-4 up."""
    shrinking = size[0] < part.shape[1]
    return cv2.resize(part, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4)
