"""Super-resolution: Real-ESRGAN checkpoints through spandrel, or Lanczos + unsharp mask without weights.

One class for both runtimes (docs/architecture.md). The backend comes from ``models.upscaler.backend``:

* ``real-esrgan`` or ``spandrel`` (any spandrel super-resolution checkpoint: RRDBNet x2/x4, the compact
  SRVGG models, DAT): the weights directory is resolved and verified by the model registry and the one
  ``.pth``/``.safetensors`` file in it is loaded with spandrel's ``ModelLoader``, or the one ncnn
  ``.param`` (with its ``.bin``) is converted in memory by :mod:`genmedia.models.ncnn` (Real-ESRGAN's
  ncnn exports; the store keeps only the verified package files). Frames are cut into
  tiles of ``options.tile`` pixels (0 = whole frames) with ``options.tile_pad`` pixels of overlap, so any
  frame size fits in GPU memory; batches of frames go through together; fp16 on a GPU when
  ``options.dtype`` is ``float16`` and the architecture supports it.
* ``classical`` (the default when the config names no upscaler): Lanczos-4 resampling followed by an
  unsharp mask scaled to the factor.

A target size other than ``model scale x input`` (4K/8K targets, x2 from an x4 model) is reached by
running the model and then resizing the result (area filter down, Lanczos up).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from genmedia.config import Config
from genmedia.enhance.pixels import from_unit, resize, to_unit
from genmedia.enhance.window import pack, rows
from genmedia.errors import ConfigError, ModelUnavailable
from genmedia.models import ncnn

CLASSICAL = "classical"
SPANDREL_BACKENDS = ("real-esrgan", "spandrel")
WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors", ".ckpt", ".param")
UNSHARP_AMOUNT = 0.4


def lanczos_unsharp(frame: np.ndarray, width: int, height: int, amount: float = UNSHARP_AMOUNT) -> np.ndarray:
    """The classical upscaler: Lanczos-4 to ``width`` x ``height``, then an unsharp mask.

    The mask's radius grows with the factor (the detail Lanczos smears is about one source pixel wide).
    """
    factor = width / frame.shape[1]
    big = resize(frame, width, height)
    if factor <= 1 or amount <= 0:
        return big
    blurred = cv2.GaussianBlur(big, (0, 0), 0.5 * factor)
    return cv2.addWeighted(big, 1 + amount, blurred, -amount, 0)  # saturating, in the frame's own depth


def weights_file(directory: Path, suffixes: tuple[str, ...] = WEIGHT_SUFFIXES) -> Path:
    """The single checkpoint (or ncnn ``.param``) file in a model directory (ModelUnavailable if none or several)."""
    found = sorted(p for p in directory.iterdir() if p.suffix.lower() in suffixes)
    if len(found) != 1:
        what = "no checkpoint" if not found else f"{len(found)} checkpoints ({', '.join(p.name for p in found)})"
        raise ModelUnavailable(f"{directory}: expected one {'/'.join(suffixes)} file, found {what}")
    return found[0]


def load_descriptor(path: Path, device: Any) -> Any:
    """spandrel's model descriptor for a checkpoint file or an ncnn ``.param`` file (its ``.bin`` beside it)."""
    from spandrel import ModelLoader

    loader = ModelLoader(device)
    if path.suffix.lower() != ".param":
        return loader.load_from_file(str(path))
    weights = path.with_suffix(".bin")
    if not weights.is_file():
        raise ModelUnavailable(f"{path}: the ncnn model has no {weights.name} beside it")
    return loader.load_from_state_dict(ncnn.convert(path, weights))


class SpandrelModel:
    """A spandrel super-resolution model with tiled, batched inference."""

    def __init__(
        self, path: Path, *, tile: int = 0, tile_pad: int = 16, dtype: str = "float32", device: str | None = None
    ):
        """Load ``path`` (a checkpoint or an ncnn ``.param``) on ``device`` (a GPU when there is one)."""
        import torch
        from spandrel import ImageModelDescriptor

        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        descriptor = load_descriptor(path, self.device)
        if not isinstance(descriptor, ImageModelDescriptor) or descriptor.scale < 1:
            raise ModelUnavailable(
                f"{path}: not a single-image super-resolution model (spandrel read {type(descriptor).__name__})"
            )
        self.half = dtype == "float16" and self.device.type == "cuda" and descriptor.supports_half
        descriptor.eval()
        if self.half:
            descriptor.model.half()
        self.descriptor = descriptor
        self.scale = int(descriptor.scale)
        self.architecture = descriptor.architecture.name
        self.tile, self.tile_pad = tile, tile_pad
        self._torch = torch

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Upscale N x H x W x 3 integer frames by :attr:`scale` (same dtype out)."""
        torch = self._torch
        x = torch.from_numpy(to_unit(frames)).permute(0, 3, 1, 2).to(self.device)
        x = x.half() if self.half else x
        with torch.inference_mode():
            y = self._tiled(x) if self.tile and max(x.shape[2:]) > self.tile else self._run(x)
            out = y.float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
        return from_unit(out, frames.dtype)

    def _run(self, x: Any) -> Any:
        return self.descriptor.model(x)

    def _tiled(self, x: Any) -> Any:
        """Run tile by tile; each tile sees ``tile_pad`` extra pixels of context that are cropped away."""
        n, c, h, w = x.shape
        s, t, pad = self.scale, self.tile, self.tile_pad
        out = x.new_zeros((n, c, h * s, w * s))
        for y0 in range(0, h, t):
            for x0 in range(0, w, t):
                y1, x1 = min(y0 + t, h), min(x0 + t, w)
                py0, px0 = max(y0 - pad, 0), max(x0 - pad, 0)
                py1, px1 = min(y1 + pad, h), min(x1 + pad, w)
                result = self._run(x[:, :, py0:py1, px0:px1])
                oy, ox = (y0 - py0) * s, (x0 - px0) * s
                out[:, :, y0 * s : y1 * s, x0 * s : x1 * s] = result[
                    :, :, oy : oy + (y1 - y0) * s, ox : ox + (x1 - x0) * s
                ]
        return out


class Upscaler:
    """Super-resolution for Ray Data (``__call__`` on a batch) and Serve (:meth:`upscale`)."""

    def __init__(self, cfg: Config, key: str = "upscaler"):
        """Load the configured backend once (in the actor, never on the driver)."""
        entry = cfg.models.get(key)
        self.backend = entry.backend if entry else CLASSICAL
        options = dict(entry.options) if entry else {}
        self.batch_size = entry.batch_size if entry else 8
        self.model: Any = None
        if self.backend in SPANDREL_BACKENDS and options.get("runtime") == "onnx":
            from genmedia.deployments.onnx_sr import OnnxSRModel  # edge nodes: onnxruntime on the CPU, fp32 or int8
            from genmedia.models.registry import resolve

            self.model = OnnxSRModel(
                weights_file(resolve(cfg, key)),
                cfg.storage.cache_path,
                int8=bool(options.get("int8", False)),
                threads=int(options.get("threads", 0)),
            )
            self.name = f"{self.backend} ({self.model.architecture} x{self.model.scale})"
        elif self.backend in SPANDREL_BACKENDS:
            from genmedia.models.registry import resolve

            self.model = SpandrelModel(
                weights_file(resolve(cfg, key)),
                tile=int(options.get("tile", 512)),
                tile_pad=int(options.get("tile_pad", 16)),
                dtype=str(options.get("dtype", "float16")),
            )
            self.name = f"{self.backend} ({self.model.architecture} x{self.model.scale})"
        elif self.backend == CLASSICAL:
            self.amount = float(options.get("unsharp_amount", UNSHARP_AMOUNT))
            self.name = "classical (Lanczos-4 + unsharp mask)"
        else:
            raise ConfigError(
                f"models.{key}.backend: unknown upscaler backend {self.backend!r}; use {CLASSICAL}, real-esrgan or spandrel"
            )

    def upscale(self, frames: np.ndarray, width: int, height: int) -> np.ndarray:
        """Frames (H x W x 3 or N x H x W x 3, uint8/uint16) resized to ``width`` x ``height``."""
        single = frames.ndim == 3
        batch = frames[None] if single else frames
        if self.model is None:
            out = np.stack([lanczos_unsharp(f, width, height, self.amount) for f in batch])
        else:
            out = self._model_upscale(batch, width, height)
        return out[0] if single else out

    def _model_upscale(self, frames: np.ndarray, width: int, height: int) -> np.ndarray:
        """Model passes until the frames reach the target width, in batches, then a final resize."""
        assert self.model is not None
        passes = max(1, math.ceil(math.log(max(width / frames.shape[2], 1.0), self.model.scale) - 1e-9))
        results = []
        for start in range(0, len(frames), self.batch_size):
            chunk = frames[start : start + self.batch_size]
            for _ in range(passes):
                chunk = self.model(chunk)
            results.extend(resize(f, width, height) for f in chunk)
        return np.stack(results)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Ray Data: upscale each window row's ``frames`` to its ``out_width`` x ``out_height``."""
        out = []
        for row in rows(batch):
            row["frames"] = self.upscale(row["frames"], int(row["out_width"]), int(row["out_height"]))
            out.append(row)
        return pack(out)
