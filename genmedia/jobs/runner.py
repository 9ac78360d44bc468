"""Execute one recorded job: look it up in the job store, run it through the job registry, record the outcome.

The HTTP API runs :func:`execute` as a Ray task (:func:`submit`); the SDK's local mode runs it in a
thread. Progress goes to the store (at most a few writes a second), a heartbeat touches the record
while the job runs (so a job whose worker went away shows as lost, not running forever), and a job
cancelled in the store stops at its next progress report.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
import ray

from genmedia.config import Config
from genmedia.errors import GenmediaError, InputError
from genmedia.jobs.records import JobRecord, JobStore
from genmedia.pipelines.models import ServedModels, holds_serve_handles, models_served_by
from genmedia.pipelines.registry import get_job
from genmedia.progress import ProgressFn
from genmedia.security import input_address, safe_upload_name
from genmedia.storage import CHUNK, atomic_local_file

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.5
EXIT_AFTER_S = 5.0
"""How long a job worker that called Serve deployments lives after its task returned (Ray sends the reply meanwhile)."""
MAX_REDIRECTS = 3


class JobCancelled(Exception):
    """Raised inside a job's progress callback when the job was cancelled in the store."""


def store_progress(store: JobStore, job_id: str, also: ProgressFn | None = None) -> ProgressFn:
    """A progress callback that records to the store (throttled) and raises JobCancelled once the job is cancelled."""
    last = [0.0]

    def report(stage: str, done: float, total: float | None) -> None:
        if also:
            also(stage, done, total)
        now = time.monotonic()
        finished_stage = total is not None and done >= total
        if now - last[0] < PROGRESS_INTERVAL_S and not finished_stage:
            return
        last[0] = now
        if not store.progress(job_id, stage, done, total):
            raise JobCancelled(job_id)

    return report


def fetch_http(cfg: Config, uri: str) -> Path:
    """Download an ``http(s)://`` input into the cache, re-checking every redirect hop against the SSRF rules.

    Each hop connects to the address that passed the check (the host name goes in the Host header and
    TLS's SNI and certificate check), so DNS cannot swap in a private address after the check. The size
    is capped by ``limits.max_file_bytes`` while streaming. Returns the local file.
    """
    dest = (
        cfg.storage.cache_path
        / "inputs"
        / "http"
        / hashlib.sha256(uri.encode("utf-8")).hexdigest()[:16]
        / safe_upload_name(Path(urlsplit(uri).path).name or "input")
    )
    url = uri
    with httpx.Client(follow_redirects=False, timeout=60) as client:
        for _ in range(MAX_REDIRECTS + 1):
            target, headers, extensions = _pinned(url, input_address(url, cfg.serve))
            with client.stream("GET", target, headers=headers, extensions=extensions) as resp:
                if resp.is_redirect:
                    url = urljoin(url, resp.headers.get("location", ""))
                    continue
                if resp.status_code != 200:
                    raise InputError(uri, f"download failed: HTTP {resp.status_code}")
                size = 0
                with atomic_local_file(dest) as f:
                    for block in resp.iter_bytes(CHUNK):
                        size += len(block)
                        if size > cfg.limits.max_file_bytes:
                            raise InputError(
                                uri, f"larger than limits.max_file_bytes ({cfg.limits.max_file_bytes} bytes)"
                            )
                        f.write(block)
                return dest
    raise InputError(uri, f"more than {MAX_REDIRECTS} redirects")


def _pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """``url`` with its host replaced by ``address``, the Host header, and the TLS server name."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    target = urlunsplit(parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host))
    extensions = {"sni_hostname": parts.hostname or ""} if parts.scheme.lower() == "https" else {}
    return target, {"Host": parts.netloc}, extensions


def _local_source(cfg: Config, video: str) -> str:
    if urlsplit(video).scheme.lower() in ("http", "https"):
        return str(fetch_http(cfg, video))
    return video


def execute(
    cfg: Config,
    store: JobStore,
    job_id: str,
    progress: ProgressFn | None = None,
    served: ServedModels | None = None,
) -> JobRecord:
    """Run the stored job ``job_id`` unless it has finished or been cancelled; record and return its outcome.

    ``served``: the Serve app's model deployments the job calls instead of loading its own models (None: it
    loads them). Errors become the record's one-line ``error``; nothing propagates except a crash of the process
    itself.
    """
    record = store.get(job_id)
    if record is None:
        raise KeyError(f"no job {job_id}")
    if not store.start(job_id, worker=f"{socket.gethostname()}:{os.getpid()}"):
        return record
    stop = threading.Event()
    threading.Thread(
        target=_heartbeat, args=(store, job_id, cfg.jobs.heartbeat_s, stop), daemon=True, name=f"heartbeat-{job_id}"
    ).start()
    try:
        spec = get_job(record.job)
        params = spec.parse_params(record.params)
        with models_served_by(served):
            result = spec.run(
                cfg, _local_source(cfg, record.video), params, progress=store_progress(store, job_id, progress)
            )
        store.finish(job_id, result)
    except JobCancelled:
        pass
    except GenmediaError as e:
        store.fail(job_id, str(e))
    except Exception as e:  # noqa: BLE001 - recorded as the job's error, never lost
        store.fail(job_id, f"internal error: {type(e).__name__}: {e}")
    finally:
        stop.set()
    return store.get(job_id)  # type: ignore[return-value]


def _heartbeat(store: JobStore, job_id: str, every_s: float, stop: threading.Event) -> None:
    """Touch the job's record every ``every_s`` until ``stop`` (stages may report progress rarely)."""
    while not stop.wait(every_s):
        try:
            if not store.heartbeat(job_id):
                return
        except Exception:  # noqa: BLE001 - a store hiccup must not end the job; the next beat retries
            log.warning("job %s: heartbeat failed", job_id, exc_info=True)


@ray.remote(num_cpus=0, max_calls=1)
def _execute_task(cfg: Config, store_url: str, job_id: str, served: ServedModels | None) -> str:
    # The job driver only coordinates: its Ray Data stages request their own CPUs and GPUs. One job per
    # worker process (max_calls=1): the models and buffers a job loaded leave with it instead of idling in a
    # pooled worker.
    status = execute(cfg, JobStore(store_url), job_id, served=served).status.value
    if holds_serve_handles():
        # A Serve router's long polls to the controller stay in flight, so Ray would never end this worker
        # (measured: every such job left a ~330 MB idle process). The job is recorded; the process ends itself.
        threading.Timer(EXIT_AFTER_S, os._exit, args=(0,)).start()
    return status


def submit(cfg: Config, store: JobStore, job_id: str, served: ServedModels | None = None) -> ray.ObjectRef:
    """Start the stored (claimed) job as a Ray task (calling ``served``'s model deployments, see :func:`execute`).
    Ray does not retry it: a lost worker's job goes back to the queue (``genmedia.jobs.dispatcher``), counted
    against ``jobs.max_attempts``."""
    return _execute_task.options(max_retries=0, name=f"genmedia-job-{job_id}").remote(cfg, store.url, job_id, served)
