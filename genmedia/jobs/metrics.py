"""Prometheus metrics of the job queue: depth per priority, running jobs per type, wait and run times, retries."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from genmedia.jobs.queue import JobQueue

WAIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
RUN_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)


class QueueMetrics:
    """The queue's series on ``registry``; gauges are read from the store at scrape time (:meth:`refresh`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        """Register the series on ``registry``."""
        self.depth = Gauge(
            "genmedia_jobs_queued", "Jobs waiting to start, per priority level", ["priority"], registry=registry
        )
        self.running = Gauge("genmedia_jobs_running", "Jobs running, per job type", ["job"], registry=registry)
        self.wait = Histogram(
            "genmedia_jobs_queue_wait_seconds",
            "Time a job waited in the queue before it started",
            ["job"],
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.run = Histogram(
            "genmedia_jobs_run_seconds",
            "Time from a job's start until its task ended (started here)",
            ["job"],
            buckets=RUN_BUCKETS,
            registry=registry,
        )
        self.retries = Counter(
            "genmedia_jobs_retries", "Jobs queued again after their worker was lost", ["job"], registry=registry
        )
        self.refused = Counter(
            "genmedia_jobs_refused", "Submissions refused with 429 because the queue was full", registry=registry
        )

    def refresh(self, queue: JobQueue) -> None:
        """Set the gauges from the store: every level seen so far stays a series (0 when empty)."""
        self._set(self.depth, {str(p): n for p, n in queue.depth_by_priority().items()}, "priority")
        self._set(self.running, queue.running_by_type(), "job")

    @staticmethod
    def _set(gauge: Gauge, values: dict[str, int], label: str) -> None:
        seen = {sample.labels[label] for metric in gauge.collect() for sample in metric.samples}
        for key in seen | set(values):
            gauge.labels(key).set(values.get(key, 0))
