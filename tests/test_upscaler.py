"""Super-resolution: the classical default against Lanczos, the real spandrel path with tiny random
RRDBNet/SRVGG checkpoints staged through the model registry, tiling, and temporal stability."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from spandrel.architectures.Compact import Compact
from spandrel.architectures.ESRGAN import ESRGAN

from genmedia.config import Config, ModelConfig
from genmedia.deployments.upscaler import SpandrelModel, Upscaler, lanczos_unsharp, weights_file
from genmedia.enhance.metrics import psnr
from genmedia.enhance.window import pack, rows
from genmedia.errors import ModelUnavailable
from genmedia.media.decode import decode_frames
from genmedia.media.probe import probe
from genmedia.models import registry
from genmedia.storage import sha256_file


@pytest.fixture(scope="module")
def clip_frames(sample_clip: tuple[Path, object]) -> np.ndarray:
    """Every 12th frame of the sample clip (all its shots), 320x180 RGB."""
    info = probe(sample_clip[0])
    frames = np.concatenate([b.frames for b in decode_frames(info, fmt="rgb24", batch_size=48)])
    return frames[::12]


def _half(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    return cv2.resize(frame, (w // 2, h // 2), interpolation=cv2.INTER_AREA)


def test_classical_default_at_least_equals_lanczos_on_a_downscaled_clip(clip_frames: np.ndarray) -> None:
    ours, lanczos = [], []
    up = Upscaler(Config())
    assert up.backend == "classical"
    for frame in clip_frames:
        small = _half(frame)
        ours.append(psnr(frame, up.upscale(small, frame.shape[1], frame.shape[0])))
        lanczos.append(
            psnr(frame, cv2.resize(small, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LANCZOS4))
        )
    assert np.mean(ours) >= np.mean(lanczos)
    assert np.mean(ours) > 25


def test_static_content_does_not_flicker_after_upscaling(sample_clip: tuple[Path, object]) -> None:
    path, truth = sample_clip
    info = probe(path)
    start, end = truth.static.start, truth.static.end
    frames = np.concatenate([b.frames for b in decode_frames(info, fmt="rgb24", batch_size=64)])[start:end]
    up = np.stack([lanczos_unsharp(f, 640, 360) for f in frames])
    change_in = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean()
    back = np.stack([cv2.resize(f, (320, 180), interpolation=cv2.INTER_AREA) for f in up])
    change_out = np.abs(np.diff(back.astype(np.float32), axis=0)).mean()
    assert change_out <= 1.25 * change_in + 0.05, (change_in, change_out)


def _tiny_checkpoint(folder: Path, name: str) -> tuple[Path, int]:
    """A randomly initialised tiny RRDBNet (ESRGAN) or SRVGG (Real-ESRGAN compact) saved as a checkpoint."""
    torch.manual_seed(0)
    model, filename, scale = {
        "rrdb-x2": (lambda: ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=2), "model.pth", 2),
        "rrdb-x4": (lambda: ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=4), "model.pth", 4),
        "srvgg-x2": (
            lambda: Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2),
            "model.safetensors",
            2,
        ),
    }[name]
    path = folder / name / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model().state_dict().items()}
    save_file(state, path) if filename.endswith(".safetensors") else torch.save(state, path)
    return path, scale


def _config_with(tmp_path: Path, name: str, checkpoint: Path, **options: object) -> Config:
    entry = ModelConfig(
        backend="real-esrgan",
        model=name,
        source=str(checkpoint.parent),
        files={checkpoint.name: sha256_file(checkpoint)},
        batch_size=2,
        options=options,
    )
    return Config(
        storage={"root": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache")}, models={"upscaler": entry}
    )


@pytest.mark.parametrize("name", ["rrdb-x2", "rrdb-x4", "srvgg-x2"])
def test_spandrel_checkpoints_load_through_the_registry_and_upscale(tmp_path: Path, name: str) -> None:
    checkpoint, scale = _tiny_checkpoint(tmp_path / "src", name)
    cfg = _config_with(tmp_path, name, checkpoint, tile=0, dtype="float32")
    with pytest.raises(ModelUnavailable, match="genmedia models pull upscaler"):
        Upscaler(cfg)
    registry.pull(cfg, "upscaler")
    up = Upscaler(cfg)
    assert up.model is not None and up.model.scale == scale
    assert up.name.startswith("real-esrgan (")
    frames = np.random.default_rng(1).integers(0, 256, (3, 24, 40, 3), dtype=np.uint8)
    out = up.upscale(frames, 80, 48)  # x2 target: an x4 model runs once, then the result is resized
    assert out.shape == (3, 48, 80, 3) and out.dtype == np.uint8
    batch = up(pack([{"frames": frames, "out_width": 80, "out_height": 48}]))
    assert rows(batch)[0]["frames"].shape == (3, 48, 80, 3)


def test_tiled_inference_reproduces_the_whole_frame(tmp_path: Path) -> None:
    checkpoint, _ = _tiny_checkpoint(tmp_path, "rrdb-x2")
    frames = np.random.default_rng(2).integers(0, 256, (2, 37, 50, 3), dtype=np.uint8)
    whole = SpandrelModel(checkpoint, tile=0)(frames)
    tiled = SpandrelModel(checkpoint, tile=24, tile_pad=8)(frames)  # 2 x 3 tiles, ragged at the edges
    assert whole.shape == tiled.shape == (2, 74, 100, 3)
    assert np.abs(whole.astype(int) - tiled).max() <= 2


def test_sixteen_bit_frames_keep_their_depth(tmp_path: Path) -> None:
    checkpoint, _ = _tiny_checkpoint(tmp_path, "srvgg-x2")
    frames = np.random.default_rng(3).integers(0, 65536, (1, 16, 16, 3), dtype=np.uint16)
    assert SpandrelModel(checkpoint)(frames).dtype == np.uint16
    assert lanczos_unsharp(frames[0], 32, 32).dtype == np.uint16


def test_a_directory_without_one_checkpoint_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="no checkpoint"):
        weights_file(tmp_path)
