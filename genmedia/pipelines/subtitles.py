"""The subtitles job: speech -> transcript, speakers, translations, and SRT/WebVTT/ASS per language.

Stages:

1. **scan** (driver, streaming, bounded memory): one pass over the audio for its loudness profile; the
   timeline is cut into chunks of at most ``pipelines.subtitles.chunk_seconds`` in pauses.
2. **transcribe** (Ray Data actors, ``models.transcriber`` resources, one chunk per call): each actor
   decodes only its chunk, embeds its speech windows (pretrained GE2E d-vectors, MFCC as the fallback)
   and runs the :class:`~genmedia.deployments.transcriber.Transcriber` (language per segment,
   hallucination control); with ``denoise``, a noisy chunk is also decoded after RNNoise and the more
   confident transcript kept; word times come back shifted by the chunk's exact offset.
3. **speakers** (driver, small): clustering of all chunks' voice windows into speakers; names from the
   voiceprint library so the same voice keeps its name across files.
4. **translate** (Ray Data actors, ``models.translator``, only for languages other than the speech's):
   NLLB-200 per segment with the previous segment as context.
5. **write**: cues cut by :mod:`genmedia.subtitles.segmentation` (reading speed, lines, shot changes),
   ``{lang}.srt/.vtt/.ass`` per language, ``transcript.json``, then the manifest (by the job runner).

Input may be a video or an audio-only file.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import ray
from pydantic import BaseModel, ConfigDict, Field, field_validator

from genmedia.config import Config
from genmedia.deployments.transcriber import ChunkTranscript, Transcriber, TranscribeRequest
from genmedia.errors import GenmediaError, InputError
from genmedia.media.audio import read_range
from genmedia.media.origin import Origin, local_media_path
from genmedia.models.registry import resolve
from genmedia.pipelines.job import JobContext, JobOutcome, run_job
from genmedia.progress import ProgressFn, no_progress
from genmedia.runtime import model_stage
from genmedia.schemas import JobResult
from genmedia.subtitles import chunking, diarization, languages
from genmedia.subtitles.denoise import DENOISE_BELOW_SNR_DB, RNNoise, snr_db, spectral_gate
from genmedia.subtitles.formats import FORMATS, Format, clean_text, render
from genmedia.subtitles.segmentation import Cue, Rules, TimedWord, interpolate_words, segment_words
from genmedia.subtitles.speaker_embedding import SpeakerEmbedder
from genmedia.subtitles.transcript import Segment, Transcript
from genmedia.subtitles.voiceprints import VoiceLibrary
from genmedia.validation import OneLine

JOB = "subtitles"
TRANSCRIBER_KEY = "transcriber"
TRANSLATOR_KEY = "translator"
EMBEDDER_KEY = "speaker_embedder"
DENOISER_KEY = "denoiser"
TRANSCRIPT = "transcript.json"
log = logging.getLogger(__name__)
MAX_SHOT_CHANGES = 20_000
"""Most shot-change times a request may give (one every second of a 5.5-hour film)."""
MAX_SHOT_TIME_S = 1e6
"""Latest shot-change time a request may give, in seconds (about 11.5 days)."""


class Params(BaseModel):
    """Parameters of one subtitles request."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    languages: list[Annotated[OneLine, Field(max_length=64)]] = Field(
        default_factory=list,
        max_length=210,
        description="Subtitle languages (ISO 639-1/3, FLORES-200, names); empty: the speech's own.",
    )
    source_language: OneLine | None = Field(
        None, max_length=64, description="The speech's language if known (skips detection)."
    )
    formats: list[Format] = Field(default_factory=lambda: list(FORMATS), min_length=1)
    denoise: bool = Field(
        False,
        description="Noisy chunks (measured SNR below 30 dB) are also decoded after RNNoise and the "
        "more confident transcript kept; clean chunks never. Off by default: on real speech it does not "
        "reliably beat Whisper on the noisy audio (docs/subtitles.md).",
    )
    vad: bool = Field(True, description="Voice activity detection before decoding.")
    diarize: bool = Field(True, description="Label speakers.")
    max_speakers: int = Field(8, ge=1, le=32)
    voiceprints: bool = Field(True, description="Name speakers from (and add them to) the voiceprint library.")
    per_segment_language: Literal["off", "auto", "all"] = Field("auto", description="Language detection per segment.")
    hallucination_control: bool = True
    beam_size: int | None = Field(None, ge=1, le=16)
    snap_to_shots: bool = Field(True, description="Snap cues to shot changes from the analysis (video inputs).")
    shot_changes: list[Annotated[float, Field(ge=0, le=MAX_SHOT_TIME_S)]] | None = Field(
        None,
        max_length=MAX_SHOT_CHANGES,
        description=f"Shot-change times (s, 0 to {MAX_SHOT_TIME_S:g}, at most {MAX_SHOT_CHANGES:,}) to snap to, instead of the analysis.",
    )

    @field_validator("languages", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.split(",")
        if isinstance(v, list):
            return list(dict.fromkeys(str(x).strip() for x in v if str(x).strip()))
        return v


def check_languages(params: Params) -> None:
    """InputError (with close matches) for any language code that is not a language."""
    for code in [*params.languages, *([params.source_language] if params.source_language else [])]:
        if code.strip().lower() not in languages.WHISPER_ONLY:  # transcribable, not translatable: fine as the source
            languages.to_flores(code)


def rules_for(cfg: Config, language: str, fps: float) -> Rules:
    """The timed-text rules for ``language`` (per-language overrides from the config)."""
    sub = cfg.pipelines.subtitles

    def per_language(table: dict[str, Any], default: Any) -> Any:
        for code, value in table.items():
            if languages.same_language(code, language):
                return value
        return default

    return Rules(
        max_chars_per_line=per_language(sub.max_chars_per_line_by_language, sub.max_chars_per_line),
        max_lines=sub.max_lines,
        max_cps=per_language(sub.chars_per_second_by_language, sub.chars_per_second),
        min_duration=sub.min_duration_s,
        max_duration=sub.max_duration_s,
        min_gap_frames=sub.min_gap_frames,
        fps=fps,
        snap_frames=sub.shot_snap_frames,
        no_spaces=languages.writes_without_spaces(language),
    )


# ------------------------------------------------------------------------------ stage 2: actors


class ChunkTranscriber:
    """Ray Data stage: decode one chunk, measure its voices, reduce noise, transcribe it.

    Nothing waits needlessly: the model loads in a background thread while the first chunk is read and
    its noise measured, and each chunk's voice features are computed in a second thread while Whisper
    decodes it (CTranslate2 and NumPy release the GIL).
    """

    def __init__(
        self,
        cfg: Config,
        key: str = TRANSCRIBER_KEY,
        denoise: bool = True,
        diarize: bool = True,
        origin: Origin | None = None,
        speaker_backend: str = diarization.MFCC,
    ):
        """``origin``: where to re-stage the input when its path is not on this actor's node;
        ``speaker_backend``: the speaker embeddings to compute (the driver checked their weights)."""
        resolve(cfg, key)  # unstaged weights fail here, with the registry's one-line message
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="chunk-transcriber")
        self._transcriber = self._threads.submit(Transcriber, cfg, key)
        self._embedder = (
            self._threads.submit(SpeakerEmbedder, cfg, EMBEDDER_KEY)
            if diarize and speaker_backend != diarization.MFCC
            else None
        )
        self._denoiser = self._threads.submit(_denoiser, cfg) if denoise else None
        self.denoise, self.diarize, self.origin = denoise, diarize, origin

    @property
    def transcriber(self) -> Transcriber:
        """The loaded model (waits for the background load)."""
        return self._transcriber.result()

    def _transcribe(self, audio: np.ndarray, offset: float, request: TranscribeRequest) -> ChunkTranscript:
        """The chunk as recorded; a noisy chunk (measured SNR below DENOISE_BELOW_SNR_DB) is also decoded
        denoised, and the transcript Whisper is more confident of is kept (so denoising never costs a
        word on clean speech and only stays where it helped)."""
        plain = self.transcriber.transcribe(audio, offset=offset, request=request)
        if self._denoiser is None or snr_db(audio) >= DENOISE_BELOW_SNR_DB:
            return plain
        name, denoise = self._denoiser.result()
        other = self.transcriber.transcribe(denoise(audio), offset=offset, request=request)
        other.denoised_by = name
        return other if other.confidence > plain.confidence else plain

    def _features(self, audio: np.ndarray, offset: float) -> diarization.SpeechFeatures:
        embedder = self._embedder.result() if self._embedder is not None else None
        return diarization.describe(audio, offset=offset, embedder=embedder)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        transcripts, features = [], []
        for path, start, end, request in zip(batch["path"], batch["start"], batch["end"], batch["request"]):
            audio = read_range(local_media_path(str(path), self.origin), float(start), float(end))
            feats = self._threads.submit(self._features, audio, float(start)) if self.diarize else None
            req = TranscribeRequest.model_validate_json(str(request))
            transcripts.append(self._transcribe(audio, float(start), req).to_json())
            features.append(json.dumps((feats.result() if feats else diarization.SpeechFeatures.empty()).to_dict()))
        return {
            "index": batch["index"],
            "transcript": np.array(transcripts, dtype=object),
            "features": np.array(features, dtype=object),
        }


def _denoiser(cfg: Config) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    """(name, function) of the noise reduction: RNNoise from the model store, else the spectral gate."""
    if DENOISER_KEY in cfg.models:
        try:
            return "rnnoise", RNNoise(cfg, DENOISER_KEY)
        except (GenmediaError, OSError) as e:
            log.warning("noise reduction falls back to spectral gating: %s", e)
    return "spectral-gate", spectral_gate


def speaker_backend(cfg: Config, warnings: list[str] | None = None) -> str:
    """The speaker-embedding backend this job can use: the pretrained d-vector model when
    ``models.speaker_embedder`` is configured and its weights stage, else the MFCC fallback (a warning
    saying why is appended to ``warnings``)."""
    if EMBEDDER_KEY not in cfg.models:
        return diarization.MFCC
    try:
        resolve(cfg, EMBEDDER_KEY)
    except GenmediaError as e:
        if warnings is not None:
            warnings.append(f"speakers labelled by MFCC statistics, not the pretrained voice model: {e}")
        return diarization.MFCC
    return cfg.model(EMBEDDER_KEY).backend


def build(
    cfg: Config,
    path: str | Path,
    chunks: Sequence[chunking.Chunk],
    params: Params,
    origin: Origin | None = None,
    speakers: str = diarization.MFCC,
) -> ray.data.Dataset:
    """The transcription dataset: one row per chunk in, its transcript and voice features out (``origin``:
    where an actor on another node re-stages the input; ``speakers``: the speaker-embedding backend)."""
    request = TranscribeRequest(
        language=languages.whisper_code(params.source_language) if params.source_language else None,
        vad=params.vad,
        beam_size=params.beam_size,
        per_segment_language=params.per_segment_language,
        hallucination_control=params.hallucination_control,
    ).model_dump_json()
    rows = [{"index": c.index, "start": c.start, "end": c.end, "path": str(path), "request": request} for c in chunks]
    ds = ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))
    return ds.map_batches(
        ChunkTranscriber,
        **model_stage(
            cfg,
            TRANSCRIBER_KEY,
            batch_size=1,
            denoise=params.denoise,
            diarize=params.diarize,
            origin=origin,
            speaker_backend=speakers,
        ),
    )


def transcribe(
    cfg: Config,
    path: str | Path,
    chunks: Sequence[chunking.Chunk],
    params: Params,
    progress: ProgressFn = no_progress,
    origin: Origin | None = None,
    speakers: str = diarization.MFCC,
) -> tuple[list[ChunkTranscript], diarization.SpeechFeatures]:
    """Run stage 2 and return the chunks' transcripts in time order plus all voice features."""
    if not chunks:
        return [], diarization.SpeechFeatures.empty(speakers)
    results: dict[int, tuple[ChunkTranscript, diarization.SpeechFeatures]] = {}
    progress("transcribe", 0, len(chunks))
    for row in build(cfg, path, chunks, params, origin, speakers).iter_rows():
        results[int(row["index"])] = (
            ChunkTranscript.from_json(row["transcript"]),
            diarization.SpeechFeatures.from_dict(json.loads(row["features"])),
        )
        progress("transcribe", len(results), len(chunks))
    ordered = [results[i] for i in sorted(results)]
    return [t for t, _ in ordered], diarization.SpeechFeatures.join([f for _, f in ordered])


# ----------------------------------------------------------------------------- stage 4: translate


def translate(
    cfg: Config, segments: Sequence[Segment], target: str, progress: ProgressFn = no_progress
) -> list[tuple[str, float]]:
    """(translation, quality score) of each segment into ``target``, with the previous segment as context."""
    from genmedia.deployments.translator import Translator, require_translator

    require_translator(cfg, TRANSLATOR_KEY)
    rows = [
        {
            "index": i,
            "text": s.text,
            "source": languages.to_flores(s.language),
            "target": languages.to_flores(target),
            "context": segments[i - 1].text if i else "",
        }
        for i, s in enumerate(segments)
    ]
    ds = ray.data.from_items(rows).map_batches(Translator, **model_stage(cfg, TRANSLATOR_KEY))
    out: dict[int, tuple[str, float]] = {}
    for row in ds.iter_rows():
        out[int(row["index"])] = (str(row["translation"]), float(row["score"]))
        progress(f"translate {target}", len(out), len(rows))
    return [out[i] for i in range(len(rows))]


# --------------------------------------------------------------------------------- stage 5: cues


def _words(seg: Segment) -> list[TimedWord]:
    return [
        TimedWord(clean_text(w.text), w.start, w.end, w.speaker or seg.speaker, seg.language)
        for w in seg.words
        if clean_text(w.text)
    ]


def cues_for(
    segments: Sequence[Segment],
    target: str,
    rules: Rules,
    translations: dict[int, tuple[str, float]],
    shot_changes: Sequence[float],
) -> list[Cue]:
    """The cues of one language: source words where the speech is in ``target``, else the translation
    with times interpolated from the source words (see :func:`interpolate_words`)."""
    words: list[TimedWord] = []
    for i, seg in enumerate(segments):
        if i in translations:
            words += interpolate_words(
                clean_text(translations[i][0]), _words(seg), rules, speaker=seg.speaker, language=target
            )
        else:
            words += [TimedWord(w.text, w.start, w.end, w.speaker, target) for w in _words(seg)]
    return segment_words(words, rules, shot_changes)


# ------------------------------------------------------------------------------------ the job


def _main_language(segments: Sequence[Segment], fallback: str | None) -> str:
    spoken: dict[str, float] = {}
    for s in segments:
        spoken[s.language] = spoken.get(s.language, 0.0) + (s.end - s.start)
    return max(spoken, key=lambda k: spoken[k]) if spoken else (fallback or "und")


def _shot_changes(ctx: JobContext, params: Params) -> list[float]:
    if params.shot_changes is not None:
        return sorted(params.shot_changes)
    if not params.snap_to_shots or not ctx.info.width:
        return []
    try:
        from genmedia.pipelines.analyze import load_analysis
    except ImportError:
        ctx.warnings.append("no scene analysis in this build: cues are not snapped to shot changes")
        return []
    analysis = load_analysis(ctx.cfg, ctx.source, progress=ctx.progress)
    return [s.start_time for s in analysis.shots[1:]]


def _name_speakers(
    cfg: Config, features: diarization.SpeechFeatures, segments: list[Segment], params: Params
) -> list[str]:
    """Cluster voices, name them (voiceprint library), and label every segment and word."""
    found = diarization.cluster(features, max_speakers=params.max_speakers)
    if not found.turns:
        return []
    if params.voiceprints:
        library = VoiceLibrary(cfg.pipelines.subtitles.voiceprints or cfg.storage.cache_path / "voiceprints.json")
        names = library.name_speakers(found.voiceprints, backend=found.backend)
    else:
        names = {k: f"Speaker {k + 1}" for k in found.speakers}
    for seg in segments:
        for w in seg.words:
            spk = found.speaker_at(w.start, w.end)
            w.speaker = names.get(spk) if spk is not None else None
        spk = found.speaker_at(seg.start, seg.end)
        seg.speaker = names.get(spk) if spk is not None else None
    return [names[k] for k in found.speakers]


def _needs_translation(params: Params) -> bool:
    """Whether translation is certain to be needed before anything is transcribed."""
    targets = {languages.to_flores(code) for code in params.languages if languages.is_language(code)}
    if params.source_language and languages.is_language(params.source_language):
        return bool(targets - {languages.to_flores(params.source_language)})
    return len(targets) > 1


def _work(ctx: JobContext, params: Params) -> JobOutcome:
    cfg, info = ctx.cfg, ctx.info
    if not info.has_audio:
        raise InputError(ctx.source, "no audio stream: there is no speech to subtitle")
    fps = info.fps if info.width and info.fps else cfg.pipelines.subtitles.default_fps
    levels, chunks = chunking.scan(
        ctx.path, target_s=cfg.pipelines.subtitles.chunk_seconds, duration=info.duration, progress=ctx.progress
    )
    if levels.size == 0 or float(levels.max()) < -60.0:
        chunks = []  # digital silence: nothing to transcribe
    speakers_by = speaker_backend(cfg, ctx.warnings) if params.diarize else None
    results, features = transcribe(
        cfg, ctx.path, chunks, params, ctx.progress, ctx.info.origin, speakers_by or diarization.MFCC
    )
    segments = sorted((s for r in results for s in r.segments), key=lambda s: s.start)
    removed = [s for r in results for s in r.removed]
    main = _main_language(segments, params.source_language and languages.whisper_code(params.source_language))
    speakers = _name_speakers(cfg, features, segments, params) if params.diarize else []
    shots = _shot_changes(ctx, params)

    targets = params.languages or [main]
    tracks: dict[str, Any] = {}
    for target in targets:
        todo = [i for i, s in enumerate(segments) if not languages.same_language(s.language, target)]
        translations: dict[int, tuple[str, float]] = {}
        if todo:
            done = translate(cfg, [segments[i] for i in todo], target, ctx.progress)
            translations = dict(zip(todo, done))
        rules = rules_for(cfg, target, fps)
        cues = cues_for(segments, target, rules, translations, shots)
        name = target.strip().lower() if params.languages else main
        for fmt in params.formats:
            ctx.output.write_text(
                f"{name}.{fmt}", render(cues, fmt, width=info.display_width or None, height=info.display_height or None)
            )
        tracks[name] = {
            "flores": languages.to_flores(target) if languages.is_language(target) else None,
            "cues": len(cues),
            "translated_segments": len(translations),
            "translation_scores": [round(translations[i][1], 4) for i in sorted(translations)],
            "cue_list": [
                {
                    "start": c.start,
                    "end": c.end,
                    "text": c.text,
                    "speaker": c.speaker,
                    "line_speakers": c.line_speakers,
                    "flags": c.flags,
                }
                for c in cues
            ],
            "rules": dataclasses.asdict(rules),  # what the QA gate checks the cues against (genmedia.qa.subtitles)
        }
    transcript = Transcript(
        language=main,
        duration=info.duration,
        segments=segments,
        speakers=speakers,
        chunks=[(c.start, c.end) for c in chunks],
        removed=removed,
        model=cfg.model(TRANSCRIBER_KEY).model,
        backend=cfg.model(TRANSCRIBER_KEY).backend,
        speaker_backend=speakers_by if speakers else None,
    )
    ctx.output.write_text(
        TRANSCRIPT, json.dumps({**transcript.model_dump(), "tracks": tracks}, indent=1, ensure_ascii=False)
    )
    doubtful = sum(1 for s in segments if s.doubtful)
    summary = f"{len(segments)} segments in {main}, {len(speakers)} speaker(s), " + ", ".join(
        f"{k}: {v['cues']} cues" for k, v in tracks.items()
    )
    details = {
        "language": main,
        "languages": list(tracks),
        "speakers": speakers,
        "segments": len(segments),
        "cues": {k: v["cues"] for k, v in tracks.items()},
        "chunks": len(chunks),
        "doubtful": doubtful,
        "removed": len(removed),
        "shot_changes": len(shots),
        "backend": transcript.backend,
        "model": transcript.model,
        "denoise": params.denoise,
        "speaker_backend": speakers_by,
        "denoised_chunks": {
            name: sum(1 for r in results if r.denoised_by == name) for name in {r.denoised_by for r in results} - {None}
        },
    }
    return JobOutcome(summary, details)


def run(
    cfg: Config, video: str, params: Params | None = None, *, force: bool = False, progress: ProgressFn = no_progress
) -> JobResult:
    """Subtitle ``video`` (a video or audio file, local path or URI); skipped when already done with these parameters.

    Raises InputError for an unknown language code or an input without audio, ModelUnavailable when a
    translation is needed and the translator's weights are not staged.
    """
    params = params or Params()
    check_languages(params)
    if _needs_translation(params):  # before the lineage resolves models: the one-line "how to stage it" message
        from genmedia.deployments.translator import require_translator

        require_translator(cfg, TRANSLATOR_KEY)
    return run_job(
        cfg,
        video,
        JOB,
        params,
        lambda ctx: _work(ctx, params),
        require_video=False,
        force=force,
        progress=progress,
        models=models_used(cfg, params),
    )


def models_used(cfg: Config, params: Params) -> list[str]:
    """The model keys a subtitles job with ``params`` certainly loads (its lineage, see ``run_job``): the
    transcriber; the speaker embedder and the RNNoise denoiser when asked for and their weights stage (else
    the job uses its named fallbacks); the translator when a requested language is not the declared one."""
    keys = [TRANSCRIBER_KEY]
    if params.diarize and speaker_backend(cfg) != diarization.MFCC:
        keys.append(EMBEDDER_KEY)
    if params.denoise and DENOISER_KEY in cfg.models and _stages(cfg, DENOISER_KEY):
        keys.append(DENOISER_KEY)
    return [*keys, TRANSLATOR_KEY] if _needs_translation(params) else keys


def _stages(cfg: Config, key: str) -> bool:
    try:
        resolve(cfg, key)
    except GenmediaError:
        return False
    return True
