"""Shot boundaries on the generated sample clip (known cuts, fade, dissolve, pan, flash, fast motion)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from genmedia.analysis import shots as shotlib
from genmedia.config import AnalyzeConfig
from genmedia.media.encode import VideoWriter
from genmedia.media.probe import probe
from genmedia.pipelines.analyze import detect_shots_in_file


@pytest.fixture(scope="module")
def sample_shots(sample_clip):  # noqa: ANN001, ANN201
    path, truth = sample_clip
    return detect_shots_in_file(probe(path)), truth


def test_every_hard_cut_within_one_frame(sample_shots) -> None:  # noqa: ANN001
    shots, truth = sample_shots
    cuts = [s.start_frame for s in shots if s.transition == "cut"]
    for cut in truth.cuts:
        assert any(abs(cut - c) <= 1 for c in cuts), (cut, cuts)


def test_fade_within_three_frames_and_dissolve_found(sample_shots) -> None:  # noqa: ANN001
    shots, truth = sample_shots
    fade = truth.fades[0]
    fades = [s.start_frame for s in shots if s.transition == "fade"]
    assert len(fades) == 1 and abs(fades[0] - (fade.black_start + fade.black_end) // 2) <= 3
    dissolve_mid = next(s.start for s in truth.shots if s.content == "drift")
    dissolves = [s.start_frame for s in shots if s.transition == "dissolve"]
    assert len(dissolves) == 1 and abs(dissolves[0] - dissolve_mid) <= 3


def test_no_boundary_inside_pan_flash_or_fast_motion(sample_shots) -> None:  # noqa: ANN001
    shots, truth = sample_shots
    assert len(shots) == len(truth.shots)
    starts = [s.start_frame for s in shots]
    for span in (truth.pan, truth.fast_motion, truth.static, truth.flashes[0]):
        inside = [f for f in starts if span.start + 2 <= f < span.end - 1]
        assert not inside, (span, inside)
    flash = truth.flashes[0]
    assert not [f for f in starts if flash.start - 3 <= f <= flash.end + 3]


def test_shots_tile_the_video_with_stream_times(sample_shots) -> None:  # noqa: ANN001
    shots, truth = sample_shots
    assert shots[0].start_frame == 0 and shots[0].transition == "start"
    assert shots[-1].end_frame == truth.n_frames
    for a, b in zip(shots, shots[1:]):
        assert a.end_frame == b.start_frame and a.end_time == pytest.approx(b.start_time)
        assert b.start_time == pytest.approx(truth.time_of(b.start_frame))
    assert shots[-1].end_time == pytest.approx(truth.duration)


def test_minimum_shot_length_and_sensitivity() -> None:
    rng = np.random.default_rng(0)
    pictures = [rng.integers(0, 255, (9, 16)).astype(np.uint8) for _ in range(4)]
    # Cuts after 20, 23 (a 3-frame shot) and 43 frames at 24 fps.
    grids = np.stack([pictures[0]] * 20 + [pictures[1]] * 3 + [pictures[2]] * 20 + [pictures[3]] * 20)
    means, stds = np.full(len(grids), 120.0), np.full(len(grids), 40.0)
    loose = shotlib.detect_boundaries(grids, means, stds, 24, shotlib.ShotParams(min_shot_seconds=0))
    assert [b.position for b in loose] == [20, 23, 43]
    strict = shotlib.detect_boundaries(grids, means, stds, 24, shotlib.ShotParams(min_shot_seconds=0.5))
    assert len(strict) == 2 and strict[-1].position == 43 and strict[0].position in (20, 23)


def test_adaptive_threshold_ignores_steady_busy_motion() -> None:
    """Frames that all change a lot (shaky, busy footage) are not cuts; a real cut inside them is."""
    rng = np.random.default_rng(1)
    base, other = rng.normal(120, 40, (9, 16)), rng.normal(120, 40, (9, 16))
    noisy = [np.clip(base + rng.normal(0, 15, base.shape), 0, 255) for _ in range(40)]
    noisy += [np.clip(other + rng.normal(0, 15, base.shape), 0, 255) for _ in range(40)]
    grids = np.stack(noisy).astype(np.uint8)
    scores = shotlib.cut_scores(grids)
    assert np.median(scores[1:40]) > 0.1  # every frame changes a lot (more than the cut floor allows for)
    found = shotlib.detect_boundaries(grids, np.full(80, 120.0), np.full(80, 40.0), 24)
    assert [b.position for b in found] == [40]  # ...but only the cut stands out


def _write(path, frames: np.ndarray, fps: int = 24) -> None:  # noqa: ANN001
    with VideoWriter(path, frames.shape[2], frames.shape[1], Fraction(fps), encoder="cpu", preset="ultrafast") as w:
        w.write_frames(frames)


def test_single_static_shot_and_one_frame_video(tmp_path) -> None:  # noqa: ANN001
    rng = np.random.default_rng(2)
    still = rng.integers(0, 255, (1, 72, 128, 3), dtype=np.uint8)
    _write(tmp_path / "static.mp4", np.repeat(still, 48, axis=0))
    _write(tmp_path / "one.mp4", still)
    static = detect_shots_in_file(probe(tmp_path / "static.mp4"))
    assert [(s.start_frame, s.end_frame, s.transition) for s in static] == [(0, 48, "start")]
    one = detect_shots_in_file(probe(tmp_path / "one.mp4"))
    assert [(s.start_frame, s.end_frame) for s in one] == [(0, 1)]


def test_fades_and_dissolves_can_be_switched_off(sample_clip) -> None:  # noqa: ANN001
    path, truth = sample_clip
    shots = detect_shots_in_file(probe(path), AnalyzeConfig(fades=False, dissolves=False))
    assert {s.transition for s in shots} == {"start", "cut"}
    assert len([s for s in shots if s.transition == "cut"]) == len(truth.cuts)
