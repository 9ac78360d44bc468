"""Runs in a child process: open one media file with bounded probing and print its raw facts as JSON.

Kept separate from :mod:`genmedia.media.probe` so that a file which crashes FFmpeg (a truncated
bitstream can SIGSEGV) or hangs it takes down only this child. Usage::

    python -m genmedia.media.probe_worker PATH PROBESIZE_BYTES ANALYZEDURATION_US
"""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from typing import Any

import av
import numpy as np

# Demuxers a media file may use. Playlists (hls, concat, ...) that could pull in other files are absent.
FORMAT_WHITELIST = ",".join(
    [
        "mov",
        "mp4",
        "m4a",
        "3gp",
        "matroska",
        "webm",
        "avi",
        "mpegts",
        "flv",
        "ogg",
        "wav",
        "flac",
        "mp3",
        "aac",
        "asf",
        "mpeg",
        "mxf",
        "h264",
        "hevc",
        "ivf",
        "w64",
        "aiff",
        "caf",
        "yuv4mpegpipe",
        "nut",
        "dv",
    ]
)


def _open(path: str, probesize: int, analyzeduration_us: int) -> av.container.InputContainer:
    return av.open(
        path,
        options={
            "protocol_whitelist": "file",
            "format_whitelist": FORMAT_WHITELIST,
            "probesize": str(probesize),
            "analyzeduration": str(analyzeduration_us),
        },
    )


def _scan_video(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> dict[str, Any]:
    """Demux every video packet (no decoding): exact frame count, timestamps, keyframes."""
    pts: list[int] = []
    keyframe_pts: list[int] = []
    durations: list[int] = []
    error = None
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is None:
                continue
            pts.append(ts)
            durations.append(packet.duration or 0)
            if packet.is_keyframe:
                keyframe_pts.append(ts)
    except av.error.FFmpegError as e:
        error = f"{type(e).__name__}: {e}"
    order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
    sorted_pts = np.asarray(pts, dtype=np.int64)[order]
    last_duration = int(np.asarray(durations, dtype=np.int64)[order][-1]) if pts else 0
    return {
        "frame_pts": sorted_pts.tolist(),
        "keyframe_pts": sorted(keyframe_pts),
        "last_duration": last_duration,
        "demux_error": error,
    }


def _first_frame(path: str, probesize: int, analyzeduration_us: int) -> dict[str, Any]:
    """Decode the first video frame: rotation and picture format as the decoder sees them."""
    with _open(path, probesize, analyzeduration_us) as container:
        stream = container.streams.video[0]
        try:
            for frame in container.decode(stream):
                return {"rotation": int(frame.rotation or 0), "pix_fmt": frame.format.name, "decodable": True}
        except av.error.FFmpegError as e:
            return {"decodable": False, "decode_error": f"{type(e).__name__}: {e}"}
    return {"decodable": False, "decode_error": "no frame could be decoded"}


def _fraction(value: Fraction | None) -> str | None:
    return f"{value.numerator}/{value.denominator}" if value else None


def probe_raw(path: str, probesize: int, analyzeduration_us: int) -> dict[str, Any]:
    """All the facts :mod:`genmedia.media.probe` validates, as plain JSON types."""
    with _open(path, probesize, analyzeduration_us) as container:
        facts: dict[str, Any] = {
            "container": container.format.name,
            "container_duration": container.duration / av.time_base if container.duration else None,
            "stream_count": len(container.streams),
            "audio_streams": [
                {
                    "index": s.index,
                    "codec": s.codec_context.name,
                    "sample_rate": s.codec_context.sample_rate,
                    "channels": s.codec_context.channels,
                    "duration": float(s.duration * s.time_base) if s.duration and s.time_base else None,
                    "language": s.language,
                }
                for s in container.streams.audio
            ],
            "video": None,
        }
        if not container.streams.video:
            return facts
        stream = container.streams.video[0]
        cc = stream.codec_context
        video = {
            "codec": cc.name,
            "width": cc.width,
            "height": cc.height,
            "sample_aspect_ratio": _fraction(cc.sample_aspect_ratio or stream.sample_aspect_ratio),
            "time_base": _fraction(stream.time_base),
            "start_pts": stream.start_time,
            "header_frames": stream.frames,
            "average_rate": _fraction(stream.average_rate),
            "guessed_rate": _fraction(stream.guessed_rate),
            "rotate_tag": stream.metadata.get("rotate"),
            "color_primaries": cc.color_primaries,
            "color_trc": cc.color_trc,
            "colorspace": cc.colorspace,
            "color_range": cc.color_range,
        }
        video.update(_scan_video(container, stream))
    video.update(_first_frame(path, probesize, analyzeduration_us))
    facts["video"] = video
    return facts


def main(argv: list[str]) -> int:
    """Print the facts of ``argv[0]`` as JSON; on an FFmpeg error print ``{"error": ...}``."""
    path, probesize, analyzeduration_us = argv[0], int(argv[1]), int(argv[2])
    try:
        out = probe_raw(path, probesize, analyzeduration_us)
    except av.error.FFmpegError as e:
        out = {"error": str(e.strerror or e), "error_type": type(e).__name__}
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
