"""A backfill as production runs it: ``ray job submit`` to a Ray head this test starts (token auth on),
over inputs in the loopback S3 server; stopped half-way, submitted again, every video processed once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml
from serve_fixtures import free_port, make_tiny_clip

from genmedia.config import load_config
from genmedia.jobs.backfill import list_inputs, run_id_for
from genmedia.jobs.records import JobState, JobStore

pytestmark = [pytest.mark.ray, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RAY = str(BIN / "ray")


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    # Ray 2.60 starts heads with token auth; clients send the token only with RAY_AUTH_MODE=token.
    env = {**os.environ, "RAY_AUTH_MODE": "token", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    return {**env, **(extra or {})}


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory, s3_server: str) -> Iterator[str]:
    """A Ray head (2 CPUs) on loopback with its own ports; yields the dashboard (job API) address."""
    ports = {
        name: free_port()
        for name in (
            "port",
            "dashboard-port",
            "ray-client-server-port",
            "node-manager-port",
            "object-manager-port",
            "metrics-export-port",
            "dashboard-agent-listen-port",
            "dashboard-agent-grpc-port",
            "runtime-env-agent-port",
        )
    }
    args = [
        RAY,
        "start",
        "--head",
        "--block",
        "--num-cpus=2",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        "--include-dashboard=true",
        "--min-worker-port=0",
        "--max-worker-port=0",
        *(f"--{name}={port}" for name, port in ports.items()),
    ]
    log = (tmp_path_factory.mktemp("ray-head") / "head.log").open("w")
    # The test's own process group: at the end we stop exactly the processes we started (never `ray stop`,
    # which would stop every Ray on this shared machine).
    head = subprocess.Popen(args, env=_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"http://127.0.0.1:{ports['dashboard-port']}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            probe = subprocess.run(
                [RAY, "job", "list", "--address", address], env=_env(), capture_output=True, text=True
            )
            if probe.returncode == 0:
                break
            assert head.poll() is None, f"ray start exited with {head.returncode}"
            time.sleep(2)
        else:
            raise TimeoutError("the Ray head's job API did not come up")
        yield address
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        log.close()


STOPPER = """
import sys, time
from ray.job_submission import JobSubmissionClient
client = JobSubmissionClient(sys.argv[1])
sys.stdin.readline()
client.stop_job(sys.argv[2])
while not client.get_job_status(sys.argv[2]).is_terminal():
    time.sleep(0.2)
print(client.get_job_status(sys.argv[2]).value)
"""


def _submit(address: str, submission_id: str, args: list[str], *, wait: bool) -> subprocess.CompletedProcess[str]:
    creds = {
        k: os.environ[k]
        for k in (
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_DEFAULT_REGION",
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "NO_PROXY",
        )
    }
    runtime_env = {"env_vars": {**creds, "HF_HUB_OFFLINE": "1", "YOLO_OFFLINE": "1"}}
    cmd = [
        RAY,
        "job",
        "submit",
        "--address",
        address,
        "--submission-id",
        submission_id,
        "--working-dir",
        str(REPO),
        "--runtime-env-json",
        json.dumps(runtime_env),
        *([] if wait else ["--no-wait"]),
        "--",
        "python",
        "-m",
        "genmedia.jobs.backfill",
        *args,
    ]
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=540, cwd=REPO)


def _job_status(address: str, submission_id: str) -> str:
    out = subprocess.run(
        [RAY, "job", "status", "--address", address, submission_id], env=_env(), capture_output=True, text=True
    )
    for status in ("SUCCEEDED", "FAILED", "STOPPED", "RUNNING", "PENDING"):
        if status in out.stdout.upper():
            return status
    return out.stdout + out.stderr


def _job_logs(address: str, submission_id: str) -> str:
    out = subprocess.run(
        [RAY, "job", "logs", "--address", address, submission_id], env=_env(), capture_output=True, text=True
    )
    return out.stdout[-4000:] + out.stderr[-2000:]


def _manifests(s3, bucket: str) -> dict[str, str]:  # noqa: ANN001
    """Output manifest key -> its ETag."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="out/"):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith("/manifest.json"):
                found[obj["Key"]] = obj["ETag"] + str(obj["LastModified"])
    return found


def test_backfill_with_ray_job_submit_stop_and_resume(
    ray_head: str, s3_server: str, s3_bucket: str, tmp_path: Path
) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    good = []
    for seed in range(1, 5):
        clip = make_tiny_clip(tmp_path / f"clip{seed}.mp4", seed=seed)
        s3.upload_file(str(clip), s3_bucket, f"in/clip{seed}.mp4")
        good.append(f"s3://{s3_bucket}/in/clip{seed}.mp4")
    s3.put_object(Bucket=s3_bucket, Key="in/broken.mp4", Body=clip.read_bytes()[:6000])
    s3.put_object(Bucket=s3_bucket, Key="in/notes.txt", Body=b"not a video, not listed")
    bad = f"s3://{s3_bucket}/in/broken.mp4"
    config = tmp_path / "backfill.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "storage": {
                    "root": f"s3://{s3_bucket}/out",
                    "cache_dir": str(tmp_path / "cache"),
                    "s3_endpoint_url": s3_server,
                },
                "ray": {"address": "auto"},
                "jobs": {"max_retries": 1},
            }
        )
    )
    args = [
        "--config",
        str(config),
        "--input",
        f"s3://{s3_bucket}/in/",
        "--tasks",
        "analyze",
        "--params",
        json.dumps({"analyze": {"embed": "off", "sample_fps": 6}}),
        "--concurrency",
        "1",
    ]

    # Run 1: stop it once the first video is done. The stop goes through the job API from a client started
    # beforehand (what `ray job stop` does; the CLI alone takes seconds to start on a busy machine).
    stopper = subprocess.Popen(
        [sys.executable, "-c", STOPPER, ray_head, "backfill-run-1"],
        env=_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = _submit(ray_head, "backfill-run-1", args, wait=False)
    assert first.returncode == 0, first.stderr
    (tmp_path / "cache").mkdir()
    store = JobStore(f"sqlite:///{tmp_path / 'cache' / 'jobs.sqlite'}")
    deadline = time.monotonic() + 300
    while not store.list(status=JobState.done):
        assert time.monotonic() < deadline, _job_logs(ray_head, "backfill-run-1")
        time.sleep(0.2)
    stopper.stdin.write("stop\n")
    stopper.stdin.flush()
    out, errs = stopper.communicate(timeout=120)
    assert stopper.returncode == 0 and out.strip() == "STOPPED", out + errs
    after_stop = {r.video: r.status for r in store.list()}
    done_in_run_1 = {v for v, s in after_stop.items() if s is JobState.done}
    assert done_in_run_1 and len(done_in_run_1) < len(good), after_stop
    manifests_1 = _manifests(s3, s3_bucket)
    assert len(manifests_1) >= len(done_in_run_1)

    # Run 2: the same command resumes the same run.
    second = _submit(ray_head, "backfill-run-2", args, wait=True)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert _job_status(ray_head, "backfill-run-2") == "SUCCEEDED"

    records = store.list()
    assert sorted(r.video for r in records) == sorted(good + [bad])  # one record per (video, task), never two
    by_video = {r.video: r for r in records}
    for uri in good:
        assert by_video[uri].status is JobState.done, (by_video[uri].error, second.stdout[-4000:])
    assert by_video[bad].status is JobState.failed and "broken.mp4" in by_video[bad].error
    # Exactly once: one manifest per good video, and run 1's manifests were not rewritten by run 2.
    manifests_2 = _manifests(s3, s3_bucket)
    assert len(manifests_2) == len(good)
    assert {k: v for k, v in manifests_2.items() if k in manifests_1} == manifests_1
    assert len({r.result.video_id for r in records if r.result}) == len(good)

    run_id = records[0].batch
    report = json.loads(s3.get_object(Bucket=s3_bucket, Key=f"out/backfills/{run_id}/report.json")["Body"].read())
    assert report["counts"] == {"done": len(good), "skipped": 0, "failed": 1, "cancelled": 0}
    failed = [i for i in report["items"] if i["status"] == "failed"]
    assert failed[0]["video"] == bad and failed[0]["reason"]
    page = s3.get_object(Bucket=s3_bucket, Key=f"out/backfills/{run_id}/report.html")["Body"].read().decode()
    assert "broken.mp4" in page and f"{len(good)} done" in page
    assert f"{len(done_in_run_1)} already finished" in second.stdout, second.stdout[-3000:]


def test_list_inputs_from_a_manifest_file_and_a_directory(tmp_path: Path) -> None:
    cfg = load_config(None)
    (tmp_path / "videos").mkdir()
    for name in ("b.mp4", "a.MOV", "readme.txt"):
        (tmp_path / "videos" / name).write_bytes(b"x")
    assert [Path(p).name for p in list_inputs(str(tmp_path / "videos"), cfg)] == ["a.MOV", "b.mp4"]
    manifest = tmp_path / "list.txt"
    manifest.write_text("# inputs\ns3://b/one.mp4\n\ns3://b/two.mp4\ns3://b/one.mp4\n")
    assert list_inputs(str(manifest), cfg) == ["s3://b/one.mp4", "s3://b/two.mp4"]
    (tmp_path / "list.json").write_text(json.dumps(["s3://b/x.mp4"]))
    assert list_inputs(str(tmp_path / "list.json"), cfg) == ["s3://b/x.mp4"]
    assert run_id_for("s3://b/", ["analyze"], {}) == run_id_for("s3://b/", ["analyze"], {})
    assert run_id_for("s3://b/", ["analyze"], {}) != run_id_for("s3://c/", ["analyze"], {})
