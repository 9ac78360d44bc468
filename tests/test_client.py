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

pytestmark = pytest.mark.ray


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


def test_local_client_starts_waiting_jobs_by_priority(ray_session, tmp_path: Path) -> None:  # noqa: ANN001
    """One worker thread: while a job runs, a low then a high job wait; the high one starts first."""
    clip = make_tiny_clip(tmp_path / "busy.mp4", seed=8)
    with Client.local(ray_session, workers=1, progress=False) as client:
        busy = client.analyze(str(clip), embed="off", sample_fps=1, wait=False)
        low = client.analyze(str(tmp_path / "missing-low.mp4"), priority="low", wait=False)
        high = client.analyze(str(tmp_path / "missing-high.mp4"), priority="high", wait=False)
        with pytest.raises(InputError, match="priority must be one of high, normal, low"):
            client.analyze(str(clip), priority="urgent", wait=False)
        finished = client.wait(busy, timeout=300)
        for job in (low, high):
            with pytest.raises(JobFailed):
                client.wait(job, timeout=300)
        low, high = client.job(low.id), client.job(high.id)
    assert (low.priority, high.priority) == (0, 9) and finished.status is JobState.done
    assert high.started_at < low.started_at
