"""The safety check every generated image passes before it is published.

A check is configured as a model (``models.safety_checker`` by default, backend ``clip-filter``): an
open_clip model (weights resolved and verified by the registry; the scene embedder's weights serve) scores
each image against prompts for unsafe concepts and for ordinary scenes, zero-shot; an image whose
probability mass on the unsafe concepts exceeds ``options.threshold`` is flagged and not published.
Generated images are never published without a check: configuring a generator without one is an error.
Key-frame thumbnails are the customer's own frames and are not checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from genmedia.config import Config
from genmedia.errors import ConfigError

CLIP_FILTER = "clip-filter"
DEFAULT_KEY = "safety_checker"
UNSAFE = (
    "nudity",
    "sexual content",
    "graphic violence",
    "gore and blood",
    "a corpse",
    "self-harm",
    "hateful symbols",
    "drug use",
)
ORDINARY = (
    "a person",
    "people talking",
    "a landscape",
    "a city",
    "a room",
    "an animal",
    "a vehicle",
    "a film scene",
    "a poster",
    "a sports game",
)


@dataclass(frozen=True)
class Verdict:
    """The check's answer for one image."""

    flagged: bool
    score: float
    concept: str
    checker: str


class SafetyCheck(Protocol):
    """Anything that judges a list of RGB images."""

    name: str

    def check(self, images: list[np.ndarray]) -> list[Verdict]:
        """One verdict per image."""


class ClipSafetyFilter:
    """Zero-shot CLIP filter: probability that an image shows one of the unsafe concepts."""

    def __init__(self, cfg: Config, key: str = DEFAULT_KEY):
        import open_clip
        import torch

        from genmedia.models.registry import resolve

        entry = cfg.model(key, CLIP_FILTER, "a safety-check")
        options: dict[str, Any] = dict(entry.options)
        self.threshold = float(options.get("threshold", 0.5))
        self.unsafe = tuple(options.get("unsafe", UNSAFE))
        ordinary = tuple(options.get("ordinary", ORDINARY))
        directory = resolve(cfg, key)
        self._torch = torch
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        model, _, self.preprocess = open_clip.create_model_and_transforms(f"local-dir:{directory}", device=self.device)
        self.model = model.eval()
        tokenizer = open_clip.get_tokenizer(f"local-dir:{directory}")
        with torch.inference_mode():
            text = self.model.encode_text(
                tokenizer([f"a photo of {c}" for c in self.unsafe + ordinary]).to(self.device)
            ).float()
        self._text = text / text.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        self.name = f"{CLIP_FILTER}:{entry.model or key}"

    def check(self, images: list[np.ndarray]) -> list[Verdict]:
        """Flag images whose unsafe-concept probability exceeds the threshold."""
        if not images:
            return []
        from PIL import Image

        torch = self._torch
        pixels = torch.stack([self.preprocess(Image.fromarray(np.asarray(i, np.uint8))) for i in images]).to(
            self.device
        )
        with torch.inference_mode():
            emb = self.model.encode_image(pixels).float()
            emb = emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-6)
            probs = torch.softmax(100.0 * emb @ self._text.T, dim=-1).cpu().numpy()
        k = len(self.unsafe)
        out = []
        for p in probs:
            score = float(p[:k].sum())
            out.append(
                Verdict(
                    flagged=score > self.threshold,
                    score=score,
                    concept=self.unsafe[int(np.argmax(p[:k]))],
                    checker=self.name,
                )
            )
        return out


def load_safety_check(cfg: Config, generator_key: str) -> SafetyCheck:
    """The check configured for the generator ``generator_key`` (``options.safety_checker``, default
    ``safety_checker``); ConfigError when it is missing, so nothing generated goes out unchecked."""
    key = str(cfg.model(generator_key).options.get("safety_checker", DEFAULT_KEY))
    entry = cfg.models.get(key)
    if entry is None:
        raise ConfigError(
            f"models.{generator_key}: generated thumbnails need a safety check, but models.{key} is not configured "
            f"(add a '{CLIP_FILTER}' model with open_clip weights, e.g. the scene embedder's)"
        )
    return ClipSafetyFilter(cfg, key)
