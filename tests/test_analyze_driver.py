"""The analysis in the driver's process (a fresh CLI process on a local Ray that is not started: no Ray start-up):
which runs qualify, and that it writes the same shots, features and audio as the Ray tasks without starting Ray."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from genmedia.config import Config, ModelConfig, load_config
from genmedia.pipelines import analyze
from genmedia.pipelines import job as job_runner
from genmedia.storage import local_path


@pytest.mark.unit
def test_only_a_fresh_local_run_without_model_actors_runs_in_the_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(analyze.ray, "is_initialized", lambda: False)
    cfg = load_config(None)
    params = analyze.params_from(cfg, faces="haar")
    assert analyze.runs_in_driver(cfg, params)
    assert not analyze.runs_in_driver(
        cfg.model_copy(update={"ray": cfg.ray.model_copy(update={"address": "auto"})}), params
    )
    clip = ModelConfig(backend="open-clip", model="clip", source="/models/clip")
    with_clip = cfg.model_copy(update={"models": {**cfg.models, analyze.EMBEDDER_KEY: clip}})
    assert not analyze.runs_in_driver(with_clip, params), "CLIP loads weights: an actor, never the driver"
    assert analyze.runs_in_driver(with_clip, analyze.params_from(cfg, faces="haar", embed="off"))
    yolo = ModelConfig(backend="ultralytics", model="yolo", source="/models/yolo")
    with_yolo = cfg.model_copy(update={"models": {**cfg.models, analyze.DETECTOR_KEY: yolo}})
    assert not analyze.runs_in_driver(with_yolo, analyze.params_from(cfg)), "the detector runs as an actor"
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    assert not analyze.runs_in_driver(cfg, params), "inside ray job submit: the job's cluster"
    monkeypatch.delenv("RAY_ADDRESS")
    monkeypatch.setattr(analyze.ray, "is_initialized", lambda: True)
    assert not analyze.runs_in_driver(cfg, params), "Ray already up (a Serve app's job, a test session): its tasks"


def _outputs(result: Any) -> tuple[Any, pd.DataFrame, Any]:
    shots = json.loads(Path(local_path(result.files[analyze.SHOTS])).read_text())
    features = pd.read_parquet(io.BytesIO(Path(local_path(result.files[analyze.FEATURES])).read_bytes()))
    audio = json.loads(Path(local_path(result.files[analyze.AUDIO])).read_text())
    return shots["shots"], features, audio


@pytest.mark.ray
def test_the_driver_writes_what_the_ray_tasks_write_without_starting_ray(
    ray_session: Config, sample_clip: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 10 s sample clip (cuts, fade, dissolve, flash, a face, speech): shots, every analysed frame's features
    and the audio analysis are equal from both runners; only the Ray run starts Ray. Slow-ish: two small jobs."""
    path = str(sample_clip[0])
    params = analyze.params_from(ray_session, faces="haar", sample_fps=4.0)
    by_ray = analyze.run(
        ray_session.model_copy(
            update={"storage": ray_session.storage.model_copy(update={"root": str(tmp_path / "ray")})}
        ),
        path,
        params,
    )
    started: list[Config] = []
    monkeypatch.setattr(job_runner, "init_ray", started.append)
    monkeypatch.setattr(analyze, "runs_in_driver", lambda cfg, params: True)
    in_driver = analyze.run(
        ray_session.model_copy(
            update={"storage": ray_session.storage.model_copy(update={"root": str(tmp_path / "driver")})}
        ),
        path,
        params,
    )
    assert not started, "the driver runner starts no Ray"
    assert by_ray.details["embedded_by"] == "ray-actor" and in_driver.details["embedded_by"] == "driver"
    assert by_ray.details["backends"] == in_driver.details["backends"]
    ray_shots, ray_features, ray_audio = _outputs(by_ray)
    driver_shots, driver_features, driver_audio = _outputs(in_driver)
    assert driver_shots == ray_shots and len(ray_shots) > 3
    pd.testing.assert_frame_equal(driver_features, ray_features)
    assert driver_audio == ray_audio and ray_audio.get("has_audio")
