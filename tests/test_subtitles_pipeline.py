"""The subtitles job end to end: quality on the two-speaker test recording, every cue against the rules,
formats read back by independent parsers, the CLI on a video, and bad input."""

from __future__ import annotations

import html
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pysubs2
import pytest
import webvtt
from subtitle_rules import rule_violations, speaker_violations

from genmedia.config import Config
from genmedia.errors import InputError
from genmedia.media.audio import write_audio_file
from genmedia.pipelines import subtitles
from genmedia.schemas import JobStatus
from genmedia.subtitles.segmentation import Cue, Rules, TimedWord
from genmedia.subtitles.wer import wer

pytestmark = [pytest.mark.ray, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent


def _ms(stamp: str) -> int:
    h, m, s = stamp.split(":")
    return round((int(h) * 3600 + int(m) * 60 + float(s)) * 1000)


def _parsed(files: dict[str, str], lang: str) -> dict[str, list[tuple[int, int, str]]]:
    out = {fmt: [(e.start, e.end, e.plaintext) for e in pysubs2.load(files[f"{lang}.{fmt}"])] for fmt in ("srt", "ass")}
    vtt = webvtt.from_buffer(io.StringIO(Path(files[f"{lang}.vtt"]).read_text(encoding="utf-8")))
    out["vtt"] = [(_ms(c.start), _ms(c.end), html.unescape(c.text)) for c in vtt]
    return out


def test_word_error_rate_on_the_two_speaker_sample(two_speaker_subtitles, two_speaker_sample) -> None:  # noqa: ANN001
    result = two_speaker_subtitles
    assert result.status is JobStatus.done
    transcript = json.loads(Path(result.files["transcript.json"]).read_text())
    reference = " ".join(text for *_, text in two_speaker_sample[1])
    hypothesis = " ".join(s["text"] for s in transcript["segments"])
    error = wer(reference, hypothesis)
    print(f"WER {error:.3f}: {hypothesis}")
    assert error <= 0.15
    assert transcript["language"] == "en" and transcript["model"] == "whisper-base"
    assert transcript["speaker_backend"] == result.details["speaker_backend"] == "resemblyzer-ge2e"


def test_speakers_follow_the_turns(two_speaker_subtitles, two_speaker_sample) -> None:  # noqa: ANN001
    transcript = json.loads(Path(two_speaker_subtitles.files["transcript.json"]).read_text())
    assert len(transcript["speakers"]) == 2
    truth = two_speaker_sample[1]
    for seg in transcript["segments"]:  # each segment's speaker is the true speaker of its middle, up to renaming
        mid = (seg["start"] + seg["end"]) / 2
        true = next(spk for spk, s, e, _ in truth if s - 0.7 <= mid <= e + 0.7)
        seg["true"] = true
    mapping = {s["true"]: s["speaker"] for s in transcript["segments"]}
    assert len(set(mapping.values())) == 2
    assert all(mapping[s["true"]] == s["speaker"] for s in transcript["segments"])
    words = [w for s in transcript["segments"] for w in s["words"]]
    assert words and all(w["speaker"] in transcript["speakers"] and w["end"] >= w["start"] for w in words)


def test_every_cue_obeys_the_rules_and_formats_agree(two_speaker_subtitles) -> None:  # noqa: ANN001
    parsed = _parsed(two_speaker_subtitles.files, "en")
    assert parsed["srt"] == parsed["ass"] == parsed["vtt"]  # identical cue text and times in all three
    cues = [(a / 1000, b / 1000, text) for a, b, text in parsed["srt"]]
    assert len(cues) >= 5
    assert rule_violations(cues, fps=25.0) == []
    transcript = json.loads(Path(two_speaker_subtitles.files["transcript.json"]).read_text())
    words = " ".join(w["text"] for s in transcript["segments"] for w in s["words"])
    spoken = [t for *_, text in cues for t in text.split() if t != "-"]  # dialogue cues dash their lines
    assert spoken == words.split()  # every word, in order
    timed = [
        TimedWord(w["text"], w["start"], w["end"], w["speaker"]) for s in transcript["segments"] for w in s["words"]
    ]
    kept = [
        Cue(c["start"], c["end"], c["text"].split("\n"), c["speaker"], None, line_speakers=c["line_speakers"])
        for c in transcript["tracks"]["en"]["cue_list"]
    ]
    assert (
        speaker_violations(kept, Rules(), timed) == []
    )  # one speaker a cue (or a dashed dialogue), no needless splits
    first_word = transcript["segments"][0]["words"][0]
    assert cues[0][0] == pytest.approx(first_word["start"], abs=0.011)  # timing from word timestamps


def test_rerun_is_skipped(ray_session: Config, two_speaker_subtitles, two_speaker_sample) -> None:  # noqa: ANN001
    again = subtitles.run(ray_session, str(two_speaker_sample[0]), subtitles.Params())
    assert again.status is JobStatus.skipped and again.files == two_speaker_subtitles.files


def test_cli_on_a_video_snaps_to_shot_changes(sample_clip, tmp_path: Path) -> None:  # noqa: ANN001
    path, truth = sample_clip
    cuts = [truth.time_of(c) for c in truth.cuts]
    env = {**os.environ, "GENMEDIA_CONFIG": "", "RAY_ADDRESS": ""}
    cache = tmp_path / "cache"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "genmedia.cli",
            "subtitles",
            str(path),
            "--out",
            str(tmp_path / "out"),
            "--json",
            "--shot-changes",
            ",".join(f"{c:.3f}" for c in cuts),
            "--no-voiceprints",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env={
            **env,
            "GENMEDIA_STORAGE_ROOT": str(tmp_path / "out"),
            "HOME": str(tmp_path),
            "XDG_CACHE_HOME": str(cache),
        },
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["status"] == "done" and result["details"]["language"] == "en"
    parsed = _parsed(result["files"], "en")
    assert parsed["srt"] == parsed["vtt"] == parsed["ass"]
    cues = [(a / 1000, b / 1000, t) for a, b, t in parsed["srt"]]
    assert wer(truth.audio.speech.text, " ".join(t for *_, t in cues)) <= 0.25
    assert rule_violations(cues, fps=24.0, shot_changes=[round(c, 2) for c in cuts]) == []
    assert cues[0][0] >= truth.audio.speech.start - 0.5


def test_unknown_language_fails_before_any_work(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "genmedia.cli", "subtitles", str(tmp_path / "x.mp4"), "--languages", "en,frnch"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert "frnch: unknown language code" in proc.stderr and "close matches" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_translation_without_weights_fails_clearly(ray_session: Config) -> None:
    from genmedia.errors import ModelUnavailable

    with pytest.raises(ModelUnavailable, match="genmedia models pull translator"):
        subtitles.run(
            ray_session,
            str(REPO / "genmedia" / "assets" / "sample_speech.flac"),
            subtitles.Params(languages=["en", "fr"]),
        )


def test_no_audio_stream_is_a_clear_error(ray_session: Config, tmp_path: Path) -> None:
    from genmedia.media.probe import probe
    from genmedia.media.synthetic import make_odd_size_clip

    video = tmp_path / "silent_video.mp4"
    make_odd_size_clip(video, n_frames=6)
    assert not probe(video, ray_session.limits).has_audio
    with pytest.raises(InputError, match="no audio stream") as e:
        subtitles.run(ray_session, str(video), subtitles.Params())
    assert str(video) in str(e.value)


def test_silence_gives_empty_subtitles(ray_session: Config, tmp_path: Path) -> None:
    path = tmp_path / "silence.flac"
    write_audio_file(path, np.zeros(16000 * 5, dtype=np.float32), 16000)
    result = subtitles.run(ray_session, str(path), subtitles.Params(languages=["en"]))
    assert result.status is JobStatus.done and result.details["segments"] == 0
    assert len(pysubs2.load(result.files["en.srt"], format_="srt")) == 0
    assert len(pysubs2.load(result.files["en.ass"], format_="ass")) == 0
    assert list(webvtt.from_buffer(io.StringIO(Path(result.files["en.vtt"]).read_text()))) == []
