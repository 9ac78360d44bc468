"""``genmedia trailer``: a trailer cut from a video's highlights, synchronised to music, rendered as a
quality ladder (H.264/AAC MP4, +faststart) with an edit decision list, a poster frame and optional HLS.

Stages: the scene analysis (``load_analysis``, itself a Ray Data pipeline, cached) -> highlight scoring,
pacing and sound-synchronised cut planning (pure functions on the driver) -> :func:`build`: one Ray task
per chosen clip decodes exactly that range at the largest rendition's size -> composition with the
transitions and encoding of every rendition in one pass on the driver (one encoder per rendition; a
video stream is written in order) -> sound assembled from the same ranges, mixed with the music,
normalised to the target loudness -> outputs with content types and immutable cache headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal

import cv2
import numpy as np
import ray
from pydantic import BaseModel, ConfigDict, Field, field_validator

from genmedia.config import Config
from genmedia.errors import InputError
from genmedia.media.encode import to_fraction
from genmedia.media.probe import MediaInfo, probe
from genmedia.pipelines.frames import decode_stage
from genmedia.pipelines.job import JobContext, JobOutcome, run_job
from genmedia.pipelines.package import package_output
from genmedia.pipelines.titles import WRITER_KEY, check_writer, is_auto, title_for
from genmedia.progress import ProgressFn, no_progress
from genmedia.schemas import JobResult
from genmedia.scratch import scratch_dir
from genmedia.storage import filesystem, join_uri, stage_input
from genmedia.trailer import frames as tframes
from genmedia.trailer import mix
from genmedia.trailer.edl import AudioPlan, EditDecisionList
from genmedia.trailer.material import from_analysis, words_from_transcript
from genmedia.trailer.planner import NoMaterial, PlanRequest, plan_trailer
from genmedia.trailer.render import encode_renditions
from genmedia.validation import OneLine

JOB = "trailer"
EDL_NAME = "edit_decision_list.json"
POSTER_NAME = "poster.jpg"
IMMUTABLE = "public, max-age=31536000, immutable"
"""Output keys contain the input's content hash and the parameters' hash, so they never change."""
CONTENT_TYPES = {".mp4": "video/mp4", ".json": "application/json", ".jpg": "image/jpeg"}
BATCH_FRAMES = 8


class Params(BaseModel):
    """What trailer to make."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    duration: float = Field(30.0, gt=0, le=600, description="Target length in seconds (the result is within 0.5 s).")
    music: OneLine | None = Field(
        None, max_length=4096, description="A music track (local path or s3:// URI); None: the source's own sound."
    )
    qualities: list[Annotated[OneLine, Field(max_length=16)]] = Field(
        default_factory=lambda: ["1080p", "720p", "480p"],
        min_length=1,
        max_length=8,
        description="Renditions by short side; none larger than the source.",
    )
    style: Literal["action", "calm"] = "action"
    hls: bool = Field(
        False,
        description="Also package for streaming: a per-title ladder of the qualities in CMAF "
        "segments with an HLS master playlist and a DASH MPD (package/).",
    )
    title: OneLine | None = Field(
        None,
        max_length=80,
        description="End-card title (no control characters); 'auto': written by models.text_writer from the "
        "transcript, tags and mood; default: the input's file name.",
    )
    transcript: OneLine | None = Field(
        None, max_length=4096, description="A transcript.json with word times; default: the subtitles job's, if done."
    )
    spoiler_fraction: float | None = Field(
        None, ge=0, lt=0.9, description="Skip the source's last fraction (None: config)."
    )

    @field_validator("qualities")
    @classmethod
    def _qualities(cls, v: list[str]) -> list[str]:
        for q in v:
            tframes.parse_quality(q)
        return [q.strip().lower() for q in v]

    def input_files(self) -> dict[str, str]:
        """The other files this trailer reads, by parameter name (validated by the HTTP API, hashed by the job)."""
        return {name: uri for name, uri in (("music", self.music), ("transcript", self.transcript)) if uri}


def decode_clips(
    batch: dict[str, np.ndarray], *, info: MediaInfo, edl_json: str, width: int, height: int
) -> Iterator[dict[str, Any]]:
    """Ray Data UDF: for each clip row, its frames (handles included) at ``width x height``, upright.

    Rows: ``clip`` (index), ``frame`` (trailer frame number), ``image`` (H x W x 3 uint8).
    """
    edl = EditDecisionList.model_validate_json(edl_json)
    rate = edl.rate
    for k in batch["clip"].tolist():
        clip = edl.clips[k]
        pre, post = tframes.clip_span(edl, k)
        start = clip.source_in - pre / float(rate)
        first = clip.trailer_in_frame - pre
        images: list[np.ndarray] = []
        for image in tframes.decode_span(info, start, clip.frames + pre + post, rate, width, height, threads=2):
            images.append(image)
            if len(images) == BATCH_FRAMES:
                yield _rows(k, first, images)
                first, images = first + len(images), []
        if images:
            yield _rows(k, first, images)


def _rows(k: int, first: int, images: list[np.ndarray]) -> dict[str, np.ndarray]:
    return {"clip": np.full(len(images), k), "frame": np.arange(first, first + len(images)), "image": np.stack(images)}


def build(cfg: Config, info: MediaInfo, edl: EditDecisionList, width: int, height: int) -> ray.data.Dataset:
    """The frames of every clip, decoded by one Ray task per clip (one CPU each: FFmpeg threads keep it busy),
    in clip order. Retries are bounded: a file that crashes the decoder crashes it again."""
    ds = decode_stage(
        [{"clip": k} for k in range(len(edl.clips))],
        decode_clips,
        attempts=cfg.limits.decode_attempts,
        fn_kwargs={"info": info, "edl_json": edl.model_dump_json(), "width": width, "height": height},
    )
    ds.context.execution_options.preserve_order = True
    return ds


def _check_music(cfg: Config, music: str) -> tuple[Path, MediaInfo]:
    """Stage and probe the music track; InputError unless it has an audio stream."""
    path = stage_input(music, cfg.storage)
    try:
        info = probe(path, cfg.limits, require_video=False)
    except InputError as e:
        raise InputError(music, f"is not a usable audio file ({e.reason})") from None
    if not info.has_audio:
        raise InputError(music, "has no audio stream, so it cannot be the trailer's music")
    return path, info


def _find_words(cfg: Config, ctx: JobContext, transcript: str | None) -> list[tuple[float, float]]:
    """Word times from ``transcript`` or from a finished subtitles job on the same video, if any."""
    if transcript:
        path = stage_input(transcript, cfg.storage)
        try:
            return words_from_transcript(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise InputError(transcript, f"is not a transcript JSON ({e})") from None
    fs, base = filesystem(join_uri(cfg.storage.root, ctx.output.video_id, "subtitles"), cfg.storage)
    for manifest in sorted(fs.glob(f"{base}/*/manifest.json")):
        candidate = manifest.rsplit("/", 1)[0] + "/transcript.json"
        if fs.exists(candidate):
            try:
                return words_from_transcript(fs.cat_file(candidate).decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                ctx.warnings.append(f"{candidate}: unreadable transcript ignored")
    return []


def _music_beats(path: Path, duration: float) -> list[float]:
    """Beat times of the music track's first ``duration`` seconds (the analysis' beat tracker)."""
    from genmedia.analysis.audio import SAMPLE_RATE, analyse_audio
    from genmedia.media.audio import iter_audio

    def chunks() -> Iterator[np.ndarray]:
        remaining = round((duration + 1.0) * SAMPLE_RATE)
        for chunk in iter_audio(path, SAMPLE_RATE, chunk_seconds=10.0):
            yield chunk[:remaining]
            remaining -= chunk.size
            if remaining <= 0:
                return

    return [float(t) for t in analyse_audio(chunks(), SAMPLE_RATE).beat_times]


def _output_fps(info: MediaInfo) -> Fraction:
    """The trailer's frame rate: the source's nominal rate (its average for variable-rate sources)."""
    rate = to_fraction(round(info.fps, 3) if info.variable_frame_rate else info.fps)
    return rate if rate <= 120 else Fraction(60)


def _render(
    ctx: JobContext,
    params: Params,
    edl: EditDecisionList,
    rungs: list[tframes.Rung],
    tmp: Path,
    music_path: Path | None,
) -> dict[str, Any]:
    """Render pictures and sound, write every output; return facts for the manifest."""
    cfg, info, tc = ctx.cfg, ctx.info, ctx.cfg.pipelines.trailer
    sr = tc.audio_rate
    # sound first (it is small): the clips' source sound, the music, the loudness
    if info.has_audio:
        track = mix.assemble(edl, mix.read_ranges(ctx.path, mix.source_ranges(edl, sr), sr), sr)
    else:
        track = np.zeros(round(edl.frame_count / float(edl.rate) * sr), np.float32)
    if music_path is not None:
        gain = 10 ** (edl.audio.source_gain_db / 20)
        track = mix.music_bed(music_path, edl.audio.music_offset, edl, sr) + gain * track
    stereo, loudness = mix.finish(track, sr, tc.target_lufs)
    top = rungs[0]
    compositor = tframes.Compositor(edl, top.width, top.height)

    def final_frames() -> Iterator[np.ndarray]:
        done = 0
        for batch in build(cfg, info, edl, top.width, top.height).iter_batches(batch_size=None, batch_format="numpy"):
            for k, f, image in zip(batch["clip"].tolist(), batch["frame"].tolist(), batch["image"], strict=True):
                for out in compositor.add(k, f, image):
                    yield out
                    done += 1
                    ctx.progress("render", done, edl.frame_count)
        for out in compositor.finish():
            yield out
            done += 1
            ctx.progress("render", done, edl.frame_count)

    rendered = encode_renditions(
        edl,
        final_frames(),
        stereo,
        sr,
        rungs,
        tmp,
        encoder=tc.encoder,
        crf=tc.crf,
        preset=tc.preset,
        gop_seconds=tc.gop_seconds,
        max_bits_per_pixel=tc.max_bits_per_pixel,
    )
    edl = edl.model_copy(update={"audio": edl.audio.model_copy(update={"measured_lufs": loudness})})
    out = ctx.output
    for path in rendered.files.values():
        out.write_file(path.name, path, content_type=CONTENT_TYPES[".mp4"], cache_control=IMMUTABLE)
    out.write_bytes(
        EDL_NAME, edl.model_dump_json(indent=2).encode(), content_type=CONTENT_TYPES[".json"], cache_control=IMMUTABLE
    )
    poster = compositor.still if compositor.still is not None else np.zeros((top.height, top.width, 3), np.uint8)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(poster, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    out.write_bytes(POSTER_NAME, jpeg.tobytes(), content_type=CONTENT_TYPES[".jpg"], cache_control=IMMUTABLE)
    streaming = (
        package_output(
            ctx,
            rendered.files[rungs[0].name],
            tmp,
            short_sides=[min(r.width, r.height) for r in rungs],
            segment_seconds=tc.hls_segment_seconds,
        )
        if params.hls
        else None
    )
    return {
        "encoder": rendered.encoder,
        "measured_lufs": loudness,
        "edl": edl,
        "streaming": streaming,
        "max_bitrate": rendered.max_bitrate,
    }


def run(
    cfg: Config, video: str, params: Params, *, force: bool = False, progress: ProgressFn = no_progress
) -> JobResult:
    """Make a trailer of ``video``; outputs: ``trailer_{quality}.mp4`` per rendition, ``edit_decision_list.json``,
    ``poster.jpg``, ``package/`` (CMAF HLS + DASH ladder, with ``params.hls``) and ``manifest.json``.

    Raises InputError for an unusable video or music file (a music file without sound included).
    """
    music_path = _check_music(cfg, params.music)[0] if params.music else None

    def work(ctx: JobContext) -> JobOutcome:
        from genmedia.pipelines.analyze import load_analysis

        tc = cfg.pipelines.trailer
        rungs, notes = tframes.ladder(ctx.info, params.qualities)
        ctx.warnings.extend(notes)
        progress("analyse", 0, 1)
        analysis = load_analysis(cfg, video)
        progress("analyse", 1, 1)
        words = _find_words(cfg, ctx, params.transcript)
        generated = (
            title_for(ctx.cfg, ctx.output.video_id, analysis.shot_details, ctx.warnings, params.transcript)
            if is_auto(params.title)
            else None
        )
        material = from_analysis(analysis, str(ctx.path), words)
        if not ctx.info.has_audio and music_path is None:
            ctx.warnings.append(f"{video}: no audio stream and no music given; the trailer is silent")
        request = PlanRequest(
            duration=params.duration,
            style=params.style,
            fps=_output_fps(ctx.info),
            spoiler_fraction=tc.spoiler_fraction if params.spoiler_fraction is None else params.spoiler_fraction,
            max_clips_per_shot=tc.max_clips_per_shot,
            title=generated.title if generated else params.title if params.title is not None else Path(video).stem,
            music_beats=_music_beats(music_path, params.duration) if music_path else None,
        )
        kind = (
            ("music+source" if ctx.info.has_audio else "music")
            if music_path
            else ("source" if ctx.info.has_audio else "silent")
        )
        audio = AudioPlan(
            kind=kind,
            music=params.music,
            source_gain_db=tc.music_source_gain_db if music_path else 0.0,
            target_lufs=tc.target_lufs,
            beats=request.music_beats or [],
        )
        try:
            edl, notes = plan_trailer(
                material, request, source=video, width=rungs[0].width, height=rungs[0].height, audio=audio
            )
        except NoMaterial as e:
            raise InputError(video, str(e)) from None
        ctx.warnings.extend(notes)
        if generated is not None and edl.end_card is not None:
            edl = edl.model_copy(
                update={"end_card": edl.end_card.model_copy(update={"title_generation": generated.to_json()})}
            )
        out = ctx.output
        with scratch_dir(cfg.storage, out.video_id, out.job, out.params_hash) as tmp:
            facts = _render(ctx, params, edl, rungs, tmp, music_path)
        edl = facts["edl"]
        summary = (
            f"{edl.duration:.2f} s trailer, {len(edl.clips)} clips cut on {edl.sync}, "
            f"{', '.join(r.name for r in rungs)} ({facts['encoder']})"
        )
        return JobOutcome(
            summary,
            {
                "duration": edl.duration,
                "frame_count": edl.frame_count,
                "fps": edl.fps,
                "clips": len(edl.clips),
                "sync": edl.sync,
                "renditions": {r.name: f"{r.width}x{r.height}" for r in rungs},
                "encoder": facts["encoder"],
                "loudness_lufs": facts["measured_lufs"],
                "hls": params.hls,
                "streaming": facts["streaming"],
                "max_bitrate": facts["max_bitrate"],
                "audio": edl.audio.kind,
                "title": edl.end_card.title if edl.end_card else None,
                "title_generation": generated.to_json() if generated else None,
            },
        )

    auto = is_auto(params.title)
    if auto:
        check_writer(cfg)
    return run_job(
        cfg,
        video,
        JOB,
        params,
        work,
        force=force,
        progress=progress,
        input_files=params.input_files(),
        models=[WRITER_KEY] if auto else (),
    )
