"""Per-frame measures: faces (Haar), motion, saliency, composition, colour."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from genmedia.analysis.colour import colour_texture_descriptor, colourfulness, exposure, sharpness
from genmedia.analysis.composition import composition_score, size_score, thirds_score
from genmedia.analysis.faces import HaarFaces
from genmedia.analysis.motion import motion_energy, motion_picture, shot_motion
from genmedia.analysis.saliency import saliency_map, salient_region


@pytest.fixture(scope="module")
def frames(sample_clip):  # noqa: ANN001, ANN201
    path, truth = sample_clip
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)], truth


def _iou(a, b) -> float:  # noqa: ANN001
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def test_haar_finds_the_drawn_face_and_nothing_on_the_static_shot(frames) -> None:  # noqa: ANN001
    pictures, truth = frames
    haar = HaarFaces()
    face_frames = range(truth.face.start, truth.face.end, 4)
    for i in face_frames:
        boxes = haar.detect(cv2.cvtColor(pictures[i], cv2.COLOR_RGB2GRAY))
        assert len(boxes) >= 1 and _iou(boxes[0], truth.face.box) > 0.4, (i, boxes)
    for i in range(truth.static.start, truth.static.end, 4):
        assert len(haar.detect(cv2.cvtColor(pictures[i], cv2.COLOR_RGB2GRAY))) == 0


def test_motion_ranks_fast_motion_over_pan_over_static(frames) -> None:  # noqa: ANN001
    pictures, truth = frames
    small = [motion_picture(cv2.cvtColor(p, cv2.COLOR_RGB2GRAY)) for p in pictures]
    motion = np.array([0.0] + [motion_energy(a, b) for a, b in zip(small, small[1:])])
    spans = {name: getattr(truth, name) for name in truth.motion_ranking}
    per_shot = shot_motion(
        motion, np.array([s.start for s in spans.values()]), np.array([s.end for s in spans.values()])
    )
    assert list(per_shot) == sorted(per_shot, reverse=True)  # fast_motion > pan > static
    assert per_shot[-1] < 0.002 < per_shot[1]


def test_saliency_points_at_the_odd_object() -> None:
    img = np.full((90, 160), 100, np.uint8)
    cv2.circle(img, (120, 30), 8, 255, -1)
    region = salient_region(saliency_map(img))
    assert abs(region.cx - 120 / 160) < 0.08 and abs(region.cy - 30 / 90) < 0.1
    x, y, w, h = region.box
    assert x <= 120 / 160 <= x + w and y <= 30 / 90 <= y + h


def test_composition_prefers_thirds_sharp_well_exposed_colourful() -> None:
    assert thirds_score(1 / 3, 1 / 3) == pytest.approx(1.0)
    assert thirds_score(0.02, 0.98) < 0.01
    assert 0.5 < thirds_score(0.5, 0.5) < 0.7
    assert size_score(0.001) < 0.1 and size_score(0.2) == 1.0 and size_score(1.0) == 0.0
    good = composition_score((1 / 3, 1 / 3), 0.15, 3.0, 0.9, 70.0)
    bad = composition_score((0.02, 0.98), 0.001, 0.5, 0.1, 2.0)
    assert good > 0.9 and bad < 0.2


def test_colour_exposure_sharpness() -> None:
    grey = np.full((50, 80, 3), 128, np.uint8)
    vivid = np.zeros((50, 80, 3), np.uint8)
    vivid[:, :40] = (255, 0, 0)
    vivid[:, 40:] = (0, 0, 255)
    assert colourfulness(grey) == 0.0 and colourfulness(vivid) > 100
    assert exposure(np.full((10, 10), 128, np.uint8)) > 0.95
    assert exposure(np.zeros((10, 10), np.uint8)) == 0.0
    noise = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    assert sharpness(noise) > sharpness(cv2.GaussianBlur(noise, (0, 0), 3)) + 1
    d1, d2 = colour_texture_descriptor(vivid), colour_texture_descriptor(grey)
    assert d1.shape == (64,) and np.linalg.norm(d1) == pytest.approx(1.0) and float(d1 @ d2) < 0.9
