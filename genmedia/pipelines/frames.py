"""The first stage of every video pipeline: keyframe-aligned segments (or clips) decoded in parallel Ray tasks.

:func:`decode_stage` is that stage for any decoding function (docs/architecture.md, "The flow of a frame");
:func:`frames_dataset` uses it to give plain decoded frames. :func:`decode_tasks` runs the same rows and function
as plain Ray tasks, for a stage whose output is small enough to need no Ray Data streaming (the analysis).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import ray
from ray.util.annotations import RayDeprecationWarning

from genmedia.config import DecodeConfig
from genmedia.media.decode import PixelFormat, Segment, decode_frames, decoder_threads, plan_segments
from genmedia.media.probe import MediaInfo

log = logging.getLogger(__name__)


def decode_segments(batch: dict[str, np.ndarray], *, info: MediaInfo, **decode_kwargs: Any) -> Iterator[dict[str, Any]]:
    """Ray Data UDF: for each segment row, yield its decoded frames as batches of columns.

    Undecodable packets are skipped and logged (the run continues past corrupt frames).
    """
    for row in range(len(batch["index"])):
        segment = segment_in(batch, row)
        errors: list[str] = []
        for fb in decode_frames(info, segment=segment, errors=errors, **decode_kwargs):
            yield {
                "frame_index": fb.index,
                "time": fb.time,
                "segment": np.full(len(fb), segment.index),
                "frame": fb.frames,
            }
        for e in errors:
            log.warning(e)


def segment_in(batch: dict[str, np.ndarray], row: int) -> Segment:
    """The :class:`Segment` in row ``row`` of a Ray Data batch of segment rows (``asdict`` columns)."""
    return Segment(**{k: _scalar(batch[k][row]) for k in Segment.__dataclass_fields__})


def _scalar(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def video_segments(info: MediaInfo, decode: DecodeConfig, cpus: int | None = None) -> list[Segment]:
    """The keyframe-aligned segments a video is decoded in, one Ray task each: about ``segment_seconds``
    long, their number rounded up to a multiple of the cluster's CPUs (``cpus`` when given: decoding without
    Ray) so every round of tasks fills the cores; a short video gets one per CPU, none under about
    ``min_segment_seconds``."""
    cpus = max(1, cpus or int(ray.cluster_resources().get("CPU", 1)))
    count = math.ceil(info.duration / decode.segment_seconds)
    if count >= cpus:
        count = math.ceil(count / cpus) * cpus
    else:
        count = max(count, min(cpus, math.floor(info.duration / decode.min_segment_seconds)))
    return plan_segments(info, info.duration / count if count > 1 else math.inf)


def decode_stage(
    rows: Sequence[Mapping[str, Any]], fn: Callable[..., Any], *, attempts: int, fn_kwargs: Mapping[str, Any]
) -> ray.data.Dataset:
    """A dataset with one row per segment or clip in ``rows``, mapped by the decoding UDF ``fn(batch, **fn_kwargs)``.

    One Ray task per row with one CPU, so the rows decode in parallel, each with its own decoder. Each
    task runs at most ``attempts`` times (``limits.decode_attempts``): Ray Data retries a task whose worker
    died forever by default, and a file that crashes the decoder crashes it again.
    """
    ds = ray.data.from_items(list(rows), override_num_blocks=max(1, len(rows)))
    with warnings.catch_warnings():
        # max_retries is still passed as a plain remote arg in Ray 2.60 (deprecated there, with no named
        # replacement yet), so Ray warns about it on every dataset.
        warnings.simplefilter("ignore", RayDeprecationWarning)
        return ds.map_batches(fn, batch_size=1, num_cpus=1, max_retries=attempts - 1, fn_kwargs=dict(fn_kwargs))


def decode_tasks(
    rows: Sequence[Mapping[str, Any]], fn: Callable[..., Any], *, attempts: int, fn_kwargs: Mapping[str, Any]
) -> Iterator[dict[str, np.ndarray]]:
    """:func:`decode_stage` without Ray Data: the same rows and UDF as plain Ray tasks, yielding each task's
    batches when the task ends (tasks end in any order, so rows carry their place, e.g. ``frame_index``).

    One task per row with one CPU, at most ``attempts`` runs each (a task whose worker died is rerun, as
    there); ``fn_kwargs`` go to the object store once for all tasks. For stages whose output is small (the
    analysis's per-frame signals: a few hundred bytes a frame), which need none of Ray Data's streaming: a
    fresh process then skips Ray Data's start-up (its stats, autoscaling and actor-location actors, each a
    worker importing Ray Data, before the first row) and its executor.
    """
    kwargs = ray.put(dict(fn_kwargs))
    task = _decode_task.options(max_retries=max(0, attempts - 1))
    pending = [task.remote(fn, {k: np.array([v]) for k, v in row.items()}, kwargs) for row in rows]
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield from ray.get(done[0])
    finally:
        for ref in pending:  # the consumer stopped early (an error): the other segments are not needed
            ray.cancel(ref)


@ray.remote(num_cpus=1)
def _decode_task(fn: Callable[..., Any], batch: dict[str, np.ndarray], kwargs: dict[str, Any]) -> list[Any]:
    """One row's batches from the decoding UDF ``fn`` (a Ray task of :func:`decode_tasks`)."""
    return list(fn(batch, **kwargs))


def frames_dataset(
    info: MediaInfo,
    decode: DecodeConfig,
    *,
    fmt: PixelFormat = "gray",
    width: int | None = None,
    height: int | None = None,
    skip_loop_filter: bool = True,
    max_retries: int = 1,
) -> ray.data.Dataset:
    """A dataset of decoded frames (columns ``frame_index``, ``time``, ``segment``, ``frame``).

    One Ray task per keyframe-aligned segment (:func:`video_segments`) with one CPU, each retried at most
    ``max_retries`` times (:func:`decode_stage`).
    """
    rows = [asdict(s) for s in video_segments(info, decode)]
    return decode_stage(
        rows,
        decode_segments,
        attempts=max_retries + 1,
        fn_kwargs={
            "info": info,
            "fmt": fmt,
            "width": width,
            "height": height,
            "batch_size": decode.batch_size,
            "threads": decoder_threads(decode.threads, len(rows)),
            "skip_loop_filter": skip_loop_filter,
        },
    )
