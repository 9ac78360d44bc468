"""The model deployments of the analysis on their real code paths, with tiny random models built here:
open_clip (``open_clip.CLIP`` from a tiny config) and ultralytics YOLO (``yolov8n.yaml``, no download)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import av
import numpy as np
import pytest

from genmedia.config import Config, ModelConfig, load_config
from genmedia.deployments.detector import MAX_DETECTIONS, Detector
from genmedia.deployments.scene_embedder import DEFAULT_MOODS, SceneEmbedder
from genmedia.errors import ModelUnavailable
from genmedia.models import registry

pytestmark = pytest.mark.ray

TINY_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TAGS = ["a face", "a landscape", "a city street"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):  # noqa: ANN001, ANN201
    """Source directories of a tiny random open_clip export and a random YOLOv8n checkpoint."""
    import open_clip
    import torch
    from safetensors.torch import save_file
    from ultralytics import YOLO

    torch.manual_seed(0)
    clip_dir = tmp_path_factory.mktemp("tiny-clip")
    save_file(open_clip.CLIP(**TINY_CLIP).state_dict(), clip_dir / "open_clip_model.safetensors")
    (clip_dir / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CLIP, "preprocess_cfg": {}}))
    yolo_dir = tmp_path_factory.mktemp("tiny-yolo")
    YOLO("yolov8n.yaml").save(str(yolo_dir / "yolov8n-random.pt"))
    return clip_dir, yolo_dir


def _models_config(base: Config, clip_dir: Path, yolo_dir: Path, cache: Path) -> Config:
    models = dict(base.models)
    models["scene_embedder"] = ModelConfig(
        backend="open-clip",
        model="tiny-clip",
        source=str(clip_dir),
        files={"open_clip_model.safetensors": _sha(clip_dir / "open_clip_model.safetensors")},
        batch_size=4,
        options={"tags": TAGS},
    )
    models["detector"] = ModelConfig(
        backend="ultralytics",
        model="yolov8n-random",
        source=str(yolo_dir),
        files={"yolov8n-random.pt": _sha(yolo_dir / "yolov8n-random.pt")},
        batch_size=4,
        options={"imgsz": 160},
    )
    storage = base.storage.model_copy(update={"model_dir": str(cache / "models")})
    return base.model_copy(update={"models": models, "storage": storage})


@pytest.fixture(scope="module")
def staged(model_dirs, tmp_path_factory):  # noqa: ANN001, ANN201
    cfg = _models_config(load_config(None), *model_dirs, tmp_path_factory.mktemp("store"))
    registry.pull(cfg, "scene_embedder")
    registry.pull(cfg, "detector")
    return cfg


@pytest.fixture(scope="module")
def face_frame(sample_clip) -> np.ndarray:  # noqa: ANN001
    path, truth = sample_clip
    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i == (truth.face.start + truth.face.end) // 2:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError("face frame not decoded")


def test_classical_embedder_names_itself_and_separates_scenes(face_frame) -> None:  # noqa: ANN001
    embedder = SceneEmbedder(load_config(None))
    grey = np.full_like(face_frame, 128)
    out = embedder({"frame_index": np.array([1, 2]), "image": np.stack([face_frame, grey])})
    assert out["embedding"].shape == (2, 64) and set(out["backend"]) == {"classical-colour-texture-v1"}
    assert float(out["embedding"][0] @ out["embedding"][1]) < 0.9
    assert "muted" in out["tags"][1] and out["mood"][0] in DEFAULT_MOODS
    single = embedder.embed(face_frame)
    assert single["backend"] == "classical-colour-texture-v1" and len(single["embedding"]) == 64


def test_open_clip_embedder_runs_the_tiny_model(staged, face_frame) -> None:  # noqa: ANN001
    embedder = SceneEmbedder(staged)
    images = np.stack([face_frame, face_frame[::-1], np.zeros_like(face_frame)])
    out = embedder({"frame_index": np.arange(3), "image": images})
    assert out["embedding"].shape == (3, TINY_CLIP["embed_dim"])
    np.testing.assert_allclose(np.linalg.norm(out["embedding"], axis=1), 1.0, rtol=1e-4)
    assert not np.allclose(out["embedding"][0], out["embedding"][2])
    for tags in out["tags"]:
        assert set(tags.split(", ")) <= set(TAGS) and len(tags.split(", ")) == 3
    assert set(out["mood"]) <= set(DEFAULT_MOODS) and (out["mood_score"] > 0).all()
    for mood, probs in zip(out["mood"], out["mood_probs"], strict=True):  # the distribution emotion reads
        probs = json.loads(probs)
        assert set(probs) == set(DEFAULT_MOODS) and sum(probs.values()) == pytest.approx(1, abs=1e-3)
        assert max(probs, key=probs.get) == mood
    assert embedder.embed(face_frame)["backend"] == "open-clip:tiny-clip"


def test_unstaged_weights_fail_with_one_line_naming_the_pull(model_dirs, tmp_path) -> None:  # noqa: ANN001
    cfg = _models_config(load_config(None), *model_dirs, tmp_path)  # nothing pulled into this store
    with pytest.raises(ModelUnavailable, match="genmedia models pull scene_embedder") as e:
        SceneEmbedder(cfg)
    assert "\n" not in str(e.value)
    with pytest.raises(ModelUnavailable, match="genmedia models pull detector"):
        Detector(cfg)


def test_detector_runs_yolo_and_finds_the_face_with_haar(staged, face_frame, sample_clip) -> None:  # noqa: ANN001
    _, truth = sample_clip
    detector = Detector(staged)
    out = detector({"frame_index": np.array([7, 8]), "image": np.stack([face_frame, face_frame])})
    assert out["objects"].shape == (2, MAX_DETECTIONS, 6) and out["faces"].shape == (2, MAX_DETECTIONS, 6)
    face = out["faces"][0][0]
    x, y, w, h = truth.face.box
    assert abs(face[0] + face[2] / 2 - (x + w / 2)) < 10 and abs(face[1] + face[3] / 2 - (y + h / 2)) < 10
    single = detector.detect(face_frame)
    assert single["backend"] == "ultralytics:yolov8n-random" and single["face_backend"] == "haar"
    assert len(single["faces"]) >= 1 and all(o["label"] in detector.names.values() for o in single["objects"])


def test_analyze_job_uses_the_configured_models(ray_session, staged, sample_clip, tmp_path) -> None:  # noqa: ANN001
    from genmedia.pipelines import analyze

    path, truth = sample_clip
    cfg = ray_session.model_copy(
        update={
            "models": staged.models,
            "storage": ray_session.storage.model_copy(
                update={"root": str(tmp_path / "out"), "model_dir": staged.storage.model_dir}
            ),
        }
    )
    result = analyze.run(cfg, str(path), analyze.Params(sample_fps=1.0))
    assert result.details["backends"]["embedding"] == "open-clip:tiny-clip"
    assert result.details["backends"]["objects"] == "ultralytics:yolov8n-random"
    assert result.details["backends"]["emotion"] == "genmedia-circumplex-v1 (audio+visual+clip)"
    shots = analyze.load_analysis(cfg, str(path), analyze.Params(sample_fps=1.0)).shot_details
    for shot in shots:  # CLIP's mood prompts are one of each shot's emotion signals
        signals = shot["emotion"]["signals"]
        assert -1 <= signals["clip_valence"] <= 1 and -1 <= signals["clip_arousal"] <= 1
        assert shot["mood"] == shot["emotion"]["label"] and 0 < shot["emotion"]["confidence"] <= 1
    df = analyze.load_analysis(cfg, str(path), analyze.Params(sample_fps=1.0)).features
    assert "objects" in df.columns
    embedded = df.embedding.dropna()
    assert len(embedded) >= 5 and all(len(e) == TINY_CLIP["embed_dim"] for e in embedded)
    on_face = df[(df.frame_index >= truth.face.start) & (df.frame_index < truth.face.end)]
    assert (on_face.faces >= 1).all()
