"""The Python SDK: the same calls over HTTP (:class:`Client`) or in-process on a local Ray (:meth:`Client.local`).

    from genmedia import Client
    c = Client("http://127.0.0.1:8000", api_key="...")      # or Client.local("configs/genmedia.yaml")
    job = c.analyze("s3://bucket/movie.mp4")                  # waits, with a progress bar; returns a JobView
    c.download(job, "out/")                                   # the job's files, locally

Every job method takes ``wait=False`` to return at once (then :meth:`Client.wait` or ``await
Client.wait_async``). Nothing here runs an event loop of its own, so it is safe in notebooks; inside a
running loop use ``await c.wait_async(job)`` to keep the loop free.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from genmedia.config import Config, load_config
from genmedia.errors import GenmediaError, InputError
from genmedia.jobs.queue import parse_priority
from genmedia.jobs.records import JobRecord, JobState, JobStore, ReviewState
from genmedia.serving.reviews import ReviewView, review_view
from genmedia.serving.schemas import JobView, UploadView
from genmedia.storage import CHUNK, filesystem

RETRY_STATUS = (429, 502, 503, 504)
MAX_RETRY_AFTER_S = 30.0
"""The longest a server's Retry-After makes the SDK wait before trying again."""


class ApiError(GenmediaError):
    """The server refused a request; the message has its HTTP status and reason."""

    def __init__(self, status: int, detail: str):
        self.status = status
        super().__init__(f"HTTP {status}: {detail}")


class JobFailed(GenmediaError):
    """A job ended failed or cancelled; ``job`` is its final record."""

    def __init__(self, job: JobView):
        self.job = job
        super().__init__(f"job {job.id} ({job.job}) {job.status.value}: {job.error}")


class _Backend(Protocol):
    def submit(self, job: str, video: str, params: dict[str, Any], priority: str | int) -> str: ...
    def get(self, job_id: str) -> JobView: ...
    def cancel(self, job_id: str) -> JobView: ...
    def fetch(self, job: JobView, name: str, dest: Path) -> None: ...
    def reviews(self, state: str | None) -> list[ReviewView]: ...
    def decide(self, review_id: str, decision: str, reason: str) -> ReviewView: ...
    def close(self) -> None: ...


class _HttpBackend:
    """The HTTP API, with retries of 429 (after its Retry-After), 502/503/504 and dropped connections (the server
    said: not accepted)."""

    def __init__(self, url: str, api_key: str | None, timeout: float, retries: int) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)
        self.retries = retries

    def request(self, method: str, path: str, *, retries: int | None = None, **kwargs: Any) -> httpx.Response:
        retries = self.retries if retries is None else retries
        for attempt in range(retries + 1):
            try:
                resp = self.http.request(method, path, **kwargs)
            except (httpx.ConnectError, httpx.RemoteProtocolError):
                if attempt == retries:
                    raise
            else:
                if resp.status_code not in RETRY_STATUS or attempt == retries:
                    break
                if resp.status_code == 429 and (after := resp.headers.get("retry-after", "")).isdigit():
                    time.sleep(min(float(after), MAX_RETRY_AFTER_S))
                    continue
            time.sleep(min(0.5 * 2**attempt, 5))
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("detail", resp.text)
            except ValueError:
                detail = resp.text
            raise ApiError(resp.status_code, str(detail))
        return resp

    def upload(self, path: Path) -> UploadView:
        with open(path, "rb") as f:
            # A streamed body cannot be replayed, so uploads are not retried.
            resp = self.request(
                "POST",
                "/v1/uploads",
                retries=0,
                params={"name": path.name},
                content=f,
                headers={"Content-Length": str(path.stat().st_size)},
            )
        return UploadView.model_validate(resp.json())

    def submit(self, job: str, video: str, params: dict[str, Any], priority: str | int) -> str:
        if Path(video).is_file():
            video = self.upload(Path(video)).id
        body = {"job": job, "video": video, "params": params, "priority": priority}
        return self.request("POST", "/v1/jobs", json=body).json()["id"]

    def get(self, job_id: str) -> JobView:
        return JobView.model_validate(self.request("GET", f"/v1/jobs/{job_id}").json())

    def cancel(self, job_id: str) -> JobView:
        return JobView.model_validate(self.request("DELETE", f"/v1/jobs/{job_id}").json())

    def fetch(self, job: JobView, name: str, dest: Path) -> None:
        with self.http.stream("GET", job.files[name]) as resp:
            if resp.status_code != 200:
                raise ApiError(resp.status_code, f"cannot download {name}")
            with open(dest, "wb") as f:
                for block in resp.iter_bytes(CHUNK):
                    f.write(block)

    def reviews(self, state: str | None) -> list[ReviewView]:
        resp = self.request("GET", "/v1/reviews", params={"state": state} if state else {})
        return [ReviewView.model_validate(r) for r in resp.json()]

    def decide(self, review_id: str, decision: str, reason: str) -> ReviewView:
        resp = self.request("POST", f"/v1/reviews/{review_id}", json={"decision": decision, "reason": reason})
        return ReviewView.model_validate(resp.json())

    def close(self) -> None:
        self.http.close()


class _LocalBackend:
    """Jobs run in this process (threads) on a local Ray, recorded in the config's job store; a free thread takes
    the waiting job of the highest priority (oldest first)."""

    def __init__(self, cfg: Config, workers: int) -> None:
        self.cfg = cfg
        self.store = JobStore.from_config(cfg)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="genmedia-job")
        self.waiting: list[tuple[int, int, str]] = []
        """Heap of (-priority, submission number, job id)."""
        self.lock = threading.Lock()
        self.submitted = itertools.count()

    def submit(self, job: str, video: str, params: dict[str, Any], priority: str | int) -> str:
        from genmedia.pipelines.registry import get_job

        try:
            level = parse_priority(priority)
        except ValueError as e:
            raise InputError("priority", str(e)) from None
        spec = get_job(job)
        record = self.store.create(spec.name, video, spec.parse_params(params).model_dump(mode="json"), priority=level)
        with self.lock:
            heapq.heappush(self.waiting, (-level, next(self.submitted), record.id))
        self.pool.submit(self._run_next)
        return record.id

    def _run_next(self) -> None:
        from genmedia.jobs.runner import execute

        with self.lock:
            _, _, job_id = heapq.heappop(self.waiting)
        execute(self.cfg, self.store, job_id)

    def get(self, job_id: str) -> JobView:
        record = self.store.get(job_id, lost_after_s=self.cfg.jobs.lost_after_s)
        if record is None:
            raise InputError(job_id, "no such job")
        return _local_view(record)

    def cancel(self, job_id: str) -> JobView:
        self.get(job_id)
        return _local_view(self.store.cancel(job_id))  # type: ignore[arg-type]

    def fetch(self, job: JobView, name: str, dest: Path) -> None:
        fs, path = filesystem(job.files[name], self.cfg.storage)
        with fs.open(path, "rb") as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)

    def reviews(self, state: str | None) -> list[ReviewView]:
        try:
            wanted = ReviewState(state) if state else None
        except ValueError:
            raise InputError("state", f"must be one of {', '.join(s.value for s in ReviewState)}") from None
        return [review_view(r, self.cfg) for r in self.store.list_reviews(state=wanted)]

    def decide(self, review_id: str, decision: str, reason: str) -> ReviewView:
        from genmedia.jobs.reviews import decide

        if not reason.strip():
            raise InputError("reason", "a decision needs a reason")
        return review_view(decide(self.cfg, self.store, review_id, decision, reason), self.cfg)

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def _local_view(record: JobRecord) -> JobView:
    return JobView(**record.model_dump(), files=dict(record.result.files) if record.result else {})


class Client:
    """genmedia jobs from Python: ``Client(url, api_key)`` over HTTP, or ``Client.local(config)`` in-process."""

    def __init__(
        self, url: str, api_key: str | None = None, *, timeout: float = 60, retries: int = 3, progress: bool = True
    ) -> None:
        """A client of the server at ``url``; ``api_key`` defaults to ``$GENMEDIA_API_KEY``."""
        self._backend: _Backend = _HttpBackend(url, api_key or os.environ.get("GENMEDIA_API_KEY"), timeout, retries)
        self.progress = progress

    @classmethod
    def local(
        cls, config: str | os.PathLike[str] | Config | None = None, *, workers: int = 1, progress: bool = True
    ) -> Client:
        """A client that runs jobs in this process on a local Ray (or the config's Ray address)."""
        cfg = config if isinstance(config, Config) else load_config(config)
        client = cls.__new__(cls)
        client._backend = _LocalBackend(cfg, workers)
        client.progress = progress
        return client

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release connections (HTTP) or wait for running jobs (local)."""
        self._backend.close()

    # ----------------------------------------------------------------------------- thumbnail A/B tests

    def _ab(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if not isinstance(self._backend, _HttpBackend):
            raise InputError("Client.local", "A/B methods talk to a server: use Client(url, api_key)")
        return self._backend.request(method, f"/v1/thumbnails/{path}", **kwargs).json()

    def experiment(
        self,
        video: str,
        variants: list[str] | None = None,
        *,
        images: dict[str, dict[str, str]] | None = None,
        **settings: float | int,
    ) -> dict[str, Any]:
        """The video's experiment; with ``variants`` (and optional ``images``: variant -> {aspect: url}), start one."""
        if variants is None:
            return self._ab("GET", f"{video}/experiment")
        body = {"variants": variants, **({"images": images} if images else {}), **settings}
        return self._ab("POST", f"{video}/experiments", json=body, retries=0)

    def choose(
        self,
        video: str,
        *,
        user: str | None = None,
        segment: str | None = None,
        aspect: str | None = None,
        **context: str | int,
    ) -> dict[str, Any]:
        """The variant to show (and its image URL at ``aspect``); ``context``: device, region, hour, views, clicks."""
        params = {
            k: v for k, v in {"user": user, "segment": segment, "aspect": aspect, **context}.items() if v is not None
        }
        return self._ab("GET", f"{video}/choose", params=params)

    def record(
        self,
        video: str,
        kind: str,
        event_id: str,
        variant: str,
        *,
        user: str | None = None,
        segment: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record an ``impression`` or ``click`` (idempotent by ``event_id``, so retried safely)."""
        if kind not in ("impression", "click"):
            raise InputError(kind, "event kind must be 'impression' or 'click'")
        body = {
            k: v
            for k, v in {
                "event_id": event_id,
                "variant": variant,
                "user": user,
                "segment": segment,
                "context": context,
            }.items()
            if v is not None
        }
        return self._ab("POST", f"{video}/{kind}s", json=body)

    def stats(self, video: str, *, segment: str | None = None) -> dict[str, Any]:
        """Impressions, clicks, CTR, P(best) and credible intervals per variant (globally or for ``segment``)."""
        return self._ab("GET", f"{video}/stats", params={"segment": segment} if segment else {})

    # ----------------------------------------------------------------------------- review queue

    def reviews(self, state: str | None = None) -> list[ReviewView]:
        """Outputs that failed the QA gate, oldest first; ``state``: pending, approved or rejected."""
        return self._backend.reviews(state)

    def approve(self, review_id: str, reason: str) -> ReviewView:
        """Approve the outputs under review ``review_id``: they are published (their manifest says so)."""
        return self._backend.decide(review_id, "approve", reason)

    def reject(self, review_id: str, reason: str) -> ReviewView:
        """Reject the outputs under review ``review_id``: they stay unpublished."""
        return self._backend.decide(review_id, "reject", reason)

    # ----------------------------------------------------------------------------- jobs

    def submit(
        self, job: str, video: str, params: dict[str, Any] | None = None, *, priority: str | int = "normal"
    ) -> JobView:
        """Queue ``job`` on ``video`` (a URI, an upload id, or over HTTP a local file, uploaded first) at ``priority``
        (``high``, ``normal``, ``low`` or 0-9, higher first); returns at once. Identical work already queued or
        running comes back as that job (``duplicate_of`` over HTTP)."""
        return self._backend.get(self._backend.submit(job, str(video), params or {}, priority))

    def _run(
        self, job: str, video: str, wait: bool, timeout: float | None, priority: str | int, params: dict[str, Any]
    ) -> JobView:
        view = self.submit(job, video, params, priority=priority)
        return self.wait(view, timeout=timeout) if wait else view

    def analyze(
        self,
        video: str,
        *,
        wait: bool = True,
        timeout: float | None = None,
        priority: str | int = "normal",
        **params: Any,
    ) -> JobView:
        """Shots, motion, faces, audio and composition of ``video``."""
        return self._run("analyze", video, wait, timeout, priority, params)

    def thumbnails(
        self,
        video: str,
        *,
        wait: bool = True,
        timeout: float | None = None,
        priority: str | int = "normal",
        **params: Any,
    ) -> JobView:
        """Thumbnail candidates (and variants) of ``video``."""
        return self._run("thumbnails", video, wait, timeout, priority, params)

    def trailer(
        self,
        video: str,
        *,
        wait: bool = True,
        timeout: float | None = None,
        priority: str | int = "normal",
        **params: Any,
    ) -> JobView:
        """A trailer cut from ``video``."""
        return self._run("trailer", video, wait, timeout, priority, params)

    def subtitles(
        self,
        video: str,
        *,
        wait: bool = True,
        timeout: float | None = None,
        priority: str | int = "normal",
        **params: Any,
    ) -> JobView:
        """Subtitles of ``video`` (transcribed, optionally translated)."""
        return self._run("subtitles", video, wait, timeout, priority, params)

    def enhance(
        self,
        video: str,
        *,
        wait: bool = True,
        timeout: float | None = None,
        priority: str | int = "normal",
        **params: Any,
    ) -> JobView:
        """An enhanced (upscaled, denoised, interpolated) copy of ``video``."""
        return self._run("enhance", video, wait, timeout, priority, params)

    def job(self, job_id: str) -> JobView:
        """The job ``job_id`` now."""
        return self._backend.get(job_id)

    def cancel(self, job: str | JobView) -> JobView:
        """Cancel a queued or running job."""
        return self._backend.cancel(_job_id(job))

    def wait(self, job: str | JobView, *, timeout: float | None = None, poll_s: float = 0.5) -> JobView:
        """Block until the job finishes, showing progress; JobFailed if it failed or was cancelled."""
        job_id = _job_id(job)
        deadline = None if timeout is None else time.monotonic() + timeout
        with _ProgressDisplay(self.progress) as show:
            while True:
                view = self._backend.get(job_id)
                show(view)
                if view.status.finished:
                    return _checked(view)
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"job {job_id} still {view.status.value} after {timeout} s")
                time.sleep(poll_s)

    async def wait_async(self, job: str | JobView, *, timeout: float | None = None, poll_s: float = 0.5) -> JobView:
        """:meth:`wait` for a running event loop (notebooks, async apps): polls in a thread, sleeps with asyncio."""
        job_id = _job_id(job)
        deadline = None if timeout is None else time.monotonic() + timeout
        with _ProgressDisplay(self.progress) as show:
            while True:
                view = await asyncio.to_thread(self._backend.get, job_id)
                show(view)
                if view.status.finished:
                    return _checked(view)
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"job {job_id} still {view.status.value} after {timeout} s")
                await asyncio.sleep(poll_s)

    def download(self, job: str | JobView, dest: str | os.PathLike[str]) -> dict[str, Path]:
        """Copy every output of a finished job into ``dest``; returns name -> local path."""
        view = job if isinstance(job, JobView) else self.job(job)
        if view.status not in (JobState.done, JobState.skipped):
            raise InputError(view.id, f"job is {view.status.value}; only finished jobs have outputs")
        root = Path(dest)
        paths = {}
        for name in view.files:
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            self._backend.fetch(view, name, target)
            paths[name] = target
        return paths

    def infer(self, model: str, **inputs: Any) -> dict[str, Any]:
        """One synchronous request to a served model (HTTP only): numpy arrays in, numpy arrays out."""
        from genmedia.serving.models import decode_value, encode_value

        if not isinstance(self._backend, _HttpBackend):
            raise InputError(model, "infer() talks to a server; use the job methods locally")
        body = {"inputs": {k: encode_value(v) for k, v in inputs.items()}}
        outputs = self._backend.request("POST", f"/v1/models/{model}/infer", json=body).json()["outputs"]
        return {k: decode_value(v) for k, v in outputs.items()}

    def upload(self, path: str | os.PathLike[str]) -> UploadView:
        """Upload a local video over HTTP; pass the returned ``id`` as a job's video."""
        if not isinstance(self._backend, _HttpBackend):
            raise InputError(str(path), "uploads are for HTTP clients; a local client reads local paths directly")
        return self._backend.upload(Path(path))


def _job_id(job: str | JobView) -> str:
    return job.id if isinstance(job, JobView) else str(job)


def _checked(view: JobView) -> JobView:
    if view.status in (JobState.failed, JobState.cancelled):
        raise JobFailed(view)
    return view


class _ProgressDisplay:
    """A rich progress bar (terminal or notebook) fed with job views; silent when disabled."""

    def __init__(self, enabled: bool) -> None:
        console = Console(stderr=True)
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not (enabled and (console.is_terminal or console.is_jupyter)),
        )
        self.task: Any = None

    def __enter__(self) -> Callable[[JobView], None]:
        self.bars.__enter__()
        return self.show

    def __exit__(self, *exc: object) -> None:
        self.bars.__exit__(None, None, None)

    def show(self, view: JobView) -> None:
        p = view.progress
        total = p.total if p and p.total else None
        label = f"{view.job} {p.stage}" if p else view.job
        if self.task is None:
            self.task = self.bars.add_task(label, total=total, status=view.status.value)
        completed = total if view.status.finished and total else (p.done if p else 0)
        self.bars.update(self.task, description=label, completed=completed, total=total, status=view.status.value)
