"""Per-title ladder maths, rung geometry and the libavfilter quality measure (no packaging)."""

from __future__ import annotations

import av
import numpy as np
import pytest

from genmedia.delivery.ladder import (
    RatePoint,
    cheapest,
    choose_ladder,
    convex_hull,
    curves,
    fixed_ladder_saving,
    rate_for,
)
from genmedia.errors import InputError
from genmedia.media.cmaf import EncodeSettings, rung_sar, sample_starts, size_for
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


def test_rate_for_interpolates_in_log_rate_and_knows_its_range() -> None:
    small = curves(POINTS)[SMALL]
    assert rate_for(small, 37.0) == pytest.approx(400_000)
    assert rate_for(small, 35.5) == pytest.approx((200_000 * 400_000) ** 0.5)  # halfway in log-rate
    assert rate_for(small, 30.0) == pytest.approx(200_000)  # below the curve: its cheapest point
    assert rate_for(small, 41.0) is None  # never reached


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
        (640, 317_000, True),  # 36 dB: 200 kb/s * 2^(2/3) on the small size, half the big size's rate
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
