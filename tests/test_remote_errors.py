"""genmedia's errors cross Ray's process boundary as themselves: pickled whatever their constructor takes,
and :func:`genmedia.runtime.get_result` raises them with their one-line message, not Ray's remote traceback."""

from __future__ import annotations

import pickle

import pytest
import ray

from genmedia.errors import GenmediaError, InputError, ModelUnavailable, ParamsError
from genmedia.jobs.queue import QueueFull
from genmedia.jobs.reviews import UnknownReview
from genmedia.runtime import get_result


@pytest.mark.unit
@pytest.mark.parametrize(
    "error",
    [
        InputError("clip.mp4", "no video stream"),
        ParamsError("params", "fps: must be positive"),
        UnknownReview("r-42"),
        QueueFull("queue full for key k", retry_after_s=7),
        ModelUnavailable("models.transcriber is not staged; run `genmedia models pull transcriber`"),
    ],
)
def test_errors_pickle_as_themselves(error: GenmediaError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.__dict__ == error.__dict__


@ray.remote(max_retries=0)
def _refuse(path: str) -> None:
    raise InputError(path, "no audio stream")


@ray.remote(max_retries=0)
def _crash() -> None:
    raise ZeroDivisionError("not a genmedia error")


@pytest.mark.ray
def test_get_result_raises_the_remote_input_error_itself(ray_session) -> None:  # noqa: ANN001 - session fixture
    with pytest.raises(InputError) as caught:
        get_result(_refuse.remote("talk.wav"))
    assert (caught.value.source, caught.value.reason) == ("talk.wav", "no audio stream")
    assert str(caught.value) == "talk.wav: no audio stream"  # the one line, no remote traceback


@pytest.mark.ray
def test_get_result_leaves_other_remote_errors_wrapped(ray_session) -> None:  # noqa: ANN001 - session fixture
    with pytest.raises(ray.exceptions.RayTaskError) as caught:
        get_result(_crash.remote())
    assert isinstance(caught.value.cause, ZeroDivisionError)
