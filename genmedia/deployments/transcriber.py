"""Speech recognition with faster-whisper: one class for Ray Data (``__call__``) and Serve (``transcribe``).

Weights are resolved and verified through the model registry (``models.transcriber``; the embedded
default is the real Whisper base model) and loaded once per actor. On a GPU, faster-whisper's
BatchedInferencePipeline decodes the VAD segments of a chunk in batches (``batch_size`` of the entry).

Beyond plain decoding:

* **language per segment**: segments Whisper was unsure of (most words below 0.5 probability: a
  language decoded as another gives uncertain words throughout, one misheard word does not), the
  segment after a switch, or every segment with ``per_segment_language="all"``, get their own language
  detection and, when it finds another language, are re-decoded in it;
* **hallucination control**: segments failing :func:`genmedia.subtitles.hallucination.check`
  (compression ratio, log-probability, no-speech probability, repeats, text during silence) are
  re-decoded alone (their own window, not the neighbours' audio) with fallback settings (temperature
  fallback, no conditioning on earlier text,
  VAD on); a window that then yields nothing is dropped, one that still fails is kept and flagged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from genmedia.config import CPU, Config
from genmedia.models.registry import resolve
from genmedia.subtitles import hallucination
from genmedia.subtitles.diarization import speech_regions
from genmedia.subtitles.transcript import Segment, Word

SAMPLE_RATE = 16000
LOW_WORD_PROBABILITY = 0.5
"""Below this median word probability a segment may be in another language than its window's."""
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
MIN_WINDOW_S = 0.1
"""Shorter audio is not decoded (nothing to hear)."""


class TranscribeRequest(BaseModel):
    """How to decode one piece of audio."""

    model_config = ConfigDict(extra="forbid")

    language: str | None = Field(None, description="Whisper language id; None detects it.")
    vad: bool = Field(True, description="Skip non-speech with faster-whisper's Silero VAD.")
    beam_size: int | None = Field(None, ge=1, le=16, description="None: the model entry's option (default 5).")
    per_segment_language: Literal["off", "auto", "all"] = "auto"
    hallucination_control: bool = True


@dataclass
class ChunkTranscript:
    """The decoded segments of one chunk (times already shifted to the whole input's timeline)."""

    segments: list[Segment]
    language: str | None
    language_probability: float
    removed: list[Segment] = field(default_factory=list)
    denoised_by: str | None = None
    """The noise reduction whose output this transcript is of (None: the audio as recorded)."""
    noise: dict[str, Any] | None = None
    """How the chunk's noise was judged (measured SNR, the denoiser tried, each decode's word confidence, which
    transcript was kept; :func:`genmedia.subtitles.denoise.noise_decision`); None: noise reduction was not asked for."""

    @property
    def word_confidence(self) -> float:
        """Mean natural log of Whisper's word probabilities over the kept segments' words (-inf without words):
        what decides between transcripts of one chunk decoded as recorded and denoised. A word a denoiser
        blurred scores low here, while the segments' ``avg_logprob`` (over every token of the 30 s window,
        timestamps and punctuation included) barely moves (docs/subtitles.md has the comparison)."""
        probabilities = [w.probability for s in self.segments for w in s.words]
        if not probabilities:
            return float("-inf")
        return float(np.mean(np.log(np.maximum(probabilities, 1e-6))))

    def to_json(self) -> str:
        return json.dumps(
            {
                "segments": [s.model_dump() for s in self.segments],
                "removed": [s.model_dump() for s in self.removed],
                "language": self.language,
                "language_probability": self.language_probability,
                "denoised_by": self.denoised_by,
                "noise": self.noise,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ChunkTranscript:
        d = json.loads(text)
        return cls(
            [Segment(**s) for s in d["segments"]],
            d["language"],
            d["language_probability"],
            [Segment(**s) for s in d["removed"]],
            d.get("denoised_by"),
            d.get("noise"),
        )


def _device(option: str) -> str:
    if option != "auto":
        return option
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


class Transcriber:
    """faster-whisper, loaded once; ``transcribe`` for one request, ``__call__`` for Ray Data batches."""

    def __init__(self, cfg: Config, key: str = "transcriber"):
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        entry = cfg.model(key)
        path = resolve(cfg, key)
        options = dict(entry.options)
        self.device = _device(options.get("device", "auto"))
        threads = int(options.get("cpu_threads") or (entry.resources[CPU].num_cpus if CPU in entry.resources else 0))
        self.model = WhisperModel(
            str(path),
            device=self.device,
            compute_type=options.get("compute_type", "default"),
            cpu_threads=max(0, threads),
        )
        batched = options.get("batched", "auto")
        self.pipeline = (
            BatchedInferencePipeline(self.model)
            if (batched is True or (batched == "auto" and self.device == "cuda"))
            else None
        )
        self.batch_size = entry.batch_size
        self.beam_size = int(options.get("beam_size", 5))
        self.model_name = entry.model

    # ------------------------------------------------------------------------------ decoding

    def _decode(
        self, audio: np.ndarray, language: str | None, request: TranscribeRequest, *, fallback: bool = False
    ) -> tuple[list[Segment], str, float]:
        kwargs: dict[str, Any] = {
            "language": language,
            "beam_size": request.beam_size or self.beam_size,
            "word_timestamps": True,
            "vad_filter": request.vad or fallback,
        }
        if fallback:
            kwargs.update(temperature=list(FALLBACK_TEMPERATURES), condition_on_previous_text=False)
        if self.pipeline is not None:
            raw, info = self.pipeline.transcribe(audio, batch_size=self.batch_size, **kwargs)
        else:
            raw, info = self.model.transcribe(audio, **kwargs)
        segments = [_segment(s, info.language, info.language_probability) for s in raw]
        return [s for s in segments if s.text.strip()], info.language, float(info.language_probability)

    def _relabel_languages(
        self, audio: np.ndarray, segments: list[Segment], request: TranscribeRequest
    ) -> list[Segment]:
        """Detect the language of single segments and re-decode those spoken in another language."""
        out: list[Segment] = []
        switched = False  # a language switch found: the next segment is checked too
        for seg in segments:
            wanted = (
                request.per_segment_language == "all"
                or switched
                or _typical_probability(seg.words) < LOW_WORD_PROBABILITY
            )
            switched = False
            if not wanted or seg.end - seg.start < 1.0:
                out.append(seg)
                continue
            lo, hi = max(0.0, seg.start - 0.1), min(audio.size / SAMPLE_RATE, seg.end + 0.1)
            piece = audio[round(lo * SAMPLE_RATE) : round(hi * SAMPLE_RATE)]
            language, prob, _ = self.model.detect_language(audio=piece)
            if language == seg.language or prob < 0.5:
                out.append(seg)
                continue
            redone, _, _ = self._decode(piece, language, request)
            redone = [_shift(s, lo) for s in redone]
            for s in redone:
                s.language, s.language_probability = language, float(prob)
            probable = np.mean([w.probability for w in seg.words]) if seg.words else 0.0
            better = redone and np.mean([w.probability for s in redone for w in s.words] or [0]) > probable
            out.extend(redone if better else [seg])
            switched = bool(better)
        return out

    def _control(
        self, audio: np.ndarray, segments: list[Segment], request: TranscribeRequest
    ) -> tuple[list[Segment], list[Segment]]:
        """Re-decode segments that look invented; drop those that vanish, flag those that stay doubtful."""
        regions = speech_regions(audio, SAMPLE_RATE)
        kept: list[Segment] = []
        removed: list[Segment] = []
        for i, seg in enumerate(segments):
            reasons = hallucination.check(seg, kept[-1] if kept else None, regions)
            if not reasons:
                kept.append(seg)
                continue
            # The segment's window, widened a little but not into its neighbours (their words stay theirs:
            # re-decoding them would duplicate them); a window with no audio of its own has nothing to hear.
            lo = max(0.0, seg.start - 0.3, kept[-1].end if kept else 0.0)
            hi = min(audio.size / SAMPLE_RATE, seg.end + 0.3, *(s.start for s in segments[i + 1 : i + 2]))
            redone = []
            if hi - lo >= MIN_WINDOW_S:
                redone, _, _ = self._decode(
                    audio[round(lo * SAMPLE_RATE) : round(hi * SAMPLE_RATE)], seg.language, request, fallback=True
                )
                redone = [_shift(s, lo) for s in redone]
            if not redone:
                seg.doubtful = reasons
                removed.append(seg)
                continue
            for s in redone:
                s.redecoded = True
                s.language, s.language_probability = seg.language, seg.language_probability
                s.doubtful = hallucination.check(s, kept[-1] if kept else None, regions)
                kept.append(s)
        return kept, removed

    # ----------------------------------------------------------------------------- entry points

    def transcribe(
        self, audio: np.ndarray, *, offset: float = 0.0, request: TranscribeRequest | None = None
    ) -> ChunkTranscript:
        """Transcribe mono float32 16 kHz ``audio`` that starts ``offset`` seconds into the input."""
        request = request or TranscribeRequest()
        audio = np.asarray(audio, dtype=np.float32)
        if audio.size < MIN_WINDOW_S * SAMPLE_RATE or not speech_regions(audio, SAMPLE_RATE):
            return ChunkTranscript([], request.language, 0.0)
        segments, language, probability = self._decode(audio, request.language, request)
        if request.per_segment_language != "off" and request.language is None:
            segments = self._relabel_languages(audio, segments, request)
        removed: list[Segment] = []
        if request.hallucination_control:
            segments, removed = self._control(audio, segments, request)
        return ChunkTranscript(
            [_shift(s, offset) for s in segments], language, probability, [_shift(s, offset) for s in removed]
        )

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Ray Data: rows with ``audio`` (float32 array), ``offset`` (s) and ``request`` (JSON) -> ``transcript`` (JSON)."""
        out = []
        for audio, offset, request in zip(batch["audio"], batch["offset"], batch["request"]):
            req = TranscribeRequest.model_validate_json(str(request))
            out.append(
                self.transcribe(np.asarray(audio, dtype=np.float32), offset=float(offset), request=req).to_json()
            )
        result = {k: v for k, v in batch.items() if k != "audio"}
        result["transcript"] = np.array(out, dtype=object)
        return result


def _typical_probability(words: list[Word]) -> float:
    """The median word probability (0 without words): robust to a single misheard word."""
    return float(np.median([w.probability for w in words])) if words else 0.0


def _segment(raw: Any, language: str, probability: float) -> Segment:
    words = [
        Word(text=w.word.strip(), start=float(w.start), end=float(w.end), probability=float(w.probability))
        for w in (raw.words or [])
        if w.word.strip()
    ]
    return Segment(
        start=float(raw.start),
        end=float(raw.end),
        text=raw.text.strip(),
        words=words,
        language=language,
        language_probability=float(probability),
        avg_logprob=float(raw.avg_logprob),
        compression_ratio=hallucination.compression_ratio(raw.text.strip()),
        no_speech_prob=float(raw.no_speech_prob),
    )


def _shift(seg: Segment, offset: float) -> Segment:
    if not offset:
        return seg
    return seg.model_copy(
        update={
            "start": seg.start + offset,
            "end": seg.end + offset,
            "words": [w.model_copy(update={"start": w.start + offset, "end": w.end + offset}) for w in seg.words],
        }
    )
