"""Noise reduction on real recorded speech (CMU ARCTIC, tests/data/speech), clean and with white noise: the
DeepFilterNet3 denoiser staged from its wheel, and the subtitles' per-chunk noise decision (what
``ChunkTranscriber`` runs with ``denoise``) against bare faster-whisper (Whisper base).

Slow: about 19 Whisper decodes of 3-5 s each (4 of them in the subtitles job's Ray actor), plus DeepFilterNet3
staged from its PyPI wheel once.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from genmedia.config import Config, load_config
from genmedia.deployments.transcriber import ChunkTranscript, Transcriber, TranscribeRequest
from genmedia.media.audio import load_audio, read_range, write_audio_file
from genmedia.pipelines import subtitles
from genmedia.subtitles.denoise import (
    DENOISE_BELOW_SNR_DB,
    SURER_BY,
    DeepFilterNet,
    noise_decision,
    noise_summary,
    snr_db,
)
from genmedia.subtitles.wer import wer

pytestmark = pytest.mark.slow

SR = 16000
SPEECH = Path(__file__).parent / "data" / "speech"
TRUTH = {
    "arctic_a0007": "And you always want to see it in the superlative degree.",
    "arctic_a0009": "He turned sharply, and faced Gregson across the table.",
}
REQUEST = TranscribeRequest(language="en")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Transcriber, DeepFilterNet]:
    """Whisper base and DeepFilterNet3 from the default config, staged afresh (no Ray)."""
    cache = tmp_path_factory.mktemp("noise-cache")
    cfg = load_config(None, storage={"root": str(cache / "out"), "cache_dir": str(cache)})
    return Transcriber(cfg, "transcriber"), DeepFilterNet(cfg, "speech_denoiser")


def _decide(models: tuple[Transcriber, DeepFilterNet], audio: np.ndarray) -> tuple[ChunkTranscript, ChunkTranscript]:
    """(bare faster-whisper's transcript, the noise decision's) of one chunk."""
    transcriber, denoiser = models
    bare = transcriber.transcribe(audio, request=REQUEST)
    ours = noise_decision(audio, lambda x: transcriber.transcribe(x, request=REQUEST), ("deepfilternet3", denoiser))
    return bare, ours


def _rule(confidence: dict[str, float | None]) -> str:
    """The decode :func:`noise_decision` keeps, from the recorded word confidences (None: no words)."""
    kept = "as recorded"
    for label, value in confidence.items():
        if value is not None and (confidence[kept] is None or value > confidence[kept] + SURER_BY):
            kept = label
    return kept


def _noisy(clean: np.ndarray, snr: float | None, seed: int) -> np.ndarray:
    """``clean`` with half a second of room before and after, plus white noise at ``snr`` dB below its speech."""
    pad = np.zeros(SR // 2, dtype=np.float32)
    x = np.concatenate([pad, clean, pad])
    if snr is None:
        return x
    speech_power = np.mean(clean**2)
    noise = np.random.default_rng(seed).standard_normal(x.size) * np.sqrt(speech_power / 10 ** (snr / 10))
    return (x + noise).astype(np.float32)


def _text(transcript) -> str:  # noqa: ANN001 - a ChunkTranscript
    return " ".join(s.text for s in transcript.segments)


def test_deepfilternet_keeps_length_and_timing_and_removes_noise(models: tuple[Transcriber, DeepFilterNet]) -> None:
    clean = _noisy(load_audio(SPEECH / "arctic_a0007.flac", SR), None, 0)
    noisy = _noisy(load_audio(SPEECH / "arctic_a0007.flac", SR), 10, seed=3)
    out = models[1](noisy)
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert snr_db(out) > snr_db(noisy) + 10
    lags = np.arange(-800, 801)
    corr = [float(np.dot(out[SR + lag : 3 * SR + lag], clean[SR : 3 * SR])) for lag in lags]
    assert abs(int(lags[int(np.argmax(corr))])) <= 16  # the network's 30 ms delay is taken out (within 1 ms)
    assert snr_db(clean) > DENOISE_BELOW_SNR_DB > snr_db(_noisy(clean, 20, 0))


def test_clean_speech_gets_bare_faster_whispers_words(models: tuple[Transcriber, DeepFilterNet]) -> None:
    """Differential, on real recordings: clean speech is judged clean, never denoised, and its WER is at most
    bare faster-whisper's + 1 point (the same words)."""
    for name, truth in TRUTH.items():
        audio = _noisy(load_audio(SPEECH / f"{name}.flac", SR), None, 0)
        bare, ours = _decide(models, audio)
        assert ours.noise is not None and not ours.noise["noisy"] and ours.noise["kept"] == "as recorded"
        assert ours.denoised_by is None
        assert wer(truth, _text(ours)) <= wer(truth, _text(bare)) + 0.01


def test_lightly_noisy_speech_costs_no_word(models: tuple[Transcriber, DeepFilterNet]) -> None:
    """Differential, on real recordings with white noise at 20 dB SNR (seed 0): each chunk is judged noisy and
    decoded three ways, and the words kept have a WER at most bare faster-whisper's + 1 point."""
    for name, truth in TRUTH.items():
        audio = _noisy(load_audio(SPEECH / f"{name}.flac", SR), 20.0, 0)
        bare, ours = _decide(models, audio)
        assert ours.noise is not None and ours.noise["noisy"] and len(ours.noise["confidence"]) == 3
        assert wer(truth, _text(ours)) <= wer(truth, _text(bare)) + 0.01


def test_noisy_chunk_is_decoded_three_ways_and_the_choice_recorded(models: tuple[Transcriber, DeepFilterNet]) -> None:
    """At 5 dB added white noise the chunk is judged noisy and decoded as recorded, after DeepFilterNet3 and after
    DeepFilterNet3 with a quarter of the recording mixed back (in that order); a denoised transcript replaces the
    kept one only when its mean log word probability is higher by more than ``SURER_BY``; the record holds each
    decode's word confidence, and the job details' ``noise`` summary counts it."""
    transcriber, denoiser = models
    truth = TRUTH["arctic_a0007"]
    audio = _noisy(load_audio(SPEECH / "arctic_a0007.flac", SR), 5.0, seed=1)
    inputs: list[np.ndarray] = []
    decodes: list[ChunkTranscript] = []

    def transcribe(x: np.ndarray) -> ChunkTranscript:
        inputs.append(x)
        decodes.append(transcriber.transcribe(x, request=REQUEST))
        return decodes[-1]

    ours = noise_decision(audio, transcribe, ("deepfilternet3", denoiser))
    denoised = denoiser(audio)
    assert len(inputs) == 3 and np.array_equal(inputs[0], audio)
    np.testing.assert_allclose(inputs[1], denoised, atol=1e-5)
    np.testing.assert_allclose(inputs[2], 0.75 * denoised + 0.25 * audio, atol=1e-5)
    noise = ours.noise
    assert noise is not None and noise["noisy"] and noise["snr_db"] < DENOISE_BELOW_SNR_DB
    assert noise["denoiser"] == "deepfilternet3"
    confidence = noise["confidence"]
    labels = ["as recorded", "deepfilternet3", "deepfilternet3 + 0.25 original"]
    assert confidence == {label: round(t.word_confidence, 3) for label, t in zip(labels, decodes)}
    kept = _rule(confidence)
    assert noise["kept"] == kept and ours is decodes[labels.index(kept)]
    assert ours.denoised_by == (None if kept == "as recorded" else kept)
    print(f"5 dB: bare WER {wer(truth, _text(decodes[0])):.3f}, pipeline WER {wer(truth, _text(ours)):.3f} ({kept})")
    summary = noise_summary([ours.noise, None])
    assert summary["noisy_chunks"] == 1 and summary["kept_denoised"] == (kept != "as recorded")
    assert summary["chunks"] == [noise]


@pytest.mark.ray
def test_job_records_each_chunks_noise_decision(ray_session: Config, tmp_path: Path) -> None:
    """The subtitles job with ``denoise`` on a real recording (ARCTIC a0007 clean, then a0009 with white noise
    at 5 dB SNR, seed 12), cut into two chunks: ``details.noise`` holds one record per chunk of
    ``transcript.json``, in order, each with the SNR of that chunk's audio and the choice the rule makes from
    the recorded word confidences; the counts agree with ``denoised_chunks``. Slow: a Ray actor with Whisper base and
    DeepFilterNet3, four decodes of 4-5 s."""
    clean_part = _noisy(load_audio(SPEECH / "arctic_a0007.flac", SR), None, 0)
    noisy_part = _noisy(load_audio(SPEECH / "arctic_a0009.flac", SR), 5.0, seed=12)
    path = tmp_path / "clean_then_noisy.flac"
    write_audio_file(path, np.concatenate([clean_part, noisy_part]), SR)
    pipelines = ray_session.pipelines
    short = pipelines.subtitles.model_copy(update={"chunk_seconds": 6.0})
    cfg = ray_session.model_copy(update={"pipelines": pipelines.model_copy(update={"subtitles": short})})
    params = subtitles.Params(languages=["en"], source_language="en", denoise=True, diarize=False, formats=["srt"])
    result = subtitles.run(cfg, str(path), params)
    details = result.details
    chunks = json.loads(Path(result.files["transcript.json"]).read_text())["chunks"]
    records = details["noise"]["chunks"]
    assert details["chunks"] == len(chunks) == len(records) == 2
    for (start, end), record in zip(chunks, records):
        snr = snr_db(read_range(path, start, end))
        assert record["snr_db"] == (round(snr, 1) if math.isfinite(snr) else None)
        assert record["noisy"] == (snr < DENOISE_BELOW_SNR_DB)
        if record["noisy"]:
            assert record["denoiser"] == "deepfilternet3"
            assert len(record["confidence"]) == 3 and record["kept"] == _rule(record["confidence"])
        else:
            assert record["kept"] == "as recorded" and "confidence" not in record
    assert [r["noisy"] for r in records] == [False, True]
    kept_denoised = sum(r["kept"] != "as recorded" for r in records)
    assert details["noise"]["noisy_chunks"] == 1
    assert details["noise"]["kept_denoised"] == kept_denoised == sum(details["denoised_chunks"].values())
