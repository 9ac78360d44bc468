"""The enhancement job: decode -> denoise -> upscale -> interpolate -> grade -> (HDR) -> encode.

Stages (:func:`build`), each a Ray Data ``map_batches`` over *windows* (runs of consecutive frames,
one row each, see :mod:`genmedia.enhance.window`), so memory stays bounded by a few windows per stage:

1. **decode** (a task per keyframe-aligned segment, 1 CPU each, segments in parallel): frames of the
   segment plus a halo of neighbours for the temporal stages; small-gray differences flag stutters.
2. **denoise** (tasks, 1 CPU): FFmpeg's ``atadenoise`` in a libavfilter graph started afresh at every
   shot boundary (no frame averaged with another shot), strength measured on keyframes when ``auto``;
   drops the halo.
3. **upscale**: with weights, actors of :class:`~genmedia.deployments.upscaler.Upscaler` (resources from
   ``models.upscaler``); without, tasks running FFmpeg's Lanczos ``scale`` + ``unsharp``.
4. **interpolate** (actors of :class:`~genmedia.deployments.interpolator.Interpolator`, resources from
   ``models.interpolator``): output frames at exact ``k / fps`` times, never blended across a shot.
5. **grade** (tasks, 1 CPU): each shot's grade, computed beforehand from the colour statistics the
   analysis job measured on its sampled frames (no decode of its own), so it is constant within a shot.
6. **hdr** (tasks, 1 CPU): BT.2020 PQ/HLG inverse tone mapping.
7. **encode** (the driver, in window order): 8-bit BT.709 or 10-bit BT.2020 with HDR10 metadata (an HDR10
   source's own mastering display and content light); source audio copied, rotation and SAR kept.

When no stage needs RGB (no model upscaler, interpolation, grading or SDR->HDR), frames travel as the
output's planar Y'CbCr from decode to encode (:attr:`~genmedia.enhance.plan.Plan.frames_fmt`): no colour
conversion at all, half the bytes of RGB per frame.

Shots come from the analysis job (:func:`genmedia.pipelines.analyze.load_analysis`). Outputs:
``enhanced.mp4``, ``enhance.json`` (what was applied, backends, per-shot grades, metrics, throughput),
``grade.cube`` when graded, then ``manifest.json``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import ray

from genmedia.config import Config
from genmedia.deployments.contract import Model
from genmedia.deployments.interpolator import Interpolator
from genmedia.deployments.upscaler import Upscaler
from genmedia.enhance import denoise as dn
from genmedia.enhance import grade as gr
from genmedia.enhance.filters import to_frame
from genmedia.enhance.hdr import HdrMetadata, content_light, sdr_to_hdr
from genmedia.enhance.interpolate import output_count, stutters
from genmedia.enhance.metrics import psnr, ssim, vmaf_note
from genmedia.enhance.pixels import from_unit, resize, small_gray
from genmedia.enhance.plan import Params, Plan, keyframe_samples, plan_output, reference_stats
from genmedia.enhance.resample import upscale_frames
from genmedia.enhance.stream import classical_filters, filter_stream
from genmedia.enhance.window import Window, pack, pack_windows, rows, windows
from genmedia.enhance.writer import EnhancedWriter, OutputFormat
from genmedia.media.decode import Segment, decode_frames, decoder_threads, iter_frames
from genmedia.media.encode import to_fraction
from genmedia.media.probe import MediaInfo, probe
from genmedia.pipelines.analyze import load_analysis
from genmedia.pipelines.frames import decode_stage, video_segments
from genmedia.pipelines.job import JobContext, JobOutcome, run_job
from genmedia.pipelines.models import map_model
from genmedia.pipelines.package import package_output
from genmedia.pipelines.realtime import run_realtime
from genmedia.progress import ProgressFn, no_progress
from genmedia.schemas import JobResult
from genmedia.storage import filesystem, stage_input

JOB = "enhance"
VIDEO = "enhanced.mp4"
REPORT = "enhance.json"
LUT = "grade.cube"
CLASSICAL_FILTERS = "classical (FFmpeg scale lanczos + unsharp)"
DIFF_WIDTH = 160
"""Width of the gray pictures frame differences (stutter detection) are measured on."""
WINDOWS_IN_FLIGHT = 4
"""Largest windows (``pipelines.enhance.window_mb`` each) the job's dataset may hold in Ray's object store."""


# ------------------------------------------------------------------------------------ stages


def _timed(items: list[Window], stage: str, started: float) -> dict[str, np.ndarray]:
    """The windows as a batch, the time since ``started`` shared among them as ``stage``'s."""
    seconds = (time.perf_counter() - started) / max(1, len(items))
    return pack_windows([w.timed(stage, seconds) for w in items])


def decode_windows(
    batch: dict[str, np.ndarray],
    *,
    info: MediaInfo,
    fmt: str,
    window_frames: int,
    halo_before: int,
    halo_after: int,
    shot_of: np.ndarray,
    threads: int = 0,
) -> Any:
    """Ray Data UDF: for each segment row, yield its windows (core frames plus halo), one row each."""
    all_pts = info.frame_pts
    n = len(all_pts)
    t0 = float(all_pts[0] * info.time_base_fraction)
    end_time = t0 + info.duration
    for seg in rows(batch):
        started = time.perf_counter()
        first, count = int(seg["first_frame"]), int(seg["frame_count"])
        lo, hi = max(0, first - halo_before), min(n, first + count + halo_after)
        segment = Segment(int(seg["index"]), all_pts[lo], all_pts[hi] if hi < n else None, lo, hi - lo)
        cores = [(a, min(a + window_frames, first + count)) for a in range(first, first + count, window_frames)]
        buffer: deque[tuple[int, float, np.ndarray, np.ndarray]] = deque()
        decoded = decode_frames(info, segment=segment, fmt=fmt, batch_size=window_frames, threads=threads)  # type: ignore[arg-type]
        exhausted = False
        while cores:
            a, b = cores[0]
            need = min(b + halo_after, hi) - 1
            while not exhausted and (not buffer or buffer[-1][0] < need):
                fb = next(decoded, None)
                if fb is None:
                    exhausted = True
                    break
                for i, t, frame in zip(fb.index.tolist(), fb.time.tolist(), fb.frames, strict=True):
                    buffer.append((i, t, frame, small_gray(frame, DIFF_WIDTH)))
            while buffer and buffer[0][0] < a - halo_before:
                buffer.popleft()
            cores.pop(0)
            window = [item for item in buffer if item[0] < b + halo_after]
            index = np.array([item[0] for item in window], dtype=np.int64)
            core_start, core_end = int(np.searchsorted(index, a)), int(np.searchsorted(index, b))
            if core_end == core_start:
                continue  # every frame of this core failed to decode
            diff = np.zeros(len(window))
            for k in range(1, len(window)):
                if index[k] == index[k - 1] + 1:
                    diff[k] = np.abs(window[k][3].astype(np.int16) - window[k - 1][3]).mean()
            shots = shot_of[index]
            core = Window(
                start=a,
                frames=np.stack([item[2] for item in window]),
                index=index,
                time=np.array([item[1] for item in window]),
                shot=shots.astype(np.int32),
                stutter=stutters(diff, shots),
                core_start=core_start,
                core_end=core_end,
                end_time=float(all_pts[b] * info.time_base_fraction) if b < n else end_time,
                t0=t0,
            )
            yield _timed([core], "decode", started)
            started = time.perf_counter()


def denoise_windows(
    batch: dict[str, np.ndarray], *, sigma: float, radius: int, keep_after: int, pts: np.ndarray
) -> dict[str, np.ndarray]:
    """Ray Data UDF: denoise each window's core (plus ``keep_after`` look-ahead frames) and drop the halo;
    the window's shots are denoised apart."""
    started = time.perf_counter()
    out = []
    for w in windows(batch):
        keep = slice(w.core_start, min(len(w.index), w.core_end + keep_after))
        if sigma > 0:
            frames = dn.denoise_frames(w.frames, sigma, radius=radius, core=keep, shots=w.shot)
        else:
            frames = w.frames[keep]
        index = w.index[keep]
        out.append(
            replace(
                w,
                frames=frames,
                index=index,
                time=w.time[keep],
                shot=w.shot[keep],
                stutter=w.stutter[keep],
                core_start=0,
                core_end=w.core_end - w.core_start,
                out_pts=pts[index] - pts[0],
            )
        )
    return _timed(out, "denoise", started)


class UpscaleStage(Upscaler):
    """The upscaler as a pipeline stage: sizes from the plan, time recorded."""

    def __init__(self, cfg: Config, key: str, width: int, height: int):
        super().__init__(cfg, key)
        self.width, self.height = width, height

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        started = time.perf_counter()
        out = [
            replace(
                w,
                frames=self.upscale(w.frames, self.width, self.height),
                backends={**w.backends, "upscaler": self.name},
            )
            for w in windows(batch)
        ]
        return _timed(out, "upscale", started)


class InterpolateStage(Interpolator):
    """The interpolator as a pipeline stage: output rate from the plan, time recorded."""

    def __init__(self, cfg: Config, key: str, fps_out: float):
        super().__init__(cfg, key)
        self.fps_out = fps_out

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        started = time.perf_counter()
        items = [replace(w, backends={**w.backends, "interpolator": self.name}) for w in windows(batch)]
        out = []
        for row in rows(super().__call__(pack([{**w.to_row(), "fps_out": self.fps_out} for w in items]))):
            del row["fps_out"]
            out.append(Window.from_row(row))
        return _timed(out, "interpolate", started)


def grade_windows(batch: dict[str, np.ndarray], *, grades: list[gr.Grade]) -> dict[str, np.ndarray]:
    """Ray Data UDF: apply each frame's shot grade."""
    started = time.perf_counter()
    out = []
    for w in windows(batch):
        graded = np.empty_like(w.frames)
        for shot in np.unique(w.shot):
            mask = w.shot == shot
            graded[mask] = gr.apply_grade(w.frames[mask], grades[int(shot)])
        out.append(replace(w, frames=graded))
    return _timed(out, "grade", started)


def hdr_windows(batch: dict[str, np.ndarray], *, transfer: str, peak_nits: float) -> dict[str, np.ndarray]:
    """Ray Data UDF: SDR -> BT.2020 PQ/HLG, as 16-bit RGB for the 10-bit encode."""
    started = time.perf_counter()
    out = [
        replace(w, frames=from_unit(sdr_to_hdr(w.frames, transfer, peak_nits=peak_nits), np.uint16))  # type: ignore[arg-type]
        for w in windows(batch)
    ]
    return _timed(out, "hdr", started)


def resample_windows(batch: dict[str, np.ndarray], *, width: int, height: int) -> dict[str, np.ndarray]:
    """Ray Data UDF: the classical upscaler as FFmpeg filters, on the frames in whatever layout they travel."""
    started = time.perf_counter()
    out = [
        replace(
            w, frames=upscale_frames(w.frames, width, height), backends={**w.backends, "upscaler": CLASSICAL_FILTERS}
        )
        for w in windows(batch)
    ]
    return _timed(out, "upscale", started)


def upscale_windows(batch: dict[str, np.ndarray], *, cfg: Config, width: int, height: int) -> dict[str, np.ndarray]:
    """Ray Data UDF for weight-free upscalers (cheap to construct, so no actor holds a CPU)."""
    return UpscaleStage(cfg, "upscaler", width, height)(batch)


def interpolate_windows(batch: dict[str, np.ndarray], *, cfg: Config, fps_out: float) -> dict[str, np.ndarray]:
    """Ray Data UDF for the weight-free (optical flow) interpolator."""
    return InterpolateStage(cfg, "interpolator", fps_out)(batch)


def _model_stage(
    ds: ray.data.Dataset, cfg: Config, key: str, actor: type[Model], task: Any, kwargs: dict[str, Any]
) -> ray.data.Dataset:
    """A stage as actors when ``models[key]`` has weights to load once (resources from the config),
    else as plain tasks that Ray Data fuses with their neighbours (no CPU held by an idle actor)."""
    entry = cfg.models.get(key)
    if entry is None or entry.model is None:
        return ds.map_batches(task, batch_size=1, num_cpus=1, fn_kwargs={"cfg": cfg, **kwargs})
    return map_model(ds, actor, cfg, key, batch_size=1, **kwargs)


def window_size(cfg: Config, info: MediaInfo, plan: Plan) -> int:
    """Frames per window: ``window_frames``, fewer when a window's output would pass ``window_mb``."""
    settings = cfg.pipelines.enhance
    depth = 2 if plan.decode_fmt == "rgb48le" or plan.fmt.hdr else 1
    samples = 1.5 if plan.frames_fmt.startswith("yuv") else 3  # 4:2:0 carries half the samples of RGB
    frames_out = float(plan.fps_out) / info.fps if plan.fps_out is not None else 1.0
    per_input_frame = plan.width * plan.height * samples * depth * max(1.0, frames_out)
    return int(max(4, min(settings.window_frames, settings.window_mb * 2**20 // per_input_frame)))


def object_store_budget(cfg: Config) -> int:
    """Bytes of Ray Data's object store the job's windows may hold (in flight between stages and waiting for
    the encoder): :data:`WINDOWS_IN_FLIGHT` windows of ``window_mb``. Ray Data's own default, a share of the
    whole object store (GBs), lets decoded and upscaled windows pile up ahead of a slower encoder."""
    return WINDOWS_IN_FLIGHT * cfg.pipelines.enhance.window_mb * 2**20


def shot_numbers(info: MediaInfo, plan: Plan) -> np.ndarray:
    """The shot number of every frame of the input (from :attr:`Plan.shots`)."""
    shot_of = np.zeros(info.frame_count, dtype=np.int32)
    for k, (start, end) in enumerate(plan.shots):
        shot_of[start:end] = k
    return shot_of


def runs_in_driver(cfg: Config, plan: Plan) -> bool:
    """Whether the job streams its frames through one filter graph in this process (:func:`_encode_in_driver`)
    rather than through :func:`build`'s Ray Data stages: only when every stage is an FFmpeg filter (frames stay
    Y'CbCr from decode to encode: no model, interpolation, grading or SDR->HDR), and then as
    ``pipelines.enhance.runner`` says (``auto``: on a local Ray, not on a cluster or inside ``ray job submit``)."""
    runner = cfg.pipelines.enhance.runner
    if runner == "ray-data" or plan.frames_fmt not in ("yuv420p", "yuv420p10le"):
        return False
    return runner == "driver" or (cfg.ray.address == "local" and not os.environ.get("RAY_ADDRESS"))


def build(cfg: Config, info: MediaInfo, plan: Plan) -> ray.data.Dataset:
    """The enhancement dataset: one row per window, in order, ready to encode.

    Decoding runs in its own tasks (one per segment, bounded retries); the per-window stages after it
    fuse into one task per window where no model needs an actor, so windows are processed in parallel.
    """
    settings = cfg.pipelines.enhance
    radius = max(dn.MIN_RADIUS, settings.denoise_radius) if plan.sigma > 0 else 0
    interpolate = plan.fps_out is not None
    segments = [
        {"index": s.index, "first_frame": s.first_frame, "frame_count": s.frame_count}
        for s in video_segments(info, cfg.pipelines.decode)
    ]
    shot_of = shot_numbers(info, plan)
    ds = decode_stage(
        segments,
        decode_windows,
        attempts=cfg.limits.decode_attempts,
        fn_kwargs={
            "info": info,
            "fmt": plan.frames_fmt,
            "window_frames": window_size(cfg, info, plan),
            "halo_before": max(radius, 1),
            "halo_after": radius + (1 if interpolate else 0),
            "shot_of": shot_of,
            "threads": decoder_threads(cfg.pipelines.decode.threads, len(segments)),
        },
    )
    ds.context.execution_options.preserve_order = True
    ds.context.target_max_block_size = 1  # every window its own block, so windows spread over workers
    ds.context.execution_options.resource_limits = ds.context.execution_options.resource_limits.copy(
        object_store_memory=object_store_budget(cfg)
    )
    ds = ds.map_batches(
        denoise_windows,
        batch_size=1,
        num_cpus=1,
        fn_kwargs={
            "sigma": plan.sigma,
            "radius": radius,
            "keep_after": 1 if interpolate else 0,
            "pts": np.asarray(info.frame_pts, dtype=np.int64),
        },
    )
    if (plan.width, plan.height) != (info.width, info.height) and plan.frames_fmt.startswith("yuv"):
        ds = ds.map_batches(
            resample_windows, batch_size=1, num_cpus=1, fn_kwargs={"width": plan.width, "height": plan.height}
        )
    elif (plan.width, plan.height) != (info.width, info.height):
        ds = _model_stage(
            ds, cfg, "upscaler", UpscaleStage, upscale_windows, {"width": plan.width, "height": plan.height}
        )
    if interpolate:
        ds = _model_stage(
            ds, cfg, "interpolator", InterpolateStage, interpolate_windows, {"fps_out": float(plan.fps_out)}
        )
    if plan.grades is not None:
        ds = ds.map_batches(grade_windows, batch_size=1, num_cpus=1, fn_kwargs={"grades": plan.grades})
    if plan.fmt.hdr and not plan.hdr_in:
        ds = ds.map_batches(
            hdr_windows, batch_size=1, num_cpus=1, fn_kwargs={"transfer": plan.fmt.hdr, "peak_nits": settings.peak_nits}
        )
    return ds


# ----------------------------------------------------------------------------- preparation


def shots_and_stats(ctx: JobContext) -> tuple[list[tuple[int, int]], list[gr.FrameStats | None]]:
    """Shots ``[start, end)`` from the analysis job, and the grading statistics of its sampled frames
    (``colour_stats`` of ``features.parquet``, None for frames not sampled): no decode of our own."""
    analysis = load_analysis(ctx.cfg, ctx.source)
    if "colour_stats" not in analysis.features:  # an analysis cached before it kept grading statistics
        analysis = load_analysis(ctx.cfg, ctx.source, force=True)
    shots = [(s.start_frame, s.end_frame) for s in analysis.shots] or [(0, ctx.info.frame_count)]
    return shots, sampled_stats(analysis.features, ctx.info.frame_count)


def sampled_stats(features: pd.DataFrame, frame_count: int) -> list[gr.FrameStats | None]:
    """Per-frame grading statistics from the analysis's ``features`` (its sampled frames; None elsewhere).

    With the default analysis (``sample_fps`` 2, ``min_shot_seconds`` 0.5) every shot holds a sample; a
    shot without one gets no automatic correction (:func:`genmedia.enhance.grade.shot_grades`).
    """
    stats: list[gr.FrameStats | None] = [None] * frame_count
    for i, vector in zip(features["frame_index"].tolist(), features["colour_stats"], strict=True):
        if 0 <= i < frame_count and np.all(np.isfinite(vector)):
            stats[i] = gr.FrameStats.from_vector(np.asarray(vector, np.float32))
    return stats


# ------------------------------------------------------------------------------- the job


@dataclass
class _Sink:
    """What the encode loop collects besides the file."""

    frames_in: int = 0
    frames_out: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)
    metric_pairs: list[tuple[float, float]] = field(default_factory=list)
    backends: dict[str, str] = field(default_factory=dict)


def _reference_frames(cfg: Config, source: str, count: int) -> list[tuple[float, np.ndarray]]:
    path = stage_input(source, cfg.storage)
    info = probe(path, cfg.limits)
    wanted = set(np.linspace(0, info.frame_count - 1, min(count, info.frame_count)).round().astype(int).tolist())
    out = []
    for fb in decode_frames(info, fmt="rgb24", batch_size=16):
        for i, t, frame in zip(fb.index.tolist(), fb.time.tolist(), fb.frames, strict=True):
            if i in wanted:
                out.append((t - float(info.frame_pts[0] * info.time_base_fraction), frame))
    return out


def _writer(ctx: JobContext, plan: Plan, video_path: Path, rate: Fraction, time_base: Fraction) -> EnhancedWriter:
    info = ctx.info
    sar = Fraction(info.sample_aspect_ratio.replace(":", "/"))
    return EnhancedWriter(
        video_path,
        plan.width,
        plan.height,
        rate,
        time_base,
        plan.fmt,
        source=str(ctx.path),
        rotation=info.rotation,
        sample_aspect_ratio=sar,
    )


def _timed_decode(frames: Iterator[tuple[int, Any]], all_pts: np.ndarray, sink: _Sink) -> Iterator[tuple[int, Any]]:
    """Decoded ``(pts, frame)`` as ``(frame index, frame)``, the time spent decoding added to ``sink``'s."""
    while True:
        started = time.perf_counter()
        item = next(frames, None)
        sink.seconds["decode"] = sink.seconds.get("decode", 0.0) + time.perf_counter() - started
        if item is None:
            return
        ts, frame = item
        yield min(int(np.searchsorted(all_pts, ts)), len(all_pts) - 1), frame


def _encode_in_driver(
    ctx: JobContext, plan: Plan, video_path: Path, reference: list[tuple[float, np.ndarray]]
) -> tuple[_Sink, EnhancedWriter]:
    """The classical path in this process (:func:`runs_in_driver`): decoded frames through one filter graph per
    shot (:func:`~genmedia.enhance.stream.filter_stream`) straight into the encoder, frame by frame; no window is
    built and nothing goes through Ray. The same pictures as :func:`build`'s stages."""
    info, settings = ctx.info, ctx.cfg.pipelines.enhance
    all_pts = np.asarray(info.frame_pts, dtype=np.int64)
    tb = info.time_base_fraction
    radius = max(dn.MIN_RADIUS, settings.denoise_radius)
    filters = classical_filters(plan.sigma, radius, (info.width, info.height), (plan.width, plan.height))
    sink = _Sink()
    if (plan.width, plan.height) != (info.width, info.height):
        sink.backends["upscaler"] = CLASSICAL_FILTERS
    half_frame = 0.5 / info.fps
    started = time.perf_counter()
    with _writer(ctx, plan, video_path, to_fraction(info.fps), tb) as writer:
        decoded = _timed_decode(iter_frames(info), all_pts, sink)
        for index, frame in filter_stream(decoded, shot_numbers(info, plan), plan.frames_fmt, filters):
            encode_started = time.perf_counter()
            writer.encode(frame, int(all_pts[index] - all_pts[0]))
            sink.seconds["encode"] = sink.seconds.get("encode", 0.0) + time.perf_counter() - encode_started
            sink.frames_in += 1
            sink.frames_out += 1
            t = float((all_pts[index] - all_pts[0]) * tb)
            for t_ref, ref in reference:
                if abs(t - t_ref) < half_frame:
                    sink.metric_pairs.append(_compare(ref, frame.to_ndarray()))
            ctx.progress("enhance", sink.frames_out, info.frame_count)
        encoding = time.perf_counter() - started
    sink.seconds["filters"] = encoding - sink.seconds.get("decode", 0.0) - sink.seconds.get("encode", 0.0)
    return sink, writer


def _encode(
    ctx: JobContext, plan: Plan, ds: ray.data.Dataset, video_path: Path, reference: list[tuple[float, np.ndarray]]
) -> tuple[_Sink, EnhancedWriter]:
    info = ctx.info
    if plan.fps_out is not None:
        rate, time_base = plan.fps_out, 1 / plan.fps_out
        total = output_count(info.duration, float(plan.fps_out))
    else:
        rate, time_base = to_fraction(info.fps), info.time_base_fraction
        total = info.frame_count
    sink = _Sink()
    last_window = -1
    half_frame = 0.5 / float(rate)
    with _writer(ctx, plan, video_path, rate, time_base) as writer:
        for batch in ds.iter_batches(batch_size=1, batch_format="numpy"):
            for w in windows(batch):
                if w.start <= last_window:
                    raise RuntimeError(f"{ctx.source}: windows arrived out of order ({w.start} after {last_window})")
                last_window = w.start
                pts = w.out_index if plan.fps_out is not None else w.out_pts
                times = w.out_time if plan.fps_out is not None else w.time - w.t0
                if pts is None or times is None:
                    raise RuntimeError(f"{ctx.source}: window {w.start} reached the encoder without output timestamps")
                encode_started = time.perf_counter()
                writer.write(w.frames, pts)
                sink.seconds["encode"] = sink.seconds.get("encode", 0.0) + time.perf_counter() - encode_started
                sink.frames_in += w.core_end - w.core_start
                sink.frames_out += len(pts)
                for stage, seconds in w.seconds.items():
                    sink.seconds[stage] = sink.seconds.get(stage, 0.0) + seconds
                sink.backends.update(w.backends)
                for kind, count in w.steps.items():
                    sink.steps[kind] = sink.steps.get(kind, 0) + count
                for t_ref, ref in reference:
                    hit = np.flatnonzero(np.abs(times - t_ref) < half_frame)
                    if len(hit):
                        sink.metric_pairs.append(_compare(ref, w.frames[hit[0]]))
                ctx.progress("enhance", min(sink.frames_out, total), total)
    return sink, writer


def _compare(reference: np.ndarray, frame: np.ndarray) -> tuple[float, float]:
    """PSNR and SSIM of an output frame (scaled to the reference's size, 8-bit) against a reference frame."""
    if frame.ndim == 2:  # planar Y'CbCr: the picture as RGB first
        fmt = "yuv420p10le" if frame.dtype == np.uint16 else "yuv420p"
        frame = to_frame(frame, fmt).to_ndarray(format="rgb48le" if frame.dtype == np.uint16 else "rgb24")
    h, w = reference.shape[:2]
    test = resize(frame, w, h)
    if test.dtype == np.uint16:
        test = (test >> 8).astype(np.uint8)
    return psnr(reference, test), ssim(reference, test)


def _prepare(ctx: JobContext, params: Params) -> Plan:
    """Decide the output, measure noise, find shots and compute the grades (before the main pass)."""
    cfg, info = ctx.cfg, ctx.info
    plan = plan_output(info, params, cfg)
    ctx.warnings.extend(plan.warnings)
    settings = cfg.pipelines.enhance
    samples = keyframe_samples(info, settings.noise_samples, plan.decode_fmt)
    plan.sigma, plan.noise_measured = dn.resolve_strength(params.denoise, samples)
    mode = params.grade_mode()
    needs_shots = plan.fps_out is not None or mode != "off" or plan.sigma > 0  # temporal stages stop at cuts
    stats: list[gr.FrameStats | None] = []
    if needs_shots:
        plan.shots, stats = shots_and_stats(ctx)
        plan.shots_from = "analysis"
    else:
        plan.shots, plan.shots_from = [(0, info.frame_count)], "not needed"
    ctx.progress("prepare", 1, 2)
    if mode != "off" and plan.hdr_in:
        ctx.warnings.append(f"grading works on SDR pictures: skipped for this HDR ({plan.hdr_in}) input")
    elif mode != "off":
        reference = None
        if mode == "reference":
            reference = reference_stats(cfg, params.grade)
        plan.grades = gr.shot_grades(
            stats,
            plan.shots,
            auto=mode == "auto",
            reference=reference,
            preset=params.grade if mode == "preset" else None,
        )
    if plan.fmt.hdr == "pq" and not plan.hdr_in:
        graded = [gr.apply_grade(f, plan.grades[0]) for f in samples] if plan.grades else list(samples)
        cll, fall = content_light(graded, settings.peak_nits)
        plan.fmt = OutputFormat(
            plan.fmt.codec, plan.fmt.bit_depth, plan.fmt.hdr, HdrMetadata(cll, fall, settings.peak_nits), plan.fmt.crf
        )
    ctx.progress("prepare", 2, 2)
    return plan


def _work(ctx: JobContext, params: Params) -> JobOutcome:
    if params.realtime:
        return run_realtime(ctx, params, plan_output(ctx.info, params, ctx.cfg))
    started = time.perf_counter()
    plan = _prepare(ctx, params)
    prepare_s = time.perf_counter() - started
    reference = []
    if params.reference and plan.fmt.hdr:
        ctx.warnings.append("PSNR/SSIM not measured: an HDR output cannot be compared with an SDR reference")
    elif params.reference:
        reference = _reference_frames(ctx.cfg, params.reference, ctx.cfg.pipelines.enhance.metrics_frames)
    in_driver = runs_in_driver(ctx.cfg, plan)
    ds = None if in_driver else build(ctx.cfg, ctx.info, plan)
    main_started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="genmedia-enhance-") as tmp:
        video_path = Path(tmp) / VIDEO
        if ds is None:
            sink, writer = _encode_in_driver(ctx, plan, video_path, reference)
        else:
            sink, writer = _encode(ctx, plan, ds, video_path, reference)
        main_s = time.perf_counter() - main_started
        ctx.output.write_file(VIDEO, video_path)
        streaming = _package(ctx, params, plan, video_path, Path(tmp))
    if writer.audio_dropped:
        ctx.warnings.append(
            f"audio streams not copied (codecs MP4 cannot carry as they are): {', '.join(writer.audio_dropped)}"
        )
    report = _report(ctx, params, plan, sink, writer, prepare_s, main_s)
    if plan.grades is not None:
        ctx.output.write_text(LUT, gr.cube_text(gr.grade_lut(plan.grades[0]), f"genmedia {params.grade} grade, shot 0"))
        report["grade"]["lut"] = f"{LUT} (the first shot's grade; every shot's parameters are listed above)"
    report["streaming"] = streaming
    report["throughput"]["runner"] = "driver" if ds is None else "ray-data"
    ctx.output.write_json(REPORT, report)
    info = ctx.info
    summary = (
        f"{info.width}x{info.height}@{info.fps:g} -> {plan.width}x{plan.height}@{float(plan.fps_out or info.fps):g} "
        f"{plan.fmt.codec}{' ' + plan.fmt.hdr.upper() if plan.fmt.hdr else ''}; {', '.join(report['applied']) or 'nothing applied'}"
    )
    return JobOutcome(
        summary, {"applied": report["applied"], "backends": report["backends"], "metrics": report["metrics"]}
    )


def _package(ctx: JobContext, params: Params, plan: Plan, video: Path, tmp: Path) -> dict[str, Any] | None:
    """With ``params.package``, the enhanced video as a per-title ladder in CMAF (``package/``); HDR is not
    packaged (the ladder's rungs are 8-bit SDR H.264), which the warnings say."""
    if not params.package:
        return None
    if plan.fmt.hdr:
        ctx.warnings.append("not packaged for streaming: the ladder's rungs are 8-bit SDR H.264 and this output is HDR")
        return None
    return package_output(ctx, video, tmp)


def _report(
    ctx: JobContext, params: Params, plan: Plan, sink: _Sink, writer: EnhancedWriter, prepare_s: float, main_s: float
) -> dict[str, Any]:
    info = ctx.info
    applied = []
    if plan.sigma > 0:
        applied.append(f"denoise sigma {plan.sigma:.1f}")
    if (plan.width, plan.height) != (info.width, info.height):
        applied.append(f"upscale x{plan.width / info.width:g}")
    if plan.fps_out is not None:
        applied.append(f"interpolate to {float(plan.fps_out):g} fps")
    if plan.grades is not None:
        applied.append(f"grade {params.grade}")
    if plan.fmt.hdr and not plan.hdr_in:
        applied.append(f"SDR->HDR {plan.fmt.hdr}")
    backends = {"encoder": writer.encoder_name, **sink.backends}
    if plan.sigma > 0:
        backends["denoiser"] = "FFmpeg atadenoise (adaptive temporal averaging), restarted at each shot boundary"
    metrics: dict[str, Any] = {"vmaf": None, "vmaf_note": vmaf_note()}
    if sink.metric_pairs:
        metrics.update(
            reference=params.reference,
            frames=len(sink.metric_pairs),
            psnr=round(float(np.mean([p for p, _ in sink.metric_pairs])), 3),
            ssim=round(float(np.mean([s for _, s in sink.metric_pairs])), 4),
        )
    stages = {
        name: {"seconds": round(s, 3), "frames_per_s": round(sink.frames_in / s, 2) if s else None}
        for name, s in sink.seconds.items()
    }
    return {
        "input": {
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "frames": info.frame_count,
            "bit_depth": info.bit_depth,
            "hdr": info.hdr,
            "rotation": info.rotation,
            "sample_aspect_ratio": info.sample_aspect_ratio,
        },
        "output": {
            "file": VIDEO,
            "width": plan.width,
            "height": plan.height,
            "fps": float(plan.fps_out or info.fps),
            "frames": sink.frames_out,
            "codec": plan.fmt.codec,
            "pix_fmt": plan.fmt.pix_fmt,
            "hdr": plan.fmt.hdr,
            "hdr_metadata": plan.fmt.hdr_metadata.__dict__ if plan.fmt.hdr_metadata else None,
            "audio_copied": writer.audio_copied,
        },
        "applied": applied,
        "params": params.model_dump(mode="json"),
        "backends": backends,
        "denoise": {"setting": params.denoise, "measured_sigma": plan.noise_measured, "sigma": round(plan.sigma, 3)},
        "interpolation": sink.steps or None,
        "shots": {"source": plan.shots_from, "count": len(plan.shots)},
        "grade": {
            "mode": params.grade_mode(),
            "per_shot": [
                {"shot": k, "start_frame": s, "end_frame": e, **g.to_dict()}
                for k, ((s, e), g) in enumerate(zip(plan.shots, plan.grades))
            ]
            if plan.grades is not None
            else [],
        },
        "metrics": metrics,
        "throughput": {
            "prepare_s": round(prepare_s, 3),
            "main_pass_s": round(main_s, 3),
            "end_to_end_fps": round(sink.frames_in / main_s, 2) if main_s else None,
            "stage_cpu_seconds": stages,
        },
    }


def run(
    cfg: Config, video: str, params: Params | None = None, *, force: bool = False, progress: ProgressFn = no_progress
) -> JobResult:
    """Enhance ``video`` (a path or URI) as ``params`` say; outputs under the storage root."""
    params = params or Params()
    # Impossible requests (over the pixel limit, a lower frame rate, HDR in H.264) fail before any work,
    # on the job's one probe of the input.
    return run_job(
        cfg,
        video,
        JOB,
        params,
        lambda ctx: _work(ctx, params),
        force=force,
        progress=progress,
        input_files=params.input_files(),
        check=lambda info: plan_output(info, params, cfg),
        models=models_used(cfg, params),
        needs_ray=lambda info: needs_ray(cfg, info, params),
    )


def needs_ray(cfg: Config, info: MediaInfo, params: Params) -> bool:
    """Whether enhancing ``info`` as ``params`` say uses Ray: not when the frames stream through the driver
    (:func:`runs_in_driver`) and nothing else asks for it (real-time mode, the streaming ladder)."""
    return params.realtime or params.package or not runs_in_driver(cfg, plan_output(info, params, cfg))


def models_used(cfg: Config, params: Params) -> list[str]:
    """The config's model keys an enhancement with ``params`` loads (its lineage, see ``run_job``): the upscaler
    when the size changes, the interpolator when a frame rate is asked for."""
    wanted = {"upscaler": params.upscale != 1 or params.target is not None, "interpolator": params.fps is not None}
    return [key for key, used in wanted.items() if used and key in cfg.models]


def load_report(cfg: Config, result: JobResult) -> dict[str, Any]:
    """``enhance.json`` of a finished run."""
    fs, path = filesystem(result.files[REPORT], cfg.storage)
    return json.loads(fs.cat_file(path))


__all__ = ["JOB", "Params", "Plan", "build", "load_report", "plan_output", "run"]
