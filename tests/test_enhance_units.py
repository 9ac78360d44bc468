"""The pure enhancement functions: noise estimate and denoiser, grading and LUTs, SDR->HDR, metrics."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from genmedia.enhance import denoise as dn
from genmedia.enhance import grade as gr
from genmedia.enhance.hdr import content_light, hlg_oetf, pq_decode, pq_encode, sdr_to_hdr
from genmedia.enhance.metrics import psnr, ssim
from genmedia.media.synthetic import _texture


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return _texture(np.random.default_rng(0), 120, 200, 0.3, 150)


def _noisy(clean: np.ndarray, sigma: float, n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([np.clip(clean + rng.normal(0, sigma, clean.shape), 0, 255).astype(np.uint8) for _ in range(n)])


@pytest.mark.parametrize("sigma", [4.0, 10.0])
def test_noise_estimate_finds_the_added_noise(clean: np.ndarray, sigma: float) -> None:
    assert dn.estimate_noise(_noisy(clean, sigma, 3)) == pytest.approx(sigma, rel=0.15)
    assert dn.estimate_noise(clean[None]) < dn.MIN_SIGMA


def test_auto_strength_leaves_clean_video_alone(clean: np.ndarray) -> None:
    assert dn.resolve_strength("auto", clean[None])[0] == 0.0
    sigma, measured = dn.resolve_strength("auto", _noisy(clean, 8, 2))
    assert sigma == measured and sigma > 6
    assert dn.resolve_strength("off", clean[None]) == (0.0, None)
    assert dn.resolve_strength(3.5, clean[None]) == (3.5, None)


def test_denoiser_removes_noise_and_static_flicker(clean: np.ndarray) -> None:
    noisy = _noisy(clean, 8, 7)
    out = dn.denoise_frames(noisy, 8.0, radius=2, core=slice(2, 5))
    assert out.shape == (3,) + clean.shape and out.dtype == np.uint8
    assert psnr(clean, out[1]) > psnr(clean, noisy[3]) + 5
    flicker_in = np.abs(np.diff(noisy[2:5].astype(np.float32), axis=0)).mean()
    flicker_out = np.abs(np.diff(out.astype(np.float32), axis=0)).mean()
    assert flicker_out < 0.4 * flicker_in


def test_denoiser_does_not_ghost_motion(clean: np.ndarray) -> None:
    moving = np.stack([np.roll(clean, 12 * i, axis=1) for i in range(5)])
    out = dn.denoise_frames(moving, 4.0, radius=2, core=slice(2, 3))[0]
    assert psnr(moving[2], out) > 30  # neighbours that moved were not averaged in


def _cast(image: np.ndarray, gains: tuple[float, float, float]) -> np.ndarray:
    return np.clip(image.astype(np.float32) * np.asarray(gains), 0, 255).astype(np.uint8)


def test_auto_grade_removes_a_colour_cast_and_lifts_a_dark_shot(clean: np.ndarray) -> None:
    grey = np.repeat(cv2.cvtColor(clean, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    tinted = _cast(grey, (0.6, 0.65, 0.75))  # dark and blue
    grade = gr.auto_grade(gr.frame_stats(tinted))
    fixed = gr.apply_grade(tinted, grade)
    spread = lambda im: float(np.ptp(im.reshape(-1, 3).mean(axis=0)))  # noqa: E731 - channel-mean imbalance
    assert spread(fixed) < 0.4 * spread(tinted)
    assert fixed.mean() > tinted.mean() + 20


def test_auto_grade_leaves_a_colourful_scene_its_colours(clean: np.ndarray) -> None:
    purple = _cast(clean, (1.0, 0.45, 1.0))  # a saturated scene, no white in it: grey world would turn it green
    grade = gr.auto_grade(gr.frame_stats(purple))
    assert grade.gains == [1.0, 1.0, 1.0]
    out = gr.apply_grade(purple, grade).reshape(-1, 3).mean(axis=0)
    assert out[1] < 0.9 * min(out[0], out[2])  # still purple (levels and exposure apply to all channels alike)


def test_auto_grade_keeps_skin_tones_when_a_face_fills_the_frame() -> None:
    """The brightest pixels of a close-up are skin: warm, not a white under a cast; skin must not be whitened."""
    image = np.full((180, 320, 3), (70, 45, 90), np.uint8)
    cv2.ellipse(image, (160, 90), (70, 88), 0, 0, 360, (212, 168, 140), -1)  # skin, brightest in the picture
    for x in (135, 185):
        cv2.circle(image, (x, 70), 7, (240, 236, 230), -1)  # eye whites: a small true white
    grade = gr.auto_grade(gr.frame_stats(image))
    assert np.allclose(grade.gains, 1.0, atol=0.03)
    hsv = lambda im: cv2.cvtColor(im[90:91, 160:161].astype(np.float32) / 255, cv2.COLOR_RGB2HSV)[0, 0]  # noqa: E731
    before, after = hsv(image), hsv(gr.apply_grade(image, grade))
    assert abs(after[0] - before[0]) < 3 and after[1] > 0.75 * before[1]  # same hue (degrees), still as saturated


def test_auto_grade_corrects_a_slight_warm_cast_on_a_white_object(clean: np.ndarray) -> None:
    scene = clean.copy()
    scene[20:60, 30:90] = 235  # a white card
    warm = _cast(scene, (1.0, 0.95, 0.89))
    grade = gr.auto_grade(gr.frame_stats(warm))
    card = gr.apply_grade(warm, grade)[40, 60].astype(int)
    assert np.ptp(card) < 0.5 * np.ptp(warm[40, 60].astype(int))


def test_auto_grade_does_not_neutralise_a_light_green_scene(clean: np.ndarray) -> None:
    green = np.clip(_cast(clean, (0.75, 1.0, 0.7)).astype(int) + 40, 0, 255).astype(np.uint8)  # bright, green, no white
    assert np.allclose(gr.auto_grade(gr.frame_stats(green)).gains, 1.0)


def test_grades_are_per_shot_and_constant_within_a_shot(clean: np.ndarray) -> None:
    bright, dark = clean, _cast(clean, (0.5, 0.5, 0.5))
    frames = [bright] * 5 + [dark] * 5
    stats = [gr.frame_stats(f) if i % 2 == 0 else None for i, f in enumerate(frames)]  # sampled frames only
    grades = gr.shot_grades(stats, [(0, 5), (5, 10)])
    assert len(grades) == 2 and grades[1].gamma < grades[0].gamma
    graded = [gr.apply_grade(f, grades[0 if i < 5 else 1]) for i, f in enumerate(frames)]
    for shot in (graded[:5], graded[5:]):  # identical input within a shot -> identical output: no flicker
        assert all(np.array_equal(shot[0], g) for g in shot)


def test_style_match_moves_colours_towards_the_reference(clean: np.ndarray) -> None:
    reference = _cast(np.roll(clean, 40, axis=1), (1.0, 0.8, 0.5))  # a warm reference
    ref_stats = gr.frame_stats(reference)
    grade = gr.shot_grades([gr.frame_stats(clean)], [(0, 1)], auto=False, reference=ref_stats)[0]
    out = gr.apply_grade(clean, grade)
    lab = lambda im: cv2.cvtColor(im.astype(np.float32) / 255, cv2.COLOR_RGB2Lab).reshape(-1, 3).mean(axis=0)  # noqa: E731
    before, after = np.linalg.norm(lab(clean) - lab(reference)), np.linalg.norm(lab(out) - lab(reference))
    assert after < 0.35 * before


def test_presets_and_the_fast_path_agree_with_the_float_path(clean: np.ndarray) -> None:
    for preset in gr.PRESETS:
        grade = gr.with_preset(gr.auto_grade(gr.frame_stats(clean)), preset)
        fast = gr.apply_grade(clean, grade).astype(int)
        exact = (gr.apply_unit(clean.astype(np.float32) / 255, grade) * 255).round().astype(int)
        assert np.abs(fast - exact).max() <= 2, preset
    noir = gr.apply_grade(clean, gr.with_preset(gr.Grade(), "noir")).astype(int)
    assert np.abs(noir[..., 0] - noir[..., 2]).max() <= 1
    sixteen = gr.apply_grade((clean.astype(np.uint16) * 257), gr.with_preset(gr.Grade(), "warm"))
    assert sixteen.dtype == np.uint16


def test_cube_lut_has_size_cubed_rows_and_encodes_the_grade(clean: np.ndarray) -> None:
    text = gr.cube_text(gr.grade_lut(gr.Grade(), size=9), "identity")
    lines = text.splitlines()
    assert "LUT_3D_SIZE 9" in lines
    data = np.array([[float(v) for v in line.split()] for line in lines if line[:1].isdigit()])
    assert data.shape == (9**3, 3)
    axis = np.linspace(0, 1, 9)
    assert np.allclose(data[:9, 0], axis, atol=1e-5) and np.allclose(data[:9, 1:], 0, atol=1e-5)  # red fastest
    assert np.allclose(data[9, 1], axis[1], atol=1e-5)
    grade = gr.with_preset(gr.auto_grade(gr.frame_stats(_cast(clean, (0.7, 0.8, 1.0)))), "warm")
    lut = gr.grade_lut(grade, size=33)
    idx = np.array([6, 16, 26])  # a lattice point (r, g, b); the array is indexed [b, g, r]
    probe = (idx / 32).astype(np.float32)
    assert np.allclose(lut[idx[2], idx[1], idx[0]], gr.apply_unit(probe[None, None], grade)[0, 0], atol=1e-5)


def test_pq_and_hlg_reference_points() -> None:
    assert float(pq_encode(np.array(10000.0))) == pytest.approx(1.0)
    assert float(pq_encode(np.array(100.0))) == pytest.approx(0.5081, abs=1e-3)
    assert float(pq_decode(pq_encode(np.array(203.0)))) == pytest.approx(203.0, rel=1e-4)
    assert float(hlg_oetf(np.array(1.0))) == pytest.approx(1.0, abs=1e-6)
    assert float(hlg_oetf(np.array(1 / 12))) == pytest.approx(0.5)


def test_sdr_to_hdr_places_white_and_keeps_mid_tones() -> None:
    white = np.full((1, 1, 3), 255, np.uint8)
    grey = np.full((1, 1, 3), 118, np.uint8)  # ~18 % grey in BT.1886
    assert float(sdr_to_hdr(white, "pq", peak_nits=1000)[0, 0, 0]) == pytest.approx(
        float(pq_encode(np.array(1000.0))), abs=1e-3
    )
    assert float(sdr_to_hdr(white, "hlg")[0, 0, 0]) == pytest.approx(1.0, abs=1e-3)
    grey_nits = float(pq_decode(sdr_to_hdr(grey, "pq")[0, 0, 1]))
    assert 203 * 0.15 < grey_nits < 203 * 0.22  # mid-tones stay at their SDR level relative to 203 cd/m2
    hlg_ref_white = sdr_to_hdr(np.full((1, 1, 3), round(255 * 0.75 ** (1 / 2.4)), np.uint8), "hlg")
    assert 0.7 < float(hlg_ref_white[0, 0, 1]) < 0.76
    red = sdr_to_hdr(np.array([[[255, 0, 0]]], np.uint8), "pq")[0, 0]
    assert red[0] > red[1] > 0 and red[0] > red[2]  # BT.709 red sits inside BT.2020


def test_content_light_levels(clean: np.ndarray) -> None:
    cll, fall = content_light([clean, np.full_like(clean, 255)], 1000)
    assert cll == 1000 and 0 < fall <= cll


def test_psnr_and_ssim() -> None:
    a = _texture(np.random.default_rng(5), 64, 64, 0.2, 120)
    assert math.isinf(psnr(a, a)) and ssim(a, a) == pytest.approx(1.0)
    noisy = np.clip(a + np.random.default_rng(6).normal(0, 10, a.shape), 0, 255).astype(np.uint8)
    assert 25 < psnr(a, noisy) < 30
    assert 0 < ssim(a, noisy) < 0.95
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(a, a[:10])


def test_realtime_governor_sheds_quality_in_order_and_recovers() -> None:
    from genmedia.pipelines.realtime import LADDER, Governor, RealtimeReport

    report = RealtimeReport(source_fps=24)
    gov = Governor(0.5, report)
    for k in range(6):  # persistently behind: one step down per late frame, never past the last step
        gov.update(lag=1.0, now=k * 0.04, media_time=k / 24)
    assert [c["level"] for c in report.level_changes] == list(LADDER[1:])
    assert not gov.allows("skip-denoise") and not gov.allows("drop-frames")
    t = 1.0
    while gov.level > 0 and t < 10:  # caught up: one step back up per second of keeping up
        gov.update(lag=0.0, now=t, media_time=t)
        t += 0.04
    assert gov.level == 0 and 4.0 <= t <= 5.2
    assert [c["level"] for c in report.level_changes[4:]] == list(reversed(LADDER[:-1]))
