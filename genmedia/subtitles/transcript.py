"""The transcript: segments and words with times, language, speaker and confidence (``transcript.json``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Word(BaseModel):
    """One recognised word; times in seconds from the start of the input."""

    text: str
    start: float
    end: float
    probability: float
    speaker: str | None = None


class Segment(BaseModel):
    """One decoded segment (about a sentence) with Whisper's confidence signals and our checks."""

    start: float
    end: float
    text: str
    words: list[Word] = Field(default_factory=list)
    language: str
    language_probability: float = 1.0
    avg_logprob: float = 0.0
    """Whisper's mean token log-probability of the decoding window the segment came from (faster-whisper's
    ``avg_logprob``: the quantity its own ``log_prob_threshold`` of -1.0 applies to)."""
    compression_ratio: float = 1.0
    no_speech_prob: float = 0.0
    speaker: str | None = None
    redecoded: bool = False
    """The segment was re-decoded with fallback settings after a hallucination check fired."""
    doubtful: list[str] = Field(default_factory=list)
    """Hallucination checks that still fire after re-decoding (empty = trusted)."""


class Transcript(BaseModel):
    """A whole input's transcript."""

    language: str
    """The main (most spoken) language, as a Whisper language id."""
    duration: float
    segments: list[Segment] = Field(default_factory=list)
    speakers: list[str] = Field(default_factory=list)
    chunks: list[tuple[float, float]] = Field(
        default_factory=list, description="Transcription chunks (start, end) in seconds."
    )
    removed: list[Segment] = Field(default_factory=list, description="Segments dropped as hallucinations.")
    backend: str = "faster-whisper"
    model: str | None = None
    speaker_backend: str | None = None
    """The speaker embeddings that labelled the speakers (``resemblyzer-ge2e``, or ``mfcc`` as the fallback)."""

    @property
    def text(self) -> str:
        """All segment texts joined by spaces."""
        return " ".join(s.text.strip() for s in self.segments).strip()

    @property
    def words(self) -> list[Word]:
        """Every word in time order."""
        return [w for s in self.segments for w in s.words]
