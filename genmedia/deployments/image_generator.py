"""Generative thumbnails with SDXL-Turbo (diffusers): text-to-image, and image-to-image from a key frame.

One class for both runtimes (docs/architecture.md), configured by ``models.<key>`` (backend ``sdxl-turbo``): the
registry resolves and verifies a diffusers-format weights directory (``model_index.json``, ``unet/``,
``vae/``, ``text_encoder(_2)/``, ``tokenizer(_2)/``, ``scheduler/``), loaded once per actor in float16 on a
GPU (float32 on a CPU). The image-to-image pipeline shares the text-to-image pipeline's modules.

``options``: ``steps`` (1-4, default 2), ``size`` (square output side, default 512), ``strength``
(image-to-image, default 0.5), ``guidance_scale`` (default 0.0: SDXL-Turbo is trained without CFG),
``dtype`` (``float16`` | ``float32``; default float16 on GPU). Every output records its seed, steps and
mode; a row's seed fully determines its image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genmedia.config import Config
from genmedia.errors import ConfigError, InputError

SDXL_TURBO = "sdxl-turbo"
DEFAULT_KEY = "image_generator"
TEXT, IMAGE = "text", "image"


def backend_name(cfg: Config, key: str = DEFAULT_KEY) -> str | None:
    """The generator backend configured under ``key``, or None when there is none (key frames only)."""
    entry = cfg.models.get(key)
    return entry.backend if entry else None


class ImageGenerator:
    """SDXL-Turbo text-to-image and image-to-image, batched."""

    def __init__(self, cfg: Config, key: str = DEFAULT_KEY):
        import torch
        from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline

        from genmedia.models.registry import resolve

        entry = cfg.model(key, SDXL_TURBO, "an image-generator")
        options: dict[str, Any] = dict(entry.options)
        self.steps = int(options.get("steps", 2))
        if not 1 <= self.steps <= 4:
            raise ConfigError(f"models.{key}.options.steps: SDXL-Turbo runs 1-4 steps, got {self.steps}")
        self.size = int(options.get("size", 512))
        self.strength = float(options.get("strength", 0.5))
        self.guidance_scale = float(options.get("guidance_scale", 0.0))
        directory = resolve(cfg, key)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype_name = options.get("dtype", "float16" if self.device == "cuda" else "float32")
        if self.device == "cpu":
            dtype_name = "float32"  # half precision is slow or unsupported for these kernels on CPUs
        self.dtype = getattr(torch, dtype_name)
        self._torch = torch
        self.text2img = StableDiffusionXLPipeline.from_pretrained(
            str(directory), dtype=self.dtype, local_files_only=True
        )
        self.text2img.to(self.device)
        self.text2img.set_progress_bar_config(disable=True)
        self.img2img = StableDiffusionXLImg2ImgPipeline(**self.text2img.components)
        self.img2img.set_progress_bar_config(disable=True)
        self.name = f"{SDXL_TURBO}:{entry.model or key}"

    def shape_for(self, aspect_ratio: float) -> tuple[int, int]:
        """Output (width, height) for a picture of ``aspect_ratio``: the longer side ``size``, multiples of 64."""
        if aspect_ratio >= 1:
            w, h = self.size, self.size / aspect_ratio
        else:
            w, h = self.size * aspect_ratio, self.size
        return max(64, round(w / 64) * 64), max(64, round(h / 64) * 64)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Ray Data: columns ``prompt``, ``seed``, ``mode`` (text | image), optional ``negative_prompt``,
        ``width`` and ``height`` (default: ``size`` square) and, for image mode, ``image`` (H x W x 3 uint8)
        -> adds ``generated`` (N x height x width x 3 uint8), ``steps`` and ``backend``."""
        n = len(batch["prompt"])
        out = dict(batch)
        width = batch.get("width", np.full(n, self.size))
        height = batch.get("height", np.full(n, self.size))
        generated: list[np.ndarray | None] = [None] * n
        groups: dict[tuple[str, int, int], list[int]] = {}
        for i in range(n):
            groups.setdefault((str(batch["mode"][i]), int(width[i]), int(height[i])), []).append(i)
        for (mode, w, h), rows in groups.items():
            images = self.generate_many(
                [str(batch["prompt"][i]) for i in rows],
                [str(batch["negative_prompt"][i]) for i in rows] if "negative_prompt" in batch else None,
                [int(batch["seed"][i]) for i in rows],
                [np.asarray(batch["image"][i]) for i in rows] if mode == IMAGE else None,
                width=w,
                height=h,
            )
            for i, img in zip(rows, images, strict=True):
                generated[i] = img
        out.pop("image", None)
        out["generated"] = (
            np.array(generated + [None], dtype=object)[:-1]
            if len({g.shape for g in generated}) > 1
            else (np.stack(generated) if n else np.zeros((0, self.size, self.size, 3), np.uint8))
        )
        out["steps"] = np.full(n, self.steps)
        out["backend"] = np.array([self.name] * n, dtype=object)
        return out

    def generate(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request (Serve): ``{"prompt", "seed", "negative_prompt"?, "image"?}`` -> ``{"image", "seed", "steps", "backend", "mode"}``."""
        if not str(request.get("prompt", "")).strip():
            raise InputError("prompt", "an image request needs a non-empty prompt")
        image = request.get("image")
        seed = int(request.get("seed", 0))
        [result] = self.generate_many(
            [request["prompt"]],
            [request.get("negative_prompt", "")],
            [seed],
            [np.asarray(image, np.uint8)] if image is not None else None,
        )
        return {
            "image": result,
            "seed": seed,
            "steps": self.steps,
            "backend": self.name,
            "mode": IMAGE if image is not None else TEXT,
        }

    def generate_many(
        self,
        prompts: list[str],
        negatives: list[str] | None,
        seeds: list[int],
        images: list[np.ndarray] | None = None,
        *,
        width: int | None = None,
        height: int | None = None,
    ) -> list[np.ndarray]:
        """Images for ``prompts`` in one batched pipeline call: text-to-image, or image-to-image from ``images``
        (resized to ``width`` x ``height``, default ``size`` square)."""
        from PIL import Image

        torch = self._torch
        generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
        common: dict[str, Any] = {
            "prompt": list(prompts),
            "generator": generators,
            "guidance_scale": self.guidance_scale,
            "output_type": "np",
        }
        if negatives is not None and self.guidance_scale > 1:
            common["negative_prompt"] = list(negatives)
        with torch.inference_mode():
            if images is None:
                result = self.text2img(
                    height=height or self.size, width=width or self.size, num_inference_steps=self.steps, **common
                )
            else:
                shape = (width or self.size, height or self.size)
                starts = [Image.fromarray(np.asarray(img, np.uint8)).resize(shape, Image.LANCZOS) for img in images]
                # img2img runs int(steps * strength) denoising steps: ask for enough that `steps` actually run.
                total = max(self.steps, int(np.ceil(self.steps / max(self.strength, 1e-3))))
                result = self.img2img(image=starts, strength=self.strength, num_inference_steps=total, **common)
        pixels = np.asarray(result.images)
        return [np.clip(np.round(p * 255), 0, 255).astype(np.uint8) for p in pixels]
