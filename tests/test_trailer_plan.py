"""Trailer planning as pure functions: pacing, beat/onset/word-aware cuts, highlight selection, the EDL."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from genmedia.trailer import pacing
from genmedia.trailer.edl import AudioPlan
from genmedia.trailer.highlights import Material, ShotSpan, fit_lengths
from genmedia.trailer.material import words_from_transcript
from genmedia.trailer.planner import NoMaterial, PlanRequest, plan_trailer
from genmedia.trailer.sync import beat_span, inside_word, place_clip

pytestmark = pytest.mark.unit

FPS = 24


def material(
    contents: list[tuple[str, float]],
    *,
    beats: np.ndarray | None = None,
    words=(),
    sample_fps: float = 4.0,
    black: tuple[float, float] | None = None,
) -> Material:
    """Shots of the given (content, seconds): 'action' shots move a lot and are loud, 'static' ones do not."""
    shots, rows, t0 = [], [], 0.0
    for k, (content, seconds) in enumerate(contents):
        shots.append(ShotSpan(k, t0, t0 + seconds, "start" if k == 0 else "cut"))
        for t in np.arange(t0, t0 + seconds - 1e-9, 1 / sample_fps):
            level = {"action": 1.0, "medium": 0.5, "static": 0.0}[content]
            rows.append(
                {
                    "time": round(float(t), 6),
                    "shot": k,
                    "motion": level + 0.01 * k,
                    "loudness": -30 + 10 * level,
                    "faces": 0,
                    "composition": 0.5,
                    "exposure": 0.1 if black and black[0] <= t < black[1] else 0.8,
                }
            )
        t0 += seconds
    frames = pd.DataFrame(rows)
    frames["brightness"] = np.where(frames["exposure"] < 0.2, 0.0, 0.5)
    return Material(
        path="x.mp4",
        duration=t0,
        fps=FPS,
        shots=shots,
        frames=frames,
        beats=np.zeros(0) if beats is None else beats,
        words=list(words),
    )


def plan(m: Material, **kw):
    request = PlanRequest(fps=Fraction(FPS), **kw)
    return plan_trailer(m, request, source="x.mp4", width=320, height=180, audio=AudioPlan(kind="source"))


def test_pacing_opens_slowly_and_accelerates() -> None:
    lengths = pacing.clip_lengths(27.6, "action")
    assert sum(lengths) == pytest.approx(27.6)
    assert lengths[0] > lengths[3] > lengths[-1] * 0.99
    calm = pacing.clip_lengths(27.6, "calm")
    assert len(calm) < len(lengths) and min(calm) > min(lengths)
    starts = list(np.cumsum([0.0, *lengths[:-1]]))
    kinds = pacing.transitions(starts, 30.0, "action")
    assert kinds[0] == "dip" and kinds[1] == "crossfade" and "cut" in kinds and kinds.count("dip") == 2  # act break
    assert set(pacing.transitions(starts, 30.0, "calm")[1:]) <= {"crossfade", "dip"}


def test_cut_helpers() -> None:
    beats = np.arange(0.25, 20, 0.5)
    words = [(1.0, 1.6), (2.0, 2.9)]
    assert inside_word(1.3, words) and not inside_word(1.8, words)
    start, anchored = place_clip(1.2, 1.0, 0.0, 5.0, words=words)
    assert not inside_word(start, words) and not inside_word(start + 1.0, words) and not anchored
    assert beat_span(2.0, 1.0, beats, 1.9, 4.0, min_length=0.5) == (2.25, 3.25)
    assert fit_lengths([2.0, 2.0], [1.0, 5.0]) == pytest.approx([1.0, 3.0])
    assert fit_lengths([2.0, 2.0], [1.0, 1.0]) is None


def test_action_is_picked_over_static_with_variety_and_exact_duration() -> None:
    m = material(
        [("static", 3), ("action", 3), ("static", 3), ("medium", 3), ("action", 3), ("static", 3), ("action", 3)]
    )
    edl, warnings = plan(m, duration=6.0, spoiler_fraction=0.0)
    assert not warnings
    assert edl.frame_count == 6 * FPS and edl.duration == 6.0
    shots = [c.shot for c in edl.clips]
    assert len(set(shots)) == len(shots)  # at most one clip per shot
    assert set(shots) <= {1, 3, 4, 6} and {1, 4} <= set(shots)
    assert all(c.reasons for c in edl.clips)
    # the timeline tiles exactly: clips back to back, then the end card to the last frame
    assert edl.clips[0].trailer_in_frame == 0
    for a, b in zip(edl.clips, edl.clips[1:]):
        assert a.trailer_out_frame == b.trailer_in_frame
        assert a.source_out - a.source_in == pytest.approx(a.frames / FPS, abs=1e-6)
    assert edl.end_card.trailer_in_frame == edl.clips[-1].trailer_out_frame < edl.frame_count


def test_spoilers_are_skipped() -> None:
    m = material([("static", 3), ("medium", 3), ("static", 3), ("action", 3)])  # the best shot is the ending
    edl, _ = plan(m, duration=3.0, spoiler_fraction=0.25)
    assert edl.spoiler_cutoff == pytest.approx(9.0)
    assert all(c.source_out <= 9.0 + 1e-6 for c in edl.clips)
    edl, _ = plan(m, duration=3.0, spoiler_fraction=0.0)
    assert 3 in [c.shot for c in edl.clips]


def test_black_frames_are_never_used() -> None:
    m = material([("action", 4), ("static", 4)], black=(1.5, 2.5))
    edl, _ = plan(m, duration=3.0, spoiler_fraction=0.0)
    for c in edl.clips:
        assert c.source_out <= 1.5 or c.source_in >= 2.5 - 1e-6


def test_music_beats_place_every_cut_on_a_beat() -> None:
    m = material([("action", 4), ("medium", 4), ("action", 4), ("medium", 4), ("action", 4)])
    beats = list(np.arange(0.37, 30, 60 / 100))  # 100 BPM, off the frame grid on purpose
    edl, _ = plan(m, duration=8.0, spoiler_fraction=0.0, music_beats=beats)
    assert edl.sync == "music beats"
    for cut in edl.cut_frames():
        assert min(abs(cut / FPS - b) for b in beats) <= 0.5 / FPS + 1e-9


def test_source_beats_start_each_clip_on_a_beat_and_avoid_words() -> None:
    beats = np.arange(0.25, 30, 0.5)
    words = [(b - 0.05, b + 0.3) for b in beats[::4]]  # some beats sit inside words
    m = material([("action", 4), ("medium", 4), ("action", 4), ("medium", 4)], beats=beats, words=words)
    edl, _ = plan(m, duration=6.0, spoiler_fraction=0.0)
    assert edl.sync == "source beats"
    for c in edl.clips:
        assert c.sync_in == "beat"
        assert min(abs(c.source_in - b) for b in beats) <= 0.5 / FPS
        assert not inside_word(c.source_in, words) and not inside_word(c.source_out, words)


def test_short_source_gives_a_shorter_trailer_and_a_warning() -> None:
    m = material([("action", 2), ("medium", 2)])
    edl, warnings = plan(m, duration=30.0, spoiler_fraction=0.1)
    assert warnings and "instead of 30.00 s" in warnings[0]
    assert edl.duration < 6 and edl.frame_count == round(edl.duration * FPS)


def test_no_usable_material_is_an_error() -> None:
    m = material([("action", 2)], black=(0, 2))
    with pytest.raises(NoMaterial):
        plan(m, duration=5.0)


def test_word_times_are_read_from_a_transcript() -> None:
    doc = {
        "language": "en",
        "segments": [
            {
                "start": 0.5,
                "end": 1.4,
                "text": "hello there",
                "words": [{"word": "hello", "start": 0.5, "end": 0.9}, {"word": "there", "start": 1.0, "end": 1.4}],
            },
            {"start": 2.0, "end": 2.3, "text": "bye", "words": [{"word": "bye", "start": 2.0, "end": 2.3}]},
        ],
    }
    assert words_from_transcript(json.dumps(doc)) == [(0.5, 0.9), (1.0, 1.4), (2.0, 2.3)]
    assert words_from_transcript(json.dumps({"segments": []})) == []
