"""Start queued jobs as Ray tasks while there is room; queue again the jobs whose worker was lost.

Each ingress replica runs one :class:`Dispatcher` (a daemon thread). It claims jobs from the store's queue
(:class:`genmedia.jobs.queue.JobQueue`) while the job types have room and the cluster's CPUs allow, starts
each as a Ray task (:func:`genmedia.jobs.runner.submit`), and watches the tasks: a task that ended because
its worker process died (killed, out of memory, its node gone) is queued again until ``jobs.max_attempts``,
then failed with the reason in words. Running jobs that went silent (their dispatcher died with its replica)
are settled the same way by whichever replica notices first. Everything is in the store, so a restarted app
picks up where the old one stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import ray
from ray.exceptions import (
    ActorDiedError,
    NodeDiedError,
    ObjectLostError,
    OutOfMemoryError,
    RayTaskError,
    TaskCancelledError,
    WorkerCrashedError,
)

from genmedia.config import Config
from genmedia.jobs import runner
from genmedia.jobs.metrics import QueueMetrics
from genmedia.jobs.queue import JobQueue
from genmedia.jobs.records import JobState, JobStore

log = logging.getLogger(__name__)

CLUSTER_CHECK_S = 10.0
"""How often the cluster's CPU count (the bound on running jobs in all) is read again."""

Launch = Callable[[Config, JobStore, str], ray.ObjectRef]


def describe_failure(e: BaseException) -> tuple[bool, str]:
    """Why a job's task ended with ``e``, in words: (whether the worker was lost, so the job may run again, reason)."""
    if isinstance(e, OutOfMemoryError):
        return True, "Ray's memory monitor killed its worker (the node ran out of memory)"
    if isinstance(e, WorkerCrashedError):
        return True, "its worker process died (killed by a signal, or crashed in native code)"
    if isinstance(e, NodeDiedError | ObjectLostError | ActorDiedError):
        return True, f"the node or process running it went away ({_first_line(e)})"
    if isinstance(e, TaskCancelledError):
        return False, "its task was cancelled"
    if isinstance(e, RayTaskError):
        cause = e.cause if isinstance(e.cause, BaseException) else None
        what = f"{type(cause).__name__}: {_first_line(cause)}" if cause else _first_line(e)
        return False, f"the job's worker raised {what}"
    return True, f"{type(e).__name__}: {_first_line(e)}"


def _first_line(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[-1] if isinstance(e, RayTaskError) and lines else (lines[0] if lines else "no message")


class Dispatcher:
    """Moves jobs from the queue to Ray tasks and settles the ones whose worker was lost."""

    def __init__(
        self, cfg: Config, store: JobStore, *, launch: Launch = runner.submit, metrics: QueueMetrics | None = None
    ) -> None:
        """Dispatch ``store``'s queue under ``cfg.jobs``; ``launch`` starts one job (a Ray task) and returns its ref."""
        self.cfg = cfg
        self.store = store
        self.queue = JobQueue(store, cfg.jobs)
        self.launch = launch
        self.metrics = metrics
        self._tasks: dict[ray.ObjectRef, tuple[str, str, float]] = {}
        """ObjectRef -> (job id, job type, monotonic start) of the tasks this dispatcher started."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cpus = (0.0, -CLUSTER_CHECK_S)
        self._swept = 0.0

    # --------------------------------------------------------------------------- lifecycle

    def start(self) -> Dispatcher:
        """Run :meth:`step` in a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._loop, daemon=True, name="genmedia-dispatcher")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread (running jobs go on)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def alive(self) -> bool:
        """Whether the dispatching thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """Look at the queue now (a job was just queued)."""
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        """Cancel the Ray task of ``job_id`` if this dispatcher started it (the store says cancelled already)."""
        with self._lock:
            refs = [ref for ref, (job, _, _) in self._tasks.items() if job == job_id]
        for ref in refs:
            ray.cancel(ref)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # a store or cluster hiccup must not end dispatching; the next round retries
                log.warning("job dispatcher: a round failed", exc_info=True)
            with self._lock:
                refs = list(self._tasks)
            if refs and not self._wake.is_set():
                # Wake when a task ends (its slot frees) or after a short while (new submissions also wake us).
                ray.wait(refs, num_returns=1, timeout=min(0.2, self.cfg.jobs.dispatch_interval_s))
            else:
                self._wake.wait(self.cfg.jobs.dispatch_interval_s)
            self._wake.clear()

    # ------------------------------------------------------------------------------- rounds

    def step(self) -> int:
        """One round: settle ended tasks and silent jobs, then start what may start; returns how many started."""
        self._reap()
        self._sweep()
        started = 0
        while (claimed := self.queue.claim(self.total_cap())) is not None:
            record = claimed.record
            ref = self.launch(self.cfg, self.store, record.id)
            with self._lock:
                self._tasks[ref] = (record.id, record.job, time.monotonic())
            if self.metrics:
                self.metrics.wait.labels(record.job).observe(claimed.waited_s)
            started += 1
        return started

    def total_cap(self) -> int:
        """How many jobs may run at once in all: the cluster's CPUs / ``jobs.cpus_per_job`` (at least 1)."""
        cpus, checked = self._cpus
        if time.monotonic() - checked >= CLUSTER_CHECK_S:
            cpus = float(ray.cluster_resources().get("CPU", 1.0))
            self._cpus = (cpus, time.monotonic())
        return max(1, int(cpus / self.cfg.jobs.cpus_per_job))

    @property
    def running(self) -> int:
        """Tasks this dispatcher started that have not ended."""
        with self._lock:
            return len(self._tasks)

    def _reap(self) -> None:
        with self._lock:
            refs = list(self._tasks)
        if not refs:
            return
        ended, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in ended:
            with self._lock:
                job_id, job, started = self._tasks.pop(ref)
            if self.metrics:
                self.metrics.run.labels(job).observe(time.monotonic() - started)
            try:
                ray.get(ref)
            except Exception as e:  # noqa: BLE001 - every way a task can end is settled in the store
                self._settle(job_id, job, e)

    def _settle(self, job_id: str, job: str, e: BaseException) -> None:
        lost, why = describe_failure(e)
        if not lost:
            self.store.fail(job_id, why)  # no-op when the job had finished or was cancelled
            return
        state = self.store.lost(job_id, why, self.cfg.jobs.max_attempts)
        log.warning("job %s: %s -> %s", job_id, why, state.value if state else "already settled")
        if state is JobState.queued and self.metrics:
            self.metrics.retries.labels(job).inc()

    def _sweep(self) -> None:
        """Settle running jobs that went silent (every ``jobs.heartbeat_s``)."""
        if time.monotonic() - self._swept < self.cfg.jobs.heartbeat_s:
            return
        self._swept = time.monotonic()
        for job_id in self.queue.silent(self.cfg.jobs.lost_after_s):
            state = self.store.settle_if_lost(job_id, self.cfg.jobs.lost_after_s, self.cfg.jobs.max_attempts)
            if state is not None:
                self.cancel(job_id)  # a hung task of ours: it must not finish later beside its next attempt
                if state is JobState.queued and self.metrics:
                    record = self.store.get(job_id)
                    self.metrics.retries.labels(record.job if record else "unknown").inc()
