"""The HTTP API's model listing (``GET /v1/models``): 503 with one line naming the registry's URI when the MLflow
server an alias needs does not answer (the listing against a real server is in test_models_mlflow.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from genmedia.config import Config, load_config

pytestmark = pytest.mark.unit


def _api(cfg: Config, tmp_path: Path) -> TestClient:
    """The HTTP API over ``cfg`` (a job store in ``tmp_path``), with an accepted key set on every request."""
    from genmedia.jobs.records import JobStore
    from genmedia.serving.ingress import ApiState, create_api

    state = ApiState(
        cfg=cfg, key_digests=[hashlib.sha256(b"k").hexdigest()], store=JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    )
    client = TestClient(create_api(state))
    client.headers["Authorization"] = "Bearer k"
    return client


@pytest.mark.unit
def test_the_models_endpoint_answers_503_when_the_registry_is_unreachable(tmp_path: Path) -> None:
    cfg = load_config(
        None,
        storage={"cache_dir": str(tmp_path / "cache"), "mlflow_tracking_uri": "http://127.0.0.1:9"},
        models={"tiny": {"backend": "torch-linear", "model": "tiny", "source": "mlflow://tiny@production"}},
    )
    response = _api(cfg, tmp_path).get("/v1/models")
    assert response.status_code == 503 and response.headers["Retry-After"]
    detail = response.json()["detail"]
    assert "http://127.0.0.1:9" in detail and "unreachable" in detail and "\n" not in detail
