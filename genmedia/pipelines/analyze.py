"""The analysis job: shots, motion, audio, faces, composition and embeddings of a video, on Ray.

Stages (docs/architecture.md; each decodes nothing twice):

1. **Signals** (:func:`build`): one plain Ray task per keyframe-aligned segment decodes it once, reading the
   luma plane by striding (``skip_loop_filter``), and turns every frame into a few hundred bytes: a 16x9
   grid for shot detection, luma mean/std and motion energy. Frames sampled at ``sample_fps`` also get
   sharpness, exposure, a small RGB thumbnail (JPEG), colourfulness, saliency and faces (CenterFace or Haar). Each
   task decodes one frame past its segment so the first frame of the next segment has a motion value;
   the stitcher keeps exactly one row per frame, so a cut on a segment boundary is neither lost nor
   doubled. Many videos stream through one dataset (rows carry their video's number).
2. **Shots** (driver): :func:`genmedia.analysis.shots.detect_boundaries` over the stitched descriptors.
3. **Detector / embedder** (only when used; one Ray actor for a one-actor pool, else Ray Data actors, or the
   Serve app's deployments): the detector deployment finds faces and
   objects in the sampled thumbnails; the scene embedder embeds one key frame per shot (or every
   sampled frame) and names tags and mood probabilities (CLIP).
4. **Audio** (a Ray task beside stage 1): loudness, peaks, onsets, tempo, beats and pitch, streamed.
5. **Emotion** (driver): each shot's valence/arousal from its audio, motion, colour and brightness and,
   with CLIP, its mood prompts (:mod:`genmedia.analysis.emotion`); its label is the shot's ``mood``.

Outputs: ``shots.json``, ``features.parquet`` (one row per analysed frame), ``audio.json``,
``contact_sheet.png``, then ``manifest.json``. :func:`load_analysis` runs the job or reuses its outputs.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np
import pandas as pd
import ray

from genmedia.analysis import emotion as emotionlib
from genmedia.analysis import shots as shotlib
from genmedia.analysis.colour import chroma_means, colourfulness, exposure, sharpness
from genmedia.analysis.composition import composition_score
from genmedia.analysis.faces import BACKEND as HAAR
from genmedia.analysis.faces import (
    CENTERFACE,
    FACE_DETECTOR_KEY,
    FaceFinder,
    HaarFaces,
    face_finder_name,
    load_face_finder,
)
from genmedia.analysis.motion import motion_energy, motion_picture, shot_motion
from genmedia.analysis.saliency import saliency_map, salient_region
from genmedia.config import AnalyzeConfig, Config, ModelConfig
from genmedia.deployments.contract import Model, check_model_class
from genmedia.enhance.grade import STATS_LENGTH, frame_stats
from genmedia.errors import InputError, ModelUnavailable
from genmedia.media.decode import Segment, decoder_threads, iter_frames, luma
from genmedia.media.origin import Origin, local_media_path, origin_of
from genmedia.media.probe import MediaInfo, probe
from genmedia.pipelines.frames import decode_tasks, segment_in, video_segments
from genmedia.pipelines.job import JobContext, JobOutcome, run_job
from genmedia.pipelines.models import ServedModel, map_model, served_model, single_actor
from genmedia.progress import ProgressFn, no_progress
from genmedia.runtime import get_result
from genmedia.schemas import JobResult
from genmedia.storage import JobOutput, stage_input

log = logging.getLogger(__name__)

JOB = "analyze"
SHOTS, FEATURES, AUDIO, CONTACT_SHEET = "shots.json", "features.parquet", "audio.json", "contact_sheet.png"
MAX_FACES = 8
BATCH_ROWS = 64
DETECTOR_KEY, EMBEDDER_KEY = "detector", "scene_embedder"


class Params(AnalyzeConfig):
    """Parameters of the analysis job (defaults: ``pipelines.analyze`` of the embedded config)."""


def params_from(cfg: Config, **overrides: Any) -> Params:
    """The job's parameters: the config's ``pipelines.analyze`` section with ``overrides`` applied."""
    return Params(**{**cfg.pipelines.analyze.model_dump(), **{k: v for k, v in overrides.items() if v is not None}})


def shot_params(params: AnalyzeConfig) -> shotlib.ShotParams:
    """Detector settings for the job's parameters."""
    base = shotlib.ShotParams()
    k = params.cut_sensitivity
    return shotlib.ShotParams(
        min_shot_seconds=params.min_shot_seconds,
        cut_floor=base.cut_floor / k,
        cut_ratio=base.cut_ratio / k,
        fades=params.fades,
        dissolves=params.dissolves,
    )


def face_backend(cfg: Config, params: AnalyzeConfig) -> str:
    """``detector``, ``centerface`` or ``haar``: what finds faces for these parameters and this config.

    ``auto`` takes the detector deployment when the config names one, else the pretrained face model
    (``models.face_detector``) when its weights are staged, else Haar cascades.
    """
    if params.faces == "auto":
        entry = cfg.models.get(DETECTOR_KEY)
        return "detector" if entry is not None and entry.backend != "classical" else face_finder_name(cfg)
    if params.faces == "detector":
        cfg.model(DETECTOR_KEY)  # ConfigError naming the configured models when there is none
    if params.faces == CENTERFACE and face_finder_name(cfg) != CENTERFACE:
        entry = cfg.model(FACE_DETECTOR_KEY)
        raise ModelUnavailable(
            f"model {entry.model!r} ({FACE_DETECTOR_KEY}) is not staged; run: genmedia models pull {FACE_DETECTOR_KEY}"
        )
    return params.faces


# ----------------------------------------------------------------------------------------------
# Stage 1: per-frame signals, segment-parallel
# ----------------------------------------------------------------------------------------------


def sample_frames(info: MediaInfo, sample_fps: float) -> np.ndarray:
    """Indices of the analysed frames: the first frame at or after each ``1 / sample_fps`` step (by timestamp)."""
    times = (np.asarray(info.frame_pts, np.int64) - info.frame_pts[0]) * float(info.time_base_fraction)
    slots = np.floor(times * sample_fps + 1e-9).astype(np.int64)
    return np.flatnonzero(np.diff(np.concatenate([[-1], slots])) > 0)


def thumb_size(info: MediaInfo, width: int) -> tuple[int, int]:
    """Coded-orientation ``(width, height)`` of thumbnails: the display aspect ratio, even sizes."""
    dw, dh = (
        (info.display_height, info.display_width)
        if info.rotation in (90, 270)
        else (info.display_width, info.display_height)
    )
    width = min(width, max(2, dw))
    return width - width % 2, max(2, round(width * dh / max(dw, 1) / 2) * 2)


@dataclass
class _Video:
    """What a segment task needs to know about its video (sent once per task, not per frame)."""

    info: MediaInfo
    sampled: frozenset[int]
    thumb: tuple[int, int]


def _extended(segment: Segment, all_pts: list[int]) -> Segment:
    """The segment plus one frame (the next segment's first), for the motion value across the boundary."""
    after = segment.first_frame + segment.frame_count + 1
    end = all_pts[after] if after < len(all_pts) else None
    return Segment(segment.index, segment.start_pts, end, segment.first_frame, segment.frame_count + 1)


def _empty_faces() -> np.ndarray:
    return np.full((MAX_FACES, 4), -1, np.int32)


def _sample_features(
    gray_full: np.ndarray, rgb: np.ndarray, rotation: int, finder: FaceFinder | None
) -> dict[str, Any]:
    """Features of one analysed frame: sharpness and exposure of its analysis-size luma ``gray_full``,
    the rest from its RGB thumbnail (rotated upright for display)."""
    if rotation:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=rotation // 90))
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    sal = salient_region(saliency_map(gray))
    faces = _empty_faces()
    if finder is not None:
        found = finder.find(rgb)[:MAX_FACES]
        faces[: len(found)] = found
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    return {
        "sharpness": sharpness(gray_full),
        "exposure": exposure(gray_full),
        "colourfulness": colourfulness(rgb),
        "saliency": np.array([sal.cx, sal.cy, *sal.box], np.float32),
        "frame_faces": faces,
        "thumb": jpeg.tobytes() if ok else b"",
        "thumb_size": np.array(rgb.shape[1::-1], np.int32),
        "colour_stats": frame_stats(rgb).to_vector(),
    }


_NO_SAMPLE = {
    "sharpness": np.nan,
    "exposure": np.nan,
    "colourfulness": np.nan,
    "saliency": np.full(6, np.nan, np.float32),
    "frame_faces": _empty_faces(),
    "thumb": b"",
    "thumb_size": np.zeros(2, np.int32),
    "colour_stats": np.full(STATS_LENGTH, np.nan, np.float32),
}


def _columns(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    out = {k: np.stack([r[k] for r in rows]) for k in rows[0] if k != "thumb"}
    out["thumb"] = np.array([r["thumb"] for r in rows], dtype=object)
    return out


def analyse_segments(
    batch: dict[str, np.ndarray], *, videos: list[_Video], width: int, threads: int, faces: str | None, cfg: Config
) -> Iterator[dict[str, np.ndarray]]:
    """Segment UDF (:func:`~genmedia.pipelines.frames.decode_tasks`): decode each segment row once and yield
    per-frame signal rows (see module docstring).
    ``faces``: what finds faces on sampled frames here (``centerface``: ``cfg``'s staged face model, ``haar``, None)."""
    finder = HaarFaces() if faces == HAAR else load_face_finder(cfg) if faces == CENTERFACE else None
    for r in range(len(batch["video"])):
        v = int(batch["video"][r])
        video = videos[v]
        info = video.info
        segment = segment_in(batch, r)
        own_end = segment.first_frame + segment.frame_count
        pts_index = {
            p: i for i, p in enumerate(info.frame_pts[segment.first_frame : own_end + 1], start=segment.first_frame)
        }
        tb = float(info.time_base_fraction)
        previous: tuple[int, np.ndarray] | None = None
        rows: list[dict[str, Any]] = []
        errors: list[str] = []
        damaged: list[int] = []
        for ts, frame in iter_frames(
            info,
            segment=_extended(segment, info.frame_pts),
            threads=threads,
            skip_loop_filter=True,
            errors=errors,
            damaged=damaged,
        ):
            index = pts_index.get(ts)
            if index is None:
                continue
            gray = luma(frame, width)
            small = motion_picture(gray)
            follows = previous is not None and previous[0] == index - 1
            mean, std = cv2.meanStdDev(gray)
            row: dict[str, Any] = {
                "video": v,
                "frame_index": index,
                "time": ts * tb,
                "segment": segment.index,
                "overlap": index >= own_end,
                "grid": shotlib.frame_descriptor(gray),
                "chroma": chroma_means(frame),
                "luma_mean": float(mean[0, 0]),
                "luma_std": float(std[0, 0]),
                "motion": motion_energy(previous[1], small) if follows else np.nan,
                "sampled": index in video.sampled and index < own_end,
                "damaged": bool(damaged) and damaged[-1] == ts,
            }
            row.update(
                _sample_features(
                    gray,
                    frame.to_ndarray(width=video.thumb[0], height=video.thumb[1], format="rgb24"),
                    info.rotation,
                    finder,
                )
                if row["sampled"]
                else _NO_SAMPLE
            )
            rows.append(row)
            previous = (index, small)
            if len(rows) == BATCH_ROWS:
                yield _columns(rows)
                rows = []
        if rows:
            yield _columns(rows)
        for e in errors:
            log.warning(e)


def build(
    cfg: Config,
    infos: list[MediaInfo],
    params: AnalyzeConfig | None = None,
    *,
    samples: bool = True,
    in_driver: bool = False,
) -> Iterator[dict[str, np.ndarray]]:
    """The per-frame signal batches of one or many videos: one Ray task per (video, segment), plain tasks
    (:func:`~genmedia.pipelines.frames.decode_tasks`: the rows are small, so no Ray Data start-up or executor).

    Rows: ``video`` (position in ``infos``), ``frame_index``, ``time``, ``segment``, ``overlap`` (the
    extra frame a task decodes past its segment), ``grid``, ``chroma`` (mean U, V), ``luma_mean``, ``luma_std``, ``motion``,
    ``sampled`` and, for sampled frames, ``sharpness``, ``exposure``, ``colourfulness``, ``saliency``,
    ``frame_faces`` (face boxes when faces are found in this stage), ``thumb`` (JPEG bytes), ``thumb_size``,
    ``colour_stats`` (the thumbnail's grading statistics, :meth:`~genmedia.enhance.grade.FrameStats.to_vector`). Stitch with :func:`stitch`. With
    ``samples=False`` no frame is sampled: only what shot detection and motion need is computed.
    ``in_driver``: the same segments and function on a thread per CPU of this process instead (no Ray; see
    :func:`runs_in_driver`).
    """
    params = params or params_from(cfg)
    decode = cfg.pipelines.decode
    faces_by = face_backend(cfg, params) if samples else None
    videos = [
        _Video(
            i,
            frozenset(sample_frames(i, params.sample_fps).tolist() if samples else ()),
            thumb_size(i, params.thumb_width),
        )
        for i in infos
    ]
    cpus = _driver_cpus(cfg) if in_driver else None
    rows = [{"video": v, **asdict(s)} for v, info in enumerate(infos) for s in video_segments(info, decode, cpus)]
    # One segment per core: segments in parallel, a single-threaded decoder each, bounded attempts.
    return (_driver_batches if in_driver else decode_tasks)(
        rows,
        analyse_segments,
        attempts=cfg.limits.decode_attempts,
        fn_kwargs={
            "videos": videos,
            "width": decode.analysis_width,
            "threads": decoder_threads(decode.threads, len(rows)),
            "faces": faces_by if faces_by != "detector" else None,
            "cfg": cfg,
        },
    )


def runs_in_driver(cfg: Config, params: AnalyzeConfig) -> bool:
    """Whether the analysis runs in this process, without Ray: on a local Ray that is not started yet (a fresh
    CLI process; not on a cluster, inside ``ray job submit`` or a Serve app's job) when no model stage needs an
    actor (faces by CenterFace or Haar, the classical embedder or none). Ray's start-up (about 6 s here) is then
    not paid, and the segments decode on a thread per CPU (PyAV, OpenCV and onnxruntime release the GIL)."""
    if cfg.ray.address != "local" or os.environ.get("RAY_ADDRESS") or ray.is_initialized():
        return False
    embedder = cfg.models.get(EMBEDDER_KEY)
    classical = params.embed == "off" or embedder is None or embedder.backend == CLASSICAL_MODEL.backend
    return classical and face_backend(cfg, params) != "detector"


def _driver_cpus(cfg: Config) -> int:
    return cfg.ray.num_cpus or os.cpu_count() or 1


def _driver_batches(
    rows: list[dict[str, Any]], fn: Any, *, attempts: int, fn_kwargs: dict[str, Any]
) -> Iterator[dict[str, np.ndarray]]:
    """:func:`~genmedia.pipelines.frames.decode_tasks` in this process: each row's batches from ``fn`` on a pool of
    one thread per CPU, yielded as rows end. A decoding error fails the job at once (``attempts`` is for Ray's
    retries of a worker that died)."""
    del attempts

    def run(row: dict[str, Any]) -> list[dict[str, np.ndarray]]:
        return list(fn({k: np.array([v]) for k, v in row.items()}, **fn_kwargs))

    with ThreadPoolExecutor(max_workers=_driver_cpus(fn_kwargs["cfg"]), thread_name_prefix="analyze") as pool:
        pending = [pool.submit(run, row) for row in rows]
        try:
            for done in as_completed(pending):
                yield from done.result()
        finally:
            for future in pending:
                future.cancel()


@dataclass
class Signals:
    """One video's stitched per-frame signals (one entry per decoded frame, in order) and its samples."""

    frame_index: np.ndarray
    time: np.ndarray
    grid: np.ndarray
    chroma: np.ndarray
    luma_mean: np.ndarray
    luma_std: np.ndarray
    motion: np.ndarray
    samples: pd.DataFrame = field(repr=False)
    """Analysed frames: frame_index, time, sharpness, exposure, colourfulness, saliency, frame_faces, thumb, thumb_size."""
    missing: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Frames of the video that could not be decoded."""
    damaged: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Frames decoded with errors the decoder concealed (e.g. "error while decoding MB"): present but damaged."""


def stitch(batches: list[dict[str, np.ndarray]], frame_count: int) -> Signals:
    """Merge one video's signal rows from every segment: one row per frame, in frame order.

    The owner task's row is kept for each frame; the motion of a segment's first frame comes from the
    previous task's overlap row (which saw the frame before it).
    """
    cols = {k: np.concatenate([b[k] for b in batches]) for k in batches[0]} if batches else {}
    if not cols or not len(cols["frame_index"]):
        raise ValueError("no frame could be decoded")
    own = ~cols["overlap"]
    order = np.flatnonzero(own)[np.argsort(cols["frame_index"][own], kind="stable")]
    index = cols["frame_index"][order]
    keep = order[np.concatenate([[True], np.diff(index) > 0])]  # a retried task may repeat rows
    index = cols["frame_index"][keep]
    motion = cols["motion"][keep].astype(np.float32)
    extra = np.flatnonzero(cols["overlap"] & np.isfinite(cols["motion"]))
    at = np.searchsorted(index, cols["frame_index"][extra])
    found = (at < len(index)) & (index[np.minimum(at, len(index) - 1)] == cols["frame_index"][extra])
    motion[at[found]] = np.where(np.isnan(motion[at[found]]), cols["motion"][extra[found]], motion[at[found]])
    sampled = keep[cols["sampled"][keep]]
    samples = pd.DataFrame(
        {
            "frame_index": cols["frame_index"][sampled],
            "time": cols["time"][sampled],
            "sharpness": cols["sharpness"][sampled],
            "exposure": cols["exposure"][sampled],
            "colourfulness": cols["colourfulness"][sampled],
            "saliency": list(cols["saliency"][sampled]),
            "frame_faces": list(cols["frame_faces"][sampled]),
            "thumb": list(cols["thumb"][sampled]),
            "thumb_size": list(cols["thumb_size"][sampled]),
            "colour_stats": list(cols["colour_stats"][sampled]),
        }
    )
    return Signals(
        frame_index=index,
        time=cols["time"][keep],
        grid=cols["grid"][keep],
        chroma=cols["chroma"][keep],
        luma_mean=cols["luma_mean"][keep],
        luma_std=cols["luma_std"][keep],
        motion=motion,
        samples=samples,
        missing=np.setdiff1d(np.arange(frame_count), index),
        damaged=index[cols["damaged"][keep].astype(bool)] if "damaged" in cols else np.zeros(0, np.int64),
    )


def collect_signals(
    batches: Iterable[dict[str, np.ndarray]], infos: list[MediaInfo], progress: ProgressFn = no_progress
) -> list[Signals]:
    """Run the signal stage (:func:`build`) and stitch each video's rows; InputError for a video with no decodable
    frame."""
    per_video: list[list[dict[str, np.ndarray]]] = [[] for _ in infos]
    total = sum(i.frame_count for i in infos)
    done = 0
    progress("decode", 0, total)
    for batch in batches:
        for v in np.unique(batch["video"]):
            pick = batch["video"] == v
            per_video[int(v)].append({k: col[pick] for k, col in batch.items()})
        done += int((~batch["overlap"]).sum())
        progress("decode", min(done, total), total)
    out = []
    for info, batches in zip(infos, per_video, strict=True):
        try:
            out.append(stitch(batches, info.frame_count))
        except ValueError as e:
            raise InputError(info.path, str(e)) from None
    return out


def detect_shots(signals: Signals, info: MediaInfo, params: AnalyzeConfig) -> list[shotlib.Shot]:
    """Shots of a video from its stitched signals."""
    boundaries = shotlib.detect_boundaries(
        signals.grid, signals.luma_mean, signals.luma_std, info.fps, shot_params(params), signals.chroma
    )
    return shotlib.shots_from_boundaries(
        boundaries,
        signals.frame_index,
        signals.time,
        info.frame_count,
        info.start_time,
        info.start_time + info.duration,
    )


def detect_shots_in_file(
    info: MediaInfo, params: AnalyzeConfig | None = None, *, width: int = 256, threads: int = 0
) -> list[shotlib.Shot]:
    """Shot detection alone, in this process (no Ray): decode every frame once (luma by striding, no
    deblocking) and run the detector. The algorithm's cost, for benchmarks and small tools."""
    params = params or AnalyzeConfig()
    grids, chroma, means, stds, index, times = [], [], [], [], [], []
    pts_index = {p: i for i, p in enumerate(info.frame_pts)}
    tb = float(info.time_base_fraction)
    for ts, frame in iter_frames(info, threads=threads, skip_loop_filter=True):
        gray = luma(frame, width)
        mean, std = cv2.meanStdDev(gray)
        grids.append(shotlib.frame_descriptor(gray))
        chroma.append(chroma_means(frame))
        means.append(mean[0, 0])
        stds.append(std[0, 0])
        index.append(pts_index.get(ts, len(index)))
        times.append(ts * tb)
    boundaries = shotlib.detect_boundaries(
        np.stack(grids), np.array(means), np.array(stds), info.fps, shot_params(params), np.stack(chroma)
    )
    return shotlib.shots_from_boundaries(
        boundaries, np.array(index), np.array(times), info.frame_count, info.start_time, info.start_time + info.duration
    )


# ----------------------------------------------------------------------------------------------
# Stage 3: detector and embedder on thumbnails (Ray Data actors)
# ----------------------------------------------------------------------------------------------


def decode_thumbs(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Ray Data UDF: JPEG ``thumb`` bytes -> ``image`` (N x H x W x 3 RGB)."""
    images = [
        cv2.cvtColor(cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        for b in batch["thumb"]
    ]
    return {"frame_index": batch["frame_index"], "image": np.stack(images)}


CLASSICAL_MODEL = ModelConfig(backend="classical", batch_size=32)
"""Stands in for a model the config does not list (the weight-free backend): one actor, one CPU."""


def _model_stage(
    cfg: Config, frames: pd.DataFrame, cls: type[Model], key: str, served: ServedModel | None = None
) -> pd.DataFrame:
    """Run deployment ``cls`` (Detector, SceneEmbedder) over the thumbnails of ``frames`` as Ray Data actors, or
    with the Serve app's running deployment ``served`` of it (one request per thumbnail)."""
    if frames.empty:
        return pd.DataFrame()
    if served is not None:
        return _served_stage(cfg, frames, key, served)
    actor = single_actor(cls, cfg, key, default=CLASSICAL_MODEL)
    if actor is not None:
        return _actor_stage(actor, frames, (cfg.models.get(key) or CLASSICAL_MODEL).batch_size)
    ds = ray.data.from_items(
        [{"frame_index": int(i), "thumb": t} for i, t in zip(frames["frame_index"], frames["thumb"], strict=True)]
    )
    ds = map_model(ds.map_batches(decode_thumbs, batch_size=16), cls, cfg, key, default=CLASSICAL_MODEL)
    return _rows_frame(ds.iter_batches(batch_size=None, batch_format="numpy"))


def _rows_frame(batches: Iterable[dict[str, np.ndarray]]) -> pd.DataFrame:
    """A model stage's output batches as one frame (a column of arrays where the batch column has more axes)."""
    return pd.concat(
        [pd.DataFrame({k: list(v) if v.ndim > 1 else v for k, v in b.items()}) for b in batches], ignore_index=True
    )


def _driver_stage(cfg: Config, frames: pd.DataFrame, cls: type[Model], key: str) -> pd.DataFrame:
    """:func:`_model_stage` in this process, for a weight-free model (the classical embedder, see
    :func:`runs_in_driver`): the same class and calls as its actor, so the same rows."""
    if frames.empty:
        return pd.DataFrame()
    model = check_model_class(cls)(cfg, key)
    size = (cfg.models.get(key) or CLASSICAL_MODEL).batch_size
    index, thumbs = frames["frame_index"].to_numpy(), list(frames["thumb"])
    return _rows_frame(
        model(decode_thumbs({"frame_index": index[i : i + size], "thumb": thumbs[i : i + size]}))
        for i in range(0, len(frames), size)
    )


def _actor_stage(actor: ray.actor.ActorHandle, frames: pd.DataFrame, batch_size: int) -> pd.DataFrame:
    """:func:`_model_stage` on one actor (:func:`~genmedia.pipelines.models.single_actor`, a one-actor pool): the
    thumbnails in batches of ``batch_size``, all queued at once; the same columns and rows as the Ray Data pool's
    (same class, same calls), without Ray Data's start-up. The actor ends with its rows."""
    index, thumbs = frames["frame_index"].to_numpy(), list(frames["thumb"])
    try:
        batches = [
            {"frame_index": index[i : i + batch_size], "thumb": thumbs[i : i + batch_size]}
            for i in range(0, len(frames), batch_size)
        ]
        refs = [actor.__call__.remote(decode_thumbs(b)) for b in batches]
        return _rows_frame(get_result(ref) for ref in refs)  # e.g. unstaged weights: the one-line error
    finally:
        ray.kill(actor)


def _actors_name(cfg: Config, key: str) -> str:
    """How :func:`_model_stage` runs model ``key`` outside the Serve app: ``ray-actor`` or ``ray-data-actors``."""
    return "ray-actor" if (cfg.models.get(key) or CLASSICAL_MODEL).replicas.max <= 1 else "ray-data-actors"


def _served_stage(cfg: Config, frames: pd.DataFrame, key: str, served: ServedModel) -> pd.DataFrame:
    """:func:`_model_stage` through the deployment ``served``: each thumbnail decoded here and sent as one
    request, up to the model's batch size in flight; the same columns and rows as the actors' path."""
    thumbs = ({"frame_index": np.asarray([i]), "thumb": [t]} for i, t in zip(frames["frame_index"], frames["thumb"]))
    requests = ({k: v[0] for k, v in decode_thumbs(batch).items()} for batch in thumbs)
    rows = list(served.map(requests, in_flight=cfg.model(key).batch_size))
    columns = {}
    for name in rows[0]:
        values = [row[name] for row in rows]
        columns[name] = np.asarray(values) if all(np.ndim(v) == 0 for v in values) else values
    return pd.DataFrame(columns)


# ----------------------------------------------------------------------------------------------
# Stage 4: audio
# ----------------------------------------------------------------------------------------------


def _audio(path: str, origin: Origin | None) -> Any:
    """Stream the first audio track through :func:`genmedia.analysis.audio.analyse_audio` (``origin`` re-stages the
    input on a node without ``path``)."""
    from genmedia.analysis.audio import SAMPLE_RATE, analyse_audio
    from genmedia.media.audio import iter_audio

    return analyse_audio(iter_audio(local_media_path(path, origin), SAMPLE_RATE, chunk_seconds=30.0), SAMPLE_RATE)


_audio_task = ray.remote(num_cpus=1, max_retries=1)(_audio)
""":func:`_audio` as a Ray task beside the segment tasks."""


def _in_thread(fn: Any, *args: Any) -> Future:
    """``fn(*args)`` on a thread of its own (the audio beside the segments when the analysis runs in the driver)."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="analyze-audio")
    try:
        return pool.submit(fn, *args)
    finally:
        pool.shutdown(wait=False)  # the submitted call still runs; the thread ends with it


# ----------------------------------------------------------------------------------------------
# Assembly and outputs
# ----------------------------------------------------------------------------------------------


def _key_frames(shots: list[shotlib.Shot], samples: pd.DataFrame) -> list[int]:
    """Per shot, the position in ``samples`` of the analysed frame nearest the shot's middle (inside it if any)."""
    idx = samples["frame_index"].to_numpy()
    out = []
    for s in shots:
        inside = np.flatnonzero((idx >= s.start_frame) & (idx < s.end_frame))
        pool = inside if inside.size else np.arange(len(idx))
        out.append(int(pool[np.argmin(np.abs(idx[pool] - (s.start_frame + s.end_frame - 1) / 2))]))
    return out


def _relative_boxes(boxes: np.ndarray, size: np.ndarray) -> list[list[float]]:
    w, h = float(size[0]), float(size[1])
    return [[round(b[0] / w, 4), round(b[1] / h, 4), round(b[2] / w, 4), round(b[3] / h, 4)] for b in boxes if b[2] > 0]


def features_frame(
    signals: Signals,
    shots: list[shotlib.Shot],
    faces: pd.DataFrame | None,
    embeddings: pd.DataFrame | None,
    audio: Any,
) -> pd.DataFrame:
    """One row per analysed frame (see the README's analysis section for the columns)."""
    s = signals.samples
    pos = np.searchsorted(signals.frame_index, s["frame_index"].to_numpy())
    starts = np.array([sh.start_frame for sh in shots])
    shot_ids = np.searchsorted(starts, s["frame_index"].to_numpy(), side="right") - 1
    if faces is not None and not faces.empty:
        by_frame = faces.set_index("frame_index")
        face_boxes = [by_frame.loc[i, "faces"] for i in s["frame_index"]]
        objects = [by_frame.loc[i, "objects"] for i in s["frame_index"]]
        face_rows = [f[f[:, 4] >= 0][:, :4] for f in face_boxes]
    else:
        face_rows = list(s["frame_faces"])
        objects = None
    boxes = [_relative_boxes(np.asarray(f), size) for f, size in zip(face_rows, s["thumb_size"], strict=True)]
    composition = []
    for k, bx in enumerate(boxes):
        sal = s["saliency"].iloc[k]
        if bx:
            x, y, w, h = max(bx, key=lambda b: b[2] * b[3])
            centre, area = (x + w / 2, y + h / 2), w * h
        else:
            centre, area = (float(sal[0]), float(sal[1])), float(sal[4] * sal[5])
        composition.append(
            composition_score(
                centre,
                area,
                float(s["sharpness"].iloc[k]),
                float(s["exposure"].iloc[k]),
                float(s["colourfulness"].iloc[k]),
            )
        )
    df = pd.DataFrame(
        {
            "frame_index": s["frame_index"].to_numpy(np.int64),
            "time": s["time"].to_numpy(np.float64),
            "shot": shot_ids.astype(np.int32),
            "motion": signals.motion[pos].astype(np.float32),
            "sharpness": s["sharpness"].to_numpy(np.float32),
            "exposure": s["exposure"].to_numpy(np.float32),
            "colourfulness": s["colourfulness"].to_numpy(np.float32),
            "faces": np.array([len(b) for b in boxes], np.int32),
            "face_boxes": boxes,
            "composition": np.array(composition, np.float32),
            "saliency_x": np.array([v[0] for v in s["saliency"]], np.float32),
            "saliency_y": np.array([v[1] for v in s["saliency"]], np.float32),
            "saliency_box": [[round(float(x), 4) for x in v[2:]] for v in s["saliency"]],
            "colour_stats": [np.asarray(v, np.float32).tolist() for v in s["colour_stats"]],
            "loudness": (
                audio.loudness_at(s["time"].to_numpy()) if audio is not None else np.full(len(s), np.nan)
            ).astype(np.float32),
        }
    )
    if objects is not None:
        df["objects"] = [[[round(float(x), 4) for x in r] for r in o if r[4] >= 0] for o in objects]
    if embeddings is not None and not embeddings.empty:
        by_frame = {
            int(i): np.asarray(e, np.float32).tolist()
            for i, e in zip(embeddings["frame_index"], embeddings["embedding"], strict=True)
        }
        df["embedding"] = [by_frame.get(int(i)) for i in df["frame_index"]]
    return df


def contact_sheet(thumbs: list[bytes], labels: list[str], columns: int = 5, width: int = 240) -> bytes:
    """A PNG grid of one labelled thumbnail per shot."""
    tiles = []
    for jpeg, label in zip(thumbs, labels, strict=True):
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        img = cv2.resize(img, (width, max(2, round(img.shape[0] * width / img.shape[1]))), interpolation=cv2.INTER_AREA)
        bar = np.full((22, width, 3), 32, np.uint8)
        cv2.putText(bar, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(np.vstack([img, bar]))
    h = max(t.shape[0] for t in tiles)
    tiles = [np.pad(t, ((0, h - t.shape[0]), (0, 0), (0, 0))) for t in tiles]
    tiles += [np.full_like(tiles[0], 255)] * ((-len(tiles)) % columns)
    rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
    sheet = np.vstack([np.pad(r, ((2, 2), (2, 2), (0, 0)), constant_values=255) for r in rows])
    ok, png = cv2.imencode(".png", sheet)
    if not ok:
        raise RuntimeError("could not encode the contact sheet")
    return png.tobytes()


def _missing_ranges(missing: np.ndarray, info: MediaInfo) -> str:
    runs = np.split(missing, np.flatnonzero(np.diff(missing) > 1) + 1)
    tb = float(info.time_base_fraction)
    t = lambda i: (info.frame_pts[int(i)] - info.frame_pts[0]) * tb  # noqa: E731
    return ", ".join(f"{r[0]}-{r[-1]} ({t(r[0]):.2f}-{t(r[-1]):.2f} s)" for r in runs[:10]) + (
        " ..." if len(runs) > 10 else ""
    )


def _work(ctx: JobContext, params: Params) -> JobOutcome:
    cfg, info = ctx.cfg, ctx.info
    in_driver = runs_in_driver(cfg, params)
    audio_ref = None
    if params.audio and info.has_audio:
        audio_ref = (
            _in_thread(_audio, info.path, info.origin) if in_driver else _audio_task.remote(info.path, info.origin)
        )
    signals = collect_signals(build(cfg, [info], params, in_driver=in_driver), [info], ctx.progress)[0]
    if signals.missing.size:
        ctx.warnings.append(
            f"{ctx.source}: {signals.missing.size} of {info.frame_count} frames could not be decoded "
            f"(frames {_missing_ranges(signals.missing, info)}); analysis continued past them"
        )
    if signals.damaged.size:
        ctx.warnings.append(
            f"{ctx.source}: {signals.damaged.size} of {info.frame_count} frames are damaged: the decoder concealed "
            f"errors in them (frames {_missing_ranges(signals.damaged, info)}); their signals may be wrong"
        )
    shots = detect_shots(signals, info, params)
    faces_by = face_backend(cfg, params)
    if faces_by == HAAR and params.faces == "auto" and FACE_DETECTOR_KEY in cfg.models:
        ctx.warnings.append(
            f"faces found by Haar cascades: models.{FACE_DETECTOR_KEY} is not staged; "
            f"run: genmedia models pull {FACE_DETECTOR_KEY}"
        )
    faces = None
    ran_by: dict[str, str] = {}  # which path ran each model stage: serve:APP/DEPLOYMENT, ray-actor(s)
    if faces_by == "detector":
        from genmedia.deployments.detector import Detector, face_backend_name, model_name

        ctx.progress("detect", 0, 1)
        detector = served_model(cfg, DETECTOR_KEY)
        faces = _model_stage(cfg, signals.samples, Detector, DETECTOR_KEY, detector)
        ran_by["detected_by"] = detector.name if detector else _actors_name(cfg, DETECTOR_KEY)
        ctx.progress("detect", 1, 1)
    key_pos = _key_frames(shots, signals.samples)
    embeddings = None
    embedder_name = None
    if params.embed != "off":
        from genmedia.deployments.scene_embedder import SceneEmbedder, backend_name

        ctx.progress("embed", 0, 1)
        chosen = signals.samples.iloc[sorted(set(key_pos))] if params.embed == "shots" else signals.samples
        embedder = served_model(cfg, EMBEDDER_KEY)
        if in_driver:
            embeddings = _driver_stage(cfg, chosen, SceneEmbedder, EMBEDDER_KEY)
        else:
            embeddings = _model_stage(cfg, chosen, SceneEmbedder, EMBEDDER_KEY, embedder)
        ran_by["embedded_by"] = (
            "driver" if in_driver else embedder.name if embedder else _actors_name(cfg, EMBEDDER_KEY)
        )
        embedder_name = str(embeddings["backend"].iloc[0]) if not embeddings.empty else backend_name(cfg, EMBEDDER_KEY)
        ctx.progress("embed", 1, 1)
    audio = None
    if audio_ref is not None:
        ctx.progress("audio", 0, 1)
        audio = audio_ref.result() if in_driver else ray.get(audio_ref)
        ctx.progress("audio", 1, 1)
    features = features_frame(signals, shots, faces, embeddings, audio)
    motion = shot_motion(signals.motion, *_positions(shots, signals.frame_index))
    by_frame = embeddings.set_index("frame_index") if embeddings is not None and not embeddings.empty else None
    key_frames = [int(signals.samples["frame_index"].iloc[p]) for p in key_pos]
    audio_doc = audio.to_json() if audio is not None else None
    emotions = shot_emotions(shots, signals, features, motion, audio_doc, by_frame, key_frames)
    clip_moods = by_frame is not None and "mood_probs" in by_frame
    emotion_sources = ["audio"] * (audio is not None) + ["visual"] + ["clip"] * clip_moods
    shot_rows = []
    for k, shot in enumerate(shots):
        row = shot.to_dict()
        key_frame = key_frames[k]
        row["key_frame"] = key_frame
        row["motion"] = None if math.isnan(motion[k]) else round(float(motion[k]), 5)
        if by_frame is not None and key_frame in by_frame.index:
            row["tags"] = [t for t in str(by_frame.loc[key_frame, "tags"]).split(", ") if t]
        row["mood"] = emotions[k].label
        row["emotion"] = emotions[k].to_json()
        shot_rows.append(row)
    backends = {
        "shots": "genmedia-grid-correlation-v1",
        "faces": faces_by if faces_by != "detector" else face_backend_name(cfg, DETECTOR_KEY),
        "objects": model_name(cfg, DETECTOR_KEY) if faces_by == "detector" else None,
        "embedding": embedder_name,
        "audio": "stft-k-weighted-v1" if audio is not None else None,
        "emotion": f"{emotionlib.BACKEND} ({'+'.join(emotion_sources)})",
    }
    out = ctx.output
    out.write_json(
        SHOTS,
        {
            "fps": info.fps,
            "frame_count": info.frame_count,
            "duration": info.duration,
            "variable_frame_rate": info.variable_frame_rate,
            "backend": backends["shots"],
            "missing_frames": int(signals.missing.size),
            "damaged_frames": int(signals.damaged.size),
            "shots": shot_rows,
        },
    )
    buf = io.BytesIO()
    features.to_parquet(buf, index=False)
    out.write_bytes(FEATURES, buf.getvalue())
    out.write_json(AUDIO, audio_doc if audio_doc is not None else {"has_audio": info.has_audio, "analysed": False})
    labels = [f"#{s.index} {s.start_time:.1f}s {s.transition}" for s in shots]
    out.write_bytes(CONTACT_SHEET, contact_sheet([signals.samples["thumb"].iloc[p] for p in key_pos], labels))
    counts = {t: sum(s.transition == t for s in shots) for t in ("cut", "fade", "dissolve")}
    summary = (
        f"{len(shots)} shots ({counts['cut']} cuts, {counts['fade']} fades, {counts['dissolve']} dissolves), "
        f"{len(features)} analysed frames" + (f", {audio.tempo:.1f} BPM" if audio is not None and audio.tempo else "")
    )
    details = {
        "shots": len(shots),
        **{f"{k}s": v for k, v in counts.items()},
        "analysed_frames": len(features),
        "tempo": round(audio.tempo, 3) if audio is not None and audio.tempo else None,
        "missing_frames": int(signals.missing.size),
        "damaged_frames": int(signals.damaged.size),
        "backends": backends,
        **ran_by,
    }
    return JobOutcome(summary=summary, details=details)


def shot_emotions(
    shots: list[shotlib.Shot],
    signals: Signals,
    features: pd.DataFrame,
    motion: np.ndarray,
    audio: dict[str, Any] | None,
    embeddings: pd.DataFrame | None,
    key_frames: list[int],
) -> list[emotionlib.Emotion]:
    """Each shot's emotion from its audio (``audio.json`` document), motion, colourfulness and brightness and,
    when the embedder is CLIP, the mood probabilities of its key frame (``embeddings`` indexed by frame)."""
    starts, ends = _positions(shots, signals.frame_index)
    clip_moods = embeddings is not None and "mood_probs" in embeddings
    out = []
    for k, shot in enumerate(shots):
        in_shot = features["shot"].to_numpy() == k
        colour = features["colourfulness"].to_numpy()[in_shot]
        colour = colour[np.isfinite(colour)]
        luma = signals.luma_mean[starts[k] : ends[k]]
        signals_k = {
            **emotionlib.audio_signals(audio, shot.start_time, shot.end_time),
            **emotionlib.visual_signals(
                float(motion[k]),
                float(colour.mean()) if colour.size else None,
                float(luma.mean()) / 255.0 if luma.size else None,
            ),
        }
        probs = (
            json.loads(str(embeddings.loc[key_frames[k], "mood_probs"]))
            if clip_moods and key_frames[k] in embeddings.index
            else None
        )
        out.append(emotionlib.combine(signals_k, probs))
    return out


def _positions(shots: list[shotlib.Shot], frame_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    starts = np.searchsorted(frame_index, [s.start_frame for s in shots])
    return starts, np.append(starts[1:], len(frame_index))


def run(
    cfg: Config, video: str, params: Params | None = None, *, force: bool = False, progress: ProgressFn = no_progress
) -> JobResult:
    """Analyse ``video`` (a local path or URI) and write its outputs; skipped when already done."""
    params = params or params_from(cfg)
    return run_job(
        cfg,
        video,
        JOB,
        params,
        lambda ctx: _work(ctx, params),
        force=force,
        progress=progress,
        models=models_used(cfg, params),
        needs_ray=lambda info: not runs_in_driver(cfg, params),
    )


def models_used(cfg: Config, params: Params) -> list[str]:
    """The config's model keys an analysis with ``params`` loads (its lineage, see ``run_job``)."""
    keys = {"detector": [DETECTOR_KEY], CENTERFACE: [FACE_DETECTOR_KEY]}.get(face_backend(cfg, params), [])
    return keys + [EMBEDDER_KEY] if params.embed != "off" and EMBEDDER_KEY in cfg.models else keys


# ----------------------------------------------------------------------------------------------
# Reading an analysis back
# ----------------------------------------------------------------------------------------------


@dataclass
class Analysis:
    """A finished analysis, as other jobs use it."""

    info: MediaInfo
    shots: list[shotlib.Shot]
    shot_details: list[dict[str, Any]]
    """``shots.json`` entries (with key_frame, motion, tags, mood)."""
    features: pd.DataFrame
    audio: dict[str, Any] | None
    """``audio.json`` when the video has analysed audio, else None."""
    backends: dict[str, Any]
    result: JobResult


def load_analysis(
    cfg: Config, video: str, params: Params | None = None, *, force: bool = False, progress: ProgressFn = no_progress
) -> Analysis:
    """The analysis of ``video``: run it, or reuse the outputs of an earlier run with the same parameters
    (``force``: run it again all the same)."""
    result = run(cfg, video, params, force=force, progress=progress)
    info = probe(stage_input(video, cfg.storage), cfg.limits).model_copy(
        update={"origin": origin_of(video, cfg.storage)}
    )
    output = JobOutput(cfg.storage.root, result.video_id or "", JOB, result.params_hash or "", cfg.storage)
    shots_doc = json.loads(output.read_bytes(SHOTS))
    audio_doc = json.loads(output.read_bytes(AUDIO))
    shots = [
        shotlib.Shot(**{k: s[k] for k in ("index", "start_frame", "end_frame", "start_time", "end_time", "transition")})
        for s in shots_doc["shots"]
    ]
    return Analysis(
        info=info,
        shots=shots,
        shot_details=shots_doc["shots"],
        features=pd.read_parquet(io.BytesIO(output.read_bytes(FEATURES))),
        audio=audio_doc if audio_doc.get("has_audio") and audio_doc.get("analysed", True) else None,
        backends=result.details.get("backends", {}),
        result=result,
    )
