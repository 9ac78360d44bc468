"""Frame-rate conversion: which output frame comes from which input frames, and flow-based warping.

Output frame ``k`` is presented at exactly ``t0 + k / fps_out`` (``t0`` = the first input frame's time);
a video of duration ``D`` gives ``ceil(D * fps_out)`` output frames. Each output frame either copies
an input frame (it falls on one, it lies past the last frame, or the next frame starts a new shot:
never blend across a cut) or is synthesised between two *anchor* frames at ``alpha`` in (0, 1).
A single duplicated frame inside motion (a stutter: a dropped frame repeated by the source) is not an
anchor, so motion is interpolated through it instead of pausing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import cv2
import numpy as np

DUPLICATE_DIFF = 0.35
"""Mean absolute difference (8-bit, small gray) under which a frame repeats its predecessor."""
MOTION_DIFF = 1.5
"""... and over which its neighbours move, making the repeat a stutter rather than a still."""
_EPS = 1e-6


@dataclass(frozen=True)
class Step:
    """How output frame ``out_index`` (at ``time``) is made: copy ``src``, or blend ``src``..``dst`` at ``alpha``."""

    out_index: int
    time: float
    src: int
    dst: int
    alpha: float
    kind: Literal["copy", "blend", "cut-hold"]


def output_count(duration: float, fps_out: float) -> int:
    """Output frames for a video lasting ``duration`` seconds at ``fps_out``."""
    return max(1, math.ceil(duration * fps_out - _EPS))


def first_output_at_or_after(t: float, t0: float, fps_out: float) -> int:
    """The first output frame index presented at or after time ``t``."""
    return max(0, math.ceil((t - t0) * fps_out - _EPS))


def stutters(diff_prev: np.ndarray, shots: np.ndarray) -> np.ndarray:
    """Frames that repeat their predecessor while both neighbours move (within one shot)."""
    d = np.asarray(diff_prev, dtype=np.float64)
    out = np.zeros(len(d), dtype=bool)
    for i in range(1, len(d) - 1):
        same_shot = shots[i - 1] == shots[i] == shots[i + 1]
        out[i] = bool(same_shot and d[i] < DUPLICATE_DIFF and d[i - 1] > MOTION_DIFF and d[i + 1] > MOTION_DIFF)
    return out


def plan_window(
    times: np.ndarray,
    shots: np.ndarray,
    skip: np.ndarray,
    core: tuple[int, int],
    end_time: float,
    t0: float,
    fps_out: float,
) -> list[Step]:
    """Steps for the output frames presented in ``[times[core[0]], end_time)``.

    ``times``/``shots``/``skip`` describe the window's frames (window-local indices); ``core`` is the
    window's own frames ``[cs, ce)``; frames from ``ce`` on are look-ahead (the next window's first
    frame, or none at the end of the video, where ``end_time`` is the video's end). Only frames strictly
    inside the core may be skipped as stutters, so neighbouring windows agree on their shared frames.
    """
    cs, ce = core
    anchors = [i for i in range(cs, len(times)) if not (cs < i < ce and skip[i])]
    steps = []
    k = first_output_at_or_after(float(times[cs]), t0, fps_out)
    stop = first_output_at_or_after(end_time, t0, fps_out)
    pos = 0
    while k < stop:
        tau = t0 + k / fps_out
        while pos + 1 < len(anchors) and times[anchors[pos + 1]] <= tau + _EPS:
            pos += 1
        i = anchors[pos]
        j = anchors[pos + 1] if pos + 1 < len(anchors) else None
        alpha = 0.0 if j is None else (tau - float(times[i])) / float(times[j] - times[i])
        if j is None or alpha < _EPS:
            steps.append(Step(k, tau, i, i, 0.0, "copy"))
        elif shots[i] != shots[j]:
            steps.append(Step(k, tau, i, i, 0.0, "cut-hold"))
        else:
            steps.append(Step(k, tau, i, j, float(alpha), "blend"))
        k += 1
    return steps


def intermediate_flows(flow01: np.ndarray, flow10: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Flows from time ``t`` back to frame 0 and on to frame 1 (linear-motion approximation, Jiang et al. 2018)."""
    ft0 = -(1 - t) * t * flow01 + t * t * flow10
    ft1 = (1 - t) * (1 - t) * flow01 - t * (1 - t) * flow10
    return ft0, ft1


@lru_cache(maxsize=8)
def _grid(h: int, w: int) -> np.ndarray:
    """Pixel coordinates (H x W x 2, float32), the identity map for :func:`cv2.remap`."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return np.dstack([gx, gy])


def _warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warp: output(x) = image(x + flow(x)), bilinear, edges replicated."""
    h, w = flow.shape[:2]
    return cv2.remap(image, _grid(h, w) + flow, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def warp_error(f0: np.ndarray, f1: np.ndarray, flow01: np.ndarray) -> float:
    """Mean absolute error (8-bit units) of frame 1 warped onto frame 0: how well the flow explains the pair."""
    scale = 255.0 / float(np.iinfo(f0.dtype).max)
    return float(np.abs(_warp(f1, flow01).astype(np.float32) - f0.astype(np.float32)).mean() * scale)


@dataclass(frozen=True)
class PairFlow:
    """Bidirectional flow of a frame pair on a small picture, with each frame's visibility in the other."""

    flow01: np.ndarray
    flow10: np.ndarray
    visible0: np.ndarray
    visible1: np.ndarray


def pair_flow(flow01: np.ndarray, flow10: np.ndarray) -> PairFlow:
    """Visibility from forward-backward consistency: small where a round trip does not come back."""

    def visible(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
        err = np.linalg.norm(forward + _warp(backward, forward), axis=-1)
        return 1.0 / (1.0 + err * err)

    return PairFlow(flow01, flow10, visible(flow01, flow10), visible(flow10, flow01))


def synthesise(f0: np.ndarray, f1: np.ndarray, pair: PairFlow, t: float) -> np.ndarray:
    """The frame at ``t`` in (0, 1) between full-size ``f0`` and ``f1`` from their (small) :class:`PairFlow`.

    Intermediate flows and blend weights are worked out on the small picture and scaled up; both
    frames are warped to time ``t`` at full size and blended, each weighted by temporal closeness and
    by its visibility (pixels occluded in one frame come from the other).
    """
    ft0, ft1 = intermediate_flows(pair.flow01, pair.flow10, t)
    w0 = _warp(pair.visible0, ft0) * (1 - t)
    w1 = _warp(pair.visible1, ft1) * t
    h, w = f0.shape[:2]
    ft0, ft1 = resize_flow(ft0, w, h), resize_flow(ft1, w, h)
    weight0 = cv2.resize(w0 / np.maximum(w0 + w1, 1e-6), (w, h), interpolation=cv2.INTER_LINEAR)
    g0, g1 = _warp(f0, ft0), _warp(f1, ft1)
    if f0.dtype == np.uint8:  # OpenCV's per-pixel weighted blend, in integers
        return cv2.blendLinear(g0, g1, weight0, 1.0 - weight0)
    out = g1.astype(np.float32) + (g0.astype(np.float32) - g1) * weight0[..., None]
    return np.clip(np.rint(out), 0, float(np.iinfo(f0.dtype).max)).astype(f0.dtype)


def resize_flow(flow: np.ndarray, width: int, height: int) -> np.ndarray:
    """A flow field computed on a small picture, scaled to ``width`` x ``height`` (vectors scaled too)."""
    h, w = flow.shape[:2]
    if (w, h) == (width, height):
        return flow
    big = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    big[..., 0] *= width / w
    big[..., 1] *= height / h
    return big
