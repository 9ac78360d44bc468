"""Per-title ladder planning and CMAF packaging of one local video file (used by ``genmedia package`` and trailers).

:func:`plan_ladder` samples a few short spans chosen by difficulty (``genmedia.media.complexity``: the
source's bits per span, read without decoding), encodes them at each candidate size (never above the
source) and three rates with the rungs' own VBV cap, scores each encode with libavfilter's XPSNR and SSIM
at display size, and picks for each of the profile's target qualities the size that reaches it at the
lowest rate (``genmedia.delivery.ladder``); a typical fixed ladder is read off the same measured curves so
the saving is stated at equal measured quality. :func:`package_video` then encodes the chosen rungs in one
pass into CMAF segments with a DASH MPD and HLS playlists over the same segments.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from genmedia.config import DeliveryConfig, LadderProfile
from genmedia.delivery import ladder
from genmedia.delivery.playlists import read_mpd, write_hls
from genmedia.errors import InputError
from genmedia.media import cmaf, complexity
from genmedia.media.probe import MediaInfo
from genmedia.media.quality import FrameComparer
from genmedia.progress import ProgressFn, no_progress

REFERENCE_SHORT_SIDE = 720
"""Quality is compared at display size, capped at this short side (a 1080p or 4K source is scored at 720p:
rungs are ranked against each other, and scoring cost grows with the reference's pixels)."""
SCORE_EVERY = 2
"""Every second picture of a sample encode is scored (neighbouring pictures score alike; half the cost)."""


def profile_named(dc: DeliveryConfig, name: str) -> LadderProfile:
    """The delivery profile ``name``; InputError listing the configured ones."""
    try:
        return dc.profiles[name]
    except KeyError:
        raise InputError(name, f"unknown delivery profile; configured: {', '.join(sorted(dc.profiles))}") from None


def candidate_sizes(info: MediaInfo, short_sides: list[int]) -> tuple[list[tuple[int, int]], list[str]]:
    """Rung sizes for the profile's short sides that do not exceed the source (never upscaled), and notes."""
    display = cmaf.display_size(info)
    source_short = min(display)
    sizes = list(
        dict.fromkeys(cmaf.size_for(display, s) for s in sorted(set(short_sides), reverse=True) if s <= source_short)
    )
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
    spans: list[cmaf.Span],
    sizes: list[tuple[int, int]],
    rates: dict[tuple[int, int], list[int]],
    fps: float,
    settings: cmaf.EncodeSettings,
    progress: ProgressFn = no_progress,
) -> list[ladder.RatePoint]:
    """Encode every span at every (size, rate), score it against the span, and return one point per (size, rate).

    The spans are scaled to each size once and encoded at each of its rates from there.
    """
    ref = (spans[0].frames[0].width, spans[0].frames[0].height)
    seconds = sum(len(s.frames) for s in spans) / fps
    total = sum(len(rates[size]) for size in sizes)
    points = []
    for size in sizes:
        pictures = [cmaf.scaled(span.frames, size) for span in spans]
        for rate in rates[size]:
            comparer = FrameComparer(ref, size)
            bits = 0
            for span, scaled in zip(spans, pictures, strict=True):
                decoded, used = cmaf.encode_sample(scaled, size, rate, fps, settings)
                bits += used
                for reference, picture in list(zip(span.frames, decoded, strict=False))[::SCORE_EVERY]:
                    comparer.add(reference, picture)
            q = comparer.result()
            points.append(ladder.RatePoint(size[0], size[1], rate, bits / seconds, q.xpsnr, q.ssim))
            progress("ladder", len(points), total)
    return points


def sample_starts(path: Path, info: MediaInfo, dc: DeliveryConfig) -> list[float]:
    """Starts of the ladder's sample spans: a stratified sample of the title's difficulty (source bits per span).

    As many spans as ``delivery.sample_fraction`` of the video allows; spread evenly in time when the
    packets tell nothing (no timestamps).
    """
    span_seconds = min(dc.span_seconds, info.duration)
    evenly = cmaf.sample_starts(info.duration, _sample_seconds(dc, info.duration), span_seconds)
    windows = complexity.scan_windows(str(path), info, span_seconds)
    return complexity.pick_spans(windows, len(evenly), span_seconds) or evenly


def plan_ladder(
    path: Path,
    info: MediaInfo,
    dc: DeliveryConfig,
    profile: LadderProfile,
    settings: cmaf.EncodeSettings,
    *,
    progress: ProgressFn = no_progress,
    warnings: list[str] | None = None,
) -> dict[str, Any]:
    """Sample, measure and choose the ladder of the video at ``path``; the facts for ladder.json."""
    sizes, notes = candidate_sizes(info, profile.short_sides)
    if warnings is not None:
        warnings.extend(notes)
    display = cmaf.display_size(info)
    ref_size = cmaf.size_for(display, min(REFERENCE_SHORT_SIDE, cmaf.even(min(display))))
    span_seconds = min(dc.span_seconds, info.duration)
    spans = cmaf.read_spans(str(path), info, sample_starts(path, info, dc), span_seconds, ref_size)
    if not spans:
        raise InputError(str(path), "no picture could be decoded for the ladder's samples")
    rates = {size: sorted({cmaf.bits_per_pixel_rate(size, info.fps, bpp) for bpp in dc.rates_bpp}) for size in sizes}
    points = measure_points(spans, sizes, rates, info.fps, settings, progress)
    by_size = ladder.curves(points)
    rungs = ladder.choose_ladder(by_size, profile.targets_xpsnr)
    fixed_rates = {cmaf.size_for(display, side): rate for side, rate in ladder.FIXED_LADDER}
    fixed = [ladder.at_rate(by_size[size], fixed_rates[size]) for size in sizes if size in fixed_rates]
    return {
        "sizes": [f"{w}x{h}" for w, h in sizes],
        "reference_size": f"{ref_size[0]}x{ref_size[1]}",
        "samples": {
            "spans": len(spans),
            "seconds": round(sum(len(s.frames) for s in spans) / info.fps, 3),
            "starts": [s.start for s in spans],
            "chosen_by": "source bits per span: one span from each equal band of difficulty",
        },
        "metric": "xpsnr (dB, Y:U:V 4:1:1, scaled back to the reference size with bicubic); ssim beside it; "
        "VMAF is not in the bundled FFmpeg",
        "points": [ladder.point_dict(p) for p in points],
        "hull": [ladder.point_dict(p) for p in ladder.convex_hull(points)],
        "rungs": [asdict(r) for r in rungs],
        "fixed_ladder": ladder.fixed_ladder_saving(by_size, fixed) if fixed else None,
    }


def package_video(
    path: Path,
    info: MediaInfo,
    folder: Path,
    dc: DeliveryConfig,
    profile: LadderProfile,
    settings: cmaf.EncodeSettings,
    segment_seconds: float,
    *,
    progress: ProgressFn = no_progress,
    warnings: list[str] | None = None,
) -> dict[str, Any]:
    """Plan the ladder of ``path`` and package it into ``folder`` (CMAF segments, MPD, HLS playlists).

    Returns the facts for ladder.json: the ladder plan, the rungs as encoded, each representation's
    measured peak and average rate, the segment length and the time each step took.
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    facts = plan_ladder(path, info, dc, profile, settings, progress=progress, warnings=warnings)
    analysed, cpu_analysed = time.perf_counter(), time.process_time()
    rung_list = [((r["width"], r["height"]), r["bitrate"]) for r in facts["rungs"]]
    made, segment = cmaf.package(
        str(path),
        info,
        rung_list,
        folder,
        segment_seconds=segment_seconds,
        settings=settings,
        audio_bitrate=profile.audio_bitrate,
        audio_channels=profile.audio_channels,
        progress=progress,
    )
    encoded, cpu_encoded = time.perf_counter(), time.process_time()
    facts["measured"] = write_hls(folder, read_mpd(folder / cmaf.MPD_NAME))
    facts["encoded"] = [asdict(m) for m in made]
    facts["segment_seconds"] = round(segment, 6)
    facts["timing_s"] = {
        "ladder_analysis": round(analysed - started, 3),
        "encode_and_package": round(encoded - analysed, 3),
        "analysis_share": round((analysed - started) / max(encoded - analysed, 1e-9), 3),
        # CPU seconds of this process (encoder threads included): less swayed by other work on a shared machine.
        "analysis_cpu_share": round((cpu_analysed - cpu_started) / max(cpu_encoded - cpu_analysed, 1e-9), 3),
    }
    return facts


def summary_of(facts: dict[str, Any]) -> str:
    """One line: the rungs, the packaging and the saving against the fixed ladder."""
    rungs = ", ".join(f"{min(r['width'], r['height'])}p@{r['bitrate'] // 1000}k" for r in facts["rungs"])
    line = f"{len(facts['encoded'])} rungs ({rungs}), CMAF HLS + DASH, {facts['segment_seconds']:g} s segments"
    if facts["fixed_ladder"]:
        line += f"; {facts['fixed_ladder']['saving']:.0%} less bitrate than a fixed ladder at equal XPSNR"
    return line


__all__ = [
    "candidate_sizes",
    "measure_points",
    "package_video",
    "plan_ladder",
    "profile_named",
    "sample_starts",
    "summary_of",
]
