"""What the review queue's API and SDK exchange: a decision's body and a review as a caller sees it."""

from __future__ import annotations

import datetime as _dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from genmedia.config import Config
from genmedia.jobs.records import ReviewRecord, ReviewState
from genmedia.schemas import QaVerdict
from genmedia.storage import is_local, local_path
from genmedia.validation import MultiLine


class ReviewDecision(BaseModel):
    """Body of ``POST /v1/reviews/{id}``."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"] = Field(description="approve: publish the outputs; reject: keep them back.")
    reason: MultiLine = Field(min_length=1, max_length=2000, description="Why (recorded with the decision).")


class ReviewView(BaseModel):
    """A review as the API shows it (the input as the caller named it; server paths never)."""

    id: str
    job: str
    input: str
    video_id: str
    params_hash: str
    verdict: QaVerdict
    state: ReviewState
    reason: str | None = None
    created_at: _dt.datetime
    decided_at: _dt.datetime | None = None


def _public_input(uri: str, cfg: Config) -> str:
    """An upload as ``upload:<id>``, another server-local file by its name, a remote URI as given."""
    if not is_local(uri):
        return uri
    path = local_path(uri)
    uploads = local_path(cfg.storage.root) / "uploads" if is_local(cfg.storage.root) else None
    if uploads is not None and path.parent.parent == uploads:
        return f"upload:{path.parent.name}"
    return path.name


def review_view(review: ReviewRecord, cfg: Config) -> ReviewView:
    """``review`` with its input made public (see :func:`_public_input`)."""
    return ReviewView(**{**review.model_dump(exclude={"input"}), "input": _public_input(review.input, cfg)})


__all__ = ["ReviewDecision", "ReviewView", "review_view"]
