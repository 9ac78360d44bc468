"""Audio features from a stream of mono samples: loudness, peaks, onsets, tempo and beat times.

Everything comes from one short-time Fourier transform (32 ms Hann windows every 10 ms), fed chunk by
chunk so memory does not grow with the audio's length beyond the 100-per-second curves:

* **Loudness**: momentary loudness (400 ms windows every 100 ms) in LUFS-like units, K-weighted in the
  frequency domain with the ITU-R BS.1770 filter's magnitude response; integrated loudness gated as in
  BS.1770 (-70 LUFS absolute, -10 LU relative); plain RMS in dBFS beside it.
* **Peaks**: moments whose momentary loudness is the highest within a second either side and at least
  6 LU above the median momentary loudness (the usual level of this track).
* **Onsets**: peaks of the spectral flux (rise of log magnitude, summed over frequencies).
* **Tempo and beats**: the onset curve's autocorrelation, weighted towards 120 BPM, gives the beat
  period; a dynamic-programming beat tracker (Ellis, 2007) places beats on onsets at that period; the
  tempo reported is the slope of a line through the beat times.
* **Pitch**: each window's autocorrelation (the inverse FFT of its power spectrum, divided by the Hann
  window's own autocorrelation as in Boersma, 1993) peaks at the period of a voiced or pitched sound;
  windows whose peak (65-1000 Hz) reaches :data:`VOICING` are voiced. The curve keeps the median
  fundamental of each 100 ms step's voiced windows (NaN where none); speech and music both produce one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 512
HOP = 160
FRAME_RATE = SAMPLE_RATE / HOP  # onset-curve frames per second (100)
LOUDNESS_STEP = 10  # STFT frames per loudness value (100 ms)
LOUDNESS_WINDOW = 40  # STFT frames per momentary-loudness window (400 ms)
SILENCE_DB = -120.0
PEAK_LU = 6.0
"""A peak is at least this much louder than the median momentary loudness."""
PITCH_HZ = (65.0, 1000.0)
"""Fundamental frequencies searched for (low male voice to soprano / lead instruments)."""
VOICING = 0.6
"""Normalised autocorrelation a window's pitch peak needs to count as voiced."""
VOICED_DBFS = -55.0
"""Quieter windows are never voiced (room noise has no pitch worth reporting)."""


def k_weighting(freqs: np.ndarray, sample_rate: int = 48000) -> np.ndarray:
    """Power response |H(f)|^2 of the BS.1770 K-weighting filter (high shelf then high pass) at ``freqs``."""
    z = np.exp(-2j * np.pi * freqs / sample_rate)
    shelf_b = np.array([1.53512485958697, -2.69169618940638, 1.19839281085285])
    shelf_a = np.array([1.0, -1.69065929318241, 0.73248077421585])
    hp_b = np.array([1.0, -2.0, 1.0])
    hp_a = np.array([1.0, -1.99004745483398, 0.99007225036621])

    def response(b: np.ndarray, a: np.ndarray) -> np.ndarray:
        return (b[0] + b[1] * z + b[2] * z**2) / (a[0] + a[1] * z + a[2] * z**2)

    # The coefficients are specified at 48 kHz; evaluating them there at the same frequency gives the
    # analogue-prototype response, which holds at any rate below 48 kHz.
    return np.abs(response(shelf_b, shelf_a) * response(hp_b, hp_a)) ** 2


@dataclass
class AudioFeatures:
    """What :func:`analyse_audio` finds; times in seconds from the first sample."""

    sample_rate: int
    duration: float
    loudness_times: np.ndarray
    loudness: np.ndarray
    """Momentary loudness (LUFS-like) every 100 ms."""
    rms_db: np.ndarray
    """RMS level (dBFS) of each 100 ms step."""
    integrated_loudness: float
    peaks: list[dict[str, float]]
    onsets: np.ndarray
    tempo: float | None
    beat_times: np.ndarray
    onset_envelope: np.ndarray = field(repr=False)
    pitch_hz: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Median fundamental (Hz) of the voiced windows of each 100 ms step (NaN: none voiced)."""

    def to_json(self) -> dict[str, object]:
        """The JSON written as ``audio.json`` (curves rounded to 0.01 dB / 1 ms)."""
        return {
            "has_audio": True,
            "sample_rate": self.sample_rate,
            "duration": round(self.duration, 3),
            "integrated_loudness": round(self.integrated_loudness, 2),
            "loudness": {
                "step": LOUDNESS_STEP / FRAME_RATE,
                "window": LOUDNESS_WINDOW / FRAME_RATE,
                "times": np.round(self.loudness_times, 3).tolist(),
                "momentary_lufs": np.round(self.loudness, 2).tolist(),
                "rms_dbfs": np.round(self.rms_db, 2).tolist(),
            },
            "peaks": self.peaks,
            "onsets": np.round(self.onsets, 3).tolist(),
            "tempo": round(self.tempo, 3) if self.tempo else None,
            "beat_times": np.round(self.beat_times, 3).tolist(),
            "pitch": {
                "step": LOUDNESS_STEP / FRAME_RATE,
                "f0_hz": [None if np.isnan(f) else round(float(f), 1) for f in self.pitch_hz],
            },
        }

    def loudness_at(self, times: np.ndarray) -> np.ndarray:
        """Momentary loudness interpolated at ``times``."""
        if self.loudness.size == 0:
            return np.full(len(times), np.nan)
        return np.interp(times, self.loudness_times, self.loudness)


class _Spectrogram:
    """A streaming STFT: feed sample chunks, collect K-weighted power, plain power and spectral flux per frame."""

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self.window = np.hanning(N_FFT).astype(np.float32)
        freqs = np.fft.rfftfreq(N_FFT, 1 / sample_rate)
        scale = np.full(len(freqs), 2.0)
        scale[0] = scale[-1] = 1.0  # one-sided spectrum: every bin but DC and Nyquist counts twice
        self.norm = scale / (N_FFT * float((self.window**2).sum()))
        self.kw = k_weighting(freqs).astype(np.float32)
        window_ac = np.fft.irfft(np.abs(np.fft.rfft(self.window, 2 * N_FFT)) ** 2)[:N_FFT]
        self.lags = np.arange(int(sample_rate / PITCH_HZ[1]), min(N_FFT // 2, int(sample_rate / PITCH_HZ[0]) + 1))
        self.window_ac = (window_ac[self.lags] / window_ac[0]).astype(np.float32)
        self.tail = np.zeros(N_FFT // 2, np.float32)  # centre the first window on sample 0
        self.prev_log: np.ndarray | None = None
        self.k_power: list[np.ndarray] = []
        self.power: list[np.ndarray] = []
        self.flux: list[np.ndarray] = []
        self.f0: list[np.ndarray] = []
        self.samples = 0

    def feed(self, chunk: np.ndarray) -> None:
        self.samples += len(chunk)
        buf = np.concatenate([self.tail, chunk.astype(np.float32)])
        count = 0 if len(buf) < N_FFT else 1 + (len(buf) - N_FFT) // HOP
        if count == 0:
            self.tail = buf
            return
        frames = np.lib.stride_tricks.sliding_window_view(buf, N_FFT)[::HOP][:count]
        spec = np.abs(np.fft.rfft(frames * self.window, axis=1)) ** 2
        self.k_power.append(spec @ (self.kw * self.norm))
        power = spec @ self.norm
        self.power.append(power)
        self.f0.append(self._pitch(np.abs(np.fft.rfft(frames * self.window, n=2 * N_FFT, axis=1)) ** 2, power))
        log_mag = np.log1p(1000.0 * np.sqrt(spec))
        prev = log_mag[:1] if self.prev_log is None else self.prev_log
        diff = np.diff(np.concatenate([prev, log_mag]), axis=0)
        self.flux.append(np.maximum(diff, 0).mean(axis=1))
        self.prev_log = log_mag[-1:]
        self.tail = buf[count * HOP :]

    def _pitch(self, padded_power: np.ndarray, mean_square: np.ndarray) -> np.ndarray:
        """Fundamental (Hz) of each window from its zero-padded power spectrum (no circular wrap); NaN: unvoiced."""
        ac = np.fft.irfft(padded_power, axis=1)[:, :N_FFT]
        energy = ac[:, :1]
        r = ac[:, self.lags] / np.maximum(energy, 1e-20) / self.window_ac
        best = r.max(axis=1)
        peak = np.zeros_like(r, dtype=bool)
        peak[:, 1:-1] = (r[:, 1:-1] >= r[:, :-2]) & (r[:, 1:-1] > r[:, 2:])
        # the shortest-lag peak within 90% of the best one: the period, not a multiple of it (octave errors)
        first = np.argmax(peak & (r >= 0.9 * best[:, None]), axis=1)
        rows = np.arange(len(r))
        a, b, c = r[rows, np.maximum(first - 1, 0)], r[rows, first], r[rows, np.minimum(first + 1, r.shape[1] - 1)]
        denom = a - 2 * b + c
        shift = np.where(denom < 0, 0.5 * (a - c) / np.where(denom < 0, denom, -1.0), 0.0)  # parabolic refinement
        voiced = (best >= VOICING) & (_db(mean_square) > VOICED_DBFS) & peak[rows, first]
        return np.where(voiced, self.sample_rate / (self.lags[first] + shift), np.nan).astype(np.float32)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.float32)  # noqa: E731
        return cat(self.k_power), cat(self.power), cat(self.flux), cat(self.f0)


def _db(power: np.ndarray, offset: float = 0.0) -> np.ndarray:
    return np.where(power > 0, offset + 10 * np.log10(np.maximum(power, 1e-30)), SILENCE_DB)


def _moving_mean(x: np.ndarray, width: int) -> np.ndarray:
    if x.size == 0:
        return x
    kernel = np.ones(width) / width
    return np.convolve(np.pad(x, (width // 2, width - 1 - width // 2), mode="edge"), kernel, mode="valid")


def integrated_loudness(block_power: np.ndarray) -> float:
    """BS.1770 gated loudness from the K-weighted mean squares of 400 ms blocks."""
    lufs = _db(block_power, -0.691)
    gated = block_power[lufs > -70.0]
    if gated.size == 0:
        return SILENCE_DB
    relative = -0.691 + 10 * np.log10(gated.mean()) - 10.0
    gated = gated[_db(gated, -0.691) > relative]
    return float(-0.691 + 10 * np.log10(gated.mean())) if gated.size else SILENCE_DB


def _local_maxima(x: np.ndarray, half: int) -> np.ndarray:
    """Indices where ``x`` is the maximum of ``[i - half, i + half]`` (first of equal values)."""
    if x.size == 0:
        return np.zeros(0, int)
    padded = np.pad(x, half, mode="constant", constant_values=-np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    return np.flatnonzero(windows.argmax(axis=1) == half)


def onset_times(envelope: np.ndarray) -> np.ndarray:
    """Onsets (s): peaks of the onset curve above its local mean plus a margin, at least 50 ms apart."""
    if envelope.size < 3:
        return np.zeros(0)
    peaks = _local_maxima(envelope, 3)
    local = _moving_mean(envelope, 21)
    margin = 0.1 * float(envelope.max() - np.median(envelope))
    peaks = peaks[envelope[peaks] > local[peaks] + margin]
    kept: list[int] = []
    for p in peaks:
        if not kept or p - kept[-1] >= 5:
            kept.append(int(p))
    return np.asarray(kept, float) / FRAME_RATE


def tempo_period(envelope: np.ndarray, bpm_range: tuple[float, float] = (40.0, 240.0)) -> float | None:
    """The beat period in onset frames (fractional), from the autocorrelation weighted towards 120 BPM."""
    x = envelope - envelope.mean()
    if x.size < 4 * FRAME_RATE or not np.any(x):
        return None
    ac = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * x.size)) ** 2)[: x.size]
    ac /= ac[0]
    lags = np.arange(x.size, dtype=float)
    lo, hi = int(FRAME_RATE * 60 / bpm_range[1]), min(x.size - 2, int(FRAME_RATE * 60 / bpm_range[0]))
    bpm = 60 * FRAME_RATE / np.maximum(lags, 1)
    prior = np.exp(-0.5 * (np.log2(bpm / 120.0) / 1.0) ** 2)
    weighted = ac * prior
    best = lo + int(np.argmax(weighted[lo : hi + 1]))
    if 0 < best < x.size - 1:  # parabolic interpolation around the peak of the raw autocorrelation
        a, b, c = ac[best - 1], ac[best], ac[best + 1]
        denom = a - 2 * b + c
        return float(best + (0.5 * (a - c) / denom if denom < 0 else 0.0))
    return float(best)


def track_beats(envelope: np.ndarray, period: float, tightness: float = 400.0) -> np.ndarray:
    """Beat positions (onset frames) by dynamic programming: onsets rewarded, tempo drift penalised."""
    n = envelope.size
    env = envelope / max(float(envelope.std()), 1e-9)
    score = env.copy()
    back = np.full(n, -1)
    lo_off, hi_off = max(1, int(round(period / 2))), int(round(2 * period))
    for t in range(lo_off, n):
        prev = np.arange(max(0, t - hi_off), t - lo_off + 1)
        if prev.size == 0:
            continue
        cand = score[prev] - tightness * np.log((t - prev) / period) ** 2
        k = int(np.argmax(cand))
        if cand[k] > 0:
            score[t] += cand[k]
            back[t] = prev[k]
    tail = np.arange(max(0, n - int(round(period))), n)
    t = int(tail[np.argmax(score[tail])])
    beats = [t]
    while back[t] >= 0:
        t = int(back[t])
        beats.append(t)
    beats = np.asarray(beats[::-1])
    # Drop leading/trailing beats that sit on nothing (before the music starts or after it stops).
    strong = env[beats] > 0.5 * np.median(env[beats])
    if strong.any():
        first, last = np.flatnonzero(strong)[[0, -1]]
        beats = beats[first : last + 1]
    return beats


def _step_medians(f0: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Median of the voiced (finite) values of ``f0`` in each step starting at ``steps`` (NaN: none)."""
    out = np.full(len(steps), np.nan)
    for k, (a, b) in enumerate(zip(steps, np.append(steps[1:], len(f0)), strict=True)):
        voiced = f0[a:b][np.isfinite(f0[a:b])]
        if voiced.size:
            out[k] = float(np.median(voiced))
    return out


def analyse_audio(chunks: Iterable[np.ndarray], sample_rate: int = SAMPLE_RATE) -> AudioFeatures:
    """Analyse mono float32 chunks (e.g. :func:`genmedia.media.audio.iter_audio` at ``sample_rate``)."""
    spec = _Spectrogram(sample_rate)
    for chunk in chunks:
        spec.feed(np.asarray(chunk, np.float32))
    k_power, power, flux, f0 = spec.arrays()
    duration = spec.samples / sample_rate
    block = _moving_mean(k_power, LOUDNESS_WINDOW) if k_power.size else k_power
    steps = np.arange(0, len(k_power), LOUDNESS_STEP)
    loudness = _db(block[steps], -0.691) if steps.size else np.zeros(0)
    rms = _db(np.add.reduceat(power, steps) / np.diff(np.append(steps, len(power)))) if steps.size else np.zeros(0)
    times = steps / FRAME_RATE
    integrated = integrated_loudness(block[steps]) if steps.size else SILENCE_DB
    peak_idx = _local_maxima(loudness, int(FRAME_RATE / LOUDNESS_STEP))
    typical = float(np.median(loudness)) if loudness.size else SILENCE_DB
    peaks = [
        {"time": round(float(times[i]), 3), "loudness": round(float(loudness[i]), 2)}
        for i in peak_idx
        if loudness[i] >= typical + PEAK_LU and loudness[i] > -70.0
    ]
    envelope = flux - _moving_mean(flux, int(FRAME_RATE)) if flux.size else flux
    envelope = np.maximum(envelope, 0)
    period = tempo_period(envelope)
    tempo, beat_times = None, np.zeros(0)
    if period:
        beats = track_beats(envelope, period)
        beat_times = beats / FRAME_RATE
        if beats.size >= 4:
            slope = np.polyfit(np.arange(beats.size), beat_times, 1)[0]
            tempo = float(60.0 / slope)
        else:
            tempo = float(60 * FRAME_RATE / period)
    return AudioFeatures(
        pitch_hz=_step_medians(f0, steps),
        sample_rate=sample_rate,
        duration=duration,
        loudness_times=times,
        loudness=loudness,
        rms_db=rms,
        integrated_loudness=integrated,
        peaks=peaks,
        onsets=onset_times(envelope),
        tempo=tempo,
        beat_times=beat_times,
        onset_envelope=envelope,
    )
