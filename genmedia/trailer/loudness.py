"""Integrated loudness after ITU-R BS.1770 (K-weighting, 400 ms blocks, absolute and relative gates) in numpy.

The two K-weighting biquads (a high shelf near 1.7 kHz and a high-pass near 38 Hz) are derived for any
sample rate from their analogue prototypes by the bilinear transform; at 48 kHz they reproduce the
coefficients printed in the standard. Filtering is done in the frequency domain on the zero-padded
signal (the filters' impulse responses decay in a few thousand samples), so no per-sample Python loop.
"""

from __future__ import annotations

import math

import numpy as np

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
BLOCK_S = 0.4
STEP_S = 0.1
_TAIL_S = 1.0  # zero padding after the signal: the K-filters' impulse responses have died out long before

# Analogue prototypes of the two K-weighting stages (gain dB, Q, centre/cut-off Hz).
_SHELF_GAIN_DB, _SHELF_Q, _SHELF_HZ = 3.999843853973347, 0.7071752369554196, 1681.974450955533
_SHELF_VB_EXP = 0.4996667741545416
_HIGHPASS_Q, _HIGHPASS_HZ = 0.5003270373238773, 38.13547087602444

Biquad = tuple[tuple[float, float, float], tuple[float, float, float]]


def k_weighting(sample_rate: int) -> list[Biquad]:
    """The two K-weighting stages as ``((b0, b1, b2), (1, a1, a2))`` for ``sample_rate``."""
    k = math.tan(math.pi * _SHELF_HZ / sample_rate)
    vh = 10 ** (_SHELF_GAIN_DB / 20)
    vb = vh**_SHELF_VB_EXP
    a0 = 1 + k / _SHELF_Q + k * k
    shelf = (
        ((vh + vb * k / _SHELF_Q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / _SHELF_Q + k * k) / a0),
        (1.0, 2 * (k * k - 1) / a0, (1 - k / _SHELF_Q + k * k) / a0),
    )
    k = math.tan(math.pi * _HIGHPASS_HZ / sample_rate)
    a0 = 1 + k / _HIGHPASS_Q + k * k
    highpass = ((1.0, -2.0, 1.0), (1.0, 2 * (k * k - 1) / a0, (1 - k / _HIGHPASS_Q + k * k) / a0))
    return [shelf, highpass]


def _apply_filters(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """K-weight each row of ``x`` (channels, n) by multiplying spectra of the zero-padded signal."""
    n = x.shape[-1] + int(_TAIL_S * sample_rate)
    nfft = 1 << (n - 1).bit_length()
    z = np.exp(-1j * np.linspace(0.0, np.pi, nfft // 2 + 1))
    response = np.ones_like(z)
    for b, a in k_weighting(sample_rate):
        response *= (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    spectrum = np.fft.rfft(x, nfft, axis=-1) * response
    return np.fft.irfft(spectrum, nfft, axis=-1)[..., : x.shape[-1]]


def block_loudness(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Loudness (LUFS) of each 400 ms block, blocks every 100 ms; ``samples`` is ``(n,)`` or ``(channels, n)``.

    Channels are weighted 1 (front channels; surround weights are not used by genmedia's mono/stereo audio).
    """
    x = np.atleast_2d(np.asarray(samples, dtype=np.float64))
    block, step = round(BLOCK_S * sample_rate), round(STEP_S * sample_rate)
    if x.shape[-1] < block:
        return np.zeros(0)
    weighted = _apply_filters(x, sample_rate)
    power = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(weighted**2, axis=-1)], axis=-1)
    starts = np.arange(0, x.shape[-1] - block + 1, step)
    mean_square = (power[:, starts + block] - power[:, starts]) / block
    total = mean_square.sum(axis=0)
    with np.errstate(divide="ignore"):
        return -0.691 + 10 * np.log10(total)


def integrated_loudness(samples: np.ndarray, sample_rate: int) -> float:
    """Gated integrated loudness in LUFS (``-inf`` for silence or audio shorter than one 400 ms block)."""
    blocks = block_loudness(samples, sample_rate)
    kept = blocks[blocks > ABSOLUTE_GATE_LUFS]
    if kept.size == 0:
        return float("-inf")
    relative_gate = _power_mean_lufs(kept) + RELATIVE_GATE_LU
    kept = kept[kept > relative_gate]
    return _power_mean_lufs(kept)


def _power_mean_lufs(lufs: np.ndarray) -> float:
    """The loudness of the mean power of blocks given in LUFS."""
    return float(-0.691 + 10 * np.log10(np.mean(10 ** ((lufs + 0.691) / 10))))


def _moving_min(x: np.ndarray, width: int) -> np.ndarray:
    """Minimum of every ``width``-long window of ``x`` (``len(x) - width + 1`` values), in O(n).

    Van Herk / Gil-Werman: running minima forwards and backwards within blocks of ``width``; a window
    spans at most two blocks, so its minimum is the backward minimum at its start and the forward
    minimum at its end.
    """
    n = x.size
    blocks = -(-n // width)
    padded = np.concatenate([x, np.full(blocks * width - n, np.inf)]).reshape(blocks, width)
    forward = np.minimum.accumulate(padded, axis=1).reshape(-1)
    backward = np.minimum.accumulate(padded[:, ::-1], axis=1)[:, ::-1].reshape(-1)
    starts = np.arange(n - width + 1)
    return np.minimum(backward[starts], forward[starts + width - 1])


def limit_peaks(samples: np.ndarray, sample_rate: int, ceiling: float, release_s: float = 0.05) -> np.ndarray:
    """A look-ahead peak limiter: a smooth gain envelope that keeps ``|samples|`` at or under ``ceiling``.

    The gain needed at each sample is spread by a moving minimum over twice the release window and then
    smoothed with a raised-cosine kernel of the release window, so it never jumps (no clicks) and is
    always at or below the gain each peak needs.
    """
    x = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    peak = np.abs(x).max(axis=0)
    need = np.minimum(1.0, ceiling / np.maximum(peak, 1e-12))
    if need.min() >= 1.0:
        return x.reshape(np.shape(samples))
    half = max(1, round(release_s * sample_rate))
    padded = np.pad(need, 2 * half, mode="edge")
    # every sample within 2*half of a peak gets at most that peak's gain...
    spread = _moving_min(padded, 4 * half + 1)
    kernel = np.hanning(2 * half + 1)
    kernel /= kernel.sum()
    # ...so a smoothing window of +-half around a peak only averages gains at or below the peak's own
    gain = _convolve_valid(np.pad(spread, half, mode="edge"), kernel).astype(np.float32)
    return (x * gain).reshape(np.shape(samples))


def _convolve_valid(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``np.convolve(x, kernel, mode="valid")`` by FFT: a 0.1 s kernel over 30 s at 48 kHz is 3.5 G
    multiply-adds directly (~1.3 s), milliseconds this way."""
    n = len(x) + len(kernel) - 1
    size = 1 << (n - 1).bit_length()
    full = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(kernel, size), size)[:n]
    return full[len(kernel) - 1 : len(x)]


def normalize_loudness(
    samples: np.ndarray, sample_rate: int, target_lufs: float = -16.0, peak_ceiling_db: float = -1.0
) -> tuple[np.ndarray, float, float]:
    """Scale ``samples`` to ``target_lufs`` integrated, limiting peaks to ``peak_ceiling_db`` dBFS.

    Returns (normalised samples, loudness before, loudness after). Silence is returned unchanged.
    The limiter may take a little loudness off very peaky audio; one correction pass makes up most of it.
    """
    before = integrated_loudness(samples, sample_rate)
    if not math.isfinite(before):
        return np.asarray(samples, dtype=np.float32), before, before
    ceiling = 10 ** (peak_ceiling_db / 20)
    out = np.asarray(samples, dtype=np.float32)
    gain_db = target_lufs - before
    for _ in range(2):
        out = limit_peaks(
            np.asarray(samples, dtype=np.float32) * np.float32(10 ** (gain_db / 20)), sample_rate, ceiling
        )
        after = integrated_loudness(out, sample_rate)
        if abs(after - target_lufs) < 0.2:
            break
        gain_db += min(target_lufs - after, 6.0)
    return out, before, integrated_loudness(out, sample_rate)
