"""The classical enhancement streamed through one filter graph in the driver (``pipelines.enhance.runner``): a
fresh graph at every shot boundary, the same pictures as the windowed Ray Data stages, and no Ray started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from genmedia.config import Config
from genmedia.enhance.denoise import denoise_frames
from genmedia.enhance.filters import to_frame
from genmedia.enhance.resample import upscale_frames
from genmedia.enhance.stream import classical_filters, filter_stream
from genmedia.pipelines import enhance as job
from genmedia.pipelines import job as job_runner
from genmedia.pipelines.analyze import load_analysis


def _noisy_shots() -> tuple[np.ndarray, np.ndarray]:
    """12 noisy yuv420p 64x48 frames, a cut after frame 5: the second shot is 6 code values brighter, within
    the denoiser's threshold, so one graph over both shots would average across the cut."""
    rng = np.random.default_rng(0)
    shots = np.array([0] * 5 + [1] * 7)
    base = np.where(shots == 0, 100, 106)[:, None, None]
    frames = np.clip(base + rng.normal(0, 6, (12, 72, 64)), 0, 255).astype(np.uint8)
    return frames, shots


def _streamed(frames: np.ndarray, shots: np.ndarray) -> tuple[list[int], np.ndarray]:
    filters = classical_filters(6.0, 2, (64, 48), (128, 96))
    pairs = ((i, to_frame(f, "yuv420p")) for i, f in enumerate(frames))
    out = list(filter_stream(pairs, shots, "yuv420p", filters))
    return [i for i, _ in out], np.stack([f.to_ndarray() for _, f in out])


@pytest.mark.unit
def test_stream_restarts_at_each_shot_and_matches_the_windowed_stages() -> None:
    frames, shots = _noisy_shots()
    order, streamed = _streamed(frames, shots)
    assert order == list(range(12))
    windowed = upscale_frames(denoise_frames(frames, 6.0, radius=2, shots=shots), 128, 96)
    np.testing.assert_array_equal(streamed, windowed)
    _, across = _streamed(frames, np.zeros(12, dtype=int))  # one graph: the frames next to the cut mix both shots
    assert not np.array_equal(across[4], streamed[4]) and not np.array_equal(across[5], streamed[5])
    np.testing.assert_array_equal(across[0], streamed[0])  # frames far from the cut are alike


def _frames(path: str) -> list[np.ndarray]:
    with av.open(path) as c:
        return [f.to_ndarray() for f in c.decode(c.streams.video[0])]


@pytest.mark.ray
@pytest.mark.slow
def test_driver_runner_makes_the_ray_data_runners_video_without_starting_ray(
    ray_session: Config, sample_clip: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slow (~40 s): the sample clip (5 shots) denoised and upscaled both ways, decoded back frame by frame."""
    path = str(sample_clip[0])
    load_analysis(ray_session, path)  # the shots, before Ray's start-up is watched
    started: list[Config] = []
    monkeypatch.setattr(job_runner, "init_ray", started.append)
    params = job.Params(upscale=2, denoise=3.0, codec="h264", crf=24)
    videos, runners = [], []
    for runner in ("driver", "ray-data"):
        settings = ray_session.pipelines.enhance.model_copy(update={"runner": runner})
        cfg = ray_session.model_copy(
            update={"pipelines": ray_session.pipelines.model_copy(update={"enhance": settings})}
        )
        result = job.run(cfg, path, params, force=True)
        videos.append(_frames(result.files["enhanced.mp4"].removeprefix("file://")))
        runners.append(job.load_report(cfg, result)["throughput"]["runner"])
        assert len(started) == (runner == "ray-data")  # Ray is started only for the Ray Data stages
    assert runners == ["driver", "ray-data"]
    assert len(videos[0]) == len(videos[1]) == sample_clip[1].n_frames
    for a, b in zip(*videos, strict=True):
        np.testing.assert_array_equal(a, b)
