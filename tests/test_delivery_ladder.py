"""Per-title ladder maths, rung geometry and the libavfilter quality measure (no packaging)."""

from __future__ import annotations

import math
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from genmedia.config import Config, LadderProfile
from genmedia.delivery.ladder import (
    RatePoint,
    at_rate,
    cheapest,
    choose_ladder,
    convex_hull,
    curves,
    fixed_ladder_saving,
    quality_at,
    rate_for,
)
from genmedia.delivery.packager import plan_ladder
from genmedia.errors import InputError
from genmedia.media.cmaf import EncodeSettings, rung_sar, sample_starts, size_for
from genmedia.media.complexity import Window, pick_spans, scan_windows
from genmedia.media.probe import probe
from genmedia.media.quality import FrameComparer

pytestmark = pytest.mark.unit


def _p(w: int, h: int, rate: float, q: float) -> RatePoint:
    return RatePoint(w, h, int(rate), rate, q, 0.9)


BIG, SMALL = (1280, 720), (640, 360)
# The small size wins at low rates, the big one at high rates: the usual crossing of per-size curves.
POINTS = [
    _p(*SMALL, 200_000, 34.0),
    _p(*SMALL, 400_000, 37.0),
    _p(*SMALL, 800_000, 39.0),
    _p(*SMALL, 1_600_000, 40.0),
    _p(*BIG, 400_000, 33.0),
    _p(*BIG, 800_000, 37.5),
    _p(*BIG, 1_600_000, 41.0),
    _p(*BIG, 3_200_000, 44.0),
]


def test_rate_for_follows_the_bending_curve_and_knows_its_range() -> None:
    small = curves(POINTS)[SMALL]
    assert rate_for(small, 37.0) == pytest.approx(400_000)
    # 34, 37, 39 dB at 200, 400, 800 kb/s: in doublings x, q = 34 + 3.5x - 0.5x^2, so 35.5 dB at x = 3.5 - sqrt(9.25),
    # below halfway in log-rate (a straight line would ask for more bits than the bending curve needs).
    assert rate_for(small, 35.5) == pytest.approx(200_000 * 2 ** (3.5 - math.sqrt(9.25)))
    assert rate_for(small, 35.5) < (200_000 * 400_000) ** 0.5
    assert rate_for(small, 30.0) == pytest.approx(200_000)  # below the curve: its cheapest point
    assert rate_for(small, 41.0) is None  # never reached


def test_three_sampled_rates_recover_a_curve_that_bends_in_log_rate() -> None:
    def q(rate: float) -> float:  # concave in log-rate, like every encoder's rate-quality curve
        x = math.log2(rate / 100_000)
        return 30.0 + 4.0 * x - 0.4 * x * x

    curve = [_p(*SMALL, r, q(r)) for r in (100_000, 400_000, 1_600_000)]
    for rate in (141_421, 200_000, 700_000, 1_200_000):
        assert quality_at(curve, rate) == pytest.approx(q(rate), abs=1e-9)
        assert rate_for(curve, q(rate)) == pytest.approx(rate, rel=1e-6)
    point = at_rate(curve, 200_000)
    assert (point.size, point.bitrate, point.xpsnr) == (SMALL, 200_000.0, pytest.approx(q(200_000)))
    # A curve that flattens (no gain past a point) is never predicted to fall: straight lines there.
    flat = [_p(*SMALL, 100_000, 30.0), _p(*SMALL, 200_000, 34.0), _p(*SMALL, 400_000, 34.0)]
    assert quality_at(flat, 300_000) == pytest.approx(34.0)


def test_cheapest_size_switches_where_the_curves_cross() -> None:
    by_size = curves(POINTS)
    assert cheapest(by_size, 36.0)[0] == SMALL
    assert cheapest(by_size, 40.5)[0] == BIG
    assert cheapest(by_size, 45.0) is None


def test_convex_hull_keeps_only_points_on_the_upper_envelope() -> None:
    hull = convex_hull(POINTS)
    rates = [p.bitrate for p in hull]
    assert rates == sorted(rates)
    assert _p(*BIG, 400_000, 33.0) not in hull  # dominated by the small size at the same rate
    assert hull[0] == _p(*SMALL, 200_000, 34.0) and hull[-1] == _p(*BIG, 3_200_000, 44.0)
    for a, b, c in zip(hull, hull[1:], hull[2:], strict=False):  # concave: slopes fall
        assert (b.xpsnr - a.xpsnr) / (b.bitrate - a.bitrate) >= (c.xpsnr - b.xpsnr) / (c.bitrate - b.bitrate)


def test_choose_ladder_takes_the_cheapest_size_per_target_and_flags_unreached_ones() -> None:
    rungs = choose_ladder(curves(POINTS), [46.0, 41.0, 36.0])
    assert [(r.width, r.bitrate, r.reached) for r in rungs] == [
        (1280, 3_200_000, False),  # 46 dB: no size gets there; the best one at its highest rate
        (1280, 1_600_000, True),  # 41 dB: only the big size reaches it
        (640, 309_000, True),  # 36 dB: 200 kb/s * 2^(3.5 - sqrt(8.25)) on the small size, far below the big size
    ]
    assert rungs[0].predicted_xpsnr == pytest.approx(44.0)
    assert rungs[-1].width == 640 and rungs[-1].predicted_xpsnr == pytest.approx(36.0)
    assert [r.bitrate for r in rungs] == sorted((r.bitrate for r in rungs), reverse=True)


def test_fixed_ladder_saving_is_measured_at_equal_quality() -> None:
    by_size = curves(POINTS)
    # A fixed ladder that puts 800 kb/s on the big size, where the small size reaches more quality.
    fixed = [_p(*BIG, 800_000, 37.5), _p(*BIG, 3_200_000, 44.0)]
    report = fixed_ladder_saving(by_size, fixed)
    first = report["rungs"][0]
    assert first["per_title"]["width"] == 640 and first["per_title"]["bitrate"] < 800_000
    assert 0.0 < report["saving"] < 1.0
    assert report["method"].startswith("Bjontegaard")
    # A fixed ladder made of the envelope's own points saves nothing.
    same = fixed_ladder_saving(by_size, [_p(*SMALL, 200_000, 34.0), _p(*BIG, 3_200_000, 44.0)])
    assert same["saving"] == pytest.approx(0.0, abs=0.08)


@pytest.mark.parametrize(
    ("display", "short", "expected"),
    [
        ((1920, 1080), 240, (416, 234)),
        ((1920, 1080), 720, (1280, 720)),
        ((1080, 1920), 360, (360, 640)),
        ((640, 360), 720, (640, 360)),
        ((720, 540), 360, (480, 360)),
    ],
)
def test_rung_sizes_keep_one_shape_and_never_exceed_the_source(display, short, expected) -> None:
    size = size_for(display, short)
    assert size == expected
    assert size[0] % 2 == 0 and size[1] % 2 == 0
    assert size[0] <= display[0] and size[1] <= display[1]


def test_rung_sar_restores_the_display_aspect_of_an_odd_shape() -> None:
    display = (1280, 536)
    w, h = size_for(display, 360)
    assert (w * rung_sar(display, (w, h))) / h == pytest.approx(1280 / 536, rel=1e-3)


def test_sample_starts_spread_over_the_video() -> None:
    starts = sample_starts(600.0, 24.0, 2.0)
    assert len(starts) == 12 and starts == sorted(starts)
    assert starts[0] > 0 and starts[-1] + 2.0 <= 600.0
    assert sample_starts(1.5, 10.0, 2.0) == [0.0]


def test_unknown_codec_names_the_supported_ones() -> None:
    with pytest.raises(InputError, match="unsupported codec; supported: h264"):
        EncodeSettings(codec="mpeg7").encoder()


def _frame(image: np.ndarray) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")


def test_quality_is_perfect_for_identical_pictures_and_falls_with_damage() -> None:
    rng = np.random.default_rng(0)
    image = (rng.random((96, 128, 3)) * 255).astype(np.uint8)
    same = FrameComparer((128, 96), (128, 96))
    noisy = FrameComparer((128, 96), (128, 96))
    small = FrameComparer((128, 96), (64, 48))
    for _ in range(3):
        same.add(_frame(image), _frame(image))
        noise = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
        noisy.add(_frame(image), _frame(noise))
        small.add(_frame(image), _frame(image).reformat(width=64, height=48))
    perfect, damaged, halved = same.result(), noisy.result(), small.result()
    assert perfect.xpsnr == 100.0 and perfect.ssim == pytest.approx(1.0) and perfect.pictures == 3
    assert 20 < damaged.xpsnr < 60 and damaged.ssim < perfect.ssim
    assert halved.xpsnr < damaged.xpsnr  # random texture does not survive halving


def _write_clip(path: Path, seconds: float, textured_from: float, size: tuple[int, int] = (160, 90)) -> Path:
    """A 25 fps clip: a drifting gradient, with a fine texture scrolling over it from ``textured_from`` s.

    The texture is what makes pictures expensive to encode (and is not masked away by XPSNR as pure grain
    is); a keyframe every second.
    """
    w, h = size
    base = np.add.outer(np.linspace(0, 120, h), np.linspace(0, 120, w))
    texture = cv2.GaussianBlur(np.random.default_rng(0).normal(0, 60, (h, 2 * w)), (0, 0), 1.5)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"g": "25", "keyint_min": "25", "sc_threshold": "0"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(int(seconds * 25)):
            picture = np.roll(base, i, axis=1)
            if i / 25 >= textured_from:
                picture = picture + texture[:, 3 * i % w : 3 * i % w + w]
            gray = np.clip(picture + 60, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(np.dstack([gray, gray, gray]), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def test_sample_spans_cover_the_easy_and_the_hard_part_from_packets_alone(tmp_path: Path) -> None:
    clip = _write_clip(tmp_path / "half.mp4", 8.0, textured_from=4.0)
    info = probe(clip, Config().limits)
    windows = scan_windows(str(clip), info, 1.0)
    assert [w.start for w in windows] == [k / 2 for k in range(15)]  # a half-span grid; keyframes lie on it
    bits = {w.start: w.bits for w in windows}
    assert max(bits[t] for t in (0, 1, 2, 3)) < min(bits[t] for t in (4, 5, 6, 7))
    assert {w.start: w.lead for w in windows}[2.5] == pytest.approx(0.5)  # decoded from the keyframe at 2 s
    easy, hard = pick_spans(windows, 2, 1.0)
    assert easy <= 3.0 and hard >= 4.0  # one span from each band of difficulty
    assert easy == int(easy) and hard == int(hard)  # each starts on a keyframe: nothing decoded in vain
    many = pick_spans(windows, 20, 1.0)
    assert 4 <= len(many) <= 8 and all(b - a >= 1.0 for a, b in zip(many, many[1:], strict=False))  # no overlap


def test_pick_spans_takes_one_window_per_band_of_difficulty() -> None:
    leads = [0.5, 0.0, 0.5, 0.5, 0.5, 0.5, 0.0, 0.5]
    windows = [Window(float(t), 10 * (t + 1), lead) for t, lead in enumerate(leads)]  # bits rise with time
    # Two bands (t 0-3, t 4-7); in each band's middle half (t 1-2, t 5-6) the window starting on a keyframe.
    assert pick_spans(windows, 2, 1.0) == [1.0, 6.0]
    assert pick_spans(windows, 1, 1.0) == [3.0]  # one band: t 2-5 all need a lead-in, the median (t 3, 4) wins
    assert pick_spans(windows, 2, 5.0) == [1.0, 6.0]  # 5 s apart: no overlap
    assert pick_spans(windows, 2, 6.0) == [1.0, 7.0]  # t 5-6 overlap the first span: the rest of the band
    assert pick_spans(windows, 2, 7.0) == [1.0]  # no second span fits beside the first
    assert pick_spans([], 3, 1.0) == []


def _plan(clip: Path) -> dict:
    cfg = Config()
    dc = cfg.delivery
    settings = EncodeSettings(codec=dc.codec, preset=dc.preset, peak_factor=dc.peak_factor)
    profile = LadderProfile(short_sides=[180, 90], targets_xpsnr=[55.0, 45.0])
    return plan_ladder(clip, probe(clip, cfg.limits), dc, profile, settings)


@pytest.mark.slow
def test_rungs_are_chosen_from_the_measured_points(tmp_path: Path) -> None:
    """Slow: two 6 s 320x180 titles, one plain and one textured, planned for real (~10 s of x264)."""
    plain = _plan(_write_clip(tmp_path / "plain.mp4", 6.0, textured_from=99, size=(320, 180)))
    textured = _plan(_write_clip(tmp_path / "textured.mp4", 6.0, textured_from=0, size=(320, 180)))
    for facts in (plain, textured):
        points = [RatePoint(**p) for p in facts["points"]]
        assert {p.size for p in points} == {(320, 180), (160, 90)}
        assert len(points) == 2 * len(Config().delivery.rates_bpp)
        assert facts["samples"]["spans"] == 1 and facts["samples"]["seconds"] == pytest.approx(2.0)
        by_size = curves(points)
        for rung in facts["rungs"]:
            # The size and rate at which the measured curves reach the target first, predicted to reach it.
            size, rate = cheapest(by_size, rung["target_xpsnr"])
            assert (rung["width"], rung["height"]) == size and rung["bitrate"] == pytest.approx(rate, abs=500)
            assert rung["reached"] and rung["predicted_xpsnr"] == pytest.approx(
                quality_at(by_size[size], rate), abs=0.01
            )
        assert [(r["width"], r["target_xpsnr"]) for r in facts["rungs"]] == [(320, 55.0), (160, 45.0)]
    # The same target costs the textured title several times the plain one's bits: the rates are measured.
    assert textured["rungs"][0]["bitrate"] > 3 * plain["rungs"][0]["bitrate"]
