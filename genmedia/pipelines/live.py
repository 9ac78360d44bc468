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
3. ``drop-frames`` - input pictures are skipped while behind (the last output repeats; at least
   ``MIN_PICTURES_PER_S`` a second are still shown), the last resort.

So the expensive enhancement goes before any frame does. Every ``report_every_s`` the achieved frame rate,
the processing latency and the level are written to ``live.json`` (and passed to ``on_report``); the final
``live.json`` says why the stream ended. A sender that stops ends the run cleanly: the playlists get
``#EXT-X-ENDLIST`` and stay playable.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
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
MIN_PICTURES_PER_S = 4
"""Even when dropping, at least this many input pictures per second of media are enhanced and shown."""
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
            "url": self.url,
            "master": f"{self.folder}/{MASTER_NAME}",
            "source_fps": round(self.source_fps, 3),
            "achieved_fps": round(self.frames_in / self.wall_s, 2) if self.wall_s else 0.0,
            "frames_in": self.frames_in,
            "frames_processed": self.frames_processed,
            "frames_dropped": self.frames_dropped,
            "frames_out": self.frames_out,
            "packets_skipped": self.packets_skipped,
            "wall_s": round(self.wall_s, 3),
            "latency_s": {"p50": round(float(np.percentile(lat, 50)), 4), "max": round(float(lat.max()), 4)},
            "level": self.level,
            "degrade_order": list(LIVE_LADDER[1:]),
            "level_changes": self.level_changes,
            "ended": self.ended,
        }

    def line(self) -> str:
        """One line for the terminal."""
        d = self.to_dict()
        return (
            f"live: {d['achieved_fps']:.1f} fps (source {d['source_fps']:g}), latency p50 {d['latency_s']['p50'] * 1000:.0f} ms "
            f"max {d['latency_s']['max'] * 1000:.0f} ms, {self.frames_dropped} dropped, level {self.level}"
        )


class _Enhancer:
    """One libavfilter graph per level: picture in, one enhanced picture per rung out."""

    def __init__(self, frame: av.VideoFrame, sizes: list[tuple[int, int]], denoise: bool) -> None:
        self._graphs = {
            level: self._graph(frame, sizes, denoise and level == "full", level in ("full", "skip-denoise"))
            for level in LIVE_LADDER[:-1]
        }

    @staticmethod
    def _graph(
        frame: av.VideoFrame, sizes: list[tuple[int, int]], denoise: bool, fine: bool
    ) -> tuple[Any, Any, list[Any]]:
        graph = av.filter.Graph()
        last = src = graph.add_buffer(
            width=frame.width, height=frame.height, format=frame.format.name, time_base=Fraction(1, 90_000)
        )
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
        raise InputError(
            cfg.storage.root, "live output needs a local storage root (serve it from there or a CDN origin)"
        )
    key = hashlib.sha256(params.model_dump_json().encode()).hexdigest()[:16]
    return local_path(cfg.storage.root) / "live" / key


class _LiveRun:
    """One live run: the governor, the enhancer and the writer, fed one decoded frame at a time."""

    def __init__(
        self,
        cfg: Config,
        params: LiveParams,
        folder: Path,
        fps: Fraction,
        audio: bool,
        on_report: Callable[[LiveReport], None] | None,
    ) -> None:
        self.params, self.folder, self.fps, self.audio, self.on_report = params, folder, fps, audio, on_report
        self.report = LiveReport(url=params.url, folder=str(folder), source_fps=float(fps))
        self.governor = Governor(cfg.pipelines.enhance.realtime_max_lag_s, self.report, LIVE_LADDER)
        dc = cfg.delivery
        self.settings = EncodeSettings(
            codec=dc.codec, preset="veryfast", peak_factor=dc.peak_factor, buffer_seconds=dc.buffer_seconds
        )
        self.writer: LiveHlsWriter | None = None
        self.enhancer: _Enhancer | None = None
        self.last: list[av.VideoFrame] | None = None
        self.next_slot, self.seen_slot, self.t0, self.started, self.reported = 0, 0, 0.0, time.perf_counter(), 0.0

    def _start(self, frame: av.VideoFrame, now: float) -> None:
        top = (even(frame.width * self.params.upscale), even(frame.height * self.params.upscale))
        sizes = [top, (even(top[0] / 2), even(top[1] / 2))]
        rates = [
            bits_per_pixel_rate(s, float(self.fps), bpp) for s, bpp in zip(sizes, RUNG_BITS_PER_PIXEL, strict=True)
        ]
        self.writer = LiveHlsWriter(
            self.folder,
            list(zip(sizes, rates, strict=True)),
            self.fps,
            segment_seconds=self.params.segment_seconds,
            window=self.params.window,
            settings=self.settings,
            audio=self.audio,
            audio_bitrate=96_000,
        )
        self.enhancer = _Enhancer(frame, sizes, self.params.denoise)
        self.t0 = frame.time if frame.time is not None and math.isfinite(frame.time) else 0.0
        self.started = now

    def audio_frame(self, frame: av.AudioFrame) -> None:
        """Encode a decoded audio frame once the video has started."""
        if self.writer is not None:
            self.writer.write_audio(frame)

    def video_frame(self, frame: av.VideoFrame) -> None:
        """Enhance one picture at the governor's level (or drop it when far behind) and write its slots."""
        now = time.perf_counter()
        if self.writer is None:
            self._start(frame, now)
        report, governor = self.report, self.governor
        known = frame.time is not None and math.isfinite(frame.time)
        media_t = (
            frame.time - self.t0 if known else self.next_slot / float(self.fps)
        )  # a flushed picture may have no time
        lag = (now - self.started) - media_t  # how far the pictures being processed trail the sender
        report.frames_in += 1
        governor.update(lag, now, media_t)
        report.level = governor.name
        slot = max(self.next_slot, round(media_t * float(self.fps)))
        self.seen_slot = max(self.seen_slot, slot)
        keep_every = max(1, round(float(self.fps) / MIN_PICTURES_PER_S))
        if (
            not governor.allows("drop-frames")
            and self.last is not None
            and lag > governor.max_lag
            and slot - self.next_slot + 1 < keep_every
        ):
            report.frames_dropped += 1  # its slot is filled by the last picture when the next one is written
            return
        pictures = self.enhancer(frame, "fast-upscale" if governor.name == "drop-frames" else governor.name)
        for hole in range(self.next_slot, slot):  # dropped or missing pictures: the last one stays on screen
            self.writer.write(self.last or pictures, hole)
        self.writer.write(pictures, slot)
        report.frames_out += slot + 1 - self.next_slot
        self.next_slot, self.last = slot + 1, pictures
        report.frames_processed += 1
        report.latencies.append(time.perf_counter() - now)
        report.wall_s = time.perf_counter() - self.started
        if report.wall_s - self.reported >= self.params.report_every_s:
            self.reported = report.wall_s
            self.status()
        if self.params.max_seconds is not None and media_t >= self.params.max_seconds:
            raise LiveEnded(f"max_seconds ({self.params.max_seconds:g} s of media) reached")

    def finish(self) -> None:
        """Fill the slots of pictures dropped at the end with the last one, then end the playlists."""
        if self.writer is None:
            return
        if self.last is not None:
            for hole in range(self.next_slot, self.seen_slot + 1):
                self.writer.write(self.last, hole)
                self.report.frames_out += 1
        self.writer.close()

    def status(self) -> None:
        """Write live.json (atomically) and pass the report to ``on_report``."""
        tmp = self.folder / f".{STATUS_NAME}.tmp"
        tmp.write_text(json.dumps(self.report.to_dict(), indent=2), encoding="utf-8")
        tmp.replace(self.folder / STATUS_NAME)
        if self.on_report is not None:
            self.on_report(self.report)


def run_live(cfg: Config, params: LiveParams, *, on_report: Callable[[LiveReport], None] | None = None) -> LiveReport:
    """Enhance the live stream ``params.url`` until it ends (or ``max_seconds``); return the final report."""
    folder = live_folder(cfg, params)
    container = open_live(params.url, params.open_timeout_s, params.read_timeout_s)
    shutil.rmtree(folder, ignore_errors=True)  # a new run of the same stream starts a new live output
    video = container.streams.video[0]
    run = _LiveRun(
        cfg,
        params,
        folder,
        output_rate(float(video.average_rate or video.guessed_rate or 25)),
        bool(container.streams.audio),
        on_report,
    )
    try:
        for packet in live_packets(container, run.audio):
            for frame in _decoded(packet, run.report):
                run.video_frame(frame) if isinstance(frame, av.VideoFrame) else run.audio_frame(frame)
    except LiveEnded as e:
        run.report.ended = str(e)
        with contextlib.suppress(LiveEnded):
            for frame in video.codec_context.decode(None):  # the decoder's last pictures
                run.video_frame(frame)
    except KeyboardInterrupt:
        run.report.ended = "interrupted"
    finally:
        container.close()
        run.finish()
    if run.writer is None:
        raise InputError(params.url, f"the live input ended before a picture arrived ({run.report.ended})")
    run.report.wall_s = time.perf_counter() - run.started
    run.status()
    return run.report


def _decoded(packet: av.Packet, report: LiveReport) -> list[av.VideoFrame | av.AudioFrame]:
    """The packet's frames; none for a packet the decoder cannot use (joining mid-stream, a lost datagram)."""
    try:
        return packet.decode()
    except av.error.InvalidDataError:
        report.packets_skipped += 1
        return []


__all__ = ["LIVE_LADDER", "LiveParams", "LiveReport", "live_folder", "run_live"]
