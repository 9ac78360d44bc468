"""Turn one picture (display geometry) into a variant's thumbnails: a smart crop per aspect ratio at its
output size, the optional title, and JPEG + WebP bytes."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from PIL import Image

from genmedia.analysis.colour import contrast_map, sharpness_map
from genmedia.analysis.faces import FaceFinder
from genmedia.analysis.saliency import saliency_map
from genmedia.thumbnails.aspects import Aspect
from genmedia.thumbnails.crop import crop_pixels, resample, smart_crop
from genmedia.thumbnails.enlarge import Enlarger
from genmedia.thumbnails.geometry import Box
from genmedia.thumbnails.overlay import draw_title

FACE_WIDTH = 640
"""Faces are searched on the picture scaled to at most this width (detectors are slow on large pictures)."""
SALIENCY_WIDTH = 256


@dataclass(frozen=True)
class Subjects:
    """What a picture shows, in its own (display) pixels: faces, salient objects (detector boxes), saliency and
    where it is in focus (a per-cell Laplacian-variance map)."""

    faces: list[Box]
    saliency: np.ndarray
    objects: list[Box] = field(default_factory=list)
    sharpness: np.ndarray | None = None
    contrast: np.ndarray | None = None


def find_subjects(image: np.ndarray, finder: FaceFinder, objects: list[Box] | None = None) -> Subjects:
    """Faces (``finder``: CenterFace or Haar), a saliency map and a focus map of an RGB picture, with the given
    object boxes (display pixels)."""
    h, w = image.shape[:2]
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    k = min(1.0, FACE_WIDTH / w)
    small = (
        cv2.resize(image, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
        if k < 1
        else image
    )
    faces = [Box(*(float(v) / k for v in b)) for b in finder.find(small)]
    ks = min(1.0, SALIENCY_WIDTH / w)
    sal_in = cv2.resize(gray, (max(1, round(w * ks)), max(1, round(h * ks))), interpolation=cv2.INTER_AREA)
    focus_in = cv2.resize(gray, small.shape[1::-1], interpolation=cv2.INTER_AREA) if k < 1 else gray
    return Subjects(
        faces=faces,
        saliency=saliency_map(sal_in),
        objects=list(objects or []),
        sharpness=sharpness_map(focus_in),
        contrast=contrast_map(focus_in),
    )


def _box_in(box: Box, crop: Box, size: tuple[int, int]) -> Box:
    sx, sy = size[0] / crop.w, size[1] / crop.h
    return Box((box.x - crop.x) * sx, (box.y - crop.y) * sy, box.w * sx, box.h * sy)


def encode(image: np.ndarray, fmt: str, quality: int) -> bytes:
    """JPEG (OpenCV) or WebP (Pillow, a fast method: OpenCV's WebP encoder is several times slower) bytes."""
    if fmt == "webp":
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "WEBP", quality=quality, method=2)
        return buf.getvalue()
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("could not encode a JPEG thumbnail")
    return data.tobytes()


def render_variant(
    image: np.ndarray,
    subjects: Subjects,
    aspects: list[Aspect],
    long_side: int,
    *,
    title: str | None,
    formats: list[str],
    quality: int,
    enlarger: Enlarger | None = None,
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Every aspect of one variant: ``({"16x9.jpg": bytes, ...}, {"16:9": {crop, size, reason, title}, ...})``.

    A crop enlarged more than the ``enlarger``'s limit is handled by its policy (a smaller output, the SR model,
    or resampling; the entry's ``enlarge`` says which); without one, every crop is resampled to its size."""
    h, w = image.shape[:2]
    files: dict[str, bytes] = {}
    meta: dict[str, Any] = {}
    for aspect in aspects:
        crop = smart_crop(
            w,
            h,
            aspect,
            faces=subjects.faces,
            objects=subjects.objects,
            saliency=subjects.saliency,
            sharpness=subjects.sharpness,
            contrast=subjects.contrast,
        )
        if not crop.fits:
            meta[aspect.label] = {
                "skipped": f"the picture's only sharp subject ({crop.subject.as_list()}) does not fit a {aspect.label} crop",
                "framed_on": crop.reason,
            }
            continue
        part = crop_pixels(image, crop)
        size, enlarged = aspect.output_size(long_side), {}
        if enlarger is not None:
            size, enlarged = enlarger.plan(aspect, part.shape[1], part.shape[0], size)
        out = enlarger.resize(part, size) if enlarger is not None else resample(part, size)
        entry: dict[str, Any] = {
            "crop": crop.box.as_list(),
            "size": list(size),
            "framed_on": crop.reason,
            "faces_kept": sum(crop.box.contains(f) for f in subjects.faces),
            "faces": [f.as_list() for f in subjects.faces if crop.box.intersection_area(f) > 0],
            "objects_kept": sum(crop.box.contains(o) for o in subjects.objects),
        }
        if enlarged:
            entry["enlarge"] = enlarged
        if title:
            inside = [_box_in(f, crop.box, size) for f in subjects.faces if crop.box.intersection_area(f) > 0]
            out, overlay = draw_title(out, title, faces=inside)
            entry["title"] = {
                "box": overlay.box.as_list(),
                "font_px": overlay.font_px,
                "lines": overlay.lines,
                "face_overlap": round(overlay.face_overlap, 1),
            }
        for fmt in formats:
            files[f"{aspect.slug}.{'jpg' if fmt == 'jpeg' else fmt}"] = encode(out, fmt, quality)
        meta[aspect.label] = entry
    return files, meta
