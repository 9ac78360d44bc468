"""The faster-whisper deployment with the real Whisper base model: languages per segment, hallucination
control, noise reduction on clean speech, the batched pipeline, and the Ray Data entry point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from genmedia.config import Config
from genmedia.deployments.transcriber import ChunkTranscript, Transcriber, TranscribeRequest
from genmedia.media.audio import load_audio
from genmedia.media.synthetic import load_sample_speech, sample_speech_text
from genmedia.subtitles.denoise import spectral_gate
from genmedia.subtitles.hallucination import check
from genmedia.subtitles.transcript import Segment, Word
from genmedia.subtitles.wer import wer

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SR = 16000
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def transcriber(ray_session: Config) -> Transcriber:
    return Transcriber(ray_session)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return load_sample_speech(SR)


def test_transcribes_the_sample_sentence_with_word_times(transcriber: Transcriber, speech: np.ndarray) -> None:
    result = transcriber.transcribe(speech, offset=100.0)
    assert result.language == "en"
    text = " ".join(s.text for s in result.segments)
    assert wer(sample_speech_text(), text) <= 0.2, text
    words = [w for s in result.segments for w in s.words]
    assert words[0].start >= 100.0 and words[-1].end <= 100.0 + len(speech) / SR + 0.1  # shifted by the offset
    assert all(a.start <= b.start for a, b in zip(words, words[1:]))
    assert all(0 <= w.probability <= 1 for w in words)
    assert ChunkTranscript.from_json(result.to_json()).segments == result.segments


def test_denoise_does_not_hurt_clean_speech(transcriber: Transcriber, speech: np.ndarray) -> None:
    clean = spectral_gate(speech)
    assert np.sqrt(np.mean((clean - speech) ** 2)) < 0.02 * np.sqrt(np.mean(speech**2))
    raw = " ".join(s.text for s in transcriber.transcribe(speech).segments)
    gated = " ".join(s.text for s in transcriber.transcribe(clean).segments)
    assert wer(sample_speech_text(), gated) <= wer(sample_speech_text(), raw)


def test_denoise_removes_stationary_noise() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(SR * 4) / SR
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) * (t % 1 < 0.6)).astype(np.float32)
    noisy = tone + (0.03 * rng.standard_normal(tone.size)).astype(np.float32)

    def snr(x: np.ndarray) -> float:
        return 10 * np.log10(np.sum(tone**2) / np.sum((x - tone) ** 2))

    assert snr(spectral_gate(noisy)) > snr(noisy) + 6


def test_language_detected_per_segment(transcriber: Transcriber) -> None:
    audio = load_audio(DATA / "bilingual_en_es.flac", SR)
    result = transcriber.transcribe(audio)
    langs = [s.language for s in result.segments]
    assert langs[0] == "en" and langs[-1] == "es", [(s.language, s.text) for s in result.segments]
    spanish = " ".join(s.text for s in result.segments if s.language == "es").lower()
    assert "noches" in spanish and "programa" in spanish
    english = " ".join(s.text for s in result.segments if s.language == "en").lower()
    assert "welcome to the program" in english


def test_hallucination_checks() -> None:
    def seg(text: str, start: float, end: float, **kw) -> Segment:
        return Segment(
            start=start,
            end=end,
            text=text,
            language="en",
            words=[Word(text=w, start=start, end=end, probability=0.9) for w in text.split()],
            **kw,
        )

    speech = [(0.0, 5.0)]
    assert check(seg("Hello there.", 0.5, 1.5), None, speech) == []
    assert "text during silence" in check(seg("Thanks for watching!", 6.0, 8.0), None, speech)
    assert "repeats the previous segment" in check(seg("Hello there", 2, 3), seg("hello, there!", 0.5, 1.5), speech)
    assert any("compression" in r for r in check(seg("la " * 40, 0, 4, compression_ratio=5.0), None, speech))
    assert any("confidence" in r for r in check(seg("mumble", 0, 1, avg_logprob=-2.0), None, speech))


def test_invented_text_in_silence_is_redecoded_and_dropped(transcriber: Transcriber, speech: np.ndarray) -> None:
    audio = np.concatenate([speech, np.zeros(SR * 3, dtype=np.float32)])
    heard, _, _ = transcriber._decode(audio, "en", TranscribeRequest())
    end = len(audio) / SR
    fake = Segment(
        start=end - 2.5,
        end=end - 0.5,
        text="Thank you for watching.",
        language="en",
        words=[
            Word(text=w, start=end - 2.5 + 0.4 * i, end=end - 2.2 + 0.4 * i, probability=0.8)
            for i, w in enumerate(["Thank", "you", "for", "watching."])
        ],
    )
    kept, removed = transcriber._control(audio, [*heard, fake], TranscribeRequest())
    assert [s.text for s in removed] == ["Thank you for watching."]
    assert "text during silence" in removed[0].doubtful
    assert [s.text for s in kept] == [s.text for s in heard]


def test_batched_pipeline_and_ray_data_entry_point(ray_session: Config, speech: np.ndarray) -> None:
    entry = ray_session.models["transcriber"].model_copy(
        update={"options": {**ray_session.models["transcriber"].options, "batched": True}}
    )
    cfg = ray_session.model_copy(update={"models": {**ray_session.models, "transcriber": entry}})
    batched = Transcriber(cfg)
    assert batched.pipeline is not None
    batch = {
        "audio": np.array([speech], dtype=object),
        "offset": np.array([2.0]),
        "request": np.array([TranscribeRequest().model_dump_json()]),
    }
    out = batched(batch)
    result = ChunkTranscript.from_json(out["transcript"][0])
    assert wer(sample_speech_text(), " ".join(s.text for s in result.segments)) <= 0.2
    assert result.segments[0].start >= 2.0
    assert json.loads(out["transcript"][0])["language"] == "en"


def test_silence_gives_no_segments(transcriber: Transcriber) -> None:
    assert transcriber.transcribe(np.zeros(SR * 4, dtype=np.float32)).segments == []
