"""Super-resolution exported to ONNX and run with onnxruntime (the edge nodes' runtime), fp32 and int8."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_upscaler import _config_with, _tiny_checkpoint

from genmedia.deployments.upscaler import SpandrelModel, Upscaler
from genmedia.enhance.metrics import psnr
from genmedia.models import registry

pytestmark = pytest.mark.slow  # two ONNX exports and a calibration: about a minute on 2 cores


def _pictures(n: int = 3) -> np.ndarray:
    """Smooth gradients with edges: picture-like content an SR model meets (not white noise)."""
    yy, xx = np.mgrid[0:24, 0:40].astype(np.float32)
    frames = []
    for k in range(n):
        r = 128 + 100 * np.sin(xx / (5 + k)) * np.cos(yy / 7)
        g = np.where(xx > 10 + 5 * k, 200.0, 40.0)
        b = 255 * (yy / 24)
        frames.append(np.stack([r, g, b], axis=-1).clip(0, 255).astype(np.uint8))
    return np.stack(frames)


def test_onnx_fp32_matches_torch_and_int8_stays_close(tmp_path: Path) -> None:
    checkpoint, scale = _tiny_checkpoint(tmp_path / "src", "srvgg-x2")
    frames = _pictures()
    reference = SpandrelModel(checkpoint, dtype="float32", device="cpu")(frames)
    cfg = _config_with(tmp_path, "srvgg-x2", checkpoint, runtime="onnx")
    registry.pull(cfg, "upscaler")
    fp32 = Upscaler(cfg)
    assert fp32.name == "real-esrgan (onnx fp32 x2)" and fp32.model.scale == scale
    out = fp32.model(frames)
    assert out.shape == reference.shape and np.abs(out.astype(int) - reference).max() <= 1  # rounding only
    assert list((cfg.storage.cache_path / "onnx").glob("*.onnx"))  # exported once, reused by the next load
    int8 = Upscaler(_config_with(tmp_path, "srvgg-x2", checkpoint, runtime="onnx", int8=True))
    quantized = int8.model(frames)  # the first frames calibrate it
    assert int8.name == "real-esrgan (onnx int8 x2)"
    assert (
        min(psnr(r, q) for r, q in zip(reference, quantized, strict=True)) > 30
    )  # the int8 cost on this tiny random net; real weights: benchmarks/onnx_sr.py
    assert list((cfg.storage.cache_path / "onnx").glob("*-int8.onnx"))
