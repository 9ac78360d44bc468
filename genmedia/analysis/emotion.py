"""Emotion of a shot on the valence/arousal plane (Russell's circumplex), from several signals.

Every signal is mapped onto ``[-1, 1]`` by a fixed, documented range (so a calm film is not stretched to
look intense) and the available ones are combined by weight:

* **audio arousal**: loudness (mean momentary LUFS, -50 -> -1, -14 -> +1), event rate (onsets per second,
  0 -> -1, 6 -> +1) and pitch range of speech or music (10th-90th percentile of the voiced fundamental,
  0 -> -1, 12 semitones -> +1; only when at least a fifth of the shot is voiced);
* **visual energy**: motion (mean motion energy, 0 -> -1, 0.08 -> +1) and colourfulness (Hasler-Suesstrunk,
  0 -> -1, 80 -> +1) for arousal; brightness (mean luma 0.1 -> -1, 0.7 -> +1) and colourfulness for valence;
* **CLIP mood prompts** (when an open_clip scene embedder is staged): the probabilities of "a {mood} scene"
  weight each mood word's place on the circumplex (:data:`MOOD_COORDINATES`; unknown words are ignored).

``confidence`` is the share of the signals' total weight that was available, lowered when the arousal
signals disagree; ``label`` is the nearest mood word to the combined point ("neutral" near the centre).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

BACKEND = "genmedia-circumplex-v1"

MOOD_COORDINATES: dict[str, tuple[float, float]] = {
    "happy": (0.8, 0.45),
    "exciting": (0.55, 0.85),
    "romantic": (0.7, -0.1),
    "calm": (0.45, -0.65),
    "sad": (-0.7, -0.45),
    "tense": (-0.45, 0.7),
    "scary": (-0.75, 0.85),
}
"""(valence, arousal) of the scene embedder's default mood words."""
NEUTRAL_RADIUS = 0.15
"""Points this close to the centre are labelled "neutral"."""

AROUSAL_WEIGHTS = {
    "loudness": 0.25,
    "onset_rate": 0.15,
    "pitch_range": 0.1,
    "motion": 0.3,
    "colour": 0.05,
    "clip": 0.15,
}
VALENCE_WEIGHTS = {"brightness": 0.35, "colour": 0.25, "clip": 0.4}
RANGES: dict[str, tuple[float, float]] = {
    "loudness": (-50.0, -14.0),
    "onset_rate": (0.0, 6.0),
    "pitch_range": (0.0, 12.0),
    "motion": (0.0, 0.08),
    "colour": (0.0, 80.0),
    "brightness": (0.1, 0.7),
}
"""Signal value mapped to -1 and to +1 (clipped outside)."""
MIN_VOICED = 0.2


@dataclass(frozen=True)
class Emotion:
    """A shot's point on the circumplex, how sure it is, a word for it and the signals it came from."""

    valence: float
    arousal: float
    confidence: float
    label: str
    signals: dict[str, float] = field(default_factory=dict)
    """Raw signal values (LUFS, onsets/s, semitones, motion energy, colourfulness, brightness 0-1)."""

    def to_json(self) -> dict[str, Any]:
        """The ``emotion`` entry of a shot in ``shots.json``."""
        return {
            "valence": round(self.valence, 4),
            "arousal": round(self.arousal, 4),
            "confidence": round(self.confidence, 4),
            "label": self.label,
            "signals": {k: round(v, 4) for k, v in self.signals.items()},
        }


def scaled(name: str, value: float) -> float:
    """``value`` of signal ``name`` mapped linearly from its :data:`RANGES` onto ``[-1, 1]``."""
    lo, hi = RANGES[name]
    return float(np.clip(2 * (value - lo) / (hi - lo) - 1, -1.0, 1.0))


def label_for(valence: float, arousal: float) -> str:
    """The mood word nearest ``(valence, arousal)``, or "neutral" near the centre."""
    if np.hypot(valence, arousal) < NEUTRAL_RADIUS:
        return "neutral"
    return min(
        MOOD_COORDINATES, key=lambda m: np.hypot(MOOD_COORDINATES[m][0] - valence, MOOD_COORDINATES[m][1] - arousal)
    )


def clip_point(mood_probs: dict[str, float]) -> tuple[float, float] | None:
    """(valence, arousal) expected under CLIP's mood probabilities, over the words with known coordinates."""
    known = {m: p for m, p in mood_probs.items() if m in MOOD_COORDINATES and np.isfinite(p) and p > 0}
    total = sum(known.values())
    if not total:
        return None
    v = sum(p * MOOD_COORDINATES[m][0] for m, p in known.items()) / total
    a = sum(p * MOOD_COORDINATES[m][1] for m, p in known.items()) / total
    return float(v), float(a)


def audio_signals(audio: dict[str, Any] | None, start: float, end: float) -> dict[str, float]:
    """Loudness, onset rate and pitch range of ``[start, end)`` from an ``audio.json`` document (empty: no audio)."""
    if not audio or not audio.get("has_audio") or audio.get("analysed") is False:
        return {}
    out: dict[str, float] = {}
    loud = audio.get("loudness") or {}
    times = np.asarray(loud.get("times") or [], np.float64)
    lufs = np.asarray(loud.get("momentary_lufs") or [], np.float64)
    inside = (times >= start) & (times < end)
    if not inside.any() and times.size:
        inside = np.abs(times - (start + end) / 2) == np.abs(times - (start + end) / 2).min()
    if inside.any():
        out["loudness"] = float(lufs[inside].mean())
    onsets = np.asarray(audio.get("onsets") or [], np.float64)
    out["onset_rate"] = float(((onsets >= start) & (onsets < end)).sum() / max(end - start, 1e-3))
    pitch = audio.get("pitch") or {}
    f0 = np.asarray([np.nan if f is None else f for f in pitch.get("f0_hz") or []], np.float64)
    if f0.size == times.size and inside.any():  # one pitch value per loudness step
        f0_inside = f0[inside]
        voiced = f0_inside[np.isfinite(f0_inside)]
        if voiced.size >= max(2, MIN_VOICED * f0_inside.size):
            lo, hi = np.percentile(voiced, [10, 90])
            out["pitch_range"] = float(12 * np.log2(hi / lo))
    return out


def visual_signals(motion: float | None, colourfulness: float | None, brightness: float | None) -> dict[str, float]:
    """The available visual signals of a shot (None or NaN: not measured)."""
    values = {"motion": motion, "colour": colourfulness, "brightness": brightness}
    return {k: float(v) for k, v in values.items() if v is not None and np.isfinite(v)}


def _weighted(estimates: dict[str, float], weights: dict[str, float]) -> tuple[float, float, float]:
    """(weighted mean, weighted standard deviation, share of the total weight) of the available estimates."""
    used = {k: w for k, w in weights.items() if k in estimates}
    total = sum(used.values())
    if not total:
        return 0.0, 0.0, 0.0
    mean = sum(w * estimates[k] for k, w in used.items()) / total
    var = sum(w * (estimates[k] - mean) ** 2 for k, w in used.items()) / total
    return float(mean), float(np.sqrt(var)), total / sum(weights.values())


def combine(signals: dict[str, float], mood_probs: dict[str, float] | None = None) -> Emotion:
    """One shot's :class:`Emotion` from its raw ``signals`` (see :func:`audio_signals`, :func:`visual_signals`)
    and, when CLIP scored it, its mood probabilities."""
    arousal_in = {k: scaled(k, v) for k, v in signals.items() if k in AROUSAL_WEIGHTS}
    valence_in = {k: scaled(k, v) for k, v in signals.items() if k in VALENCE_WEIGHTS}
    point = clip_point(mood_probs) if mood_probs else None
    if point is not None:
        valence_in["clip"], arousal_in["clip"] = point
    arousal, spread, arousal_cover = _weighted(arousal_in, AROUSAL_WEIGHTS)
    valence, _, valence_cover = _weighted(valence_in, VALENCE_WEIGHTS)
    cover = (arousal_cover + valence_cover) / 2
    confidence = float(np.clip(cover * (1 - spread / 2), 0.0, 1.0))
    raw = dict(signals)
    if point is not None:
        raw["clip_valence"], raw["clip_arousal"] = point
    return Emotion(valence, arousal, confidence, label_for(valence, arousal), raw)
