"""What happens when a job's outputs are published or withdrawn.

Outputs are published after the QA gate passes them (``run_job``) or when a reviewer approves them
(:func:`genmedia.jobs.reviews.decide`), and withdrawn when the gate fails them (a forced re-run rewrites files
an experiment may be showing) or a reviewer rejects them, so nothing that failed QA is served. The thumbnails
job's published variants become its video's A/B experiment (created, or updated with the new image URLs:
:meth:`genmedia.abtest.service.ABTestService.publish`); withdrawn, an active experiment showing them ends.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from genmedia.config import Config
from genmedia.storage import JobOutput

THUMBNAILS_DOC = "thumbnails.json"


def _thumbnails_doc(output: JobOutput) -> dict | None:
    """``thumbnails.json`` of a finished thumbnails output (None when its manifest lists none)."""
    if THUMBNAILS_DOC not in {f["name"] for f in output.read_manifest().get("files", [])}:
        return None
    return json.loads(output.read_bytes(THUMBNAILS_DOC))


def start_thumbnail_experiment(cfg: Config, output: JobOutput) -> None:
    """Create or update the video's A/B experiment with the published variants of ``output``'s ``thumbnails.json``
    (image URLs under the output's prefix); nothing with fewer than two published variants."""
    from genmedia.abtest import publish
    from genmedia.abtest.service import ABTestService

    doc = _thumbnails_doc(output)
    if doc is None:
        return
    service = ABTestService.from_config(cfg)
    try:
        publish.publish_thumbnails(service, doc, output.prefix)
    finally:
        service.store.close()


def end_thumbnail_experiment(cfg: Config, output: JobOutput) -> None:
    """End the video's active A/B experiment when it shows images of ``output`` (status 'replaced')."""
    from genmedia.abtest.service import ABTestService
    from genmedia.abtest.store import ACTIVE

    service = ABTestService.from_config(cfg)
    try:
        exp = service.store.current(output.video_id)
        urls = [u for by_aspect in service.store.images(exp.id).values() for u in by_aspect.values()] if exp else []
        if exp is not None and exp.status == ACTIVE and any(u.startswith(f"{output.prefix}/") for u in urls):
            service.store.retire(exp.id)
    finally:
        service.store.close()


ON_PUBLISH: dict[str, Callable[[Config, JobOutput], None]] = {"thumbnails": start_thumbnail_experiment}
"""Job name -> what publishing its outputs does (jobs not named here publish by their manifest alone)."""
ON_WITHDRAW: dict[str, Callable[[Config, JobOutput], None]] = {"thumbnails": end_thumbnail_experiment}
"""Job name -> what withdrawing its outputs (a reviewer's rejection) does."""


def on_published(cfg: Config, job: str, output: JobOutput) -> None:
    """Run ``job``'s publishing step for ``output`` (see :data:`ON_PUBLISH`)."""
    step = ON_PUBLISH.get(job)
    if step is not None:
        step(cfg, output)


def on_withdrawn(cfg: Config, job: str, output: JobOutput) -> None:
    """Run ``job``'s withdrawing step for ``output`` (see :data:`ON_WITHDRAW`)."""
    step = ON_WITHDRAW.get(job)
    if step is not None:
        step(cfg, output)


__all__ = [
    "ON_PUBLISH",
    "ON_WITHDRAW",
    "end_thumbnail_experiment",
    "on_published",
    "on_withdrawn",
    "start_thumbnail_experiment",
]
