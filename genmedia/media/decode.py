"""Stream decoded frames in batches, at the size and pixel format a stage needs.

Decoding is the floor of every job, so the cheap paths matter (docs/architecture.md): ``fmt="gray"`` reads
the luma plane straight from the frame buffer and subsamples it by striding (no swscale), and
``skip_loop_filter`` drops the deblocking filter when the picture is only analysed. A long video is
split by :func:`plan_segments` into keyframe-aligned segments that decode independently (e.g. in
parallel Ray tasks) and together yield exactly the frames of one sequential decode.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import av
import av.logging
import numpy as np

from genmedia.errors import InputError
from genmedia.media.probe import MediaInfo

PixelFormat = Literal["gray", "rgb24"]


@dataclass(frozen=True)
class Segment:
    """Frames ``[first_frame, first_frame + frame_count)``, starting at a keyframe."""

    index: int
    start_pts: int
    end_pts: int | None
    first_frame: int
    frame_count: int


@dataclass
class FrameBatch:
    """A batch of frames in presentation order with their global 0-based indices and times (s)."""

    frames: np.ndarray
    index: np.ndarray
    pts: np.ndarray
    time: np.ndarray

    def __len__(self) -> int:
        return len(self.index)


def plan_segments(info: MediaInfo, segment_seconds: float) -> list[Segment]:
    """Split a video into keyframe-aligned segments of about ``segment_seconds``, as even as the
    keyframes allow (each boundary at the keyframe nearest an equal split), so parallel tasks end together."""
    pts = np.asarray(info.frame_pts, dtype=np.int64)
    span = int(pts[-1] - pts[0]) + 1
    count = max(1, round(span * float(info.time_base_fraction) / segment_seconds))
    keys = np.unique(np.asarray([k for k in info.keyframe_pts if pts[0] < k <= pts[-1]], dtype=np.int64))
    starts = [int(pts[0])]
    for k in range(1, count if keys.size else 1):
        nearest = int(keys[np.argmin(np.abs(keys - (pts[0] + span * k / count)))])
        if nearest > starts[-1]:
            starts.append(nearest)
    first = np.searchsorted(pts, starts).tolist() + [len(pts)]
    return [
        Segment(
            index=i,
            start_pts=starts[i],
            end_pts=starts[i + 1] if i + 1 < len(starts) else None,
            first_frame=first[i],
            frame_count=first[i + 1] - first[i],
        )
        for i in range(len(starts))
    ]


def decoder_threads(configured: int, segments: int) -> int:
    """Decoder threads for each of ``segments`` segment tasks run together: ``configured`` when set; else 1
    when there are several (decoded in parallel, they fill the cores: two single-threaded decoders beat
    one with FFmpeg's frame threads by ~1.6x on 2 cores), else 0 (FFmpeg's choice) so a lone segment
    uses every core."""
    if configured:
        return configured
    return 1 if segments > 1 else 0


def luma_stride(width: int, target_width: int | None) -> int:
    """The subsampling step that brings ``width`` down to about ``target_width`` (never below it)."""
    return max(1, width // target_width) if target_width else 1


def luma(frame: av.VideoFrame, width: int | None = None) -> np.ndarray:
    """The luma plane of ``frame`` subsampled by striding to about ``width`` (8-bit; swscale for RGB sources)."""
    return _convert(frame, "gray", width, None)


def _convert(frame: av.VideoFrame, fmt: PixelFormat, width: int | None, height: int | None) -> np.ndarray:
    if fmt == "gray" and frame.format.name.startswith(("yuv", "yuvj", "nv12", "gray")):
        plane = frame.planes[0]
        bytes_per_px = 2 if frame.format.name.endswith(("10le", "12le", "16le")) else 1
        dtype = np.uint16 if bytes_per_px == 2 else np.uint8
        y = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // bytes_per_px)[:, : frame.width]
        if dtype == np.uint16:
            y = (y >> (int(frame.format.name.split("p")[-1][:2]) - 8)).astype(np.uint8)
        k = luma_stride(frame.width, width)
        return np.ascontiguousarray(y[::k, ::k])
    return frame.reformat(width=width, height=height, format=fmt).to_ndarray()


def _open_video(
    path: str, threads: int, skip_loop_filter: bool
) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    try:
        container = av.open(path, options={"protocol_whitelist": "file"})
    except av.error.FFmpegError as e:
        raise InputError(path, f"cannot be opened for decoding ({e.strerror or e})") from None
    if not container.streams.video:
        container.close()
        raise InputError(path, "has no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    if threads:
        stream.codec_context.thread_count = threads
    if skip_loop_filter:
        stream.codec_context.options = {"skip_loop_filter": "all"}
    return container, stream


def decode_frames(
    info: MediaInfo,
    *,
    segment: Segment | None = None,
    fmt: PixelFormat = "rgb24",
    width: int | None = None,
    height: int | None = None,
    batch_size: int = 64,
    threads: int = 0,
    skip_loop_filter: bool = False,
    errors: list[str] | None = None,
    damaged: list[int] | None = None,
) -> Iterator[FrameBatch]:
    """Decode ``info.path`` (or one segment of it) into batches of numpy frames.

    ``fmt="gray"`` with ``width`` gives the luma plane subsampled to about that width (uint8, N×H×W);
    ``fmt="rgb24"`` gives N×H×W×3 scaled with swscale to ``width``×``height`` (source size if None).
    Frames that fail to decode are skipped; their reasons are appended to ``errors`` when given; ``damaged``
    collects the pts of frames decoded with concealed errors (see :func:`iter_frames`). Indices are global (0-based, presentation order), taken from the probed timestamps.
    """
    all_pts = np.asarray(info.frame_pts, dtype=np.int64)
    tb = info.time_base_fraction
    frames: list[np.ndarray] = []
    pts_out: list[int] = []
    for ts, frame in iter_frames(
        info, segment=segment, threads=threads, skip_loop_filter=skip_loop_filter, errors=errors, damaged=damaged
    ):
        frames.append(_convert(frame, fmt, width, height))
        pts_out.append(ts)
        if len(frames) == batch_size:
            yield _batch(frames, pts_out, all_pts, tb)
            frames, pts_out = [], []
    if frames:
        yield _batch(frames, pts_out, all_pts, tb)


def iter_frames(
    info: MediaInfo,
    *,
    segment: Segment | None = None,
    threads: int = 0,
    skip_loop_filter: bool = False,
    errors: list[str] | None = None,
    damaged: list[int] | None = None,
) -> Iterator[tuple[int, av.VideoFrame]]:
    """``(pts, frame)`` of each decoded frame of ``info.path`` (or of one segment), in presentation order.

    For stages that convert frames themselves (e.g. luma for every frame, a small RGB for a few).
    Frames that fail to decode are skipped; their reasons are appended to ``errors`` when given. With
    ``damaged``, the pts of each frame whose decode errors the decoder concealed is appended before the frame
    is yielded (and a line to ``errors``).
    """
    all_pts = info.frame_pts
    start = segment.start_pts if segment else None
    end = segment.end_pts if segment else None
    container, stream = _open_video(info.local_path, threads, skip_loop_filter)
    last: int | None = None
    try:
        if start is not None and start > all_pts[0]:
            container.seek(start, stream=stream, backward=True, any_frame=False)
        decoded = _decoded(container, stream, info.path, errors, listen=damaged is not None)
        with contextlib.closing(decoded):  # closed at once on break, so its log capture ends with it
            for frame, concealed in decoded:
                ts = frame.pts if frame.pts is not None else (last + 1 if last is not None else int(all_pts[0]))
                if start is not None and ts < start:
                    continue
                if end is not None and ts >= end:
                    break
                last = ts
                if concealed is not None and damaged is not None:
                    damaged.append(ts)
                    if errors is not None:
                        errors.append(
                            f"{info.path}: damaged frame at {float(ts * info.time_base_fraction):.3f} s "
                            f"(the decoder concealed: {concealed})"
                        )
                yield ts, frame
    finally:
        container.close()


_log_lock = threading.Lock()
_log_users = [0, None]
"""Decodes listening to FFmpeg's log now, and PyAV's log level before the first of them."""


@contextlib.contextmanager
def _decoder_log() -> Iterator[list[tuple[int, str, str]]]:
    """FFmpeg's error-level log lines while decoding: ``(level, component, message)``.

    Concealed damage ("error while decoding MB ...") is only ever logged, never raised. Lines from every thread
    are captured (frame threads log from their own); two decodes in one process at once share the lines, so a
    count may land on the other one. PyAV's level is raised to ERROR only while some decode listens.
    """
    with _log_lock:
        if _log_users[0] == 0:
            _log_users[1] = av.logging.get_level()
            if _log_users[1] is None or _log_users[1] < av.logging.ERROR:
                av.logging.set_level(av.logging.ERROR)
        _log_users[0] += 1
    try:
        with av.logging.Capture(local=False) as logs:
            yield logs
    finally:
        with _log_lock:
            _log_users[0] -= 1
            if _log_users[0] == 0:
                av.logging.set_level(_log_users[1])


def _decoded(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    path: str,
    errors: list[str] | None,
    *,
    listen: bool,
) -> Iterator[tuple[av.VideoFrame, str | None]]:
    """Frames in presentation order, skipping packets the decoder rejects, each with the decoder error it
    concealed (None when it decoded cleanly): a frame is damaged when FFmpeg flags it corrupt or logged an
    error while the packets up to it were decoded. Only a decode that counts damage (``listen``) captures
    FFmpeg's log; the others decode without touching it."""
    with _decoder_log() if listen else contextlib.nullcontext([]) as logs:
        seen = 0
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.FFmpegError as e:
                seen = len(logs)
                if errors is not None:
                    when = float(packet.pts * stream.time_base) if packet.pts is not None else -1.0
                    errors.append(f"{path}: undecodable packet at {when:.3f} s ({e.strerror or e})")
                continue
            for frame in frames:
                concealed = next((m.strip() for level, _, m in logs[seen:] if level <= av.logging.ERROR), None)
                seen = len(logs)
                yield frame, concealed or ("frame flagged corrupt" if frame.is_corrupt else None)


def _batch(frames: list[np.ndarray], pts: list[int], all_pts: np.ndarray, tb: Fraction) -> FrameBatch:
    pts_arr = np.asarray(pts, dtype=np.int64)
    index = np.clip(np.searchsorted(all_pts, pts_arr), 0, len(all_pts) - 1)
    return FrameBatch(
        frames=np.stack(frames),
        index=index.astype(np.int64),
        pts=pts_arr,
        time=pts_arr.astype(np.float64) * float(tb),
    )
