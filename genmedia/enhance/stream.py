"""The classical enhancement (denoise, Lanczos upscale) as one FFmpeg filter graph that frames stream through.

For a run in one process: decoded PyAV frames go through ``atadenoise`` and the classical upscaler
(``unsharp`` + ``scale``) in one libavfilter graph and leave as PyAV frames for the encoder, with no numpy
array and no window in between. The graph is flushed and started afresh at every shot boundary, so no
frame is averaged with another shot; since the windowed stages give each window a halo of the same
neighbours, both produce the same pictures.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence

import av
import numpy as np

from genmedia.enhance.denoise import MIN_RADIUS, denoise_filters
from genmedia.enhance.filters import Chain, Filter
from genmedia.enhance.resample import upscale_filters


def classical_filters(sigma: float, radius: int, size: tuple[int, int], out_size: tuple[int, int]) -> list[Filter]:
    """The chain for Y'CbCr frames of ``size``: denoise of strength ``sigma`` (none at 0) with ``radius``
    neighbours each side, then (when ``out_size`` differs) the classical upscaler to ``out_size``."""
    chain = denoise_filters(sigma, max(MIN_RADIUS, radius), yuv=True) if sigma > 0 else []
    if out_size != size:
        chain += upscale_filters(*out_size, out_size[0] / size[0])
    return chain


def filter_stream(
    frames: Iterable[tuple[int, av.VideoFrame]],
    shot_of: np.ndarray,
    pix_fmt: str,
    filters: Sequence[Filter],
    *,
    threads: int = 1,
) -> Iterator[tuple[int, av.VideoFrame]]:
    """``(frame index, frame)`` pairs in display order through ``filters``: ``(index, filtered frame)`` in the
    same order, one per input frame. Frames are converted to ``pix_fmt`` first when they are not in it; a frame
    whose shot (``shot_of[index]``) differs from the previous one's ends the graph and starts a new one.
    ``threads``: libavfilter's slice threads (0 = one per core)."""
    chain: Chain | None = None
    shot = -1
    pending: deque[int] = deque()
    for index, frame in frames:
        if frame.format.name != pix_fmt:
            frame = frame.reformat(format=pix_fmt)
        if chain is None or int(shot_of[index]) != shot:
            if chain is not None:
                yield from _matched(pending, chain.flush())
            chain = Chain(frame.width, frame.height, pix_fmt, filters, threads=threads)
            shot = int(shot_of[index])
        pending.append(index)
        yield from _matched(pending, chain.push(frame))
    if chain is not None:
        yield from _matched(pending, chain.flush())
    if pending:
        raise RuntimeError(f"filter chain {list(filters)} returned {len(pending)} frames fewer than it was given")


def _matched(pending: deque[int], out: list[av.VideoFrame]) -> Iterator[tuple[int, av.VideoFrame]]:
    """The graph's output frames with the indices of the input frames they were made from (oldest first)."""
    for frame in out:
        if not pending:
            raise RuntimeError("filter chain returned more frames than it was given")
        yield pending.popleft(), frame
