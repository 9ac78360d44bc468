"""The job queue, kept in the job store's table: admission control, priorities, fair share, claims.

A submission is refused (:class:`QueueFull`, HTTP 429 with ``Retry-After``) when ``jobs.max_queued`` jobs
wait in all or ``jobs.max_queued_per_key`` wait for the same API key. One identical to a queued or running
job (same job, input content and parameters: :func:`dedup_key`) returns that job instead of a copy.

:meth:`JobQueue.claim` picks the next job to start: the highest priority among the job types that still
have room (``jobs.max_running`` / ``jobs.running_per_type``, and cluster CPUs / ``jobs.cpus_per_job`` in
all), then the API key with the fewest running jobs (ties: the one served least recently), then that key's
oldest job. On PostgreSQL the claim locks the row with ``SELECT ... FOR UPDATE SKIP LOCKED``, so several
ingress replicas dispatch from one table without starting a job twice; on SQLite the claim is a conditional
update that only one writer can win. Backfill records (``batch`` set) live in the same table but are not part
of this queue: a backfill streams its own records through Ray Data (``genmedia.jobs.backfill``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from genmedia.config import JobsConfig
from genmedia.errors import GenmediaError
from genmedia.jobs import records
from genmedia.jobs.records import (
    NORMAL_PRIORITY,
    JobRecord,
    JobState,
    JobStore,
    _jobs,
    _to_record,
    _utc,
)

PRIORITIES: dict[str, int] = {"high": 9, "normal": NORMAL_PRIORITY, "low": 0}
"""Priority names and their levels; any integer from MIN_PRIORITY to MAX_PRIORITY is accepted too."""
MIN_PRIORITY, MAX_PRIORITY = 0, 9
BACKFILL_PRIORITY = PRIORITIES["low"]
"""Backfills yield to interactive work unless told otherwise."""
_API = _jobs.c.batch.is_(None)
"""The queue holds the API's jobs; a backfill's records (``batch`` set) run in the backfill's own Ray Data pool."""
_RACED = object()
"""Picked owner when the jobs seen a moment ago were all claimed by another dispatcher: look again."""
CLAIM_TRIES = 5
"""Conditional claims lost to another dispatcher before giving up for this round."""


class QueueFull(GenmediaError):
    """The queue (or this caller's share of it) is full: try again after ``retry_after_s`` seconds."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


def parse_priority(value: str | int) -> int:
    """A priority name (``high``, ``normal``, ``low``) or integer as its level; ValueError naming the allowed values."""
    if isinstance(value, bool):  # bool is an int to Python, never a priority
        value = str(value)
    if isinstance(value, int) and MIN_PRIORITY <= value <= MAX_PRIORITY:
        return value
    if isinstance(value, str) and value.strip().lower() in PRIORITIES:
        return PRIORITIES[value.strip().lower()]
    names = ", ".join(PRIORITIES)
    raise ValueError(
        f"priority must be one of {names} or an integer from {MIN_PRIORITY} to {MAX_PRIORITY} "
        f"(higher starts first); got {value!r}"
    )


def dedup_key(job: str, content: str, params: Mapping[str, Any]) -> str:
    """The identity of a piece of work: sha256 over the job, the input's content id and the canonical params."""
    text = json.dumps([job, content, params], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Submitted:
    """The outcome of :meth:`JobQueue.submit`: the job, and the id it duplicates when it was already there."""

    record: JobRecord
    duplicate_of: str | None = None


@dataclass(frozen=True)
class Claimed:
    """A job just claimed to run, and how long it had waited in the queue."""

    record: JobRecord
    waited_s: float


class JobQueue:
    """The queue operations over a :class:`JobStore` with the ``jobs`` settings of the config."""

    def __init__(self, store: JobStore, cfg: JobsConfig) -> None:
        """Queue jobs in ``store`` under the limits of ``cfg``."""
        self.store = store
        self.cfg = cfg
        self._engine = store._engine

    # ------------------------------------------------------------------------------ submit

    def submit(
        self,
        job: str,
        video: str,
        params: dict[str, Any],
        *,
        owner: str | None = None,
        priority: int = NORMAL_PRIORITY,
        dedup: str | None = None,
    ) -> Submitted:
        """Queue a job, or return the queued/running job with the same ``dedup`` key; QueueFull when there is no room."""
        if dedup is not None and (same := self._unfinished_with(dedup)) is not None:
            return Submitted(same, duplicate_of=same.id)
        queued = and_(_jobs.c.status == JobState.queued.value, _API)
        with self._engine.connect() as conn:
            total = conn.execute(select(func.count()).where(queued)).scalar_one()
            mine = conn.execute(select(func.count()).where(queued, _owner_is(owner))).scalar_one() if owner else 0
        if total >= self.cfg.max_queued:
            raise QueueFull(
                f"the job queue is full ({total} jobs waiting, jobs.max_queued is {self.cfg.max_queued}); "
                f"retry in {self.cfg.retry_after_s} s",
                self.cfg.retry_after_s,
            )
        if mine >= self.cfg.max_queued_per_key:
            raise QueueFull(
                f"this API key has {mine} jobs waiting, its share (jobs.max_queued_per_key) is "
                f"{self.cfg.max_queued_per_key}; retry in {self.cfg.retry_after_s} s",
                self.cfg.retry_after_s,
            )
        return Submitted(self.store.create(job, video, params, priority=priority, owner=owner, dedup=dedup))

    def _unfinished_with(self, dedup: str) -> JobRecord | None:
        unfinished = [JobState.queued.value, JobState.running.value]
        query = (
            select(_jobs)
            .where(_jobs.c.dedup == dedup, _jobs.c.status.in_(unfinished))
            .order_by(_jobs.c.created_at)
            .limit(1)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return _to_record(row) if row else None

    # ------------------------------------------------------------------------------- views

    def position(self, record: JobRecord) -> int | None:
        """1 for the next queued job to start, 2 for the one after...; None when ``record`` is not queued.

        Counted in priority order then age, over every job type and key (fair share can move a job a few places).
        """
        if record.status is not JobState.queued:
            return None
        c = _jobs.c
        ahead = or_(
            c.priority > record.priority,
            and_(
                c.priority == record.priority,
                or_(c.created_at < record.created_at, and_(c.created_at == record.created_at, c.id < record.id)),
            ),
        )
        with self._engine.connect() as conn:
            return (
                1
                + conn.execute(select(func.count()).where(c.status == JobState.queued.value, _API, ahead)).scalar_one()
            )

    def depth_by_priority(self) -> dict[int, int]:
        """Queued jobs per priority level (levels with none are left out)."""
        query = (
            select(_jobs.c.priority, func.count())
            .where(_jobs.c.status == JobState.queued.value, _API)
            .group_by(_jobs.c.priority)
        )
        with self._engine.connect() as conn:
            return {int(p): int(n) for p, n in conn.execute(query)}

    def running_by_type(self) -> dict[str, int]:
        """Running jobs per job type (types with none are left out)."""
        query = (
            select(_jobs.c.job, func.count())
            .where(_jobs.c.status == JobState.running.value, _API)
            .group_by(_jobs.c.job)
        )
        with self._engine.connect() as conn:
            return {str(j): int(n) for j, n in conn.execute(query)}

    def silent(self, lost_after_s: float) -> list[str]:
        """Ids of running jobs with no heartbeat or progress for ``lost_after_s``."""
        cutoff = records._now() - _dt.timedelta(seconds=lost_after_s)
        query = select(_jobs.c.id).where(_jobs.c.status == JobState.running.value, _API, _jobs.c.updated_at < cutoff)
        with self._engine.connect() as conn:
            return [r for (r,) in conn.execute(query)]

    # ------------------------------------------------------------------------------- claim

    def limit(self, job: str) -> int:
        """How many jobs of type ``job`` may run at once, by the config."""
        return self.cfg.running_per_type.get(job, self.cfg.max_running)

    def claim(self, total_cap: int) -> Claimed | None:
        """Mark the next job to start running (one more attempt) and return it; None when nothing may start now.

        ``total_cap`` bounds the running jobs of every type together (from the cluster's resources).
        """
        for _ in range(CLAIM_TRIES):
            running = self.running_by_type()
            if sum(running.values()) >= total_cap:
                return None
            full = [job for job, n in running.items() if n >= self.limit(job)]
            pick = self._pick(full)
            if pick is None:
                return None
            if pick[1] is _RACED:
                continue
            claimed = self._take(pick, full)
            if claimed is not None:
                return claimed
        return None

    def _pick(self, full: list[str]) -> tuple[int, Any] | None:
        """The (priority, owner) whose job starts next, by priority then fair share; None when nothing waits."""
        c = _jobs.c
        waiting = [c.status == JobState.queued.value, _API, *([c.job.not_in(full)] if full else [])]
        with self._engine.connect() as conn:
            top = conn.execute(select(func.max(c.priority)).where(*waiting)).scalar()
            if top is None:
                return None
            heads = dict(
                conn.execute(
                    select(c.owner, func.min(c.created_at)).where(*waiting, c.priority == top).group_by(c.owner)
                ).all()
            )
            if not heads:  # another dispatcher took the last of them meanwhile
                return top, _RACED
            owners = [o for o in heads if o is not None]
            busy = (
                dict(
                    conn.execute(
                        select(c.owner, func.count())
                        .where(c.status == JobState.running.value, c.owner.in_(owners))
                        .group_by(c.owner)
                    ).all()
                )
                if owners
                else {}
            )
            served = (
                dict(
                    conn.execute(
                        select(c.owner, func.max(c.started_at)).where(c.owner.in_(owners)).group_by(c.owner)
                    ).all()
                )
                if owners
                else {}
            )
        never = _dt.datetime.min.replace(tzinfo=_dt.UTC)

        def share(owner: str | None) -> tuple[int, _dt.datetime, _dt.datetime]:
            last = served.get(owner)
            return busy.get(owner, 0), _utc(last) if last else never, _utc(heads[owner])

        return top, min(heads, key=share)

    def _take(self, pick: tuple[int, str | None], full: list[str]) -> Claimed | None:
        """Claim the oldest queued job of the picked priority and owner; None when another dispatcher won it."""
        priority, owner = pick
        c = _jobs.c
        waiting = [
            c.status == JobState.queued.value,
            _API,
            c.priority == priority,
            _owner_is(owner),
            *([c.job.not_in(full)] if full else []),
        ]
        head = (
            select(c.id, c.updated_at)
            .where(*waiting)
            .order_by(c.created_at, c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        now = records._now()
        with self._engine.begin() as conn:
            row = conn.execute(head).first()
            if row is None:
                return None
            stmt = (
                update(_jobs)
                .where(c.id == row.id, c.status == JobState.queued.value)
                .values(
                    status=JobState.running.value,
                    attempts=c.attempts + 1,
                    started_at=now,
                    updated_at=now,
                    error=None,
                    worker=None,
                )
            )
            if conn.execute(stmt).rowcount == 0:
                return None
            record = _to_record(conn.execute(select(_jobs).where(c.id == row.id)).mappings().one())
        return Claimed(record, max(0.0, (now - _utc(row.updated_at)).total_seconds()))


def _owner_is(owner: str | None) -> Any:
    return _jobs.c.owner.is_(None) if owner is None else _jobs.c.owner == owner
