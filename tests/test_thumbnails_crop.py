"""Pure thumbnail pieces on generated pictures with known subjects: aspect parsing, display geometry,
smart crops (faces whole, rule of thirds, saliency), the title overlay and candidate selection."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pandas as pd
import pytest

from genmedia.config import ThumbnailsConfig
from genmedia.errors import InputError
from genmedia.thumbnails import candidates as cands
from genmedia.thumbnails.aspects import Aspect, parse_aspect, parse_aspects
from genmedia.thumbnails.crop import smart_crop, window_size
from genmedia.thumbnails.geometry import Box, Geometry
from genmedia.thumbnails.overlay import draw_title, min_font_px
from genmedia.thumbnails.prompts import STYLES, build_prompt

pytestmark = pytest.mark.unit


# ------------------------------------------------------------------------------------------ aspects


def test_aspects_parse_and_size() -> None:
    assert [a.label for a in parse_aspects("16:9, 1:1,9:16,4:5,32:18")] == ["16:9", "1:1", "9:16", "4:5"]
    assert Aspect(16, 9).output_size(1280) == (1280, 720)
    assert Aspect(9, 16).output_size(1280) == (720, 1280)
    assert Aspect(4, 5).output_size(1280) == (1024, 1280)
    assert Aspect(1, 1).output_size(1080) == (1080, 1080)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0:1", "must both be positive"),
        ("abc", "not an aspect ratio"),
        ("16:0", "must both be positive"),
        ("10:1", "too extreme"),
        ("", "no aspect"),
    ],
)
def test_bad_aspects_are_clear_input_errors(text: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        parse_aspects(text) if not text else parse_aspect(text)


# ------------------------------------------------------------------------------------------ geometry


def test_rotation_and_sar_map_pictures_and_boxes_consistently() -> None:
    coded = np.zeros((180, 320, 3), np.uint8)
    coded[10:30, 20:60] = 255  # a marker near the coded top-left
    marker = Box(20, 10, 40, 20)
    for rotation in (0, 90, 180, 270):
        for sar in (Fraction(1), Fraction(32, 27), Fraction(3, 4)):
            g = Geometry(320, 180, sar, rotation)
            shown = g.to_display(coded)
            assert (shown.shape[1], shown.shape[0]) == g.display_size
            ys, xs = np.nonzero(shown[..., 0] > 127)
            box = g.box_to_display(marker)
            assert abs(xs.min() - box.x) <= 2 and abs(xs.max() + 1 - box.right) <= 2
            assert abs(ys.min() - box.y) <= 2 and abs(ys.max() + 1 - box.bottom) <= 2


def test_rotated_90_puts_the_coded_top_left_at_the_display_bottom_left() -> None:
    # As players show it (checked against ffmpeg's autorotate on make_rotated_clip's red marker).
    g = Geometry(320, 180, Fraction(1), 90)
    assert g.display_size == (180, 320)
    b = g.box_to_display(Box(0, 0, 10, 10))
    assert (b.x, b.bottom) == (0, 320)


# ------------------------------------------------------------------------------------------ crops


def face_box(cx: float, cy: float, w: float = 70, h: float = 92) -> Box:
    return Box(cx - w / 2, cy - h / 2, w, h)


@pytest.mark.parametrize("aspect", ["1:1", "9:16", "4:5"])
@pytest.mark.parametrize("face_x", [60, 200, 320, 560])
def test_crop_keeps_the_face_whole_near_a_thirds_line(aspect: str, face_x: float) -> None:
    face = face_box(face_x, 170)
    crop = smart_crop(640, 360, parse_aspect(aspect), faces=[face])
    assert crop.reason == "faces" and crop.box.contains(face)
    rel = (face.centre[0] - crop.box.x) / crop.box.w
    # The face sits on a thirds line or the centre line unless the picture edge stops the window.
    at_edge = crop.box.x <= 0.5 or crop.box.right >= 639.5
    assert at_edge or min(abs(rel - t) for t in (1 / 3, 1 / 2, 2 / 3)) < 0.03


def test_two_faces_that_cannot_both_fit_are_never_cut() -> None:
    left, right = face_box(100, 180, 80, 100), face_box(540, 180, 110, 140)
    for aspect in ("9:16", "4:5", "1:1"):
        crop = smart_crop(640, 360, parse_aspect(aspect), faces=[left, right])
        for f in (left, right):
            inside, outside = crop.box.contains(f), crop.box.intersection_area(f) == 0
            assert inside or outside, (aspect, crop.box, f)
        assert crop.box.contains(right)  # the larger face wins


def test_two_faces_that_fit_are_both_kept() -> None:
    a, b = face_box(250, 150), face_box(350, 200)
    crop = smart_crop(640, 360, parse_aspect("1:1"), faces=[a, b])
    assert crop.box.contains(a) and crop.box.contains(b)


def test_without_faces_the_crop_follows_objects_then_saliency() -> None:
    obj = Box(480, 120, 60, 80)
    assert smart_crop(640, 360, parse_aspect("9:16"), objects=[obj]).box.contains(obj)
    picture = np.full((360, 640), 100, np.uint8)
    cv2.circle(picture, (560, 180), 30, 255, -1)  # one bright blob on a flat background
    from genmedia.analysis.saliency import saliency_map

    crop = smart_crop(640, 360, parse_aspect("9:16"), saliency=saliency_map(picture))
    assert crop.reason == "saliency" and crop.box.x < 560 < crop.box.right


def test_nothing_to_frame_gives_a_centred_crop() -> None:
    crop = smart_crop(640, 360, parse_aspect("1:1"))
    assert crop.reason == "centre" and crop.box.as_list() == [140, 0, 360, 360]
    assert window_size(640, 360, parse_aspect("16:9")) == (640, 360)


def test_anamorphic_face_is_round_in_display_geometry() -> None:
    """A round face coded on 720x480 pixels with SAR 32:27 (squashed in the file) is round once shown."""
    sar = Fraction(32, 27)
    coded = np.zeros((480, 720, 3), np.uint8)
    cv2.ellipse(coded, (500, 240), (round(60 / sar), 60), 0, 0, 360, (255, 255, 255), -1)
    g = Geometry(720, 480, sar, 0)
    shown = g.to_display(coded)
    ys, xs = np.nonzero(shown[..., 0] > 127)
    assert abs((xs.max() - xs.min()) / (ys.max() - ys.min()) - 1) < 0.03
    face = g.box_to_display(Box(500 - 60 / sar, 180, 120 / sar, 120))
    crop = smart_crop(shown.shape[1], shown.shape[0], parse_aspect("9:16"), faces=[face])
    assert crop.box.contains(face)


# ------------------------------------------------------------------------------------------ overlay


def test_title_avoids_the_face_and_stays_legible_when_small() -> None:
    image = np.full((720, 1280, 3), 90, np.uint8)
    face = Box(700, 80, 300, 560)  # most of the height
    out, overlay = draw_title(image, "The Night Before The Storm", faces=[face])
    assert overlay.face_overlap == 0 and overlay.box.intersection_area(face) == 0
    assert overlay.font_px >= min_font_px(1280)
    # Pixels changed only where the text (and its shadow) is, and inside the frame.
    changed = np.argwhere(np.any(out != image, axis=2))
    assert changed[:, 1].max() < face.x + 8 or changed[:, 0].min() > face.bottom
    # Both white fill and dark outline are there: legible on light and dark backgrounds.
    region = out[int(overlay.box.y) : int(overlay.box.bottom), int(overlay.box.x) : int(overlay.box.right)]
    assert region.max() >= 250 and region.min() <= 10


def test_a_very_long_word_is_cut_to_fit() -> None:
    image = np.zeros((360, 640, 3), np.uint8)
    _, overlay = draw_title(image, "x" * 500)
    assert 1 <= len(overlay.lines) <= 3 and overlay.box.right <= 640


def test_prompts_use_style_tags_and_title() -> None:
    prompt, negative = build_prompt("Storm", ["the sea", "a boat"], "poster")
    assert prompt.startswith("movie poster") and '"Storm"' in prompt and "the sea, a boat" in prompt
    assert "blurry" in negative and set(STYLES) >= {"cinematic", "poster"}
    with pytest.raises(InputError, match="unknown style"):
        build_prompt("x", [], "sepia")


# ------------------------------------------------------------------------------------------ candidates


def features(rows: list[dict]) -> pd.DataFrame:
    base = {"sharpness": 2.0, "exposure": 0.8, "colourfulness": 60.0, "composition": 0.5, "face_boxes": []}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_candidates_skip_black_blurred_and_transition_frames_and_spread_over_shots() -> None:
    shots = [
        cands.ShotSpan(0, 0.0, 3.0, "start"),
        cands.ShotSpan(1, 3.0, 6.0, "fade"),
        cands.ShotSpan(2, 6.0, 9.0, "cut"),
    ]
    df = features(
        [
            {"frame_index": 0, "time": 0.5, "shot": 0},
            {"frame_index": 1, "time": 1.5, "shot": 0, "sharpness": 2.5},
            {"frame_index": 2, "time": 3.1, "shot": 1, "sharpness": 3.0},  # inside the fade
            {"frame_index": 3, "time": 4.5, "shot": 1, "exposure": 0.05},  # black
            {"frame_index": 4, "time": 5.0, "shot": 1, "sharpness": 0.3},  # blurred
            {"frame_index": 5, "time": 7.0, "shot": 2, "face_boxes": [[0.4, 0.2, 0.3, 0.5]]},
            {"frame_index": 6, "time": 7.5, "shot": 2, "face_boxes": [[0.41, 0.2, 0.3, 0.5]]},
        ]
    )
    chosen = cands.choose(df, shots, 6, ThumbnailsConfig())
    # The face shot first, then shot 0's sharper frame; nothing from the fade/black/blurred shot 1.
    assert [c.frame_index for c in chosen] == [5, 1]
    # Allowing several per shot adds frame 0 (1 s from frame 1) but not frame 6 (0.5 s from frame 5).
    more = cands.choose(df, shots, 6, ThumbnailsConfig(), same_shot=True)
    assert [c.frame_index for c in more] == [5, 1, 0]


def test_a_face_seen_in_one_frame_only_does_not_count() -> None:
    df = features(
        [
            {"frame_index": 0, "time": 0.5, "shot": 0, "face_boxes": [[0.1, 0.1, 0.2, 0.3]]},
            {"frame_index": 1, "time": 1.0, "shot": 0},
            {"frame_index": 2, "time": 4.0, "shot": 1, "face_boxes": [[0.5, 0.2, 0.2, 0.3]]},
            {"frame_index": 3, "time": 4.5, "shot": 1, "face_boxes": [[0.52, 0.2, 0.2, 0.3]]},
        ]
    )
    area = cands.steady_face_area(df)
    assert area[0] == 0 and area[1] == 0 and area[2] > 0 and area[3] > 0


def test_all_black_gives_no_candidate() -> None:
    df = features([{"frame_index": i, "time": i / 2, "shot": 0, "exposure": 0.0, "sharpness": 0.0} for i in range(6)])
    assert cands.choose(df, [cands.ShotSpan(0, 0, 3, "start")], 4, ThumbnailsConfig()) == []


def test_a_title_embedding_ranks_the_shot_that_matches_it_first() -> None:
    shots = [cands.ShotSpan(k, 3.0 * k, 3.0 * k + 3, "start" if k == 0 else "cut") for k in range(3)]
    rng = np.random.default_rng(0)
    title = rng.normal(size=8)
    title /= np.linalg.norm(title)
    other = [rng.normal(size=8) for _ in range(2)]
    df = features(
        [
            # Shot 0 has a steady face and is the best picture; shot 2 shows what the title says (only its key frame
            # is embedded: its other frame takes the shot's similarity).
            {"frame_index": 0, "time": 1.0, "shot": 0, "face_boxes": [[0.4, 0.2, 0.3, 0.5]], "embedding": other[0]},
            {"frame_index": 1, "time": 1.5, "shot": 0, "face_boxes": [[0.41, 0.2, 0.3, 0.5]], "embedding": None},
            {"frame_index": 2, "time": 4.5, "shot": 1, "embedding": other[1]},
            {"frame_index": 3, "time": 7.5, "shot": 2, "sharpness": 1.8, "embedding": None},
            {"frame_index": 4, "time": 8.0, "shot": 2, "sharpness": 1.9, "embedding": 2.0 * title},  # not unit length
        ]
    )
    plain = cands.choose(df, shots, 3, ThumbnailsConfig())
    assert [c.shot for c in plain][0] == 0 and "title" not in plain[0].scores
    ranked = cands.choose(df, shots, 3, ThumbnailsConfig(), title=title)
    assert ranked[0].shot == 2 and ranked[0].scores["title"] == 1.0
    sim = cands.title_similarity(df, title)
    assert sim[3] == sim[4] == 1.0 and sim[1] == sim[0]
    # Without a title the ranking and the scores are exactly what they were.
    total, parts = cands.score_frames(df)
    again, _ = cands.score_frames(df, None)
    np.testing.assert_array_equal(total, again)
    assert set(parts) == set(cands.WEIGHTS)


def test_title_similarity_without_embeddings_is_neutral() -> None:
    df = features([{"frame_index": i, "time": i, "shot": i} for i in range(3)])
    assert cands.title_similarity(df, np.ones(4) / 2).tolist() == [0.0, 0.0, 0.0]
