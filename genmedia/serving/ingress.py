"""The HTTP API (FastAPI, ``/v1``, OpenAPI at ``/docs``) and the Serve ingress deployment that hosts it.

:func:`create_api` builds the FastAPI app from an :class:`ApiState`; :class:`Ingress` is the Serve
deployment that builds that state once per replica (job store, model handles, key digests) and returns
the app. Jobs wait in the store's queue (``genmedia.jobs.queue``: priorities, fair share across API keys,
admission control) and each replica's dispatcher (``genmedia.jobs.dispatcher``) starts them as Ray tasks,
so any replica, or a restarted one, answers for (and runs) any job id.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from ray import serve
from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError
from ray.serve.handle import DeploymentHandle

from genmedia.config import Config
from genmedia.errors import GenmediaError, InputError, ParamsError, ServiceUnavailable
from genmedia.jobs import runner
from genmedia.jobs.dispatcher import Dispatcher
from genmedia.jobs.metrics import QueueMetrics
from genmedia.jobs.queue import JobQueue, QueueFull, dedup_key
from genmedia.jobs.records import JobRecord, JobState, JobStore
from genmedia.models import registry as model_registry
from genmedia.pipelines.models import ServedModels
from genmedia.pipelines.registry import JobUnavailable, available_jobs, get_job
from genmedia.schemas import JobResult, JobStatus
from genmedia.security import check_input_uri, key_allowed, safe_upload_name
from genmedia.serving.limits import install_limits
from genmedia.serving.models import decode_value, encode_value
from genmedia.serving.review_api import review_router
from genmedia.serving.schemas import InferRequest, JobAccepted, JobRequest, JobView, TranslateRequest, UploadView
from genmedia.serving.views import public_record
from genmedia.storage import (
    CHUNK,
    JobOutput,
    atomic_local_file,
    filesystem,
    is_local,
    join_uri,
    local_path,
    params_hash,
)

disable_created_metrics()  # the *_created series only add noise to scrapes

_UPLOAD_ID = re.compile(r"^(?:upload:)?([0-9a-f]{32})$")


@dataclass
class ApiState:
    """Everything the routes need: config, accepted key digests, job store and model handles."""

    cfg: Config
    key_digests: list[str]
    store: JobStore
    models: dict[str, DeploymentHandle] = field(default_factory=dict)
    dispatcher: Dispatcher | None = None
    """Starts this replica's share of the queued jobs (None: jobs wait for another replica)."""


class _Metrics:
    """Prometheus metrics of one replica: requests, latency, in-flight requests, queued jobs, job counts."""

    def __init__(self, store: JobStore, queue: JobQueue) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "genmedia_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "genmedia_http_request_seconds", "HTTP request latency", ["route"], registry=self.registry
        )
        self.in_flight = Gauge(
            "genmedia_http_in_flight", "HTTP requests being handled by this replica", registry=self.registry
        )
        self.queue = Gauge("genmedia_jobs_queue_depth", "Jobs waiting to run", registry=self.registry)
        self.jobs = Gauge("genmedia_jobs", "Jobs in the store by status", ["status"], registry=self.registry)
        self.job_queue = QueueMetrics(self.registry)
        self.store = store
        self.queue_view = queue

    def render(self) -> bytes:
        counts = self.store.counts()
        for status, n in counts.items():
            self.jobs.labels(status=status).set(n)
        self.queue.set(counts[JobState.queued.value])
        self.job_queue.refresh(self.queue_view)
        return generate_latest(self.registry)


class _Measured:
    """ASGI middleware: each request's count by route and status, its latency and the requests in flight.

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware runs every request through
    an extra task and memory streams, a cost paid by ``/healthz`` under load."""

    def __init__(self, app: Any, *, metrics: _Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.in_flight.dec()
            route = getattr(scope.get("route"), "path", "unmatched")  # set by the router on the shared scope
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)


def _job_view(record: JobRecord, cfg: Config, queue_position: int | None = None) -> JobView:
    record = public_record(record, cfg)  # API paths, not the server's local paths
    files = {}
    if record.result:
        files = {name: f"/v1/jobs/{record.id}/files/{name}" for name in record.result.files}
    return JobView(**record.model_dump(), files=files, queue_position=queue_position)


def _owner(authorization: str | None) -> str | None:
    """A short digest of the caller's API key: whose share of the queue a job counts against."""
    key = (authorization or "").partition(" ")[2].strip()
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16] if key else None


def _model_error(key: str, e: Exception) -> HTTPException:
    if isinstance(e, BackPressureError):
        return HTTPException(503, f"model {key} is at capacity; retry later", headers={"Retry-After": "1"})
    if isinstance(e, RayActorError | DeploymentUnavailableError):
        return HTTPException(503, f"model {key} replica failed during the request; retry", headers={"Retry-After": "1"})
    if isinstance(e, ValueError):
        return HTTPException(400, f"model {key}: {e}")
    return HTTPException(500, f"model {key}: {type(e).__name__}")


def create_api(state: ApiState) -> FastAPI:
    """The FastAPI app of the HTTP API over ``state``."""
    app = FastAPI(
        title="genmedia",
        version="1",
        description="Thumbnails, trailers, subtitles and enhancement of videos, as jobs. "
        "Every /v1 route needs `Authorization: Bearer <key>`.",
    )
    cfg = state.cfg
    install_limits(app, cfg.serve)
    queue = JobQueue(state.store, cfg.jobs)
    metrics = _Metrics(state.store, queue)
    if state.dispatcher is not None:
        state.dispatcher.metrics = metrics.job_queue
    health = {"status": "ok", "jobs": available_jobs(), "models": sorted(state.models)}

    app.add_middleware(_Measured, metrics=metrics)

    @app.exception_handler(GenmediaError)
    async def _genmedia_error(_: Request, e: GenmediaError) -> JSONResponse:
        if isinstance(e, ServiceUnavailable):  # the model registry (MLflow) does not answer
            return JSONResponse({"detail": str(e)}, status_code=503, headers={"Retry-After": "10"})
        code = (  # bad job parameters: 422 naming the field, as for a malformed request body
            501
            if isinstance(e, JobUnavailable)
            else 422
            if isinstance(e, ParamsError)
            else 400
            if isinstance(e, InputError)
            else 500
        )
        return JSONResponse({"detail": str(e)}, status_code=code)

    def require_key(request: Request) -> None:
        if not key_allowed(request.headers.get("authorization"), state.key_digests):
            raise HTTPException(401, "missing or invalid API key", headers={"WWW-Authenticate": "Bearer"})

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, Any]:
        """Liveness: this replica answers (from memory; Serve's health check probes the job store)."""
        return health

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_key)])

    @app.get("/metrics", tags=["ops"], dependencies=[Depends(require_key)], response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        """Prometheus metrics: requests, latency, in-flight requests, job queue depth, jobs by status."""
        return PlainTextResponse(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    # ------------------------------------------------------------------------------- jobs

    def resolve_video(video: str) -> str:
        if m := _UPLOAD_ID.match(video):
            upload = state.store.get_upload(m.group(1))
            if upload is None:
                raise InputError(video, "no such upload")
            return upload.uri
        return check_input_uri(video, cfg.serve)

    def resolve_input_files(params: Any) -> Any:
        """Other input files a job's params name (music, a grading reference) pass the same checks as the video."""
        files = params.input_files() if hasattr(params, "input_files") else {}
        return params.model_copy(update={name: resolve_video(uri) for name, uri in files.items()}) if files else params

    def content_id(video: str) -> tuple[str, str | None]:
        """What identifies the input's content, and its video id when known: an upload's sha256; otherwise the URI
        itself (a remote object is not read at submission), so only uploads can be answered from a manifest."""
        if m := _UPLOAD_ID.match(video):
            upload = state.store.get_upload(m.group(1))
            if upload is not None and upload.sha256:
                return f"sha256:{upload.sha256}", upload.sha256[:16]
        return f"uri:{video}", None

    def from_manifest(job: str, video: str, vid: str | None, params: Any) -> JobResult | None:
        """The result of identical finished work, read from its manifest (no task started); None when there is none."""
        if vid is None or (hasattr(params, "input_files") and params.input_files()):
            return None  # other input files join the output key by their content: the job itself decides
        output = JobOutput(cfg.storage.root, vid, job, params_hash(params.model_dump(mode="json")), cfg.storage)
        if not output.is_done():
            return None
        manifest = output.read_manifest()
        return JobResult(
            job=job,
            input=video,
            video_id=vid,
            params_hash=output.params_hash,
            output_uri=output.prefix,
            status=JobStatus.skipped,
            files={f["name"]: output.uri(f["name"]) for f in manifest["files"]},
            summary=manifest.get("summary", ""),
            details=manifest.get("details", {}),
            qa=manifest.get("qa"),
            published=manifest.get("published", True),
        )

    def enqueue(body: JobRequest, owner: str | None) -> tuple[JobRecord, str | None, bool]:
        """Queue the job (or find its identical twin, or answer from its manifest): (record, id it duplicates,
        whether it was queued just now)."""
        content, vid = content_id(body.video)
        video = resolve_video(body.video)
        spec = get_job(body.job)
        params = resolve_input_files(spec.parse_params(body.params))
        values = params.model_dump(mode="json")
        if (result := from_manifest(spec.name, video, vid, params)) is not None:
            record = state.store.create_finished(spec.name, video, values, result, priority=body.priority, owner=owner)
            return record, None, False
        submitted = queue.submit(
            spec.name, video, values, owner=owner, priority=body.priority, dedup=dedup_key(spec.name, content, values)
        )
        return submitted.record, submitted.duplicate_of, submitted.duplicate_of is None

    @v1.post(
        "/jobs",
        status_code=202,
        response_model=JobAccepted,
        tags=["jobs"],
        responses={
            200: {
                "description": "Identical work is queued or running (`duplicate_of`), or its outputs "
                "exist (status `skipped`)"
            },
            429: {"description": "The queue, or this API key's share of it, is full: see Retry-After"},
        },
    )
    async def submit_job(body: JobRequest, request: Request) -> Any:
        """Queue ``job`` on ``video`` (an allowed URI or an upload id) at ``priority``; poll ``GET /v1/jobs/{id}``."""
        try:
            record, duplicate_of, queued = await asyncio.to_thread(
                enqueue, body, _owner(request.headers.get("authorization"))
            )
        except QueueFull as e:
            metrics.job_queue.refused.inc()
            raise HTTPException(429, str(e), headers={"Retry-After": str(e.retry_after_s)}) from None
        if state.dispatcher is not None and queued:
            state.dispatcher.wake()
        # A job queued just now answers "queued" even when a dispatcher has already started it.
        status = JobState.queued.value if queued else record.status.value
        accepted = JobAccepted(
            id=record.id,
            status=status,
            url=f"/v1/jobs/{record.id}",
            duplicate_of=duplicate_of,
            priority=record.priority,
        )
        return accepted if queued else JSONResponse(accepted.model_dump(mode="json"), status_code=200)

    def get_record(job_id: str) -> JobRecord:
        record = (
            state.store.get(job_id, lost_after_s=cfg.jobs.lost_after_s, max_attempts=cfg.jobs.max_attempts)
            if re.fullmatch(r"[0-9a-f]{32}", job_id)
            else None
        )
        if record is None:
            raise HTTPException(404, f"no job {job_id}")
        return record

    @v1.get("/jobs/{job_id}", response_model=JobView, tags=["jobs"])
    def job_status(job_id: str) -> JobView:
        """A job's status, place in the queue, attempts, progress, result and download URLs of its outputs."""
        record = get_record(job_id)
        return _job_view(record, cfg, queue.position(record))

    @v1.delete("/jobs/{job_id}", response_model=JobView, tags=["jobs"])
    def cancel_job(job_id: str) -> JobView:
        """Cancel a queued or running job (a finished job is returned unchanged)."""
        get_record(job_id)
        record = state.store.cancel(job_id)
        if state.dispatcher is not None:
            state.dispatcher.cancel(job_id)
        return _job_view(record, cfg)  # type: ignore[arg-type]

    @v1.get("/jobs/{job_id}/files/{name:path}", tags=["jobs"])
    def job_file(job_id: str, name: str) -> StreamingResponse:
        """Download one output of a finished job."""
        record = get_record(job_id)
        uri = (record.result.files if record.result else {}).get(name)
        if uri is None:
            raise HTTPException(404, f"job {job_id} has no output {name!r}")
        fs, path = filesystem(uri, cfg.storage)

        def stream() -> Any:
            with fs.open(path, "rb") as f:
                while block := f.read(CHUNK):
                    yield block

        return StreamingResponse(
            stream(),
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{safe_upload_name(name)}"'},
        )

    # ----------------------------------------------------------------------------- uploads

    @v1.post("/uploads", status_code=201, response_model=UploadView, tags=["uploads"])
    async def upload(request: Request, name: str = Query("upload", max_length=255)) -> UploadView:
        """Store the raw request body (a video) and return an id to pass as a job's ``video``.

        The size cap (``serve.max_upload_bytes``) is checked against Content-Length before the body is read,
        and again while streaming.
        """
        cap = cfg.serve.max_upload_bytes
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > cap):
            raise HTTPException(413, f"upload larger than the {cap}-byte limit")
        upload_id, safe = uuid.uuid4().hex, safe_upload_name(name)
        uri = join_uri(cfg.storage.root, "uploads", upload_id, safe)
        digest = hashlib.sha256()
        size = await _store_body(request, uri, cfg, cap, digest)
        record = await asyncio.to_thread(state.store.add_upload, upload_id, safe, uri, size, digest.hexdigest())
        return UploadView(id=record.id, name=record.name, size=record.size)

    # ------------------------------------------------------------------------------ models

    async def call_model(key: str, row: dict[str, Any]) -> dict[str, Any]:
        handle = state.models.get(key)
        if handle is None:
            raise HTTPException(
                404, f"model {key!r} is not served; served: {', '.join(sorted(state.models)) or 'none'}"
            )
        try:
            return await handle.infer.remote(row)
        except Exception as e:  # noqa: BLE001 - mapped to an HTTP status
            raise _model_error(key, e) from None

    @v1.post("/models/{key}/infer", tags=["models"])
    async def infer(key: str, body: InferRequest) -> dict[str, Any]:
        """One request to a served model: ``inputs`` is one row of its batch columns; batched with others.

        Arrays travel as ``{"dtype": "|u1", "shape": [...], "base64": ...}`` (numpy's dtype string, raw bytes).
        """
        try:
            inputs = {name: decode_value(value) for name, value in body.inputs.items()}
        except (ValueError, TypeError) as e:
            raise HTTPException(400, f"bad array input: {e}") from None
        outputs = await call_model(key, inputs)
        return {"model": key, "outputs": {name: encode_value(value) for name, value in outputs.items()}}

    @v1.get("/models", tags=["models"])
    def list_models() -> list[dict[str, Any]]:
        """Every configured model: weights, backend, source (an ``mlflow://`` alias with the version it points at
        now), whether its weights are staged and verified on this replica, and whether it is served here.

        503 when the MLflow registry an alias needs does not answer.
        """
        return [{**row.to_dict(), "served": row.key in state.models} for row in model_registry.status(cfg)]

    @v1.post("/translate", tags=["models"])
    async def translate(body: TranslateRequest) -> dict[str, Any]:
        """Translate a short text with the configured translator."""
        row = {"text": body.text, "source": body.source or "", "target": body.target, "context": ""}
        outputs = await call_model("translator", row)
        return {"translation": str(outputs["translation"]), "score": float(outputs["score"]), "target": body.target}

    app.include_router(v1)
    app.include_router(review_router(cfg, state.store), dependencies=[Depends(require_key)])
    _mount_abtest(app, cfg, require_key)
    return app


def _mount_abtest(app: FastAPI, cfg: Config, require_key: Any) -> None:
    """Mount the thumbnails A/B testing router (``genmedia.abtest.router``) when this build has it, on the config's store."""
    try:
        from genmedia.abtest import ABTestService, get_service, router
    except ImportError:
        return
    service: list[Any] = []

    def configured_service() -> Any:
        if not service:
            service.append(ABTestService.from_config(cfg))
        return service[0]

    app.dependency_overrides[get_service] = configured_service
    app.include_router(router, dependencies=[Depends(require_key)])


async def _copy_body(request: Request, f: Any, cap: int, digest: Any) -> int:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise HTTPException(413, f"upload larger than the {cap}-byte limit")
        f.write(chunk)
        digest.update(chunk)
    if size == 0:
        raise HTTPException(400, "empty upload")  # raised while writing: nothing is kept
    return size


async def _store_body(request: Request, uri: str, cfg: Config, cap: int, digest: Any) -> int:
    """Stream the request body to ``uri`` (whole or not at all), stopping with 413 past ``cap`` bytes, hashing it into
    ``digest``; returns the size."""
    if is_local(uri):
        try:
            with atomic_local_file(local_path(uri)) as f:
                return await _copy_body(request, f, cap, digest)
        except BaseException:
            with contextlib.suppress(OSError):
                local_path(uri).parent.rmdir()  # the upload's own folder, left empty
            raise
    fs, path = filesystem(uri, cfg.storage)
    f = fs.open(path, "wb")
    try:
        size = await _copy_body(request, f, cap, digest)
    except BaseException:
        f.discard()  # abandon the multipart upload: no partial object appears
        raise
    f.close()
    return size


def served_models(models: dict[str, DeploymentHandle]) -> ServedModels | None:
    """The app's model deployments as the jobs it runs see them (None when it serves no model)."""
    if not models:
        return None
    app = next(iter(models.values())).app_name
    return ServedModels(app=app, deployments={key: handle.deployment_name for key, handle in models.items()})


@serve.ingress()
class Ingress:
    """The Serve ingress deployment: one FastAPI app per replica over the shared job store."""

    def __init__(self, cfg: Config, key_digests: list[str], models: dict[str, DeploymentHandle]) -> None:
        """Open the job store, start this replica's job dispatcher (its jobs call the model deployments, see
        :func:`served_models`) and keep the model handles; ``key_digests`` are sha256 digests of the API keys."""
        store = JobStore.from_config(cfg)
        launch = functools.partial(runner.submit, served=served_models(models))
        self.state = ApiState(
            cfg=cfg,
            key_digests=key_digests,
            store=store,
            models=models,
            dispatcher=Dispatcher(cfg, store, launch=launch).start(),
        )

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_api(self.state)

    def check_health(self) -> None:
        """Serve's health check: the job store must answer and the job dispatcher must run."""
        self.state.store.counts()
        if self.state.dispatcher is not None and not self.state.dispatcher.alive:
            raise RuntimeError("the job dispatcher thread stopped")

    def __del__(self) -> None:
        if self.state.dispatcher is not None:
            self.state.dispatcher.stop()
