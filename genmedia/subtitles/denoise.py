"""Noise reduction before ASR: spectral gating.

The noise floor of each frequency bin is estimated from the quietest frames of the chunk (mean and
spread of their level in dB); time-frequency cells not clearly above it are attenuated, through a
mask softened over ~50 ms and a few bins (never below the cells that pass) so the gating does not add
musical noise. Clean input (quiet moments below -60 dBFS) is returned untouched.
"""

from __future__ import annotations

import numpy as np

N_FFT = 512
HOP = 128


def _frames(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    pad = n_fft // 2
    padded = np.pad(audio.astype(np.float32), (pad, pad + (-(audio.size) % hop)), mode="constant")
    count = 1 + (padded.size - n_fft) // hop
    return np.lib.stride_tricks.as_strided(padded, (count, n_fft), (padded.strides[0] * hop, padded.strides[0]))


def _smooth(mask: np.ndarray, t: int, f: int) -> np.ndarray:
    """Box-average ``mask`` over ``t`` frames and ``f`` bins (cumulative sums, same shape)."""
    for axis, width in ((0, t), (1, f)):
        if width <= 1:
            continue
        pad = [(0, 0), (0, 0)]
        pad[axis] = (width // 2, width - 1 - width // 2)
        m = np.pad(mask, pad, mode="edge")
        c = np.cumsum(m, axis=axis, dtype=np.float64)
        c = np.concatenate([np.zeros_like(np.take(c, [0], axis=axis)), c], axis=axis)
        n = mask.shape[axis]
        mask = (np.take(c, np.arange(width, width + n), axis=axis) - np.take(c, np.arange(n), axis=axis)) / width
    return mask


def spectral_gate(
    audio: np.ndarray,
    sample_rate: int = 16000,
    *,
    n_std: float = 1.5,
    reduction: float = 0.9,
    quiet_fraction: float = 0.1,
    min_noise_db: float = -60.0,
) -> np.ndarray:
    """``audio`` with stationary background noise attenuated (same length, float32).

    ``n_std``: how far above the noise floor (in standard deviations of its dB level) a cell must be
    to pass; ``reduction``: how much of a gated cell is removed (0.9 = -20 dB); ``quiet_fraction``:
    the share of frames (the quietest) the noise floor is estimated from; ``min_noise_db``: below this
    level (dBFS) of those frames there is no noise to remove and the audio is returned unchanged (so
    clean recordings are transcribed exactly as without noise reduction).
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.size < N_FFT:
        return audio.copy()
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    spec = np.fft.rfft(_frames(audio, N_FFT, HOP) * window, axis=1)
    db = 20 * np.log10(np.abs(spec) + 1e-10)
    energy = db.mean(axis=1)
    quiet_frames = energy <= np.quantile(energy, quiet_fraction)
    noise_level = 10 * np.log10(np.mean(np.square(_frames(audio, N_FFT, HOP)[quiet_frames], dtype=np.float64)) + 1e-12)
    if noise_level < min_noise_db:  # no measurable background noise: leave the audio exactly as it is
        return audio.copy()
    quiet = db[quiet_frames]
    threshold = quiet.mean(axis=0) + n_std * quiet.std(axis=0)
    passed = (db > threshold).astype(np.float32)
    # Smoothing spreads the mask into neighbouring cells (soft edges, no musical noise) but never lowers
    # it where the signal itself is: narrow-band sounds (a voice's harmonics) keep their full level.
    mask = np.maximum(_smooth(passed, t=max(1, round(0.05 * sample_rate / HOP)), f=5), passed)
    spec *= 1.0 - reduction * (1.0 - mask)
    frames = np.fft.irfft(spec, n=N_FFT, axis=1).astype(np.float32) * window
    out = np.zeros(HOP * (len(frames) - 1) + N_FFT, dtype=np.float32)
    norm = np.zeros_like(out)
    for i in range(N_FFT // HOP):  # overlap-add, HOP-strided groups at a time (vectorised per group)
        group = frames[i :: N_FFT // HOP]
        starts = (np.arange(i, len(frames), N_FFT // HOP)) * HOP
        idx = starts[:, None] + np.arange(N_FFT)
        np.add.at(out, idx.ravel(), group.ravel())
        np.add.at(norm, idx.ravel(), np.tile(window**2, len(group)))
    out /= np.maximum(norm, 1e-8)
    pad = N_FFT // 2
    return out[pad : pad + audio.size]
