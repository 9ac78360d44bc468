"""Full-reference picture quality with libavfilter: XPSNR and SSIM of a distorted picture against its reference.

The distorted picture may be smaller (a lower rung of a ladder); it is scaled back to the reference's size
with bicubic interpolation first, as a player would show it. VMAF is not in the FFmpeg build PyAV bundles
(no ``libvmaf`` filter), so XPSNR (a perceptually weighted PSNR, ITU-T/MPEG's successor to plain PSNR) is
the ladder's quality measure and SSIM is reported beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import av
import av.filter

TIME_BASE = Fraction(1, 1000)


@dataclass(frozen=True)
class Quality:
    """Mean quality over compared pictures: XPSNR (dB, luma and chroma weighted 4:1:1) and SSIM (0..1)."""

    xpsnr: float
    ssim: float
    pictures: int


class FrameComparer:
    """Compares distorted pictures of one size with reference pictures of another, one pair at a time.

    The graph: reference -> split -> (xpsnr, ssim); distorted -> scale to the reference size -> split ->
    (xpsnr, ssim). Each pair's scores are read from the filters' frame metadata.
    """

    def __init__(self, ref_size: tuple[int, int], dist_size: tuple[int, int], pix_fmt: str = "yuv420p") -> None:
        (rw, rh), (dw, dh) = ref_size, dist_size
        graph = av.filter.Graph()
        self._ref = graph.add_buffer(width=rw, height=rh, format=pix_fmt, time_base=TIME_BASE)
        self._dist = graph.add_buffer(width=dw, height=dh, format=pix_fmt, time_base=TIME_BASE)
        ref_split, dist_split = graph.add("split", "2"), graph.add("split", "2")
        scale = graph.add("scale", f"{rw}:{rh}:flags=bicubic")
        xpsnr, ssim = graph.add("xpsnr"), graph.add("ssim")
        self._xpsnr_sink, self._ssim_sink = graph.add("buffersink"), graph.add("buffersink")
        self._ref.link_to(ref_split)
        self._dist.link_to(scale)
        scale.link_to(dist_split)
        ref_split.link_to(xpsnr, 0, 0)
        dist_split.link_to(xpsnr, 0, 1)
        ref_split.link_to(ssim, 1, 0)
        dist_split.link_to(ssim, 1, 1)
        xpsnr.link_to(self._xpsnr_sink)
        ssim.link_to(self._ssim_sink)
        graph.configure()
        self._graph = graph
        self._pix_fmt = pix_fmt
        self._next_pts = 0
        self._xpsnr: list[float] = []
        self._ssim: list[float] = []

    def _prepared(self, frame: av.VideoFrame) -> av.VideoFrame:
        out = frame if frame.format.name == self._pix_fmt else frame.reformat(format=self._pix_fmt)
        out.pts = self._next_pts
        out.time_base = TIME_BASE
        return out

    def add(self, reference: av.VideoFrame, distorted: av.VideoFrame) -> None:
        """Compare one pair (the pictures are not modified)."""
        self._ref.push(self._prepared(reference))
        self._dist.push(self._prepared(distorted))
        self._next_pts += 40
        self._drain()

    def _drain(self) -> None:
        for sink, values, read in ((self._xpsnr_sink, self._xpsnr, _xpsnr_of), (self._ssim_sink, self._ssim, _ssim_of)):
            while True:
                try:
                    frame = sink.pull()
                except (av.error.BlockingIOError, av.error.EOFError):
                    break
                values.append(read(frame.metadata))

    def result(self) -> Quality:
        """The mean scores of every pair added so far (infinite XPSNR of identical pictures is capped at 100 dB)."""
        for source in (self._ref, self._dist):
            source.push(None)
        self._drain()
        count = min(len(self._xpsnr), len(self._ssim))
        if count == 0:
            raise ValueError("no pictures were compared")
        return Quality(sum(self._xpsnr[:count]) / count, sum(self._ssim[:count]) / count, count)


def _finite_db(text: str) -> float:
    value = float(text)
    return 100.0 if math.isinf(value) or value > 100 else value


def _xpsnr_of(meta: dict[str, str]) -> float:
    y, u, v = (_finite_db(meta[f"lavfi.xpsnr.xpsnr.{c}"]) for c in "yuv")
    return (4 * y + u + v) / 6


def _ssim_of(meta: dict[str, str]) -> float:
    return float(meta["lavfi.ssim.All"])


__all__ = ["FrameComparer", "Quality"]
