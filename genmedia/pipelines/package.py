"""``genmedia package``: any video as a per-title bitrate ladder, packaged once as CMAF for HLS and DASH.

Steps (on the worker that runs the job; x264 keeps its cores busy), in ``genmedia.delivery.packager``:

1. Ladder analysis: a few short spans spread over the video are encoded at each candidate size (never
   above the source) and several rates with the rungs' own VBV cap and scored with libavfilter's XPSNR and
   SSIM; for each of the profile's target qualities the ladder takes the size that reaches it at the
   lowest rate. A typical fixed ladder is measured on the same samples; the saving is stated at equal
   measured quality.
2. One decode of the whole video; every rung encoded with capped VBV (``maxrate``/``bufsize``) and a
   keyframe exactly at each segment boundary; one AAC rendition; FFmpeg's ``dash`` muxer writes CMAF
   segments and the MPD, and the HLS playlists point at the same segments (no second encode).

Outputs (immutable keys and cache headers): ``package/manifest.mpd``, ``package/master.m3u8``, the media
playlists, ``package/init_*.m4s`` and ``package/chunk_*.m4s``, and ``ladder.json`` (the measured points,
hull, chosen rungs, fixed-ladder comparison and the time each step took).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from genmedia.config import Config
from genmedia.delivery.packager import package_video, profile_named, summary_of
from genmedia.delivery.playlists import MASTER_NAME
from genmedia.errors import InputError
from genmedia.media import cmaf
from genmedia.media.probe import probe
from genmedia.pipelines.job import JobContext, JobOutcome, run_job
from genmedia.progress import ProgressFn, no_progress
from genmedia.schemas import JobResult
from genmedia.scratch import scratch_dir
from genmedia.storage import JobOutput
from genmedia.validation import OneLine

JOB = "package"
FOLDER = "package"
LADDER_NAME = "ladder.json"
IMMUTABLE = "public, max-age=31536000, immutable"
"""Output keys contain the input's content hash and the parameters' hash, so they never change."""
CONTENT_TYPES = {
    ".mpd": "application/dash+xml",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".json": "application/json",
}


class Params(BaseModel):
    """How to package the video."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: OneLine = Field(
        "default", max_length=32, description="A delivery profile of the config (default, mobile, ...)."
    )
    codec: OneLine | None = Field(None, max_length=16, description="Video codec of the rungs; None: the config's.")
    segment_seconds: float | None = Field(None, gt=0, le=20, description="Segment length; None: the config's.")


def publish_folder(out: JobOutput, folder: Path, prefix: str) -> None:
    """Write every file of a packaged folder under ``prefix/`` with its content type and immutable caching."""
    for path in sorted(folder.iterdir()):
        out.write_file(f"{prefix}/{path.name}", path, content_type=CONTENT_TYPES[path.suffix], cache_control=IMMUTABLE)


def package_output(
    ctx: JobContext,
    video: Path,
    tmp: Path,
    *,
    short_sides: list[int] | None = None,
    segment_seconds: float | None = None,
) -> dict[str, Any]:
    """Package a video this job made (a trailer rendition, an enhanced file) for streaming, beside its outputs.

    The per-title ladder of the delivery config's default profile (``short_sides`` replaces its sizes) in
    CMAF segments with an HLS master playlist and a DASH MPD under ``package/``, plus ``package/ladder.json``.
    Returns what the job's result should say about it.
    """
    cfg = ctx.cfg
    dc = cfg.delivery
    profile = profile_named(dc, "default")
    if short_sides:
        profile = profile.model_copy(update={"short_sides": short_sides})
    settings = cmaf.EncodeSettings(
        codec=dc.codec, preset=dc.preset, peak_factor=dc.peak_factor, buffer_seconds=dc.buffer_seconds
    )
    facts = package_video(
        video,
        probe(video, cfg.limits),
        tmp / FOLDER,
        dc,
        profile,
        settings,
        segment_seconds or dc.segment_seconds,
        progress=ctx.progress,
        warnings=ctx.warnings,
    )
    publish_folder(ctx.output, tmp / FOLDER, FOLDER)
    ctx.output.write_bytes(
        f"{FOLDER}/{LADDER_NAME}",
        json.dumps(facts, indent=2).encode(),
        content_type=CONTENT_TYPES[".json"],
        cache_control=IMMUTABLE,
    )
    return {
        "master": f"{FOLDER}/{MASTER_NAME}",
        "mpd": f"{FOLDER}/{cmaf.MPD_NAME}",
        "rungs": facts["rungs"],
        "fixed_ladder_saving": (facts["fixed_ladder"] or {}).get("saving"),
    }


def run(
    cfg: Config, video: str, params: Params, *, force: bool = False, progress: ProgressFn = no_progress
) -> JobResult:
    """Package ``video`` as a per-title ladder: CMAF segments with an HLS master playlist and a DASH MPD.

    Raises InputError for an unusable video, an unknown profile or an unsupported codec (before any work).
    """
    dc = cfg.delivery
    profile = profile_named(dc, params.profile)
    settings = cmaf.EncodeSettings(
        codec=params.codec or dc.codec, preset=dc.preset, peak_factor=dc.peak_factor, buffer_seconds=dc.buffer_seconds
    )
    settings.encoder()  # an unknown codec fails here, naming the supported ones
    segment_seconds = params.segment_seconds or dc.segment_seconds

    def work(ctx: JobContext) -> JobOutcome:
        if ctx.info.fps <= 0:
            raise InputError(video, "has no usable frame rate")
        out = ctx.output
        with scratch_dir(cfg.storage, out.video_id, out.job, out.params_hash) as tmp:
            facts = package_video(
                ctx.path,
                ctx.info,
                tmp / FOLDER,
                dc,
                profile,
                settings,
                segment_seconds,
                progress=ctx.progress,
                warnings=ctx.warnings,
            )
            publish_folder(out, tmp / FOLDER, FOLDER)
        facts["profile"] = params.profile
        out.write_bytes(
            LADDER_NAME,
            json.dumps(facts, indent=2).encode(),
            content_type=CONTENT_TYPES[".json"],
            cache_control=IMMUTABLE,
        )
        saving = facts["fixed_ladder"]["saving"] if facts["fixed_ladder"] else None
        return JobOutcome(
            summary_of(facts),
            {
                "rungs": facts["rungs"],
                "fixed_ladder_saving": saving,
                "master": f"{FOLDER}/{MASTER_NAME}",
                "mpd": f"{FOLDER}/{cmaf.MPD_NAME}",
                "timing_s": facts["timing_s"],
            },
        )

    return run_job(cfg, video, JOB, params, work, force=force, progress=progress)


__all__ = ["JOB", "Params", "package_output", "publish_folder", "run"]
