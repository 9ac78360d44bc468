"""Speaker diarization: who speaks when, with an automatic number of speakers.

1. Speech regions: 10 ms loudness above an adaptive floor, short gaps bridged, short blips dropped.
2. A voice embedding for each ~1.5 s window of speech: mean and spread of 19 MFCCs (log-mel cepstra
   without the energy term) plus the window's median pitch, which together separate voices well.
3. Average-linkage agglomerative clustering on cosine distance of the standardised embeddings; the
   dendrogram cut with the best silhouette proposes the speakers.
4. The number of speakers is then settled in absolute terms by the Bayesian information criterion on
   the MFCC frames (one full-covariance Gaussian per speaker): two clusters whose frames are better
   explained by one Gaussian (delta-BIC < 0) are one speaker. The same test matches a speaker against
   the voiceprint library (:mod:`genmedia.subtitles.voiceprints`), from stored sufficient statistics.
5. Each speech region takes the majority label of its windows (a region with a clear change inside
   is split at the change), giving speaker turns.

Two embedding backends, named in the features and the result (``backend``):

* ``resemblyzer-ge2e`` (default when ``models.speaker_embedder`` is staged): unit d-vectors of 1.6 s windows
  from the pretrained GE2E network (:mod:`genmedia.subtitles.speaker_embedding`); average-linkage
  clustering on cosine distance stops at an absolute distance (:data:`DVECTOR_MERGE_DISTANCE`), so the
  number of speakers does not grow with the length of the input; clusters with less than
  :data:`MIN_SPEAKER_S` of speech join their nearest. Voiceprints are the speakers' mean d-vectors.
* ``mfcc`` (fallback without the weights): steps 2-4 above.

In both, a word is labelled with the speaker whose turns cover most of it, so a word spoken during
overlapping speech goes to the voice that dominates the windows around it.

Features are computed per chunk (:func:`describe`, in parallel workers, bounded memory); clustering
(:func:`cluster`) runs once over all chunks' windows.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from genmedia.subtitles.chunking import HOP_S, loudness_db

if TYPE_CHECKING:
    from genmedia.subtitles.speaker_embedding import SpeakerEmbedder

SAMPLE_RATE = 16000
N_MFCC = 20
WINDOW_S = 1.5
STEP_S = 0.75
MIN_SPEAKER_S = 3.0
"""Less speech than this in a cluster is too little to call it a separate voice."""
MAX_ITEMS = 400
"""Windows clustered at most; longer inputs merge neighbouring windows."""
MFCC = "mfcc"
DVECTOR_WINDOW_S = 1.6
DVECTOR_STEP_S = 0.8
DVECTOR_MERGE_DISTANCE = 0.45
"""Average-linkage cosine distance of d-vector clusters above which they are different speakers."""


@dataclass
class Turn:
    """A stretch of speech by one speaker."""

    start: float
    end: float
    speaker: int


@dataclass
class Diarization:
    """Turns, plus each speaker's voiceprint for matching across files: MFCC frame statistics
    (:class:`Gaussian`) with the ``mfcc`` backend, the mean unit d-vector (:class:`DVector`) otherwise."""

    turns: list[Turn]
    voiceprints: dict[int, Gaussian | DVector] = field(default_factory=dict)
    silhouette: float = 0.0
    backend: str = MFCC

    @property
    def speakers(self) -> list[int]:
        """Speaker ids in order of first appearance."""
        seen: list[int] = []
        for t in self.turns:
            if t.speaker not in seen:
                seen.append(t.speaker)
        return seen

    def speaker_at(self, start: float, end: float) -> int | None:
        """The speaker who talks most during [start, end], or the nearest turn's speaker."""
        if not self.turns:
            return None
        overlap: dict[int, float] = {}
        for t in self.turns:
            o = min(end, t.end) - max(start, t.start)
            if o > 0:
                overlap[t.speaker] = overlap.get(t.speaker, 0.0) + o
        if overlap:
            return max(overlap, key=lambda s: overlap[s])
        mid = (start + end) / 2
        return min(self.turns, key=lambda t: min(abs(mid - t.start), abs(mid - t.end))).speaker


# ------------------------------------------------------------------------------- speech regions


def speech_regions(
    audio: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    *,
    min_gap: float = 0.3,
    min_speech: float = 0.2,
    margin_db: float = 15.0,
) -> list[tuple[float, float]]:
    """(start, end) seconds of speech: loudness above the floor by ``margin_db`` (and above -55 dBFS)."""
    levels = loudness_db(audio, sample_rate)
    if levels.size == 0:
        return []
    floor = float(np.percentile(levels, 5))
    threshold = max(-55.0, min(floor + margin_db, float(levels.max()) - 20))
    active = levels > threshold
    regions: list[list[int]] = []
    for i in np.flatnonzero(np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))):
        if not regions or len(regions[-1]) == 2:
            regions.append([int(i)])
        else:
            regions[-1].append(int(i))
    merged: list[list[int]] = []
    for s, e in regions:
        if merged and (s - merged[-1][1]) * HOP_S < min_gap:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    return [(s * HOP_S, e * HOP_S) for s, e in merged if (e - s) * HOP_S >= min_speech]


# ---------------------------------------------------------------------------------- embeddings


def _mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return 2595 * np.log10(1 + f / 700)

    mels = np.linspace(hz_to_mel(np.array(60.0)), hz_to_mel(np.array(sample_rate / 2 - 200)), n_mels + 2)
    hz = 700 * (10 ** (mels / 2595) - 1)
    bins = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    bank = np.zeros((n_mels, bins.size), dtype=np.float32)
    for m in range(n_mels):
        lo, mid, hi = hz[m], hz[m + 1], hz[m + 2]
        bank[m] = np.clip(np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)), 0, None)
    return bank


def mfcc(
    audio: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    *,
    n_mfcc: int = N_MFCC,
    n_mels: int = 40,
    win_s: float = 0.025,
    hop_s: float = HOP_S,
) -> np.ndarray:
    """MFCCs, shape (frames, n_mfcc): 25 ms Hamming frames every 10 ms, log-mel energies, DCT-II."""
    win, hop, n_fft = round(win_s * sample_rate), round(hop_s * sample_rate), 512
    if audio.size < win:
        return np.zeros((0, n_mfcc), dtype=np.float32)
    emphasised = np.append(audio[0], audio[1:] - 0.97 * audio[:-1]).astype(np.float32)
    count = 1 + (emphasised.size - win) // hop
    frames = np.lib.stride_tricks.as_strided(
        emphasised, (count, win), (emphasised.strides[0] * hop, emphasised.strides[0])
    )
    power = np.abs(np.fft.rfft(frames * np.hamming(win).astype(np.float32), n=n_fft, axis=1)) ** 2
    logmel = np.log(power @ _mel_filterbank(sample_rate, n_fft, n_mels).T + 1e-10)
    k = np.arange(n_mels)
    dct = np.cos(np.pi / n_mels * (k[None, :] + 0.5) * np.arange(n_mfcc)[:, None])
    return (logmel @ dct.T).astype(np.float32)


PITCH_FRAME_S = 0.04


def pitch_track(
    audio: np.ndarray, sample_rate: int = SAMPLE_RATE, fmin: float = 60.0, fmax: float = 400.0
) -> np.ndarray:
    """Fundamental frequency (Hz) of each 40 ms frame by normalised autocorrelation; 0 where unvoiced."""
    size = round(PITCH_FRAME_S * sample_rate)
    count = audio.size // size
    if count == 0:
        return np.zeros(0, dtype=np.float32)
    frames = audio[: count * size].reshape(count, size).astype(np.float64)
    frames -= frames.mean(axis=1, keepdims=True)
    ac = np.fft.irfft(np.abs(np.fft.rfft(frames, n=2 * size, axis=1)) ** 2, axis=1)[:, :size]
    lo, hi = int(sample_rate / fmax), min(int(sample_rate / fmin), size - 1)
    lag = lo + np.argmax(ac[:, lo:hi], axis=1)
    strength = ac[np.arange(count), lag] / np.maximum(ac[:, 0], 1e-12)
    return np.where((ac[:, 0] > 0) & (strength > 0.4), sample_rate / lag, 0.0).astype(np.float32)


def embedding(cepstra: np.ndarray, f0: np.ndarray) -> np.ndarray:
    """A voice embedding of a stretch of speech from its MFCCs 1..19 (frames) and pitch track: the
    cepstra's means and standard deviations, and the log of the median voiced pitch."""
    voiced = f0[f0 > 0]
    log_f0 = np.log(np.median(voiced)) if voiced.size else np.log(150.0)
    return np.concatenate([cepstra.mean(axis=0), cepstra.std(axis=0), [4 * log_f0]]).astype(np.float32)


def _windows(
    regions: list[tuple[float, float]], step: float = STEP_S, window: float = WINDOW_S
) -> list[tuple[float, float]]:
    width = max(window, step)
    out = []
    for s, e in regions:
        if e - s <= width:
            out.append((s, e))
            continue
        t = s
        while t + width < e:
            out.append((t, t + width))
            t += step
        out.append((max(s, e - width), e))
    return out


# --------------------------------------------------------------------------------- clustering


def _cosine_distances(x: np.ndarray) -> np.ndarray:
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)
    return np.clip(1 - unit @ unit.T, 0, 2)


def agglomerate(dist: np.ndarray, max_clusters: int) -> dict[int, np.ndarray]:
    """Average-linkage clustering: labels for every cluster count from ``max_clusters`` down to 1."""
    n = dist.shape[0]
    d = dist.astype(np.float64).copy()
    np.fill_diagonal(d, np.inf)
    sizes = np.ones(n)
    members = {i: [i] for i in range(n)}
    cuts: dict[int, np.ndarray] = {}

    def snapshot() -> np.ndarray:
        labels = np.empty(n, dtype=int)
        for k, (_, idx) in enumerate(sorted(members.items(), key=lambda kv: min(kv[1]))):
            labels[idx] = k
        return labels

    if n <= max_clusters:
        cuts[n] = snapshot()
    while len(members) > 1:
        i, j = np.unravel_index(np.argmin(d), d.shape)
        i, j = min(i, j), max(i, j)
        merged = (sizes[i] * d[i] + sizes[j] * d[j]) / (sizes[i] + sizes[j])
        d[i], d[:, i] = merged, merged
        d[i, i] = np.inf
        d[j], d[:, j] = np.inf, np.inf
        sizes[i] += sizes[j]
        members[i] += members.pop(j)
        if len(members) <= max_clusters:
            cuts[len(members)] = snapshot()
    return cuts


def silhouette(dist: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette coefficient of a clustering (0 for a single cluster)."""
    ids = np.unique(labels)
    if ids.size < 2:
        return 0.0
    per_cluster = np.stack([dist[:, labels == c].mean(axis=1) for c in ids], axis=1)  # includes self (0) in own
    counts = np.array([(labels == c).sum() for c in ids])
    own = np.searchsorted(ids, labels)
    a = per_cluster[np.arange(len(labels)), own] * counts[own] / np.maximum(counts[own] - 1, 1)
    per_cluster[np.arange(len(labels)), own] = np.inf
    b = per_cluster.min(axis=1)
    s = (b - a) / np.maximum(np.maximum(a, b), 1e-9)
    s[counts[own] == 1] = 0.0
    return float(s.mean())


@dataclass
class Gaussian:
    """Sufficient statistics of MFCC frames: count, sum, sum of outer products."""

    n: float
    s1: np.ndarray
    s2: np.ndarray

    @classmethod
    def of(cls, frames: np.ndarray) -> Gaussian:
        f = frames.astype(np.float64)
        return cls(float(len(f)), f.sum(axis=0), f.T @ f)

    def __add__(self, other: Gaussian) -> Gaussian:
        return Gaussian(self.n + other.n, self.s1 + other.s1, self.s2 + other.s2)

    def capped(self, n: float) -> Gaussian:
        """The same mean and covariance as if from at most ``n`` frames."""
        k = min(1.0, n / max(self.n, 1.0))
        return Gaussian(self.n * k, self.s1 * k, self.s2 * k)

    def logdet(self) -> float:
        mean = self.s1 / self.n
        cov = self.s2 / self.n - np.outer(mean, mean)
        return float(np.linalg.slogdet(cov + 1e-6 * np.eye(len(mean)))[1])

    def to_dict(self) -> dict:
        return {"n": self.n, "s1": self.s1.tolist(), "s2": self.s2.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Gaussian:
        return cls(float(d["n"]), np.asarray(d["s1"], dtype=np.float64), np.asarray(d["s2"], dtype=np.float64))


@dataclass
class DVector:
    """A voice as the sum of its windows' unit d-vectors and their count (the mean's direction is the voice)."""

    n: float
    total: np.ndarray

    @property
    def unit(self) -> np.ndarray:
        """The mean direction, unit length."""
        return self.total / max(float(np.linalg.norm(self.total)), 1e-12)

    def __add__(self, other: DVector) -> DVector:
        return DVector(self.n + other.n, self.total + other.total)

    def capped(self, n: float) -> DVector:
        """The same direction as if from at most ``n`` windows."""
        k = min(1.0, n / max(self.n, 1.0))
        return DVector(self.n * k, self.total * k)

    def similarity(self, other: DVector) -> float:
        """Cosine similarity of the two voices' mean directions."""
        return float(self.unit @ other.unit)

    def to_dict(self) -> dict:
        return {"n": self.n, "total": self.total.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> DVector:
        return cls(float(d["n"]), np.asarray(d["total"], dtype=np.float64))


BIC_FRAMES = 3000
"""Clusters are compared as at most 30 s of speech each: with hours of one voice, small differences in
what was said would otherwise outweigh the penalty and split that voice."""
BIC_PENALTY = 1.3
"""lambda of the BIC penalty; above the textbook 1.0 so that one voice saying different things stays one."""


def delta_bic(a: Gaussian, b: Gaussian, penalty: float = BIC_PENALTY) -> float:
    """How much better two Gaussians explain the frames than one (> 0: two different speakers)."""
    both = a + b
    d = len(a.s1)
    gain = 0.5 * (both.n * both.logdet() - a.n * a.logdet() - b.n * b.logdet())
    return gain - penalty * 0.5 * (d + d * (d + 1) / 2) * np.log(both.n)


@dataclass
class SpeechFeatures:
    """What clustering needs from a stretch of audio: speech regions, windows, embeddings, frame statistics."""

    regions: list[tuple[float, float]]
    windows: list[tuple[float, float]]
    embeddings: np.ndarray
    stats: list[Gaussian]
    """MFCC frame statistics per window (``mfcc`` backend only; empty for d-vectors)."""
    backend: str = MFCC

    @classmethod
    def empty(cls, backend: str = MFCC) -> SpeechFeatures:
        return cls([], [], np.zeros((0, 2 * (N_MFCC - 1) + 1), dtype=np.float32), [], backend)

    @classmethod
    def join(cls, parts: list[SpeechFeatures]) -> SpeechFeatures:
        parts = [p for p in parts if p.windows]
        if not parts:
            return cls.empty()
        if len({p.backend for p in parts}) > 1:
            raise ValueError(f"speech features from different backends: {sorted({p.backend for p in parts})}")
        return cls(
            [r for p in parts for r in p.regions],
            [w for p in parts for w in p.windows],
            np.concatenate([p.embeddings for p in parts]),
            [g for p in parts for g in p.stats],
            parts[0].backend,
        )

    def to_dict(self) -> dict:
        return {
            "regions": self.regions,
            "windows": self.windows,
            "embeddings": self.embeddings.tolist(),
            "stats": [g.to_dict() for g in self.stats],
            "backend": self.backend,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SpeechFeatures:
        backend = d.get("backend", MFCC)
        if not d["windows"]:
            return cls.empty(backend)
        return cls(
            [tuple(r) for r in d["regions"]],
            [tuple(w) for w in d["windows"]],
            np.asarray(d["embeddings"], dtype=np.float32),
            [Gaussian.from_dict(g) for g in d["stats"]],
            backend,
        )


def describe(
    audio: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    *,
    offset: float = 0.0,
    step_s: float = STEP_S,
    embedder: SpeakerEmbedder | None = None,
) -> SpeechFeatures:
    """Speech regions, windows and their embeddings (times + ``offset``): with ``embedder``, d-vectors of
    1.6 s windows every 0.8 s; without, MFCC/pitch embeddings and MFCC statistics of ~1.5 s windows."""
    regions = speech_regions(audio, sample_rate)
    if not regions:
        return SpeechFeatures.empty(embedder.backend if embedder else MFCC)
    if embedder is not None:
        windows = _windows(regions, DVECTOR_STEP_S, DVECTOR_WINDOW_S)
        return SpeechFeatures(
            [(s + offset, e + offset) for s, e in regions],
            [(s + offset, e + offset) for s, e in windows],
            embedder.embed(audio, windows),
            [],
            embedder.backend,
        )
    windows = _windows(regions, step_s)
    cep = mfcc(audio, sample_rate)[:, 1:]  # once for the whole audio; windows take slices
    f0 = pitch_track(audio, sample_rate)
    embeddings, stats = [], []
    covered = 0  # each MFCC frame counts once, for the first window holding it (windows overlap)
    for s, e in windows:
        lo, hi = round(s / HOP_S), max(round(e / HOP_S), round(s / HOP_S) + 1)
        embeddings.append(
            embedding(cep[lo:hi], f0[int(s / PITCH_FRAME_S) : max(int(e / PITCH_FRAME_S), int(s / PITCH_FRAME_S) + 1)])
        )
        first = max(round(s / HOP_S), covered)
        covered = max(covered, round(e / HOP_S))
        stats.append(Gaussian.of(cep[first:covered]))
    return SpeechFeatures(
        [(s + offset, e + offset) for s, e in regions],
        [(s + offset, e + offset) for s, e in windows],
        np.stack(embeddings),
        stats,
    )


def _coarsen(f: SpeechFeatures, max_items: int) -> SpeechFeatures:
    """At most ``max_items`` windows for clustering (long inputs): neighbouring windows of one speech region
    merge ``ceil(n / max_items)`` at a time, and neighbours across regions only if still too many."""
    group = -(-len(f.windows) // max_items)
    if group <= 1:
        return f
    starts = [s for s, _ in f.regions]
    region_of = [bisect.bisect_right(starts, w[0]) - 1 for w in f.windows]
    parts: list[list[int]] = []
    for i, region in enumerate(region_of):
        if parts and region_of[parts[-1][0]] == region and len(parts[-1]) < group:
            parts[-1].append(i)
        else:
            parts.append([i])
    while len(parts) > max_items:  # more regions than items allowed: pair neighbours across regions too
        parts = [sum(parts[k : k + 2], []) for k in range(0, len(parts), 2)]
    windows = [(f.windows[p[0]][0], f.windows[p[-1]][1]) for p in parts]
    emb = np.stack([f.embeddings[p].mean(axis=0) for p in parts])
    stats = [_total(f.stats, np.array(p)) for p in parts] if f.stats else []
    return SpeechFeatures(f.regions, windows, emb, stats, f.backend)


def _total(stats: list[Gaussian], idx: np.ndarray) -> Gaussian:
    total = stats[idx[0]]
    for k in idx[1:]:
        total = total + stats[k]
    return total


def _merge_by_bic(labels: np.ndarray, stats: list[Gaussian], min_frames: float) -> np.ndarray:
    """Merge clusters that are one speaker: the pair with the lowest delta-BIC while it is negative, and
    any cluster with less than ``min_frames`` of speech (too little to call a voice) into its closest."""
    labels = labels.copy()
    while True:
        ids = sorted(set(labels.tolist()))
        if len(ids) < 2:
            return labels
        totals = {c: _total(stats, np.flatnonzero(labels == c)) for c in ids}
        pairs = [
            (delta_bic(totals[a].capped(BIC_FRAMES), totals[b].capped(BIC_FRAMES)), a, b)
            for i, a in enumerate(ids)
            for b in ids[i + 1 :]
        ]
        small = [c for c in ids if totals[c].n < min_frames]
        if small:
            c = min(small, key=lambda c: totals[c].n)
            score, a, b = min(p for p in pairs if c in p[1:])
        else:
            score, a, b = min(pairs)
            if score >= 0:
                return labels
        labels[labels == b] = a


def linkage(dist: np.ndarray, stop: float, max_clusters: int) -> np.ndarray:
    """Average-linkage clustering that merges while the closest pair is nearer than ``stop`` (or while
    there are more than ``max_clusters``): labels 0..k-1 in order of first appearance."""
    n = dist.shape[0]
    d = dist.astype(np.float64).copy()
    np.fill_diagonal(d, np.inf)
    sizes = np.ones(n)
    alive = np.ones(n, dtype=bool)
    owner = np.arange(n)
    while alive.sum() > 1:
        i, j = np.unravel_index(np.argmin(d), d.shape)
        if d[i, j] >= stop and alive.sum() <= max_clusters:
            break
        i, j = min(i, j), max(i, j)
        merged = (sizes[i] * d[i] + sizes[j] * d[j]) / (sizes[i] + sizes[j])
        d[i], d[:, i] = merged, merged
        d[i, i] = np.inf
        d[j], d[:, j] = np.inf, np.inf
        sizes[i] += sizes[j]
        alive[j] = False
        owner[owner == j] = i
    return np.unique(owner, return_inverse=True)[1]


def _absorb_small(labels: np.ndarray, embeddings: np.ndarray, seconds: np.ndarray, min_s: float) -> np.ndarray:
    """Clusters with less than ``min_s`` of speech join the cluster whose mean d-vector is closest."""
    labels = labels.copy()
    while True:
        ids = np.unique(labels)
        if ids.size < 2:
            return labels
        speech = {c: float(seconds[labels == c].sum()) for c in ids}
        small = min(ids, key=lambda c: speech[c])
        if speech[small] >= min_s:
            return labels
        means = {c: embeddings[labels == c].mean(axis=0) for c in ids}
        unit = {c: m / max(float(np.linalg.norm(m)), 1e-12) for c, m in means.items()}
        target = max((c for c in ids if c != small), key=lambda c: float(unit[c] @ unit[small]))
        labels[labels == small] = target


def _cluster_dvectors(f: SpeechFeatures, max_speakers: int, min_speaker_s: float) -> Diarization:
    """Speakers from d-vectors: absolute-threshold average linkage, small clusters absorbed (module docstring)."""
    labels = np.zeros(len(f.windows), dtype=int)
    if len(f.windows) >= 2 and max_speakers > 1:
        labels = linkage(_cosine_distances(f.embeddings), DVECTOR_MERGE_DISTANCE, max_speakers)
    seconds = np.array([e - s for s, e in f.windows]) * (DVECTOR_STEP_S / DVECTOR_WINDOW_S)  # overlap counted once
    labels = _absorb_small(labels, f.embeddings, seconds, min_speaker_s)
    turns = _turns(f.regions, f.windows, labels, DVECTOR_WINDOW_S)
    order = {old: new for new, old in enumerate(dict.fromkeys(t.speaker for t in turns))}
    turns = [Turn(t.start, t.end, order[t.speaker]) for t in turns]
    prints = {
        new: DVector(float((labels == c).sum()), f.embeddings[labels == c].astype(np.float64).sum(axis=0))
        for c, new in order.items()
    }
    return Diarization(turns, prints, 0.0, f.backend)


def cluster(features: SpeechFeatures, *, max_speakers: int = 8, min_speaker_s: float = MIN_SPEAKER_S) -> Diarization:
    """Speaker turns from the windows of a whole input (see the module docstring)."""
    f = _coarsen(features, MAX_ITEMS)
    if not f.windows:
        return Diarization([], backend=features.backend)
    if f.backend != MFCC:
        return _cluster_dvectors(f, max_speakers, min_speaker_s)
    labels = np.zeros(len(f.windows), dtype=int)
    best = 0.0
    if len(f.windows) >= 3 and max_speakers > 1:
        z = (f.embeddings - f.embeddings.mean(axis=0)) / np.maximum(f.embeddings.std(axis=0), 1e-6)
        dist = _cosine_distances(z)
        for k, cut in agglomerate(dist, min(max_speakers, len(f.windows) - 1)).items():
            if k >= 2 and (score := silhouette(dist, cut)) > best:
                best, labels = score, cut
    labels = _merge_by_bic(labels, f.stats, min_speaker_s / HOP_S)
    turns = _turns(f.regions, f.windows, labels)
    order = {old: new for new, old in enumerate(dict.fromkeys(t.speaker for t in turns))}
    turns = [Turn(t.start, t.end, order[t.speaker]) for t in turns]
    prints = {new: _total(f.stats, np.flatnonzero(labels == c)) for c, new in order.items()}
    return Diarization(turns, prints, best)


def diarize(
    audio: np.ndarray, sample_rate: int = SAMPLE_RATE, *, max_speakers: int = 8, embedder: SpeakerEmbedder | None = None
) -> Diarization:
    """Who speaks when in ``audio``: :func:`describe` then :func:`cluster`."""
    return cluster(describe(audio, sample_rate, embedder=embedder), max_speakers=max_speakers)


def _turns(
    regions: list[tuple[float, float]],
    windows: list[tuple[float, float]],
    labels: np.ndarray,
    window_s: float = WINDOW_S,
) -> list[Turn]:
    """Speaker turns: each region split where its windows' label changes (halfway across the overlap of
    the two windows), a lone odd window ignored, and neighbouring turns of one speaker merged."""
    turns: list[Turn] = []
    w = 0
    for s, e in regions:
        inside: list[tuple[float, float, int]] = []
        while w < len(windows) and windows[w][0] < e:
            inside.append((*windows[w], int(labels[w])))
            w += 1
        if not inside:  # merged (coarsened) windows can cover several regions: take the covering one's label
            inside = [(s, e, int(labels[max(0, w - 1)]))]
        runs: list[list] = []
        for ws, we, lab in inside:
            if runs and runs[-1][2] == lab:
                runs[-1][1] = we
            else:
                runs.append([ws, we, lab])
        if len(runs) > 1 and any(r[1] - r[0] < window_s for r in runs):
            majority = max({r[2] for r in runs}, key=lambda lab: sum(r[1] - r[0] for r in runs if r[2] == lab))
            runs = [[s, e, majority]]
        bounds = [s] + [(runs[k - 1][1] + runs[k][0]) / 2 for k in range(1, len(runs))] + [e]
        turns += [Turn(bounds[k], bounds[k + 1], runs[k][2]) for k in range(len(runs))]
    merged: list[Turn] = []
    for t in turns:
        if merged and merged[-1].speaker == t.speaker:
            merged[-1].end = t.end
        else:
            merged.append(t)
    return merged
