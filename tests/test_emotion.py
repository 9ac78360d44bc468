"""Emotion per shot (genmedia.analysis.emotion): the signal mappings, the audio pitch curve it reads, and the
analysis and trailer plan on a generated clip whose calm and intense shots are known."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from genmedia.analysis import emotion
from genmedia.analysis.audio import SAMPLE_RATE, analyse_audio
from genmedia.media.synthetic import MoodClipFacts, make_mood_clip

CALM = {"loudness": -45.0, "onset_rate": 0.0, "motion": 0.001, "colour": 8.0, "brightness": 0.18}
INTENSE = {"loudness": -12.0, "onset_rate": 5.0, "pitch_range": 10.0, "motion": 0.09, "colour": 70.0, "brightness": 0.7}


@pytest.mark.unit
def test_intense_signals_are_aroused_and_calm_ones_are_not() -> None:
    calm, intense = emotion.combine(CALM), emotion.combine(INTENSE)
    assert calm.arousal < -0.7 and intense.arousal > 0.7
    assert calm.valence < intense.valence
    assert intense.label in ("exciting", "happy") and calm.label in ("sad", "calm")
    assert 0 < calm.confidence <= 1 and calm.to_json()["signals"]["loudness"] == -45.0
    # disagreeing signals (loud but still) are less sure than agreeing ones
    mixed = emotion.combine({**CALM, "loudness": -12.0, "onset_rate": 6.0})
    assert mixed.confidence < calm.confidence and calm.arousal < mixed.arousal < intense.arousal
    # fewer signals, less confidence
    assert emotion.combine({"motion": 0.09}).confidence < intense.confidence
    assert emotion.combine({}).label == "neutral" and emotion.combine({}).confidence == 0.0


@pytest.mark.unit
def test_clip_mood_probabilities_move_the_point() -> None:
    scary = emotion.combine(CALM, {"scary": 0.9, "calm": 0.1, "unknown word": 5.0})
    calm = emotion.combine(CALM, {"calm": 1.0})
    assert scary.arousal > calm.arousal and scary.valence < calm.valence
    assert scary.signals["clip_arousal"] == pytest.approx(0.9 * 0.85 + 0.1 * -0.65)
    assert emotion.clip_point({"unknown word": 1.0}) is None
    assert calm.confidence > emotion.combine(CALM).confidence  # one more signal
    assert emotion.label_for(*emotion.MOOD_COORDINATES["tense"]) == "tense" and emotion.label_for(0.05, 0) == "neutral"


@pytest.mark.unit
def test_pitch_curve_follows_a_tone_and_a_sweep_and_not_noise() -> None:
    t = np.arange(4 * SAMPLE_RATE) / SAMPLE_RATE
    tone = analyse_audio([(0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)])
    assert np.nanmedian(tone.pitch_hz) == pytest.approx(220, rel=0.01)
    sweep_hz = 150 * 2 ** (t / 4)  # one octave in 4 s
    sweep = analyse_audio([(0.3 * np.sin(2 * np.pi * np.cumsum(sweep_hz) / SAMPLE_RATE)).astype(np.float32)])
    doc = sweep.to_json()
    signals = emotion.audio_signals(doc, 0.0, 4.0)
    assert signals["pitch_range"] == pytest.approx(12 * 0.8, abs=1.0)  # 10th to 90th percentile of an octave
    noise = analyse_audio([np.random.default_rng(0).normal(0, 0.3, t.size).astype(np.float32)])
    assert np.isnan(noise.pitch_hz).all()
    assert "pitch_range" not in emotion.audio_signals(noise.to_json(), 0.0, 4.0)
    assert emotion.audio_signals({"has_audio": False}, 0, 1) == {}


# ---------------------------------------------------------------------------------------------- on Ray


@pytest.fixture(scope="module")
def mood_clip(tmp_path_factory: pytest.TempPathFactory) -> MoodClipFacts:
    return make_mood_clip(tmp_path_factory.mktemp("mood") / "mood.mp4")


@pytest.mark.ray
def test_analysis_and_trailer_plan_follow_the_known_calm_and_intense_shots(ray_session, mood_clip) -> None:  # noqa: ANN001
    """Analysis of the 12 s mood clip (about 10 s here) and a trailer plan from it (no rendering)."""
    from genmedia.pipelines import analyze
    from genmedia.trailer.edl import AudioPlan
    from genmedia.trailer.material import from_analysis
    from genmedia.trailer.planner import PlanRequest, plan_trailer

    analysis = analyze.load_analysis(ray_session, mood_clip.path, analyze.Params(faces="haar", embed="off"))
    assert len(analysis.shots) == len(mood_clip.shots)
    assert analysis.backends["emotion"] == f"{emotion.BACKEND} (audio+visual)"
    by_kind: dict[str, list[dict]] = {"calm": [], "intense": []}
    for shot in analysis.shot_details:
        by_kind[mood_clip.kind_at((shot["start_time"] + shot["end_time"]) / 2)].append(shot["emotion"])
        assert shot["mood"] == shot["emotion"]["label"]
    assert max(e["arousal"] for e in by_kind["calm"]) < 0 < min(e["arousal"] for e in by_kind["intense"])
    assert all({"loudness", "onset_rate", "motion", "brightness"} <= set(e["signals"]) for e in by_kind["calm"])
    assert all(e["signals"]["pitch_range"] < 1.0 for e in by_kind["calm"])  # a steady tone

    material = from_analysis(analysis, mood_clip.path)
    request = PlanRequest(duration=7.0, fps=Fraction(24), spoiler_fraction=0.0)
    edl, _ = plan_trailer(
        material, request, source=mood_clip.path, width=192, height=108, audio=AudioPlan(kind="source")
    )
    assert edl.arc == "emotion" and len(edl.clips) >= 3
    curve = [c.arousal for c in edl.clips]
    assert curve == sorted(curve), curve  # calm opening, rising, the peak last before the end card
    kinds = [mood_clip.kind_at((c.source_in + c.source_out) / 2) for c in edl.clips]
    assert kinds[0] == "calm" and kinds[-1] == "intense", kinds
    assert all(c.emotion and c.valence is not None for c in edl.clips)
    assert json.loads(edl.model_dump_json())["clips"][0]["emotion"] == edl.clips[0].emotion
    source_order = plan_trailer(
        material,
        PlanRequest(duration=7.0, fps=Fraction(24), spoiler_fraction=0.0, arc=False),
        source=mood_clip.path,
        width=192,
        height=108,
        audio=AudioPlan(kind="source"),
    )[0]
    assert source_order.arc == "source" and [c.source_in for c in source_order.clips] == sorted(
        c.source_in for c in source_order.clips
    )
