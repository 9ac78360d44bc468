"""The A/B test's state in a real database (SQLAlchemy): experiments and their impression/click events.

SQLite file by default, PostgreSQL (or any SQLAlchemy URL) in production. Each event is one row keyed by
its event id, so a repeated event is rejected by the primary key (idempotent) and concurrent writers never
lose an increment: counts are always aggregated from the rows themselves.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from genmedia.config import Config
from genmedia.db import make_engine, sqlite_url

IMPRESSION, CLICK = "impression", "click"
ACTIVE, CONCLUDED, REPLACED = "active", "concluded", "replaced"


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


class Base(DeclarativeBase):
    """Tables of the A/B test."""


class ExperimentRow(Base):
    """One experiment: a video's variants and the settings it runs with."""

    __tablename__ = "ab_experiments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    video: Mapped[str] = mapped_column(String(200), index=True)
    # Equal to ``video`` while the experiment is active, NULL after: a portable "one active per video".
    active_video: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    variants: Mapped[list[str]] = mapped_column(JSON)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    winner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    winner_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    concluded_at: Mapped[_dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class EventRow(Base):
    """One impression or click; the event id (the caller's) is the primary key."""

    __tablename__ = "ab_events"
    __table_args__ = (Index("ix_ab_events_counts", "experiment_id", "kind", "segment", "variant"),)

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    experiment_id: Mapped[str] = mapped_column(ForeignKey("ab_experiments.id"))
    kind: Mapped[str] = mapped_column(String(16))
    variant: Mapped[str] = mapped_column(String(100))
    segment: Mapped[str | None] = mapped_column(String(100), nullable=True)
    user: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class ContextRow(Base):
    """The viewer's context of one event (a table of its own, so older databases need no migration)."""

    __tablename__ = "ab_event_contexts"
    __table_args__ = (Index("ix_ab_event_contexts_seq", "experiment_id", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("ab_events.event_id"), unique=True)
    experiment_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    variant: Mapped[str] = mapped_column(String(100))
    context: Mapped[dict[str, Any]] = mapped_column(JSON)


class ScopeWinnerRow(Base):
    """A winner declared on one segment's own data (the global winner lives on the experiment row)."""

    __tablename__ = "ab_segment_winners"
    __table_args__ = (UniqueConstraint("experiment_id", "segment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[str] = mapped_column(ForeignKey("ab_experiments.id"))
    segment: Mapped[str] = mapped_column(String(100))
    winner: Mapped[str] = mapped_column(String(100))
    probability: Mapped[float] = mapped_column(Float)
    declared_at: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class ImageRow(Base):
    """The image URL of one variant at one aspect ratio."""

    __tablename__ = "ab_variant_images"
    __table_args__ = (UniqueConstraint("experiment_id", "variant", "aspect"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[str] = mapped_column(ForeignKey("ab_experiments.id"))
    variant: Mapped[str] = mapped_column(String(100))
    aspect: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(String(2000))


@dataclass(frozen=True)
class ContextEvent:
    """An event with its context, in store order (``seq`` grows)."""

    seq: int
    kind: str
    variant: str
    context: dict[str, Any]


@dataclass(frozen=True)
class Experiment:
    """An experiment as read from the store."""

    id: str
    video: str
    status: str
    variants: list[str]
    settings: dict[str, Any]
    winner: str | None
    winner_probability: float | None
    created_at: _dt.datetime

    @classmethod
    def of(cls, row: ExperimentRow) -> Experiment:
        return cls(
            row.id,
            row.video,
            row.status,
            list(row.variants),
            dict(row.settings),
            row.winner,
            row.winner_probability,
            row.created_at,
        )


Counts = dict[tuple[str | None, str], dict[str, int]]
"""(segment, variant) -> {"impression": n, "click": n}; segment None means no segment was given."""


def default_url(cfg: Config) -> str:
    """The configured store URL, or a SQLite file in the cache dir."""
    if cfg.pipelines.thumbnails.abtest.store_url:
        return cfg.pipelines.thumbnails.abtest.store_url
    return sqlite_url(cfg.storage.cache_path / "abtest.sqlite")


class Store:
    """Experiments and events in one database."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def create(self, video: str, variants: list[str], settings: dict[str, Any]) -> Experiment | None:
        """A new active experiment for ``video``; None when the video already has an active one."""
        row = ExperimentRow(
            id=uuid.uuid4().hex,
            video=video,
            active_video=video,
            status=ACTIVE,
            variants=list(variants),
            settings=dict(settings),
        )
        try:
            with self._session() as s:
                s.add(row)
        except IntegrityError:
            return None
        return Experiment.of(row)

    def current(self, video: str) -> Experiment | None:
        """The video's active experiment, else its most recent one, else None."""
        with self._session() as s:
            row = s.scalars(
                select(ExperimentRow)
                .where(ExperimentRow.video == video)
                .order_by(ExperimentRow.active_video.is_(None), ExperimentRow.created_at.desc())
                .limit(1)
            ).first()
            return Experiment.of(row) if row else None

    def conclude(self, experiment_id: str, winner: str, probability: float) -> Experiment:
        """Record the winner and end the experiment (only the first call takes effect)."""
        with self._session() as s:
            row = s.get(ExperimentRow, experiment_id, with_for_update=True)
            if row.status == ACTIVE:
                row.status, row.active_video = CONCLUDED, None
                row.winner, row.winner_probability, row.concluded_at = winner, probability, _now()
            return Experiment.of(row)

    def add_event(
        self,
        experiment_id: str,
        event_id: str,
        kind: str,
        variant: str,
        segment: str | None,
        user: str | None,
        context: dict[str, Any] | None = None,
    ) -> bool:
        """Store one event (and its context, if any); False when an event with this id was already stored."""
        try:
            with self._session() as s:
                s.add(
                    EventRow(
                        event_id=event_id,
                        experiment_id=experiment_id,
                        kind=kind,
                        variant=variant,
                        segment=segment,
                        user=user,
                    )
                )
                if context:
                    s.flush()
                    s.add(
                        ContextRow(
                            event_id=event_id,
                            experiment_id=experiment_id,
                            kind=kind,
                            variant=variant,
                            context=dict(context),
                        )
                    )
        except IntegrityError:
            with self._session() as s:
                if s.get(EventRow, event_id) is None:
                    raise
            return False
        return True

    def counts(self, experiment_id: str) -> Counts:
        """Impressions and clicks of every (segment, variant) of the experiment."""
        query = (
            select(EventRow.segment, EventRow.variant, EventRow.kind, func.count())
            .where(EventRow.experiment_id == experiment_id)
            .group_by(EventRow.segment, EventRow.variant, EventRow.kind)
        )
        out: Counts = {}
        with self._session() as s:
            for segment, variant, kind, n in s.execute(query):
                out.setdefault((segment, variant), {IMPRESSION: 0, CLICK: 0})[kind] = int(n)
        return out

    def context_events(self, experiment_id: str, after: int = 0) -> list[ContextEvent]:
        """The experiment's events that carry a context, with ``seq`` above ``after``, in order."""
        query = (
            select(ContextRow.seq, ContextRow.kind, ContextRow.variant, ContextRow.context)
            .where(ContextRow.experiment_id == experiment_id, ContextRow.seq > after)
            .order_by(ContextRow.seq)
        )
        with self._session() as s:
            return [ContextEvent(seq, kind, variant, dict(ctx)) for seq, kind, variant, ctx in s.execute(query)]

    def segment_winners(self, experiment_id: str) -> dict[str, tuple[str, float]]:
        """Segment -> (winner, its P(best)) for every segment with a declared winner."""
        query = select(ScopeWinnerRow.segment, ScopeWinnerRow.winner, ScopeWinnerRow.probability).where(
            ScopeWinnerRow.experiment_id == experiment_id
        )
        with self._session() as s:
            return {seg: (w, float(p)) for seg, w, p in s.execute(query)}

    def declare_segment_winner(self, experiment_id: str, segment: str, winner: str, probability: float) -> str:
        """Record a segment's winner; the first declaration stands. Returns the segment's winner."""
        try:
            with self._session() as s:
                s.add(
                    ScopeWinnerRow(experiment_id=experiment_id, segment=segment, winner=winner, probability=probability)
                )
        except IntegrityError:
            pass
        return self.segment_winners(experiment_id)[segment][0]

    def set_images(self, experiment_id: str, images: dict[str, dict[str, str]]) -> None:
        """Replace the experiment's image URLs: variant -> {aspect: url}."""
        with self._session() as s:
            for row in s.scalars(select(ImageRow).where(ImageRow.experiment_id == experiment_id)):
                s.delete(row)
            s.flush()
            s.add_all(
                ImageRow(experiment_id=experiment_id, variant=v, aspect=a, url=u)
                for v, by_aspect in images.items()
                for a, u in by_aspect.items()
            )

    def images(self, experiment_id: str) -> dict[str, dict[str, str]]:
        """Variant -> {aspect: url} of the experiment."""
        out: dict[str, dict[str, str]] = {}
        query = select(ImageRow.variant, ImageRow.aspect, ImageRow.url).where(ImageRow.experiment_id == experiment_id)
        with self._session() as s:
            for variant, aspect, url in s.execute(query):
                out.setdefault(variant, {})[aspect] = url
        return out

    def retire(self, experiment_id: str) -> None:
        """End an active experiment without a winner (its variants were replaced)."""
        with self._session() as s:
            row = s.get(ExperimentRow, experiment_id, with_for_update=True)
            if row.status == ACTIVE:
                row.status, row.active_video, row.concluded_at = REPLACED, None, _now()

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()
