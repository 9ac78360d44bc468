"""The job dispatcher on the session's Ray: bounded starts in priority and fair-share order, restarts, and
jobs whose worker dies (re-queued, then failed with the reason)."""

from __future__ import annotations

import datetime as _dt
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import ray
from serve_fixtures import make_tiny_clip

from genmedia.config import Config
from genmedia.jobs.dispatcher import Dispatcher, describe_failure
from genmedia.jobs.queue import JobQueue
from genmedia.jobs.records import JobRecord, JobState, JobStore
from genmedia.schemas import JobResult, JobStatus

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the test tasks below run in Ray workers


@ray.remote(num_cpus=0)
def _tiny_job(store_url: str, job_id: str) -> str:
    store = JobStore(store_url)
    store.start(job_id, worker=f"test:{os.getpid()}")
    time.sleep(0.05)
    store.finish(job_id, JobResult(job="tiny", input="x", status=JobStatus.done))
    return "done"


def _tiny_launch(cfg: Config, store: JobStore, job_id: str) -> ray.ObjectRef:
    return _tiny_job.remote(store.url, job_id)


@ray.remote(num_cpus=0, max_retries=0)
def _crashing_job(store_url: str, job_id: str) -> str:
    JobStore(store_url).start(job_id, worker=f"test:{os.getpid()}")
    os.kill(os.getpid(), signal.SIGKILL)
    return "unreachable"


def _crashing_launch(cfg: Config, store: JobStore, job_id: str) -> ray.ObjectRef:
    return _crashing_job.remote(store.url, job_id)


def _config(base: Config, tmp_path: Path, **jobs: object) -> Config:
    settings = {
        "store_url": f"sqlite:///{tmp_path / 'jobs.sqlite'}",
        "heartbeat_s": 1.0,
        "dispatch_interval_s": 0.1,
        **jobs,
    }
    return base.model_copy(update={"jobs": base.jobs.model_copy(update=settings)})


def _wait_all_finished(store: JobStore, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = store.counts()
        if counts["queued"] == 0 and counts["running"] == 0:
            return
        time.sleep(0.1)
    raise TimeoutError(f"jobs not finished in {timeout} s: {store.counts()}")


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


def _running(jobs: list[JobRecord], owner: str, at: JobRecord, slack_s: float = 0.0) -> int:
    """Jobs of ``owner`` the store showed running when ``at`` was claimed (started before it, not finished
    ``slack_s`` before it: a job may finish between the claim's look at the queue and its write)."""
    t = at.started_at
    since = t - _dt.timedelta(seconds=slack_s)
    return sum(1 for r in jobs if r.owner == owner and r.id != at.id and r.started_at < t and r.updated_at > since)


def _keys_waiting_with(jobs: list[JobRecord], at: JobRecord) -> set[str]:
    """Other keys that had a queued job of the same type and priority as ``at`` when it was claimed."""
    t = at.started_at
    return {
        r.owner
        for r in jobs
        if r.owner != at.owner and r.job == at.job and r.priority == at.priority and r.created_at < t < r.started_at
    }


def test_tiny_jobs_start_in_priority_and_fair_share_order_within_the_bounds(
    ray_session: Config, tmp_path: Path
) -> None:
    """60 tiny jobs of two types from three keys (key a queues all of its jobs first), queued before dispatching
    starts; one dispatcher stops half-way and a new one (a restarted app, a new store object) finishes the queue.
    About 15 s on 2 cores."""
    cfg = _config(ray_session, tmp_path, max_running=2, running_per_type={"slow": 1})
    store = JobStore(cfg.jobs.store_url)
    queue = JobQueue(store, cfg.jobs)
    for key in ("a", "b", "c"):
        for i in range(20):
            priority = 9 if i < 3 else 0 if i >= 17 else 5
            queue.submit("slow" if i % 4 == 0 else "fast", f"{key}{i}", {}, owner=key, priority=priority)
    first = Dispatcher(cfg, store, launch=_tiny_launch).start()
    deadline = time.monotonic() + 120
    while store.counts()["done"] < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.stop()
    second = Dispatcher(cfg, JobStore(cfg.jobs.store_url), launch=_tiny_launch).start()
    try:
        _wait_all_finished(store, timeout=180)
    finally:
        second.stop()
    jobs = store.list(limit=1000)
    assert {r.status for r in jobs} == {JobState.done} and {r.attempts for r in jobs} == {1}
    order = sorted(jobs, key=lambda r: r.started_at)
    for job in ("slow", "fast"):  # a type at its bound lets a lower priority of another type start meanwhile
        started = [r.priority for r in order if r.job == job]
        assert started == sorted(started, reverse=True), f"{job}: higher priorities start first"
    normal = [r.owner for r in order if r.priority == 5][:30]
    assert min(normal.count(key) for key in "abc") >= 5, (
        f"every key gets turns (first in, first out: a all 30): {normal}"
    )
    for started in order:  # fair share: the key picked had no more jobs running than any key passed over
        passed_over = _keys_waiting_with(jobs, started)
        assert all(_running(jobs, started.owner, started) <= _running(jobs, k, started, 1.0) for k in passed_over), (
            f"{started.id} of {started.owner} started while a key with fewer running jobs waited: {normal}"
        )
    for job, limit in (("slow", 1), ("fast", 2)):
        spans = [(r.started_at.timestamp(), r.updated_at.timestamp()) for r in jobs if r.job == job]
        assert _max_overlap(spans) <= limit, job
    assert _max_overlap([(r.started_at.timestamp(), r.updated_at.timestamp()) for r in jobs]) <= 2, (
        "cluster CPUs / cpus_per_job"
    )


def test_a_job_whose_worker_is_killed_finishes_on_its_second_attempt(ray_session: Config, tmp_path: Path) -> None:
    """A real analyze job: its worker process is killed (SIGKILL, by pid) while it runs; the job runs again and ends done."""
    cfg = _config(ray_session, tmp_path)
    clip = make_tiny_clip(tmp_path / "tiny.mp4")
    store = JobStore(cfg.jobs.store_url)
    job = JobQueue(store, cfg.jobs).submit("analyze", str(clip), {"embed": "off"}).record
    dispatcher = Dispatcher(cfg, store).start()
    try:
        deadline = time.monotonic() + 120
        while (record := store.get(job.id)).worker is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert record.status is JobState.running and record.attempts == 1, record
        os.kill(int(record.worker.rsplit(":", 1)[1]), signal.SIGKILL)
        _wait_all_finished(store, timeout=240)
    finally:
        dispatcher.stop()
    final = store.get(job.id)
    assert final.status is JobState.done and final.attempts == 2, final
    assert final.worker != record.worker and final.result.files


def test_a_job_that_kills_its_worker_every_time_ends_failed_with_the_reason(
    ray_session: Config, tmp_path: Path
) -> None:
    cfg = _config(ray_session, tmp_path, max_attempts=3)
    store = JobStore(cfg.jobs.store_url)
    job = JobQueue(store, cfg.jobs).submit("analyze", "poison.mp4", {}).record
    dispatcher = Dispatcher(cfg, store, launch=_crashing_launch).start()
    try:
        _wait_all_finished(store, timeout=120)
    finally:
        dispatcher.stop()
    final = store.get(job.id)
    assert final.status is JobState.failed and final.attempts == 3
    assert final.error.startswith("job lost on each of its 3 attempts, the last time: its worker process died"), (
        final.error
    )


def test_failures_are_described_in_words() -> None:
    @ray.remote(max_retries=0)
    def broken() -> None:
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    with pytest.raises(ray.exceptions.RayTaskError) as raised:
        ray.get(broken.remote())
    lost, why = describe_failure(raised.value)
    assert not lost and why == "the job's worker raised TypeError: unsupported operand type(s) for +: 'int' and 'str'"
    lost, why = describe_failure(ray.exceptions.WorkerCrashedError())
    assert lost and why.startswith("its worker process died")
