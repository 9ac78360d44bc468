"""Per-title bitrate ladders from measured rate-quality points (pure functions, no media I/O).

Each candidate resolution is encoded on a few sample spans at several rates; every encode gives a point
(resolution, bits per second it took, quality of the picture scaled back to display size). Per resolution
the points form a rate-quality curve; across resolutions their upper convex hull is the best quality any
resolution gives at each rate. For each target quality the ladder takes the resolution that reaches it at
the lowest rate (on that resolution's curve: parabolas in log-rate through neighbouring points, so three
sampled rates per resolution suffice) - low targets land on small resolutions, high targets on large ones,
and an easy title gets lower rates than a hard one.

A fixed ladder (the same resolution/rate pairs for every title) is read off the same measured curves, so the
saving is stated at equal measured quality: for each fixed rung, the rate the per-title curves need for the
quality that rung reaches.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

FIXED_LADDER: tuple[tuple[int, int], ...] = (
    (1080, 5_800_000),
    (720, 3_000_000),
    (540, 1_750_000),
    (360, 730_000),
    (240, 235_000),
)
"""A typical fixed ladder (short side, average bit/s) of the kind used before per-title encoding."""


@dataclass(frozen=True)
class RatePoint:
    """One sample encode: size, the rate asked for, the rate it took and the quality it reached."""

    width: int
    height: int
    target: int
    bitrate: float
    xpsnr: float
    ssim: float

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return (self.width, self.height)


@dataclass(frozen=True)
class Rung:
    """A chosen rung: size and average rate, the quality the curves predict, and whether it met its target."""

    width: int
    height: int
    bitrate: int
    target_xpsnr: float
    predicted_xpsnr: float
    reached: bool


def curves(points: Iterable[RatePoint]) -> dict[tuple[int, int], list[RatePoint]]:
    """Points by size, sorted by rate."""
    by_size: dict[tuple[int, int], list[RatePoint]] = {}
    for p in points:
        by_size.setdefault(p.size, []).append(p)
    return {size: sorted(ps, key=lambda p: p.bitrate) for size, ps in by_size.items()}


def _monotone(curve: Sequence[RatePoint]) -> list[tuple[float, float]]:
    """``(log rate, quality)`` with quality made non-decreasing (a higher rate never predicts worse)."""
    out: list[tuple[float, float]] = []
    best = -math.inf
    for p in curve:
        best = max(best, p.xpsnr)
        out.append((math.log(max(p.bitrate, 1.0)), best))
    return out


def _segment(pts: Sequence[tuple[float, float]], i: int) -> Callable[[float], float]:
    """Quality as a function of log-rate between points ``i`` and ``i + 1``.

    The parabola through these two points and the nearest third one (the curve bends: each doubling of the
    rate buys less quality), so three sampled rates describe a curve about as well as five joined by straight
    lines; a straight line where the parabola would not rise over the whole segment or there is no third point.
    """
    (x0, y0), (x1, y1) = pts[i], pts[i + 1]

    def line(x: float) -> float:
        return y0 if x1 == x0 else y0 + (x - x0) * (y1 - y0) / (x1 - x0)

    if len(pts) < 3 or x1 == x0:
        return line
    (x2, y2) = pts[i + 2] if i + 2 < len(pts) and (i == 0 or pts[i + 2][0] - x1 < x0 - pts[i - 1][0]) else pts[i - 1]
    if x2 in (x0, x1):
        return line
    # Newton form: y0 + (x - x0) * (d01 + (x - x1) * d012)
    d01 = (y1 - y0) / (x1 - x0)
    d012 = ((y2 - y1) / (x2 - x1) - d01) / (x2 - x0)

    def parabola(x: float) -> float:
        return y0 + (x - x0) * (d01 + (x - x1) * d012)

    slopes = (d01 + (x0 - x1) * d012, d01 + (x1 - x0) * d012)  # the derivative at both ends
    return parabola if min(slopes) >= 0 else line


def quality_at(curve: Sequence[RatePoint], rate: float) -> float:
    """The quality ``curve`` predicts at ``rate`` (clamped to its sampled range)."""
    pts = _monotone(curve)
    x = math.log(max(rate, 1.0))
    if x <= pts[0][0]:
        return pts[0][1]
    for i in range(len(pts) - 1):
        if pts[i][0] <= x <= pts[i + 1][0]:
            return _segment(pts, i)(x)
    return pts[-1][1]


def rate_for(curve: Sequence[RatePoint], quality: float) -> float | None:
    """The rate at which ``curve`` reaches ``quality`` (on the curve of :func:`quality_at`); None if it never does.

    A quality below the curve's lowest point needs no more than that point's rate.
    """
    pts = _monotone(curve)
    if not pts or quality > pts[-1][1]:
        return None
    if quality <= pts[0][1]:
        return math.exp(pts[0][0])
    for i in range(len(pts) - 1):
        (x0, q0), (x1, q1) = pts[i], pts[i + 1]
        if q0 <= quality <= q1:
            if q1 == q0:
                return math.exp(x0)
            f = _segment(pts, i)
            for _ in range(48):  # bisection: the segment rises monotonically from q0 to q1
                mid = (x0 + x1) / 2
                x0, x1 = (mid, x1) if f(mid) < quality else (x0, mid)
            return math.exp((x0 + x1) / 2)
    return math.exp(pts[-1][0])


def at_rate(curve: Sequence[RatePoint], rate: int) -> RatePoint:
    """The point ``curve`` predicts at ``rate`` (XPSNR on the curve, SSIM joined in log-rate), not encoded."""
    x = math.log(max(rate, 1.0))
    ssims = [(math.log(max(p.bitrate, 1.0)), p.ssim) for p in curve]
    ssim = ssims[0][1] if x <= ssims[0][0] else ssims[-1][1]
    for (x0, s0), (x1, s1) in zip(ssims, ssims[1:], strict=False):
        if x0 <= x <= x1:
            ssim = s0 if x1 == x0 else s0 + (x - x0) * (s1 - s0) / (x1 - x0)
    first = curve[0]
    return RatePoint(first.width, first.height, rate, float(rate), quality_at(curve, rate), ssim)


def convex_hull(points: Iterable[RatePoint]) -> list[RatePoint]:
    """The upper convex hull of all points in the (rate, quality) plane, by rising rate."""
    pts = sorted(points, key=lambda p: (p.bitrate, -p.xpsnr))
    hull: list[RatePoint] = []
    for p in pts:
        if hull and p.xpsnr <= hull[-1].xpsnr:
            continue  # more bits for no more quality
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (b.bitrate - a.bitrate) * (p.xpsnr - a.xpsnr) - (b.xpsnr - a.xpsnr) * (p.bitrate - a.bitrate)
            if cross >= 0:  # b lies on or under the segment a-p
                hull.pop()
            else:
                break
        hull.append(p)
    return hull


def cheapest(by_size: dict[tuple[int, int], list[RatePoint]], quality: float) -> tuple[tuple[int, int], float] | None:
    """The size and rate that reach ``quality`` at the lowest rate; None if no size reaches it."""
    options = [(rate, size) for size, curve in by_size.items() if (rate := rate_for(curve, quality)) is not None]
    if not options:
        return None
    rate, size = min(options)
    return size, rate


def choose_ladder(by_size: dict[tuple[int, int], list[RatePoint]], targets: Sequence[float]) -> list[Rung]:
    """One rung per target quality (highest first), at the cheapest size that reaches it.

    A target no size reaches gets the size with the best quality at its highest sampled rate, marked
    ``reached=False``. Rungs that collapse onto the same size and a rate within 10 % of a higher rung are
    dropped: a player gains nothing from them.
    """
    rungs: list[Rung] = []
    for target in sorted(targets, reverse=True):
        found = cheapest(by_size, target)
        if found is None:
            size, curve = max(by_size.items(), key=lambda kv: _monotone(kv[1])[-1][1])
            rate, reached = curve[-1].bitrate, False
        else:
            (size, rate), reached = found, True
        predicted = quality_at(by_size[size], rate)
        rung = Rung(size[0], size[1], int(round(rate, -3)), target, round(predicted, 2), reached)
        if (
            rungs
            and (rung.width, rung.height) == (rungs[-1].width, rungs[-1].height)
            and rung.bitrate > 0.9 * rungs[-1].bitrate
        ):
            continue
        rungs.append(rung)
    return rungs


def fixed_ladder_saving(
    by_size: dict[tuple[int, int], list[RatePoint]],
    fixed: Sequence[RatePoint],
    steps: int = 24,
) -> dict[str, Any]:
    """The bitrate the per-title curves save against a fixed ladder at equal measured quality.

    Both ladders are rate-quality curves: the fixed ladder's rungs joined in log-rate, and the per-title
    envelope (for each quality, the cheapest size's rate). The saving is the mean log-rate difference over
    the qualities both cover (the Bjontegaard-delta rate of the two curves); each fixed rung is also listed
    with the per-title rate for its own quality.
    """
    fixed = sorted(fixed, key=lambda p: p.bitrate)
    rows = []
    for point in fixed:
        found = cheapest(by_size, point.xpsnr)
        size, rate = found if found else (point.size, point.bitrate)
        rows.append(
            {
                "fixed": {
                    "width": point.width,
                    "height": point.height,
                    "bitrate": round(point.bitrate),
                    "xpsnr": round(point.xpsnr, 2),
                },
                "per_title": {"width": size[0], "height": size[1], "bitrate": round(min(rate, point.bitrate))},
            }
        )
    top = max((_monotone(c)[-1][1] for c in by_size.values()), default=-math.inf)
    low = min((_monotone(c)[0][1] for c in by_size.values()), default=math.inf)
    q_lo, q_hi = max(low, min(p.xpsnr for p in fixed)), min(top, max(p.xpsnr for p in fixed))
    if len(fixed) < 2 or q_hi <= q_lo:
        ratios = [r["per_title"]["bitrate"] / r["fixed"]["bitrate"] for r in rows if r["fixed"]["bitrate"] > 0]
        saving = 1.0 - math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else 0.0
        method = "per rung (the curves overlap in one point)"
    else:
        diffs = []
        for k in range(steps + 1):
            q = q_lo + (q_hi - q_lo) * k / steps
            per_title = cheapest(by_size, q)
            rate_fixed = rate_for(fixed, q)
            if per_title is not None and rate_fixed is not None:
                diffs.append(math.log(min(per_title[1], rate_fixed)) - math.log(rate_fixed))
        saving = 1.0 - math.exp(sum(diffs) / len(diffs)) if diffs else 0.0
        method = f"Bjontegaard-delta rate over XPSNR {q_lo:.2f}-{q_hi:.2f} dB"
    return {"rungs": rows, "saving": round(saving, 4), "method": method}


def point_dict(point: RatePoint) -> dict[str, Any]:
    """A point as JSON."""
    return {
        **asdict(point),
        "bitrate": round(point.bitrate),
        "xpsnr": round(point.xpsnr, 3),
        "ssim": round(point.ssim, 5),
    }


__all__ = [
    "FIXED_LADDER",
    "RatePoint",
    "Rung",
    "at_rate",
    "cheapest",
    "choose_ladder",
    "convex_hull",
    "curves",
    "fixed_ladder_saving",
    "point_dict",
    "quality_at",
    "rate_for",
]
