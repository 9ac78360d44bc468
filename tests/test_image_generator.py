"""SDXL-Turbo image generation with the REAL diffusers pipelines (StableDiffusionXLPipeline and
StableDiffusionXLImg2ImgPipeline) on tiny random components built in-process, the CLIP safety filter on a
tiny open_clip, and the thumbnails job's generative modes on a local Ray."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from thumbnail_models import (
    tiny_generator_model,
    tiny_open_clip_dir,
    tiny_phi3_dir,
    tiny_safety_model,
    tiny_sdxl_dir,
    tiny_writer_model,
)

from genmedia.config import Config, load_config
from genmedia.errors import ConfigError, ModelUnavailable
from genmedia.models import registry
from genmedia.pipelines import thumbnails as job

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("tiny-weights")
    return {
        "sdxl": tiny_sdxl_dir(base / "sdxl"),
        "clip": tiny_open_clip_dir(base / "clip"),
        "phi3": tiny_phi3_dir(base / "phi3"),
    }


def config(
    base: Path,
    weights: dict[str, Path],
    *,
    threshold: float = 1.0,
    steps: int = 2,
    pull: bool = True,
    root: str | None = None,
    writer: bool = False,
) -> Config:
    models = {
        "image_generator": tiny_generator_model(weights["sdxl"], size=128, steps=steps),
        "safety_checker": tiny_safety_model(weights["clip"], threshold=threshold),
    }
    if writer:
        models["text_writer"] = tiny_writer_model(weights["phi3"])
    cfg = load_config(
        None,
        storage={"root": root or str(base / "out"), "cache_dir": str(base / "cache")},
        ray={"num_cpus": 2},
        models=models,
    )
    for key in models if pull else ():
        registry.pull(cfg, key)
    return cfg


@pytest.fixture(scope="module")
def generator(tmp_path_factory: pytest.TempPathFactory, weights: dict[str, Path]):  # noqa: ANN201
    from genmedia.deployments.image_generator import ImageGenerator

    return ImageGenerator(config(tmp_path_factory.mktemp("gen"), weights))


def test_text_to_image_is_seeded_and_batched(generator) -> None:  # noqa: ANN001
    a = generator.generate({"prompt": "a storm at sea", "seed": 1})
    b = generator.generate({"prompt": "a storm at sea", "seed": 1})
    c = generator.generate({"prompt": "a storm at sea", "seed": 2})
    assert a["image"].shape == (128, 128, 3) and a["image"].dtype == np.uint8
    assert np.array_equal(a["image"], b["image"]) and not np.array_equal(a["image"], c["image"])
    assert (a["mode"], a["seed"], a["steps"], a["backend"]) == ("text", 1, 2, "sdxl-turbo:tiny-sdxl")
    # The Ray Data path: one batched call per (mode, size); row k equals its single-request image.
    out = generator(
        {
            "prompt": np.array(["a storm at sea", "a storm at sea"], dtype=object),
            "seed": np.array([1, 2]),
            "mode": np.array(["text", "text"], dtype=object),
        }
    )
    assert out["generated"].shape == (2, 128, 128, 3)
    assert np.abs(out["generated"][0].astype(int) - a["image"]).max() <= 2  # batched kernels may differ by rounding
    assert list(out["backend"]) == ["sdxl-turbo:tiny-sdxl"] * 2 and list(out["steps"]) == [2, 2]


def test_image_to_image_starts_from_the_key_frame(generator) -> None:  # noqa: ANN001
    dark, light = np.full((90, 160, 3), 20, np.uint8), np.full((90, 160, 3), 235, np.uint8)
    w, h = generator.shape_for(16 / 9)
    assert (w, h) == (128, 64)
    batch = {
        "prompt": np.array(["x", "x"], dtype=object),
        "seed": np.array([3, 3]),
        "mode": np.array(["image", "image"], dtype=object),
        "image": np.stack([dark, light]),
        "width": np.array([w, w]),
        "height": np.array([h, h]),
    }
    out = generator(batch)
    assert out["generated"].shape == (2, 64, 128, 3) and "image" not in out
    # Same seed and prompt: the outputs differ only because the starting pictures do (random weights do
    # not preserve the picture's look, so only the dependence is checked), and differ from text-to-image.
    assert not np.array_equal(out["generated"][0], out["generated"][1])
    text = generator.generate_many(["x"], None, [3], width=w, height=h)[0]
    assert not np.array_equal(text, out["generated"][0])


def test_generator_config_errors(tmp_path: Path, weights: dict[str, Path]) -> None:
    from genmedia.deployments.image_generator import ImageGenerator

    with pytest.raises(ModelUnavailable, match="genmedia models pull image_generator"):
        ImageGenerator(config(tmp_path / "a", weights, pull=False))
    with pytest.raises(ConfigError, match="1-4 steps"):
        ImageGenerator(config(tmp_path / "b", weights, steps=8, pull=False))


def test_clip_safety_filter_flags_above_its_threshold(tmp_path: Path, weights: dict[str, Path]) -> None:
    from genmedia.thumbnails.safety import ClipSafetyFilter, load_safety_check

    images = [np.full((64, 64, 3), v, np.uint8) for v in (0, 128, 255)]
    strict = load_safety_check(config(tmp_path / "s", weights, threshold=0.0), "image_generator")
    lenient = ClipSafetyFilter(config(tmp_path / "l", weights, threshold=1.0))
    flagged, passed = strict.check(images), lenient.check(images)
    assert all(v.flagged for v in flagged) and not any(v.flagged for v in passed)
    assert all(0 <= v.score <= 1 and v.checker == "clip-filter:tiny-clip-filter-0" for v in flagged)
    assert [v.score for v in flagged] == pytest.approx([v.score for v in passed], abs=1e-5)


def test_text_writer_runs_a_tiny_phi3_greedily(tmp_path: Path, weights: dict[str, Path]) -> None:
    from genmedia.deployments.text_writer import TextWriter, clean

    writer = TextWriter(config(tmp_path, weights, writer=True), "text_writer")
    one = writer.write({"instruction": "write one short prompt for a storm thumbnail"})
    assert one["backend"] == "phi-3:tiny-phi3" and isinstance(one["text"], str) and one["text"]
    assert writer.write({"instruction": "write one short prompt for a storm thumbnail"}) == one  # greedy: repeatable
    out = writer({"instruction": np.array(["storm at sea", "a city at night"], dtype=object)})
    assert len(out["text"]) == 2 and list(out["text_backend"]) == ["phi-3:tiny-phi3"] * 2
    assert clean('\n  "Prompt: a storm at sea"\nmore') == "a storm at sea"


def test_generation_needs_a_safety_check(tmp_path: Path, weights: dict[str, Path]) -> None:
    cfg = load_config(
        None, storage={"root": str(tmp_path)}, models={"image_generator": tiny_generator_model(weights["sdxl"])}
    )
    with pytest.raises(ConfigError, match="need a safety check"):
        job.resolve_mode(cfg, "auto")
    assert job.resolve_mode(load_config(None), "auto") == "keyframe"


def test_generative_variants_are_published_only_when_they_pass(
    ray_session, sample_clip, tmp_path: Path, weights
) -> None:  # noqa: ANN001
    # The session's storage root: the sample clip's analysis, made by other tests, is reused.
    root, clip = ray_session.storage.root, str(sample_clip[0])
    params = dict(
        variants=2, aspects=["16:9", "1:1"], size=256, formats=["jpeg"], style="poster", title="Storm", seed=7
    )
    passing = job.run(
        config(tmp_path, weights, threshold=1.0, root=root, writer=True), clip, job.Params(mode="img2img", **params)
    )
    doc = json.loads(Path(passing.output_uri, "thumbnails.json").read_text())
    assert doc["mode"] == "img2img" and len(doc["variants"]) == 2
    # Lineage: the staged tiny weights of every model the run loaded, by their files' digests.
    assert [(u.key, u.model) for u in passing.models] == [
        ("text_writer", "tiny-phi3"), ("image_generator", "tiny-sdxl"), ("safety_checker", "tiny-clip-filter-1")]  # fmt: skip
    assert all(len(str(u.digest)) == 64 for u in passing.models)
    for k, v in enumerate(doc["variants"]):
        assert v["backend"] == "sdxl-turbo:tiny-sdxl" and v["published"] and v["seed"] == 7 + k and v["steps"] == 2
        # The tiny Phi-3 wrote the prompt (random words, but through the real model code), else the template stands.
        assert v["style"] == "poster" and v["prompt"] and v["prompt_by"] in {"phi-3:tiny-phi3", "template"}
        assert v["safety"]["flagged"] is False and v["safety"]["checker"].startswith("clip-filter")
        wide = v["aspects"]["16:9"]  # the 128x64 picture's crop, over 1.5x from 256x144: written smaller
        with Image.open(Path(passing.output_uri, wide["file"])) as im:
            assert list(im.size) == wide["size"] and wide["enlarge"]["requested"] == [256, 144]
    assert any(v["prompt_by"] == "phi-3:tiny-phi3" for v in doc["variants"])
    blocked = job.run(config(tmp_path, weights, threshold=0.0, root=root), clip, job.Params(mode="text2img", **params))
    doc = json.loads(Path(blocked.output_uri, "thumbnails.json").read_text())
    assert blocked.details["variants"] == 0 and blocked.details["flagged"] == 2
    assert [u.key for u in blocked.models] == ["image_generator", "safety_checker"]  # no text writer configured
    assert all(v["safety"]["flagged"] and not v["published"] and v["aspects"] == {} for v in doc["variants"])
    assert set(blocked.files) == {"thumbnails.json", "thumbnails.html"}  # nothing flagged was written
    assert all(
        v["prompt_by"] == "template" and v["prompt"].startswith("movie poster") and '"Storm"' in v["prompt"]
        for v in doc["variants"]
    )  # no text writer configured: the style's template
    assert any("flagged" in w for w in blocked.warnings)
