"""The thumbnails job: key frames from the analysis, smart crops per aspect ratio, optional title, optional
generative variants (SDXL-Turbo) behind a safety check; ``thumbnails.json``, ``thumbnails.html``, manifest; once
the QA gate passes them, the video's A/B experiment with the published variants (:mod:`genmedia.pipelines.published`).

Stages (Ray Data), after the analysis (reused when it already ran):

1. **select** (driver, small): usable analysed frames ranked by quality, one per shot (``thumbnails.candidates``);
   with a title and CLIP embeddings in the analysis, a Ray task embeds the title with the scene embedder
   and similarity to it joins the ranking;
2. **frames** (tasks): decode each chosen frame at full size from its keyframe and turn it to display
   geometry (sample aspect ratio, rotation);
3. **generate** (actors, only for generative modes): SDXL-Turbo image-to-image from the frame (or
   text-to-image), then the safety check; flagged images are not published;
4. **render** (tasks): faces and saliency of each picture, with the analysis' detector boxes when the
   detector is configured, a smart crop per aspect ratio at its output size, the title, JPEG/WebP bytes.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Literal

import numpy as np
import pandas as pd
import ray
from pydantic import BaseModel, ConfigDict, Field, field_validator

from genmedia.config import Config
from genmedia.enhance.tonemap import SdrPictures
from genmedia.errors import ConfigError, InputError
from genmedia.media.decode import Segment, iter_frames
from genmedia.media.probe import MediaInfo
from genmedia.pipelines import titles
from genmedia.pipelines.job import JobContext, JobOutcome, run_job
from genmedia.pipelines.models import map_model
from genmedia.progress import ProgressFn, no_progress
from genmedia.runtime import get_result, model_options
from genmedia.schemas import JobResult
from genmedia.thumbnails import candidates as cands
from genmedia.thumbnails.aspects import parse_aspects
from genmedia.thumbnails.enlarge import Enlarger, check_model
from genmedia.thumbnails.geometry import Box, Geometry
from genmedia.thumbnails.page import render_page
from genmedia.thumbnails.prompts import STYLES, build_prompt, prompt_instruction
from genmedia.validation import OneLine

JOB = "thumbnails"
GENERATOR_KEY = "image_generator"
WRITER_KEY = "text_writer"
EMBEDDER_KEY = "scene_embedder"
MIN_SECONDS = 1.0
KEYFRAME_BACKEND = "keyframe+smart-crop"
Mode = Literal["auto", "keyframe", "img2img", "text2img"]


class Params(BaseModel):
    """Parameters of one thumbnails request."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    variants: int = Field(6, ge=1, le=24, description="How many variants (distinct key frames).")
    aspects: list[str] = Field(default_factory=lambda: ["16:9", "1:1", "9:16", "4:5"], min_length=1, max_length=8)
    size: int = Field(1280, ge=64, le=4096, description="Longer side of every output in pixels (16:9 -> 1280x720).")
    formats: list[Literal["jpeg", "webp"]] = Field(default_factory=lambda: ["jpeg", "webp"], min_length=1)
    title: OneLine | None = Field(
        None,
        max_length=10_000,
        description="Drawn on the thumbnails; long titles are shortened; control characters are refused; "
        "'auto': written by models.text_writer from the transcript, tags and mood.",
    )
    style: str = Field("cinematic", description=f"Generative style preset: {', '.join(STYLES)}.")
    mode: Mode = Field("auto", description="auto: img2img when an image generator is configured, else keyframe.")
    seed: int = Field(
        0, ge=0, le=2**32 - 64, description="Seed of the first generative variant (variant k uses seed + k)."
    )
    same_shot: bool = Field(False, description="Allow more than one variant from a shot when shots run out.")

    @field_validator("aspects")
    @classmethod
    def _aspects(cls, v: list[str]) -> list[str]:
        try:
            return [a.label for a in parse_aspects(v)]
        except InputError as e:
            raise ValueError(str(e)) from None

    @field_validator("style")
    @classmethod
    def _style(cls, v: str) -> str:
        if v not in STYLES:
            raise ValueError(f"unknown style {v!r}; choose one of {', '.join(STYLES)}")
        return v


def safety_key(cfg: Config) -> str:
    """The model key of the image generator's safety check (``options.safety_checker``, default ``safety_checker``)."""
    return str(cfg.model(GENERATOR_KEY).options.get("safety_checker", "safety_checker"))


def resolve_mode(cfg: Config, mode: Mode) -> str:
    """The mode a request runs in; ConfigError when a generative mode lacks its generator or safety check."""
    if mode == "auto":
        mode = "img2img" if GENERATOR_KEY in cfg.models else "keyframe"
    if mode != "keyframe":
        checker = safety_key(cfg)
        if checker not in cfg.models:
            raise ConfigError(
                f"models.{GENERATOR_KEY}: generated thumbnails need a safety check, but models.{checker} is not configured"
            )
    return mode


def shorten_title(title: str | None, limit: int) -> tuple[str | None, str | None]:
    """The title with whitespace collapsed and cut at a word to ``limit`` characters, and a warning if cut."""
    if title is None:
        return None, None
    text = " ".join(title.split())
    if not text:
        return None, None
    if len(text) <= limit:
        return text, None
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return (
        cut + "…",
        f"title of {len(text):,} characters shortened to {len(cut) + 1} (pipelines.thumbnails.max_title_chars = {limit})",
    )


# ----------------------------------------------------------------------------------------------
# Stages
# ----------------------------------------------------------------------------------------------


def object_boxes(features: pd.DataFrame, info: MediaInfo, thumb_width: int) -> dict[int, list[list[float]]]:
    """The detector's object boxes of each analysed frame, as ``[x, y, w, h]`` fractions of the display picture
    (empty without a detector).

    The analysis detects on its RGB thumbnails, which are already in display geometry (sample aspect ratio
    applied, turned upright) and ``thumb_width`` wide: only their scale differs from the display picture.
    """
    if "objects" not in features:
        return {}
    from genmedia.pipelines.analyze import thumb_size

    tw, th = thumb_size(info, thumb_width)
    if (info.rotation // 90) % 2:
        tw, th = th, tw
    return {
        int(i): [[float(r[0]) / tw, float(r[1]) / th, float(r[2]) / tw, float(r[3]) / th] for r in rows]
        for i, rows in zip(features["frame_index"], features["objects"], strict=True)
    }


@ray.remote(max_retries=0)
def _embed_title(cfg: Config, title: str) -> tuple[np.ndarray, str]:
    """Ray task: the title's text embedding by the configured scene embedder, and the embedder's name."""
    from genmedia.deployments.scene_embedder import SceneEmbedder

    embedder = SceneEmbedder(cfg, EMBEDDER_KEY)
    return embedder.embed_texts([title])[0], embedder.name


def title_embedding(
    cfg: Config, backends: dict[str, Any], features: pd.DataFrame, title: str | None
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """The title's embedding for ranking key frames (None when unavailable) and what ``thumbnails.json``
    records about it: only CLIP (open-clip) embeddings have a text side to compare a title with."""
    from genmedia.deployments.scene_embedder import OPEN_CLIP, backend_name, text_unavailable

    made_by = backends.get("embedding")
    if title is None:
        reason = "no title"
    elif not made_by or "embedding" not in features or features["embedding"].isna().all():
        reason = "the analysis has no scene embeddings"
    else:
        reason = text_unavailable(made_by)
        if reason is None and backend_name(cfg, EMBEDDER_KEY) != OPEN_CLIP:
            reason = (
                f"the analysis was embedded by {made_by}, but models.{EMBEDDER_KEY} is no longer an {OPEN_CLIP} model"
            )
    if reason is not None:
        return None, {"used": False, "reason": reason}
    vector, name = get_result(_embed_title.options(**model_options(cfg, EMBEDDER_KEY)).remote(cfg, title))
    if name != made_by:
        return None, {
            "used": False,
            "reason": f"the analysis was embedded by {made_by}, the configured scene embedder is {name}",
        }
    return vector, {"used": True, "backend": name, "weight": cands.TITLE_WEIGHT}


def frame_segment(info: MediaInfo, frame_index: int) -> Segment:
    """The smallest decodable segment ending at ``frame_index``: from the keyframe at or before it."""
    pts = info.frame_pts
    target = pts[frame_index]
    start = max((k for k in info.keyframe_pts if k <= target), default=pts[0])
    first = pts.index(start) if start in pts else 0
    end = pts[frame_index + 1] if frame_index + 1 < len(pts) else None
    return Segment(index=0, start_pts=start, end_pts=end, first_frame=first, frame_count=frame_index + 1 - first)


def read_frames(batch: dict[str, np.ndarray], *, info: MediaInfo) -> dict[str, np.ndarray]:
    """Ray Data UDF: the full-size picture of each row's ``frame_index``, in display geometry (``image``)."""
    geometry = Geometry.of(info)
    pictures = SdrPictures(info)  # HDR sources tone-mapped to SDR BT.709
    images = []
    for index in batch["frame_index"]:
        index = int(index)
        target = info.frame_pts[index]
        picture = None
        for ts, frame in iter_frames(info, segment=frame_segment(info, index)):
            if ts == target:
                picture = pictures(frame)
                break
        if picture is None:
            raise InputError(info.path, f"frame {index} could not be decoded")
        images.append(geometry.to_display(picture))
    return {**batch, "image": np.stack(images)}


class Generate:
    """Ray Data actor: the image generator and the safety check, loaded once; adds ``generated`` pictures and verdicts."""

    def __init__(self, cfg: Config, key: str = GENERATOR_KEY):
        from genmedia.deployments.image_generator import ImageGenerator
        from genmedia.thumbnails.safety import load_safety_check

        self.generator = ImageGenerator(cfg, key)
        self.safety = load_safety_check(cfg, key)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        h, w = batch["image"].shape[1:3]
        width, height = self.generator.shape_for(w / h)
        out = self.generator(
            {**batch, "width": np.full(len(batch["prompt"]), width), "height": np.full(len(batch["prompt"]), height)}
        )
        verdicts = self.safety.check(list(out["generated"]))
        out["image"] = out.pop("generated")
        out["safety"] = np.array([json.dumps(asdict(v)) for v in verdicts], dtype=object)
        return out


class WritePrompts:
    """Ray Data actor: the text writer rewrites each row's template prompt (kept when the model answers nothing)."""

    def __init__(self, cfg: Config, key: str = WRITER_KEY):
        from genmedia.deployments.text_writer import TextWriter

        self.writer = TextWriter(cfg, key)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = self.writer.write_many([str(t) for t in batch["instruction"]])
        prompts = [t or str(p) for t, p in zip(texts, batch["prompt"], strict=True)]
        by = [self.writer.name if t else "template" for t in texts]
        return {**batch, "prompt": np.array(prompts, dtype=object), "prompt_by": np.array(by, dtype=object)}


def render(
    batch: dict[str, np.ndarray],
    *,
    cfg: Config,
    aspects: list[str],
    size: int,
    title: str | None,
    formats: list[str],
    quality: int,
    find_objects: bool = False,
) -> dict[str, np.ndarray]:
    """Ray Data UDF: every aspect of every (unflagged) picture; adds ``file_names``, ``file_data``, ``aspects_json``
    and ``objects_by``. Each row's ``objects`` (JSON ``[x, y, w, h]`` fractions of the picture) are framed after
    faces; faces come from ``cfg``'s face finder (CenterFace when staged, else Haar). With ``find_objects`` (the
    analysis had no detector) people, animals and vehicles come from the staged YOLOv3-tiny, when there is one."""
    from genmedia.analysis.faces import load_face_finder
    from genmedia.analysis.objects import load_object_detector
    from genmedia.thumbnails.render import FACE_WIDTH, find_subjects, render_variant

    finder = load_face_finder(cfg, input_width=FACE_WIDTH)
    enlarger = Enlarger(cfg)
    detector = load_object_detector(cfg) if find_objects else None
    wanted = parse_aspects(aspects)
    names, data, metas = [], [], []
    found_objects = list(batch["objects"])
    for i, image in enumerate(batch["image"]):
        flagged = "safety" in batch and json.loads(batch["safety"][i])["flagged"]
        if flagged:
            names.append([]), data.append([]), metas.append("{}")
            continue
        h, w = image.shape[:2]
        if detector is not None:
            found_objects[i] = json.dumps(
                [
                    [d.box[0] / w, d.box[1] / h, d.box[2] / w, d.box[3] / h]
                    for d in detector.detect(image, subjects_only=True)
                ]
            )
        objects = [Box(x * w, y * h, bw * w, bh * h) for x, y, bw, bh in json.loads(found_objects[i])]
        files, meta = render_variant(
            image,
            find_subjects(image, finder, objects),
            wanted,
            size,
            title=title,
            formats=formats,
            quality=quality,
            enlarger=enlarger,
        )
        names.append(list(files)), data.append(list(files.values())), metas.append(json.dumps(meta))
    out = {k: v for k, v in batch.items() if k != "image"}
    out["objects"] = np.array(found_objects, dtype=object)
    out["objects_by"] = np.array(
        [detector.backend if detector is not None else "analysis"] * len(found_objects), dtype=object
    )
    out["file_names"] = np.array(names + [None], dtype=object)[:-1]
    out["file_data"] = np.array(data + [None], dtype=object)[:-1]
    out["aspects_json"] = np.array(metas, dtype=object)
    return out


def build(
    cfg: Config,
    info: MediaInfo,
    chosen: list[cands.Candidate],
    params: Params,
    *,
    title: str | None,
    mode: str,
    objects: dict[int, list[list[float]]] | None = None,
) -> ray.data.Dataset:
    """The dataset of rendered variants for the chosen key frames (one row per variant); ``objects``: the
    detector's boxes per frame index (see :func:`object_boxes`), framed in key frames and img2img pictures."""
    rows = []
    for k, c in enumerate(chosen):
        prompt, negative = build_prompt(title, c.tags, params.style)
        boxes = (objects or {}).get(c.frame_index, []) if mode != "text2img" else []
        rows.append(
            {
                "variant": f"v{k + 1}",
                "frame_index": c.frame_index,
                "time": c.time,
                "shot": c.shot,
                "score": c.score,
                "objects": json.dumps(boxes),
                "prompt": prompt,
                "negative_prompt": negative,
                "seed": params.seed + k,
                "prompt_by": "template",
                "instruction": prompt_instruction(title, c.tags, params.style),
                "mode": "image" if mode == "img2img" else "text",
            }
        )
    ds = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), 4)))
    # One CPU per decode: FFmpeg's threads keep it busy for the few frames from a keyframe to the target.
    ds = ds.map_batches(read_frames, batch_size=2, num_cpus=1, fn_kwargs={"info": info})
    if mode != "keyframe" and WRITER_KEY in cfg.models:
        # Prompts by the text model when one is configured (its own resources), else the templates stand.
        ds = map_model(ds, WritePrompts, cfg, WRITER_KEY)
    if mode != "keyframe":
        # The generator's resources come from its config entry (a whole L4 in production, CPUs here).
        ds = map_model(ds, Generate, cfg, GENERATOR_KEY)
    settings = cfg.pipelines.thumbnails
    # Crops, overlays and encodes are light numpy/OpenCV work: a CPU each.
    return ds.map_batches(
        render,
        batch_size=2,
        num_cpus=1,
        fn_kwargs={
            "cfg": cfg,
            "find_objects": not objects and mode != "text2img",
            "aspects": params.aspects,
            "size": params.size,
            "title": title,
            "formats": params.formats,
            "quality": settings.jpeg_quality,
        },
    )


# ----------------------------------------------------------------------------------------------
# The job
# ----------------------------------------------------------------------------------------------


def _work(ctx: JobContext, params: Params) -> JobOutcome:
    from genmedia.pipelines import analyze

    cfg, info, settings = ctx.cfg, ctx.info, ctx.cfg.pipelines.thumbnails
    if info.duration < MIN_SECONDS:
        raise InputError(
            ctx.source, f"is {info.duration:.2f} s long; thumbnails need at least {MIN_SECONDS:g} s of video"
        )
    mode = resolve_mode(cfg, params.mode)
    analysis_params = analyze.params_from(cfg)
    analysis = analyze.load_analysis(cfg, ctx.source, analysis_params, progress=ctx.progress)
    generated = (
        titles.title_for(ctx.cfg, ctx.output.video_id, analysis.shot_details, ctx.warnings)
        if titles.is_auto(params.title)
        else None
    )
    title, warning = shorten_title(generated.title if generated else params.title, settings.max_title_chars)
    if warning:
        ctx.warnings.append(warning)
    shots = [
        cands.ShotSpan(s.index, s.start_time, s.end_time, s.transition, list(d.get("tags", [])))
        for s, d in zip(analysis.shots, analysis.shot_details, strict=True)
    ]
    ctx.progress("select", 0, 1)
    title_vector, title_ranking = title_embedding(cfg, analysis.backends, analysis.features, title)
    chosen = cands.choose(
        analysis.features, shots, params.variants, settings, same_shot=params.same_shot, title=title_vector
    )
    ctx.progress("select", 1, 1)
    if not chosen:
        raise InputError(
            ctx.source, "no usable frame: every analysed frame is black, blown out, blurred or inside a transition"
        )
    if len(chosen) < params.variants:
        hint = "" if params.same_shot else " (allow several per shot with same_shot / --same-shot)"
        ctx.warnings.append(
            f"only {len(chosen)} of {params.variants} variants: the video has {len(chosen)} shots with a usable frame{hint}"
        )
    ctx.progress("render", 0, len(chosen))
    variants: list[dict[str, Any]] = []
    out = ctx.output
    objects = object_boxes(analysis.features, info, analysis_params.thumb_width)
    display_w, display_h = Geometry.of(info).display_size
    batches = build(cfg, info, chosen, params, title=title, mode=mode, objects=objects)
    for batch in batches.iter_batches(batch_size=None, batch_format="numpy"):
        for i in range(len(batch["variant"])):
            vid = str(batch["variant"][i])
            aspects = json.loads(batch["aspects_json"][i])
            written = {}
            for name, data in zip(batch["file_names"][i], batch["file_data"][i], strict=True):
                written[name] = f"{vid}/{name}"
                out.write_bytes(f"{vid}/{name}", bytes(data))
            for label, entry in aspects.items():
                slug = label.replace(":", "x")
                entry["file"] = written.get(f"{slug}.jpg") or written.get(f"{slug}.webp")
                entry["files"] = [written[n] for n in written if n.startswith(f"{slug}.")]
            generative = "backend" in batch
            variant = {
                "id": vid,
                "frame_index": int(batch["frame_index"][i]),
                "time": round(float(batch["time"][i]), 4),
                "shot": int(batch["shot"][i]),
                "score": float(batch["score"][i]),
                "scores": next(c.scores for c in chosen if c.frame_index == int(batch["frame_index"][i])),
                "backend": str(batch["backend"][i]) if generative else KEYFRAME_BACKEND,
                "objects": [
                    Box(bx * display_w, by * display_h, bw * display_w, bh * display_h).as_list()
                    for bx, by, bw, bh in json.loads(batch["objects"][i])
                ],
                "objects_by": str(batch["objects_by"][i]),
                "mode": mode,
                "aspects": aspects,
                "published": bool(aspects),
            }
            if generative:
                variant.update(
                    prompt=str(batch["prompt"][i]),
                    prompt_by=str(batch["prompt_by"][i]),
                    negative_prompt=str(batch["negative_prompt"][i]),
                    style=params.style,
                    seed=int(batch["seed"][i]),
                    steps=int(batch["steps"][i]),
                    safety=json.loads(batch["safety"][i]),
                )
            variants.append(variant)
            ctx.progress("render", len(variants), len(chosen))
    variants.sort(key=lambda v: int(v["id"][1:]))
    published = [v for v in variants if v["published"]]
    flagged = len(variants) - len(published)
    if flagged:
        ctx.warnings.append(
            f"{flagged} of {len(variants)} generated variants were flagged by the safety check and not published"
        )
    summary = (
        f"{len(published)} variants x {len(params.aspects)} aspects ({', '.join(params.aspects)}), "
        f"{'generative ' + mode if mode != 'keyframe' else 'key frames'}"
        + (f", {flagged} flagged by the safety check" if flagged else "")
    )
    doc = {
        "video": ctx.source,
        "video_id": out.video_id,
        "title": title,
        "mode": mode,
        "summary": summary,
        "analysis": analysis.result.output_uri,
        "analysis_backends": analysis.backends,
        "title_ranking": title_ranking,
        "title_generation": generated.to_json() if generated else None,
        "display_size": [display_w, display_h],
        "variants": variants,
    }
    out.write_json("thumbnails.json", doc)
    out.write_text("thumbnails.html", render_page(doc))
    details = {
        "variants": len(published),
        "flagged": flagged,
        "aspects": params.aspects,
        "mode": mode,
        "backend": variants[0]["backend"],
        "variant_ids": [v["id"] for v in published],
        "title_generation": generated.to_json() if generated else None,
    }
    return JobOutcome(summary=summary, details=details)


def models_used(cfg: Config, params: Params) -> list[str]:
    """The config's model keys a thumbnails run with ``params`` depends on (its lineage, see ``run_job``).

    Those of the analysis it reads (its detector boxes, faces and scene embeddings rank and frame the key
    frames; the same scene embedder embeds a title), then its own: the text writer, image generator and safety
    check in generative modes, CenterFace and YOLOv3-tiny for the crops when staged (the latter only when the
    analysis has no detector boxes), and the super-resolution model with ``pipelines.thumbnails.enlarge: model``.
    """
    from genmedia.analysis.faces import CENTERFACE, FACE_DETECTOR_KEY, face_finder_name
    from genmedia.analysis.objects import OBJECT_DETECTOR_KEY, object_detector_name
    from genmedia.pipelines import analyze

    analysis = analyze.params_from(cfg)
    keys = list(analyze.models_used(cfg, analysis))
    mode = resolve_mode(cfg, params.mode)
    if mode != "keyframe":
        keys += [WRITER_KEY] * (WRITER_KEY in cfg.models) + [GENERATOR_KEY, safety_key(cfg)]
    if titles.is_auto(params.title):
        keys.append(WRITER_KEY)
    if face_finder_name(cfg) == CENTERFACE:
        keys.append(FACE_DETECTOR_KEY)
    has_boxes = analyze.face_backend(cfg, analysis) == "detector"
    if mode != "text2img" and not has_boxes and object_detector_name(cfg) is not None:
        keys.append(OBJECT_DETECTOR_KEY)
    if cfg.pipelines.thumbnails.enlarge == "model":
        keys.append(cfg.pipelines.thumbnails.enlarge_model)
    return list(dict.fromkeys(keys))


def run(
    cfg: Config, video: str, params: Params | None = None, *, force: bool = False, progress: ProgressFn = no_progress
) -> JobResult:
    """Make thumbnails for ``video`` (a local path or URI); skipped when already made with these parameters."""
    params = params or Params()
    if titles.is_auto(params.title):
        titles.check_writer(cfg)
    check_model(cfg)  # enlarge: model: the SR model is configured and staged, before any work
    return run_job(
        cfg,
        video,
        JOB,
        params,
        lambda ctx: _work(ctx, params),
        force=force,
        progress=progress,
        models=models_used(cfg, params),
    )
