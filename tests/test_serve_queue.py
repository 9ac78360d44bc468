"""The job queue behind the HTTP API on a real Serve app: priorities, positions, duplicates, 429s, manifests, metrics.

One app for the module (slow: a minute on 2 cores with its jobs, more under load): a small queue (2 waiting at most) and two
analyze jobs running at once, on a store of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from serve_fixtures import API_KEY, Api, make_tiny_clip, poll_job, serve_test_config, serving

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def api(ray_session, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:  # noqa: ANN001
    base = serve_test_config(ray_session)
    store = tmp_path_factory.mktemp("queue-store") / "jobs.sqlite"
    jobs = base.jobs.model_copy(
        update={
            "store_url": f"sqlite:///{store}",
            "max_queued": 2,
            "max_running": 2,
            "retry_after_s": 3,
            "dispatch_interval_s": 0.2,
        }
    )
    cfg = base.model_copy(update={"jobs": jobs, "models": {}})
    with serving(cfg) as api:
        yield api


def test_unknown_priority_is_422_naming_the_allowed_values(api: Api) -> None:
    with api.client() as c:
        for bad in ("urgent", 12, -1, None):
            resp = c.post("/v1/jobs", json={"video": "s3://inputs/x.mp4", "job": "analyze", "priority": bad})
            assert resp.status_code == 422, resp.text
            assert "priority must be one of high, normal, low or an integer from 0 to 9" in resp.text


def test_queue_positions_duplicates_full_queue_and_manifest_answers(api: Api, tmp_path: Path) -> None:
    clip = make_tiny_clip(tmp_path / "queue.mp4", seed=5)
    with api.client() as c:
        video = c.post("/v1/uploads", params={"name": "queue.mp4"}, content=clip.read_bytes()).json()["id"]

        def submit(fps: float, priority: str = "normal") -> tuple[int, dict, dict]:
            body = {
                "video": video,
                "job": "analyze",
                "params": {"embed": "off", "sample_fps": fps},
                "priority": priority,
            }
            resp = c.post("/v1/jobs", json=body)
            return resp.status_code, resp.json(), dict(resp.headers)

        code, first, _ = submit(1.0)
        assert code == 202 and first["duplicate_of"] is None and first["priority"] == 5
        code, twin, _ = submit(1.0)
        assert code == 200 and twin["duplicate_of"] == first["id"] == twin["id"], "identical work is not queued twice"
        accepted = [first["id"]]
        refused = None
        for i, priority in enumerate(["low", "high", "low", "low", "low", "low"]):
            code, body, headers = submit(2.0 + i, priority)
            if code == 429:
                refused = (body, headers)
                break
            assert code == 202, body
            accepted.append(body["id"])
            if priority == "high":
                high = c.get(f"/v1/jobs/{body['id']}").json()
                assert high["status"] != "queued" or high["queue_position"] == 1, "high goes ahead of the waiting lows"
        assert refused is not None, "a full queue answers 429"
        assert refused[1]["retry-after"] == "3" and "the job queue is full" in refused[0]["detail"]
        views = [poll_job(c, job_id, timeout=300) for job_id in accepted]
        assert [v["status"] for v in views] == ["done"] * len(accepted), [v.get("error") for v in views]
        assert all(v["attempts"] == 1 and v["queue_position"] is None for v in views)
        # The same work again: its outputs exist, so the answer comes from the manifest, no task started.
        code, again, _ = submit(1.0)
        assert code == 200 and again["status"] == "skipped" and again["id"] != first["id"]
        view = c.get(f"/v1/jobs/{again['id']}").json()
        assert view["attempts"] == 0 and view["worker"] is None and set(view["files"]) == set(views[0]["files"])
        text = c.get("/metrics").text
    from genmedia import Client

    with Client(api.url, api_key=API_KEY, progress=False) as client:  # the SDK sends the priority
        assert client.submit("analyze", "s3://inputs/none.mp4", priority="high").priority == 9
    families = {f.name: f for f in text_string_to_metric_families(text)}
    waits = [s.value for s in families["genmedia_jobs_queue_wait_seconds"].samples if s.name.endswith("_count")]
    assert sum(waits) >= len(accepted)
    runs = [s.value for s in families["genmedia_jobs_run_seconds"].samples if s.name.endswith("_count")]
    assert sum(runs) >= len(accepted)
    assert next(s.value for s in families["genmedia_jobs_refused"].samples if s.name.endswith("_total")) >= 1
    assert {"genmedia_jobs_queued", "genmedia_jobs_running", "genmedia_jobs_retries"} <= set(families)
