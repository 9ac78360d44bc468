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


def simulate(
    true_ctrs: list[float],
    impressions: int,
    *,
    policy: Policy = "thompson",
    seed: int = 0,
    explore_floor: float = 0.02,
    batch: int = 100,
    winner_probability: float = 0.95,
    min_impressions: int = 2000,
    check_every: int = 500,
    draws: int = 4000,
) -> SimRun:
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


def summarise(
    true_ctrs: list[float], impressions: int, runs: int, *, policy: Policy = "thompson", **kwargs: float
) -> SimSummary:
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


ContextPolicy = Literal["contextual", "thompson", "uniform"]

DEVICE_CTRS = {"mobile": (0.08, 0.04, 0.05), "tv": (0.03, 0.09, 0.05), "desktop": (0.05, 0.05, 0.07)}
"""True click-through rates of variants A, B, C per device: A best on mobile, B on TV, C on desktop."""
DEVICE_SHARE = (0.5, 0.3, 0.2)


def simulate_contextual(
    impressions: int,
    *,
    policy: ContextPolicy,
    seed: int = 0,
    batch: int = 100,
    explore_floor: float = 0.02,
    min_impressions: int = 100,
    device_ctrs: dict[str, tuple[float, ...]] | None = None,
) -> float:
    """Regret (expected clicks lost against the best variant for each viewer's device) of one run.

    Viewers have a device (by ``DEVICE_SHARE``), a region, an hour and a history that do not change the
    true rates (noise features). ``contextual`` is linear Thompson sampling over their features, with the
    global Beta posteriors until every variant has ``min_impressions`` impressions (the service's fallback).
    """
    from genmedia.abtest.contextual import Context, LinearThompson, features

    table = device_ctrs or DEVICE_CTRS
    devices = list(table)
    ctr = np.asarray([table[d] for d in devices])
    k = ctr.shape[1]
    rng = np.random.default_rng(seed)
    model = LinearThompson(k)
    shown, clicks = np.zeros(k), np.zeros(k)
    regions = ["US", "FR", "JP", "BR"]
    regret = 0.0
    for start in range(0, impressions, batch):
        size = min(batch, impressions - start)
        dev = rng.choice(len(devices), size=size, p=DEVICE_SHARE[: len(devices)])
        views = rng.poisson(20, size=size)
        x = np.stack(
            [
                features(Context(device=devices[d], region=regions[int(r)], hour=int(h), views=int(v), clicks=int(c)))
                for d, r, h, v, c in zip(
                    dev,
                    rng.integers(4, size=size),
                    rng.integers(24, size=size),
                    views,
                    rng.binomial(views, 0.05),
                    strict=True,
                )
            ]
        )
        if policy == "uniform":
            arms = rng.integers(k, size=size)
        elif policy == "contextual" and model.trusted(min_impressions):
            arms = model.choose(x, rng)
        else:
            arms = np.argmax(bandit.Posteriors.from_counts(shown, clicks).draw(rng, size), axis=1)
        if policy != "uniform":
            explore = rng.random(size) < explore_floor * k
            arms[explore] = rng.integers(k, size=int(explore.sum()))
        p = ctr[dev, arms]
        clicked = rng.random(size) < p
        shown += np.bincount(arms, minlength=k)
        clicks += np.bincount(arms[clicked], minlength=k)
        model.add_impressions(arms, x)
        model.add_clicks(arms[clicked], x[clicked])
        regret += float(np.sum(ctr[dev].max(axis=1) - p))
    return regret


def contextual_regret(impressions: int, runs: int, policy: ContextPolicy, **kwargs: float) -> float:
    """Mean regret of ``runs`` seeded runs (seeds 0..runs-1) of :func:`simulate_contextual`."""
    return float(np.mean([simulate_contextual(impressions, policy=policy, seed=s, **kwargs) for s in range(runs)]))
