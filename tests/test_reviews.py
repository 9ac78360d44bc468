"""The review queue: the store, decisions that publish or hold back outputs, the HTTP routes, the SDK and the
CLI, and a real job whose output fails the QA gate end to end."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serve_fixtures import make_tiny_clip
from typer.testing import CliRunner

from genmedia.config import Config
from genmedia.errors import InputError
from genmedia.jobs.records import JobStore, ReviewDecided, ReviewState
from genmedia.jobs.reviews import UnknownReview, decide, gate, manifest_fields
from genmedia.schemas import JobResult, JobStatus, QaCheck, QaVerdict
from genmedia.storage import JobOutput

KEY = "review-key"


def _cfg(tmp_path: Path, **overrides: object) -> Config:
    return Config().model_copy(
        update={
            "storage": Config().storage.model_copy(
                update={"root": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache")}
            ),
            "jobs": Config().jobs.model_copy(update={"store_url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"}),
            **overrides,
        }
    )


def _api(cfg: Config) -> TestClient:
    """The HTTP API over ``cfg``'s job store, with an accepted key on every request."""
    from genmedia.serving.ingress import ApiState, create_api

    state = ApiState(cfg=cfg, key_digests=[hashlib.sha256(KEY.encode()).hexdigest()], store=JobStore.from_config(cfg))
    client = TestClient(create_api(state))
    client.headers["Authorization"] = f"Bearer {KEY}"
    return client


FAILED = QaVerdict(verdict="fail", checks=[QaCheck(name="sharp", passed=False, output="v1/16x9.jpg", reason="blurred")])


def _finished_output(cfg: Config, params_hash: str) -> JobResult:
    """A finished job's outputs that failed QA, gated as run_job gates them: (review queued, manifest unpublished)."""
    out = JobOutput(cfg.storage.root, "ab" * 8, "thumbnails", params_hash, cfg.storage)
    out.write_text("v1/16x9.jpg", "pixels")
    result = JobResult(
        job="thumbnails",
        input=str(Path(cfg.storage.root) / "uploads" / ("c" * 32) / "movie.mp4"),
        status=JobStatus.done,
        video_id=out.video_id,
        params_hash=params_hash,
        output_uri=out.prefix,
    )
    verdict = gate(cfg, result, FAILED)
    out.write_manifest({"summary": "x", **manifest_fields(verdict)})
    return result.model_copy(update={"qa": verdict, "published": False})


def _manifest(cfg: Config, result: JobResult) -> dict:
    return JobOutput(cfg.storage.root, result.video_id, result.job, result.params_hash, cfg.storage).read_manifest()


@pytest.mark.unit
def test_failed_outputs_wait_unpublished_until_a_decision(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    store = JobStore.from_config(cfg)
    result = _finished_output(cfg, "p" * 16)
    review_id = result.qa.review
    manifest = _manifest(cfg, result)
    assert manifest["published"] is False and manifest["review"] == {"id": review_id, "state": "pending"}
    assert manifest["qa"]["verdict"] == "fail"
    assert gate(cfg, result, FAILED).review == review_id  # a forced re-run updates the pending review
    assert [r.id for r in store.list_reviews(state=ReviewState.pending)] == [review_id]

    job = store.create_finished("thumbnails", result.input, {}, result)
    assert store.get(job.id).result.published is False
    approved = decide(cfg, store, review_id, "approve", "blur is the film's look")
    assert store.get(job.id).result.published is True and store.list()[0].result.published is True
    manifest = _manifest(cfg, result)
    assert approved.state is ReviewState.approved and manifest["published"] is True
    assert manifest["review"]["state"] == "approved" and manifest["review"]["reason"] == "blur is the film's look"
    with pytest.raises(ReviewDecided, match="already approved .blur is the film's look.; a decision is final"):
        decide(cfg, store, review_id, "reject", "changed my mind")
    assert _manifest(cfg, result)["published"] is True and store.list_reviews(state=ReviewState.pending) == []

    with pytest.raises(UnknownReview, match="no such review"):
        decide(cfg, store, "0" * 32, "approve", "x")
    with pytest.raises(InputError, match="decision: must be one of approve, reject"):
        decide(cfg, store, review_id, "maybe", "x")


@pytest.mark.unit
def test_passing_or_unchecked_outputs_are_published_without_review(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    passed = QaVerdict(verdict="pass", checks=[QaCheck(name="sharp", passed=True)])
    result = JobResult(job="trailer", input="x.mp4", status=JobStatus.done, output_uri=str(tmp_path / "o"))
    assert gate(cfg, result, passed) == passed and gate(cfg, result, None) is None
    assert manifest_fields(passed)["published"] is True and manifest_fields(None) == {
        "qa": None,
        "published": True,
        "review": None,
    }
    assert JobStore.from_config(cfg).list_reviews() == []


@pytest.mark.unit
def test_checks_that_cannot_run_fail_and_a_disabled_gate_checks_nothing(tmp_path: Path) -> None:
    from genmedia.jobs.reviews import check_outputs
    from genmedia.media.probe import MediaInfo
    from genmedia.qa import QaInput

    cfg = _cfg(tmp_path)
    out = JobOutput(cfg.storage.root, "ef" * 8, "thumbnails", "q" * 16, cfg.storage)
    out.write_text("v1/16x9.jpg", "not a picture")
    doc = {"variants": [{"id": "v1", "published": True, "aspects": {"16:9": {"file": "v1/16x9.jpg"}}}]}
    out.write_json("thumbnails.json", doc)
    qa = QaInput(
        cfg,
        "thumbnails",
        tmp_path / "in.mp4",
        MediaInfo(path="in.mp4", container="mp4", size_bytes=1, duration=10.0, has_video=True),
        out,
    )
    verdict = check_outputs(qa)
    assert verdict.verdict == "fail" and [c.name for c in verdict.checks] == ["checks_ran"]
    assert verdict.checks[0].reason == "ValueError: v1/16x9.jpg: not a decodable image"
    off = cfg.model_copy(update={"qa": cfg.qa.model_copy(update={"enabled": False})})
    assert check_outputs(QaInput(off, "thumbnails", qa.source, qa.info, out)) is None
    assert check_outputs(QaInput(cfg, "analyze", qa.source, qa.info, out)).model_dump() == {
        "verdict": "pass",
        "checks": [],
        "review": None,
    }


@pytest.mark.unit
def test_review_routes_list_decide_and_refuse_bad_input(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    first, second = _finished_output(cfg, "a" * 16), _finished_output(cfg, "b" * 16)
    api = _api(cfg)
    listed = api.get("/v1/reviews", params={"state": "pending"}).json()
    assert [r["id"] for r in listed] == [first.qa.review, second.qa.review]
    assert listed[0]["input"] == f"upload:{'c' * 32}" and "output_uri" not in listed[0]  # no server paths
    assert listed[0]["verdict"]["checks"][0]["reason"] == "blurred"

    done = api.post(f"/v1/reviews/{first.qa.review}", json={"decision": "approve", "reason": "fine"})
    assert done.status_code == 200 and done.json()["state"] == "approved"
    assert _manifest(cfg, first)["published"] is True
    assert [r["id"] for r in api.get("/v1/reviews", params={"state": "approved"}).json()] == [first.qa.review]
    assert api.get(f"/v1/reviews/{second.qa.review}").json()["state"] == "pending"
    again = api.post(f"/v1/reviews/{first.qa.review}", json={"decision": "reject", "reason": "no"})
    assert again.status_code == 409 and "already approved (fine)" in again.json()["detail"]

    unknown = api.post(f"/v1/reviews/{'0' * 32}", json={"decision": "approve", "reason": "x"})
    assert unknown.status_code == 404 and unknown.json()["detail"] == f"no review {'0' * 32}"
    assert api.post("/v1/reviews/not-an-id", json={"decision": "approve", "reason": "x"}).status_code == 404
    bad = api.post(f"/v1/reviews/{second.qa.review}", json={"decision": "publish", "reason": "x"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "decision"]
    no_reason = api.post(f"/v1/reviews/{second.qa.review}", json={"decision": "reject"})
    assert no_reason.status_code == 422 and no_reason.json()["detail"][0]["loc"] == ["body", "reason"]
    assert api.get("/v1/reviews", params={"state": "maybe"}).status_code == 422
    surrogate = b'{"decision": "reject", "reason": "\\ud800"}'
    refused = api.post(
        f"/v1/reviews/{second.qa.review}", content=surrogate, headers={"Content-Type": "application/json"}
    )
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "reason"]
    assert api.get("/v1/reviews", headers={"Authorization": ""}).status_code == 401
    assert _manifest(cfg, second)["published"] is False


@pytest.mark.ray
@pytest.mark.slow
def test_a_failed_job_is_reviewed_then_approved_by_sdk_and_rejected_by_cli(ray_session, tmp_path: Path) -> None:  # noqa: ANN001
    """Slow (about 30 s): real thumbnails jobs on a tiny clip, whose pictures fail an impossible sharpness bound."""
    from genmedia.abtest.service import ABTestService
    from genmedia.cli import app
    from genmedia.client import Client
    from genmedia.pipelines import thumbnails

    strict = ray_session.qa.model_copy(update={"blur_min_laplacian_var": 1e9})
    cfg = _cfg(tmp_path, qa=strict, ray=ray_session.ray)
    clip = make_tiny_clip(tmp_path / "review.mp4", seed=11)

    def run(size: int) -> JobResult:
        params = thumbnails.Params(variants=2, aspects=["16:9"], size=size, formats=["jpeg"], same_shot=True)
        return thumbnails.run(cfg, str(clip), params)

    first = run(200)
    assert first.status is JobStatus.done and first.published is False and first.qa.verdict == "fail"
    assert {c.name for c in first.qa.failures} == {"sharp"} and first.qa.review
    assert _manifest(cfg, first)["published"] is False
    ab = ABTestService.from_config(cfg)
    assert ab.store.current(first.video_id) is None  # not served: no A/B experiment before a decision

    api = _api(cfg)
    pending = api.get("/v1/reviews", params={"state": "pending"}).json()
    assert [(r["id"], r["job"], r["video_id"]) for r in pending] == [(first.qa.review, "thumbnails", first.video_id)]

    sdk = Client("http://testserver", api_key=KEY, progress=False)
    sdk._backend.http = api  # the API in-process, through the SDK's own request code
    job = JobStore.from_config(cfg).create_finished("thumbnails", str(clip), {}, first)
    assert api.get(f"/v1/jobs/{job.id}").json()["result"]["published"] is False
    approved = sdk.approve(first.qa.review, "soft focus is intended")
    assert approved.state is ReviewState.approved and _manifest(cfg, first)["published"] is True
    assert sdk.job(job.id).result.published is True  # the job's record follows its review
    served = ab.experiment(first.video_id)  # published: the variants are in the video's experiment
    assert served.status == "active" and sorted(served.images) == ["v1", "v2"]
    assert all(urls["16:9"].startswith(first.output_uri) for urls in served.images.values())
    again = run(200)  # answered from the manifest: published now
    assert again.status is JobStatus.skipped and again.published is True and again.qa.verdict == "fail"

    second = run(208)
    assert second.qa.review not in (None, first.qa.review)
    config = tmp_path / "genmedia.yaml"
    config.write_text(json.dumps(json.loads(cfg.model_dump_json(include={"storage", "jobs"}))))
    runner = CliRunner()
    rejected = runner.invoke(
        app, ["review", "reject", second.qa.review, "--reason", "too soft", "--config", str(config)]
    )
    assert rejected.exit_code == 0, rejected.output
    assert f"{second.qa.review} rejected: thumbnails outputs not published" in rejected.output
    assert _manifest(cfg, second)["published"] is False
    assert ab.experiment(first.video_id) == served  # the rejected outputs never reach the experiment
    ab.store.close()
    listed = runner.invoke(app, ["review", "list", "--config", str(config), "--json"])
    assert {r["id"]: r["state"] for r in json.loads(listed.output)} == {
        first.qa.review: "approved",
        second.qa.review: "rejected",
    }
