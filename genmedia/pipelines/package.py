"""``genmedia package``: any video as a per-title bitrate ladder, packaged once as CMAF for HLS and DASH.

Steps (on the worker that runs the job; x264 keeps its cores busy):

1. Ladder analysis (``genmedia.delivery.ladder``): a few short spans spread over the video are decoded at
   display size and encoded at each candidate size (never above the source) and several rates with the
   rungs' own VBV cap; each encode is scaled back and scored with libavfilter's XPSNR and SSIM. The
   per-size rate-quality curves give, for each of the profile's target qualities, the size that reaches
   it at the lowest rate. A typical fixed ladder is measured on the same samples, and the saving is stated
   at equal measured quality.
2. One decode of the whole video; every rung encoded with capped VBV (``maxrate``/``bufsize``) and a
   keyframe exactly at each segment boundary; one AAC rendition; FFmpeg's ``dash`` muxer writes CMAF
   segments and the MPD, and the HLS playlists point at the same segments (no second encode).

Outputs (immutable keys and cache headers): ``package/manifest.mpd``, ``package/master.m3u8``, the media
playlists, ``package/init_*.m4s`` and ``package/chunk_*.m4s``, and ``ladder.json`` (the measured points,
hull, chosen rungs, fixed-ladder comparison and the time each step took).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from genmedia.config import Config, DeliveryConfig, LadderProfile
from genmedia.delivery import ladder
from genmedia.delivery.playlists import MASTER_NAME, read_mpd, write_hls
from genmedia.errors import InputError
from genmedia.media import cmaf
from genmedia.media.probe import MediaInfo
from genmedia.media.quality import FrameComparer
from genmedia.pipelines.job import JobContext, JobOutcome, run_job
from genmedia.progress import ProgressFn, no_progress
from genmedia.schemas import JobResult
from genmedia.scratch import scratch_dir
from genmedia.validation import OneLine

JOB = "package"
FOLDER = "package"
LADDER_NAME = "ladder.json"
IMMUTABLE = "public, max-age=31536000, immutable"
"""Output keys contain the input's content hash and the parameters' hash, so they never change."""
CONTENT_TYPES = {".mpd": "application/dash+xml", ".m3u8": "application/vnd.apple.mpegurl", ".m4s": "video/iso.segment",
                 ".json": "application/json"}
REFERENCE_SHORT_SIDE = 1080
"""Quality is compared at display size, capped at this short side (a 4K source is scored at 1080p)."""


class Params(BaseModel):
    """How to package the video."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: OneLine = Field("default", max_length=32, description="A delivery profile of the config (default, mobile, ...).")
    codec: OneLine | None = Field(None, max_length=16, description="Video codec of the rungs; None: the config's.")
    segment_seconds: float | None = Field(None, gt=0, le=20, description="Segment length; None: the config's.")


def _profile(dc: DeliveryConfig, name: str) -> LadderProfile:
    try:
        return dc.profiles[name]
    except KeyError:
        raise InputError(name, f"unknown delivery profile; configured: {', '.join(sorted(dc.profiles))}") from None


def candidate_sizes(info: MediaInfo, short_sides: list[int]) -> tuple[list[tuple[int, int]], list[str]]:
    """Rung sizes for the profile's short sides that do not exceed the source (never upscaled), and notes."""
    display = cmaf.display_size(info)
    source_short = min(display)
    sizes = list(dict.fromkeys(cmaf.size_for(display, s) for s in sorted(set(short_sides), reverse=True) if s <= source_short))
    notes = []
    skipped = sorted(s for s in set(short_sides) if s > source_short)
    if skipped:
        notes.append(f"rungs above the source's {source_short}p were not made: {', '.join(f'{s}p' for s in skipped)}")
    if not sizes:
        sizes = [cmaf.size_for(display, cmaf.even(source_short))]
    return sizes, notes


def _sample_seconds(dc: DeliveryConfig, duration: float) -> float:
    return min(max(duration * dc.sample_fraction, dc.sample_seconds_min), dc.sample_seconds_max, duration)


def measure_points(
    spans: list[cmaf.Span], sizes: list[tuple[int, int]], rates: dict[tuple[int, int], list[int]], fps: float,
    settings: cmaf.EncodeSettings, progress: ProgressFn = no_progress,
) -> list[ladder.RatePoint]:
    """Encode every span at every (size, rate), score it against the span, and return one point per (size, rate)."""
    ref = (spans[0].frames[0].width, spans[0].frames[0].height)
    seconds = sum(len(s.frames) for s in spans) / fps
    jobs = [(size, rate) for size in sizes for rate in rates[size]]
    points = []
    for done, (size, rate) in enumerate(jobs):
        comparer = FrameComparer(ref, size)
        bits = 0
        for span in spans:
            decoded, used = cmaf.encode_sample(span.frames, size, rate, fps, settings)
            bits += used
            for reference, picture in zip(span.frames, decoded, strict=False):
                comparer.add(reference, picture)
        q = comparer.result()
        points.append(ladder.RatePoint(size[0], size[1], rate, bits / seconds, q.xpsnr, q.ssim))
        progress("ladder", done + 1, len(jobs))
    return points


def plan_ladder(ctx: JobContext, dc: DeliveryConfig, profile: LadderProfile, settings: cmaf.EncodeSettings) -> dict[str, Any]:
    """Sample, measure and choose the ladder; the facts for ladder.json."""
    info = ctx.info
    sizes, notes = candidate_sizes(info, profile.short_sides)
    ctx.warnings.extend(notes)
    display = cmaf.display_size(info)
    ref_size = cmaf.size_for(display, min(REFERENCE_SHORT_SIDE, cmaf.even(min(display))))
    total = _sample_seconds(dc, info.duration)
    span_seconds = min(dc.span_seconds, info.duration)
    spans = cmaf.read_spans(str(ctx.path), info, cmaf.sample_starts(info.duration, total, span_seconds), span_seconds, ref_size)
    if not spans:
        raise InputError(ctx.source, "no picture could be decoded for the ladder's samples")
    fixed_rates = {cmaf.size_for(display, side): rate for side, rate in ladder.FIXED_LADDER}
    rates = {}
    for size in sizes:
        grid = {cmaf.bits_per_pixel_rate(size, info.fps, bpp) for bpp in dc.rates_bpp}
        if size in fixed_rates:
            grid.add(fixed_rates[size])
        rates[size] = sorted(grid)
    points = measure_points(spans, sizes, rates, info.fps, settings, ctx.progress)
    by_size = ladder.curves(points)
    rungs = ladder.choose_ladder(by_size, profile.targets_xpsnr)
    fixed = [p for p in points if fixed_rates.get(p.size) == p.target]
    return {
        "sizes": [f"{w}x{h}" for w, h in sizes],
        "reference_size": f"{ref_size[0]}x{ref_size[1]}",
        "samples": {"spans": len(spans), "seconds": round(sum(len(s.frames) for s in spans) / info.fps, 3),
                    "starts": [s.start for s in spans]},
        "metric": "xpsnr (dB, Y:U:V 4:1:1, scaled back to the reference size with bicubic); ssim beside it; "
                  "VMAF is not in the bundled FFmpeg",
        "points": [ladder.point_dict(p) for p in points],
        "hull": [ladder.point_dict(p) for p in ladder.convex_hull(points)],
        "rungs": [r.__dict__ for r in rungs],
        "fixed_ladder": ladder.fixed_ladder_saving(by_size, fixed) if fixed else None,
    }


def run(cfg: Config, video: str, params: Params, *, force: bool = False, progress: ProgressFn = no_progress) -> JobResult:
    """Package ``video`` as a per-title ladder: CMAF segments with an HLS master playlist and a DASH MPD.

    Raises InputError for an unusable video, an unknown profile or an unsupported codec (before any work).
    """
    dc = cfg.delivery
    profile = _profile(dc, params.profile)
    settings = cmaf.EncodeSettings(codec=params.codec or dc.codec, preset=dc.preset, peak_factor=dc.peak_factor,
                                   buffer_seconds=dc.buffer_seconds)
    settings.encoder()  # an unknown codec fails here, naming the supported ones
    segment_seconds = params.segment_seconds or dc.segment_seconds

    def work(ctx: JobContext) -> JobOutcome:
        info = ctx.info
        if info.fps <= 0:
            raise InputError(video, "has no usable frame rate")
        started = time.perf_counter()
        facts = plan_ladder(ctx, dc, profile, settings)
        analysed = time.perf_counter()
        out = ctx.output
        rung_list = [((r["width"], r["height"]), r["bitrate"]) for r in facts["rungs"]]
        with scratch_dir(cfg.storage, out.video_id, out.job, out.params_hash) as tmp:
            folder = tmp / FOLDER
            made, segment = cmaf.package(str(ctx.path), info, rung_list, folder, segment_seconds=segment_seconds, settings=settings,
                                audio_bitrate=profile.audio_bitrate, audio_channels=profile.audio_channels,
                                progress=ctx.progress)
            encoded = time.perf_counter()
            measured = write_hls(folder, read_mpd(folder / cmaf.MPD_NAME))
            for path in sorted(folder.iterdir()):
                out.write_file(f"{FOLDER}/{path.name}", path, content_type=CONTENT_TYPES[path.suffix], cache_control=IMMUTABLE)
        facts["encoded"] = [{"width": m.width, "height": m.height, "bitrate": m.bitrate, "maxrate": m.maxrate} for m in made]
        facts["measured"] = measured
        facts["segment_seconds"] = round(segment, 6)
        facts["profile"] = params.profile
        facts["timing_s"] = {"ladder_analysis": round(analysed - started, 3), "encode_and_package": round(encoded - analysed, 3),
                             "analysis_share": round((analysed - started) / max(encoded - analysed, 1e-9), 3)}
        out.write_json(LADDER_NAME, facts)
        saving = facts["fixed_ladder"]["saving"] if facts["fixed_ladder"] else None
        rungs = ", ".join(f"{r['height'] if r['width'] >= r['height'] else r['width']}p@{r['bitrate'] // 1000}k" for r in facts["rungs"])
        summary = f"{len(made)} rungs ({rungs}), CMAF HLS + DASH, {segment:g} s segments"
        if saving is not None:
            summary += f"; {saving:.0%} less bitrate than a fixed ladder at equal XPSNR"
        return JobOutcome(summary, {"rungs": facts["rungs"], "fixed_ladder_saving": saving,
                                    "master": f"{FOLDER}/{MASTER_NAME}", "mpd": f"{FOLDER}/{cmaf.MPD_NAME}",
                                    "timing_s": facts["timing_s"]})

    return run_job(cfg, video, JOB, params, work, force=force, progress=progress)


__all__ = ["JOB", "Params", "candidate_sizes", "measure_points", "plan_ladder", "run"]
