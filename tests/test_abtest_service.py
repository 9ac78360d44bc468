"""The A/B service on a real SQLite file: experiments, idempotent events, concurrent writers, segments, winners."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from genmedia.abtest import bandit
from genmedia.abtest.service import ABTestService, Conflict, NotFound
from genmedia.abtest.store import Store
from genmedia.config import ABTestConfig, Config, load_config
from genmedia.errors import InputError

pytestmark = pytest.mark.slow

VARIANTS = ["v0", "v1", "v2"]


def service(database_url: str, **settings: float) -> ABTestService:
    return ABTestService(Store(database_url), ABTestConfig(**settings), seed=0)


def feed(
    svc: ABTestService,
    video: str,
    variant: str,
    impressions: int,
    clicks: int,
    *,
    segment: str | None = None,
    tag: str = "",
) -> None:
    for i in range(impressions):
        svc.record(video, "impression", f"{tag}{variant}-{segment}-i{i}", variant, segment=segment)
    for i in range(clicks):
        svc.record(video, "click", f"{tag}{variant}-{segment}-c{i}", variant, segment=segment)


def test_default_store_is_a_sqlite_file_in_the_cache_dir(tmp_path: Path) -> None:
    cfg = load_config(None, storage={"cache_dir": str(tmp_path)})
    svc = ABTestService.from_config(cfg)
    svc.create("vid", VARIANTS)
    svc.close()
    assert (tmp_path / "abtest.sqlite").is_file()
    # The state is in the file, readable by an independent connection.
    with create_engine(f"sqlite:///{tmp_path / 'abtest.sqlite'}").connect() as conn:
        assert conn.execute(text("select video, status from ab_experiments")).all() == [("vid", "active")]


def test_experiment_lifecycle_and_bad_requests(database_url: str) -> None:
    svc = service(database_url)
    with pytest.raises(NotFound):
        svc.choose("nope")
    info = svc.create("vid", VARIANTS, explore_floor=0.1)
    assert info.status == "active" and info.settings.explore_floor == 0.1 and info.settings.min_impressions == 2000
    with pytest.raises(Conflict):
        svc.create("vid", ["a", "b"])
    with pytest.raises(InputError, match="at least 2 distinct"):
        svc.create("other", ["a", "a"])
    with pytest.raises(InputError, match="exceeds 1/3"):
        svc.create("other", VARIANTS, explore_floor=0.4)
    with pytest.raises(InputError, match="variant must be"):
        svc.create("other", ["ok", "bad name"])
    with pytest.raises(InputError, match="not a variant"):
        svc.record("vid", "impression", "e1", "v9")
    assert svc.choose("vid").variant in VARIANTS


def test_events_are_idempotent_by_event_id(database_url: str) -> None:
    svc = service(database_url)
    svc.create("vid", VARIANTS)
    assert svc.record("vid", "impression", "e1", "v1").accepted
    assert not svc.record("vid", "impression", "e1", "v1").accepted
    assert not svc.record("vid", "click", "e1", "v1").accepted  # the id is taken, whatever the kind
    assert svc.record("vid", "click", "e2", "v1").accepted
    row = {v.variant: v for v in svc.stats("vid").variants}["v1"]
    assert (row.impressions, row.clicks, row.ctr) == (1, 1, 1.0)


def test_concurrent_writers_lose_nothing(database_url: str) -> None:
    svc = service(database_url)
    svc.create("vid", VARIANTS)
    threads, per_thread = 8, 60
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            for i in range(per_thread):
                variant = VARIANTS[(t + i) % 3]
                svc.record("vid", "impression", f"t{t}-{i}", variant)
                svc.record("vid", "impression", f"t{t}-{i}", variant)  # a retried delivery
                if i % 4 == 0:
                    svc.record("vid", "click", f"t{t}-{i}-click", variant)
                svc.choose("vid", segment="eu")
        except BaseException as e:  # noqa: BLE001 - surfaced below
            errors.append(e)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert not errors
    expected_n = Counter(VARIANTS[(t + i) % 3] for t in range(threads) for i in range(per_thread))
    expected_c = Counter(VARIANTS[(t + i) % 3] for t in range(threads) for i in range(0, per_thread, 4))
    got = {v.variant: (v.impressions, v.clicks) for v in svc.stats("vid").variants}
    assert got == {v: (expected_n[v], expected_c[v]) for v in VARIANTS}
    with create_engine(database_url).connect() as conn:
        assert conn.execute(text("select count(*) from ab_events")).scalar() == threads * per_thread * 5 // 4


def test_stats_match_beta_posteriors(database_url: str) -> None:
    svc = service(database_url)
    svc.create("vid", VARIANTS)
    feed(svc, "vid", "v0", 200, 4)
    feed(svc, "vid", "v1", 200, 30)
    feed(svc, "vid", "v2", 200, 10)
    stats = svc.stats("vid")
    rows = {v.variant: v for v in stats.variants}
    assert rows["v1"].ctr == pytest.approx(0.15)
    assert rows["v1"].p_best > 0.99 and sum(v.p_best for v in stats.variants) == pytest.approx(1.0)
    # Credible interval of Beta(31, 171): mean 0.153; a normal approximation gives about 0.105-0.205.
    assert 0.10 < rows["v1"].ci_low < 0.12 and 0.19 < rows["v1"].ci_high < 0.21
    assert stats.winner is None  # 600 impressions < min_impressions (2000)


def test_winner_is_declared_after_the_minimum_sample_and_then_always_shown(database_url: str) -> None:
    svc = service(database_url, min_impressions=300)
    svc.create("vid", VARIANTS)
    feed(svc, "vid", "v0", 100, 2)
    feed(svc, "vid", "v1", 100, 2)
    feed(svc, "vid", "v2", 90, 20)
    assert svc.choose("vid").reason != "winner"  # 290 < 300
    feed(svc, "vid", "v2", 10, 0, tag="more")
    choices = {svc.choose("vid", user=f"u{i}").variant for i in range(20)}
    assert choices == {"v2"}
    stats = svc.stats("vid")
    assert stats.status == "concluded" and stats.winner == "v2" and stats.winner_probability > 0.95
    # A concluded experiment frees the video for a new one.
    assert svc.create("vid", ["a", "b"]).status == "active"


def test_no_winner_while_uncertain(database_url: str) -> None:
    svc = service(database_url, min_impressions=300)
    svc.create("vid", VARIANTS)
    for v in VARIANTS:
        feed(svc, "vid", v, 120, 6)
    assert svc.choose("vid").reason in {"thompson", "explore"}
    assert svc.stats("vid").winner is None


def test_segments_use_their_own_posteriors_once_they_have_data(database_url: str) -> None:
    svc = service(database_url, segment_min_impressions=50, explore_floor=0.0, min_impressions=10**6)
    svc.create("vid", VARIANTS)
    # Globally v0 is best; the 'kids' segment loves v2.
    feed(svc, "vid", "v0", 400, 60, segment="adults")
    feed(svc, "vid", "v1", 400, 10, segment="adults")
    feed(svc, "vid", "v2", 400, 10, segment="adults")
    feed(svc, "vid", "v0", 60, 1, segment="kids")
    feed(svc, "vid", "v1", 60, 1, segment="kids")
    feed(svc, "vid", "v2", 60, 30, segment="kids")
    kids = [svc.choose("vid", segment="kids") for _ in range(40)]
    assert {c.posteriors for c in kids} == {"kids"}
    assert Counter(c.variant for c in kids)["v2"] >= 38
    # A segment with little data falls back to the global posteriors.
    new = [svc.choose("vid", segment="seniors") for _ in range(40)]
    assert {c.posteriors for c in new} == {"global"}
    assert Counter(c.variant for c in new)["v0"] >= 38
    assert {v.variant: v.impressions for v in svc.stats("vid", segment="kids").variants} == {
        "v0": 60,
        "v1": 60,
        "v2": 60,
    }


def test_a_user_keeps_the_same_variant_while_posteriors_are_unchanged(database_url: str) -> None:
    svc = service(database_url)
    svc.create("vid", VARIANTS)
    assert len({svc.choose("vid", user="alice").variant for _ in range(10)}) == 1
    assert len({svc.choose("vid").variant for _ in range(60)}) == 3  # anonymous requests are sampled afresh


def test_explore_floor_bounds_every_variants_share() -> None:
    post = bandit.Posteriors.from_counts(np.array([10000, 10000, 10000]), np.array([100, 100, 2000]))
    rng = np.random.default_rng(1)
    picks = Counter(bandit.thompson_choice(post, rng, 0.05)[0] for _ in range(6000))
    assert picks[0] / 6000 > 0.04 and picks[1] / 6000 > 0.04  # floor 5%, never shown without it
    assert Counter(bandit.thompson_choice(post, rng, 0.0)[0] for _ in range(500))[0] == 0
    with pytest.raises(ValueError, match="impossible"):
        bandit.thompson_choice(post, rng, 0.5)


def test_config_section_defaults() -> None:
    ab = Config().pipelines.thumbnails.abtest
    assert (ab.explore_floor, ab.winner_probability, ab.store_url) == (0.02, 0.95, None)
