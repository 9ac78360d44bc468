"""Cut points aligned to the sound: beats of a music track, beats or onsets of the source's own audio,
and never inside a spoken word when word times are known.

All functions are pure and work in seconds; the planner turns the results into frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

WORD_MARGIN_S = 0.03
"""A cut closer than this to the inside of a word counts as cutting the word."""


def inside_word(t: float, words: Sequence[tuple[float, float]]) -> bool:
    """Whether time ``t`` falls inside a spoken word ``(start, end)`` (margins excluded)."""
    return any(start + WORD_MARGIN_S < t < end - WORD_MARGIN_S for start, end in words)


def beat_span(
    best_start: float,
    length: float,
    beats: Sequence[float],
    lo: float,
    hi: float,
    *,
    min_length: float,
    words: Sequence[tuple[float, float]] = (),
) -> tuple[float, float] | None:
    """A clip ``(start, end)`` inside ``[lo, hi]`` that starts and ends on beats (outside words), as close
    as possible to ``length`` long and then to ``best_start``; None if no two beats fit."""
    grid = [float(b) for b in sorted(beats) if lo - 1e-9 <= b <= hi + 1e-9 and not inside_word(float(b), words)]
    best: tuple[float, float] | None = None
    best_cost = float("inf")
    for i, start in enumerate(grid):
        for end in grid[i + 1 :]:
            if end - start < min_length - 1e-9:
                continue
            cost = abs(end - start - length) + 0.25 * abs(start - best_start)
            if cost < best_cost:
                best, best_cost = (start, end), cost
    return best


def place_clip(
    best_start: float,
    length: float,
    lo: float,
    hi: float,
    *,
    anchors: Sequence[float] = (),
    anchor_reach: float = 0.5,
    words: Sequence[tuple[float, float]] = (),
) -> tuple[float, bool]:
    """Choose a clip's start in ``[lo, hi - length]`` near ``best_start`` (``lo`` if the clip overruns ``hi``
    by under 50 ms, e.g. after rounding to frames; ValueError if by more).

    With ``anchors`` (beats or onsets), start on the anchor nearest ``best_start`` within ``anchor_reach``
    seconds whose start and end both avoid words; else the nearest start (stepping by 10 ms) whose start
    and end avoid words; else ``best_start`` clamped. Returns (start, whether it sits on an anchor).
    """
    latest = hi - length
    if latest < lo - 0.05:
        raise ValueError(f"a {length:.3f} s clip does not fit in [{lo:.3f}, {hi:.3f}]")
    latest = max(latest, lo)  # frame rounding may make a clip a hair longer than its range

    def clean(start: float) -> bool:
        return not inside_word(start, words) and not inside_word(start + length, words)

    grid = np.asarray(anchors, dtype=np.float64)
    near = grid[(grid >= lo - 1e-9) & (grid <= latest + 1e-9) & (np.abs(grid - best_start) <= anchor_reach)]
    for anchor in sorted(near, key=lambda a: abs(a - best_start)):
        if clean(float(anchor)):
            return float(anchor), True
    base = min(max(best_start, lo), latest)
    for step in range(0, int((latest - lo) / 0.01) + 2):
        for start in (base - 0.01 * step, base + 0.01 * step):
            if lo - 1e-9 <= start <= latest + 1e-9 and clean(start):
                return start, False
    return base, False
