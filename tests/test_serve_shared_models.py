"""Jobs the Serve app runs call its model deployments instead of loading their own copies (docs/serving.md).

A subtitles job posted over HTTP sends its chunks to the app's transcriber deployment: the replica's request
counter grows by the job's chunks and the job records which deployment transcribed it; the transcript equals
the one the same job writes with its own Ray Data actor pool (the CLI's path).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ray import serve
from serve_fixtures import poll_job, serve_test_config, serving

from genmedia.config import Config, Resources
from genmedia.pipelines import subtitles
from genmedia.serving.app import APP_NAME
from genmedia.storage import local_path

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SPEECH = Path(__file__).resolve().parent / "data" / "speech" / "arctic_a0007.flac"
PARAMS = {"diarize": False, "voiceprints": False, "formats": ["srt"], "glossary": ["shared-replica-test"]}
"""Parameters no other test uses (the manifest answers finished work as skipped)."""


def _config(base: Config, root: Path) -> Config:
    """The session config with only the transcriber (a small CPU share so the deployment and the local run's
    actor both fit the session's 2 CPUs), outputs under ``root``."""
    whisper = base.model("transcriber").model_copy(update={"resources": {"cpu": Resources(num_cpus=0.5)}})
    storage = base.storage.model_copy(update={"root": str(root)})
    return base.model_copy(update={"models": {"transcriber": whisper}, "storage": storage})


def _segments(transcript: dict) -> list[tuple[str, float, float]]:
    return [(s["text"], round(s["start"], 2), round(s["end"], 2)) for s in transcript["segments"]]


def test_subtitles_job_over_http_is_transcribed_by_the_transcriber_deployment(ray_session, tmp_path: Path) -> None:  # noqa: ANN001
    """Slow (75-100 s on the loaded 2-core machine): Whisper base loads twice (the deployment, the local run's
    actor) on 4 s of real speech."""
    local = subtitles.run(_config(ray_session, tmp_path / "local"), str(SPEECH), subtitles.Params(**PARAMS))
    assert local.details["transcribed_by"] == "ray-actor"  # the CLI's one-actor pool, without Ray Data
    expected = json.loads(local_path(local.files[subtitles.TRANSCRIPT]).read_text(encoding="utf-8"))
    assert _segments(expected), "the local run heard no speech"

    served_cfg = _config(ray_session, tmp_path / "served")
    cfg = serve_test_config(served_cfg).model_copy(update={"models": served_cfg.models})  # no upscaler here
    with serving(cfg) as api, api.client() as client:
        replica = serve.get_deployment_handle("transcriber", APP_NAME)
        assert replica.stats.remote().result()["requests"] == 0
        upload = client.post("/v1/uploads", params={"name": SPEECH.name}, content=SPEECH.read_bytes())
        assert upload.status_code == 201, upload.text
        submitted = client.post("/v1/jobs", json={"video": upload.json()["id"], "job": "subtitles", "params": PARAMS})
        assert submitted.status_code == 202, submitted.text
        view = poll_job(client, submitted.json()["id"])
        assert view["status"] == "done", view.get("error")
        details = view["result"]["details"]
        assert details["transcribed_by"] == f"serve:{APP_NAME}/transcriber"
        assert replica.stats.remote().result()["requests"] == details["chunks"] >= 1
        served = client.get(view["files"][subtitles.TRANSCRIPT]).json()
    assert _segments(served) == _segments(expected)
    assert served["language"] == expected["language"] == "en"
