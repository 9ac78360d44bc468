"""Where a video is hard to encode, read from its packets without decoding: the ladder's sample spans.

The source's own encoder spent more bits where the picture is harder to compress (motion, texture, grain,
cuts), so the bits of its video packets in a window are a free measure of that window's difficulty: the
whole title is demuxed (no decode) in a fraction of a second. :func:`pick_spans` then takes a stratified
sample of the title's difficulty (one span from the middle of each equal band of windows sorted by bits),
preferring spans that start on a keyframe so decoding them wastes nothing.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from itertools import accumulate

import av

from genmedia.media.probe import MediaInfo


@dataclass(frozen=True)
class Window:
    """A candidate sample span: its start (s from the first picture), source bits in it, and decode lead-in.

    ``lead`` is the time from the keyframe before ``start`` to ``start``: pictures decoded only to be dropped.
    """

    start: float
    bits: int
    lead: float


def scan_windows(path: str, info: MediaInfo, span_seconds: float) -> list[Window]:
    """Every candidate span of ``span_seconds``: on a half-span grid and at every keyframe, with its bits."""
    times: list[float] = []
    sizes: list[int] = []
    keys: list[float] = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        tb = stream.time_base
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            t = float(packet.pts * tb) - info.start_time
            times.append(t)
            sizes.append(8 * packet.size)
            if packet.is_keyframe:
                keys.append(t)
    if not times:
        return []
    order = sorted(range(len(times)), key=times.__getitem__)
    times = [times[i] for i in order]
    cumulative = [0, *accumulate(sizes[i] for i in order)]
    keys.sort()
    last = max(0.0, max(info.duration, times[-1]) - span_seconds)
    step = span_seconds / 2
    grid = [round(k * step, 3) for k in range(int(last / step) + 1)]
    starts = sorted({*grid, *(round(k, 3) for k in keys if 0 <= k <= last)})
    windows = []
    for start in starts:
        lo, hi = bisect.bisect_left(times, start - 1e-6), bisect.bisect_left(times, start + span_seconds - 1e-6)
        before = bisect.bisect_right(keys, start + 1e-6)
        lead = start - keys[before - 1] if before else start
        windows.append(Window(start, cumulative[hi] - cumulative[lo], round(max(lead, 0.0), 3)))
    return windows


def pick_spans(windows: list[Window], count: int, span_seconds: float) -> list[float]:
    """Starts of ``count`` non-overlapping spans, one per difficulty band, sorted by time.

    The windows are sorted by bits and cut into ``count`` equal bands; from the middle half of each band
    (its whole band if that is taken) the window with the shortest decode lead-in is chosen, then the one
    nearest the band's median. A sample drawn this way covers the title's easy and hard parts in their
    proportions, whatever their order in time.
    """
    ranked = sorted(windows, key=lambda w: (w.bits, w.start))
    chosen: list[float] = []
    n = len(ranked)
    for band in range(min(count, n)):
        middle = (band + 0.5) * n / count
        for lo, hi in (
            ((band + 0.25) * n / count, (band + 0.75) * n / count),
            (band * n / count, (band + 1) * n / count),
        ):
            free = [
                (w.lead, abs(i + 0.5 - middle), w.start)
                for i, w in enumerate(ranked)
                if lo <= i + 0.5 <= hi and all(abs(w.start - c) >= span_seconds for c in chosen)
            ]
            if free:
                chosen.append(min(free)[2])
                break
    return sorted(chosen)


__all__ = ["Window", "pick_spans", "scan_windows"]
