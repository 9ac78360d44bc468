"""Contextual personalisation: linear Thompson sampling over viewer context, its fallback, per-segment winners,
and the simulated regret against the global Thompson policy and uniform assignment."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from genmedia.abtest.contextual import DIM, Context, LinearThompson, features
from genmedia.abtest.service import ABTestService
from genmedia.abtest.simulate import contextual_regret
from genmedia.abtest.store import Store
from genmedia.config import ABTestConfig
from genmedia.errors import InputError

pytestmark = pytest.mark.slow

MOBILE, TV = Context(device="mobile", region="US", hour=21), Context(device="tv", region="US", hour=21)


def service(tmp_path: Path, **settings: float) -> ABTestService:
    return ABTestService(Store(f"sqlite:///{tmp_path / 'ab.sqlite'}"), ABTestConfig(**settings), seed=0)


def feed(
    svc: ABTestService,
    variant: str,
    n: int,
    clicks: int,
    *,
    context: Context | None = None,
    segment: str | None = None,
    tag: str = "",
) -> None:
    for i in range(n):
        svc.record("vid", "impression", f"{tag}{variant}-i{i}", variant, segment=segment, context=context)
        if i < clicks:
            svc.record("vid", "click", f"{tag}{variant}-c{i}", variant, segment=segment, context=context)


def test_features_encode_each_field() -> None:
    assert features(Context()).shape == (DIM,) and features(Context())[0] == 1.0
    assert not np.array_equal(features(MOBILE), features(TV))
    assert np.array_equal(features(Context(device="fridge")), features(Context(device="car")))  # both 'other'
    assert not np.array_equal(features(Context(hour=3)), features(Context(hour=15)))
    assert not np.array_equal(features(Context(views=50, clicks=10)), features(Context(views=50, clicks=0)))
    with pytest.raises(ValueError):
        Context(hour=24)


def test_linear_thompson_learns_a_device_dependent_best() -> None:
    rng = np.random.default_rng(0)
    model = LinearThompson(2)
    x_mobile, x_tv = features(MOBILE), features(TV)
    for _ in range(400):  # A (0) is clicked on mobile, B (1) on TV
        model.add_impressions(np.array([0, 1, 0, 1]), np.stack([x_mobile, x_mobile, x_tv, x_tv]))
    model.add_clicks(np.zeros(40, dtype=int), np.tile(x_mobile, (40, 1)))
    model.add_clicks(np.ones(40, dtype=int), np.tile(x_tv, (40, 1)))
    assert np.mean(model.choose(np.tile(x_mobile, (200, 1)), rng) == 0) > 0.95
    assert np.mean(model.choose(np.tile(x_tv, (200, 1)), rng) == 1) > 0.95


def test_service_personalises_by_context_after_the_threshold(tmp_path: Path) -> None:
    svc = service(tmp_path, explore_floor=0.0, min_impressions=10**6)
    svc.create("vid", ["a", "b"], context_min_impressions=100)
    feed(svc, "a", 60, 12, context=MOBILE, tag="m")
    feed(svc, "b", 60, 1, context=MOBILE, tag="m")
    # 60 < 100 impressions with a context per variant: the Beta posteriors decide.
    assert {svc.choose("vid", context=MOBILE).posteriors for _ in range(10)} == {"global"}
    feed(svc, "a", 60, 1, context=TV, tag="t")
    feed(svc, "b", 60, 15, context=TV, tag="t")
    mobile = [svc.choose("vid", context=MOBILE) for _ in range(40)]
    tv = [svc.choose("vid", context=TV) for _ in range(40)]
    assert {c.posteriors for c in mobile + tv} == {"contextual"}
    assert Counter(c.variant for c in mobile)["a"] >= 34 and Counter(c.variant for c in tv)["b"] >= 34
    # Without a context (or with only a segment) the Beta posteriors still decide.
    assert svc.choose("vid").posteriors == "global" and svc.choose("vid", segment="eu").posteriors == "global"
    with pytest.raises(InputError, match="disagrees"):
        svc.choose("vid", segment="eu", context=Context(segment="us"))


def test_context_min_impressions_comes_from_the_config(tmp_path: Path) -> None:
    """``pipelines.thumbnails.abtest.context_min_impressions`` decides when the contextual model is trusted; an
    experiment stored before the setting existed takes the config's value."""
    svc = service(tmp_path, explore_floor=0.0, min_impressions=10**6, context_min_impressions=30)
    assert svc.create("vid", ["a", "b"]).settings.context_min_impressions == 30
    feed(svc, "a", 29, 8, context=MOBILE, tag="m")
    feed(svc, "b", 30, 1, context=MOBILE, tag="m")
    assert {svc.choose("vid", context=MOBILE).posteriors for _ in range(10)} == {"global"}  # 29 < 30 for a
    svc.record("vid", "impression", "m-last", "a", context=MOBILE)
    assert {svc.choose("vid", context=MOBILE).posteriors for _ in range(10)} == {"contextual"}
    exp = svc.store.current("vid")
    older = {k: v for k, v in exp.settings.items() if k != "context_min_impressions"}
    fresh = ABTestService(svc.store, ABTestConfig(context_min_impressions=31), seed=0)
    assert fresh._settings(older).context_min_impressions == 31
    assert fresh.experiment("vid").settings.context_min_impressions == 30  # stored with the experiment


def test_a_segment_winner_does_not_block_a_different_winner_elsewhere(tmp_path: Path) -> None:
    svc = service(tmp_path, explore_floor=0.0, min_impressions=200, segment_min_impressions=50)
    svc.create("vid", ["v0", "v1"])
    feed(svc, "v0", 150, 3, segment="kids", tag="k")
    feed(svc, "v1", 150, 30, segment="kids", tag="k")
    assert svc.choose("vid", segment="kids").model_dump(include={"variant", "reason", "posteriors"}) == {
        "variant": "v1",
        "reason": "winner",
        "posteriors": "kids",
    }
    assert svc.experiment("vid").status == "active"  # a segment's winner does not conclude the experiment
    feed(svc, "v0", 700, 140, segment="adults", tag="a")
    feed(svc, "v1", 700, 20, segment="adults", tag="a")
    # Adults get their own winner; pooled, v0 wins and concludes the experiment, and applies to unseen segments ...
    assert svc.choose("vid", segment="adults").model_dump(include={"variant", "posteriors"}) == {
        "variant": "v0",
        "posteriors": "adults",
    }
    assert svc.choose("vid").model_dump(include={"variant", "posteriors"}) == {"variant": "v0", "posteriors": "global"}
    assert svc.experiment("vid").winner == "v0" and svc.experiment("vid").status == "concluded"
    assert {svc.choose("vid", segment="seniors").variant for _ in range(5)} == {"v0"}
    # ... but kids keep their own winner, and 'teens', whose own data show v0 losing, keep their bandit.
    assert svc.choose("vid", segment="kids").variant == "v1"
    feed(svc, "v0", 60, 0, segment="teens", tag="t")
    feed(svc, "v1", 60, 12, segment="teens", tag="t")
    teens = [svc.choose("vid", segment="teens") for _ in range(20)]
    assert {c.reason for c in teens} == {"thompson"} and {c.posteriors for c in teens} == {"teens"}
    assert svc.stats("vid").segment_winners == {"kids": "v1", "adults": "v0"}


def test_contextual_policy_has_less_regret_than_global_thompson_and_uniform() -> None:
    """The slowest test here (about 10-20 s): 3 seeded runs of 6000 impressions per policy."""
    contextual = contextual_regret(6000, 3, "contextual")
    thompson = contextual_regret(6000, 3, "thompson")
    uniform = contextual_regret(6000, 3, "uniform")
    print(contextual, thompson, uniform)
    assert contextual < 0.7 * thompson
    assert contextual < 0.7 * uniform


def test_choose_returns_the_image_url_of_the_requested_aspect(tmp_path: Path) -> None:
    from genmedia.abtest.publish import publish_thumbnails

    svc = service(tmp_path)
    doc = {
        "video_id": "vid",
        "variants": [
            {
                "id": f"v{i}",
                "published": i != 2,
                "aspects": {"16:9": {"file": f"v{i}/16x9.jpg"}, "1:1": {"file": f"v{i}/1x1.jpg"}},
            }
            for i in range(3)
        ],
    }
    first = publish_thumbnails(svc, doc, "s3://bucket/thumbs/vid/")
    assert first.variants == ["v0", "v1"] and first.images["v1"]["1:1"] == "s3://bucket/thumbs/vid/v1/1x1.jpg"
    choice = svc.choose("vid", aspect="16:9")
    assert choice.image_url == f"s3://bucket/thumbs/vid/{choice.variant}/16x9.jpg"
    with pytest.raises(InputError, match="no image at this aspect"):
        svc.choose("vid", aspect="9:16")
    svc.record("vid", "impression", "e1", "v0")
    assert publish_thumbnails(svc, doc, "s3://bucket/thumbs/vid/") == first  # the same images again: no change
    # Same variants: the experiment (and its data) is kept, with the new URLs.
    again = publish_thumbnails(svc, doc, "https://cdn.example/vid")
    assert again.id == first.id and again.images["v0"]["16:9"] == "https://cdn.example/vid/v0/16x9.jpg"
    svc.store.conclude(again.id, "v1", 0.99)
    kept = publish_thumbnails(svc, doc, "https://cdn.example/vid")  # a rerun keeps a concluded experiment
    assert (kept.id, kept.status, kept.winner) == (first.id, "concluded", "v1")
    # Other variants: the old experiment is replaced by a new one.
    doc["variants"][2]["published"] = True
    third = publish_thumbnails(svc, doc, "https://cdn.example/vid")
    assert third.id != first.id and third.variants == ["v0", "v1", "v2"] and third.status == "active"
    with pytest.raises(InputError, match="does not have"):
        svc.create("other", ["a", "b"], {"c": {"1:1": "x"}})
    # A variant whose crop at an aspect was skipped is never chosen for that aspect, even as the winner.
    partial = {
        "video_id": "vid2",
        "variants": [
            {"id": "a", "published": True, "aspects": {"9:16": {"file": "a/9x16.jpg"}, "1:1": {"file": "a/1x1.jpg"}}},
            {"id": "b", "published": True, "aspects": {"9:16": {"skipped": "too wide"}, "1:1": {"file": "b/1x1.jpg"}}},
        ],
    }
    info = publish_thumbnails(svc, partial, "/out")
    assert {svc.choose("vid2", aspect="9:16").image_url for _ in range(30)} == {"/out/a/9x16.jpg"}
    assert {svc.choose("vid2", aspect="1:1").variant for _ in range(60)} == {"a", "b"}
    svc.store.conclude(info.id, "b", 0.99)
    assert svc.choose("vid2", aspect="1:1").reason == "winner"
    assert {svc.choose("vid2", aspect="9:16").variant for _ in range(10)} == {"a"}
    with pytest.raises(InputError, match=r"no image at this aspect for vid2 \(has 1:1, 9:16\)"):
        svc.choose("vid2", aspect="4:5")
