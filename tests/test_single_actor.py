"""A one-actor model stage without Ray Data (:func:`genmedia.pipelines.models.single_actor`), as the subtitles job
runs its transcriber from the CLI: same rows in chunk order, the actor's own errors, the actor ended after."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from genmedia.config import Config, Replicas, load_config
from genmedia.errors import ModelUnavailable
from genmedia.pipelines.models import single_actor
from genmedia.pipelines.subtitles import TRANSCRIBER_KEY, _actor_rows


def _echo_chunks() -> type:
    """A stand-in for ChunkTranscriber, defined here so that Ray ships the class by value to its workers."""

    class EchoChunks:
        """A stand-in for ChunkTranscriber: ``chunk`` answers the chunk's span; a path named ``bad`` fails."""

        def __init__(self, cfg: Config, key: str, tag: str = "") -> None:
            self.tag = tag

        def chunk(self, path: str, start: float, end: float, request: str) -> tuple[str, str]:
            if path == "bad":
                raise ModelUnavailable("models.transcriber: weights unreadable on this node")
            return f"{self.tag}{start:.0f}-{end:.0f}", request

        def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return batch

    return EchoChunks


def _rows(path: str, n: int) -> list[dict[str, Any]]:
    return [{"index": i, "start": 10.0 * i, "end": 10.0 * i + 10, "path": path, "request": f"r{i}"} for i in range(n)]


@pytest.mark.unit
def test_a_pool_of_more_than_one_actor_keeps_ray_data() -> None:
    cfg = load_config(None)
    pool = cfg.model(TRANSCRIBER_KEY).model_copy(update={"replicas": Replicas(min=1, max=2)})
    cfg = cfg.model_copy(update={"models": {**cfg.models, TRANSCRIBER_KEY: pool}})
    assert single_actor(_echo_chunks(), cfg, TRANSCRIBER_KEY, tag="x") is None


@pytest.mark.ray
def test_rows_come_back_in_chunk_order_and_the_actor_ends(ray_session: Config) -> None:

    actor = single_actor(_echo_chunks(), ray_session, TRANSCRIBER_KEY, tag="t")
    assert actor is not None
    rows = list(_actor_rows(actor, _rows("in.flac", 4)))
    assert rows == [{"index": i, "transcript": f"t{10 * i}-{10 * i + 10}", "features": f"r{i}"} for i in range(4)]
    _assert_ends(actor)


def _assert_ends(actor: Any) -> None:
    """The actor stops answering: ``ray.kill`` reaches its worker asynchronously, so a call made at once may still
    be answered (it was, once, in a full run); the actor must be gone within a minute."""
    import ray

    deadline = time.monotonic() + 60
    while True:
        try:
            ray.get(actor.chunk.remote("in.flac", 0.0, 1.0, "r"), timeout=30)
        except ray.exceptions.RayActorError:
            return
        assert time.monotonic() < deadline, "the actor still answers a minute after its rows"
        time.sleep(0.2)


@pytest.mark.ray
def test_an_error_in_the_actor_is_raised_as_itself(ray_session: Config) -> None:
    actor = single_actor(_echo_chunks(), ray_session, TRANSCRIBER_KEY)
    assert actor is not None
    with pytest.raises(ModelUnavailable, match="weights unreadable"):
        list(_actor_rows(actor, _rows("bad", 2)))
