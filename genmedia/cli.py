"""``genmedia ...``: the command line. Every job command follows ``genmedia JOB INPUT [--config F] [--out DIR]``.

Exit codes: 0 success, 2 bad input or usage, 1 internal failure. Errors are one line on stderr,
never a traceback (set ``GENMEDIA_DEBUG=1`` to see one).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console

from genmedia.config import Config, load_config
from genmedia.errors import GenmediaError, InputError
from genmedia.models.cli import app as models_app
from genmedia.progress import progress_bars
from genmedia.schemas import JobResult
from genmedia.serving.cli import app as serve_app

app = typer.Typer(
    name="genmedia",
    help="Generated and enhanced media from a video library, on Ray.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(models_app, name="models", help="List and stage model weights.")
app.add_typer(serve_app, name="serve", help="Run the HTTP API on Ray Serve; `serve build` writes its Serve config.")

err = Console(stderr=True)
out = Console()

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config file (default: embedded local config).")
]
OutOption = Annotated[str | None, typer.Option("--out", "-o", help="Output root (overrides storage.root).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a machine-readable result.")]


ForceOption = Annotated[bool, typer.Option("--force", help="Redo the job even if its manifest exists.")]


def config_for(config: Path | None, out_root: str | None = None) -> Config:
    """Load the config and apply the ``--out`` override."""
    overrides = {"storage": {"root": out_root}} if out_root else {}
    return load_config(config, **overrides)


def print_result(result: JobResult, as_json: bool) -> None:
    """End a job command: JSON with ``--json``, else warnings then the one-line summary with the output location."""
    if as_json:
        out.print_json(result.model_dump_json())
        return
    for w in result.warnings:
        err.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    out.print(result.summary_line(), highlight=False, soft_wrap=True)


def run_job_command(
    job: ModuleType,
    video: str,
    cfg: Config,
    make_params: Callable[[], BaseModel],
    *,
    force: bool,
    as_json: bool,
    options: Mapping[str, str] | None = None,
) -> None:
    """The tail of every job command: build the job's params from the options (a validation error is bad
    input, reported as ``--option: reason`` with the option as the user typed it; ``options`` maps a parameter
    to its option where the two names differ), run the job with progress bars, print the result."""
    try:
        params = make_params()
    except ValidationError as e:
        names = options or {}
        reasons = (
            f"{names.get(str(x['loc'][0]), '--' + str(x['loc'][0]).replace('_', '-')) if x['loc'] else 'options'}: "
            f"{x['msg'].removeprefix('Value error, ')}"
            for x in e.errors()
        )
        raise InputError(f"{job.JOB} options", "; ".join(reasons)) from None
    with progress_bars(err) as progress:
        result = job.run(cfg, video, params, force=force, progress=progress)
    print_result(result, as_json)


@app.command()
def probe(
    video: Annotated[str, typer.Argument(help="A local media file.")],
    config: ConfigOption = None,
    allow_audio: Annotated[bool, typer.Option("--allow-audio", help="Accept audio-only files.")] = False,
) -> None:
    """Print a media file's validated metadata as JSON."""
    from genmedia.media.probe import probe as probe_file
    from genmedia.storage import stage_input

    cfg = config_for(config)
    info = probe_file(stage_input(video, cfg.storage), cfg.limits, require_video=not allow_audio)
    out.print_json(json.dumps(info.summary()))


@app.command()
def demo(
    out_root: OutOption = None,
    config: ConfigOption = None,
    small: Annotated[bool, typer.Option("--small", help="A shorter, smaller clip (used by the tests).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Make a sample clip with known content and run the jobs on it on a local Ray; write report.html."""
    from genmedia.demo import run_demo

    cfg = config_for(config, out_root)
    result = run_demo(cfg, small=small, console=err)
    if as_json:
        out.print_json(result.model_dump_json())
    else:
        out.print(result.summary_line())


@app.command()
def analyze(
    video: Annotated[str, typer.Argument(help="A video: local path, file:// or s3:// URI.")],
    config: ConfigOption = None,
    out_root: OutOption = None,
    as_json: JsonOption = False,
    force: ForceOption = False,
    sample_fps: Annotated[
        float | None, typer.Option("--sample-fps", help="Analysed frames per second (faces, colour, composition).")
    ] = None,
    min_shot: Annotated[float | None, typer.Option("--min-shot", help="Minimum shot length, seconds.")] = None,
    sensitivity: Annotated[
        float | None, typer.Option("--sensitivity", help="Cut sensitivity (>1 finds more cuts).")
    ] = None,
    faces: Annotated[str | None, typer.Option("--faces", help="auto | haar | centerface | detector.")] = None,
    embed: Annotated[str | None, typer.Option("--embed", help="shots | samples | off.")] = None,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Skip the audio analysis.")] = False,
) -> None:
    """Scene analysis: shots.json, features.parquet, audio.json and contact_sheet.png for VIDEO."""
    from genmedia.pipelines import analyze as job

    cfg = config_for(config, out_root)
    run_job_command(
        job,
        video,
        cfg,
        lambda: job.params_from(
            cfg,
            sample_fps=sample_fps,
            min_shot_seconds=min_shot,
            cut_sensitivity=sensitivity,
            faces=faces,
            embed=embed,
            audio=False if no_audio else None,
        ),
        force=force,
        as_json=as_json,
        options={"min_shot_seconds": "--min-shot", "cut_sensitivity": "--sensitivity", "audio": "--no-audio"},
    )


@app.command()
def trailer(
    video: Annotated[str, typer.Argument(help="A video: local path, file:// or s3:// URI.")],
    duration: Annotated[float, typer.Option("--duration", "-d", help="Target length in seconds.")] = 30.0,
    music: Annotated[
        str | None, typer.Option("--music", help="A music track to cut to (default: the video's own sound).")
    ] = None,
    qualities: Annotated[
        str, typer.Option("--qualities", help="Renditions by short side, e.g. 1080p,720p,480p.")
    ] = "1080p,720p,480p",
    style: Annotated[
        str, typer.Option("--style", help="action (fast, accelerating cuts) or calm (longer clips, cross-fades).")
    ] = "action",
    hls: Annotated[
        bool, typer.Option("--hls", help="Also write an HLS rendition (master playlist + variants).")
    ] = False,
    title: Annotated[
        str | None,
        typer.Option("--title", help="End-card title (default: the file name); auto: written by models.text_writer."),
    ] = None,
    transcript: Annotated[
        str | None,
        typer.Option("--transcript", help="transcript.json with word times (default: the subtitles job's, if done)."),
    ] = None,
    spoilers: Annotated[
        float | None,
        typer.Option("--skip-end", help="Never use this last fraction of the video (default from the config)."),
    ] = None,
    config: ConfigOption = None,
    out_root: OutOption = None,
    as_json: JsonOption = False,
    force: ForceOption = False,
) -> None:
    """A trailer of VIDEO: MP4 renditions, edit_decision_list.json, poster.jpg (and hls/ with --hls)."""
    from genmedia.pipelines import trailer as job

    cfg = config_for(config, out_root)
    run_job_command(
        job,
        video,
        cfg,
        lambda: job.Params(
            duration=duration,
            music=music,
            qualities=[q for q in qualities.split(",") if q.strip()],
            style=style,
            hls=hls,
            title=title,
            transcript=transcript,
            spoiler_fraction=spoilers,
        ),
        force=force,
        as_json=as_json,
        options={"spoiler_fraction": "--skip-end"},
    )


@app.command()
def package(
    video: Annotated[str, typer.Argument(help="A video: local path, file:// or s3:// URI.")],
    profile: Annotated[
        str, typer.Option("--profile", help="Delivery profile of the config: default, mobile, ...")
    ] = "default",
    codec: Annotated[
        str | None, typer.Option("--codec", help="Video codec of the rungs (default from the config).")
    ] = None,
    segment_seconds: Annotated[
        float | None, typer.Option("--segment-seconds", help="Segment length (default from the config).")
    ] = None,
    config: ConfigOption = None,
    out_root: OutOption = None,
    as_json: JsonOption = False,
    force: ForceOption = False,
) -> None:
    """VIDEO as a per-title bitrate ladder in CMAF segments with an HLS master playlist and a DASH MPD."""
    from genmedia.pipelines import package as job

    cfg = config_for(config, out_root)
    run_job_command(
        job,
        video,
        cfg,
        lambda: job.Params(profile=profile, codec=codec, segment_seconds=segment_seconds),
        force=force,
        as_json=as_json,
    )


@app.command()
def thumbnails(
    video: Annotated[str, typer.Argument(help="A video: local path, file:// or s3:// URI.")],
    variants: Annotated[int, typer.Option("--variants", "-n", help="How many variants (distinct key frames).")] = 6,
    aspects: Annotated[str, typer.Option("--aspects", help="Aspect ratios, comma-separated.")] = "16:9,1:1,9:16,4:5",
    size: Annotated[
        int, typer.Option("--size", help="Longer side of every output in pixels (16:9 -> 1280x720).")
    ] = 1280,
    formats: Annotated[str, typer.Option("--formats", help="jpeg, webp or both (comma-separated).")] = "jpeg,webp",
    title: Annotated[
        str | None,
        typer.Option(
            "--title",
            help="Title drawn on the thumbnails (long ones are shortened); auto: written by models.text_writer.",
        ),
    ] = None,
    style: Annotated[str, typer.Option("--style", help="Style preset of generative variants.")] = "cinematic",
    mode: Annotated[
        str,
        typer.Option(
            "--mode", help="auto, keyframe, img2img or text2img (auto: img2img when a generator is configured)."
        ),
    ] = "auto",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the first generative variant.")] = 0,
    same_shot: Annotated[bool, typer.Option("--same-shot", help="Allow several variants from one shot.")] = False,
    config: ConfigOption = None,
    out_root: OutOption = None,
    as_json: JsonOption = False,
    force: ForceOption = False,
) -> None:
    """Thumbnails of VIDEO: variants x aspect ratios (JPEG/WebP), thumbnails.json and thumbnails.html."""
    from genmedia.thumbnails.aspects import parse_aspects

    labels = [a.label for a in parse_aspects(aspects)]  # before the heavy imports: a typo fails at once
    from genmedia.pipelines import thumbnails as job

    cfg = config_for(config, out_root)
    run_job_command(
        job,
        video,
        cfg,
        lambda: job.Params(
            variants=variants,
            aspects=labels,
            size=size,
            formats=[f.strip() for f in formats.split(",") if f.strip()],
            title=title,
            style=style,
            mode=mode,
            seed=seed,
            same_shot=same_shot,
        ),
        force=force,
        as_json=as_json,
    )


@app.command()
def subtitles(
    media: Annotated[str, typer.Argument(help="A video or audio file: local path, file:// or s3:// URI.")],
    languages: Annotated[
        str,
        typer.Option(
            "--languages",
            "-l",
            help="Subtitle languages, comma-separated (ISO 639-1/3, FLORES-200 or names); default: the speech's own.",
        ),
    ] = "",
    source_language: Annotated[
        str | None, typer.Option("--source-language", help="The speech's language, if known (skips detection).")
    ] = None,
    formats: Annotated[str, typer.Option("--formats", help="srt, vtt, ass (comma-separated).")] = "srt,vtt,ass",
    denoise: Annotated[
        bool,
        typer.Option(
            "--denoise/--no-denoise",
            help="Also decode noisy chunks after RNNoise and keep the more confident transcript (off: it can cost words).",
        ),
    ] = False,
    diarize: Annotated[bool, typer.Option("--diarize/--no-diarize", help="Label speakers.")] = True,
    max_speakers: Annotated[int, typer.Option("--max-speakers", help="Most speakers to look for.")] = 8,
    voiceprints: Annotated[
        bool,
        typer.Option(
            "--voiceprints/--no-voiceprints", help="Name speakers from the voiceprint library (and add new voices)."
        ),
    ] = True,
    segment_language: Annotated[
        str,
        typer.Option(
            "--segment-language", help="Language detection per segment: off, auto (doubtful segments) or all."
        ),
    ] = "auto",
    hallucination_control: Annotated[
        bool,
        typer.Option("--hallucination-control/--no-hallucination-control", help="Re-decode and flag invented text."),
    ] = True,
    beam_size: Annotated[
        int | None, typer.Option("--beam-size", help="Beam width (default: the model entry's).")
    ] = None,
    shot_changes: Annotated[
        str | None,
        typer.Option(
            "--shot-changes",
            help="Shot-change times in seconds to snap cues to (default: from the analysis of a video).",
        ),
    ] = None,
    no_shots: Annotated[bool, typer.Option("--no-shots", help="Do not snap cues to shot changes.")] = False,
    glossary: Annotated[
        list[str] | None,
        typer.Option("--glossary", help="A name or term never translated (repeat the option for more)."),
    ] = None,
    soften_profanity: Annotated[
        bool, typer.Option("--soften-profanity", help="Replace strong words by milder ones (per-language list).")
    ] = False,
    convert_units: Annotated[
        bool, typer.Option("--convert-units", help="Units in each subtitle locale's measurement system.")
    ] = False,
    config: ConfigOption = None,
    out_root: OutOption = None,
    as_json: JsonOption = False,
    force: ForceOption = False,
) -> None:
    """Subtitles of MEDIA: {lang}.srt/.vtt/.ass per language, transcript.json (words, speakers, confidence)."""
    from genmedia.pipelines import subtitles as job

    cfg = config_for(config, out_root)
    try:
        shots = [float(t) for t in shot_changes.split(",") if t.strip()] if shot_changes else None
    except ValueError:
        raise InputError(str(shot_changes), "--shot-changes: expected comma-separated seconds") from None
    run_job_command(
        job,
        media,
        cfg,
        lambda: job.Params(
            languages=languages,
            source_language=source_language,
            formats=[f.strip() for f in formats.split(",") if f.strip()],
            denoise=denoise,
            diarize=diarize,
            max_speakers=max_speakers,
            voiceprints=voiceprints,
            per_segment_language=segment_language,
            hallucination_control=hallucination_control,
            beam_size=beam_size,
            snap_to_shots=not no_shots,
            shot_changes=shots,
            glossary=glossary or [],
            soften_profanity=soften_profanity,
            convert_units=convert_units,
        ),
        force=force,
        as_json=as_json,
        options={"per_segment_language": "--segment-language", "snap_to_shots": "--no-shots"},
    )


voices_app = typer.Typer(no_args_is_help=True, help="The voiceprint library that keeps speaker names across files.")
app.add_typer(voices_app, name="voices")


def _voice_library(config: Path | None):  # noqa: ANN202 (VoiceLibrary, imported lazily)
    from genmedia.subtitles.voiceprints import VoiceLibrary

    cfg = config_for(config)
    return VoiceLibrary(cfg.pipelines.subtitles.voiceprints or cfg.storage.cache_path / "voiceprints.json")


@voices_app.command("list")
def voices_list(config: ConfigOption = None) -> None:
    """List the stored voices."""
    for name in _voice_library(config).names():
        out.print(name, highlight=False)


@voices_app.command("rename")
def voices_rename(
    old: Annotated[str, typer.Argument(help="The stored name, e.g. 'Speaker 1'.")],
    new: Annotated[str, typer.Argument(help="The new name, e.g. 'Anna'.")],
    config: ConfigOption = None,
) -> None:
    """Rename a stored voice: later files label that voice with the new name."""
    _voice_library(config).rename(old, new)
    out.print(f"{old} -> {new}", highlight=False)


review_app = typer.Typer(no_args_is_help=True, help="The review queue: outputs that failed the QA gate.")
app.add_typer(review_app, name="review")
UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="A genmedia server (key from $GENMEDIA_API_KEY); default: the config's job store."),
]
ReasonOption = Annotated[str, typer.Option("--reason", "-r", help="Why (recorded with the decision).")]


def _review_client(config: Path | None, url: str | None):  # noqa: ANN202 (Client, imported lazily)
    from genmedia.client import Client

    return Client(url, progress=False) if url else Client.local(config_for(config), progress=False)


@review_app.command("list")
def review_list(
    state: Annotated[str | None, typer.Option("--state", help="pending, approved or rejected (default: all).")] = None,
    config: ConfigOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """List reviews, oldest first: id, state, job, input and the checks that failed."""
    with _review_client(config, url) as client:
        reviews = client.reviews(state)
    if as_json:
        out.print_json(json.dumps([r.model_dump(mode="json") for r in reviews]))
        return
    for r in reviews:
        decided = f" ({r.reason})" if r.reason else ""
        out.print(
            f"{r.id}  {r.state.value}{decided}  {r.job}  {r.input}  {r.verdict.reasons()}",
            highlight=False,
            soft_wrap=True,
        )


def _decide(review_id: str, decision: str, reason: str, config: Path | None, url: str | None) -> None:
    with _review_client(config, url) as client:
        review = client.approve(review_id, reason) if decision == "approve" else client.reject(review_id, reason)
    published = "published" if review.state.value == "approved" else "not published"
    out.print(f"{review.id} {review.state.value}: {review.job} outputs {published}", highlight=False)


@review_app.command("approve")
def review_approve(
    review_id: Annotated[str, typer.Argument(help="The review's id (genmedia review list).")],
    reason: ReasonOption,
    config: ConfigOption = None,
    url: UrlOption = None,
) -> None:
    """Approve the outputs under review: they are published."""
    _decide(review_id, "approve", reason, config, url)


@review_app.command("reject")
def review_reject(
    review_id: Annotated[str, typer.Argument(help="The review's id (genmedia review list).")],
    reason: ReasonOption,
    config: ConfigOption = None,
    url: UrlOption = None,
) -> None:
    """Reject the outputs under review: they stay unpublished."""
    _decide(review_id, "reject", reason, config, url)


@app.command()
def enhance(
    video: Annotated[str, typer.Argument(help="A video: local path, file:// or s3:// URI.")],
    upscale: Annotated[int, typer.Option("--upscale", help="Scale factor: 1, 2 or 4.")] = 1,
    target: Annotated[
        str | None, typer.Option("--target", help="Output height instead of a factor: 2160p or 4320p.")
    ] = None,
    denoise: Annotated[
        str, typer.Option("--denoise", help="auto (measured), off, or a noise sigma in 8-bit units.")
    ] = "auto",
    fps: Annotated[float | None, typer.Option("--fps", help="Interpolate to this frame rate (e.g. 60, 120).")] = None,
    hdr: Annotated[str, typer.Option("--hdr", help="off, pq (HDR10) or hlg: SDR->HDR, 10-bit.")] = "off",
    grade: Annotated[
        str,
        typer.Option(
            "--grade",
            help="auto, off, a preset (warm, cool, vivid, muted, noir, teal-orange) or a reference image/video.",
        ),
    ] = "off",
    codec: Annotated[
        str | None, typer.Option("--codec", help="h264, hevc or av1 (default: h264; hevc for 10-bit/HDR).")
    ] = None,
    crf: Annotated[int | None, typer.Option("--crf", help="Constant quality (lower is better).")] = None,
    reference: Annotated[
        str | None, typer.Option("--reference", help="A reference video: report PSNR/SSIM against it.")
    ] = None,
    realtime: Annotated[
        bool, typer.Option("--realtime", help="Process at the source frame rate; print achieved vs source fps.")
    ] = False,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="VIDEO is a live stream (udp://, tcp://...?listen=1 or a growing .m3u8): "
            "write a live two-rung HLS output until it ends.",
        ),
    ] = False,
    max_seconds: Annotated[
        float | None, typer.Option("--max-seconds", help="With --live: stop after this much media time.")
    ] = None,
    package: Annotated[
        bool, typer.Option("--package", help="Also package for streaming: per-title ladder, CMAF HLS + DASH.")
    ] = False,
    config: ConfigOption = None,
    out_root: OutOption = None,
    as_json: JsonOption = False,
    force: ForceOption = False,
) -> None:
    """Enhance VIDEO: denoise, upscale, interpolate, grade, SDR->HDR; writes enhanced.mp4 and enhance.json."""
    from genmedia.pipelines import enhance as job

    cfg = config_for(config, out_root)
    if live:
        _enhance_live(cfg, video, upscale=upscale, denoise=denoise != "off", max_seconds=max_seconds, as_json=as_json)
        return
    level: str | float = denoise
    if denoise not in ("auto", "off"):
        try:
            level = float(denoise)
        except ValueError:
            raise InputError(denoise, "--denoise: expected auto, off or a number") from None
    run_job_command(
        job,
        video,
        cfg,
        lambda: job.Params(
            upscale=upscale,
            target=target,
            denoise=level,
            fps=fps,
            hdr=hdr,
            grade=grade,
            codec=codec,
            crf=crf,
            reference=reference,
            realtime=realtime,
            package=package,
        ),
        force=force,
        as_json=as_json,
    )


def _enhance_live(
    cfg: Config, url: str, *, upscale: int, denoise: bool, max_seconds: float | None, as_json: bool
) -> None:
    """``genmedia enhance --live``: a status line every few seconds on stderr, the final report at the end."""
    from genmedia.pipelines.live import LiveParams, run_live

    try:
        params = LiveParams(url=url, upscale=upscale, denoise=denoise, max_seconds=max_seconds)
    except ValidationError as e:
        raise InputError(
            "enhance --live options",
            "; ".join(f"--{str(x['loc'][0]).replace('_', '-')}: {x['msg']}" for x in e.errors()),
        ) from None
    report = run_live(cfg, params, on_report=lambda r: err.print(r.line(), highlight=False))
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
    else:
        out.print(
            f"{report.line()}; ended: {report.ended}; {report.folder}/master.m3u8", highlight=False, soft_wrap=True
        )


def main() -> None:
    """Console entry point: run the app, turning errors into one line and an exit code."""
    try:
        app()
    except GenmediaError as e:
        if os.environ.get("GENMEDIA_DEBUG"):
            raise
        err.print(f"[red]genmedia: error:[/red] {e}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("genmedia: interrupted")
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, exit 1
        if os.environ.get("GENMEDIA_DEBUG"):
            raise
        err.print(
            f"[red]genmedia: internal error:[/red] {type(e).__name__}: {e} (GENMEDIA_DEBUG=1 shows a traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
