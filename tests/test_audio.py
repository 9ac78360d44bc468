"""Audio loading: rates, down-mixing, streaming chunks, files without audio, and writing audio files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genmedia.errors import InputError
from genmedia.media.audio import has_audio, iter_audio, load_audio, write_audio_file
from genmedia.media.encode import VideoWriter

pytestmark = pytest.mark.unit


def _tone(freq: float, seconds: float, rate: int, amplitude: float = 0.4) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_frequencies(x: np.ndarray, rate: int, count: int) -> list[float]:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    picks: list[float] = []
    for idx in np.argsort(spectrum)[::-1]:
        if all(abs(freqs[idx] - f) > 20 for f in picks):
            picks.append(float(freqs[idx]))
        if len(picks) == count:
            break
    return sorted(picks)


@pytest.mark.parametrize("ext", ["flac", "wav", "opus", "m4a"])
def test_length_and_rate(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"tone.{ext}"
    write_audio_file(path, _tone(440, 2.0, 16000), 16000)
    assert has_audio(path)
    audio = load_audio(path, sample_rate=16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    if ext in ("flac", "wav"):
        assert audio.size == 32000
    else:
        assert abs(audio.size - 32000) <= 320
    assert _peak_frequencies(audio, 16000, 1)[0] == pytest.approx(440, abs=2)


def test_resample_44k_stereo_to_16k_mono(tmp_path: Path) -> None:
    path = tmp_path / "stereo.flac"
    stereo = np.stack([_tone(440, 2.0, 44100), _tone(1000, 2.0, 44100)])
    write_audio_file(path, stereo, 44100)
    audio = load_audio(path, sample_rate=16000)
    assert audio.size == 32000
    # Both channels are in the mono mix, at their own frequencies.
    assert _peak_frequencies(audio, 16000, 2) == pytest.approx([440, 1000], abs=2)
    assert 0.2 < float(np.abs(audio).max()) <= 1.0


def test_timing_survives_resampling(tmp_path: Path) -> None:
    path = tmp_path / "click.wav"
    clicks = np.zeros(44100 * 2, np.float32)
    clicks[int(0.5 * 44100)] = clicks[int(1.5 * 44100)] = 0.9
    write_audio_file(path, clicks, 44100)
    audio = load_audio(path, sample_rate=16000)
    peaks = sorted(np.argsort(np.abs(audio))[-2:])
    assert np.abs(np.array(peaks) / 16000 - [0.5, 1.5]).max() < 0.001


def test_audio_track_of_a_video(tmp_path: Path) -> None:
    path = tmp_path / "video.mp4"
    signal = np.zeros(48000 * 2, np.float32)
    signal[24000:24100] = 0.9
    with VideoWriter(path, 64, 64, 24, audio_rate=48000) as writer:
        writer.write_frames(np.zeros((48, 64, 64, 3), np.uint8))
        writer.write_audio(signal)
    audio = load_audio(path, sample_rate=16000)
    assert audio.size == 32000  # encoder padding after the declared duration is dropped
    onset = int(np.argmax(np.abs(audio) > 0.3))
    assert abs(onset / 16000 - 0.5) < 0.002


def test_streamed_chunks_concatenate_to_the_whole(tmp_path: Path) -> None:
    path = tmp_path / "long.flac"
    rng = np.random.default_rng(0)
    write_audio_file(path, (0.3 * rng.standard_normal(22050 * 5)).astype(np.float32), 22050)
    whole = load_audio(path, sample_rate=16000)
    chunks = list(iter_audio(path, sample_rate=16000, chunk_seconds=1.5))
    assert [c.size for c in chunks[:-1]] == [24000] * (len(chunks) - 1)
    assert 0 < chunks[-1].size <= 24000
    assert np.array_equal(np.concatenate(chunks), whole)
    assert whole.size == 80000


def test_no_audio_stream(tmp_path: Path) -> None:
    path = tmp_path / "silent.mp4"
    with VideoWriter(path, 64, 64, 24) as writer:
        writer.write_frames(np.zeros((4, 64, 64, 3), np.uint8))
    assert not has_audio(path)
    with pytest.raises(InputError, match="no audio stream") as info:
        load_audio(path)
    assert info.value.source == str(path) and info.value.exit_code == 2
    with pytest.raises(InputError, match="no audio stream"):
        next(iter_audio(path))


def test_missing_and_non_media_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_audio(tmp_path / "absent.wav")
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all\n" * 20)
    with pytest.raises(InputError, match="cannot open"):
        has_audio(text)


def test_write_audio_file_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="extension"):
        write_audio_file(tmp_path / "x.mp3", np.zeros(10, np.float32), 16000)
    with pytest.raises(ValueError, match="samples"):
        write_audio_file(tmp_path / "x.flac", np.zeros((3, 10), np.float32), 16000)


def test_opus_at_an_unsupported_rate_is_resampled(tmp_path: Path) -> None:
    path = tmp_path / "tone.opus"
    write_audio_file(path, _tone(300, 1.0, 44100), 44100)
    audio = load_audio(path, sample_rate=16000)
    assert abs(audio.size - 16000) <= 160
    assert _peak_frequencies(audio, 16000, 1)[0] == pytest.approx(300, abs=2)
