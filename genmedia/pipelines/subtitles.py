"""The subtitles job: speech -> transcript, speakers, translations, and SRT/WebVTT/ASS per language.

Stages:

1. **scan** (driver, streaming, bounded memory): one pass over the audio for its loudness profile; the
   timeline is cut into chunks of at most ``pipelines.subtitles.chunk_seconds`` in pauses.
2. **transcribe** (Ray Data actors, ``models.transcriber`` resources, one chunk per call): each actor
   decodes only its chunk, embeds its speech windows (pretrained GE2E d-vectors, MFCC as the fallback)
   and runs the :class:`~genmedia.deployments.transcriber.Transcriber` (language per segment,
   hallucination control); with ``denoise``, a noisy chunk is also decoded after DeepFilterNet3 and after
   DeepFilterNet3 with a quarter of the recording mixed back, and the decode with the most confident words
   kept (the choice recorded in the job's ``noise`` details); word times come
   back shifted by the chunk's exact offset. A job run by the
   Serve app does the same in its own process, concurrently per chunk, and sends the audio to the app's
   transcriber deployment (:func:`genmedia.pipelines.models.served_model`) instead of loading Whisper.
3. **speakers** (driver, small): clustering of all chunks' voice windows into speakers; names from the
   voiceprint library so the same voice keeps its name across files.
4. **translate** (Ray Data actors, ``models.translator``, only for languages other than the speech's):
   NLLB-200 per segment with the previous segment as context, glossary terms and values protected by
   placeholders; a segment scored under ``pipelines.subtitles.retranslate_below_score`` is translated
   again (wider beam, no context) and, still low, its cues are flagged. A job run by the Serve app sends the
   segments to the app's translator deployment instead, when it has one.
5. **adapt** (:mod:`genmedia.subtitles.adaptation`): values written the track locale's way, optional
   softening of strong words, the locale's typography; right-to-left tracks marked.
6. **write**: cues cut by :mod:`genmedia.subtitles.segmentation` (reading speed, lines, shot changes),
   ``{lang}.srt/.vtt/.ass`` per language, ``transcript.json``, then the manifest (by the job runner).

Input may be a video or an audio-only file.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import ray
from babel import Locale
from pydantic import BaseModel, ConfigDict, Field, field_validator

from genmedia.config import Config
from genmedia.deployments.transcriber import ChunkTranscript, Transcriber, TranscribeRequest
from genmedia.errors import GenmediaError, InputError
from genmedia.media.audio import read_range
from genmedia.media.origin import Origin, local_media_path
from genmedia.models.registry import resolve
from genmedia.pipelines.job import JobContext, JobOutcome, run_job
from genmedia.pipelines.models import ServedModel, map_model, one_actor_pool, served_model, single_actor
from genmedia.progress import ProgressFn, no_progress
from genmedia.runtime import get_result
from genmedia.schemas import JobResult
from genmedia.subtitles import chunking, diarization, languages, locale_rules
from genmedia.subtitles.adaptation import Adaptation
from genmedia.subtitles.denoise import DeepFilterNet, RNNoise, noise_decision, noise_summary, spectral_gate
from genmedia.subtitles.formats import FORMATS, Format, clean_text, render
from genmedia.subtitles.glossary import glossary_terms
from genmedia.subtitles.profanity import word_list
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
SPEECH_DENOISER_KEY = "speech_denoiser"
TRANSCRIPT = "transcript.json"
log = logging.getLogger(__name__)
MAX_SHOT_CHANGES = 20_000
"""Most shot-change times a request may give (one every second of a 5.5-hour film)."""
MAX_SHOT_TIME_S = 1e6
"""Latest shot-change time a request may give, in seconds (about 11.5 days)."""
LOW_SCORE = "low-translation-score"
MOVED = "protected-text-moved"
DOUBTFUL = "doubtful-transcription"


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
        description="Noisy chunks (measured SNR below 30 dB) are also decoded after DeepFilterNet3 (else "
        "RNNoise), alone and with 25% of the recording mixed back, and the decode with the most confident "
        "words kept; clean chunks never. Off by default: on real speech it beat bare Whisper at 5-20 dB but "
        "still lost a word in 3 of 84 noisy cases, at two extra decodes per noisy chunk (docs/subtitles.md).",
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

    glossary: list[Annotated[OneLine, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list,
        max_length=500,
        description="Names and terms never translated (speaker names from the voiceprint library are added).",
    )
    soften_profanity: bool = Field(
        False, description="Replace strong words by milder ones (pipelines.subtitles.profanity, per language)."
    )
    convert_units: bool = Field(
        False, description="Convert units to each subtitle locale's measurement system (miles -> km in French)."
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
    """InputError (with close matches) for any language code that is not a language, or a subtitle
    language whose region or script names no CLDR locale (``fr-XX``)."""
    for code in [*params.languages, *([params.source_language] if params.source_language else [])]:
        if code.strip().lower() not in languages.WHISPER_ONLY:  # transcribable, not translatable: fine as the source
            languages.to_flores(code)
    for code in params.languages:
        if code.strip().lower() not in languages.WHISPER_ONLY:
            locale_rules.locale_for(code)


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
    decodes it (CTranslate2 and NumPy release the GIL). The speaker embedder (torch) loads after Whisper, while
    the first chunk is decoded: importing both at once would hold Whisper's load back on the GIL, and the first
    chunk's voice features are not needed before its transcript.
    """

    def __init__(
        self,
        cfg: Config,
        key: str = TRANSCRIBER_KEY,
        denoise: bool = True,
        diarize: bool = True,
        origin: Origin | None = None,
        speaker_backend: str = diarization.MFCC,
        served: ServedModel | None = None,
    ):
        """``origin``: where to re-stage the input when its path is not on this actor's node;
        ``speaker_backend``: the speaker embeddings to compute (the driver checked their weights); ``served``:
        the running deployment that transcribes (None: Whisper is loaded here)."""
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="chunk-transcriber")
        if served is None:
            resolve(cfg, key)  # unstaged weights fail here, with the registry's one-line message
            self._transcriber = self._threads.submit(Transcriber, cfg, key)
        else:
            self._transcriber = self._threads.submit(_ServedTranscriber, served)
        self._embedder = (
            self._threads.submit(self._embedder_after_transcriber, cfg)
            if diarize and speaker_backend != diarization.MFCC
            else None
        )
        self._denoiser = self._threads.submit(_denoiser, cfg) if denoise else None
        self.denoise, self.diarize, self.origin = denoise, diarize, origin

    def _embedder_after_transcriber(self, cfg: Config) -> SpeakerEmbedder:
        """The speaker embedder, loaded once the transcriber is (its error, if any, is the transcriber's)."""
        self._transcriber.result()
        return SpeakerEmbedder(cfg, EMBEDDER_KEY)

    @property
    def transcriber(self) -> Transcriber | _ServedTranscriber:
        """The loaded model (waits for the background load)."""
        return self._transcriber.result()

    def _transcribe(self, audio: np.ndarray, offset: float, request: TranscribeRequest) -> ChunkTranscript:
        """The chunk as recorded; with ``denoise``, a noisy chunk is also decoded denoised and that transcript
        kept only where it cost no word (:func:`~genmedia.subtitles.denoise.noise_decision`)."""
        if self._denoiser is None:
            return self.transcriber.transcribe(audio, offset=offset, request=request)
        return noise_decision(
            audio,
            lambda x: self.transcriber.transcribe(x, offset=offset, request=request),
            self._denoiser.result(),
        )

    def _features(self, audio: np.ndarray, offset: float) -> diarization.SpeechFeatures:
        embedder = self._embedder.result() if self._embedder is not None else None
        return diarization.describe(audio, offset=offset, embedder=embedder)

    def chunk(self, path: str, start: float, end: float, request: str) -> tuple[str, str]:
        """One chunk's (transcript JSON, voice features JSON); ``request`` is a TranscribeRequest as JSON."""
        audio = read_range(local_media_path(path, self.origin), start, end)
        feats = self._threads.submit(self._features, audio, start) if self.diarize else None
        transcript = self._transcribe(audio, start, TranscribeRequest.model_validate_json(request)).to_json()
        return transcript, json.dumps((feats.result() if feats else diarization.SpeechFeatures.empty()).to_dict())

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = [
            self.chunk(str(path), float(start), float(end), str(request))
            for path, start, end, request in zip(batch["path"], batch["start"], batch["end"], batch["request"])
        ]
        return {
            "index": batch["index"],
            "transcript": np.array([t for t, _ in out], dtype=object),
            "features": np.array([f for _, f in out], dtype=object),
        }


class _ServedTranscriber:
    """The transcriber deployment, called like :meth:`Transcriber.transcribe` (one request per chunk)."""

    def __init__(self, served: ServedModel) -> None:
        self.served = served

    def transcribe(self, audio: np.ndarray, *, offset: float, request: TranscribeRequest) -> ChunkTranscript:
        row = {"audio": np.asarray(audio, dtype=np.float32), "offset": offset, "request": request.model_dump_json()}
        return ChunkTranscript.from_json(str(self.served.call(row)["transcript"]))


def _denoiser(cfg: Config) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    """(name, function) of the noise reduction: DeepFilterNet3 from the model store, else RNNoise, else the
    spectral gate."""
    if SPEECH_DENOISER_KEY in cfg.models:
        try:
            return "deepfilternet3", DeepFilterNet(cfg, SPEECH_DENOISER_KEY)
        except (GenmediaError, OSError) as e:
            log.warning("noise reduction falls back to RNNoise: %s", e)
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


def _chunk_rows(path: str | Path, chunks: Sequence[chunking.Chunk], params: Params) -> list[dict[str, Any]]:
    """One row per chunk: its index, span, the input's path and the TranscribeRequest (JSON) of ``params``."""
    request = TranscribeRequest(
        language=languages.whisper_code(params.source_language) if params.source_language else None,
        vad=params.vad,
        beam_size=params.beam_size,
        per_segment_language=params.per_segment_language,
        hallucination_control=params.hallucination_control,
    ).model_dump_json()
    return [{"index": c.index, "start": c.start, "end": c.end, "path": str(path), "request": request} for c in chunks]


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
    rows = _chunk_rows(path, chunks, params)
    ds = ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))
    return map_model(
        ds,
        ChunkTranscriber,
        cfg,
        TRANSCRIBER_KEY,
        batch_size=1,
        denoise=params.denoise,
        diarize=params.diarize,
        origin=origin,
        speaker_backend=speakers,
    )


def _served_rows(
    cfg: Config,
    served: ServedModel,
    rows: list[dict[str, Any]],
    params: Params,
    origin: Origin | None,
    speakers: str,
) -> Iterator[dict[str, Any]]:
    """Stage 2 in this process with the transcriber deployment ``served``: up to the model's batch size of chunks
    in flight at once (so they share the deployment's batches); rows as :func:`build`'s, in chunk order."""
    stage = ChunkTranscriber(
        cfg, TRANSCRIBER_KEY, params.denoise, params.diarize, origin, speaker_backend=speakers, served=served
    )
    width = max(1, min(len(rows), cfg.model(TRANSCRIBER_KEY).batch_size))
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="served-chunks") as pool:
        futures = [pool.submit(stage.chunk, r["path"], r["start"], r["end"], r["request"]) for r in rows]
        for row, future in zip(rows, futures):
            transcript, features = future.result()
            yield {"index": row["index"], "transcript": transcript, "features": features}


def _actor_rows(actor: ray.actor.ActorHandle, rows: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Stage 2 on one ChunkTranscriber actor (:func:`~genmedia.pipelines.models.single_actor`): every chunk queued
    at once, run in order by the actor; rows as :func:`build`'s, in chunk order. The actor ends with its rows; a
    genmedia error a chunk raises is raised here as itself."""
    try:
        refs = [actor.chunk.remote(r["path"], r["start"], r["end"], r["request"]) for r in rows]
        for row, ref in zip(rows, refs):
            transcript, features = get_result(ref)
            yield {"index": row["index"], "transcript": transcript, "features": features}
    finally:
        ray.kill(actor)


def start_actor(
    cfg: Config, params: Params, origin: Origin | None = None, speakers: str = diarization.MFCC
) -> ray.actor.ActorHandle | None:
    """The job's one ChunkTranscriber actor (:func:`~genmedia.pipelines.models.single_actor`), started now so that
    it loads its models while the caller does other work; None when the config's pool is larger (Ray Data)."""
    return single_actor(
        ChunkTranscriber,
        cfg,
        TRANSCRIBER_KEY,
        denoise=params.denoise,
        diarize=params.diarize,
        origin=origin,
        speaker_backend=speakers,
    )


def transcribe(
    cfg: Config,
    path: str | Path,
    chunks: Sequence[chunking.Chunk],
    params: Params,
    progress: ProgressFn = no_progress,
    origin: Origin | None = None,
    speakers: str = diarization.MFCC,
    served: ServedModel | None = None,
    actor: ray.actor.ActorHandle | None = None,
) -> tuple[list[ChunkTranscript], diarization.SpeechFeatures]:
    """Run stage 2 and return the chunks' transcripts in time order plus all voice features: on ``actor`` (from
    :func:`start_actor`; started here when not given) or the Ray Data actors of :func:`build`, or here with the
    running transcriber deployment ``served``. ``actor`` ends with the call, also when there are no chunks."""
    if not chunks:
        if actor is not None:
            ray.kill(actor)
        return [], diarization.SpeechFeatures.empty(speakers)
    results: dict[int, tuple[ChunkTranscript, diarization.SpeechFeatures]] = {}
    progress("transcribe", 0, len(chunks))
    if served is not None:
        rows = _served_rows(cfg, served, _chunk_rows(path, chunks, params), params, origin, speakers)
    else:
        actor = actor or start_actor(cfg, params, origin, speakers)
        rows = (
            build(cfg, path, chunks, params, origin, speakers).iter_rows()
            if actor is None
            else _actor_rows(actor, _chunk_rows(path, chunks, params))
        )
    for row in rows:
        results[int(row["index"])] = (
            ChunkTranscript.from_json(row["transcript"]),
            diarization.SpeechFeatures.from_dict(json.loads(row["features"])),
        )
        progress("transcribe", len(results), len(chunks))
    ordered = [results[i] for i in sorted(results)]
    return [t for t, _ in ordered], diarization.SpeechFeatures.join([f for _, f in ordered])


# ----------------------------------------------------------------------------- stage 4: translate


@dataclasses.dataclass
class SegmentTranslation:
    """One segment's translation: its text (placeholders still in), quality score, whether it was translated
    a second time, and whether its score stayed under the threshold."""

    text: str
    score: float
    retried: bool = False
    low: bool = False


def _translate_rows(
    cfg: Config, rows: list[dict[str, Any]], served: ServedModel | None = None
) -> dict[int, tuple[str, float]]:
    """Each row's (translation, score) by its index: from the translator deployment ``served`` (one request per
    row, up to the model's batch size in flight), else from Ray Data actors of the translator."""
    if served is not None:
        out = served.map(rows, in_flight=cfg.model(TRANSLATOR_KEY).batch_size)
    else:
        from genmedia.deployments.translator import Translator

        out = map_model(ray.data.from_items(rows), Translator, cfg, TRANSLATOR_KEY).iter_rows()
    return {int(row["index"]): (str(row["translation"]), float(row["score"])) for row in out}


def translate(
    cfg: Config,
    texts: Sequence[str],
    sources: Sequence[str],
    target: str,
    progress: ProgressFn = no_progress,
    served: ServedModel | None = None,
) -> list[SegmentTranslation]:
    """Translate each text (spoken in ``sources[i]``) into ``target`` with the previous text as context.

    A translation scored under ``pipelines.subtitles.retranslate_below_score`` is translated again without
    context and with ``retranslate_num_beams`` beams; the better-scored of the two is kept, and it is marked
    ``low`` when that is still under the threshold. ``served``: the Serve app's translator deployment (None: the
    translator loads in Ray Data actors here).
    """
    from genmedia.deployments.translator import require_translator

    require_translator(cfg, TRANSLATOR_KEY)
    sub = cfg.pipelines.subtitles
    flores = languages.to_flores(target)
    rows = [
        {
            "index": i,
            "text": t,
            "source": languages.to_flores(src),
            "target": flores,
            "context": texts[i - 1] if i else "",
            "num_beams": 0,
        }
        for i, (t, src) in enumerate(zip(texts, sources))
    ]
    progress(f"translate {target}", 0, len(rows))
    first = _translate_rows(cfg, rows, served) if rows else {}
    out = [SegmentTranslation(*first[i]) for i in range(len(rows))]
    progress(f"translate {target}", len(rows), len(rows))
    low = [i for i, tr in enumerate(out) if tr.score < sub.retranslate_below_score]
    if low:
        retry = [{**rows[i], "context": "", "num_beams": sub.retranslate_num_beams} for i in low]
        again = _translate_rows(cfg, retry, served)
        for i in low:
            text, score = again[i]
            best = (text, score) if score > out[i].score else (out[i].text, out[i].score)
            out[i] = SegmentTranslation(*best, retried=True, low=best[1] < sub.retranslate_below_score)
    return out


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
    texts: dict[int, str],
    shot_changes: Sequence[float],
    flags: dict[int, tuple[str, ...]] | None = None,
) -> list[Cue]:
    """The cues of one language: the source words where ``texts`` has no text for a segment, else that
    text (a translation, or the speech adapted to the locale) with times interpolated from the source words
    (see :func:`interpolate_words`); ``flags[i]`` marks the cues segment ``i``'s words end up in."""
    flags = flags or {}
    words: list[TimedWord] = []
    for i, seg in enumerate(segments):
        if i in texts:
            words += interpolate_words(
                clean_text(texts[i]), _words(seg), rules, speaker=seg.speaker, language=target, flags=flags.get(i, ())
            )
        else:
            words += [TimedWord(w.text, w.start, w.end, w.speaker, target, flags.get(i, ())) for w in _words(seg)]
    return segment_words(words, rules, shot_changes)


def track_texts(
    cfg: Config,
    segments: Sequence[Segment],
    target: str,
    adaptation: Adaptation,
    progress: ProgressFn = no_progress,
    served: ServedModel | None = None,
) -> tuple[dict[int, str], dict[int, tuple[str, ...]], dict[str, Any]]:
    """Each segment's text in ``target`` (only where it differs from the spoken words), the flags per
    segment (a low translation score, protected text moved, a doubtful transcription), and the track's
    figures (translated segments, scores, re-translations, softened words); ``served``: as :func:`translate`'s."""
    todo = [i for i, s in enumerate(segments) if not languages.same_language(s.language, target)]
    protected = {i: adaptation.protect(segments[i].text.strip(), segments[i].language) for i in todo}
    sources = [segments[i].language for i in todo]
    done = translate(cfg, [protected[i].text for i in todo], sources, target, progress, served) if todo else []
    texts: dict[int, str] = {}
    flags: dict[int, tuple[str, ...]] = {}
    softened = 0
    for i, tr in zip(todo, done):
        adapted = adaptation.finish(tr.text, protected[i])
        texts[i], softened = adapted.text, softened + adapted.softened
        flags[i] = (*([LOW_SCORE] if tr.low else []), *([MOVED] if adapted.lost else []))
    for i, seg in enumerate(segments):
        if i not in texts:
            spoken = " ".join(w.text for w in _words(seg))
            adapted = adaptation.adapt(spoken, seg.language)
            softened += adapted.softened
            if adapted.text != spoken:
                texts[i] = adapted.text
    for i, seg in enumerate(segments):
        if seg.doubtful:  # a hallucination check still fires after re-decoding: never shown as trusted
            flags[i] = (*flags.get(i, ()), DOUBTFUL)
    figures = {
        "translated_segments": len(todo),
        "translation_scores": [round(tr.score, 4) for tr in done],
        "retranslated_segments": sum(tr.retried for tr in done),
        "low_score_segments": sum(tr.low for tr in done),
        "softened_words": softened,
    }
    return texts, flags, figures


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


def _library_names(cfg: Config, params: Params) -> list[str]:
    """The voiceprint library's names (glossary terms) when the request uses the library."""
    if not params.voiceprints:
        return []
    return VoiceLibrary(cfg.pipelines.subtitles.voiceprints or cfg.storage.cache_path / "voiceprints.json").names()


def _track_locale(target: str) -> Locale | None:
    """The track's CLDR locale (None for a language CLDR lacks or Whisper alone knows: no adaptation)."""
    if target.strip().lower() in languages.WHISPER_ONLY:
        return None
    return locale_rules.locale_for(target)


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
    speakers_by = speaker_backend(cfg, ctx.warnings) if params.diarize else None
    served = served_model(cfg, TRANSCRIBER_KEY)
    # The transcriber actor starts (worker, imports, model load) while this process scans the audio.
    actor = None if served else start_actor(cfg, params, ctx.info.origin, speakers_by or diarization.MFCC)
    try:
        levels, chunks = chunking.scan(
            ctx.path, target_s=cfg.pipelines.subtitles.chunk_seconds, duration=info.duration, progress=ctx.progress
        )
        if levels.size == 0 or float(levels.max()) < -60.0:
            chunks = []  # digital silence: nothing to transcribe
        results, features = transcribe(
            cfg, ctx.path, chunks, params, ctx.progress, ctx.info.origin, speakers_by or diarization.MFCC, served, actor
        )
    except BaseException:
        if actor is not None:  # a failed scan or chunk: the actor ends here (transcribe ends it otherwise)
            ray.kill(actor)
        raise
    segments = sorted((s for r in results for s in r.segments), key=lambda s: s.start)
    removed = [s for r in results for s in r.removed]
    main = _main_language(segments, params.source_language and languages.whisper_code(params.source_language))
    speakers = _name_speakers(cfg, features, segments, params) if params.diarize else []
    shots = _shot_changes(ctx, params)

    targets = params.languages or [main]
    terms = glossary_terms(params.glossary, [*speakers, *_library_names(cfg, params)])
    tracks: dict[str, Any] = {}
    translator = served_model(cfg, TRANSLATOR_KEY)
    for target in targets:
        locale = _track_locale(target)
        softening = word_list(cfg.pipelines.subtitles.profanity, target) if params.soften_profanity else {}
        adaptation = Adaptation(locale, terms, softening, params.convert_units)
        texts, flags, figures = track_texts(cfg, segments, target, adaptation, ctx.progress, translator)
        rules = rules_for(cfg, target, fps)
        cues = cues_for(segments, target, rules, texts, shots, flags)
        name = target.strip().lower() if params.languages else main
        rtl = locale_rules.is_rtl(locale)
        for fmt in params.formats:
            size = {"width": info.display_width or None, "height": info.display_height or None}
            ctx.output.write_text(f"{name}.{fmt}", render(cues, fmt, **size, rtl=rtl))
        tracks[name] = {
            "flores": languages.to_flores(target) if languages.is_language(target) else None,
            "locale": str(locale) if locale else None,
            "direction": "rtl" if rtl else "ltr",
            "cues": len(cues),
            **figures,
            "flagged_cues": sum(LOW_SCORE in c.flags for c in cues),
            "cue_list": [
                {
                    "start": c.start,
                    "end": c.end,
                    "text": c.text,
                    "speaker": c.speaker,
                    "line_speakers": c.line_speakers,
                    "flagged": LOW_SCORE in c.flags,
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
        "flagged_cues": {k: v["flagged_cues"] for k, v in tracks.items()},
        "chunks": len(chunks),
        "doubtful": doubtful,
        "removed": len(removed),
        "shot_changes": len(shots),
        "backend": transcript.backend,
        "model": transcript.model,
        "transcribed_by": served.name
        if served
        else "ray-actor"
        if one_actor_pool(cfg, TRANSCRIBER_KEY)
        else "ray-data-actors",
        "translated_by": (translator.name if translator else "ray-data-actors")
        if any(t["translated_segments"] for t in tracks.values())
        else None,
        "denoise": params.denoise,
        "speaker_backend": speakers_by,
        "denoised_chunks": {
            name: sum(1 for r in results if r.denoised_by == name) for name in {r.denoised_by for r in results} - {None}
        },
        "noise": noise_summary([r.noise for r in results]) if params.denoise else None,
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
    transcriber; the speaker embedder and the denoiser (DeepFilterNet3, else RNNoise) when asked for and their
    weights stage (else the job uses its named fallbacks); the translator when a requested language is not the
    declared one."""
    keys = [TRANSCRIBER_KEY]
    if params.diarize and speaker_backend(cfg) != diarization.MFCC:
        keys.append(EMBEDDER_KEY)
    if params.denoise:
        keys += [k for k in (SPEECH_DENOISER_KEY, DENOISER_KEY) if k in cfg.models and _stages(cfg, k)][:1]
    return [*keys, TRANSLATOR_KEY] if _needs_translation(params) else keys


def _stages(cfg: Config, key: str) -> bool:
    try:
        resolve(cfg, key)
    except GenmediaError:
        return False
    return True
