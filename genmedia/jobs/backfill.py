"""Batch backfills: the entrypoint for ``ray job submit``.

    ray job submit --working-dir . -- python -m genmedia.jobs.backfill \\
        --config configs/aws-gpu.yaml --input s3://bucket/videos/ --tasks thumbnails,subtitles

Lists the inputs (every video under a prefix or directory, or the URIs in a manifest file), records one
job per (video, task) in the job store under a run id, and streams them through the pipelines with Ray
Data: one task per item, a bounded number at a time, each retried at most ``jobs.max_retries`` times if its
worker dies. A job whose outputs' manifest exists is skipped; a bad video fails alone with its reason.
Submitting the same command again resumes the same run (the run id is a hash of input, tasks and params):
items already done are not touched, the rest run. At the end a report lands in
``{storage.root}/backfills/{run_id}/report.json`` and ``report.html``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import html
import json
import sys
import time
from collections import Counter
from pathlib import PurePosixPath
from typing import Any

import ray
from pydantic import BaseModel, Field

from genmedia.config import Config, load_config
from genmedia.errors import GenmediaError, InputError
from genmedia.jobs.queue import BACKFILL_PRIORITY, parse_priority
from genmedia.jobs.records import JobRecord, JobState, JobStore
from genmedia.pipelines.registry import get_job
from genmedia.runtime import init_ray
from genmedia.storage import filesystem, is_s3, join_uri

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mxf", ".ts", ".mts", ".mpg", ".mpeg", ".flv", ".wmv"}
)
"""What counts as a video when listing a prefix or directory."""


class ItemReport(BaseModel):
    """One (video, task) of a run."""

    video: str
    task: str
    job_id: str
    status: JobState
    reason: str | None = None
    output_uri: str | None = None
    elapsed_s: float = 0.0


class RunReport(BaseModel):
    """The outcome of a backfill run."""

    run_id: str
    input: str
    tasks: list[str]
    started_at: str
    finished_at: str
    counts: dict[str, int]
    items: list[ItemReport] = Field(default_factory=list)
    report_uri: str | None = None


# ----------------------------------------------------------------------------------- inputs


def list_inputs(source: str, cfg: Config) -> list[str]:
    """The video URIs of ``source``: every video file under a prefix/directory (sorted), or a manifest's lines.

    A manifest is a text file with one URI per line (blank lines and ``#`` comments ignored) or a JSON list.
    """
    fs, path = filesystem(source, cfg.storage)
    if source.endswith("/") or fs.isdir(path):
        found = sorted(p for p in fs.find(path) if PurePosixPath(p).suffix.lower() in VIDEO_EXTENSIONS)
        if not found:
            raise InputError(source, "holds no video files")
        return [f"s3://{p}" if is_s3(source) else p for p in found]
    try:
        text = fs.cat_file(path).decode("utf-8")
    except FileNotFoundError:
        raise InputError(source, "does not exist") from None
    except UnicodeDecodeError:
        raise InputError(source, "is neither a prefix nor a text manifest of URIs") from None
    if text.lstrip().startswith("["):
        uris = [str(u) for u in json.loads(text)]
    else:
        uris = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not uris:
        raise InputError(source, "manifest lists no inputs")
    return list(dict.fromkeys(uris))


def run_id_for(source: str, tasks: list[str], params: dict[str, dict[str, Any]]) -> str:
    """A stable id of a backfill: the same input, tasks and params resume the same run."""
    text = json.dumps({"input": source, "tasks": tasks, "params": params}, sort_keys=True)
    return "bf-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


# ------------------------------------------------------------------------------------- work


def _process(row: dict[str, Any], cfg: Config, store_url: str) -> dict[str, Any]:
    """Ray Data task: run one recorded job (errors are recorded, never raised)."""
    from genmedia.jobs.runner import execute

    ray.data.DataContext.get_current().enable_progress_bars = False  # the driver prints one line per video
    record = execute(cfg, JobStore(store_url), row["job_id"])
    return {"job_id": record.id}


def _prepare(
    store: JobStore,
    run_id: str,
    videos: list[str],
    tasks: list[str],
    params: dict[str, dict[str, Any]],
    priority: int = BACKFILL_PRIORITY,
) -> tuple[list[JobRecord], list[str]]:
    """This run's records (created or resumed) and the ids that still need work."""
    existing = {(r.video, r.job): r for r in store.list(batch=run_id, limit=10**9)}
    records, todo = [], []
    for video in videos:
        for task in tasks:
            record = existing.get((video, task))
            if record is None:
                record = store.create(task, video, params[task], batch=run_id, priority=priority)
            elif record.status in (JobState.done, JobState.skipped, JobState.cancelled):
                records.append(record)
                continue
            else:
                store.retry(record.id)
            records.append(record)
            todo.append(record.id)
    return records, todo


def run_backfill(
    cfg: Config,
    source: str,
    tasks: list[str],
    *,
    params: dict[str, dict[str, Any]] | None = None,
    concurrency: int = 2,
    run_id: str | None = None,
    priority: int = BACKFILL_PRIORITY,
    echo: Any = print,
) -> RunReport:
    """Run ``tasks`` over every video of ``source``; returns (and writes) the run report. ``priority`` is recorded
    on the run's records (low by default: beside the HTTP queue's jobs a backfill is background work)."""
    started = _dt.datetime.now(_dt.UTC)
    specs = {task: get_job(task) for task in tasks}
    params = {task: specs[task].parse_params((params or {}).get(task)).model_dump(mode="json") for task in tasks}
    videos = list_inputs(source, cfg)
    run_id = run_id or run_id_for(source, tasks, params)
    store = JobStore.from_config(cfg)
    records, todo = _prepare(store, run_id, videos, tasks, params, priority)
    echo(
        f"backfill {run_id}: {len(videos)} videos x {len(tasks)} tasks = {len(records)} items, "
        f"{len(records) - len(todo)} already finished, {len(todo)} to run"
    )
    if todo:
        _execute(cfg, store, todo, concurrency, echo)
    report = _report(cfg, store, run_id, source, tasks, started)
    echo(
        f"backfill {run_id}: "
        + ", ".join(f"{n} {s}" for s, n in report.counts.items() if n)
        + f" -> {report.report_uri}"
    )
    return report


def _execute(cfg: Config, store: JobStore, todo: list[str], concurrency: int, echo: Any) -> None:
    init_ray(cfg)
    ctx = ray.data.DataContext.get_current()
    ctx.max_errored_blocks = -1  # a video whose worker keeps crashing is dropped here and recorded below
    ds = ray.data.from_items([{"job_id": job_id} for job_id in todo], override_num_blocks=len(todo))
    # One video per task; the task only drives its job's own Ray Data stages, which request the CPUs/GPUs.
    ds = ds.map(
        _process,
        fn_kwargs={"cfg": cfg, "store_url": store.url},
        num_cpus=0,
        compute=ray.data.TaskPoolStrategy(size=concurrency),
        max_retries=cfg.jobs.max_retries,
    )
    for done, row in enumerate(ds.iter_rows(), start=1):
        record = store.get(row["job_id"])
        if record is not None:
            echo(
                f"[{done}/{len(todo)}] {record.status.value:<9} {record.job:<10} {record.video}"
                + (f": {record.error}" if record.error else "")
            )
    for job_id in todo:
        record = store.get(job_id)
        if record is not None and not record.status.finished:
            store.fail(job_id, f"worker crashed {cfg.jobs.max_retries + 1} times; input quarantined")
            echo(f"failed    {record.job:<10} {record.video}: worker crashed")


def _report(
    cfg: Config, store: JobStore, run_id: str, source: str, tasks: list[str], started: _dt.datetime
) -> RunReport:
    items = []
    for r in store.list(batch=run_id, limit=10**9):
        items.append(
            ItemReport(
                video=r.video,
                task=r.job,
                job_id=r.id,
                status=r.status,
                reason=r.error,
                output_uri=r.result.output_uri if r.result else None,
                elapsed_s=r.result.elapsed_s if r.result else 0.0,
            )
        )
    counts = Counter(i.status.value for i in items)
    report = RunReport(
        run_id=run_id,
        input=source,
        tasks=tasks,
        started_at=started.isoformat(timespec="seconds"),
        finished_at=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        counts={
            s.value: counts.get(s.value, 0)
            for s in (JobState.done, JobState.skipped, JobState.failed, JobState.cancelled)
        },
        items=items,
    )
    folder = join_uri(cfg.storage.root, "backfills", run_id)
    report.report_uri = join_uri(folder, "report.html")
    fs, path = filesystem(folder, cfg.storage)
    fs.makedirs(path, exist_ok=True)
    fs.pipe_file(f"{path}/report.json", report.model_dump_json(indent=2).encode("utf-8"))
    fs.pipe_file(f"{path}/report.html", render_html(report).encode("utf-8"))
    return report


def render_html(report: RunReport) -> str:
    """A one-page HTML summary of a run: counts, then a row per item with its status and reason."""
    colours = {"done": "#2a7", "skipped": "#888", "failed": "#c33", "cancelled": "#c93"}
    rows = "".join(
        f"<tr><td>{html.escape(i.video)}</td><td>{html.escape(i.task)}</td>"
        f"<td style='color:{colours.get(i.status.value, '#000')}'>{i.status.value}</td>"
        f"<td>{html.escape(i.reason or '')}</td><td>{html.escape(i.output_uri or '')}</td><td>{i.elapsed_s:.1f}</td></tr>"
        for i in report.items
    )
    counts = " · ".join(f"{n} {s}" for s, n in report.counts.items())
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>backfill {html.escape(report.run_id)}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}"
        "td,th{padding:.2rem .6rem;border-bottom:1px solid #eee;text-align:left}</style></head><body>"
        f"<h1>Backfill {html.escape(report.run_id)}</h1>"
        f"<p>{html.escape(report.input)} — tasks {html.escape(', '.join(report.tasks))}<br>"
        f"{html.escape(report.started_at)} → {html.escape(report.finished_at)}</p><p><b>{counts}</b></p>"
        "<table><tr><th>video</th><th>task</th><th>status</th><th>reason</th><th>outputs</th><th>s</th></tr>"
        f"{rows}</table></body></html>"
    )


# -------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """Command-line entrypoint; returns the exit code (0 even when some videos failed: see the report)."""
    parser = argparse.ArgumentParser(prog="python -m genmedia.jobs.backfill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="Config file (default: $GENMEDIA_CONFIG or the embedded default).")
    parser.add_argument("--input", required=True, help="s3://bucket/prefix/, a directory, or a manifest file of URIs.")
    parser.add_argument(
        "--tasks", required=True, help="Comma-separated jobs: analyze,thumbnails,trailer,subtitles,enhance."
    )
    parser.add_argument("--params", default="{}", help='JSON: {"task": {param: value}}.')
    parser.add_argument("--concurrency", type=int, default=2, help="Videos processed at the same time.")
    parser.add_argument("--run-id", help="Resume (or name) this run; default: a hash of input, tasks and params.")
    parser.add_argument(
        "--priority", default="low", help="high, normal, low (the default) or 0-9, recorded on the run's jobs."
    )
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config)
        tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
        if not tasks:
            raise InputError("--tasks", "names no task")
        try:
            params = json.loads(args.params)
        except ValueError:
            raise InputError("--params", "is not valid JSON") from None
        try:
            priority = parse_priority(int(args.priority) if args.priority.lstrip("-").isdigit() else args.priority)
        except ValueError as e:
            raise InputError("--priority", str(e)) from None
        started = time.perf_counter()
        report = run_backfill(
            cfg, args.input, tasks, params=params, concurrency=args.concurrency, run_id=args.run_id, priority=priority
        )
        print(f"finished in {time.perf_counter() - started:.1f} s: {json.dumps(report.counts)}", flush=True)
        return 0
    except GenmediaError as e:
        print(f"backfill: error: {e}", file=sys.stderr, flush=True)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
