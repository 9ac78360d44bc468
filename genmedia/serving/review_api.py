"""The review queue's HTTP API: a router the ingress mounts under its API-key check.

    GET  /v1/reviews?state=pending           outputs that failed the QA gate, oldest first
    GET  /v1/reviews/{id}                    one review
    POST /v1/reviews/{id}                    {"decision": "approve" | "reject", "reason": "..."}

Approving publishes the outputs (their manifest's ``published`` becomes true); rejecting keeps them unpublished
(``genmedia.jobs.reviews``). An unknown id answers 404; an invalid body 422 naming the field; a second decision
409 (a decision is final).
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from genmedia.config import Config
from genmedia.jobs.records import JobStore, ReviewDecided, ReviewState
from genmedia.jobs.reviews import UnknownReview, decide
from genmedia.serving.reviews import ReviewDecision, ReviewView, review_view

_ID = re.compile(r"[0-9a-f]{32}")


def review_router(cfg: Config, store: JobStore) -> APIRouter:
    """The ``/v1/reviews`` routes over ``store`` (the app adds its API-key check)."""
    router = APIRouter(prefix="/v1/reviews", tags=["reviews"])

    def known(review_id: str) -> str:
        if not _ID.fullmatch(review_id):
            raise HTTPException(404, f"no review {review_id}")
        return review_id

    @router.get("", response_model=list[ReviewView])
    def list_reviews(
        state: Annotated[ReviewState | None, Query(description="Only reviews in this state.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[ReviewView]:
        """Outputs that failed the QA gate, oldest first: the failed checks, the state and any decision."""
        return [review_view(r, cfg) for r in store.list_reviews(state=state, limit=limit)]

    @router.get("/{review_id}", response_model=ReviewView)
    def get_review(review_id: str) -> ReviewView:
        """One review."""
        review = store.get_review(known(review_id))
        if review is None:
            raise HTTPException(404, f"no review {review_id}")
        return review_view(review, cfg)

    @router.post("/{review_id}", response_model=ReviewView)
    async def decide_review(review_id: str, body: ReviewDecision) -> ReviewView:
        """Approve (publish) or reject (keep unpublished) the outputs under review, with a reason."""
        try:
            review = await asyncio.to_thread(decide, cfg, store, known(review_id), body.decision, body.reason)
        except UnknownReview:
            raise HTTPException(404, f"no review {review_id}") from None
        except ReviewDecided as e:
            raise HTTPException(409, str(e)) from None
        return review_view(review, cfg)

    return router


__all__ = ["review_router"]
