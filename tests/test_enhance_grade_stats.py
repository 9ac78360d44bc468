"""Enhancement's grading statistics come from the analysis's sampled frames, not a decode of their own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from genmedia.config import Config
from genmedia.enhance import grade as gr
from genmedia.media.decode import decode_frames
from genmedia.media.probe import probe
from genmedia.pipelines import analyze, frames
from genmedia.pipelines import enhance as job

OLD_WIDTH = 192
"""Width of the small pictures the enhance job used to decode the whole video at for its statistics."""
TOLERANCE = {"black": 0.01, "white": 0.015, "gains": 0.015, "gamma": 0.025}
"""How far a shot's grade from the analysis's 2 fps thumbnails may be from the one from every frame (on the
sample clip the largest differences measured were 0.0006, 0.0052, 0.0055 and 0.0087)."""


@pytest.mark.unit
def test_frame_stats_round_trip_through_their_vector() -> None:
    frame = np.random.default_rng(0).integers(0, 255, (18, 32, 3), dtype=np.uint8)
    stats = gr.frame_stats(frame)
    back = gr.FrameStats.from_vector(stats.to_vector())
    for name in ("low", "high", "median_luma"):
        assert getattr(back, name) == pytest.approx(getattr(stats, name), abs=1e-6)
    for name in ("bright", "lab_mean", "lab_std"):
        assert np.allclose(getattr(back, name), getattr(stats, name), atol=1e-4)
    with pytest.raises(ValueError, match="12 numbers"):
        gr.FrameStats.from_vector(np.zeros(11))


@pytest.mark.unit
def test_sampled_stats_place_each_sample_at_its_frame() -> None:
    frame = np.full((8, 8, 3), 120, np.uint8)
    vector = gr.frame_stats(frame).to_vector()
    features = pd.DataFrame({"frame_index": [0, 5], "colour_stats": [vector.tolist(), vector.tolist()]})
    stats = job.sampled_stats(features, 7)
    assert [s is not None for s in stats] == [True, False, False, False, False, True, False]
    assert stats[5] is not None and stats[5].median_luma == pytest.approx(120 / 255, abs=1e-3)


def _every_frame_grades(path: Path, shots: list[tuple[int, int]]) -> list[gr.Grade]:
    """The grades as the job computed them before: statistics of every frame, decoded small."""
    info = probe(path)
    height = max(2, round(info.height * OLD_WIDTH / info.width / 2) * 2)
    stats: list[gr.FrameStats | None] = [None] * info.frame_count
    for fb in decode_frames(info, fmt="rgb24", width=OLD_WIDTH, height=height, skip_loop_filter=True):
        for i, frame in zip(fb.index.tolist(), fb.frames, strict=True):
            stats[i] = gr.frame_stats(frame)
    return gr.shot_grades(stats, shots)


@pytest.mark.ray
@pytest.mark.slow
def test_grading_decodes_nothing_but_the_main_pass_and_keeps_the_grades(
    ray_session: Config, sample_clip: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slow (about a minute on this loaded 2-core machine): the analysis, then one enhance job on the sample clip."""
    path, _ = sample_clip
    analyze.run(ray_session, str(path))  # the analysis the job reads; its decode is its own
    decodes: list[int] = []
    decode_stage = frames.decode_stage

    def counting_decode_stage(rows: Any, fn: Any, **kwargs: Any) -> Any:
        decodes.append(len(rows))
        return decode_stage(rows, fn, **kwargs)

    monkeypatch.setattr(job, "decode_stage", counting_decode_stage)
    monkeypatch.setattr(frames, "decode_stage", counting_decode_stage)
    result = job.run(ray_session, str(path), job.Params(grade="auto", denoise="off", crf=31))
    report = job.load_report(ray_session, result)
    segments = len(frames.video_segments(probe(path), ray_session.pipelines.decode))
    assert decodes == [segments]  # the main pass only

    shots = [(s["start_frame"], s["end_frame"]) for s in report["grade"]["per_shot"]]
    assert len(shots) == report["shots"]["count"] > 1
    for got, want in zip(report["grade"]["per_shot"], _every_frame_grades(path, shots), strict=True):
        for name, tol in TOLERANCE.items():
            assert np.allclose(got[name], getattr(want, name), atol=tol), (got["shot"], name, got[name], want)
