"""Audio features: tempo and beats of the sample clip's beat track, loudness of known tones, peaks, silence."""

from __future__ import annotations

import numpy as np
import pytest

from genmedia.analysis.audio import SAMPLE_RATE, analyse_audio
from genmedia.media.audio import iter_audio


def _chunks(x: np.ndarray, size: int = 7919) -> list[np.ndarray]:
    return [x[i : i + size] for i in range(0, len(x), size)]  # odd chunk size: streaming must not matter


def test_tempo_within_two_percent_and_beats_on_the_kicks(sample_clip) -> None:  # noqa: ANN001
    path, truth = sample_clip
    audio = analyse_audio(iter_audio(path, SAMPLE_RATE, chunk_seconds=3.0))
    assert audio.tempo == pytest.approx(truth.audio.bpm, rel=0.02)
    known = np.asarray(truth.audio.beat_times)
    found = audio.beat_times
    assert len(found) >= 0.9 * len(known)
    nearest = np.abs(found[:, None] - known[None, :]).min(axis=1)
    assert np.all(nearest < 0.05), nearest
    onsets = audio.onsets
    assert np.mean(np.abs(onsets[:, None] - known[None, :]).min(axis=0) < 0.05) > 0.9  # every kick is an onset


def test_loudness_of_a_sine_matches_bs1770() -> None:
    t = np.arange(4 * SAMPLE_RATE) / SAMPLE_RATE
    tone = (0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)  # -20 dBFS peak, -23 dBFS RMS
    audio = analyse_audio(_chunks(tone))
    # BS.1770: a 1 kHz sine at RMS -23 dBFS (mono) reads about -23 LUFS (K-weighting adds ~0.7 dB at 1 kHz).
    assert audio.integrated_loudness == pytest.approx(-23.0 + 0.69 - 0.691, abs=0.3)
    assert np.median(audio.rms_db) == pytest.approx(-23.01, abs=0.2)
    assert audio.duration == pytest.approx(4.0)


def test_streaming_in_chunks_equals_one_piece() -> None:
    rng = np.random.default_rng(0)
    x = (0.2 * rng.standard_normal(3 * SAMPLE_RATE)).astype(np.float32)
    whole, parts = analyse_audio([x]), analyse_audio(_chunks(x, 1234))
    np.testing.assert_allclose(whole.loudness, parts.loudness, atol=1e-4)
    np.testing.assert_allclose(whole.onset_envelope, parts.onset_envelope, atol=1e-4)


def test_peaks_find_the_loud_burst() -> None:
    rng = np.random.default_rng(1)
    x = (0.01 * rng.standard_normal(10 * SAMPLE_RATE)).astype(np.float32)
    x[6 * SAMPLE_RATE : int(6.5 * SAMPLE_RATE)] *= 30
    peaks = analyse_audio(_chunks(x)).peaks
    assert len(peaks) == 1 and 6.0 <= peaks[0]["time"] <= 6.6


def test_silence_has_no_tempo_and_no_error() -> None:
    audio = analyse_audio([np.zeros(5 * SAMPLE_RATE, np.float32)])
    assert audio.tempo is None and audio.beat_times.size == 0 and audio.peaks == []
    assert audio.integrated_loudness <= -70
    assert audio.to_json()["tempo"] is None
