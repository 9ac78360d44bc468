"""Run one job on one input: stage, probe, skip if done, do the work, write the manifest last.

Every job (CLI, SDK, Serve, backfill) goes through :func:`run_job`, so outputs land at
``{root}/{video_id}/{job}/{params_hash}/`` and a re-run of a finished job is skipped, never duplicated.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from genmedia.config import Config
from genmedia.jobs.reviews import check_outputs, gate, manifest_fields
from genmedia.media.origin import origin_of
from genmedia.media.probe import MediaInfo, probe
from genmedia.models.lineage import hash_part, identify
from genmedia.pipelines.published import on_published, on_withdrawn
from genmedia.progress import ProgressFn, no_progress
from genmedia.qa import QaInput
from genmedia.runtime import init_ray
from genmedia.schemas import JobResult, JobStatus
from genmedia.storage import JobOutput, params_hash, stage_input, video_id


@dataclass
class JobContext:
    """What a job's work function gets: the config, the staged input, its metadata and its output."""

    cfg: Config
    source: str
    path: Path
    info: MediaInfo
    output: JobOutput
    progress: ProgressFn = no_progress
    warnings: list[str] = field(default_factory=list)


@dataclass
class JobOutcome:
    """What a job's work function returns: a one-line summary and JSON-able details for the manifest."""

    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def run_job(
    cfg: Config,
    source: str,
    job: str,
    params: BaseModel,
    work: Callable[[JobContext], JobOutcome],
    *,
    require_video: bool = True,
    force: bool = False,
    progress: ProgressFn = no_progress,
    input_files: Mapping[str, str] | None = None,
    models: Sequence[str] = (),
    check: Callable[[MediaInfo], object] | None = None,
    needs_ray: Callable[[MediaInfo], bool] | None = None,
) -> JobResult:
    """Run ``work`` on ``source`` unless its outputs for these ``params`` already exist.

    ``input_files`` names the other files the job reads (a music track, a grading reference): parameter
    name -> path or URI. Their content hashes join the params hash, so a changed file at the same path
    makes a new job instead of being skipped. ``models`` names the config's model keys the job uses: they
    are resolved here, before any work (:func:`genmedia.models.lineage.identify`), their registered
    versions and file digests join the params hash and are recorded in the manifest and the result, and
    ``work`` gets a config pinned to exactly those versions. ``check`` gets the probed input before
    anything else is done (hashing, Ray): a job refuses an impossible request there, on the one probe.
    ``needs_ray`` says from the probed input whether ``work`` uses Ray (default: it does); Ray is started
    (:func:`~genmedia.runtime.init_ray`) only then, so work done in this process pays none of Ray's start-up.
    Input errors (InputError) propagate to the caller; the manifest is written only after ``work`` succeeds and
    the QA gate (:mod:`genmedia.qa`) has checked the outputs: its verdict is in the result and the manifest, and
    outputs that fail it are queued for review (:mod:`genmedia.jobs.reviews`) and not published until approved.
    """
    started = time.perf_counter()
    progress("probe", 0, 1)
    path = stage_input(source, cfg.storage)
    info = probe(path, cfg.limits, require_video=require_video).model_copy(
        update={"origin": origin_of(source, cfg.storage)}
    )
    progress("probe", 1, 1)
    if check is not None:
        check(info)
    param_values = params.model_dump(mode="json")
    hashed = dict(param_values)
    if input_files:
        hashed["input_files"] = {
            name: video_id(stage_input(uri, cfg.storage)) for name, uri in sorted(input_files.items())
        }
    cfg, used = identify(cfg, models)
    if used:
        hashed["models"] = hash_part(used)
    output = JobOutput(cfg.storage.root, video_id(path), job, params_hash(hashed), cfg.storage)
    base = {
        "job": job,
        "input": source,
        "video_id": output.video_id,
        "params_hash": output.params_hash,
        "output_uri": output.prefix,
    }
    if output.is_done() and not force:
        manifest = output.read_manifest()
        return JobResult(
            **base,
            status=JobStatus.skipped,
            files={f["name"]: output.uri(f["name"]) for f in manifest["files"]},
            summary=manifest.get("summary", ""),
            details=manifest.get("details", {}),
            models=manifest.get("models", []),
            qa=manifest.get("qa"),
            published=manifest.get("published", True),
        )
    if needs_ray is None or needs_ray(info):
        init_ray(cfg)
    ctx = JobContext(cfg=cfg, source=source, path=path, info=info, output=output, progress=progress)
    outcome = work(ctx)
    progress("qa", 0, 1)
    verdict = check_outputs(QaInput(cfg, job, path, info, output, param_values, outcome.details))
    result = JobResult(
        **base,
        status=JobStatus.done,
        files={name: output.uri(name) for name in output.files},
        summary=outcome.summary,
        details=outcome.details,
        warnings=ctx.warnings,
        models=used,
    )
    verdict = gate(cfg, result, verdict)  # failed outputs wait for a reviewer, unpublished
    progress("qa", 1, 1)
    output.write_manifest(
        {
            "input": source,
            "params": param_values,
            "summary": outcome.summary,
            "details": outcome.details,
            "warnings": ctx.warnings,
            "models": [u.model_dump(mode="json") for u in used],
            **manifest_fields(verdict),
        }
    )
    # e.g. the thumbnails' A/B experiment; outputs that failed QA are not served (a forced re-run's old ones end)
    (on_published if manifest_fields(verdict)["published"] else on_withdrawn)(cfg, job, output)
    return result.model_copy(
        update={
            "qa": verdict,
            "published": manifest_fields(verdict)["published"],
            "elapsed_s": round(time.perf_counter() - started, 3),
        }
    )
