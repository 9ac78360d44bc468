"""Decode: exact frames and timestamps, cheap analysis frames, segments equal a sequential decode."""

from __future__ import annotations

import numpy as np
import pytest

from genmedia.config import DecodeConfig
from genmedia.media.decode import decode_frames, decoder_threads, luma_stride, plan_segments
from genmedia.media.probe import probe

pytestmark = pytest.mark.ray


def _all(info, **kwargs):
    batches = list(decode_frames(info, **kwargs))
    return (
        np.concatenate([b.frames for b in batches]),
        np.concatenate([b.index for b in batches]),
        np.concatenate([b.time for b in batches]),
    )


def test_every_frame_once_with_exact_timestamps(sample_clip) -> None:
    path, truth = sample_clip
    info = probe(path)
    frames, index, times = _all(info, fmt="rgb24", batch_size=50)
    assert frames.shape == (truth.n_frames, truth.height, truth.width, 3)
    assert index.tolist() == list(range(truth.n_frames))
    assert times == pytest.approx(np.arange(truth.n_frames) / truth.fps, abs=1e-6)


def test_variable_frame_rate_times_come_from_timestamps(messy_media) -> None:
    facts = messy_media["vfr"]
    _, index, times = _all(probe(facts.path), fmt="gray", width=64)
    assert index.tolist() == list(range(facts.n_frames))
    assert times == pytest.approx(list(facts.pts), abs=1e-6)


def test_gray_analysis_frames_are_the_strided_luma_plane(sample_clip) -> None:
    import av

    path, truth = sample_clip
    gray, _, _ = _all(probe(path), fmt="gray", width=80)
    k = luma_stride(truth.width, 80)
    assert gray.shape == (truth.n_frames, -(-truth.height // k), -(-truth.width // k)) and gray.dtype == np.uint8
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            y_plane = frame.to_ndarray(format="yuv420p")[: truth.height]
            assert np.array_equal(gray[i], y_plane[::k, ::k])
            if i == 30:
                break


def test_rgb_is_scaled_to_the_size_asked(sample_clip) -> None:
    frames, _, _ = _all(probe(sample_clip[0]), fmt="rgb24", width=64, height=36, batch_size=7)
    assert frames.shape[1:] == (36, 64, 3)


def test_segments_decode_exactly_the_sequential_frames(sample_clip) -> None:
    info = probe(sample_clip[0])
    segments = plan_segments(info, 1.0)
    assert len(segments) > 1, "the sample clip should have several keyframe-aligned segments"
    assert sum(s.frame_count for s in segments) == info.frame_count
    seq, seq_index, _ = _all(info, fmt="gray", width=160, skip_loop_filter=True)
    parts = [_all(info, segment=s, fmt="gray", width=160, skip_loop_filter=True) for s in segments]
    for s, (_, index, _) in zip(segments, parts):
        assert index.tolist() == list(range(s.first_frame, s.first_frame + s.frame_count))
    joined = np.concatenate([p[0] for p in parts])
    assert np.concatenate([p[1] for p in parts]).tolist() == seq_index.tolist()
    assert joined.tobytes() == seq.tobytes()


def test_ten_bit_luma_is_brought_to_eight_bits(messy_media) -> None:
    facts = messy_media["ten_bit"]
    gray, index, _ = _all(probe(facts.path), fmt="gray", width=80)
    assert gray.dtype == np.uint8 and len(index) == facts.n_frames and gray.max() > 100


def test_corrupt_middle_decodes_past_the_damage_and_says_so(messy_media) -> None:
    facts = messy_media["corrupt_middle"]
    info = probe(facts.path)
    errors: list[str] = []
    _, index, _ = _all(info, fmt="gray", width=80, errors=errors)
    assert index.max() == info.frame_count - 1, "frames after the damage are still decoded"
    assert len(index) > info.frame_count // 2


def test_parallel_decode_on_ray_yields_every_frame(ray_session, sample_clip) -> None:
    from genmedia.pipelines.frames import frames_dataset

    info = probe(sample_clip[0])
    ds = frames_dataset(info, DecodeConfig(segment_seconds=2.0), fmt="gray", width=80)
    seen: list[int] = []
    segments: set[int] = set()
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        seen.extend(batch["frame_index"].tolist())
        segments.update(batch["segment"].tolist())
    assert sorted(seen) == list(range(info.frame_count))
    assert len(segments) == len(plan_segments(info, 2.0)) > 1


def test_decode_stage_gives_up_after_the_configured_attempts(ray_session, tmp_path) -> None:
    """Ray Data would retry a task whose worker died forever; the decode stage stops after ``attempts`` (slow: two worker crashes)."""
    import ray

    from genmedia.pipelines.frames import decode_stage

    def crash_worker(batch: dict, *, log: str) -> dict:
        """A decode that kills its worker process, as a file that crashes FFmpeg does; each attempt leaves a line."""
        import os

        with open(log, "a") as f:
            f.write("attempt\n")
        os._exit(1)

    log = tmp_path / "attempts.log"
    ds = decode_stage([{"index": 0}], crash_worker, attempts=2, fn_kwargs={"log": str(log)})
    with pytest.raises(ray.exceptions.RayError):
        ds.materialize()
    assert log.read_text().splitlines() == ["attempt", "attempt"]


def test_decode_tasks_give_every_row_once_and_stop_after_the_configured_attempts(ray_session, tmp_path) -> None:
    """The plain-task variant of the decode stage (the analysis's): every row's batches come back once, whatever
    order the tasks end in; a task whose worker dies runs ``attempts`` times, then the error reaches the caller
    (slow: two worker crashes)."""
    import ray

    from genmedia.pipelines.frames import decode_tasks

    def rows_of(batch: dict, *, scale: int) -> list[dict]:
        """Two batches per row, as a segment's decode yields them."""
        first = int(batch["first"][0])
        return [{"value": np.arange(first, first + 2) * scale}, {"value": np.arange(first + 2, first + 4) * scale}]

    got = decode_tasks([{"first": k * 4, "end": None} for k in range(5)], rows_of, attempts=1, fn_kwargs={"scale": 3})
    assert sorted(np.concatenate([b["value"] for b in got]).tolist()) == [3 * i for i in range(20)]

    def crash_worker(batch: dict, *, log: str) -> dict:
        import os

        with open(log, "a") as f:
            f.write("attempt\n")
        os._exit(1)

    log = tmp_path / "attempts.log"
    with pytest.raises(ray.exceptions.RayError):
        list(decode_tasks([{"index": 0}], crash_worker, attempts=2, fn_kwargs={"log": str(log)}))
    assert log.read_text().splitlines() == ["attempt", "attempt"]


def test_decoder_threads_one_per_task_when_segments_run_in_parallel() -> None:
    assert decoder_threads(3, segments=5) == 3, "a configured count wins"
    assert decoder_threads(0, segments=5) == 1, "parallel segments fill the cores"
    assert decoder_threads(0, segments=1) == 0, "a lone segment lets FFmpeg use every core"


def test_a_short_video_is_split_so_its_segments_fill_the_cpus(ray_session, sample_clip) -> None:
    from genmedia.pipelines.frames import video_segments

    info = probe(sample_clip[0])  # 24 s; the test cluster has 2 CPUs
    segments = video_segments(info, DecodeConfig(segment_seconds=60, min_segment_seconds=5))
    assert len(segments) >= 2 and sum(s.frame_count for s in segments) == info.frame_count
    assert set(s.start_pts for s in segments) <= set(info.keyframe_pts) | {info.frame_pts[0]}
    assert len(video_segments(info, DecodeConfig(segment_seconds=60, min_segment_seconds=30))) == 1
    assert len(video_segments(info, DecodeConfig(segment_seconds=2, min_segment_seconds=30))) > 2, (
        "segment_seconds caps the length"
    )


def test_a_worker_without_the_drivers_copy_stages_the_input_itself(
    s3_server: str, s3_bucket: str, sample_clip, tmp_path
) -> None:
    """Multi-node without shared storage: the driver staged s3://... on its node; a task elsewhere gets
    the same MediaInfo, finds no file at its path and stages the URI on its own node."""
    import boto3

    from genmedia.config import StorageConfig
    from genmedia.errors import InputError
    from genmedia.media.origin import origin_of
    from genmedia.storage import stage_input

    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").upload_file(
        str(sample_clip[0]), s3_bucket, "in/clip.mp4"
    )
    uri = f"s3://{s3_bucket}/in/clip.mp4"
    driver = StorageConfig(cache_dir=str(tmp_path / "driver-node"), s3_endpoint_url=s3_server)
    staged = stage_input(uri, driver)
    info = probe(staged).model_copy(update={"origin": origin_of(uri, driver)})
    expected, _, _ = _all(info, fmt="gray", width=80)
    staged.rename(tmp_path / "elsewhere.mp4")  # what a worker on another node sees: no file at info.path
    frames, index, _ = _all(info, fmt="gray", width=80)
    assert frames.tobytes() == expected.tobytes() and len(index) == info.frame_count
    assert staged.exists(), "staged again from the URI on this node"
    assert origin_of(str(staged), driver) is None  # a local input has nothing to stage from
    staged.unlink()
    with pytest.raises(InputError, match="not on this node"):
        _all(info.model_copy(update={"origin": None}), fmt="gray", width=80)
