"""Frame interpolation: exact output times, no blending across a cut, stutters, flow quality, the RAFT path."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models.optical_flow import raft_small

from genmedia.config import Config, ModelConfig
from genmedia.deployments.interpolator import Interpolator
from genmedia.enhance.interpolate import output_count, plan_window, stutters
from genmedia.enhance.metrics import psnr
from genmedia.enhance.window import pack, rows
from genmedia.media.synthetic import _texture
from genmedia.models import registry
from genmedia.storage import sha256_file

pytestmark = pytest.mark.unit


def _pan(n: int, step: int = 6, seed: int = 0, width: int = 160, height: int = 96) -> np.ndarray:
    """``n`` frames of a texture panning ``step`` pixels per frame."""
    tex = _texture(np.random.default_rng(seed), height, width + step * n, 0.3, 150, shapes=10)
    return np.stack([tex[:, step * i : step * i + width] for i in range(n)])


def test_output_times_are_exact_multiples_of_the_output_frame_duration() -> None:
    fps_in, fps_out, n = Fraction(24000, 1001), 60, 240
    times = np.array([float(i / fps_in) for i in range(n)])
    duration = float(n / fps_in)
    steps = plan_window(times, np.zeros(n, int), np.zeros(n, bool), (0, n), duration, 0.0, fps_out)
    assert len(steps) == output_count(duration, fps_out) == 601  # ceil(10.01 s * 60)
    assert [s.out_index for s in steps] == list(range(601))
    assert all(abs(s.time - s.out_index / fps_out) < 1e-12 for s in steps)
    for s in steps:  # every blend lies between its two frames, at the right fraction
        if s.kind == "blend":
            assert times[s.src] < s.time < times[s.dst]
            assert abs(s.alpha - (s.time - times[s.src]) / (times[s.dst] - times[s.src])) < 1e-9


def test_windows_split_anywhere_give_the_same_plan_as_one_window() -> None:
    n, fps_out = 50, 60
    times = np.arange(n) / 24
    shots = np.repeat([0, 1], [20, 30])
    whole = plan_window(times, shots, np.zeros(n, bool), (0, n), n / 24, 0.0, fps_out)
    pieces = []
    for a in range(0, n, 16):
        b = min(a + 16, n)
        look = min(b + 1, n)
        steps = plan_window(
            times[a:look],
            shots[a:look],
            np.zeros(look - a, bool),
            (0, b - a),
            times[b] if b < n else n / 24,
            0.0,
            fps_out,
        )
        pieces += [(s.out_index, s.kind, s.src + a, s.dst + a, round(s.alpha, 9)) for s in steps]
    assert pieces == [(s.out_index, s.kind, s.src, s.dst, round(s.alpha, 9)) for s in whole]


def test_no_blending_across_a_known_cut() -> None:
    a, b = _pan(6, seed=1), _pan(6, seed=2)
    frames = np.concatenate([a, b])
    shots = np.repeat([0, 1], 6)
    times = np.arange(12) / 24
    steps = plan_window(times, shots, np.zeros(12, bool), (0, 12), 12 / 24, 0.0, 60)
    out, counts = Interpolator(Config()).render(frames, steps)
    assert counts["cut-hold"] >= 1 and counts["blend"] > 0
    cut_time = times[6]
    for step, image in zip(steps, out, strict=True):
        if times[5] < step.time < cut_time:  # between the last frame of shot 0 and the cut
            assert step.kind == "cut-hold"
            assert np.array_equal(image, frames[5])  # the old shot's last frame, untouched
        if step.time >= cut_time:
            assert step.src >= 6


def test_motion_compensated_frames_beat_plain_blending() -> None:
    frames = _pan(3, step=8)
    mid = Interpolator(Config()).interpolate(frames[0], frames[2], [0.5])[0]
    naive = ((frames[0].astype(np.uint16) + frames[2]) // 2).astype(np.uint8)
    assert psnr(frames[1][:, 20:-20], mid[:, 20:-20]) > 35
    assert psnr(frames[1], mid) > psnr(frames[1], naive) + 8


def test_unrelated_frames_in_one_shot_are_repeated_not_smeared() -> None:
    a, b = _pan(1, seed=3)[0], _pan(1, seed=4)[0]
    interpolator = Interpolator(Config())
    assert interpolator.pair(a, b) == "flow-fallback"
    assert interpolator.pair(a, a.copy()) == "still"
    out = interpolator.interpolate(a, b, [0.25, 0.75])
    assert np.array_equal(out[0], a) and np.array_equal(out[1], b)


def test_a_stutter_is_interpolated_through() -> None:
    frames = _pan(8, step=6)
    frames[4] = frames[3]  # the source repeated frame 3 where frame 4 belonged
    diff = np.r_[0, np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))]
    shots = np.zeros(8, int)
    skip = stutters(diff, shots)
    assert skip.tolist() == [False] * 4 + [True] + [False] * 3
    times = np.arange(8) / 24
    steps = plan_window(times, shots, skip, (0, 8), 8 / 24, 0.0, 48)
    assert all(s.src != 4 and s.dst != 4 for s in steps)
    at_frame_4 = next(s for s in steps if abs(s.time - times[4]) < 1e-9)
    assert (at_frame_4.src, at_frame_4.dst, at_frame_4.kind) == (3, 5, "blend")


def test_window_rows_through_the_ray_data_entry_point() -> None:
    frames = _pan(5)
    batch = pack(
        [
            {
                "frames": frames,
                "time": np.arange(5) / 24,
                "shot": np.zeros(5, np.int32),
                "stutter": np.zeros(5, bool),
                "core_start": 0,
                "core_end": 4,
                "end_time": 4 / 24,
                "t0": 0.0,
                "fps_out": 48.0,
            }
        ]
    )
    row = rows(Interpolator(Config())(batch))[0]
    assert row["out_index"].tolist() == list(range(8))
    assert row["frames"].shape == (8,) + frames.shape[1:]
    assert np.array_equal(row["frames"][0], frames[0]) and np.array_equal(row["frames"][2], frames[1])


def test_raft_flow_model_with_staged_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    weights = tmp_path / "src" / "raft_small.pth"
    weights.parent.mkdir()
    torch.save(raft_small().state_dict(), weights)
    entry = ModelConfig(
        backend="raft",
        model="raft-small-test",
        source=str(weights.parent),
        files={weights.name: sha256_file(weights)},
        options={"variant": "small", "flow_width": 64},
    )
    cfg = Config(
        storage={"root": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache")}, models={"interpolator": entry}
    )
    registry.pull(cfg, "interpolator")
    interpolator = Interpolator(cfg)
    assert interpolator.name == "raft (small)"
    frames = _pan(2, width=70, height=44)  # not multiples of 8: padded for RAFT, cropped back
    flow = interpolator.flow(frames[0][..., 0], frames[1][..., 0])
    assert flow.shape == (44, 70, 2) and np.isfinite(flow).all()
    out = interpolator.interpolate(frames[0], frames[1], [0.5])
    assert out.shape == (1, 44, 70, 3)


def test_unknown_backend_is_a_config_error() -> None:
    from genmedia.errors import ConfigError

    cfg = Config(models={"interpolator": ModelConfig(backend="magic")})
    with pytest.raises(ConfigError, match="unknown interpolator backend 'magic'"):
        Interpolator(cfg)
