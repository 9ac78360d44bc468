"""Crops on what is in focus: a sharp small subject on a blurred (shallow depth of field) picture is framed,
whatever saliency and blurred faces say; a compact sharp subject wider than a crop makes the crop unusable."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from genmedia.analysis.colour import sharpness_map
from genmedia.analysis.saliency import saliency_map
from genmedia.thumbnails.aspects import parse_aspect
from genmedia.thumbnails.crop import smart_crop
from genmedia.thumbnails.geometry import Box
from genmedia.thumbnails.render import find_subjects, render_variant

pytestmark = pytest.mark.unit

W, H = 1280, 720


def _shallow_focus(sharp: Box, seed: int = 0) -> np.ndarray:
    """A blurred field with a big bright blurred shape on the left (what saliency likes) and a sharp
    checkered object in ``sharp``."""
    rng = np.random.default_rng(seed)
    field = cv2.resize(rng.integers(60, 140, (36, 64), np.uint8), (W, H), interpolation=cv2.INTER_CUBIC)
    cv2.ellipse(field, (260, 420), (220, 160), 0, 0, 360, 235, -1)
    field = cv2.GaussianBlur(field, (0, 0), 9)
    x, y, w, h = (int(v) for v in (sharp.x, sharp.y, sharp.w, sharp.h))
    cells = (np.indices((h, w)).sum(axis=0) // 6) % 2
    field[y : y + h, x : x + w] = np.where(cells == 1, 200, 40).astype(np.uint8)
    return cv2.cvtColor(field, cv2.COLOR_GRAY2RGB)


def _maps(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return saliency_map(cv2.resize(gray, (256, 144), interpolation=cv2.INTER_AREA)), sharpness_map(gray)


@pytest.mark.parametrize("aspect", ["9:16", "4:5", "1:1"])
def test_a_sharp_small_object_on_a_blurred_field_is_in_the_crop(aspect: str) -> None:
    thing = Box(1010, 380, 72, 60)
    sal, sharp = _maps(_shallow_focus(thing))
    blind = smart_crop(W, H, parse_aspect(aspect), saliency=sal)
    assert not blind.box.contains(thing)  # saliency alone frames the blurred shape (the reported bug)
    crop = smart_crop(W, H, parse_aspect(aspect), saliency=sal, sharpness=sharp)
    assert crop.fits and crop.box.contains(thing), (crop, thing)


def test_a_blurred_face_is_not_framed_on_when_something_else_is_sharp() -> None:
    thing = Box(1010, 380, 72, 60)
    sal, sharp = _maps(_shallow_focus(thing))
    face = Box(200, 300, 110, 140)  # inside the blurred shape
    crop = smart_crop(W, H, parse_aspect("9:16"), faces=[face], saliency=sal, sharpness=sharp)
    assert crop.reason != "faces" and crop.box.contains(thing)
    in_focus = smart_crop(W, H, parse_aspect("9:16"), faces=[Box(1000, 370, 90, 80)], saliency=sal, sharpness=sharp)
    assert in_focus.reason == "faces"


def test_a_compact_sharp_subject_too_wide_for_the_aspect_is_not_used_for_it() -> None:
    wide = Box(300, 330, 700, 90)
    rgb = _shallow_focus(wide, seed=1)
    subjects = find_subjects(rgb, _NoFaces(), [])
    files, meta = render_variant(
        rgb, subjects, [parse_aspect("16:9"), parse_aspect("9:16")], 640, title=None, formats=["jpeg"], quality=80
    )
    assert "16x9.jpg" in files and meta["16:9"]["crop"]
    assert "9x16.jpg" not in files and "does not fit a 9:16 crop" in meta["9:16"]["skipped"]


def test_an_evenly_sharp_picture_is_cropped_for_every_aspect() -> None:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 255, (H, W, 3), np.uint8)
    subjects = find_subjects(rgb, _NoFaces(), [])
    files, _ = render_variant(
        rgb, subjects, [parse_aspect("9:16"), parse_aspect("1:1")], 640, title=None, formats=["jpeg"], quality=80
    )
    assert set(files) == {"9x16.jpg", "1x1.jpg"}


class _NoFaces:
    backend = "none"

    def find(self, rgb: np.ndarray) -> np.ndarray:
        return np.zeros((0, 4), np.int32)


def test_a_plain_low_contrast_object_is_not_judged_blurred() -> None:
    """A detected object that is plain inside and barely differs from its surround in luma (brown on grey)
    has no texture to be sharp with: it is still framed, not the sharp white disc beside it."""
    picture = np.full((640, 360, 3), 110, np.uint8)
    cv2.circle(picture, (180, 120), 40, (255, 255, 255), -1)
    picture[450:560, 100:260] = (140, 110, 80)
    thing = Box(100, 450, 160, 110)
    subjects = find_subjects(picture, _NoFaces(), [thing])
    for aspect in ("16:9", "1:1"):
        crop = smart_crop(
            360,
            640,
            parse_aspect(aspect),
            objects=[thing],
            saliency=subjects.saliency,
            sharpness=subjects.sharpness,
            contrast=subjects.contrast,
        )
        assert crop.reason == "objects" and crop.box.contains(thing), aspect
