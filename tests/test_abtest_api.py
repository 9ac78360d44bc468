"""The A/B router over HTTP (FastAPI TestClient), as the ingress mounts it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from genmedia.abtest.api import get_service, router
from genmedia.abtest.service import ABTestService
from genmedia.abtest.store import Store
from genmedia.config import ABTestConfig

pytestmark = pytest.mark.unit


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    app = FastAPI()
    app.include_router(router)
    svc = ABTestService(Store(f"sqlite:///{tmp_path / 'ab.sqlite'}"), ABTestConfig(min_impressions=40), seed=0)
    app.dependency_overrides[get_service] = lambda: svc
    return TestClient(app)


def test_full_flow_over_http(client: TestClient) -> None:
    assert client.get("/v1/thumbnails/vid1/choose").status_code == 404
    r = client.post("/v1/thumbnails/vid1/experiments", json={"variants": ["a", "b"], "explore_floor": 0.05})
    assert r.status_code == 201, r.text
    exp = r.json()
    assert exp["variants"] == ["a", "b"] and exp["settings"]["explore_floor"] == 0.05
    assert client.post("/v1/thumbnails/vid1/experiments", json={"variants": ["a", "b"]}).status_code == 409
    assert client.get("/v1/thumbnails/vid1/experiment").json()["id"] == exp["id"]

    choice = client.get("/v1/thumbnails/vid1/choose", params={"user": "u1", "segment": "eu"}).json()
    assert choice["variant"] in {"a", "b"} and choice["experiment_id"] == exp["id"]
    assert choice["posteriors"] == "global"  # the segment has no data yet

    first = client.post(
        "/v1/thumbnails/vid1/impressions", json={"event_id": "e1", "variant": "a", "user": "u1", "segment": "eu"}
    )
    again = client.post(
        "/v1/thumbnails/vid1/impressions", json={"event_id": "e1", "variant": "a", "user": "u1", "segment": "eu"}
    )
    assert first.json() == {"event_id": "e1", "accepted": True} and again.json() == {
        "event_id": "e1",
        "accepted": False,
    }
    assert client.post("/v1/thumbnails/vid1/clicks", json={"event_id": "c1", "variant": "a", "segment": "eu"}).json()[
        "accepted"
    ]

    stats = client.get("/v1/thumbnails/vid1/stats").json()
    rows = {v["variant"]: v for v in stats["variants"]}
    assert rows["a"]["impressions"] == 1 and rows["a"]["clicks"] == 1 and rows["b"]["impressions"] == 0
    assert stats["winner"] is None and stats["status"] == "active"
    assert client.get("/v1/thumbnails/vid1/stats", params={"segment": "eu"}).json()["segment"] == "eu"

    # Enough evidence: b wins and is then always chosen.
    for i in range(60):
        client.post("/v1/thumbnails/vid1/impressions", json={"event_id": f"ib{i}", "variant": "b"})
        if i % 2 == 0:
            client.post("/v1/thumbnails/vid1/clicks", json={"event_id": f"cb{i}", "variant": "b"})
    for i in range(60):
        client.post("/v1/thumbnails/vid1/impressions", json={"event_id": f"ia{i}", "variant": "a"})
    assert client.get("/v1/thumbnails/vid1/choose").json() == {
        "experiment_id": exp["id"],
        "variant": "b",
        "reason": "winner",
        "posteriors": "global",
        "image_url": None,
    }
    final = client.get("/v1/thumbnails/vid1/stats").json()
    assert final["status"] == "concluded" and final["winner"] == "b" and final["winner_probability"] > 0.95


def test_context_over_http_is_stored_and_used(client: TestClient, tmp_path: Path) -> None:
    client.post("/v1/thumbnails/vid3/experiments", json={"variants": ["a", "b"]})
    body = {"event_id": "e1", "variant": "a", "segment": "eu", "context": {"device": "tv", "hour": 20, "views": 3}}
    assert client.post("/v1/thumbnails/vid3/impressions", json=body).json()["accepted"]
    r = client.get("/v1/thumbnails/vid3/choose", params={"segment": "eu", "device": "tv", "hour": 20})
    assert r.status_code == 200 and r.json()["posteriors"] == "global"  # too little context data yet
    assert client.get("/v1/thumbnails/vid3/choose", params={"hour": 24}).status_code == 422
    bad = {"event_id": "e2", "variant": "a", "context": {"device": "tv", "colour": "red"}}
    assert client.post("/v1/thumbnails/vid3/impressions", json=bad).status_code == 422
    from sqlalchemy import create_engine, text

    with create_engine(f"sqlite:///{tmp_path / 'ab.sqlite'}").connect() as conn:
        stored = conn.execute(text("select context from ab_event_contexts")).scalars().all()
    assert [json.loads(c) for c in stored] == [{"segment": "eu", "device": "tv", "hour": 20, "views": 3}]


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", "/v1/thumbnails/vid2/experiments", {"variants": ["only-one"]}),
        ("post", "/v1/thumbnails/vid2/experiments", {"variants": ["a", "b"], "explore_floor": 2}),
        ("post", "/v1/thumbnails/vid2/experiments", {"variants": ["a", "b c"]}),
        ("post", "/v1/thumbnails/vid2/experiments", {"variants": ["a", "b"], "unknown": 1}),
        ("post", "/v1/thumbnails/bad%20id/experiments", {"variants": ["a", "b"]}),
        ("post", "/v1/thumbnails/vid1/impressions", {"variant": "a"}),
        ("post", "/v1/thumbnails/vid1/impressions", {"event_id": "e", "variant": "zzz"}),
        ("post", "/v1/thumbnails/vid1/clicks", {"event_id": "x" * 200, "variant": "a"}),
    ],
)
def test_bad_requests_are_rejected_with_422(client: TestClient, method: str, url: str, body: dict) -> None:
    client.post("/v1/thumbnails/vid1/experiments", json={"variants": ["a", "b"]})
    r = getattr(client, method)(url, json=body)
    assert r.status_code == 422, r.text


def test_sdk_methods_over_http(client: TestClient) -> None:
    from genmedia.client import ApiError, Client

    sdk = Client("http://testserver", progress=False)
    sdk._backend.http = client  # the router in-process, through the SDK's own request/retry code
    exp = sdk.experiment(
        "vid4", ["a", "b"], images={"a": {"1:1": "https://cdn/a.jpg"}, "b": {"1:1": "https://cdn/b.jpg"}}
    )
    assert sdk.experiment("vid4")["id"] == exp["id"]
    choice = sdk.choose("vid4", aspect="1:1", device="tv", hour=20)
    assert choice["image_url"] == f"https://cdn/{choice['variant']}.jpg"
    assert sdk.record("vid4", "impression", "e1", choice["variant"], context={"device": "tv", "hour": 20})["accepted"]
    assert sdk.record("vid4", "click", "c1", choice["variant"], context={"device": "tv", "hour": 20})["accepted"]
    rows = {v["variant"]: v for v in sdk.stats("vid4")["variants"]}
    assert (rows[choice["variant"]]["impressions"], rows[choice["variant"]]["clicks"]) == (1, 1)
    with pytest.raises(ApiError) as err:
        sdk.choose("nope")
    assert err.value.status == 404
