"""Live enhancement: a live stream in, enhanced, out as a live multi-rung HLS stream a player can join.

``genmedia enhance --live URL`` reads MPEG-TS over UDP/TCP or a growing HLS playlist
(``genmedia.media.live``), enhances each picture with one libavfilter graph (denoise, Lanczos upscale,
unsharp mask, split into the rungs) and writes ``{root}/live/{stream}/master.m3u8`` with a rolling window
of fMP4 segments per rung. The whole path runs in this process, frame by frame: latency is one frame's
processing plus the encoder (``tune=zerolatency``) and the segment length a player buffers.

When processing falls behind real time by more than ``pipelines.enhance.realtime_max_lag_s`` the
governor (shared with the file-based real-time mode) sheds work in this order, and takes it back after a
second of keeping up:

1. ``skip-denoise`` - no denoising;
2. ``fast-upscale`` - bilinear scaling, no sharpening;
3. ``drop-frames`` - input pictures are skipped (the last output repeats), the last resort.

So the expensive enhancement goes before any frame does. Every ``report_every_s`` the achieved frame rate,
the processing latency and the level are written to ``live.json`` (and passed to ``on_report``); the final
``live.json`` says why the stream ended. A sender that stops ends the run cleanly: the playlists get
``#EXT-X-ENDLIST`` and stay playable.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import av.filter
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from genmedia.config import Config
from genmedia.errors import InputError
from genmedia.media.cmaf import EncodeSettings, bits_per_pixel_rate, even, output_rate
from genmedia.media.live import MASTER_NAME, LiveEnded, LiveHlsWriter, live_packets, open_live
from genmedia.pipelines.realtime import Governor
from genmedia.storage import is_local, local_path
from genmedia.validation import OneLine

LIVE_LADDER = ("full", "skip-denoise", "fast-upscale", "drop-frames")
"""Quality levels of live enhancement, best first; each sheds one more thing than the one before."""
STATUS_NAME = "live.json"
RUNG_BITS_PER_PIXEL = (0.08, 0.1)
"""Average rate of the top and lower rungs, bits per pixel per frame (the lower rung is small: more per pixel)."""


class LiveParams(BaseModel):
    """What to do with a live stream."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: OneLine = Field(max_length=2048, description="udp://HOST:PORT, tcp://HOST:PORT?listen=1 or a local .m3u8.")
    upscale: int = Field(1, ge=1, le=2, description="Scale factor of the top rung (1 or 2).")
    denoise: bool = Field(True, description="Denoise (bilateral filter) while the stream keeps up.")
    segment_seconds: float = Field(2.0, gt=0, le=10, description="Segment length of the live output.")
    window: int = Field(6, ge=2, le=60, description="Segments kept in each live playlist.")
    max_seconds: float | None = Field(None, gt=0, le=86_400, description="Stop after this much media time.")
    open_timeout_s: float = Field(10.0, gt=0, le=600, description="Give up when no stream arrives within this.")
    read_timeout_s: float = Field(3.0, gt=0, le=600, description="End when the sender is silent this long.")
    report_every_s: float = Field(5.0, gt=0, le=600, description="Status (live.json) interval.")


@dataclass
class LiveReport:
    """How the live run is going (and, at the end, how it went)."""

    url: str
    folder: str
    source_fps: float = 0.0
    frames_in: int = 0
    frames_processed: int = 0
    frames_dropped: int = 0
    frames_out: int = 0
    packets_skipped: int = 0
    wall_s: float = 0.0
    latencies: list[float] = field(default_factory=list, repr=False)
    level: str = LIVE_LADDER[0]
    level_changes: list[dict[str, Any]] = field(default_factory=list)
    ended: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with latency percentiles of the frames so far."""
        lat = np.asarray(self.latencies[-5000:] or [0.0])
        return {
            "url": self.url, "master": f"{self.folder}/{MASTER_NAME}", "source_fps": round(self.source_fps, 3),
            "achieved_fps": round(self.frames_in / self.wall_s, 2) if self.wall_s else 0.0,
            "frames_in": self.frames_in, "frames_processed": self.frames_processed,
            "frames_dropped": self.frames_dropped, "frames_out": self.frames_out, "packets_skipped": self.packets_skipped,
            "wall_s": round(self.wall_s, 3),
            "latency_s": {"p50": round(float(np.percentile(lat, 50)), 4), "max": round(float(lat.max()), 4)},
            "level": self.level, "degrade_order": list(LIVE_LADDER[1:]), "level_changes": self.level_changes,
            "ended": self.ended,
        }

    def line(self) -> str:
        """One line for the terminal."""
        d = self.to_dict()
        return (f"live: {d['achieved_fps']:.1f} fps (source {d['source_fps']:g}), latency p50 {d['latency_s']['p50'] * 1000:.0f} ms "
                f"max {d['latency_s']['max'] * 1000:.0f} ms, {self.frames_dropped} dropped, level {self.level}")


class _Enhancer:
    """One libavfilter graph per level: picture in, one enhanced picture per rung out."""

    def __init__(self, frame: av.VideoFrame, sizes: list[tuple[int, int]], denoise: bool) -> None:
        self._graphs = {level: self._graph(frame, sizes, denoise and level == "full", level in ("full", "skip-denoise"))
                        for level in LIVE_LADDER[:-1]}

    @staticmethod
    def _graph(frame: av.VideoFrame, sizes: list[tuple[int, int]], denoise: bool, fine: bool) -> tuple[Any, Any, list[Any]]:
        graph = av.filter.Graph()
        last = src = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format.name,
                                      time_base=Fraction(1, 90_000))
        if denoise:
            node = graph.add("bilateral", "sigmaS=2:sigmaR=0.06")
            last.link_to(node)
            last = node
        split = graph.add("split", str(len(sizes)))
        last.link_to(split)
        sinks = []
        for i, (w, h) in enumerate(sizes):
            chain = [graph.add("scale", f"{w}:{h}:flags={'lanczos' if fine else 'fast_bilinear'}")]
            if fine:
                chain.append(graph.add("unsharp", "5:5:0.6:5:5:0.0"))
            chain += [graph.add("format", "yuv420p"), graph.add("buffersink")]
            split.link_to(chain[0], i, 0)
            for a, b in zip(chain, chain[1:], strict=False):
                a.link_to(b)
            sinks.append(chain[-1])
        graph.configure()
        return graph, src, sinks  # the graph owns the filter contexts: keep it alive with them

    def __call__(self, frame: av.VideoFrame, level: str) -> list[av.VideoFrame]:
        _, src, sinks = self._graphs[level]
        src.push(frame)
        return [sink.pull() for sink in sinks]


def live_folder(cfg: Config, params: LiveParams) -> Path:
    """``{root}/live/{stream}``: a local folder (a live output is rewritten as it runs; S3 roots are refused)."""
    if not is_local(cfg.storage.root):
        raise InputError(cfg.storage.root, "live output needs a local storage root (serve it from there or a CDN origin)")
    key = hashlib.sha256(params.model_dump_json().encode()).hexdigest()[:16]
    return local_path(cfg.storage.root) / "live" / key


def run_live(cfg: Config, params: LiveParams, *, on_report: Callable[[LiveReport], None] | None = None) -> LiveReport:
    """Enhance the live stream ``params.url`` until it ends (or ``max_seconds``); return the final report."""
    folder = live_folder(cfg, params)
    container = open_live(params.url, params.open_timeout_s, params.read_timeout_s)
    shutil.rmtree(folder, ignore_errors=True)  # a new run of the same stream starts a new live output
    report = LiveReport(url=params.url, folder=str(folder))
    governor = Governor(cfg.pipelines.enhance.realtime_max_lag_s, report, LIVE_LADDER)
    dc = cfg.delivery
    settings = EncodeSettings(codec=dc.codec, preset="veryfast", peak_factor=dc.peak_factor, buffer_seconds=dc.buffer_seconds)
    video = container.streams.video[0]
    audio = bool(container.streams.audio)
    fps = output_rate(float(video.average_rate or video.guessed_rate or 25))
    report.source_fps = float(fps)
    writer: LiveHlsWriter | None = None
    enhancer: _Enhancer | None = None
    last: list[av.VideoFrame] | None = None
    next_slot, t0, started, reported = 0, None, time.perf_counter(), 0.0
    try:
        for packet in live_packets(container, audio):
            for frame in _decoded(packet, report):
                if isinstance(frame, av.AudioFrame):
                    if writer is not None:
                        writer.write_audio(frame)
                    continue
                now = time.perf_counter()
                if writer is None:
                    top = (even(frame.width * params.upscale), even(frame.height * params.upscale))
                    sizes = [top, (even(top[0] / 2), even(top[1] / 2))]
                    rates = [bits_per_pixel_rate(s, float(fps), bpp) for s, bpp in zip(sizes, RUNG_BITS_PER_PIXEL, strict=True)]
                    writer = LiveHlsWriter(folder, list(zip(sizes, rates, strict=True)), fps, segment_seconds=params.segment_seconds,
                                           window=params.window, settings=settings, audio=audio, audio_bitrate=96_000)
                    enhancer = _Enhancer(frame, sizes, params.denoise)
                    t0, started = frame.time or 0.0, now
                media_t = (frame.time or 0.0) - t0
                lag = (now - started) - media_t  # how far the pictures being processed trail the sender
                report.frames_in += 1
                governor.update(lag, now, media_t)
                report.level = governor.name
                slot = max(next_slot, round(media_t * float(fps)))
                if not governor.allows("drop-frames") and last is not None and lag > governor.max_lag:
                    report.frames_dropped += 1
                    continue
                pictures = enhancer(frame, "fast-upscale" if governor.name == "drop-frames" else governor.name)
                for hole in range(next_slot, slot):  # dropped or missing pictures: the last one stays on screen
                    writer.write(last or pictures, hole)
                writer.write(pictures, slot)
                report.frames_out += slot + 1 - next_slot
                next_slot, last = slot + 1, pictures
                report.frames_processed += 1
                report.latencies.append(time.perf_counter() - now)
                report.wall_s = time.perf_counter() - started
                if report.wall_s - reported >= params.report_every_s:
                    reported = report.wall_s
                    _write_status(folder, report, on_report)
                if params.max_seconds is not None and media_t >= params.max_seconds:
                    raise LiveEnded(f"max_seconds ({params.max_seconds:g} s of media) reached")
    except LiveEnded as e:
        report.ended = str(e)
    except KeyboardInterrupt:
        report.ended = "interrupted"
    finally:
        container.close()
        if writer is not None:
            writer.close()
    if writer is None:
        raise InputError(params.url, f"the live input ended before a picture arrived ({report.ended})")
    report.wall_s = time.perf_counter() - started
    _write_status(folder, report, on_report)
    return report


def _decoded(packet: av.Packet, report: LiveReport) -> list[av.VideoFrame | av.AudioFrame]:
    """The packet's frames; none for a packet the decoder cannot use (joining mid-stream, a lost datagram)."""
    try:
        return packet.decode()
    except av.error.InvalidDataError:
        report.packets_skipped += 1
        return []


def _write_status(folder: Path, report: LiveReport, on_report: Callable[[LiveReport], None] | None) -> None:
    tmp = folder / f".{STATUS_NAME}.tmp"
    tmp.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    tmp.replace(folder / STATUS_NAME)
    if on_report is not None:
        on_report(report)


__all__ = ["LIVE_LADDER", "LiveParams", "LiveReport", "live_folder", "run_live"]
