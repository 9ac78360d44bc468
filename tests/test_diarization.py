"""Speaker diarization on the two-speaker test recording, and names kept across files by voiceprints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genmedia.errors import InputError
from genmedia.media.audio import load_audio
from genmedia.media.synthetic import load_sample_speech
from genmedia.subtitles import diarization
from genmedia.subtitles.voiceprints import VoiceLibrary

pytestmark = pytest.mark.unit

SR = 16000


@pytest.fixture(scope="module")
def two_speakers(two_speaker_sample) -> tuple[np.ndarray, list]:
    path, truth = two_speaker_sample
    return load_audio(path, SR), truth


def _check_turns(turns, truth) -> None:
    assert len({t.speaker for t in turns}) == 2
    assert len(turns) == 5
    labels = [t.speaker for t in turns]
    assert labels == [0, 1, 0, 1, 0]  # A,B,A,B,A up to renaming (ids follow first appearance)
    assert [spk for spk, *_ in truth] == ["A", "B", "A", "B", "A"]
    for turn, (_, start, end, _) in zip(turns, truth):
        assert abs(turn.start - start) <= 0.5 and abs(turn.end - end) <= 0.5, (turn, start, end)


def test_two_speakers_five_turns(two_speakers) -> None:
    audio, truth = two_speakers
    _check_turns(diarization.diarize(audio).turns, truth)


def test_chunked_features_cluster_like_the_whole(two_speakers) -> None:
    audio, truth = two_speakers
    parts = [(0.0, 13.69), (13.69, 25.88), (25.88, len(audio) / SR)]
    features = diarization.SpeechFeatures.join(
        [
            diarization.SpeechFeatures.from_dict(  # as the pipeline ships them between processes
                diarization.describe(audio[round(a * SR) : round(b * SR)], offset=a).to_dict()
            )
            for a, b in parts
        ]
    )
    _check_turns(diarization.cluster(features).turns, truth)


def test_long_inputs_cluster_merged_windows(two_speakers, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inputs with more windows than MAX_ITEMS merge neighbouring windows before clustering."""
    audio, truth = two_speakers
    features = diarization.describe(audio)
    monkeypatch.setattr(diarization, "MAX_ITEMS", len(features.windows) // 2)
    _check_turns(diarization.cluster(features).turns, truth)


def test_one_voice_is_one_speaker(two_speakers) -> None:
    audio, _ = two_speakers
    a_only = np.concatenate([audio[: int(5.9 * SR)], audio[int(13.9 * SR) : int(18.7 * SR)], audio[int(26.1 * SR) :]])
    assert len(diarization.diarize(a_only).speakers) == 1
    assert len(diarization.diarize(load_sample_speech(SR)).speakers) == 1
    assert diarization.diarize(np.zeros(SR * 3, dtype=np.float32)).turns == []


def test_speaker_at() -> None:
    d = diarization.Diarization([diarization.Turn(0, 2, 0), diarization.Turn(2.5, 4, 1)])
    assert d.speaker_at(0.5, 1.0) == 0 and d.speaker_at(1.9, 3.0) == 1 and d.speaker_at(2.1, 2.2) in (0, 1)


def test_voiceprints_keep_names_across_files(two_speakers, tmp_path: Path) -> None:
    audio, _ = two_speakers
    library = VoiceLibrary(tmp_path / "voices.json")
    first = diarization.diarize(audio[: int(13.5 * SR)])  # "episode 1": A then B
    names = library.name_speakers(first.voiceprints)
    assert names == {0: "Speaker 1", 1: "Speaker 2"}
    library.rename("Speaker 1", "Anchor")
    second = diarization.diarize(audio[int(13.5 * SR) :])  # "episode 2": A, B, A saying other things
    assert [t.speaker for t in second.turns] == [0, 1, 0]
    assert library.name_speakers(second.voiceprints) == {0: "Anchor", 1: "Speaker 2"}
    other = diarization.diarize(load_sample_speech(SR))  # another voice
    assert library.name_speakers(other.voiceprints) == {0: "Speaker 3"}
    assert library.names() == ["Anchor", "Speaker 2", "Speaker 3"]
    with pytest.raises(InputError, match="no such voice"):
        library.rename("Nobody", "X")
    with pytest.raises(InputError, match="already exists"):
        library.rename("Anchor", "Speaker 2")
