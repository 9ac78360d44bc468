"""The job queue at scale on a fake multi-node Ray cluster: dispatch throughput, queue latency, memory, fairness.

    python benchmarks/queue_simulation.py [--jobs 10000] [--nodes 8] [--cpus-per-node 2] [--store sqlite|postgresql]

Starts a ``ray.cluster_utils.Cluster`` on this machine: a head plus ``--nodes`` worker nodes, each advertising a
fake GPU of one of the seed's types (L4, A10G, T4, A40: ``num_gpus=1`` and Ray's ``accelerator_type:<T>``
resource; nothing runs on a GPU). Three API keys queue ``--jobs`` tiny synthetic jobs in the job store (key a
first, all of its share, then b, then c; a tenth at high priority), then one :class:`Dispatcher` (what each
ingress replica runs) pushes them through: each job is a Ray task of 1 CPU anywhere in the cluster that records
its start and end in the store, like a real job's driver. Prints:

- submission and dispatch throughput (jobs/s), and the queue latency (created -> started) percentiles per priority;
- fairness: each key's share of the first starts at normal priority, and its median wait;
- memory: the store file (SQLite) and the driver's resident memory before and while dispatching.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import psutil
import ray

GPU_TYPES = ("L4", "A10G", "T4", "A40")


@ray.remote(num_cpus=1, max_retries=0)
def tiny_job(store_url: str, job_id: str) -> str:
    """A job's driver with no work: start, one progress report, finish."""
    from genmedia.jobs.records import JobStore
    from genmedia.schemas import JobResult, JobStatus

    store = JobStore(store_url)
    store.start(job_id, worker=f"sim:{os.getpid()}")
    store.progress(job_id, "work", 1, 1)
    store.finish(job_id, JobResult(job="tiny", input="synthetic", status=JobStatus.done))
    return "done"


def launch(cfg: object, store: object, job_id: str) -> ray.ObjectRef:
    """The dispatcher's launch function for the simulation (instead of genmedia.jobs.runner.submit)."""
    return tiny_job.remote(store.url, job_id)  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--cpus-per-node", type=int, default=2)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()

    from ray.cluster_utils import Cluster

    from genmedia.config import load_config
    from genmedia.jobs.dispatcher import Dispatcher
    from genmedia.jobs.queue import JobQueue
    from genmedia.jobs.records import JobState, JobStore

    tmp = Path(tempfile.mkdtemp(prefix="genmedia-queue-sim-"))
    pg = None
    if args.store == "postgresql":
        import pgserver

        pg = pgserver.get_server(tmp / "pg", cleanup_mode="delete")
        url = pg.get_uri()
    else:
        url = f"sqlite:///{tmp / 'jobs.sqlite'}"
    driver = psutil.Process()
    rss_before = driver.memory_info().rss / 1e6
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; store {args.store}")

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    for i in range(args.nodes):
        gpu = GPU_TYPES[i % len(GPU_TYPES)]
        cluster.add_node(num_cpus=args.cpus_per_node, num_gpus=1, resources={f"accelerator_type:{gpu}": 1})
    ray.init(address=cluster.address, logging_level="ERROR")
    cluster.wait_for_nodes()
    cpus = int(ray.cluster_resources().get("CPU", 0))
    print(f"fake cluster: head + {args.nodes} nodes ({', '.join(GPU_TYPES)} round robin), {cpus} CPUs")

    cfg = load_config(
        None,
        storage={"root": str(tmp / "out"), "cache_dir": str(tmp / "cache")},
        jobs={
            "store_url": url,
            "max_queued": args.jobs + 1,
            "max_queued_per_key": args.jobs + 1,
            "max_running": cpus,
            "dispatch_interval_s": 0.05,
            "cpus_per_job": 1,
        },
    )
    store = JobStore(url)
    queue = JobQueue(store, cfg.jobs)
    shares = {"a": 0.5, "b": 0.3, "c": 0.2}
    started = time.perf_counter()
    n = 0
    for key, share in shares.items():
        for _ in range(int(args.jobs * share)):
            queue.submit("tiny", "synthetic", {"n": n}, owner=key, priority=9 if n % 10 == 0 else 5)
            n += 1
    submit_s = time.perf_counter() - started
    print(f"queued {n} jobs in {submit_s:.1f} s: {n / submit_s:.0f} submissions/s")

    dispatcher = Dispatcher(cfg, store, launch=launch)
    rss_peak = driver.memory_info().rss / 1e6
    started = time.perf_counter()
    dispatcher.start()
    last_report = time.perf_counter()
    while (counts := store.counts())["done"] < n:
        rss_peak = max(rss_peak, driver.memory_info().rss / 1e6)
        time.sleep(1)
        if time.perf_counter() - last_report >= 30:
            last_report = time.perf_counter()
            print(f"  {last_report - started:.0f} s: {counts['done']} done, {counts['running']} running", flush=True)
        if counts["failed"]:
            raise SystemExit(f"{counts['failed']} jobs failed: {store.list(status=JobState.failed, limit=1)[0].error}")
    run_s = time.perf_counter() - started
    dispatcher.stop()

    jobs = store.list(limit=n + 10)
    waits = {
        p: np.array([(r.started_at - r.created_at).total_seconds() for r in jobs if r.priority == p]) for p in (9, 5)
    }
    print(f"dispatched {n} jobs in {run_s:.1f} s: {n / run_s:.1f} jobs/s through the queue ({cpus} running at most)")
    for p, w in waits.items():
        print(
            f"  queue latency, priority {p}: p50 {np.percentile(w, 50):.1f} s, p90 {np.percentile(w, 90):.1f} s, "
            f"p99 {np.percentile(w, 99):.1f} s"
        )
    order = sorted((r for r in jobs if r.priority == 5), key=lambda r: r.started_at)
    first = Counter(r.owner for r in order[: len(order) // 3])
    print(
        f"  fairness: first third of normal-priority starts by key {dict(sorted(first.items()))} "
        f"(queued shares a {shares['a']:.0%}, b {shares['b']:.0%}, c {shares['c']:.0%}; key a queued all of its jobs first)"
    )
    for key in shares:
        w = [(r.started_at - r.created_at).total_seconds() for r in jobs if r.owner == key and r.priority == 5]
        print(f"  key {key}: median wait {np.median(w):.1f} s")
    store_mb = (tmp / "jobs.sqlite").stat().st_size / 1e6 if args.store == "sqlite" else float("nan")
    print(
        f"  memory: store file {store_mb:.1f} MB; driver RSS {rss_before:.0f} MB before, peak {rss_peak:.0f} MB "
        f"while dispatching"
    )
    ray.shutdown()
    cluster.shutdown()
    if pg is not None:
        pg.cleanup()


if __name__ == "__main__":
    main()
