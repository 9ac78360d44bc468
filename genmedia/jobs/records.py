"""The job store: every job's state, parameters, progress, result and error, in SQL.

A SQLite file in the cache dir by default (``{cache_dir}/jobs.sqlite``), any SQLAlchemy URL (e.g.
``postgresql://...``) from ``jobs.store_url``. The HTTP API, the SDK's local mode and backfills write
here, so a restarted server still answers for old job ids. Uploads are recorded here too.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    case,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from genmedia.config import Config
from genmedia.db import make_engine, sqlite_url
from genmedia.errors import InputError
from genmedia.schemas import JobResult, JobStatus, QaVerdict

NORMAL_PRIORITY = 5


class JobState(str, Enum):
    """Where a job is: waiting, running, or finished in one of four ways."""

    queued = "queued"
    running = "running"
    done = "done"
    skipped = "skipped"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        """Whether the job will not change any more."""
        return self not in (JobState.queued, JobState.running)


class Progress(BaseModel):
    """The latest progress report of a running job."""

    stage: str
    done: float
    total: float | None = None


class JobRecord(BaseModel):
    """One job as the store, the HTTP API and the SDK see it."""

    id: str
    job: str
    video: str
    params: dict[str, Any] = Field(default_factory=dict)
    status: JobState
    progress: Progress | None = None
    result: JobResult | None = None
    error: str | None = None
    batch: str | None = Field(None, description="The backfill run that made this record, if any.")
    priority: int = Field(NORMAL_PRIORITY, description="Higher starts first (low 0, normal 5, high 9).")
    attempts: int = Field(0, description="How many times the job was started (a lost worker's job is re-queued).")
    owner: str | None = Field(
        None, exclude=True, description="A short digest of the API key that submitted it (fair share)."
    )
    created_at: _dt.datetime
    updated_at: _dt.datetime
    started_at: _dt.datetime | None = None
    worker: str | None = Field(None, description="host:pid of the process running its latest attempt.")


class UploadRecord(BaseModel):
    """A file a caller uploaded: its id, its sanitised name and where it is stored."""

    id: str
    name: str
    uri: str
    size: int
    created_at: _dt.datetime
    sha256: str | None = Field(
        None, description="The content's sha256 (identical work on the same content is done once)."
    )


class ReviewState(str, Enum):
    """Where a review is: waiting for a reviewer, or decided."""

    pending = "pending"
    approved = "approved"
    rejected = "rejected"


class ReviewRecord(BaseModel):
    """Outputs that failed the QA gate, waiting for (or given) a reviewer's decision."""

    id: str
    job: str
    input: str
    video_id: str
    params_hash: str
    output_uri: str = Field(exclude=True, description="The prefix of the outputs (server-side; not shown by the API).")
    verdict: QaVerdict
    state: ReviewState
    reason: str | None = Field(None, description="The reviewer's reason for the decision.")
    created_at: _dt.datetime
    decided_at: _dt.datetime | None = None


class ReviewDecided(InputError):
    """A decision on a review that was decided already (409 from the HTTP API)."""

    def __init__(self, review: ReviewRecord) -> None:
        self.review = review
        super().__init__(review.id, f"already {review.state.value} ({review.reason}); a decision is final")


_metadata = MetaData()
_jobs = Table(
    "genmedia_jobs",
    _metadata,
    Column("id", String(32), primary_key=True),
    Column("job", String(32), nullable=False),
    Column("video", Text, nullable=False),
    Column("params", JSON, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("stage", String(64)),
    Column("done", Float),
    Column("total", Float),
    Column("result", JSON),
    Column("error", Text),
    Column("batch", String(64), index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # The queue (genmedia.jobs.queue): added later, so old stores gain them on open (server defaults fill old rows).
    Column("priority", Integer, nullable=False, server_default=text(str(NORMAL_PRIORITY))),
    Column("owner", String(16)),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("started_at", DateTime(timezone=True)),
    Column("dedup", String(64)),
    Column("worker", String(80)),
    Index("ix_genmedia_jobs_queue", "status", "priority", "created_at"),
    Index("ix_genmedia_jobs_dedup", "dedup"),
    Index("ix_genmedia_jobs_owner", "owner", "started_at"),
)
_uploads = Table(
    "genmedia_uploads",
    _metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("uri", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sha256", String(64)),
)

_reviews = Table(
    "genmedia_reviews",
    _metadata,
    Column("id", String(32), primary_key=True),
    Column("job", String(32), nullable=False),
    Column("input", Text, nullable=False),
    Column("video_id", String(64), nullable=False),
    Column("params_hash", String(64), nullable=False),
    Column("output_uri", Text, nullable=False),
    Column("verdict", JSON, nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True)),
)

_RESULT_STATE = {JobStatus.done: JobState.done, JobStatus.skipped: JobState.skipped, JobStatus.failed: JobState.failed}


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _utc(value: _dt.datetime) -> _dt.datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return value if value.tzinfo else value.replace(tzinfo=_dt.UTC)


def default_store_url(cfg: Config) -> str:
    """``jobs.store_url``, or a SQLite file ``{cache_dir}/jobs.sqlite``."""
    if cfg.jobs.store_url:
        return cfg.jobs.store_url
    return sqlite_url(cfg.storage.cache_path / "jobs.sqlite")


class JobStore:
    """Job and upload records in one SQL database (tables are created on first use)."""

    def __init__(self, url: str) -> None:
        """Open (and create if needed) the store at the SQLAlchemy ``url``."""
        self.url = url
        self._engine = make_engine(url)
        _metadata.create_all(self._engine)
        _add_missing_columns(self._engine)

    @classmethod
    def from_config(cls, cfg: Config) -> JobStore:
        """The store the config names (:func:`default_store_url`)."""
        return cls(default_store_url(cfg))

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"])  # type: ignore[misc]

    # ------------------------------------------------------------------------------ jobs

    def create(
        self,
        job: str,
        video: str,
        params: dict[str, Any],
        *,
        batch: str | None = None,
        priority: int = NORMAL_PRIORITY,
        owner: str | None = None,
        dedup: str | None = None,
    ) -> JobRecord:
        """Record a new queued job and return it."""
        now = _now()
        row = {
            "id": uuid.uuid4().hex,
            "job": job,
            "video": video,
            "params": params,
            "status": JobState.queued.value,
            "batch": batch,
            "priority": priority,
            "owner": owner,
            "dedup": dedup,
            "created_at": now,
            "updated_at": now,
        }
        with self._engine.begin() as conn:
            conn.execute(_jobs.insert().values(**row))
        return self.get(row["id"])  # type: ignore[return-value]

    def get(self, job_id: str, *, lost_after_s: float | None = None, max_attempts: int = 1) -> JobRecord | None:
        """The job ``job_id``, or None. With ``lost_after_s``, a job that looks lost is first settled
        (:meth:`settle_if_lost`), so a record never says ``running`` for a job nobody runs."""
        if lost_after_s is not None:
            self.settle_if_lost(job_id, lost_after_s, max_attempts)
        with self._engine.connect() as conn:
            row = conn.execute(select(_jobs).where(_jobs.c.id == job_id)).mappings().first()
        return self._with_decision(_to_record(row)) if row else None

    def _with_decision(self, record: JobRecord) -> JobRecord:
        """``record`` with ``result.published`` as its review decided (the result itself is as of the job's end)."""
        review_id = record.result.qa.review if record.result and record.result.qa else None
        if review_id is None:
            return record
        with self._engine.connect() as conn:
            state = conn.execute(select(_reviews.c.state).where(_reviews.c.id == review_id)).scalar()
        record.result.published = state == ReviewState.approved.value
        return record

    def list(self, *, batch: str | None = None, status: JobState | None = None, limit: int = 1000) -> list[JobRecord]:
        """Jobs, oldest first, optionally of one backfill run and/or in one state."""
        query = select(_jobs).order_by(_jobs.c.created_at, _jobs.c.id).limit(limit)
        if batch is not None:
            query = query.where(_jobs.c.batch == batch)
        if status is not None:
            query = query.where(_jobs.c.status == status.value)
        with self._engine.connect() as conn:
            records = [_to_record(r) for r in conn.execute(query).mappings()]
        return [self._with_decision(r) for r in records]

    def counts(self) -> dict[str, int]:
        """Number of jobs in each state (every state present, zero when none)."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(_jobs.c.status, func.count()).group_by(_jobs.c.status)).all()
        found = {status: n for status, n in rows}
        return {s.value: int(found.get(s.value, 0)) for s in JobState}

    def _update_unfinished(self, job_id: str, **values: Any) -> bool:
        finished = [s.value for s in JobState if s.finished]
        stmt = (
            update(_jobs)
            .where(_jobs.c.id == job_id, _jobs.c.status.not_in(finished))
            .values(updated_at=_now(), **values)
        )
        with self._engine.begin() as conn:
            return conn.execute(stmt).rowcount > 0

    def start(self, job_id: str, worker: str | None = None) -> bool:
        """Mark the job running in ``worker`` (``host:pid``); one more attempt when it was queued (a job the
        queue claimed is running already). False when it is already finished (e.g. cancelled while queued)."""
        queued = _jobs.c.status == JobState.queued.value
        return self._update_unfinished(
            job_id,
            status=JobState.running.value,
            error=None,
            worker=worker,
            attempts=_jobs.c.attempts + case((queued, 1), else_=0),
            started_at=case((queued, _now()), else_=_jobs.c.started_at),
        )

    def progress(self, job_id: str, stage: str, done: float, total: float | None) -> bool:
        """Record progress; False when the job is no longer running (cancelled)."""
        return self._update_unfinished(
            job_id, stage=stage, done=float(done), total=None if total is None else float(total)
        )

    def finish(self, job_id: str, result: JobResult) -> bool:
        """Record a job's result (done, skipped or failed); False when it had been cancelled meanwhile."""
        state = _RESULT_STATE[result.status]
        return self._update_unfinished(
            job_id, status=state.value, result=result.model_dump(mode="json"), error=result.error
        )

    def heartbeat(self, job_id: str) -> bool:
        """Say the job is still being worked on; False once it has finished or been cancelled."""
        return self._update_unfinished(job_id)

    def settle_if_lost(self, job_id: str, lost_after_s: float, max_attempts: int = 1) -> JobState | None:
        """Settle the job if it looks lost: running without a heartbeat or progress for ``lost_after_s``
        (its worker, or the API replica that started it, went away). It is queued again while it has had
        fewer than ``max_attempts`` attempts, else marked failed; returns the new state, None when not lost.
        Queued jobs are left alone: they may wait their turn (a backfill, the SDK's thread pool)."""
        cutoff = _now() - _dt.timedelta(seconds=lost_after_s)
        why = (
            f"no word from its worker for {lost_after_s:g} s (the worker or the API replica that started it went away)"
        )
        with self._engine.connect() as conn:
            row = conn.execute(
                select(_jobs.c.status, _jobs.c.attempts, _jobs.c.updated_at).where(_jobs.c.id == job_id)
            ).first()
        if row is None or row.status != JobState.running.value or _utc(row.updated_at) >= cutoff:
            return None
        return self.lost(job_id, why, max_attempts, expect_attempts=row.attempts, silent_since=cutoff)

    def lost(
        self,
        job_id: str,
        why: str,
        max_attempts: int,
        *,
        expect_attempts: int | None = None,
        silent_since: _dt.datetime | None = None,
    ) -> JobState | None:
        """A running job's worker went away (``why``, in words): queue it again while it has had fewer than
        ``max_attempts`` attempts, else fail it with the reason. Returns the new state, or None when the job
        was no longer running (finished, cancelled, or settled by someone else meanwhile)."""
        with self._engine.connect() as conn:
            attempts = conn.execute(select(_jobs.c.attempts).where(_jobs.c.id == job_id)).scalar()
        if attempts is None or (expect_attempts is not None and attempts != expect_attempts):
            return None
        if attempts < max_attempts:
            state = JobState.queued
            error = f"attempt {attempts} of {max_attempts} lost: {why}; queued again"
        else:
            state = JobState.failed
            tries = "" if attempts <= 1 else f" on each of its {attempts} attempts, the last time"
            error = (
                f"job lost{tries}: {why}; it may crash its worker (memory, a native library): check the input, "
                "then submit it again (finished outputs are reused)"
            )
        where = [_jobs.c.id == job_id, _jobs.c.status == JobState.running.value, _jobs.c.attempts == attempts]
        if silent_since is not None:
            where.append(_jobs.c.updated_at < silent_since)
        stmt = update(_jobs).where(*where).values(status=state.value, error=error, updated_at=_now())
        with self._engine.begin() as conn:
            return state if conn.execute(stmt).rowcount > 0 else None

    def fail(self, job_id: str, error: str) -> bool:
        """Record that the job failed with the one-line reason ``error``."""
        return self._update_unfinished(job_id, status=JobState.failed.value, error=error)

    def cancel(self, job_id: str) -> JobRecord | None:
        """Cancel the job if it has not finished; returns the record (None for an unknown id)."""
        self._update_unfinished(job_id, status=JobState.cancelled.value, error="cancelled by request")
        return self.get(job_id)

    def create_finished(
        self,
        job: str,
        video: str,
        params: dict[str, Any],
        result: JobResult,
        *,
        priority: int = NORMAL_PRIORITY,
        owner: str | None = None,
    ) -> JobRecord:
        """Record a job answered without running (its outputs existed): finished at once with ``result``."""
        record = self.create(job, video, params, priority=priority, owner=owner)
        self.finish(record.id, result)
        return self.get(record.id)  # type: ignore[return-value]

    def retry(self, job_id: str) -> bool:
        """Queue a job again that did not complete (queued, running when its worker died, or failed)."""
        retryable = [JobState.queued.value, JobState.running.value, JobState.failed.value]
        stmt = (
            update(_jobs)
            .where(_jobs.c.id == job_id, _jobs.c.status.in_(retryable))
            .values(status=JobState.queued.value, error=None, result=None, updated_at=_now())
        )
        with self._engine.begin() as conn:
            return conn.execute(stmt).rowcount > 0

    # --------------------------------------------------------------------------- uploads

    def add_upload(self, upload_id: str, name: str, uri: str, size: int, sha256: str | None = None) -> UploadRecord:
        """Record a completed upload (``sha256``: of its content, when known)."""
        row = {"id": upload_id, "name": name, "uri": uri, "size": size, "created_at": _now(), "sha256": sha256}
        with self._engine.begin() as conn:
            conn.execute(_uploads.insert().values(**row))
        return UploadRecord(**row)

    def get_upload(self, upload_id: str) -> UploadRecord | None:
        """The upload ``upload_id``, or None."""
        with self._engine.connect() as conn:
            row = conn.execute(select(_uploads).where(_uploads.c.id == upload_id)).mappings().first()
        return UploadRecord(**{**row, "created_at": _utc(row["created_at"])}) if row else None

    # --------------------------------------------------------------------------- reviews

    def add_review(self, result: JobResult, verdict: QaVerdict) -> ReviewRecord:
        """Queue ``result``'s outputs for review with their failed ``verdict``; a pending review of the same outputs
        (a forced re-run) is brought up to date instead of doubled."""
        with self._engine.begin() as conn:
            found = conn.execute(
                select(_reviews.c.id).where(
                    _reviews.c.output_uri == result.output_uri, _reviews.c.state == ReviewState.pending.value
                )
            ).scalar()
            values = {"verdict": verdict.model_dump(mode="json", exclude={"review"}), "input": result.input}
            if found is not None:
                conn.execute(update(_reviews).where(_reviews.c.id == found).values(**values))
                review_id = found
            else:
                review_id = uuid.uuid4().hex
                conn.execute(
                    _reviews.insert().values(
                        id=review_id,
                        job=result.job,
                        video_id=result.video_id,
                        params_hash=result.params_hash,
                        output_uri=result.output_uri,
                        state=ReviewState.pending.value,
                        created_at=_now(),
                        **values,
                    )
                )
        return self.get_review(review_id)  # type: ignore[return-value]

    def get_review(self, review_id: str) -> ReviewRecord | None:
        """The review ``review_id``, or None."""
        with self._engine.connect() as conn:
            row = conn.execute(select(_reviews).where(_reviews.c.id == review_id)).mappings().first()
        return _to_review(row) if row else None

    def list_reviews(self, *, state: ReviewState | None = None, limit: int = 1000) -> list[ReviewRecord]:
        """Reviews, oldest first, optionally in one state."""
        query = select(_reviews).order_by(_reviews.c.created_at, _reviews.c.id).limit(limit)
        if state is not None:
            query = query.where(_reviews.c.state == state.value)
        with self._engine.connect() as conn:
            return [_to_review(r) for r in conn.execute(query).mappings()]

    def decide_review(self, review_id: str, state: ReviewState, reason: str) -> ReviewRecord | None:
        """Record a reviewer's decision (``approved`` or ``rejected``) with its reason; None for an unknown id.

        A decision is final (approved outputs may already be served): ReviewDecided when the review was decided
        before, by this or another reviewer."""
        if state is ReviewState.pending:
            raise ValueError("a decision is approved or rejected, not pending")
        stmt = (
            update(_reviews)
            .where(_reviews.c.id == review_id, _reviews.c.state == ReviewState.pending.value)
            .values(state=state.value, reason=reason, decided_at=_now())
        )
        with self._engine.begin() as conn:
            changed = conn.execute(stmt).rowcount > 0
        review = self.get_review(review_id)
        if review is not None and not changed:
            raise ReviewDecided(review)
        return review


def _to_review(row: Any) -> ReviewRecord:
    return ReviewRecord(
        **{k: row[k] for k in ("id", "job", "input", "video_id", "params_hash", "output_uri", "reason")},
        verdict=QaVerdict.model_validate(row["verdict"]),
        state=ReviewState(row["state"]),
        created_at=_utc(row["created_at"]),
        decided_at=_utc(row["decided_at"]) if row["decided_at"] else None,
    )


def _add_missing_columns(engine: Engine) -> None:
    """Bring a store made by an older version up to date: add the columns and indexes it lacks."""
    for table in (_jobs, _uploads):
        have = {c["name"] for c in inspect(engine).get_columns(table.name)}
        for column in table.columns:
            if column.name in have:
                continue
            ddl = f"ALTER TABLE {table.name} ADD COLUMN {column.name} {column.type.compile(engine.dialect)}"
            if column.server_default is not None:
                ddl += f" NOT NULL DEFAULT {column.server_default.arg.text}"
            try:
                with engine.begin() as conn:
                    conn.execute(text(ddl))
            except DBAPIError:  # another process added it first
                if column.name not in {c["name"] for c in inspect(engine).get_columns(table.name)}:
                    raise
        for index in table.indexes:
            try:
                index.create(engine, checkfirst=True)
            except DBAPIError:  # another process made it first
                pass


def _to_record(row: Any) -> JobRecord:
    progress = Progress(stage=row["stage"], done=row["done"], total=row["total"]) if row["stage"] else None
    return JobRecord(
        id=row["id"],
        job=row["job"],
        video=row["video"],
        params=row["params"] or {},
        status=JobState(row["status"]),
        progress=progress,
        result=JobResult.model_validate(row["result"]) if row["result"] else None,
        error=row["error"],
        batch=row["batch"],
        priority=row["priority"],
        attempts=row["attempts"],
        owner=row["owner"],
        created_at=_utc(row["created_at"]),
        updated_at=_utc(row["updated_at"]),
        started_at=_utc(row["started_at"]) if row["started_at"] else None,
        worker=row["worker"],
    )
