"""Helpers for the Serve tests: one Serve app on the session's Ray, with a real (classical) model deployment."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from ray import serve

from genmedia.config import Config, ModelConfig, Replicas, Resources
from genmedia.serving.app import APP_NAME, build_app

API_KEY = "test-key-0123456789"


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_test_config(base: Config, **serve_overrides: object) -> Config:
    """The session config plus an API key, a small upload cap, small queues and the classical upscaler as a model."""
    serve = base.serve.model_copy(
        update={
            "api_keys": [API_KEY],
            "max_upload_bytes": 512 * 1024,
            "max_queued_requests": 2,
            "allowed_input_schemes": ["s3", "https", "http"],
            "allowed_buckets": ["inputs"],
            "health_check_period_s": 1,
            "health_check_timeout_s": 10,
            **serve_overrides,
        }
    )
    upscaler = ModelConfig(
        backend="classical", resources={"cpu": Resources(num_cpus=0.25)}, replicas=Replicas(min=1, max=1), batch_size=2
    )
    return base.model_copy(update={"serve": serve, "models": {"upscaler": upscaler}})


@dataclass
class Api:
    """A running app: its base URL and the config it was built from."""

    url: str
    cfg: Config

    def client(self, key: str | None = API_KEY, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)


def wait_healthy(url: str, timeout: float = 120) -> None:
    """Poll ``/healthz`` until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url}/healthz did not answer in {timeout} s")


@contextmanager
def serving(cfg: Config) -> Iterator[Api]:
    """The app built from ``cfg``, served on a free loopback port once healthy; Serve is shut down after."""
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port, "request_timeout_s": 60})
    try:
        serve.run(build_app(cfg, gpu_types=[]), name=APP_NAME, route_prefix="/", blocking=False)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url)
        yield Api(url=url, cfg=cfg)
    finally:
        serve.shutdown()


def make_tiny_clip(path: Path, seed: int = 1) -> Path:
    """The smallest sample clip the synthetic generator makes (8 s, 160x90, 12 fps): about 130 KB."""
    from genmedia.media.synthetic import make_sample_clip

    make_sample_clip(path, width=160, height=90, fps=12, seconds=8.0, seed=seed)
    return path


def poll_job(client: httpx.Client, job_id: str, timeout: float = 300) -> dict:
    """GET the job until it finishes; returns its last view (and every progress stage seen, under ``_stages``)."""
    deadline = time.monotonic() + timeout
    stages: list[str] = []
    while time.monotonic() < deadline:
        view = client.get(f"/v1/jobs/{job_id}").json()
        if view.get("progress"):
            stages.append(view["progress"]["stage"])
        if view["status"] not in ("queued", "running"):
            view["_stages"] = stages
            return view
        time.sleep(0.3)
    raise TimeoutError(f"job {job_id} did not finish in {timeout} s")
