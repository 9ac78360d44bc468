"""Jobs the Serve app runs call its model deployments instead of loading their own copies (docs/serving.md).

A subtitles job posted over HTTP sends its chunks to the app's transcriber deployment and its segments to the
translator deployment (a tiny random NLLB); an analyze job sends its thumbnails to the detector and scene
embedder deployments (a random YOLOv8n, a tiny random open_clip). Each replica's request counter grows by
exactly the calls the job made, the job records which deployment ran each model, and the outputs equal the
ones the same job writes with its own Ray actors (the CLI's path).
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from ray import serve
from serve_fixtures import make_tiny_clip, poll_job, serve_test_config, serving
from test_translator import _tiny_nllb

from genmedia.config import Config, ModelConfig, Replicas, Resources
from genmedia.models.registry import pull
from genmedia.pipelines import analyze, subtitles
from genmedia.serving.app import APP_NAME
from genmedia.storage import local_path

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SPEECH = Path(__file__).resolve().parent / "data" / "speech" / "arctic_a0007.flac"
PARAMS = {
    "diarize": False,
    "voiceprints": False,
    "formats": ["srt"],
    "languages": ["en", "fr"],
    "glossary": ["shared-replica-test"],
}
"""Parameters no other test uses (the manifest answers finished work as skipped)."""
SMALL = {"resources": {"cpu": Resources(num_cpus=0.25)}, "replicas": Replicas(min=1, max=1)}
"""A small CPU share for a model, so its deployment and the local run's actors fit the session's 2 CPUs."""


@pytest.fixture(scope="module")
def nllb(ray_session: Config, tmp_path_factory: pytest.TempPathFactory) -> ModelConfig:
    """A translator entry whose weights (a tiny random NLLB) are staged in the session's model store."""
    source = tmp_path_factory.mktemp("shared-tiny-nllb")
    _tiny_nllb(source)
    entry = {"backend": "nllb", "model": "tiny-nllb-shared", "source": str(source), "batch_size": 4}
    translator = ModelConfig.model_validate({**entry, "options": {"num_beams": 1}, **SMALL})
    pull(ray_session.model_copy(update={"models": {"translator": translator}}), "translator")
    return translator


def _config(base: Config, root: Path, models: dict[str, ModelConfig]) -> Config:
    """The session config with only ``models``, outputs under ``root``."""
    storage = base.storage.model_copy(update={"root": str(root)})
    return base.model_copy(update={"models": models, "storage": storage})


def _served_config(base: Config, root: Path, models: dict[str, ModelConfig]) -> Config:
    """:func:`_config` with the Serve test settings (API key, small queues), serving ``models`` only."""
    return serve_test_config(_config(base, root, models)).model_copy(update={"models": models})


def _subtitle_models(base: Config, translator: ModelConfig) -> dict[str, ModelConfig]:
    whisper = base.model("transcriber").model_copy(update={"resources": {"cpu": Resources(num_cpus=0.5)}})
    return {"transcriber": whisper, "translator": translator}


def _segments(transcript: dict) -> list[tuple[str, float, float]]:
    return [(s["text"], round(s["start"], 2), round(s["end"], 2)) for s in transcript["segments"]]


def _translations(transcript: dict) -> dict[str, list[str]]:
    return {lang: [c["text"] for c in track["cue_list"]] for lang, track in transcript["tracks"].items()}


def _translation_calls(transcript: dict) -> int:
    """Rows the job sent to the translator: every translated segment, and again each re-translated one."""
    return sum(t["translated_segments"] + t["retranslated_segments"] for t in transcript["tracks"].values())


def test_subtitles_job_over_http_is_transcribed_and_translated_by_the_deployments(
    ray_session: Config, nllb: ModelConfig, tmp_path: Path
) -> None:
    """Slow (75-150 s on the loaded 2-core machine): Whisper base loads twice (the deployment, the local run's
    actor) on 4 s of real speech; the tiny NLLB translates it into French on both paths."""
    models = _subtitle_models(ray_session, nllb)
    local = subtitles.run(_config(ray_session, tmp_path / "local", models), str(SPEECH), subtitles.Params(**PARAMS))
    assert local.details["transcribed_by"] == "ray-actor"  # the CLI's one-actor pool, without Ray Data
    assert local.details["translated_by"] == "ray-data-actors"
    expected = json.loads(local_path(local.files[subtitles.TRANSCRIPT]).read_text(encoding="utf-8"))
    assert _segments(expected), "the local run heard no speech"
    assert _translation_calls(expected) >= 1

    with serving(_served_config(ray_session, tmp_path / "served", models)) as api, api.client() as client:
        replica = serve.get_deployment_handle("transcriber", APP_NAME)
        translator = serve.get_deployment_handle("translator", APP_NAME)
        assert replica.stats.remote().result()["requests"] == translator.stats.remote().result()["requests"] == 0
        upload = client.post("/v1/uploads", params={"name": SPEECH.name}, content=SPEECH.read_bytes())
        assert upload.status_code == 201, upload.text
        submitted = client.post("/v1/jobs", json={"video": upload.json()["id"], "job": "subtitles", "params": PARAMS})
        assert submitted.status_code == 202, submitted.text
        view = poll_job(client, submitted.json()["id"])
        assert view["status"] == "done", view.get("error")
        details = view["result"]["details"]
        assert details["transcribed_by"] == f"serve:{APP_NAME}/transcriber"
        assert details["translated_by"] == f"serve:{APP_NAME}/translator"
        assert replica.stats.remote().result()["requests"] == details["chunks"] >= 1
        served = client.get(view["files"][subtitles.TRANSCRIPT]).json()
        assert translator.stats.remote().result()["requests"] == _translation_calls(served)
    assert _segments(served) == _segments(expected)
    assert served["language"] == expected["language"] == "en"
    assert _translation_calls(served) == _translation_calls(expected)
    assert _translations(served) == _translations(expected)
    assert served["tracks"]["fr"]["translation_scores"] == pytest.approx(
        expected["tracks"]["fr"]["translation_scores"], abs=1e-3
    )


# ------------------------------------------------------------------------------------------ analyze

TINY_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
ANALYZE_PARAMS = {"sample_fps": 1.5, "embed": "samples", "faces": "detector"}
"""Parameters no other test uses."""


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def vision_models(ray_session: Config, tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModelConfig]:
    """Detector (a random YOLOv8n, no download) and scene embedder (a tiny random open_clip) entries, staged."""
    import open_clip
    import torch
    from safetensors.torch import save_file
    from ultralytics import YOLO

    torch.manual_seed(0)
    clip_dir, yolo_dir = tmp_path_factory.mktemp("shared-tiny-clip"), tmp_path_factory.mktemp("shared-tiny-yolo")
    save_file(open_clip.CLIP(**TINY_CLIP).state_dict(), clip_dir / "open_clip_model.safetensors")
    (clip_dir / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CLIP, "preprocess_cfg": {}}))
    YOLO("yolov8n.yaml").save(str(yolo_dir / "yolov8n-random.pt"))
    clip_file, yolo_file = "open_clip_model.safetensors", "yolov8n-random.pt"
    models = {
        "scene_embedder": ModelConfig(
            backend="open-clip",
            model="tiny-clip-shared",
            source=str(clip_dir),
            files={clip_file: _sha(clip_dir / clip_file)},
            batch_size=4,
            options={"tags": ["a face", "a landscape", "a city street"]},
            **SMALL,
        ),
        "detector": ModelConfig(
            backend="ultralytics",
            model="yolov8n-random-shared",
            source=str(yolo_dir),
            files={yolo_file: _sha(yolo_dir / yolo_file)},
            batch_size=4,
            options={"imgsz": 160},
            **SMALL,
        ),
    }
    staged = ray_session.model_copy(update={"models": models})
    for key in models:
        pull(staged, key)
    return models


def test_analyze_job_over_http_detects_and_embeds_with_the_deployments(
    ray_session: Config, vision_models: dict[str, ModelConfig], tmp_path: Path
) -> None:
    """Slow (130 s at load 11-15 on the 2-core machine): ultralytics and open_clip import and load twice each (the
    deployments, the local run's actors) for an 8 s clip."""
    clip = make_tiny_clip(tmp_path / "shared-models.mp4", seed=11)
    local = analyze.run(
        _config(ray_session, tmp_path / "local", vision_models),
        str(clip),
        analyze.params_from(ray_session, **ANALYZE_PARAMS),
    )
    assert local.status.value == "done", local.error
    assert local.details["detected_by"] == local.details["embedded_by"] == "ray-actor"  # one-actor pools
    expected = pd.read_parquet(local_path(local.files[analyze.FEATURES]))
    frames = local.details["analysed_frames"]
    assert frames >= 8

    cfg = _served_config(ray_session, tmp_path / "served", vision_models)
    with serving(cfg) as api, api.client() as client:
        handles = {key: serve.get_deployment_handle(key, APP_NAME) for key in vision_models}
        assert all(h.stats.remote().result()["requests"] == 0 for h in handles.values())
        upload = client.post("/v1/uploads", params={"name": clip.name}, content=clip.read_bytes())
        assert upload.status_code == 201, upload.text
        body = {"video": upload.json()["id"], "job": "analyze", "params": ANALYZE_PARAMS}
        submitted = client.post("/v1/jobs", json=body)
        assert submitted.status_code == 202, submitted.text
        view = poll_job(client, submitted.json()["id"])
        assert view["status"] == "done", view.get("error")
        details = view["result"]["details"]
        assert details["detected_by"] == f"serve:{APP_NAME}/detector"
        assert details["embedded_by"] == f"serve:{APP_NAME}/scene_embedder"
        # one request per sampled thumbnail to each model (embed "samples": every one)
        assert {k: h.stats.remote().result()["requests"] for k, h in handles.items()} == {
            "detector": frames,
            "scene_embedder": frames,
        }
        served = pd.read_parquet(io.BytesIO(client.get(view["files"][analyze.FEATURES]).content))
    assert details["backends"] == local.details["backends"]
    pd.testing.assert_frame_equal(served, expected, rtol=1e-4)
