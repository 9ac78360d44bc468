"""The statistics of the A/B test: Beta posteriors of click-through, Thompson sampling, P(best), intervals.

Pure numpy, no database: a variant with ``c`` clicks in ``n`` impressions has the posterior
Beta(1 + c, 1 + n - c) (a uniform prior). Thompson sampling shows the variant whose posterior draw is
highest, so each variant is shown with the probability that it is the best; an explore floor keeps every
variant at or above a minimum share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRIOR = (1.0, 1.0)
"""Beta prior of every click-through rate: uniform."""


@dataclass(frozen=True)
class Posteriors:
    """Beta parameters of each variant's click-through rate (arrays of equal length)."""

    alpha: np.ndarray
    beta: np.ndarray

    @classmethod
    def from_counts(cls, impressions: np.ndarray, clicks: np.ndarray) -> Posteriors:
        """Posteriors from impression and click counts (clicks are capped at impressions)."""
        n = np.asarray(impressions, dtype=np.float64)
        c = np.minimum(np.asarray(clicks, dtype=np.float64), n)
        return cls(alpha=PRIOR[0] + c, beta=PRIOR[1] + n - c)

    def __len__(self) -> int:
        return len(self.alpha)

    def mean(self) -> np.ndarray:
        """Posterior mean click-through rate of each variant."""
        return self.alpha / (self.alpha + self.beta)

    def draw(self, rng: np.random.Generator, draws: int) -> np.ndarray:
        """``draws`` x variants samples of the click-through rates."""
        return rng.beta(self.alpha, self.beta, size=(draws, len(self)))


def thompson_choice(post: Posteriors, rng: np.random.Generator, explore_floor: float = 0.0) -> tuple[int, bool]:
    """The variant to show and whether it was a uniform exploration pick.

    With probability ``explore_floor * k`` (k variants) a variant is drawn uniformly, so every variant
    is shown with probability at least ``explore_floor``; otherwise the highest posterior draw wins.
    """
    k = len(post)
    if not 0 <= explore_floor * k <= 1:
        raise ValueError(f"explore_floor {explore_floor} is impossible with {k} variants (at most 1/{k})")
    if rng.random() < explore_floor * k:
        return int(rng.integers(k)), True
    return int(np.argmax(post.draw(rng, 1)[0])), False


def prob_best(post: Posteriors, rng: np.random.Generator, draws: int = 20000) -> np.ndarray:
    """Monte Carlo estimate of the probability that each variant has the highest click-through rate."""
    wins = np.bincount(np.argmax(post.draw(rng, draws), axis=1), minlength=len(post))
    return wins / draws


def credible_interval(
    post: Posteriors, rng: np.random.Generator, level: float = 0.95, draws: int = 20000
) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed credible interval of each variant's click-through rate, from posterior draws."""
    tail = (1 - level) / 2
    samples = post.draw(rng, draws)
    return np.quantile(samples, tail, axis=0), np.quantile(samples, 1 - tail, axis=0)


def winner(p_best: np.ndarray, impressions: np.ndarray, *, threshold: float, min_impressions: int) -> int | None:
    """The index of the winning variant: P(best) above ``threshold`` after ``min_impressions`` in all; else None."""
    if len(p_best) == 0 or int(np.sum(impressions)) < min_impressions:
        return None
    best = int(np.argmax(p_best))
    return best if p_best[best] > threshold else None
