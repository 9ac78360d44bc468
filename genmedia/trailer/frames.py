"""Pictures of a trailer: the quality ladder, decoding a clip's source range at display geometry, the
end card, and composing clips with their transitions into the final frame sequence.

Frames are handled at *display* geometry: non-square pixels are scaled to square ones and rotated
sources are turned upright, so every rendition plays the right way round and unsquashed in any player.
"""

from __future__ import annotations

import bisect
import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import cv2
import numpy as np

from genmedia.enhance.tonemap import SdrPictures
from genmedia.media.decode import Segment, iter_frames
from genmedia.media.probe import MediaInfo
from genmedia.trailer.edl import Clip, EditDecisionList

_QUALITY = re.compile(r"^(\d{3,4})p$")


@dataclass(frozen=True)
class Rung:
    """One rendition of the ladder: its name (e.g. ``720p``) and display size."""

    name: str
    width: int
    height: int


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def parse_quality(q: str) -> int:
    """The short-side height of a quality name such as ``720p``; ValueError if malformed."""
    m = _QUALITY.match(q.strip().lower())
    if not m or not 120 <= int(m.group(1)) <= 4320:
        raise ValueError(f"quality {q!r} must look like 1080p, 720p or 480p (120p to 4320p)")
    return int(m.group(1))


def ladder(info: MediaInfo, qualities: list[str]) -> tuple[list[Rung], list[str]]:
    """Renditions for ``qualities`` at the source's display aspect, largest first; never upscaled.

    A quality larger than the source is dropped with a warning; if all are, one rendition at the
    source's own size is made. The quality number is the short side (so portrait video works too).
    """
    w, h = info.display_width, info.display_height
    short = min(w, h)
    rungs: dict[int, Rung] = {}
    warnings = []
    for q in qualities:
        p = parse_quality(q)
        if p > short:
            warnings.append(f"quality {q} is larger than the source ({w}x{h}); not upscaled")
            continue
        rungs[p] = Rung(f"{p}p", _even(w * p / short), _even(h * p / short))
    if not rungs:
        rungs[short] = Rung(f"{short}p", _even(w), _even(h))
    return [rungs[p] for p in sorted(rungs, reverse=True)], warnings


def coded_size(info: MediaInfo, width: int, height: int) -> tuple[int, int]:
    """The size to scale decoded (coded, unrotated) pictures to so that rotating them gives ``width x height``."""
    return (height, width) if info.rotation in (90, 270) else (width, height)


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Turn a decoded picture as a player shows it: ``rotation`` degrees counter-clockwise."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


def decode_span(
    info: MediaInfo, start: float, count: int, rate: Fraction, width: int, height: int, threads: int = 0
) -> Iterator[np.ndarray]:
    """``count`` upright RGB frames of ``width x height`` on the grid ``start + j / rate``.

    Each output tick shows the source frame on screen at that time (the latest one starting at or
    before it), so variable-frame-rate sources map onto the constant output rate. One seek (to the last
    keyframe at or before ``start``), one decode, through the media layer.
    """
    cw, ch = coded_size(info, width, height)
    pictures = SdrPictures(info)  # HDR sources tone-mapped to SDR BT.709
    tb = info.time_base_fraction
    tolerance = 0.25 / float(rate)
    ticks = [start + j / float(rate) for j in range(count)]
    emitted = 0
    shown: av.VideoFrame | None = None
    picture: np.ndarray | None = None

    def current() -> np.ndarray:
        nonlocal picture
        if picture is None:
            picture = upright(pictures(shown, cw, ch), info.rotation)
        return picture

    with contextlib.closing(iter_frames(info, segment=_from_keyframe(info, start), threads=threads)) as frames:
        for ts, frame in frames:
            t = float(ts * tb)
            while emitted < count and shown is not None and t > ticks[emitted] + tolerance:
                yield current()
                emitted += 1
            if emitted == count:
                return
            if shown is None or t <= ticks[emitted] + tolerance:
                shown, picture = frame, None
    while emitted < count and shown is not None:  # the stream ended: hold the last picture
        yield current()
        emitted += 1


def _from_keyframe(info: MediaInfo, start: float) -> Segment:
    """The frames from the last keyframe at or before ``start`` (seconds on the stream's clock) to the end."""
    pts = info.frame_pts
    key = max((k for k in info.keyframe_pts if k * info.time_base_fraction <= start), default=pts[0])
    first = bisect.bisect_left(pts, key)
    return Segment(index=0, start_pts=key, end_pts=None, first_frame=first, frame_count=len(pts) - first)


def clip_span(edl: EditDecisionList, k: int) -> tuple[int, int]:
    """Frames of clip ``k`` decoded before its cut-in and after its cut-out (cross-fade handles)."""
    clip = edl.clips[k]
    pre = clip.transition_frames // 2 if clip.transition == "crossfade" else 0
    nxt = edl.clips[k + 1] if k + 1 < len(edl.clips) else None
    post = nxt.transition_frames // 2 if nxt is not None and nxt.transition == "crossfade" else 0
    return pre, post


def end_card(still: np.ndarray, title: str) -> np.ndarray:
    """The closing card: ``still`` blurred and darkened, with ``title`` centred in white."""
    h, w = still.shape[:2]
    card = cv2.GaussianBlur(still, (0, 0), sigmaX=max(1.0, w / 80))
    card = (card.astype(np.float32) * 0.45 + 12).astype(np.uint8)
    if title:
        font, thickness = cv2.FONT_HERSHEY_DUPLEX, max(1, round(h / 240))
        scale = 1.0
        (tw, th), _ = cv2.getTextSize(title, font, scale, thickness)
        scale = min(0.8 * w / max(tw, 1), 0.12 * h / max(th, 1))
        (tw, th), _ = cv2.getTextSize(title, font, scale, thickness)
        org = ((w - tw) // 2, (h + th) // 2)
        cv2.putText(card, title, org, font, scale, (245, 245, 245), thickness, cv2.LINE_AA)
    return card


class Compositor:
    """Turns each clip's frames (handles included, in order) into the trailer's final frames.

    Feed every clip's frames with :meth:`add` in clip order, then :meth:`finish`; final frames come back
    in trailer order from both. Cross-fades blend the outgoing clip's tail handle with the incoming
    clip's head handle (linear in picture); dips fade to black and back around the cut.
    """

    def __init__(self, edl: EditDecisionList, width: int, height: int):
        self.edl, self.width, self.height = edl, width, height
        self.pending: dict[int, np.ndarray] = {}
        self.still: np.ndarray | None = None
        self.still_frame = self._still_trailer_frame()

    def _still_trailer_frame(self) -> int | None:
        card = self.edl.end_card
        if card is None:
            return None
        rate = float(self.edl.rate)
        for c in self.edl.clips:
            if c.source_in - 1e-6 <= card.still_time < c.source_out - 1e-6:
                return c.trailer_in_frame + int(round((card.still_time - c.source_in) * rate))
        return self.edl.clips[0].trailer_in_frame

    def _dip_factor(self, k: int, f: int) -> float:
        """Brightness of clip ``k``'s frame at trailer frame ``f`` from the dips around it."""
        clip: Clip = self.edl.clips[k]
        factor = 1.0
        if clip.transition == "dip" and clip.transition_frames:
            half = clip.transition_frames // 2
            if f < clip.trailer_in_frame + half:
                factor *= (f - clip.trailer_in_frame + 0.5) / half
        nxt = self.edl.clips[k + 1] if k + 1 < len(self.edl.clips) else self.edl.end_card
        if nxt is not None and nxt.transition == "dip" and nxt.transition_frames:
            half = nxt.transition_frames // 2
            if f >= nxt.trailer_in_frame - half:
                factor *= (nxt.trailer_in_frame - f - 0.5) / half
        return max(0.0, min(1.0, factor))

    def add(self, k: int, f: int, image: np.ndarray) -> list[np.ndarray]:
        """Clip ``k``'s picture for trailer frame ``f``; returns the final frames now complete."""
        if f == self.still_frame and self.still is None:
            self.still = image.copy()
        clip = self.edl.clips[k]
        factor = self._dip_factor(k, f)
        if factor < 1.0:
            image = (image.astype(np.float32) * factor).astype(np.uint8)
        half = clip.transition_frames // 2 if clip.transition == "crossfade" else 0
        if f < clip.trailer_in_frame + half:
            a = (f - (clip.trailer_in_frame - half) + 0.5) / (2 * half)
            previous = self.pending.pop(f)
            return [cv2.addWeighted(previous, 1 - a, image, a, 0.0)]
        nxt = self.edl.clips[k + 1] if k + 1 < len(self.edl.clips) else None
        if nxt is not None and nxt.transition == "crossfade" and f >= nxt.trailer_in_frame - nxt.transition_frames // 2:
            self.pending[f] = image
            return []
        return [image]

    def finish(self) -> Iterator[np.ndarray]:
        """The end card's frames (dip in, fade out at the end)."""
        card = self.edl.end_card
        if card is None:
            return
        still = self.still if self.still is not None else np.zeros((self.height, self.width, 3), np.uint8)
        base = end_card(still, card.title).astype(np.float32)
        half = card.transition_frames // 2
        for f in range(card.trailer_in_frame, self.edl.frame_count):
            factor = 1.0
            if half and f < card.trailer_in_frame + half:
                factor *= (f - card.trailer_in_frame + 0.5) / half
            if card.fade_out_frames and f >= self.edl.frame_count - card.fade_out_frames:
                factor *= (self.edl.frame_count - f - 0.5) / card.fade_out_frames
            yield (base * min(1.0, factor)).astype(np.uint8)
