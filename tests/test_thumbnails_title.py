"""CLIP similarity to the title in key-frame ranking: the scene embedder's text side on a tiny random open_clip
model (built here, no download), the classical backend saying it has none, and the thumbnails job ranking
the shot whose embedding matches the title first."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from genmedia.config import Config, ModelConfig, load_config
from genmedia.deployments.scene_embedder import SceneEmbedder, text_unavailable
from genmedia.errors import ConfigError, ModelUnavailable
from genmedia.models import registry
from genmedia.pipelines import analyze
from genmedia.pipelines import thumbnails as job

pytestmark = pytest.mark.ray

TINY_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TAGS = ["a face", "a landscape", "a city street", "the sea"]
TITLE = "A Storm Over The Sea"


@pytest.fixture(scope="module")
def clip_cfg(ray_session: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The test Ray session's config with a tiny random open_clip export staged as ``scene_embedder``."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    source = tmp_path_factory.mktemp("tiny-clip")
    save_file(open_clip.CLIP(**TINY_CLIP).state_dict(), source / "open_clip_model.safetensors")
    (source / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CLIP, "preprocess_cfg": {}}))
    sha = hashlib.sha256((source / "open_clip_model.safetensors").read_bytes()).hexdigest()
    models = {
        **ray_session.models,
        "scene_embedder": ModelConfig(
            backend="open-clip",
            model="tiny-clip",
            source=str(source),
            files={"open_clip_model.safetensors": sha},
            batch_size=8,
            options={"tags": TAGS},
        ),
    }
    store = tmp_path_factory.mktemp("title-store")
    storage = ray_session.storage.model_copy(update={"root": str(store / "out"), "model_dir": str(store / "models")})
    cfg = ray_session.model_copy(update={"models": models, "storage": storage})
    registry.pull(cfg, "scene_embedder")
    return cfg


def test_open_clip_text_embeddings_share_the_images_space(clip_cfg: Config, sample_clip) -> None:  # noqa: ANN001
    embedder = SceneEmbedder(clip_cfg)
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(3, 64, 64, 3), dtype=np.uint8)
    out = embedder({"frame_index": np.arange(3), "image": images})
    texts = embedder.embed_texts([f"a photo of {t}" for t in TAGS])
    assert texts.shape == (len(TAGS), TINY_CLIP["embed_dim"]) and texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, rtol=1e-5)
    # The tags the embedder names are the texts nearest each image: one space for pictures and words.
    for emb, tags in zip(out["embedding"], out["tags"], strict=True):
        nearest = [TAGS[i] for i in np.argsort(-(texts @ emb), kind="stable")[:3]]
        assert nearest == tags.split(", ")
    title = embedder.embed_texts([TITLE, TITLE, "something else"])
    np.testing.assert_allclose(title[0], title[1], rtol=1e-6)
    assert float(title[0] @ title[2]) < 0.999
    assert text_unavailable(embedder.name) is None


def test_the_classical_embedder_says_it_has_no_text_side() -> None:
    embedder = SceneEmbedder(load_config(None))
    with pytest.raises(ConfigError, match=r"classical-colour-texture-v1 embeds pictures only \(no text side\)"):
        embedder.embed_texts([TITLE])


def test_the_shot_matching_the_title_ranks_first(clip_cfg: Config, sample_clip, monkeypatch) -> None:  # noqa: ANN001
    clip = str(sample_clip[0])
    params = job.Params(variants=2, aspects=["16:9"], size=160, formats=["jpeg"])
    plain = job.run(clip_cfg, clip, params)
    doc = json.loads(Path(plain.output_uri, "thumbnails.json").read_text())
    assert doc["analysis_backends"]["embedding"] == "open-clip:tiny-clip"
    assert doc["title_ranking"] == {"used": False, "reason": "no title"}
    first, second = (v["shot"] for v in doc["variants"])

    # Control the analysis embeddings: the runner-up shot's key frame shows exactly what the title says,
    # every other embedded frame the opposite. The job embeds the title itself (a Ray task on the tiny model).
    title = SceneEmbedder(clip_cfg).embed_texts([TITLE])[0]
    real = analyze.load_analysis

    def controlled(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        analysis = real(*args, **kwargs)
        f = analysis.features
        assert f["embedding"].notna().sum() >= 5
        f["embedding"] = [
            None if e is None else (title if s == second else -title)
            for e, s in zip(f["embedding"], f["shot"], strict=True)
        ]
        return analysis

    monkeypatch.setattr(analyze, "load_analysis", controlled)
    titled = job.run(clip_cfg, clip, params.model_copy(update={"title": TITLE}))
    doc = json.loads(Path(titled.output_uri, "thumbnails.json").read_text())
    assert doc["title_ranking"] == {"used": True, "backend": "open-clip:tiny-clip", "weight": 0.3}
    v1, v2 = doc["variants"]
    assert (v1["shot"], v2["shot"]) == (second, first)
    assert v1["scores"]["title"] == 1.0 and v2["scores"]["title"] == 0.0


def test_unstaged_clip_weights_fail_the_title_ranking_in_one_line(
    clip_cfg: Config, sample_clip, tmp_path: Path
) -> None:  # noqa: ANN001
    # The analysis is reused from the tests above; the title's text embedding then needs the weights.
    empty = clip_cfg.model_copy(
        update={"storage": clip_cfg.storage.model_copy(update={"model_dir": str(tmp_path / "none")})}
    )
    params = job.Params(variants=1, aspects=["16:9"], size=160, formats=["jpeg"], title="Unstaged")
    with pytest.raises(ModelUnavailable, match="genmedia models pull scene_embedder") as e:
        job.run(empty, str(sample_clip[0]), params)
    assert "\n" not in str(e.value)
