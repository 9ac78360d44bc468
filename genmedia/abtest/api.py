"""The A/B testing HTTP API: a FastAPI ``router`` the Serve ingress mounts (it adds auth as a dependency).

    POST /v1/thumbnails/{video}/experiments        create an experiment with its variants
    GET  /v1/thumbnails/{video}/experiment         the active (else latest) experiment
    GET  /v1/thumbnails/{video}/choose?user=&segment=&device=&region=&hour=&views=&clicks=   the variant to show
    POST /v1/thumbnails/{video}/impressions        record an impression (idempotent by event_id)
    POST /v1/thumbnails/{video}/clicks             record a click (idempotent by event_id)
    GET  /v1/thumbnails/{video}/stats?segment=     impressions, clicks, CTR, P(best), credible intervals

The service comes from the :func:`get_service` dependency (the configured store); an app overrides it
with ``app.dependency_overrides[get_service] = ...`` to share one service or use another store.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from genmedia.abtest.contextual import Context
from genmedia.abtest.service import ABTestService, Choice, Conflict, EventAck, ExperimentInfo, NotFound, Stats
from genmedia.abtest.store import CLICK, IMPRESSION
from genmedia.config import load_config
from genmedia.errors import InputError

NAME = r"^[A-Za-z0-9._:-]{1,100}$"


@lru_cache(maxsize=1)
def get_service() -> ABTestService:
    """The process's service on the configured store (``$GENMEDIA_CONFIG`` or the embedded default)."""
    return ABTestService.from_config(load_config())


class CreateExperiment(BaseModel):
    """Body of ``POST .../experiments``; unset settings take the config's defaults."""

    model_config = ConfigDict(extra="forbid")

    variants: list[Annotated[str, Field(pattern=NAME)]] = Field(min_length=2, max_length=50)
    explore_floor: float | None = Field(None, ge=0, le=0.5)
    winner_probability: float | None = Field(None, gt=0.5, lt=1)
    min_impressions: int | None = Field(None, ge=1)
    segment_min_impressions: int | None = Field(None, ge=1)
    context_min_impressions: int | None = Field(None, ge=1)
    images: dict[str, dict[str, Annotated[str, Field(min_length=1, max_length=2000)]]] | None = Field(
        None, description="Variant -> {aspect: image URL}; choose returns the URL for a requested aspect."
    )


class Event(BaseModel):
    """Body of ``POST .../impressions`` and ``.../clicks``."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=128)
    variant: str = Field(pattern=NAME)
    user: str | None = Field(None, max_length=200)
    segment: str | None = Field(None, pattern=NAME)
    context: Context | None = Field(None, description="The viewer's context; a click repeats its impression's.")


Video = Annotated[str, Path(pattern=NAME, description="The video's id (e.g. its genmedia video_id).")]
Service = Annotated[ABTestService, Depends(get_service)]
Segment = Annotated[str | None, Query(pattern=NAME, description="Audience segment for personalisation.")]

router = APIRouter(prefix="/v1/thumbnails", tags=["thumbnails A/B"])


def _call(fn, *args, **kwargs):  # noqa: ANN001, ANN202 - maps service errors to HTTP statuses
    try:
        return fn(*args, **kwargs)
    except NotFound as e:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(e)) from None
    except Conflict as e:
        raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from None
    except InputError as e:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(e)) from None


@router.post("/{video}/experiments", status_code=status.HTTP_201_CREATED)
def create_experiment(video: Video, body: CreateExperiment, service: Service) -> ExperimentInfo:
    """Start an A/B experiment for the video (409 if one is active)."""
    return _call(service.create, video, body.variants, body.images, **body.model_dump(exclude={"variants", "images"}))


@router.get("/{video}/experiment")
def get_experiment(video: Video, service: Service) -> ExperimentInfo:
    """The video's active experiment, else its latest one."""
    return _call(service.experiment, video)


@router.get("/{video}/choose")
def choose(
    video: Video,
    service: Service,
    segment: Segment = None,
    user: Annotated[str | None, Query(max_length=200)] = None,
    device: Annotated[str | None, Query(max_length=40)] = None,
    region: Annotated[str | None, Query(max_length=40)] = None,
    hour: Annotated[int | None, Query(ge=0, le=23)] = None,
    views: Annotated[int, Query(ge=0)] = 0,
    clicks: Annotated[int, Query(ge=0)] = 0,
    aspect: Annotated[str | None, Query(max_length=16, description="e.g. 16:9: return its image URL.")] = None,
) -> Choice:
    """The variant to show now (contextual or Thompson sampling; a winner where one is declared)."""
    fields = {"device": device, "region": region, "hour": hour, "views": views, "clicks": clicks}
    context = Context(**fields) if any(v not in (None, 0) for v in fields.values()) else None
    return _call(service.choose, video, user=user, segment=segment, context=context, aspect=aspect)


@router.post("/{video}/impressions")
def impression(video: Video, body: Event, service: Service) -> EventAck:
    """Record that a variant was shown; a repeated event_id is acknowledged and ignored."""
    return _call(
        service.record,
        video,
        IMPRESSION,
        body.event_id,
        body.variant,
        user=body.user,
        segment=body.segment,
        context=body.context,
    )


@router.post("/{video}/clicks")
def click(video: Video, body: Event, service: Service) -> EventAck:
    """Record that a shown variant was clicked; a repeated event_id is acknowledged and ignored."""
    return _call(
        service.record,
        video,
        CLICK,
        body.event_id,
        body.variant,
        user=body.user,
        segment=body.segment,
        context=body.context,
    )


@router.get("/{video}/stats")
def stats(video: Video, service: Service, segment: Segment = None) -> Stats:
    """Per variant: impressions, clicks, CTR, probability of being best and its 95% credible interval."""
    return _call(service.stats, video, segment=segment)
