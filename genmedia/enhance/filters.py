"""FFmpeg's filters (libavfilter through PyAV's ``av.filter.Graph``) run over frames held in memory.

A :class:`Chain` is one linear graph ``buffer -> filters -> format -> buffersink`` for frames of one
size and pixel format: frames go in with :meth:`Chain.push`, come out as soon as the filters let
them (temporal filters hold a few back), and :meth:`Chain.flush` ends the stream. A chain that meets
a shot boundary is flushed and a new one started, so no temporal filter mixes two shots.

Frames travel between stages as numpy arrays in the layout PyAV uses for the format: planar 4:2:0
YUV (``yuv420p``, ``yuv420p10le``) as one ``H*3/2 x W`` array (Y, then U, then V), packed RGB
(``rgb24``, ``rgb48le``) as ``H x W x 3``; :func:`to_frame` / :func:`to_array` convert (one copy).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import av
import numpy as np

Filter = tuple[str, str]
"""A filter name and its option string, e.g. ``("scale", "w=2560:h=1440:flags=lanczos")``."""

YUV_FORMATS = ("yuv420p", "yuv420p10le")
RGB_FORMATS = ("rgb24", "rgb48le")
_TIME_BASE = Fraction(1, 1)
_COLORSPACES = {"bt709": "bt709", "bt2020": "bt2020nc"}


def frame_size(array: np.ndarray, pix_fmt: str) -> tuple[int, int]:
    """(width, height) of one frame array in ``pix_fmt``'s layout."""
    if pix_fmt in YUV_FORMATS:
        return array.shape[-1], array.shape[-2] * 2 // 3
    return array.shape[-2], array.shape[-3]


def layout_format(frames: np.ndarray) -> str:
    """The pixel format of a stack of frame arrays: N x H*3/2 x W is planar YUV 4:2:0 (``yuv420p``, or
    ``yuv420p10le`` for uint16), N x H x W x 3 packed RGB (``rgb24``, or ``rgb48le`` for uint16)."""
    deep = frames.dtype == np.uint16
    if frames.ndim == 3:
        return YUV_FORMATS[deep]
    if frames.ndim == 4 and frames.shape[-1] == 3:
        return RGB_FORMATS[deep]
    raise ValueError(f"frames of shape {frames.shape} are neither N x H*3/2 x W (YUV 4:2:0) nor N x H x W x 3 (RGB)")


def to_frame(array: np.ndarray, pix_fmt: str, pts: int = 0) -> av.VideoFrame:
    """A PyAV frame from one array in ``pix_fmt``'s layout (see the module docstring)."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format=pix_fmt)
    frame.pts, frame.time_base = pts, _TIME_BASE
    return frame


def to_array(frame: av.VideoFrame) -> np.ndarray:
    """One frame as a numpy array in its pixel format's layout."""
    return frame.to_ndarray()


class Chain:
    """A linear libavfilter graph for frames of ``width`` x ``height`` in ``pix_fmt``.

    ``filters`` run in order; the output is converted to ``out_fmt`` (default: ``pix_fmt``).
    ``colorspace`` (``bt709``/``bt2020``) and ``color_range`` (``tv``/``pc``) describe the input so
    format-converting filters pick the right matrix.
    """

    def __init__(
        self,
        width: int,
        height: int,
        pix_fmt: str,
        filters: Sequence[Filter],
        *,
        out_fmt: str | None = None,
        colorspace: str = "bt709",
        color_range: str = "tv",
        threads: int = 1,
    ):
        """Build and configure the graph (``threads``: libavfilter's slice threads, 0 = one per core)."""
        self.pix_fmt = pix_fmt
        self.out_fmt = out_fmt or pix_fmt
        self._graph = av.filter.Graph()
        self._graph.threads = threads
        args = (
            f"video_size={width}x{height}:pix_fmt={pix_fmt}:time_base={_TIME_BASE.numerator}/{_TIME_BASE.denominator}"
            f":pixel_aspect=1/1:colorspace={_COLORSPACES[colorspace]}:range={color_range}"
        )
        nodes = [self._graph.add("buffer", args)]
        nodes += [self._graph.add(name, options) for name, options in filters]
        nodes += [self._graph.add("format", f"pix_fmts={self.out_fmt}"), self._graph.add("buffersink")]
        self._graph.link_nodes(*nodes).configure()
        self._pts = 0
        self._closed = False

    def push(self, frame: av.VideoFrame | np.ndarray) -> list[av.VideoFrame]:
        """Feed one frame (a PyAV frame or an array in ``pix_fmt``); return the frames now ready."""
        if isinstance(frame, np.ndarray):
            self._graph.push(to_frame(frame, self.pix_fmt, self._pts))
        else:  # the graph takes its own reference: the caller's frame keeps its timing
            timing = frame.pts, frame.time_base
            frame.pts, frame.time_base = self._pts, _TIME_BASE
            self._graph.push(frame)
            frame.pts, frame.time_base = timing
        self._pts += 1
        return self._drain()

    def flush(self) -> list[av.VideoFrame]:
        """End the stream: the frames temporal filters still hold (idempotent)."""
        if self._closed:
            return []
        self._closed = True
        self._graph.push(None)
        return self._drain()

    def _drain(self) -> list[av.VideoFrame]:
        out = []
        while True:
            try:
                out.append(self._graph.pull())
            except (av.error.BlockingIOError, av.error.EOFError):
                return out

    def run(self, frames: Iterable[av.VideoFrame | np.ndarray]) -> list[av.VideoFrame]:
        """All of ``frames`` through the chain, then flushed: the output frames in order."""
        return list(self.stream(frames))

    def stream(self, frames: Iterable[av.VideoFrame | np.ndarray]) -> Iterator[av.VideoFrame]:
        """:meth:`run` as a generator: each output frame as soon as the graph returns it."""
        for frame in frames:
            yield from self.push(frame)
        yield from self.flush()


def run_arrays(
    frames: np.ndarray,
    pix_fmt: str,
    filters: Sequence[Filter],
    *,
    runs: Sequence[tuple[int, int]] | None = None,
    out_fmt: str | None = None,
    colorspace: str = "bt709",
) -> np.ndarray:
    """``frames`` (N arrays in ``pix_fmt``'s layout) through ``filters``, as an array in ``out_fmt``.

    ``runs`` are ``[start, end)`` ranges that each get a fresh graph (shots: temporal filters never
    see frames of two runs); default one run. A run's output must have as many frames as its input.
    """
    if len(frames) == 0:
        return frames
    width, height = frame_size(frames[0], pix_fmt)
    runs = runs or [(0, len(frames))]
    out: np.ndarray | None = None  # filled frame by frame as the graph returns them: no list, no stack copy
    filled = 0
    for start, end in runs:
        chain = Chain(width, height, pix_fmt, filters, out_fmt=out_fmt, colorspace=colorspace)
        count = 0
        for frame in chain.stream(frames[start:end]):
            if count == end - start:
                raise RuntimeError(f"filter chain {filters} returned more than {end - start} frames")
            array = to_array(frame)
            if out is None:
                out = np.empty((sum(b - a for a, b in runs), *array.shape), array.dtype)
            out[filled + count] = array
            count += 1
        if count != end - start:
            raise RuntimeError(f"filter chain {filters} returned {count} frames for {end - start}")
        filled += count
    if out is None:
        raise RuntimeError(f"filter chain {filters} returned no frames")
    return out


def equal_runs(labels: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` ranges of consecutive equal values of ``labels`` (e.g. a window's shot ids)."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return []
    edges = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    bounds = [0, *edges.tolist(), len(labels)]
    return list(pairwise(bounds))


def cube_file(text: str) -> Path:
    """A ``.cube`` LUT's text as a file in the temp folder for ``lut3d`` (named by its hash, written once, atomically)."""
    path = Path(tempfile.gettempdir()) / f"genmedia-lut-{hashlib.sha256(text.encode()).hexdigest()[:20]}.cube"
    if not path.exists():
        partial = path.with_suffix(f".{os.getpid()}.part")
        partial.write_text(text)
        partial.replace(path)
    return path


def lut3d(path: Path) -> Filter:
    """FFmpeg's ``lut3d`` filter reading ``path`` (tetrahedral interpolation); the path escaped for the graph."""
    escaped = str(path).replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")
    return ("lut3d", f"file={escaped}:interp=tetrahedral")
