"""Scene embeddings, zero-shot tags and a mood estimate for key frames: open_clip, or a classical descriptor.

One class for both runtimes (docs/architecture.md). The backend comes from ``models.<key>.backend``:

* ``open-clip``: the weights directory (resolved and verified by the model registry) is an open_clip
  export (``open_clip_config.json`` + ``open_clip_model.safetensors``, as on the hub), loaded with
  ``open_clip.create_model_and_transforms("local-dir:...")``. Images are embedded, text prompts for the
  tags and moods are embedded once, and cosine similarities (softmax over the moods) rank them.
* ``classical`` (the default when the config names no scene embedder): a 64-d colour/texture
  descriptor (:func:`genmedia.analysis.colour.colour_texture_descriptor`), tags read from brightness,
  saturation, warmth and texture, and a mood from brightness and saturation. Outputs say so in
  ``backend``.

Only ``open-clip`` has a text side: :meth:`SceneEmbedder.embed_texts` puts texts (e.g. a title) in the
images' embedding space; :func:`text_unavailable` says why a backend cannot.

``options``: ``tags`` and ``moods`` (lists of words; prompts are "a photo of {word}" / "a {mood} scene"),
``top_k`` (tags kept per image, default 3).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from genmedia.analysis.colour import DESCRIPTOR_NAME, colour_texture_descriptor, describe
from genmedia.config import Config
from genmedia.errors import ConfigError

CLASSICAL = "classical"
OPEN_CLIP = "open-clip"
DEFAULT_KEY = "scene_embedder"
DEFAULT_TAGS = (
    "a person",
    "a face",
    "a crowd",
    "a city street",
    "a landscape",
    "the sea",
    "a forest",
    "a room",
    "a car",
    "an animal",
    "food",
    "text",
    "a sports game",
    "a concert",
    "an explosion",
    "the night sky",
)
DEFAULT_MOODS = ("happy", "calm", "tense", "sad", "exciting", "romantic", "scary")


def backend_name(cfg: Config, key: str = DEFAULT_KEY) -> str:
    """The backend ``key`` resolves to in ``cfg`` (classical when the config has no such model)."""
    entry = cfg.models.get(key)
    return entry.backend if entry else CLASSICAL


def text_unavailable(backend: str) -> str | None:
    """Why scene embeddings of ``backend`` cannot be compared with text, or None when they can."""
    if backend == OPEN_CLIP or backend.startswith(f"{OPEN_CLIP}:"):
        return None
    return f"{backend} embeds pictures only (no text side); text similarity needs a {OPEN_CLIP} scene embedder"


class SceneEmbedder:
    """Embeds RGB images (N x H x W x 3, uint8) and names what they show and how they feel."""

    def __init__(self, cfg: Config, key: str = DEFAULT_KEY):
        entry = cfg.models.get(key)
        options: dict[str, Any] = dict(entry.options) if entry else {}
        self.backend = backend_name(cfg, key)
        self.tags = tuple(options.get("tags", DEFAULT_TAGS))
        self.moods = tuple(options.get("moods", DEFAULT_MOODS))
        self.top_k = int(options.get("top_k", 3))
        if self.backend == OPEN_CLIP:
            self._load_open_clip(cfg, key)
            self.name = f"{OPEN_CLIP}:{entry.model if entry else key}"
        elif self.backend == CLASSICAL:
            self.name = DESCRIPTOR_NAME
        else:
            raise ConfigError(
                f"models.{key}.backend: {self.backend!r} is not a scene-embedder backend ({OPEN_CLIP}, {CLASSICAL})"
            )

    def _load_open_clip(self, cfg: Config, key: str) -> None:
        import open_clip
        import torch

        from genmedia.models.registry import resolve

        directory = resolve(cfg, key)
        self._torch = torch
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{directory}", device=self.device)
        self.model = model.eval()
        self.preprocess = preprocess
        self._tokenizer = open_clip.get_tokenizer(f"local-dir:{directory}")
        texts = [f"a photo of {t}" for t in self.tags] + [f"a {m} scene" for m in self.moods]
        text = self._encode_text(texts)
        self._tag_text, self._mood_text = text[: len(self.tags)], text[len(self.tags) :]

    def _encode_text(self, texts: list[str]) -> Any:
        """Unit-length open_clip text embeddings (a torch tensor on the model's device)."""
        torch = self._torch
        with torch.inference_mode():
            text = self.model.encode_text(self._tokenizer(texts).to(self.device)).float()
            return text / text.norm(dim=-1, keepdim=True).clamp_min(1e-6)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Texts -> N x D float32 unit vectors in the image embeddings' space (cosine = dot product).

        Raises ConfigError on a backend without a text side (the classical descriptor).
        """
        reason = text_unavailable(self.name)
        if reason is not None:
            raise ConfigError(reason)
        if not texts:
            return np.zeros((0, self._tag_text.shape[1]), np.float32)
        return self._encode_text(list(texts)).cpu().numpy().astype(np.float32)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Ray Data: ``batch["image"]`` (N x H x W x 3 uint8) -> adds ``embedding`` (N x D float32),
        ``tags`` (comma-separated), ``mood``, ``mood_score`` and ``backend`` columns; open-clip adds ``mood_probs``
        (JSON: every mood word's probability, for :mod:`genmedia.analysis.emotion`)."""
        images = list(batch["image"])
        results = self.embed_images(images)
        out = dict(batch)
        out.pop("image")
        out["embedding"] = (
            np.stack([r["embedding"] for r in results]).astype(np.float32) if results else np.zeros((0, 1), np.float32)
        )
        out["tags"] = np.array([", ".join(r["tags"]) for r in results], dtype=object)
        out["mood"] = np.array([r["mood"] for r in results], dtype=object)
        out["mood_score"] = np.array([r["mood_score"] for r in results], dtype=np.float32)
        out["backend"] = np.array([self.name] * len(results), dtype=object)
        if self.backend == OPEN_CLIP:
            out["mood_probs"] = np.array([json.dumps(r["mood_probs"]) for r in results], dtype=object)
        return out

    def embed(self, image: np.ndarray) -> dict[str, Any]:
        """One image (H x W x 3 uint8) -> ``{"embedding", "tags", "mood", "mood_score", "backend"}`` (Serve)."""
        result = self.embed_images([image])[0]
        return {**result, "embedding": result["embedding"].tolist(), "backend": self.name}

    def embed_images(self, images: list[np.ndarray]) -> list[dict[str, Any]]:
        """Embed, tag and score a list of RGB images."""
        if not images:
            return []
        if self.backend == OPEN_CLIP:
            return self._open_clip(images)
        return [self._classical(img) for img in images]

    def _open_clip(self, images: list[np.ndarray]) -> list[dict[str, Any]]:
        from PIL import Image

        torch = self._torch
        pixels = torch.stack([self.preprocess(Image.fromarray(np.asarray(img, np.uint8))) for img in images]).to(
            self.device
        )
        with torch.inference_mode():
            emb = self.model.encode_image(pixels).float()
            emb = emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-6)
            tag_sim = (emb @ self._tag_text.T).cpu().numpy()
            mood_p = torch.softmax(100.0 * emb @ self._mood_text.T, dim=-1).cpu().numpy()
        out = []
        for e, sims, moods in zip(emb.cpu().numpy(), tag_sim, mood_p, strict=True):
            top = np.argsort(-sims, kind="stable")[: self.top_k]
            best = int(np.argmax(moods))
            out.append(
                {
                    "embedding": e,
                    "tags": [self.tags[i] for i in top],
                    "mood": self.moods[best],
                    "mood_score": float(moods[best]),
                    "mood_probs": {m: round(float(p), 5) for m, p in zip(self.moods, moods, strict=True)},
                }
            )
        return out

    @staticmethod
    def _classical(image: np.ndarray) -> dict[str, Any]:
        facts = describe(np.asarray(image, np.uint8))
        tags = [
            "bright" if facts["brightness"] > 0.55 else "dark" if facts["brightness"] < 0.3 else "mid-tone",
            "colourful" if facts["colourfulness"] > 40 else "muted",
            "warm" if facts["warmth"] > 0.55 else "cool" if facts["warmth"] < 0.45 else "neutral",
            "busy" if facts["texture"] > 0.08 else "smooth",
        ]
        arousal = facts["saturation"] * 0.5 + facts["texture"] * 3.0
        if facts["brightness"] >= 0.45:
            mood = "exciting" if arousal > 0.45 else "happy" if facts["saturation"] > 0.35 else "calm"
        else:
            mood = "tense" if arousal > 0.45 else "sad"
        score = float(np.clip(abs(facts["brightness"] - 0.45) + abs(arousal - 0.45), 0, 1))
        return {
            "embedding": colour_texture_descriptor(np.asarray(image, np.uint8)),
            "tags": tags,
            "mood": mood,
            "mood_score": score,
        }
