"""run_job: outputs at deterministic keys, manifest last, skip when done, other input files in the hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from genmedia.pipelines.job import JobContext, JobOutcome, run_job
from genmedia.schemas import JobStatus

pytestmark = pytest.mark.ray


class _Params(BaseModel):
    music: str | None = None
    level: int = 1


def _work(calls: list[str]):  # noqa: ANN202
    def work(ctx: JobContext) -> JobOutcome:
        calls.append(ctx.output.params_hash)
        assert not ctx.output.is_done(), "the manifest is written after the work, never before"
        ctx.output.write_text("out.txt", f"frames={ctx.info.frame_count}")
        return JobOutcome("made out.txt", {"frames": ctx.info.frame_count})

    return work


def test_done_once_then_skipped_and_params_change_the_key(ray_session, sample_clip) -> None:  # noqa: ANN001
    calls: list[str] = []
    first = run_job(ray_session, str(sample_clip[0]), "unit", _Params(), _work(calls))
    assert first.status is JobStatus.done and first.files["out.txt"].endswith("/unit/" + first.params_hash + "/out.txt")
    manifest = json.loads(Path(first.output_uri, "manifest.json").read_text())
    assert [f["name"] for f in manifest["files"]] == ["out.txt"] and manifest["summary"] == "made out.txt"
    again = run_job(ray_session, str(sample_clip[0]), "unit", _Params(), _work(calls))
    assert again.status is JobStatus.skipped and again.files == first.files and len(calls) == 1
    other = run_job(ray_session, str(sample_clip[0]), "unit", _Params(level=2), _work(calls))
    assert other.status is JobStatus.done and other.params_hash != first.params_hash


def test_a_changed_input_file_at_the_same_path_is_a_new_job(ray_session, sample_clip, tmp_path: Path) -> None:  # noqa: ANN001
    music = tmp_path / "track.flac"
    music.write_bytes(b"first version")
    calls: list[str] = []
    params = _Params(music=str(music))
    first = run_job(
        ray_session, str(sample_clip[0]), "unit-files", params, _work(calls), input_files={"music": str(music)}
    )
    same = run_job(
        ray_session, str(sample_clip[0]), "unit-files", params, _work(calls), input_files={"music": str(music)}
    )
    assert same.status is JobStatus.skipped
    music.write_bytes(b"second version")
    changed = run_job(
        ray_session, str(sample_clip[0]), "unit-files", params, _work(calls), input_files={"music": str(music)}
    )
    assert changed.status is JobStatus.done and changed.params_hash != first.params_hash and len(calls) == 2


def test_a_job_on_an_s3_input_tells_its_workers_where_the_input_came_from(
    ray_session, sample_clip, s3_server: str, s3_bucket: str
) -> None:  # noqa: ANN001
    import boto3

    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").upload_file(
        str(sample_clip[0]), s3_bucket, "in/origin.mp4"
    )
    cfg = ray_session.model_copy(
        update={"storage": ray_session.storage.model_copy(update={"s3_endpoint_url": s3_server})}
    )
    seen = []

    def work(ctx: JobContext) -> JobOutcome:
        seen.append(ctx.info.origin)
        return JobOutcome("nothing", {})

    run_job(cfg, f"s3://{s3_bucket}/in/origin.mp4", "unit-origin", _Params(), work)
    run_job(cfg, str(sample_clip[0]), "unit-origin", _Params(level=3), work)
    assert seen[0].uri == f"s3://{s3_bucket}/in/origin.mp4" and seen[0].storage.s3_endpoint_url == s3_server
    assert seen[1] is None, "a local input is read where it is"
