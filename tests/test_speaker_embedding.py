"""Speakers from the pretrained GE2E voice encoder on real recorded voices (CMU ARCTIC, tests/data/speech).

The weights are staged by the model registry from the pinned ``resemblyzer==0.1.4`` wheel on PyPI (sha256
checked). Slow-ish: the first test of a session downloads that wheel (16 MB) once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyannote.core import Annotation, Segment
from pyannote.metrics.diarization import DiarizationErrorRate

from genmedia.config import load_config
from genmedia.media.audio import load_audio
from genmedia.subtitles import diarization
from genmedia.subtitles.speaker_embedding import SpeakerEmbedder, mel_filterbank
from genmedia.subtitles.voiceprints import VoiceLibrary

pytestmark = pytest.mark.slow

SR = 16000
SPEECH = Path(__file__).parent / "data" / "speech"


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> SpeakerEmbedder:
    """The encoder with its weights staged into a fresh model store (no Ray needed)."""
    cache = tmp_path_factory.mktemp("embedder-cache")
    return SpeakerEmbedder(load_config(None, storage={"root": str(cache / "out"), "cache_dir": str(cache)}))


@pytest.fixture(scope="module")
def voices() -> dict[str, np.ndarray]:
    """Two real speakers, one utterance each (arctic_a0007: speaker A, arctic_a0009: speaker B)."""
    return {"A": load_audio(SPEECH / "arctic_a0007.flac", SR), "B": load_audio(SPEECH / "arctic_a0009.flac", SR)}


def _conversation(voices: dict[str, np.ndarray], order: str, gap_s: float = 0.5) -> tuple[np.ndarray, Annotation]:
    """The voices' utterances in ``order`` with pauses between, and the reference turns."""
    parts, truth, t = [], Annotation(), 0.0
    gap = np.zeros(round(gap_s * SR), dtype=np.float32)
    for k, who in enumerate(order):
        clip = voices[who]
        parts += [clip, gap]
        truth[Segment(t, t + clip.size / SR), k] = who
        t += (clip.size + gap.size) / SR
    return np.concatenate(parts), truth


def _hypothesis(result: diarization.Diarization) -> Annotation:
    out = Annotation()
    for k, turn in enumerate(result.turns):
        out[Segment(turn.start, turn.end), k] = turn.speaker
    return out


def test_mel_filterbank_is_librosas_slaney_bank() -> None:
    bank = mel_filterbank()
    assert bank.shape == (40, 201)
    # librosa.filters.mel(sr=16000, n_fft=400, n_mels=40): Slaney-normalised triangles (area 1 in Hz x weight / 2)
    widths = np.fft.rfftfreq(400, 1 / SR)[1]
    assert np.allclose(bank.sum(axis=1) * widths, 1.0, rtol=0.12)
    assert bank[0, 0] == 0.0 and bank[:, -1].max() < bank.max()


def test_embeddings_match_the_package(embedder: SpeakerEmbedder, voices: dict[str, np.ndarray]) -> None:
    """Whole-utterance d-vectors equal those of Resemblyzer 0.1.4's own code (``embed_utterance`` on the
    volume-normalised wave, computed once with the package and librosa 0.10.2 into tests/data/speech)."""
    reference = np.load(SPEECH / "resemblyzer_reference.npz")
    for who, name in (("A", "arctic_a0007"), ("B", "arctic_a0009")):
        ours = embedder.embed(voices[who], [(0.0, voices[who].size / SR)])[0]
        assert float(ours @ reference[name]) > 0.999
        assert np.linalg.norm(ours) == pytest.approx(1.0, abs=1e-5)


def test_real_voices_differ_and_one_voice_agrees_with_itself(
    embedder: SpeakerEmbedder, voices: dict[str, np.ndarray]
) -> None:
    a, b = voices["A"], voices["B"]
    halves = embedder.embed(a, [(0.0, 1.55), (1.55, a.size / SR)])
    others = embedder.embed(b, [(0.0, 1.5), (1.5, b.size / SR)])
    same = min(float(halves[0] @ halves[1]), float(others[0] @ others[1]))
    different = max(float(h @ o) for h in halves for o in others)
    assert same > different + 0.15, (same, different)


def test_conversation_of_real_voices_der_and_speaker_count(
    embedder: SpeakerEmbedder, voices: dict[str, np.ndarray]
) -> None:
    audio, truth = _conversation(voices, "ABABA")
    result = diarization.diarize(audio, embedder=embedder)
    der = DiarizationErrorRate(collar=0.25)(truth, _hypothesis(result))
    print(f"DER {der:.3f} turns {[(round(t.start, 2), round(t.end, 2), t.speaker) for t in result.turns]}")
    assert result.backend == "resemblyzer-ge2e" and len(result.speakers) == 2
    assert der <= 0.10


def test_long_loop_stays_two_speakers(embedder: SpeakerEmbedder, voices: dict[str, np.ndarray]) -> None:
    """~5 minutes (the conversation looped): more windows than MAX_ITEMS, still two voices."""
    audio, _ = _conversation(voices, "ABABAB")
    loop = np.tile(audio, int(np.ceil(300 * SR / audio.size)))
    result = diarization.diarize(loop, embedder=embedder)
    assert len(result.speakers) == 2


def test_one_real_voice_is_one_speaker(embedder: SpeakerEmbedder, voices: dict[str, np.ndarray]) -> None:
    gap = np.zeros(SR // 2, dtype=np.float32)
    audio = np.concatenate([voices["A"], gap, voices["A"], gap, voices["A"]])
    assert len(diarization.diarize(audio, embedder=embedder).speakers) == 1


def test_overlapped_speech_goes_to_the_dominant_voice(embedder: SpeakerEmbedder, voices: dict[str, np.ndarray]) -> None:
    """B talks over the second half of A's middle turn, 15 dB below A's level: that stretch stays A's."""
    gap = np.zeros(SR // 2, dtype=np.float32)
    a, b = voices["A"], voices["B"]
    level = np.sqrt(np.mean(a**2)) / np.sqrt(np.mean(b**2)) * 10 ** (-15 / 20)
    half = a.size // 2
    talked_over = a.copy()
    talked_over[half:] += level * np.resize(b, a.size - half)
    audio = np.concatenate([a, gap, b, gap, talked_over, gap, b, gap, a])
    result = diarization.diarize(audio, embedder=embedder)
    start = (a.size + b.size + 2 * gap.size) / SR  # where the talked-over turn starts
    assert len(result.speakers) == 2
    a_label = result.speaker_at(0.5, 1.0)
    assert result.speaker_at(start + half / SR + 0.3, start + a.size / SR - 0.3) == a_label


def test_voiceprints_name_the_same_real_voice_across_recordings(
    embedder: SpeakerEmbedder, voices: dict[str, np.ndarray], tmp_path: Path
) -> None:
    library = VoiceLibrary(tmp_path / "voices.json")
    one = diarization.diarize(_conversation(voices, "ABAB")[0], embedder=embedder)
    assert library.name_speakers(one.voiceprints, backend=one.backend) == {0: "Speaker 1", 1: "Speaker 2"}
    library.rename("Speaker 2", "Bea")
    # Another recording: B first this time, cut differently (other windows, other partials).
    trimmed = {"A": voices["A"][SR // 3 :], "B": voices["B"][SR // 4 :]}
    two = diarization.diarize(_conversation(trimmed, "BABA", gap_s=0.8)[0], embedder=embedder)
    assert library.name_speakers(two.voiceprints, backend=two.backend) == {0: "Bea", 1: "Speaker 1"}
    assert sorted(library.names()) == ["Bea", "Speaker 1"]
