"""Simulate the A/B test against known click-through rates: how often it finds the best, and its regret.

Impressions arrive in small batches (feedback is never instant in production); each batch is assigned
by the policy from the posteriors so far, clicks are drawn from the true rates, and the posteriors update.
The same :mod:`genmedia.abtest.bandit` functions drive the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from genmedia.abtest import bandit

Policy = Literal["thompson", "uniform"]


@dataclass(frozen=True)
class SimRun:
    """One simulated experiment."""

    picked: int
    """The variant with the highest P(best) at the end."""
    winner: int | None
    """The automatically declared winner, if any."""
    winner_at: int | None
    """Impressions served when the winner was declared."""
    regret: float
    """Expected clicks lost against always showing the true best."""
    shown: np.ndarray


def simulate(true_ctrs: list[float], impressions: int, *, policy: Policy = "thompson", seed: int = 0,
             explore_floor: float = 0.02, batch: int = 100, winner_probability: float = 0.95,
             min_impressions: int = 2000, check_every: int = 500, draws: int = 4000) -> SimRun:
    """Run one experiment of ``impressions`` impressions under ``policy`` and report what it found."""
    rng = np.random.default_rng(seed)
    ctr = np.asarray(true_ctrs, dtype=np.float64)
    k = len(ctr)
    shown, clicks = np.zeros(k), np.zeros(k)
    winner, winner_at, regret = None, None, 0.0
    for start in range(0, impressions, batch):
        size = min(batch, impressions - start)
        if winner is not None:
            arms = np.full(size, winner)
        elif policy == "uniform":
            arms = rng.integers(k, size=size)
        else:
            post = bandit.Posteriors.from_counts(shown, clicks)
            arms = np.argmax(post.draw(rng, size), axis=1)
            explore = rng.random(size) < explore_floor * k
            arms[explore] = rng.integers(k, size=int(explore.sum()))
        n = np.bincount(arms, minlength=k)
        shown += n
        clicks += rng.binomial(n, ctr)
        regret += float(np.dot(n, ctr.max() - ctr))
        if winner is None and (start + size) % check_every == 0:
            post = bandit.Posteriors.from_counts(shown, clicks)
            p_best = bandit.prob_best(post, rng, draws)
            winner = bandit.winner(p_best, shown, threshold=winner_probability, min_impressions=min_impressions)
            winner_at = start + size if winner is not None else None
    p_best = bandit.prob_best(bandit.Posteriors.from_counts(shown, clicks), rng, draws)
    return SimRun(picked=int(np.argmax(p_best)), winner=winner, winner_at=winner_at, regret=regret, shown=shown)


@dataclass(frozen=True)
class SimSummary:
    """Many seeded runs of one policy."""

    policy: str
    runs: int
    impressions: int
    picked_best: float
    """Share of runs whose final pick is the true best."""
    declared: float
    """Share of runs that declared a winner."""
    declared_wrong: float
    """Share of runs that declared a wrong winner."""
    mean_regret: float
    median_winner_at: float | None


def summarise(true_ctrs: list[float], impressions: int, runs: int, *, policy: Policy = "thompson", **kwargs: float) -> SimSummary:
    """``runs`` seeded simulations (seeds 0..runs-1) of one policy, summarised."""
    best = int(np.argmax(true_ctrs))
    results = [simulate(true_ctrs, impressions, policy=policy, seed=s, **kwargs) for s in range(runs)]
    declared_at = [r.winner_at for r in results if r.winner is not None]
    return SimSummary(
        policy=policy,
        runs=runs,
        impressions=impressions,
        picked_best=float(np.mean([r.picked == best for r in results])),
        declared=len(declared_at) / runs,
        declared_wrong=float(np.mean([r.winner is not None and r.winner != best for r in results])),
        mean_regret=float(np.mean([r.regret for r in results])),
        median_winner_at=float(np.median(declared_at)) if declared_at else None,
    )
