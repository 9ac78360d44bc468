"""Publishing a job's outputs: the thumbnails' A/B experiment follows the QA gate and the reviewer's decisions
(approved variants are served, rejected ones stop being served, unpublished ones never start)."""

from __future__ import annotations

from pathlib import Path

import pytest

from genmedia.abtest.service import ABTestService
from genmedia.config import load_config
from genmedia.jobs.records import JobStore, ReviewState
from genmedia.jobs.reviews import decide, gate, manifest_fields
from genmedia.pipelines.published import on_published, on_withdrawn
from genmedia.schemas import JobResult, JobStatus, QaCheck, QaVerdict
from genmedia.storage import JobOutput

pytestmark = pytest.mark.unit

FAILED = QaVerdict(verdict="fail", checks=[QaCheck(name="sharp", passed=False, output="v1/1x1.jpg", reason="blurred")])


def _thumbnails_output(root: Path, cfg, params_hash: str) -> tuple[JobOutput, JobResult]:  # noqa: ANN001
    """A finished thumbnails output with two published variants at 1:1 that failed QA (gated as run_job does)."""
    out = JobOutput(cfg.storage.root, "cd" * 8, "thumbnails", params_hash, cfg.storage)
    variants = []
    for vid in ("v1", "v2"):
        out.write_bytes(f"{vid}/1x1.jpg", b"jpeg")
        variants.append({"id": vid, "published": True, "aspects": {"1:1": {"file": f"{vid}/1x1.jpg"}}})
    out.write_json("thumbnails.json", {"video_id": out.video_id, "variants": variants})
    result = JobResult(
        job="thumbnails",
        input=str(root / "movie.mp4"),
        status=JobStatus.done,
        video_id=out.video_id,
        params_hash=params_hash,
        output_uri=out.prefix,
    )
    out.write_manifest({"summary": "2 variants", **manifest_fields(gate(cfg, result, FAILED))})
    return out, result


def test_the_ab_experiment_follows_the_review_decisions(tmp_path: Path) -> None:
    cfg = load_config(
        None,
        storage={"root": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache")},
        jobs={"store_url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
    )
    store, service = JobStore.from_config(cfg), ABTestService.from_config(cfg)
    out, result = _thumbnails_output(tmp_path, cfg, "e" * 16)
    [review] = store.list_reviews()
    assert service.store.current(out.video_id) is None  # failed QA: nothing is served until a reviewer approves
    decide(cfg, store, review.id, "approve", "the blur is intended")
    info = service.experiment(out.video_id)
    assert info.status == "active" and info.images == {v: {"1:1": f"{out.prefix}/{v}/1x1.jpg"} for v in ("v1", "v2")}
    assert Path(service.choose(out.video_id, aspect="1:1").image_url).is_file()
    on_published(cfg, "thumbnails", out)  # publishing the same outputs again changes nothing
    assert service.experiment(out.video_id) == info
    # A forced re-run rewrites the files and fails QA again: run_job withdraws them at once ...
    gate(cfg, result, FAILED)
    on_withdrawn(cfg, "thumbnails", out)
    assert service.experiment(out.video_id).status == "replaced"
    [again] = store.list_reviews(state=ReviewState.pending)
    decide(cfg, store, again.id, "approve", "still intended")  # ... and an approval starts a new experiment
    renewed = service.experiment(out.video_id)
    assert renewed.id != info.id and renewed.status == "active" and renewed.images == info.images
    # A rejection ends the experiment showing the output; jobs without a publishing step are left alone.
    gate(cfg, result, FAILED)
    [third] = store.list_reviews(state=ReviewState.pending)
    decide(cfg, store, third.id, "reject", "too blurred after all")
    assert service.experiment(out.video_id).status == "replaced"
    on_published(cfg, "trailer", out)
    assert service.experiment(out.video_id).status == "replaced"
    service.store.close()
