"""Simulated experiments with known click-through rates (4%, 5%, 6.5%): the sampler finds the best and
loses fewer clicks than uniform assignment."""

from __future__ import annotations

import pytest

from genmedia.abtest.simulate import summarise

pytestmark = pytest.mark.slow

TRUE_CTRS = [0.04, 0.05, 0.065]
RUNS = 100


def test_thompson_finds_the_best_within_20k_impressions_and_beats_uniform_on_regret() -> None:
    thompson = summarise(TRUE_CTRS, 20_000, RUNS, policy="thompson")
    uniform = summarise(TRUE_CTRS, 20_000, RUNS, policy="uniform")
    print(thompson, uniform, sep="\n")
    # Automatic winner (P(best) > 0.95, >= 2000 impressions), and it is the true best, in >= 95% of runs.
    assert thompson.declared - thompson.declared_wrong >= 0.95
    assert thompson.declared_wrong <= 0.05
    assert thompson.picked_best >= 0.95
    # Uniform assignment (with the same stopping rule) loses clearly more clicks.
    assert thompson.mean_regret < 0.75 * uniform.mean_regret


def test_within_10k_impressions_the_final_pick_is_the_best() -> None:
    thompson = summarise(TRUE_CTRS, 10_000, RUNS, policy="thompson")
    assert thompson.picked_best >= 0.95


def test_through_the_real_service_the_best_variant_gets_most_traffic(tmp_path) -> None:  # noqa: ANN001
    """A short run through the SQLite-backed service: choose, then record the simulated outcome."""
    import numpy as np

    from genmedia.abtest.service import ABTestService
    from genmedia.abtest.store import Store
    from genmedia.config import ABTestConfig

    svc = ABTestService(Store(f"sqlite:///{tmp_path / 'ab.sqlite'}"), ABTestConfig(), seed=3)
    svc.create("sim", ["a", "b", "c"])
    ctr = {"a": 0.04, "b": 0.05, "c": 0.30}  # a large gap so a short run shows it
    rng = np.random.default_rng(3)
    shown = {"a": 0, "b": 0, "c": 0}
    for i in range(400):
        variant = svc.choose("sim").variant
        shown[variant] += 1
        svc.record("sim", "impression", f"i{i}", variant)
        if rng.random() < ctr[variant]:
            svc.record("sim", "click", f"c{i}", variant)
    assert shown["c"] > 0.6 * 400
    assert max(svc.stats("sim").variants, key=lambda v: v.p_best).variant == "c"
