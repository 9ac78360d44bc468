"""What a fresh subtitles job does before its first chunk: the transcriber actor starts before the audio scan (its
worker, imports and model load overlap the scan), it ends when the scan fails or there is nothing to transcribe,
and inside the actor the speaker embedder (torch) loads only after Whisper."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from genmedia.config import Config, load_config
from genmedia.errors import InputError
from genmedia.pipelines import subtitles
from genmedia.subtitles import chunking, diarization

pytestmark = pytest.mark.unit


def _context(cfg: Config) -> SimpleNamespace:
    """The parts of a JobContext the subtitles work reads before its chunks are transcribed."""
    info = SimpleNamespace(has_audio=True, width=0, fps=0.0, duration=30.0, origin=None)
    return SimpleNamespace(cfg=cfg, info=info, path=Path("in.flac"), progress=lambda *a: None, warnings=[])


def test_the_actor_starts_before_the_scan_and_ends_when_the_scan_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []

    def scan(*args: Any, **kwargs: Any) -> None:
        calls.append("scan")
        raise InputError("in.flac", "audio stream unreadable")

    monkeypatch.setattr(subtitles, "start_actor", lambda *a, **k: calls.append("actor start") or "actor-handle")
    monkeypatch.setattr(chunking, "scan", scan)
    monkeypatch.setattr(subtitles.ray, "kill", lambda actor: calls.append(("kill", actor)))
    with pytest.raises(InputError, match="audio stream unreadable"):
        subtitles._work(_context(load_config(None)), subtitles.Params(diarize=False))
    assert calls == ["actor start", "scan", ("kill", "actor-handle")]


def test_nothing_to_transcribe_ends_the_started_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    killed: list[str] = []
    monkeypatch.setattr(subtitles.ray, "kill", killed.append)
    results, features = subtitles.transcribe(
        load_config(None), "in.flac", [], subtitles.Params(), speakers=diarization.MFCC, actor="actor-handle"
    )
    assert (results, features.windows, killed) == ([], [], ["actor-handle"])


def test_the_speaker_embedder_loads_after_whisper(monkeypatch: pytest.MonkeyPatch) -> None:
    whisper_loaded = threading.Event()
    seen: dict[str, bool] = {}

    class FakeTranscriber:
        def __init__(self, cfg: Config, key: str) -> None:
            whisper_loaded.set()

    class FakeEmbedder:
        backend = "resemblyzer-ge2e"

        def __init__(self, cfg: Config, key: str) -> None:
            seen["whisper loaded first"] = whisper_loaded.is_set()

    monkeypatch.setattr(subtitles, "resolve", lambda cfg, key: Path("."))
    monkeypatch.setattr(subtitles, "Transcriber", FakeTranscriber)
    monkeypatch.setattr(subtitles, "SpeakerEmbedder", FakeEmbedder)
    stage = subtitles.ChunkTranscriber(load_config(None), denoise=False, speaker_backend="resemblyzer-ge2e")
    assert isinstance(stage._embedder.result(), FakeEmbedder)
    assert seen == {"whisper loaded first": True}
