"""Highlight scoring and selection: which source ranges a trailer is cut from, and why.

Every analysed frame gets a score from the analysis features the style cares about (action intensity,
audio peaks and loudness, faces, composition, mood/CLIP tags when present), each feature turned into a
0-1 value by its rank within the video so scales never matter. Shots are trimmed at their edges (and
at unusable frames: black or blown-out) into *pieces*; the best pieces are chosen with at most a few per
shot (variety), never after the spoiler cut-off, then given clip lengths from the pacing plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

WEIGHTS: dict[str, dict[str, float]] = {
    "action": {
        "motion": 0.45,
        "loudness": 0.15,
        "audio_peak": 0.15,
        "faces": 0.1,
        "composition": 0.05,
        "sharpness": 0.05,
        "tags": 0.05,
    },
    "calm": {
        "motion": 0.05,
        "loudness": 0.05,
        "faces": 0.25,
        "composition": 0.3,
        "sharpness": 0.15,
        "colourfulness": 0.15,
        "tags": 0.05,
    },
}
"""Feature weights per style; features the analysis did not produce are left out and the rest rescaled."""

TAG_WORDS: dict[str, tuple[str, ...]] = {
    "action": ("action", "fight", "chase", "explosion", "crowd", "sport", "car", "fire", "tense", "exciting"),
    "calm": ("calm", "landscape", "nature", "sunset", "sea", "portrait", "peaceful", "happy", "romantic"),
}
"""Mood/CLIP tags that count in a style's favour."""

BLACK_LEVEL = 0.06
WHITE_LEVEL = 0.94
PEAK_REACH_S = 0.3
GRADUAL_MARGIN_S = 0.5
"""Frames this close to a fade or dissolve are left out (they are half another picture)."""


@dataclass(frozen=True)
class ShotSpan:
    """A shot: ``[start, end)`` in source seconds; ``transition`` is how it begins (start|cut|fade|dissolve)."""

    index: int
    start: float
    end: float
    transition: str = "cut"


@dataclass
class Material:
    """What a trailer is cut from, in source seconds: shots, per-frame features, audio events, words."""

    path: str
    duration: float
    fps: float
    shots: list[ShotSpan]
    frames: pd.DataFrame
    """One row per analysed frame: ``time``, ``shot`` and any of motion, loudness, faces, composition,
    sharpness, colourfulness, brightness (0-1 or 0-255), tags (list of str)."""
    beats: np.ndarray = field(default_factory=lambda: np.zeros(0))
    onsets: np.ndarray = field(default_factory=lambda: np.zeros(0))
    peaks: np.ndarray = field(default_factory=lambda: np.zeros(0))
    words: list[tuple[float, float]] = field(default_factory=list)
    has_audio: bool = True
    backends: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Piece:
    """A usable range ``[lo, hi)`` of one shot, with the per-frame times and scores inside it."""

    shot: int
    lo: float
    hi: float
    times: np.ndarray
    scores: np.ndarray

    @property
    def length(self) -> float:
        """Seconds the piece spans."""
        return self.hi - self.lo

    def best_window(self, length: float) -> tuple[float, float]:
        """(start, mean score) of the best-scoring window of ``length`` seconds inside the piece."""
        length = min(length, self.length)
        starts = self.times[self.times <= self.hi - length + 1e-9]
        if starts.size == 0:
            return self.lo, float(self.scores.mean()) if self.scores.size else 0.0
        csum = np.concatenate([[0.0], np.cumsum(self.scores)])
        first = np.searchsorted(self.times, starts, side="left")
        last = np.searchsorted(self.times, starts + length, side="left")
        means = (csum[last] - csum[first]) / np.maximum(last - first, 1)
        k = int(np.argmax(means))
        return float(starts[k]), float(means[k])


def _rank(values: pd.Series) -> np.ndarray:
    """0-1 rank of each value within the video (ties share their mean rank; constant -> 0.5)."""
    v = pd.to_numeric(values, errors="coerce").fillna(values.median() if values.notna().any() else 0)
    if len(v) < 2 or v.nunique() < 2:
        return np.full(len(v), 0.5)
    return ((v.rank(method="average") - 1) / (len(v) - 1)).to_numpy()


def _tag_match(tags: pd.Series, style: str) -> np.ndarray:
    words = TAG_WORDS[style]
    return np.array(
        [
            float(
                any(
                    w in str(t).lower() for w in words for t in (x if isinstance(x, (list, tuple, np.ndarray)) else [x])
                )
            )
            for x in tags
        ]
    )


def feature_values(material: Material, style: str) -> dict[str, np.ndarray]:
    """Each available scoring feature of every frame as a 0-1 array."""
    df = material.frames
    times = df["time"].to_numpy(dtype=np.float64)
    out: dict[str, np.ndarray] = {}
    for name in ("motion", "loudness", "composition", "sharpness", "colourfulness"):
        if name in df and df[name].notna().any():
            out[name] = _rank(df[name])
    if "faces" in df:
        out["faces"] = np.clip(pd.to_numeric(df["faces"], errors="coerce").fillna(0).to_numpy() / 2, 0, 1)
    if material.peaks.size:
        dist = np.min(np.abs(times[:, None] - material.peaks[None, :]), axis=1)
        out["audio_peak"] = np.exp(-((dist / PEAK_REACH_S) ** 2))
    for col in ("tags", "mood"):
        if col in df:
            out["tags"] = np.maximum(out.get("tags", 0), _tag_match(df[col], style))
    return out


def frame_scores(material: Material, style: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Score of every frame (weighted mean of the available features) and the features used."""
    features = feature_values(material, style)
    weights = {k: w for k, w in WEIGHTS[style].items() if k in features}
    total = sum(weights.values())
    if not total:
        return np.full(len(material.frames), 0.5), features
    score = sum(w * features[k] for k, w in weights.items()) / total
    return np.asarray(score, dtype=np.float64), features


def unusable(material: Material) -> np.ndarray:
    """Frames a trailer must not show: black or blown-out (flash) frames, by the analysis' brightness."""
    df = material.frames
    for col in ("brightness", "luma", "mean_luma"):
        if col in df:
            level = pd.to_numeric(df[col], errors="coerce").fillna(0.5).to_numpy(dtype=np.float64)
            if np.nanmax(level) > 1.5:
                level = level / 255.0
            return (level < BLACK_LEVEL) | (level > WHITE_LEVEL)
    return np.zeros(len(df), dtype=bool)


def pieces(material: Material, scores: np.ndarray, cutoff: float, min_length: float) -> list[Piece]:
    """Usable ranges of every shot before ``cutoff``: shot edges trimmed (more next to fades/dissolves),
    unusable frames removed, ranges shorter than ``min_length`` dropped."""
    times = material.frames["time"].to_numpy(dtype=np.float64)
    order = np.argsort(times, kind="stable")
    bad = unusable(material)
    frame = 1.0 / material.fps
    step = float(np.median(np.diff(times[order]))) if len(times) > 1 else frame
    out: list[Piece] = []
    shots = sorted(material.shots, key=lambda s: s.start)
    for k, shot in enumerate(shots):
        ends_gradually = k + 1 < len(shots) and shots[k + 1].transition in ("fade", "dissolve")
        lo = shot.start + (GRADUAL_MARGIN_S if shot.transition in ("fade", "dissolve") else 2 * frame)
        hi = min(shot.end - (GRADUAL_MARGIN_S if ends_gradually else 2 * frame), cutoff)
        idx = order[(times[order] >= lo - 1e-9) & (times[order] < hi - 1e-9)]
        # split the shot's frames into runs of usable frames
        breaks = np.flatnonzero(bad[idx])
        for run in np.split(idx, np.concatenate([breaks, breaks + 1])):
            if run.size == 0 or bad[run[0]]:
                continue
            # a run reaches the shot's trimmed edge unless an unusable frame stops it (then halfway to it)
            a = lo if run[0] == idx[0] else float(times[run[0]]) - step / 2
            b = hi if run[-1] == idx[-1] else float(times[run[-1]]) + step / 2
            if b - a >= min_length - 1e-9:
                out.append(Piece(shot.index, a, b, times[run], scores[run]))
    return out


def reasons_for(
    features: dict[str, np.ndarray], times: np.ndarray, start: float, end: float, material: Material, style: str
) -> list[str]:
    """Plain words for why the range ``[start, end)`` scored well: its strongest features."""
    inside = (times >= start) & (times < end)
    if not inside.any():
        return []
    labels = {
        "motion": "action/motion",
        "loudness": "loud audio",
        "composition": "composition",
        "sharpness": "sharpness",
        "colourfulness": "colour",
    }
    out = []
    for name, label in labels.items():
        if name in features and WEIGHTS[style].get(name, 0) > 0.05:
            value = float(features[name][inside].mean())
            if value >= 0.6:
                out.append(f"{label} in the top {max(1, round((1 - value) * 100))}% of the video")
    if "faces" in features and features["faces"][inside].max() > 0:
        out.append("faces on screen")
    near = [p for p in material.peaks if start - PEAK_REACH_S <= p < end + PEAK_REACH_S]
    if near:
        out.append("audio peak at " + ", ".join(f"{p:.2f} s" for p in near[:3]))
    if "tags" in features and features["tags"][inside].max() > 0:
        out.append(f"{style} mood tags")
    return out or ["best available range of its shot"]


def choose_pieces(candidates: list[Piece], n: int, length: float, max_per_shot: int) -> list[Piece]:
    """The ``n`` best pieces (by their best ``length``-second window), at most ``max_per_shot`` per shot
    (raised only when there are too few shots), in source order."""
    ranked = sorted(candidates, key=lambda p: -p.best_window(length)[1])
    chosen: list[Piece] = []
    cap = max_per_shot
    while len(chosen) < min(n, len(ranked)):
        for piece in ranked:
            if len(chosen) == n:
                break
            if piece not in chosen and sum(c.shot == piece.shot for c in chosen) < cap:
                chosen.append(piece)
        cap += 1
    return sorted(chosen, key=lambda p: p.lo)


def range_emotion(material: Material, start: float, end: float) -> tuple[float, float, str] | None:
    """(mean valence, mean arousal, commonest label) of the frames in ``[start, end)``; None without emotions."""
    df = material.frames
    if "arousal" not in df:
        return None
    times = df["time"].to_numpy(dtype=np.float64)
    inside = (times >= start) & (times < end)
    if not inside.any():
        inside = np.abs(times - (start + end) / 2) == np.abs(times - (start + end) / 2).min()
    arousal = pd.to_numeric(df["arousal"][inside], errors="coerce")
    if arousal.isna().all():
        return None
    valence = pd.to_numeric(df["valence"][inside], errors="coerce") if "valence" in df else pd.Series([0.0])
    labels = df["emotion"][inside].mode() if "emotion" in df else pd.Series(dtype=object)
    return float(valence.mean()), float(arousal.mean()), str(labels.iloc[0]) if len(labels) else ""


def arc_order(chosen: list[Piece], material: Material) -> list[Piece]:
    """``chosen`` ordered for the emotional arc: rising arousal, so the trailer opens calm, builds through the
    middle and peaks just before the end card (pieces without a known emotion count as neutral; ties keep
    source order)."""

    def arousal(p: Piece) -> float:
        found = range_emotion(material, p.lo, p.hi)
        return found[1] if found is not None and np.isfinite(found[1]) else 0.0

    return sorted(chosen, key=lambda p: (arousal(p), p.lo))


def fit_lengths(lengths: list[float], capacities: list[float]) -> list[float] | None:
    """Lengths as close to ``lengths`` as ``capacities`` allow with the same total; None if impossible."""
    total = sum(lengths)
    if sum(capacities) < total - 1e-6:
        return None
    out = [min(x, c) for x, c in zip(lengths, capacities, strict=True)]
    for _ in range(len(out) + 1):
        deficit = total - sum(out)
        if deficit <= 1e-9:
            break
        spare = [k for k in range(len(out)) if capacities[k] - out[k] > 1e-9]
        weight = sum(lengths[k] for k in spare)
        for k in spare:
            out[k] = min(capacities[k], out[k] + deficit * lengths[k] / weight)
    return out
