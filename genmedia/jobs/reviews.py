"""The QA gate of the job contract and the human review queue behind it.

:func:`gate` runs a job's checks (``genmedia.qa``) on its outputs before the manifest; outputs that fail are
queued for review in the job store and their manifest says ``"published": false``. A reviewer's decision
(:func:`decide`) rewrites the manifest's ``published`` flag and ``review`` entry: approved outputs are published,
rejected ones stay unpublished. ``published`` in ``manifest.json`` is what a consumer of the outputs (a CDN
sync, the thumbnails A/B experiment) must read before it serves them; docs/qa.md says so.
"""

from __future__ import annotations

import logging
from typing import Any

from genmedia.config import Config
from genmedia.errors import InputError
from genmedia.jobs.records import JobStore, ReviewRecord, ReviewState
from genmedia.pipelines.published import on_published, on_withdrawn
from genmedia.qa import QaInput, run_checks, verdict_of
from genmedia.schemas import JobResult, QaCheck, QaVerdict
from genmedia.storage import JobOutput

log = logging.getLogger(__name__)

DECISIONS = {"approve": ReviewState.approved, "reject": ReviewState.rejected}


class UnknownReview(InputError):
    """No review has this id (404 from the HTTP API)."""

    def __init__(self, review_id: str) -> None:
        super().__init__(review_id, "no such review")


def check_outputs(qa: QaInput) -> QaVerdict | None:
    """The QA verdict on a job's outputs (None when ``qa.enabled`` is off). A check that cannot run (an output
    that does not decode) fails with its error as the reason: the outputs then wait for a reviewer."""
    if not qa.cfg.qa.enabled:
        return None
    try:
        return run_checks(qa)
    except Exception as e:  # noqa: BLE001 - any failure to check is a failed check, decided by a person
        log.warning("QA checks of %s could not run: %s", qa.output.prefix, e)
        return verdict_of([QaCheck(name="checks_ran", passed=False, reason=f"{type(e).__name__}: {e}")])


def gate(cfg: Config, result: JobResult, verdict: QaVerdict | None) -> QaVerdict | None:
    """Queue ``result``'s outputs for review when ``verdict`` failed; returns the verdict with the review's id."""
    if verdict is None or verdict.verdict == "pass":
        return verdict
    review = JobStore.from_config(cfg).add_review(result, verdict)
    return verdict.model_copy(update={"review": review.id})


def manifest_fields(verdict: QaVerdict | None) -> dict[str, Any]:
    """The manifest's ``qa``, ``published`` and ``review`` entries for a fresh verdict."""
    published = verdict is None or verdict.verdict == "pass"
    review = {"id": verdict.review, "state": ReviewState.pending.value} if verdict and verdict.review else None
    return {
        "qa": verdict.model_dump(mode="json") if verdict else None,
        "published": published,
        "review": review,
    }


def _output_of(review: ReviewRecord, cfg: Config) -> JobOutput:
    root = review.output_uri.rstrip("/").rsplit("/", 3)[0]
    return JobOutput(root, review.video_id, review.job, review.params_hash, cfg.storage)


def decide(cfg: Config, store: JobStore, review_id: str, decision: str, reason: str) -> ReviewRecord:
    """Approve (publish) or reject (keep unpublished) the outputs under review ``review_id``, with ``reason``.

    The decision is recorded in the store, then in the outputs' ``manifest.json`` (``published`` and ``review``).
    UnknownReview for an unknown id; InputError for a decision other than approve / reject.
    """
    if decision not in DECISIONS:
        raise InputError("decision", f"must be one of {', '.join(DECISIONS)}, not {decision!r}")
    review = store.decide_review(review_id, DECISIONS[decision], reason)
    if review is None:
        raise UnknownReview(review_id)
    output = _output_of(review, cfg)
    if not output.is_done():
        raise InputError(review_id, f"the outputs under review are gone ({output.prefix} has no manifest)")
    output.update_manifest(
        {
            "published": review.state is ReviewState.approved,
            "review": {
                "id": review.id,
                "state": review.state.value,
                "reason": reason,
                "decided_at": review.decided_at.isoformat(timespec="seconds") if review.decided_at else None,
            },
        }
    )
    # e.g. the thumbnails' A/B experiment gets the approved variants, or stops showing rejected ones
    (on_published if review.state is ReviewState.approved else on_withdrawn)(cfg, review.job, output)
    return review


__all__ = ["DECISIONS", "UnknownReview", "check_outputs", "decide", "gate", "manifest_fields"]
