"""Validated metadata of a media file, probed in a child process with bounded probing and a timeout.

``probe(path, limits)`` returns :class:`MediaInfo` or raises :class:`InputError` naming the file and
the reason: missing, empty, too big, not media, truncated, crashed the decoder, over a limit, or (with
``require_video``) audio-only. Frame counts and timestamps come from a full demux of the video packets
(no decoding), so files without a frame count in the header and variable-frame-rate files are exact. The
child's report is reused while the file is unchanged, so probing a file again in a process is free.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import threading
from collections import OrderedDict
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from genmedia.config import LimitsConfig
from genmedia.errors import InputError
from genmedia.media.origin import Origin, local_media_path

VFR_TOLERANCE = 0.10
"""Frame durations spread by more than this fraction of the median make a stream variable-rate."""

HDR_TRANSFERS = {16: "pq", 18: "hlg"}
"""FFmpeg AVColorTransferCharacteristic values of HDR transfers (SMPTE ST 2084, ARIB STD-B67)."""


class AudioStreamInfo(BaseModel):
    """One audio stream."""

    index: int
    codec: str
    sample_rate: int
    channels: int
    duration: float | None = None
    language: str | None = None


class MediaInfo(BaseModel):
    """What a job needs to know about its input before any work starts."""

    model_config = ConfigDict(frozen=True)

    path: str
    container: str
    size_bytes: int
    duration: float = Field(description="Seconds: video stream when present, else the container's.")
    has_video: bool
    video_codec: str | None = None
    width: int = 0
    height: int = 0
    sample_aspect_ratio: str = "1:1"
    display_width: int = Field(0, description="Width as shown: SAR applied, then rotation.")
    display_height: int = 0
    rotation: int = Field(0, description="Degrees the picture is rotated for display (0, 90, 180, 270).")
    fps: float = Field(0.0, description="Nominal rate for constant-rate video; frames/duration if variable.")
    frame_count: int = 0
    header_frame_count: int | None = Field(None, description="What the container claims; None if absent.")
    variable_frame_rate: bool = False
    pix_fmt: str | None = None
    bit_depth: int | None = None
    hdr: str | None = Field(None, description="'pq' or 'hlg' for HDR transfers, else None.")
    start_time: float = 0.0
    time_base: str | None = None
    audio_streams: list[AudioStreamInfo] = Field(default_factory=list)
    stream_count: int = 0
    frame_pts: list[int] = Field(default_factory=list, exclude=True, repr=False)
    keyframe_pts: list[int] = Field(default_factory=list, exclude=True, repr=False)
    origin: Origin | None = Field(
        None, exclude=True, repr=False, description="Set by a job: where a worker re-stages the input."
    )

    @property
    def local_path(self) -> str:
        """The file on this node: :attr:`path`, or a copy staged here from :attr:`origin` (multi-node)."""
        return local_media_path(self.path, self.origin)

    @property
    def has_audio(self) -> bool:
        """Whether the file has at least one audio stream."""
        return bool(self.audio_streams)

    @property
    def time_base_fraction(self) -> Fraction:
        """The video stream's time base."""
        if not self.time_base:
            raise ValueError(f"{self.path}: no video time base")
        return Fraction(self.time_base)

    def summary(self) -> dict[str, Any]:
        """The JSON the CLI prints (frame and keyframe timestamps left out)."""
        return self.model_dump()


def _worker_command(path: str, limits: LimitsConfig) -> list[str]:
    return [
        sys.executable,
        "-m",
        "genmedia.media.probe_worker",
        path,
        str(limits.probesize_bytes),
        str(int(limits.analyzeduration_s * 1_000_000)),
    ]


_REPORTS: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
_REPORTS_LOCK = threading.Lock()
REPORTS_KEPT = 64
"""Child reports kept per process: a job, the analysis it loads and its stages probe one file several times."""


def _report(path: str, limits: LimitsConfig) -> dict[str, Any]:
    """The child's report on ``path``, reused while the file is unchanged (same size and modification
    time) and probed the same way; failures are never reused (a timeout may not recur)."""
    stat = os.stat(path)
    key = (
        os.path.realpath(path),
        stat.st_size,
        stat.st_mtime_ns,
        tuple(_worker_command(path, limits)),
        limits.probe_timeout_s,
    )
    with _REPORTS_LOCK:
        if key in _REPORTS:
            _REPORTS.move_to_end(key)
            return copy.deepcopy(_REPORTS[key])
    raw = _run_worker(path, limits)
    if "error" not in raw:
        with _REPORTS_LOCK:
            _REPORTS[key] = copy.deepcopy(raw)
            while len(_REPORTS) > REPORTS_KEPT:
                _REPORTS.popitem(last=False)
    return raw


def _run_worker(path: str, limits: LimitsConfig) -> dict[str, Any]:
    cmd = _worker_command(path, limits)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limits.probe_timeout_s)
    except subprocess.TimeoutExpired:
        raise InputError(
            path, f"probing took longer than {limits.probe_timeout_s:g} s (limits.probe_timeout_s)"
        ) from None
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        raise InputError(path, f"the file crashed the decoder ({name}) while probing; it is not processed")
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(path, f"probing failed ({last})")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise InputError(path, "probing produced no result") from None


def _check_file(path: str, limits: LimitsConfig) -> int:
    p = Path(path)
    if not p.exists():
        raise InputError(path, "does not exist")
    if p.is_dir():
        raise InputError(path, "is a directory, not a media file")
    size = p.stat().st_size
    if size == 0:
        raise InputError(path, "is empty (0 bytes)")
    if size > limits.max_file_bytes:
        raise InputError(
            path, f"is {size:,} bytes, over the limit of {limits.max_file_bytes:,} (limits.max_file_bytes)"
        )
    return size


def _display_size(width: int, height: int, sar: Fraction, rotation: int) -> tuple[int, int]:
    if sar > 1:
        width = int(round(width * sar))
    elif sar < 1:
        height = int(round(height / sar))
    width += width % 2
    height += height % 2
    return (height, width) if rotation in (90, 270) else (width, height)


def _rotation(video: dict[str, Any]) -> int:
    degrees = video.get("rotation") or 0
    if not degrees and video.get("rotate_tag"):
        degrees = int(float(video["rotate_tag"]))
    return int(round(degrees / 90.0)) * 90 % 360


def _bit_depth(pix_fmt: str | None) -> int | None:
    if not pix_fmt:
        return None
    for depth in (16, 14, 12, 10, 9):
        if f"p{depth}" in pix_fmt:
            return depth
    return 8


def _video_fields(path: str, video: dict[str, Any]) -> dict[str, Any]:
    if not video.get("decodable"):
        raise InputError(path, f"no video frame can be decoded ({video.get('decode_error', 'unknown error')})")
    pts = np.asarray(video["frame_pts"], dtype=np.int64)
    if len(pts) == 0:
        raise InputError(path, "the video stream has no frames")
    tb = Fraction(video["time_base"])
    header = video["header_frames"] or None
    if video["demux_error"] or (header and len(pts) < header * 0.98 - 1):
        found = f"{len(pts)} of {header} frames" if header else f"{len(pts)} frames"
        detail = f"; {video['demux_error']}" if video["demux_error"] else ""
        raise InputError(path, f"is truncated or corrupt: only {found} could be read{detail}")
    steps = np.diff(pts)
    median = float(np.median(steps)) if len(steps) else 0.0
    step = median or float(video["last_duration"] or 0) or (1 / float(tb) / 25)
    last_duration = video["last_duration"] or step
    duration = float((int(pts[-1]) - int(pts[0]) + last_duration) * tb)
    vfr = bool(len(steps) > 1 and (steps.max() - steps.min()) > VFR_TOLERANCE * median)
    nominal = Fraction(video["average_rate"] or video["guessed_rate"] or 0)
    fps = len(pts) / duration if vfr or not nominal else float(nominal)
    sar = Fraction(video["sample_aspect_ratio"]) if video["sample_aspect_ratio"] else Fraction(1)
    rotation = _rotation(video)
    display_w, display_h = _display_size(video["width"], video["height"], sar, rotation)
    return {
        "video_codec": video["codec"],
        "width": video["width"],
        "height": video["height"],
        "sample_aspect_ratio": f"{sar.numerator}:{sar.denominator}",
        "display_width": display_w,
        "display_height": display_h,
        "rotation": rotation,
        "fps": round(fps, 6),
        "frame_count": len(pts),
        "header_frame_count": header,
        "variable_frame_rate": vfr,
        "pix_fmt": video.get("pix_fmt"),
        "bit_depth": _bit_depth(video.get("pix_fmt")),
        "hdr": HDR_TRANSFERS.get(video.get("color_trc")),
        "start_time": float(int(pts[0]) * tb),
        "time_base": video["time_base"],
        "duration": duration,
        "frame_pts": pts.tolist(),
        "keyframe_pts": video["keyframe_pts"] or [int(pts[0])],
    }


def _check_limits(info: MediaInfo, limits: LimitsConfig) -> None:
    if info.stream_count > limits.max_streams:
        raise InputError(
            info.path, f"has {info.stream_count} streams, over the limit of {limits.max_streams} (limits.max_streams)"
        )
    if info.duration > limits.max_duration_s:
        raise InputError(
            info.path,
            f"lasts {info.duration:.0f} s, over the limit of {limits.max_duration_s:.0f} s (limits.max_duration_s)",
        )
    if info.width * info.height > limits.max_pixels:
        raise InputError(
            info.path,
            f"is {info.width}x{info.height} = {info.width * info.height:,} pixels, over the limit of "
            f"{limits.max_pixels:,} (limits.max_pixels)",
        )


def probe(path: str | os.PathLike[str], limits: LimitsConfig | None = None, *, require_video: bool = True) -> MediaInfo:
    """Probe a local media file in a child process and validate it against ``limits``.

    Raises InputError (one line: the file and the reason) for anything that makes the file unusable.
    With ``require_video=False`` an audio-only file is accepted (``has_video`` is False).
    """
    path = str(path)
    limits = limits or LimitsConfig()
    size = _check_file(path, limits)
    raw = _report(path, limits)
    if "error" in raw:
        raise InputError(path, f"is not a media file FFmpeg can read ({raw['error']})")
    fields: dict[str, Any] = {
        "path": path,
        "container": raw["container"],
        "size_bytes": size,
        "duration": raw["container_duration"] or 0.0,
        "has_video": raw["video"] is not None,
        "audio_streams": raw["audio_streams"],
        "stream_count": raw["stream_count"],
    }
    if raw["video"] is None:
        if require_video:
            what = "audio-only file" if raw["audio_streams"] else "no audio either"
            raise InputError(path, f"has no video stream ({what})")
        if not raw["audio_streams"]:
            raise InputError(path, "has neither a video nor an audio stream")
    else:
        fields.update(_video_fields(path, raw["video"]))
    info = MediaInfo(**fields)
    _check_limits(info, limits)
    return info
