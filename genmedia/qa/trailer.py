"""Trailer checks: length within the request, audio and video in sync, loudness at the target (EBU R128).

A/V sync compares the audio and video streams' durations, read from their packets (no decode). Loudness is
FFmpeg's ``ebur128`` filter (through PyAV) over the decoded sound: its integrated loudness (ITU-R BS.1770
gating, as EBU R128 prescribes) against ``pipelines.trailer.target_lufs``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import av
import av.filter

from genmedia.qa.verdict import QaInput, local_copy
from genmedia.schemas import QaCheck

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm")


@dataclass(frozen=True)
class StreamSpans:
    """Seconds each stream of a file lasts, from its first packet's start to its last packet's end."""

    video: float | None
    audio: float | None


def stream_spans(path: Path) -> StreamSpans:
    """The first video and first audio stream's durations in ``path``, from their packets' timestamps."""
    with av.open(str(path)) as container:
        wanted = [*container.streams.video[:1], *container.streams.audio[:1]]
        bounds: dict[int, tuple[float, float]] = {}
        for packet in container.demux(wanted):
            if packet.pts is None:
                continue
            tb = float(packet.time_base)
            start, end = packet.pts * tb, (packet.pts + (packet.duration or 0)) * tb
            lo, hi = bounds.get(packet.stream.index, (math.inf, -math.inf))
            bounds[packet.stream.index] = (min(lo, start), max(hi, end))
        spans = {s.type: bounds[s.index][1] - bounds[s.index][0] for s in wanted if s.index in bounds}
    return StreamSpans(video=spans.get("video"), audio=spans.get("audio"))


def integrated_loudness(path: Path) -> float | None:
    """EBU R128 integrated loudness (LUFS) of the first audio stream of ``path`` (FFmpeg's ``ebur128``); None
    without audio, ``-inf`` for silence."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        graph = av.filter.Graph()
        source = graph.add_abuffer(template=stream)
        meter = graph.add("ebur128", "metadata=1")
        sink = graph.add("abuffersink")
        source.link_to(meter)
        meter.link_to(sink)
        graph.configure()
        value: str | None = None

        def drain() -> None:
            nonlocal value
            while True:
                try:
                    frame = sink.pull()
                except (av.error.BlockingIOError, av.error.EOFError):
                    return
                value = frame.metadata.get("lavfi.r128.I", value)

        for frame in container.decode(stream):
            source.push(frame)
            drain()
        source.push(None)
        drain()
    return -math.inf if value is None else float(value)


def duration_check(name: str, seconds: float, requested: float, tolerance: float) -> QaCheck:
    """``duration``: the output lasts ``requested`` seconds, within ``tolerance``."""
    off = seconds - requested
    return QaCheck(
        name="duration",
        output=name,
        passed=abs(off) <= tolerance,
        value=round(seconds, 3),
        reason=f"{seconds:.2f} s for {requested:g} s requested ({off:+.2f} s, tolerance {tolerance:g} s)",
    )


def av_sync_check(name: str, spans: StreamSpans, tolerance: float) -> QaCheck:
    """``av_sync``: the audio and video streams last as long as each other, within ``tolerance`` seconds."""
    if spans.audio is None or spans.video is None:
        return QaCheck(name="av_sync", output=name, passed=True, reason="one stream only: nothing to keep in sync")
    off = spans.audio - spans.video
    return QaCheck(
        name="av_sync",
        output=name,
        passed=abs(off) <= tolerance,
        value=round(off, 3),
        reason=f"audio {spans.audio:.3f} s, video {spans.video:.3f} s ({off:+.3f} s, tolerance {tolerance:g} s)",
    )


def loudness_check(name: str, lufs: float, target: float, tolerance: float) -> QaCheck:
    """``loudness``: integrated loudness within ``tolerance`` LU of ``target`` LUFS."""
    ok = math.isfinite(lufs) and abs(lufs - target) <= tolerance
    shown = f"{lufs:.1f} LUFS" if math.isfinite(lufs) else "silent"
    return QaCheck(
        name="loudness",
        output=name,
        passed=ok,
        value=round(lufs, 2) if math.isfinite(lufs) else None,
        reason=f"{shown} (EBU R128 integrated) for a target of {target:g} LUFS +- {tolerance:g} LU",
    )


def check(qa: QaInput) -> list[QaCheck]:
    """Each rendition of the trailer (the top-level videos): duration, A/V sync and loudness."""
    settings = qa.cfg.qa
    requested = float(qa.params.get("duration", qa.details.get("duration", 0.0)))
    checks = []
    for name in qa.names(*VIDEO_SUFFIXES):
        if "/" in name:  # streaming segments under package/: made from the renditions checked here
            continue
        with local_copy(qa, name) as path:
            spans = stream_spans(path)
            lufs = integrated_loudness(path)
        if spans.video is not None:
            checks.append(duration_check(name, spans.video, requested, settings.duration_tolerance_s))
        checks.append(av_sync_check(name, spans, settings.av_sync_tolerance_s))
        if lufs is not None:
            checks.append(
                loudness_check(name, lufs, qa.cfg.pipelines.trailer.target_lufs, settings.loudness_tolerance_lu)
            )
    return checks


__all__ = [
    "StreamSpans",
    "av_sync_check",
    "check",
    "duration_check",
    "integrated_loudness",
    "loudness_check",
    "stream_spans",
]
