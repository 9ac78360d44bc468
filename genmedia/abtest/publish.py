"""The thumbnails job's A/B experiment: its published variants and their image URLs per aspect."""

from __future__ import annotations

from typing import Any

from genmedia.abtest.service import ABTestService, ExperimentInfo


def variant_images(doc: dict[str, Any], base_url: str) -> dict[str, dict[str, str]]:
    """Variant id -> {aspect: URL} of the published variants of a ``thumbnails.json`` document.

    ``base_url``: where the job's output folder is served (each aspect's ``file`` is relative to it).
    """
    base = base_url.rstrip("/")
    return {
        v["id"]: {aspect: f"{base}/{entry['file']}" for aspect, entry in v["aspects"].items() if entry.get("file")}
        for v in doc["variants"]
        if v.get("published")
    }


def publish_thumbnails(service: ABTestService, doc: dict[str, Any], base_url: str) -> ExperimentInfo | None:
    """Create or update the video's experiment with the published variants; None with fewer than two."""
    images = variant_images(doc, base_url)
    if len(images) < 2:
        return None
    return service.publish(doc["video_id"], images)
