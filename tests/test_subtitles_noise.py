"""Noise reduction on real recorded speech (CMU ARCTIC, tests/data/speech), clean and with white noise at
20, 10 and 5 dB SNR: RNNoise staged from its wheel, and the subtitles' per-chunk choice against bare
faster-whisper.

Slow: about 14 Whisper decodes of 4-5 s each, plus RNNoise staged from its PyPI wheel once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genmedia.config import load_config
from genmedia.deployments.transcriber import TranscribeRequest
from genmedia.media.audio import load_audio
from genmedia.pipelines.subtitles import ChunkTranscriber
from genmedia.subtitles.denoise import DENOISE_BELOW_SNR_DB, RNNoise, snr_db
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
def stage(tmp_path_factory: pytest.TempPathFactory) -> ChunkTranscriber:
    """The subtitles' chunk stage as a plain object (no Ray): Whisper base and RNNoise, staged afresh."""
    cache = tmp_path_factory.mktemp("noise-cache")
    cfg = load_config(None, storage={"root": str(cache / "out"), "cache_dir": str(cache)})
    return ChunkTranscriber(cfg, denoise=True, diarize=False)


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


def test_rnnoise_keeps_length_and_removes_noise(stage: ChunkTranscriber) -> None:
    clean = load_audio(SPEECH / "arctic_a0007.flac", SR)
    noisy = _noisy(clean, 10, seed=3)
    name, denoise = stage._denoiser.result()
    assert name == "rnnoise" and isinstance(denoise, RNNoise)
    out = denoise(noisy)
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert snr_db(out) > snr_db(noisy) + 10
    assert snr_db(_noisy(clean, None, 0)) > DENOISE_BELOW_SNR_DB > snr_db(_noisy(clean, 20, 0))


def test_pipeline_words_against_bare_faster_whisper(stage: ChunkTranscriber) -> None:
    """Clean speech is never denoised (the same words as bare faster-whisper); a noisy chunk keeps whichever
    of its two transcripts Whisper is more confident of. WER figures are printed for docs/subtitles.md:
    on these recordings the choice does not reliably beat bare decoding, which is why ``denoise`` is off
    by default."""
    for k, (name, truth) in enumerate(TRUTH.items()):
        clean = load_audio(SPEECH / f"{name}.flac", SR)
        for snr in (None, 20.0, 10.0, 5.0):
            audio = _noisy(clean, snr, seed=k)
            bare = stage.transcriber.transcribe(audio, request=REQUEST)
            ours = stage._transcribe(audio, 0.0, REQUEST)
            print(
                f"{name} SNR {snr}: bare WER {wer(truth, _text(bare)):.3f}, pipeline WER {wer(truth, _text(ours)):.3f} "
                f"({ours.denoised_by or 'as recorded'})"
            )
            if snr is None:
                assert ours.denoised_by is None and _text(ours) == _text(bare)
            else:
                assert ours.confidence >= bare.confidence
