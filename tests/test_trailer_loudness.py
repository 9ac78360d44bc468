"""BS.1770 integrated loudness, the peak limiter and loudness normalisation (genmedia.trailer.loudness)."""

from __future__ import annotations

import numpy as np
import pytest

from genmedia.trailer.loudness import integrated_loudness, k_weighting, limit_peaks, normalize_loudness

pytestmark = pytest.mark.unit

SR = 48000


def sine(freq: float, amplitude: float, seconds: float = 5.0, sr: int = SR) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_k_weighting_reproduces_the_standards_48k_coefficients() -> None:
    (shelf_b, shelf_a), (hp_b, hp_a) = k_weighting(48000)
    assert shelf_b == pytest.approx((1.53512485958697, -2.69169618940638, 1.19839281085285), abs=1e-9)
    assert shelf_a == pytest.approx((1.0, -1.69065929318241, 0.73248077421585), abs=1e-9)
    assert hp_b == (1.0, -2.0, 1.0)
    assert hp_a == pytest.approx((1.0, -1.99004745483398, 0.99007225036621), abs=1e-9)


@pytest.mark.parametrize("amplitude", [1.0, 0.5, 0.1])
@pytest.mark.parametrize("sr", [48000, 44100])
def test_full_scale_997hz_sine_on_one_channel_reads_minus_3_01_lufs(amplitude: float, sr: int) -> None:
    # BS.1770: a 0 dBFS 997 Hz sine in one front channel measures -3.01 LKFS; level scales in dB
    measured = integrated_loudness(sine(997, amplitude, sr=sr), sr)
    assert measured == pytest.approx(-3.01 + 20 * np.log10(amplitude), abs=0.05)


def test_two_identical_channels_add_3_db_and_low_frequencies_are_weighted_down() -> None:
    mono = sine(997, 0.5)
    assert integrated_loudness(np.stack([mono, mono]), SR) - integrated_loudness(mono, SR) == pytest.approx(
        3.01, abs=0.02
    )
    assert integrated_loudness(sine(30, 0.5), SR) < integrated_loudness(sine(997, 0.5), SR) - 5


def test_gating_ignores_silence_and_silence_is_minus_infinity() -> None:
    tone = sine(997, 0.5, 3.0)
    with_gaps = np.concatenate([np.zeros(3 * SR, np.float32), tone, np.zeros(5 * SR, np.float32)])
    ungated = -9.03 + 10 * np.log10(3 / 11)  # the tone's power spread over the whole 11 s
    assert ungated < -14
    # only the blocks straddling the tone's edges (above the relative gate) pull it down a little
    assert integrated_loudness(with_gaps, SR) == pytest.approx(integrated_loudness(tone, SR), abs=0.6)
    assert integrated_loudness(np.zeros(SR, np.float32), SR) == float("-inf")
    assert integrated_loudness(np.ones(100, np.float32), SR) == float("-inf")  # shorter than one block


def test_normalize_reaches_target_and_keeps_peaks_under_the_ceiling() -> None:
    rng = np.random.default_rng(0)
    quiet = sine(440, 0.02, 4.0) + 0.002 * rng.standard_normal(4 * SR).astype(np.float32)
    quiet[SR : SR + 200] += 0.3  # a sharp transient the gain would push past full scale
    out, before, after = normalize_loudness(np.stack([quiet, quiet]), SR, target_lufs=-16.0)
    assert before < -30
    assert after == pytest.approx(-16.0, abs=0.5)
    assert integrated_loudness(out, SR) == pytest.approx(after, abs=1e-6)
    assert np.abs(out).max() <= 10 ** (-1 / 20) + 1e-4


def test_limiter_gain_is_smooth() -> None:
    x = sine(200, 0.5, 1.0)
    x[SR // 2 : SR // 2 + 10] = 1.0
    y = limit_peaks(x, SR, ceiling=0.5)
    assert np.abs(y).max() <= 0.5 + 1e-6
    loud = np.abs(x) > 0.05
    gain = np.divide(y, x, out=np.ones_like(x), where=loud)
    steps = np.abs(np.diff(gain))[loud[1:] & loud[:-1]]
    assert steps.max() < 0.01  # no gain jumps (clicks)
