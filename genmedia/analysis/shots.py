"""Shot boundaries from tiny per-frame descriptors: hard cuts, fades through black and cross-dissolves.

Each frame is reduced to a 16x9 grid of block means of its luma (:func:`frame_descriptor`), so the
detector runs on a few hundred bytes per frame whatever the video size, and segment-parallel decoding
only has to hand these descriptors to one place to be stitched.

* **Cuts**: the change between consecutive frames is ``1 - correlation`` of their grids. Correlation
  ignores brightness and contrast (fades, flashes, exposure changes) and moves little under pans and
  moving objects, while unrelated pictures score about 1. It is undefined on flat pictures (solid colours,
  title cards, white) and blind to a change of colour behind the same small detail (a counter on a grey,
  then a red background), so the change is the larger of it and a colour jump: the distance between the
  frames' median luma and mean chroma, :data:`COLOUR_SCALE` levels counting as a full change. Between
  consecutive frames only the part of the jump that is not a ramp counts (the step minus the mean of the
  steps before and after it), so fades and dissolves, which change colour a little every frame, stay
  theirs. A frame is
  a cut when its change stands out from its neighbourhood (an adaptive threshold: a multiple of the local
  median plus a floor), and the picture does not come back within a few frames (a flash or a brief
  occlusion is not a cut).
* **Fades**: runs of black frames between two pictures; the boundary is the middle of the run.
* **Dissolves**: the grid of a frame is the average of the grids a few frames before and after (a
  linear blend) while those two are unrelated; the boundary is the middle of the blend.

Then boundaries closer than the minimum shot length are thinned, strongest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

GRID = (16, 9)
"""Descriptor size (columns, rows): block means of the luma plane."""

Transition = Literal["start", "cut", "fade", "dissolve"]
COLOUR_SCALE = 48.0
"""Colour distance (sum of the absolute differences of median luma and mean U and V, 8-bit levels) that
counts as a full change (1): grey to red is about 200, an exposure drift a few levels per frame."""


def frame_descriptor(gray: np.ndarray) -> np.ndarray:
    """The 9x16 uint8 grid of block means of a luma picture."""
    return cv2.resize(gray, GRID, interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class ShotParams:
    """Detector settings; times in seconds so they hold at any frame rate."""

    min_shot_seconds: float = 0.5
    cut_floor: float = 0.35
    """A cut's change (1 - correlation, 0..2) must exceed this..."""
    cut_ratio: float = 3.0
    """...and this multiple of the median change around it (plus :attr:`cut_margin`)."""
    cut_margin: float = 0.1
    window_seconds: float = 0.5
    """Half-width of the neighbourhood the adaptive threshold looks at."""
    revert_seconds: float = 0.25
    """A picture that comes back within this long after a jump makes it a flash, not a cut."""
    black_level: float = 32.0
    """Frames with mean luma below this (and little texture) are black."""
    fades: bool = True
    dissolves: bool = True
    dissolve_seconds: tuple[float, ...] = (0.25, 0.6)
    """Half-widths of the windows that look for blends (short and long dissolves)."""


@dataclass(frozen=True)
class Boundary:
    """The first frame (position in the analysed sequence) of a new shot, how it began and how sure."""

    position: int
    transition: Transition
    strength: float


@dataclass(frozen=True)
class Shot:
    """Frames ``[start_frame, end_frame)`` (0-based indices of the video) and the times they span."""

    index: int
    start_frame: int
    end_frame: int
    start_time: float
    end_time: float
    transition: Transition

    def to_dict(self) -> dict[str, object]:
        """The JSON form used in ``shots.json``."""
        return {
            "index": self.index,
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "start_time": round(self.start_time, 6),
            "end_time": round(self.end_time, 6),
            "transition": self.transition,
        }


def colour_vectors(grids: np.ndarray, chroma: np.ndarray | None = None) -> np.ndarray:
    """Per frame: the median of its luma grid and its mean U and V (N x 3; chroma 0 when not given)."""
    n = len(grids)
    uv = np.zeros((n, 2), np.float32) if chroma is None else np.asarray(chroma, np.float32).reshape(n, 2)
    return np.column_stack([np.median(grids.reshape(n, -1), axis=1).astype(np.float32), uv])


def _standardised(grids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grids as zero-mean, unit-variance vectors, and which frames are flat (no structure to correlate)."""
    g = grids.reshape(len(grids), -1).astype(np.float32)
    g -= g.mean(axis=1, keepdims=True)
    std = g.std(axis=1)
    flat = std < 2.0
    return g / np.maximum(std, 1e-3)[:, None], flat


def _change(z: np.ndarray, flat: np.ndarray, colour: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The change between frames ``a`` and ``b``: ``1 - correlation`` (0 when either is flat) or their colour
    jump, whichever is larger (0..2)."""
    c = 1.0 - np.einsum("ij,ij->i", z[a], z[b]) / z.shape[1]
    jump = np.abs(colour[a] - colour[b]).sum(axis=1) / COLOUR_SCALE
    return np.maximum(np.where(flat[a] | flat[b], 0.0, c), np.minimum(jump, 2.0))


def cut_scores(grids: np.ndarray, chroma: np.ndarray | None = None) -> np.ndarray:
    """Per frame, the change from the previous frame (0 for the first): ``1 - correlation`` (0 when either is
    flat) or the colour step less the ramp it is part of (see the module docstring), whichever is larger."""
    z, flat = _standardised(grids)
    colour = colour_vectors(grids, chroma)
    out = np.zeros(len(grids), np.float32)
    if len(grids) > 1:
        i = np.arange(1, len(grids))
        corr = 1.0 - np.einsum("ij,ij->i", z[i - 1], z[i]) / z.shape[1]
        step = np.diff(colour, axis=0, prepend=colour[:1])
        around = 0.5 * (np.roll(step, 1, axis=0) + np.roll(step, -1, axis=0))
        around[0], around[-1] = step[1] / 2, step[-2] / 2
        jump = np.abs(step - around).sum(axis=1)[1:] / COLOUR_SCALE
        out[1:] = np.maximum(np.where(flat[i - 1] | flat[i], 0.0, corr), np.minimum(jump, 2.0))
    return out


def _local_median(x: np.ndarray, half: int) -> np.ndarray:
    """Median of ``x`` over ``[i - half, i + half]`` without ``i - 1 .. i + 1`` (the jump itself)."""
    n = len(x)
    out = np.empty(n, np.float32)
    for i in range(n):
        lo, hi = max(0, i - half), min(n, i + half + 1)
        around = np.concatenate([x[lo : max(lo, i - 1)], x[min(hi, i + 2) : hi]])
        out[i] = np.median(around) if around.size else 0.0
    return out


def _cuts(
    z: np.ndarray, flat: np.ndarray, colour: np.ndarray, scores: np.ndarray, fps: float, p: ShotParams
) -> list[Boundary]:
    n = len(scores)
    half = max(2, round(p.window_seconds * fps))
    revert = max(2, round(p.revert_seconds * fps))
    candidates = np.flatnonzero(scores > p.cut_floor)
    if candidates.size == 0:
        return []
    baseline = _local_median(scores, half)
    out = []
    for i in candidates:
        if scores[i] <= p.cut_ratio * baseline[i] + p.cut_margin:
            continue
        before = np.arange(max(0, i - revert), i)
        after = np.arange(i, min(n, i + revert + 1))
        pa, pb = np.repeat(before, len(after)), np.tile(after, len(before))
        keep = (pb - pa) >= 2
        if keep.any() and _change(z, flat, colour, pa[keep], pb[keep]).min() < 0.5 * scores[i]:
            continue  # the picture comes back: a flash or a brief occlusion
        out.append(Boundary(int(i), "cut", float(scores[i])))
    return out


def black_frames(means: np.ndarray, stds: np.ndarray, level: float) -> np.ndarray:
    """Which frames are black: dark on average and with little texture."""
    return (means < level) & (stds < max(4.0, level / 3))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def _fades(black: np.ndarray) -> list[Boundary]:
    n = len(black)
    return [Boundary((a + b) // 2, "fade", 1.0 + (b - a) / n) for a, b in _runs(black) if a > 0 and b < n]


def _dissolves(
    grids: np.ndarray,
    z: np.ndarray,
    flat: np.ndarray,
    colour: np.ndarray,
    scores: np.ndarray,
    fps: float,
    p: ShotParams,
) -> list[Boundary]:
    """Frames that are linear blends of unrelated pictures ``k`` frames before and after them."""
    g = grids.reshape(len(grids), -1).astype(np.float32)
    n = len(g)
    found: list[Boundary] = []
    for seconds in p.dissolve_seconds:
        k = max(2, round(seconds * fps))
        if n <= 2 * k:
            continue
        mid = np.arange(k, n - k)
        a, b = mid - k, mid + k
        apart = _change(z, flat, colour, a, b)
        span = np.abs(g[a] - g[b]).mean(axis=1)
        residual = np.abs(g[mid] - 0.5 * (g[a] + g[b])).mean(axis=1) / np.maximum(span, 1e-3)
        # Inside a blend every step is small: no cut within the window.
        steps = np.lib.stride_tricks.sliding_window_view(scores, 2 * k)[1 : n - 2 * k + 1].max(axis=1)
        ok = (apart > 0.75) & (residual < 0.2) & (span > 8.0) & (steps < p.cut_floor) & ~flat[a] & ~flat[b]
        for s, e in _runs(ok):
            best = s + int(np.argmin(residual[s:e]))
            found.append(Boundary(int(mid[best]), "dissolve", float(apart[best])))
    return found


def _thin(boundaries: list[Boundary], n: int, min_len: int) -> list[Boundary]:
    """Keep the strongest boundaries such that no shot is shorter than ``min_len`` frames."""
    kept: list[Boundary] = []
    for b in sorted(boundaries, key=lambda b: (-b.strength, b.position)):
        if b.position < min_len or n - b.position < min_len:
            continue
        if all(abs(b.position - k.position) >= min_len for k in kept):
            kept.append(b)
    return sorted(kept, key=lambda b: b.position)


def detect_boundaries(
    grids: np.ndarray,
    means: np.ndarray,
    stds: np.ndarray,
    fps: float,
    params: ShotParams | None = None,
    chroma: np.ndarray | None = None,
) -> list[Boundary]:
    """Shot boundaries of a sequence of frames given their grids (N x 9 x 16), mean and std of luma and,
    when known, mean chroma (N x 2, U and V: tells apart colours of equal luma).

    Positions index the given sequence (frames missing from it, e.g. undecodable ones, are simply absent).
    """
    p = params or ShotParams()
    n = len(grids)
    if n < 2:
        return []
    z, flat = _standardised(grids)
    colour = colour_vectors(grids, chroma)
    black = black_frames(np.asarray(means, np.float32), np.asarray(stds, np.float32), p.black_level)
    flat |= black
    scores = cut_scores(grids, chroma)
    scores[black] = 0.0
    found = _cuts(z, flat, colour, scores, fps, p)
    if p.fades:
        found += _fades(black)
    if p.dissolves:
        found += _dissolves(grids, z, flat, colour, scores, fps, p)
    # Transitions into and out of black are the fade's, not cuts of their own.
    fades = [b.position for b in found if b.transition == "fade"]
    margin = max(2, round(p.revert_seconds * fps))
    runs = _runs(black)
    found = [
        b
        for b in found
        if b.transition == "fade" or not any(s - margin <= b.position <= e + margin for s, e in runs if fades)
    ]
    return _thin(found, n, max(1, round(p.min_shot_seconds * fps)))


def shots_from_boundaries(
    boundaries: list[Boundary], frame_index: np.ndarray, times: np.ndarray, frame_count: int, start: float, end: float
) -> list[Shot]:
    """Turn boundaries (positions in the analysed sequence) into shots covering frames ``[0, frame_count)``,
    times ``[start, end)`` (the stream's first timestamp and end, seconds)."""
    starts = [0] + [int(frame_index[b.position]) for b in boundaries]
    kinds: list[Transition] = ["start"] + [b.transition for b in boundaries]
    start_times = [start] + [float(times[b.position]) for b in boundaries]
    ends = starts[1:] + [frame_count]
    end_times = start_times[1:] + [end]
    return [
        Shot(index=k, start_frame=s, end_frame=e, start_time=ts, end_time=te, transition=kind)
        for k, (s, e, ts, te, kind) in enumerate(zip(starts, ends, start_times, end_times, kinds, strict=True))
    ]
