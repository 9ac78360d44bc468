"""Adapters from other jobs' outputs to the trailer's :class:`~genmedia.trailer.highlights.Material`:
the scene analysis (``genmedia.pipelines.analyze.load_analysis``; each shot's emotion becomes the
``valence``, ``arousal`` and ``emotion`` columns of its frames) and, when present, a transcript's word
times (the subtitles job's ``transcript.json``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from genmedia.trailer.highlights import Material, ShotSpan

EXPOSURE_UNUSABLE = 0.2
"""Frames whose exposure score (0 for black or blown-out pictures) is below this (mean luma under
10% or over 90% of full scale) are not shown."""


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """Attribute or key ``name`` of ``obj``."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _times(values: Any) -> np.ndarray:
    """A sorted float array of times from a list of numbers or of ``{"time": t}`` records."""
    if values is None:
        return np.zeros(0)
    out = [
        float(_get(v, "time")) if not isinstance(v, (int, float, np.floating, np.integer)) else float(v) for v in values
    ]
    return np.sort(np.asarray(out, dtype=np.float64))


def from_analysis(analysis: Any, path: str, words: list[tuple[float, float]] | None = None) -> Material:
    """Build the trailer's material from an ``Analysis`` (shots, per-frame features, audio, backends)."""
    info = analysis.info
    shots = [
        ShotSpan(
            int(_get(s, "index")),
            float(_get(s, "start_time")),
            float(_get(s, "end_time")),
            str(_get(s, "transition", "cut")),
        )
        for s in analysis.shots
    ]
    frames = pd.DataFrame(analysis.features).copy()
    if "brightness" not in frames and "exposure" in frames:
        exposure = pd.to_numeric(frames["exposure"], errors="coerce").fillna(1.0)
        frames["brightness"] = np.where(exposure < EXPOSURE_UNUSABLE, 0.0, 0.5)  # black or blown out: unusable
    details = {int(_get(d, "index", -1)): d for d in (_get(analysis, "shot_details", None) or [])}
    if details and "shot" in frames and "tags" not in frames:
        frames["tags"] = [_shot_tags(details.get(int(s))) for s in frames["shot"]]
    if details and "shot" in frames and "arousal" not in frames:
        moods = [_get(details.get(int(s)), "emotion") or {} for s in frames["shot"]]
        if any(moods):
            for name in ("valence", "arousal"):
                frames[name] = [float(m[name]) if name in m else np.nan for m in moods]
            frames["emotion"] = [str(m.get("label", "")) for m in moods]
    audio = getattr(analysis, "audio", None)
    has_audio = bool(info.has_audio and audio is not None and _get(audio, "has_audio", True))
    if has_audio and "loudness" not in frames and hasattr(audio, "loudness_at"):
        frames["loudness"] = audio.loudness_at(frames["time"].to_numpy())
    backends = {str(k): str(v) for k, v in (_get(analysis, "backends", {}) or {}).items()}
    return Material(
        path=path,
        duration=float(info.duration),
        fps=float(info.fps) or 24.0,
        shots=shots,
        frames=frames,
        beats=_times(_get(audio, "beat_times")) if has_audio else np.zeros(0),
        onsets=_times(_get(audio, "onsets")) if has_audio else np.zeros(0),
        peaks=_times(_get(audio, "peaks")) if has_audio else np.zeros(0),
        words=list(words or []),
        has_audio=has_audio,
        backends=backends,
    )


def _shot_tags(detail: Any) -> list[str]:
    """Zero-shot tags and the mood of a shot (``shots.json`` entry), as plain words."""
    if not detail:
        return []
    tags = [str(_get(t, "label", t)) for t in (_get(detail, "tags") or [])]
    mood = _get(detail, "mood")
    if mood:
        tags.append(str(_get(mood, "label", mood)))
    return tags


def _word_records(node: Any) -> Iterator[tuple[float, float]]:
    """Every ``(start, end)`` of a word list found anywhere in a transcript's JSON."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "words" and isinstance(value, list):
                for w in value:
                    if (
                        isinstance(w, dict)
                        and isinstance(w.get("start"), (int, float))
                        and isinstance(w.get("end"), (int, float))
                    ):
                        yield float(w["start"]), float(w["end"])
            else:
                yield from _word_records(value)
    elif isinstance(node, list):
        for item in node:
            yield from _word_records(item)


def words_from_transcript(text: str) -> list[tuple[float, float]]:
    """Word times ``(start, end)`` in seconds from a transcript's JSON (any ``"words": [{start, end}]`` lists)."""
    return sorted(set(_word_records(json.loads(text))))
