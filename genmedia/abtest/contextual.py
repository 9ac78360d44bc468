"""Contextual bandit of the A/B test: linear Thompson sampling over the viewer's context.

Each variant has its own Bayesian linear regression of the click (0/1) on the context's feature vector
``x`` (segment, device, region, hour of day, the viewer's history): with a ridge prior the posterior of
its weights is N(B^-1 f, v^2 B^-1) where B = I + sum(x x^T) over the variant's impressions and
f = sum(x) over its clicks. Because a click carries the same context as its impression, the sums need
no join between the two events. A choice draws one weight vector per variant and shows the variant
whose draw scores ``x`` highest.

Categorical fields are hashed (stable sha256 buckets) so unseen segments and regions need no vocabulary.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

DEVICES = ("mobile", "tablet", "desktop", "tv")
"""Known device classes; anything else is encoded as 'other'."""
SEGMENT_BUCKETS = 16
REGION_BUCKETS = 16
DIM = 1 + SEGMENT_BUCKETS + len(DEVICES) + 1 + REGION_BUCKETS + 2 + 2
"""Feature length: bias, segment, device (+other), region, hour (sin, cos), history (views, click rate)."""
NOISE_SCALE = 0.25
"""v: the posterior scale of the weight draws (about the standard deviation of a click at a 5-10% CTR)."""


class Context(BaseModel):
    """What is known about the request: all fields optional."""

    model_config = ConfigDict(extra="forbid")

    segment: str | None = Field(None, max_length=100)
    device: str | None = Field(None, max_length=40, description="mobile, tablet, desktop, tv (else 'other').")
    region: str | None = Field(None, max_length=40, description="e.g. an ISO country code.")
    hour: int | None = Field(None, ge=0, le=23, description="Local hour of day of the viewer.")
    views: int = Field(0, ge=0, description="Thumbnails this viewer was shown before.")
    clicks: int = Field(0, ge=0, description="Of those, how many the viewer clicked.")

    def is_empty(self) -> bool:
        """True when no field carries information."""
        return self.model_dump(exclude_defaults=True) == {}


def _bucket(value: str, buckets: int) -> int:
    return int.from_bytes(hashlib.sha256(value.encode()).digest()[:4], "big") % buckets


def features(ctx: Context) -> np.ndarray:
    """The context's feature vector (length :data:`DIM`)."""
    x = np.zeros(DIM)
    x[0] = 1.0
    at = 1
    if ctx.segment:
        x[at + _bucket(ctx.segment, SEGMENT_BUCKETS)] = 1.0
    at += SEGMENT_BUCKETS
    if ctx.device:
        x[at + (DEVICES.index(ctx.device) if ctx.device in DEVICES else len(DEVICES))] = 1.0
    at += len(DEVICES) + 1
    if ctx.region:
        x[at + _bucket(ctx.region.upper(), REGION_BUCKETS)] = 1.0
    at += REGION_BUCKETS
    if ctx.hour is not None:
        angle = 2 * math.pi * ctx.hour / 24
        x[at : at + 2] = 0.5 * math.sin(angle), 0.5 * math.cos(angle)
    at += 2
    x[at] = math.log1p(ctx.views) / 5
    x[at + 1] = (min(ctx.clicks, ctx.views) + 0.5) / (ctx.views + 10)
    return x


@dataclass
class LinearThompson:
    """Per-variant sufficient statistics of the Bayesian linear regressions, updated incrementally."""

    variants: int
    scale: float = NOISE_SCALE
    b: np.ndarray = field(init=False)
    f: np.ndarray = field(init=False)
    impressions: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.b = np.repeat(np.eye(DIM)[None], self.variants, axis=0)
        self.f = np.zeros((self.variants, DIM))
        self.impressions = np.zeros(self.variants, dtype=np.int64)

    def add_impressions(self, arms: np.ndarray, x: np.ndarray) -> None:
        """Add impressions of variants ``arms`` (n) with contexts ``x`` (n x DIM)."""
        arms = np.asarray(arms, dtype=np.int64)
        x = np.atleast_2d(x)
        np.add.at(self.b, arms, np.einsum("ni,nj->nij", x, x))
        self.impressions += np.bincount(arms, minlength=self.variants)

    def add_clicks(self, arms: np.ndarray, x: np.ndarray) -> None:
        """Add clicks of variants ``arms`` (n) with contexts ``x`` (n x DIM)."""
        np.add.at(self.f, np.asarray(arms, dtype=np.int64), np.atleast_2d(x))

    def scores(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One Thompson draw of every variant's expected click for each row of ``x`` (n x variants)."""
        x = np.atleast_2d(x)
        chol = np.linalg.cholesky(self.b)  # B = L L^T; B^-1 = L^-T L^-1
        mean = np.linalg.solve(self.b, self.f[..., None])[..., 0]  # (k, d)
        # theta = mean + v L^-T z has covariance v^2 B^-1; one draw per row and variant.
        z = rng.standard_normal((x.shape[0], self.variants, DIM))
        noise = np.linalg.solve(np.swapaxes(chol, 1, 2)[None], z[..., None])[..., 0]
        theta = mean[None] + self.scale * noise
        return np.einsum("nkd,nd->nk", theta, x)

    def choose(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The variant with the highest Thompson draw for each row of ``x``."""
        return np.argmax(self.scores(x, rng), axis=1)

    def trusted(self, min_impressions: int) -> bool:
        """Whether every variant has ``min_impressions`` impressions (the A/B config's ``context_min_impressions``):
        before that its choices fall back to the per-segment or global posteriors."""
        return bool(self.impressions.min() >= min_impressions)
