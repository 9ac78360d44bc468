"""The HTTP API on a real Serve app (the session's local Ray, proxy on loopback), hit with httpx.

One app serves the whole module: the ingress plus the classical upscaler as a model deployment.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import ray
from prometheus_client.parser import text_string_to_metric_families
from ray import serve
from serve_fixtures import API_KEY, Api, make_tiny_clip, poll_job, serve_test_config, serving, wait_healthy

from genmedia.deployments.upscaler import lanczos_unsharp
from genmedia.serving.app import APP_NAME, build_app
from genmedia.serving.models import decode_value, encode_value

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _deploy(cfg) -> None:  # noqa: ANN001
    serve.run(build_app(cfg, gpu_types=[]), name=APP_NAME, route_prefix="/", blocking=False)


@pytest.fixture(scope="module")
def api(ray_session) -> Iterator[Api]:  # noqa: ANN001
    with serving(serve_test_config(ray_session)) as api:
        yield api


def _infer_body(size: int = 24, out: tuple[int, int] = (96, 54)) -> tuple[dict, np.ndarray]:
    frames = np.random.default_rng(size).integers(0, 255, (1, size, size, 3), dtype=np.uint8)
    body = {"inputs": {"frames": encode_value(frames), "out_width": out[0], "out_height": out[1]}}
    return body, frames


# ------------------------------------------------------------------------------------ basics


def test_healthz_docs_and_openapi(api: Api) -> None:
    health = httpx.get(f"{api.url}/healthz").json()
    assert health["status"] == "ok" and health["models"] == ["upscaler"]
    assert httpx.get(f"{api.url}/docs").status_code == 200
    paths = httpx.get(f"{api.url}/openapi.json").json()["paths"]
    for path in ("/v1/jobs", "/v1/jobs/{job_id}", "/v1/uploads", "/v1/models/{key}/infer", "/metrics"):
        assert path in paths


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong-key", f"Basic {API_KEY}", "Bearer", API_KEY, f"Bearer {API_KEY}x"]
)
def test_missing_or_wrong_key_is_401(api: Api, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    for method, path in (
        ("GET", "/v1/jobs/" + "0" * 32),
        ("POST", "/v1/jobs"),
        ("POST", "/v1/uploads"),
        ("GET", "/metrics"),
    ):
        resp = httpx.request(method, api.url + path, headers=headers, json={})
        assert resp.status_code == 401, (method, path, resp.text)
        assert resp.headers["www-authenticate"] == "Bearer"


def test_right_key_passes(api: Api) -> None:
    with api.client() as c:
        assert c.get("/v1/jobs/" + "0" * 32).status_code == 404
        assert c.get("/v1/jobs/../../etc/passwd").status_code == 404


# --------------------------------------------------------------------------------- input URIs


@pytest.mark.parametrize(
    "video",
    [
        "http://127.0.0.1/video.mp4",
        "http://127.1/video.mp4",
        "http://localhost:8000/video.mp4",
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "/etc/passwd",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://[::1]/video.mp4",
        "http://[::ffff:127.0.0.1]/video.mp4",
        "http://[fe80::1]/video.mp4",
        "http://10.0.0.7/video.mp4",
        "http://192.168.1.2/video.mp4",
        "http://user:pw@example.com/video.mp4",
        "gopher://example.com/x",
        "s3://other-bucket/video.mp4",
    ],
)
def test_ssrf_and_disallowed_inputs_are_refused(api: Api, video: str) -> None:
    with api.client() as c:
        resp = c.post("/v1/jobs", json={"video": video, "job": "analyze"})
    assert resp.status_code == 400, resp.text
    assert video.strip() in resp.json()["detail"] or "URI" in resp.json()["detail"]


@pytest.mark.parametrize(
    ("job", "params"),
    [
        ("trailer", {"music": "/etc/passwd"}),
        ("trailer", {"music": "file:///etc/hosts"}),
        ("trailer", {"transcript": "http://169.254.169.254/latest/meta-data/"}),
        ("enhance", {"grade": "/root/reference.png"}),
        ("enhance", {"reference": "http://[::1]/ref.mp4"}),
    ],
)
def test_file_params_pass_the_same_checks_as_the_video(api: Api, job: str, params: dict[str, str]) -> None:
    """A caller cannot make a job read the server's files (or internal URLs) through its parameters."""
    with api.client() as c:
        resp = c.post("/v1/jobs", json={"video": "s3://inputs/x.mp4", "job": job, "params": params})
    assert resp.status_code == 400, resp.text
    assert next(iter(params.values())) in resp.json()["detail"]


def test_unknown_upload_id_and_bad_body(api: Api) -> None:
    with api.client() as c:
        resp = c.post("/v1/jobs", json={"video": "upload:" + "a" * 32, "job": "analyze"})
        assert resp.status_code == 400 and "no such upload" in resp.json()["detail"]
        assert (
            c.post("/v1/jobs", json={"video": "s3://inputs/x.mp4", "job": "analyze", "output": "/tmp/x"}).status_code
            == 422
        )
        resp = c.post("/v1/jobs", json={"video": "s3://inputs/x.mp4", "job": "delete_everything"})
        assert resp.status_code == 400 and "unknown job" in resp.json()["detail"]


# ------------------------------------------------------------------------------------ uploads


def _raw_post_headers_only(url: str, path: str, length: int) -> str:
    """Send a POST's headers declaring ``length`` body bytes, send no body, return the response's status line."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {API_KEY}\r\n"
                f"Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n"
            ).encode()
        )
        return sock.makefile("rb").readline().decode()


def test_upload_name_is_sanitised(api: Api) -> None:
    root = Path(api.cfg.storage.root)
    with api.client() as c:
        for name in ("../../../../etc/cron.d/evil", "..\\..\\win.ini", "/abs/path/clip.mp4", "....", "a/../../b.mp4"):
            resp = c.post("/v1/uploads", params={"name": name}, content=b"\x00" * 100)
            assert resp.status_code == 201, resp.text
            body = resp.json()
            assert "/" not in body["name"] and "\\" not in body["name"] and not body["name"].startswith(".")
            stored = root / "uploads" / body["id"] / body["name"]
            assert stored.is_file() and stored.stat().st_size == 100
            assert stored.resolve().is_relative_to((root / "uploads").resolve())
    assert not (root.parent / "etc").exists() and not (root / "etc").exists()


def test_oversized_upload_is_413_before_the_body(api: Api) -> None:
    cap = api.cfg.serve.max_upload_bytes
    with api.client() as c:
        assert c.post("/v1/uploads", params={"name": "big.mp4"}, content=b"x" * (cap + 1)).status_code == 413
        # A declared 10 GiB is refused from the headers alone: no byte of the body is ever sent.
        started = time.perf_counter()
        status_line = _raw_post_headers_only(api.url, "/v1/uploads?name=huge.mp4", 10 * 1024**3)
        assert status_line.split()[1] == "413" and time.perf_counter() - started < 10

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            for _ in range(cap // 4096 + 2):
                yield b"y" * 4096

        assert c.post("/v1/uploads", params={"name": "chunked.mp4"}, content=chunks()).status_code == 413
        assert c.post("/v1/uploads", params={"name": "empty.mp4"}, content=b"").status_code == 400
    leftovers = [
        p for p in (Path(api.cfg.storage.root) / "uploads").rglob("*") if p.is_file() and p.stat().st_size > cap
    ]
    assert leftovers == []


# ------------------------------------------------------------------------------------- models


def test_model_endpoint_batches_and_matches_the_model(api: Api) -> None:
    body, frames = _infer_body()
    with api.client() as c:
        resp = c.post("/v1/models/upscaler/infer", json=body)
        assert resp.status_code == 200, resp.text
        out = decode_value(resp.json()["outputs"]["frames"])
        assert out.shape == (1, 54, 96, 3) and out.dtype == np.uint8
        np.testing.assert_array_equal(out[0], lanczos_unsharp(frames[0], 96, 54))
        assert c.post("/v1/models/nope/infer", json=body).status_code == 404
        bad = {"inputs": {"frames": {"dtype": "|O", "shape": [1], "base64": ""}}}
        assert c.post("/v1/models/upscaler/infer", json=bad).status_code == 400


def test_overload_answers_503_quickly(api: Api) -> None:
    body, _ = _infer_body(size=160, out=(1280, 720))

    def one(_: int) -> tuple[int, float]:
        started = time.perf_counter()
        with api.client() as c:
            resp = c.post("/v1/models/upscaler/infer", json=body)
        return resp.status_code, time.perf_counter() - started

    with cf.ThreadPoolExecutor(24) as pool:
        results = list(pool.map(one, range(24)))
    codes = [code for code, _ in results]
    assert set(codes) <= {200, 503}, codes
    assert codes.count(200) >= 1 and codes.count(503) >= 1, codes
    # Refused requests do not wait for capacity: each 503 comes back well before the slowest success.
    slowest_ok = max(t for code, t in results if code == 200)
    assert min(t for code, t in results if code == 503) < slowest_ok


def test_metrics_parse_as_prometheus(api: Api) -> None:
    with api.client() as c:
        c.get("/v1/jobs/" + "1" * 32)
        text = c.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    requests = families["genmedia_http_requests"]
    assert any(s.labels["route"] == "/v1/jobs/{job_id}" and s.labels["status"] == "404" for s in requests.samples)
    assert "genmedia_http_request_seconds" in families and "genmedia_jobs_queue_depth" in families
    statuses = {s.labels["status"] for s in families["genmedia_jobs"].samples}
    assert {"queued", "running", "done", "failed"} <= statuses


def _replica_actor_names(deployment: str) -> list[str]:
    return [
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["namespace"] == "serve" and f"#{deployment}#" in a["name"]
    ]


def test_killed_model_replica_fails_cleanly_and_comes_back(api: Api) -> None:
    body, frames = _infer_body(size=48, out=(640, 360))
    (name,) = _replica_actor_names("upscaler")

    def one(_: int) -> int:
        with api.client() as c:
            return c.post("/v1/models/upscaler/infer", json=body).status_code

    with cf.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(one, i) for i in range(8)]
        time.sleep(0.3)
        ray.kill(ray.get_actor(name, namespace="serve"), no_restart=True)
        codes = [f.result(timeout=120) for f in futures]
    assert set(codes) <= {200, 503}, codes  # in-flight requests succeed or fail cleanly, never hang or 500

    # Serve replaces the replica; the SDK retries 503s, and later requests succeed.
    from genmedia import Client

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        names = _replica_actor_names("upscaler")
        if names and names != [name]:
            break
        time.sleep(0.5)
    assert _replica_actor_names("upscaler") != [name]
    client = Client(api.url, api_key=API_KEY, retries=20)
    out = client.infer("upscaler", frames=frames, out_width=640, out_height=360)
    assert out["frames"].shape == (1, 360, 640, 3)
    with api.client() as c:
        assert all(c.post("/v1/models/upscaler/infer", json=body).status_code == 200 for _ in range(3))


# --------------------------------------------------------------------------------------- jobs


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_clip(tmp_path_factory.mktemp("serve-media") / "tiny.mp4")


FAST_ANALYZE = {"embed": "off", "min_shot_seconds": 0.45}
"""Cheap analysis params no other test of the session submits for this clip (done work is answered from the
manifest without a job run, and these tests watch a job run)."""


def test_job_submit_poll_done_and_download(api: Api, tiny_clip: Path) -> None:
    with api.client() as c:
        upload = c.post("/v1/uploads", params={"name": "tiny.mp4"}, content=tiny_clip.read_bytes())
        assert upload.status_code == 201, upload.text
        resp = c.post("/v1/jobs", json={"video": upload.json()["id"], "job": "analyze", "params": FAST_ANALYZE})
        assert resp.status_code == 202, resp.text
        accepted = resp.json()
        assert accepted["status"] == "queued" and accepted["url"] == f"/v1/jobs/{accepted['id']}"
        view = poll_job(c, accepted["id"])
        assert view["status"] == "done", view
        assert view["_stages"], "no progress was reported while the job ran"
        assert view["result"]["job"] == "analyze" and view["result"]["status"] == "done"
        assert set(view["files"]) == set(view["result"]["files"]) and "shots.json" in view["files"]
        shots = c.get(view["files"]["shots.json"])
        assert shots.status_code == 200
        parsed = json.loads(shots.content)
        assert parsed, "shots.json is empty"
        assert c.get(f"/v1/jobs/{accepted['id']}/files/../../../etc/passwd").status_code == 404
        # The same video and params again: the manifest exists, so the job is skipped, not redone.
        again = c.post("/v1/jobs", json={"video": upload.json()["id"], "job": "analyze", "params": FAST_ANALYZE}).json()
        assert poll_job(c, again["id"])["status"] == "skipped"
    api.old_job = accepted["id"]  # type: ignore[attr-defined]


def test_bad_params_and_bad_video(api: Api) -> None:
    with api.client() as c:
        resp = c.post("/v1/jobs", json={"video": "s3://inputs/x.mp4", "job": "analyze", "params": {"sample_fps": -1}})
        assert resp.status_code == 422 and "sample_fps" in resp.json()["detail"]
        for glossary in ("Anna", [1, 2], {"Anna": "Anna"}):  # the subtitles' glossary must be a list of strings
            body = {"video": "s3://inputs/x.mp4", "job": "subtitles", "params": {"glossary": glossary}}
            resp = c.post("/v1/jobs", json=body)
            assert resp.status_code == 422 and "glossary" in resp.json()["detail"], resp.text
        junk = c.post("/v1/uploads", params={"name": "junk.mp4"}, content=b"not a video at all" * 50).json()
        job = c.post("/v1/jobs", json={"video": junk["id"], "job": "analyze"}).json()
        view = poll_job(c, job["id"])
    assert view["status"] == "failed" and "junk.mp4" in view["error"], view


def test_cancel_a_job(api: Api, tiny_clip: Path) -> None:
    with api.client() as c:
        upload = c.post("/v1/uploads", params={"name": "cancel.mp4"}, content=tiny_clip.read_bytes()).json()
        job = c.post(
            "/v1/jobs", json={"video": upload["id"], "job": "analyze", "params": {"embed": "off", "sample_fps": 3}}
        ).json()
        cancelled = c.delete(f"/v1/jobs/{job['id']}")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        time.sleep(3)
        assert c.get(f"/v1/jobs/{job['id']}").json()["status"] == "cancelled"
        assert c.delete("/v1/jobs/" + "2" * 32).status_code == 404


def test_a_job_whose_worker_went_away_reads_as_lost_not_running(api: Api) -> None:
    """A job started by a replica that died (its Ray task died with it) stops beating; polling says so (this one
    had used its last attempt, so it fails; with attempts left it is queued again: test_job_queue)."""
    import datetime as dt
    import uuid

    from sqlalchemy import insert

    from genmedia.jobs import records

    store = records.JobStore.from_config(api.cfg)
    orphan = uuid.uuid4().hex
    silent_since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=api.cfg.jobs.lost_after_s + 5)
    with store._engine.begin() as conn:  # noqa: SLF001 - running (never queued, so no dispatcher takes it), silent long ago
        conn.execute(
            insert(records._jobs).values(  # noqa: SLF001
                id=orphan,
                job="analyze",
                video="s3://media/orphan.mp4",
                params={},
                status="running",
                attempts=api.cfg.jobs.max_attempts,
                created_at=silent_since,
                updated_at=silent_since,
            )
        )
    with api.client() as c:
        view = c.get(f"/v1/jobs/{orphan}").json()
    assert view["status"] == "failed" and view["error"].startswith("job lost"), view


def test_sdk_over_http_uploads_waits_and_downloads(api: Api, tiny_clip: Path, tmp_path: Path) -> None:
    from genmedia import Client
    from genmedia.client import ApiError

    with Client(api.url, api_key=API_KEY, progress=False) as client:
        view = client.analyze(str(tiny_clip), embed="off")  # a local file is uploaded first
        assert view.status.value in ("done", "skipped") and view.result.video_id
        files = client.download(view, tmp_path)
        assert set(files) == set(view.files) and json.loads(files["shots.json"].read_text())
        assert client.job(view.id).id == view.id
    with Client(api.url, api_key="wrong") as bad, pytest.raises(ApiError, match="401"):
        bad.job(view.id)


def test_restarted_app_still_answers_for_old_jobs(api: Api) -> None:
    old = getattr(api, "old_job", None)
    assert old, "test_job_submit_poll_done_and_download must run first"
    with api.client() as c:
        before = c.get(f"/v1/jobs/{old}").json()
    serve.delete(APP_NAME)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{api.url}/healthz", timeout=5).raise_for_status()
    _deploy(api.cfg)
    wait_healthy(api.url)
    with api.client() as c:
        after = c.get(f"/v1/jobs/{old}")
        assert after.status_code == 200 and after.json() == before
        assert c.get(before["files"]["shots.json"]).status_code == 200
