"""The pacing plan: how long each clip runs and how each one begins.

A trailer opens slowly, accelerates through the middle and ends on a title card. Clip lengths follow a
geometric series (each clip ``decay`` times the previous, never under ``shortest``) scaled to fill the
time; transitions are a dip from black into the first clip, cross-fades through the opening, the
style's transition through the middle (hard cuts for action, cross-fades for calm), a dip through black
at the act break of long trailers, and a dip into the end card.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genmedia.trailer.edl import Transition

Style = Literal["action", "calm"]

ACT_BREAK_MIN_S = 20.0
"""Trailers at least this long get a dip through black near the middle (an act break)."""


@dataclass(frozen=True)
class PacingStyle:
    """The rhythm of one style."""

    first: float
    decay: float
    shortest: float
    middle: Transition
    crossfade_s: float
    dip_s: float
    opening_fraction: float = 0.25


STYLES: dict[str, PacingStyle] = {
    "action": PacingStyle(first=2.4, decay=0.82, shortest=1.0, middle="cut", crossfade_s=0.4, dip_s=0.5),
    "calm": PacingStyle(first=3.5, decay=0.93, shortest=1.8, middle="crossfade", crossfade_s=0.8, dip_s=0.8),
}


def clip_lengths(total: float, style: Style, n: int | None = None) -> list[float]:
    """Clip lengths (s) filling ``total`` seconds: a decaying series scaled to fit.

    With ``n`` the series has exactly ``n`` clips; without it, the count whose scale is closest to 1.
    """
    if total <= 0:
        raise ValueError(f"clip time must be positive, got {total}")
    pace = STYLES[style]
    series = [pace.first]
    while len(series) < (n or 1) or (n is None and sum(series) < total):
        series.append(max(pace.shortest, series[-1] * pace.decay))
    if n is None and len(series) > 1:
        shorter = series[:-1]
        if abs(total / sum(shorter) - 1) < abs(total / sum(series) - 1):
            series = shorter
    scale = total / sum(series)
    return [x * scale for x in series]


def transitions(starts: list[float], total: float, style: Style) -> list[Transition]:
    """The transition into each clip, given the clips' start times (s) in a trailer of ``total`` seconds."""
    pace = STYLES[style]
    out: list[Transition] = []
    for k, start in enumerate(starts):
        if k == 0:
            out.append("dip")
        elif start < pace.opening_fraction * total:
            out.append("crossfade")
        else:
            out.append(pace.middle)
    if total >= ACT_BREAK_MIN_S and len(starts) > 3:
        middle = min(range(1, len(starts)), key=lambda k: abs(starts[k] - 0.55 * total))
        out[middle] = "dip"
    return out


def transition_seconds(kind: Transition, style: Style) -> float:
    """The nominal length of a transition of ``kind`` in ``style`` (0 for a hard cut)."""
    pace = STYLES[style]
    return {"cut": 0.0, "crossfade": pace.crossfade_s, "dip": pace.dip_s}[kind]


def end_card_seconds(total: float) -> float:
    """How long the closing title card runs in a trailer of ``total`` seconds (about 8%, 0.75-3 s)."""
    return min(3.0, max(0.75, 0.08 * total))
