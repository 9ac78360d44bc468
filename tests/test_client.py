"""The SDK in-process (``Client.local``) on the session's Ray; the HTTP client is exercised in test_serve_http.py."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from serve_fixtures import make_tiny_clip

import genmedia
from genmedia import Client
from genmedia.client import JobFailed
from genmedia.errors import InputError
from genmedia.jobs.records import JobState
from genmedia.serving.schemas import JobView


def test_public_api() -> None:
    assert genmedia.__all__ == ["Client", "load_config"]
    assert genmedia.Client is Client and callable(genmedia.load_config)


def test_local_client_runs_waits_and_downloads(ray_session, tmp_path: Path) -> None:  # noqa: ANN001
    clip = make_tiny_clip(tmp_path / "local.mp4", seed=7)
    with Client.local(ray_session, progress=False) as client:
        view = client.analyze(str(clip), embed="off")
        assert isinstance(view, JobView) and view.status is JobState.done
        assert view.result.job == "analyze" and "shots.json" in view.files
        files = client.download(view, tmp_path / "dl")
        assert json.loads(files["shots.json"].read_text())
        assert client.job(view.id) == view  # persisted in the job store

        # Not waiting, then waiting from inside a running event loop (as a notebook does).
        pending = client.analyze(str(clip), embed="off", wait=False)
        assert pending.status in (JobState.queued, JobState.running, JobState.skipped)

        async def in_a_loop() -> JobView:
            return await client.wait_async(pending, timeout=300)

        assert asyncio.run(in_a_loop()).status is JobState.skipped  # same video + params: outputs reused

        with pytest.raises(JobFailed, match="failed"):
            client.analyze(str(tmp_path / "missing.mp4"))
        with pytest.raises(InputError, match="no such job"):
            client.job("0" * 32)
        with pytest.raises(InputError, match="sample_fps"):
            client.analyze(str(clip), sample_fps=-1)
        with pytest.raises(InputError, match="uploads are for HTTP clients"):
            client.upload(clip)
