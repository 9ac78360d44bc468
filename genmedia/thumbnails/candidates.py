"""Key-frame candidates from an analysis: usable frames ranked by quality, then chosen for diversity.

A frame is usable when it is neither black nor blown out (exposure), nor blurred (sharpness well below
the clip's), nor inside a transition (near a fade or dissolve, or right at a hard cut). Usable frames are
scored by sharpness, exposure, faces (bigger is better), composition and colourfulness, and, when the
analysis has CLIP embeddings and there is a title, by how close each shot's picture is to the title's text
embedding; variants take the best frame of each shot, best shots first, so no two variants come from one
shot unless asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from genmedia.config import ThumbnailsConfig

WEIGHTS = {"sharpness": 0.25, "exposure": 0.2, "faces": 0.25, "composition": 0.2, "colour": 0.1}
"""How much each quality counts in a candidate's score (they sum to 1)."""
TITLE_WEIGHT = 0.3
"""With a title embedding: the score is ``(1 - TITLE_WEIGHT) * quality + TITLE_WEIGHT * title similarity``."""


@dataclass(frozen=True)
class ShotSpan:
    """What candidate selection needs of a shot."""

    index: int
    start_time: float
    end_time: float
    transition: str
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Candidate:
    """A frame chosen for a variant."""

    frame_index: int
    time: float
    shot: int
    score: float
    scores: dict[str, float]
    tags: list[str]


def _normalise(x: np.ndarray) -> np.ndarray:
    lo, hi = np.nanmin(x), np.nanmax(x)
    return np.zeros_like(x) if not np.isfinite(hi - lo) or hi - lo < 1e-9 else (x - lo) / (hi - lo)


def usable(features: pd.DataFrame, shots: list[ShotSpan], settings: ThumbnailsConfig) -> np.ndarray:
    """Boolean mask of the analysed frames a thumbnail may use."""
    t = features["time"].to_numpy(np.float64)
    ok = features["exposure"].to_numpy(np.float64) >= settings.min_exposure
    sharp = features["sharpness"].to_numpy(np.float64)
    if np.isfinite(sharp).any():
        ok &= sharp >= settings.blur_ratio * np.nanpercentile(sharp, 90)
    for k, shot in enumerate(shots):
        # Around a fade or dissolve the previous shot blends out and this one blends in.
        margin = settings.transition_margin_s if shot.transition in ("fade", "dissolve") else settings.cut_margin_s
        if k > 0:
            ok &= ~((t >= shot.start_time - margin) & (t < shot.start_time + margin))
    return ok


def steady_face_area(features: pd.DataFrame) -> np.ndarray:
    """Area (fraction of the picture) of each frame's largest face that is also found, overlapping, in a
    neighbouring analysed frame of the same shot; a face seen once is more likely a detector mistake."""
    if "face_boxes" not in features:
        return np.zeros(len(features))
    boxes = [[tuple(b) for b in bx] for bx in features["face_boxes"]]
    shot = features["shot"].to_numpy()

    def overlaps(a: tuple, b: tuple) -> bool:
        return min(a[0] + a[2], b[0] + b[2]) > max(a[0], b[0]) and min(a[1] + a[3], b[1] + b[3]) > max(a[1], b[1])

    area = np.zeros(len(boxes))
    for i, bx in enumerate(boxes):
        near = [boxes[j] for j in (i - 1, i + 1) if 0 <= j < len(boxes) and shot[j] == shot[i]]
        steady = [b for b in bx if any(overlaps(b, o) for other in near for o in other)]
        area[i] = max((b[2] * b[3] for b in steady), default=0.0)
    return area


def title_similarity(features: pd.DataFrame, title: np.ndarray) -> np.ndarray:
    """Cosine similarity of each analysed frame to the unit ``title`` vector, scaled to 0..1 over the clip.

    A frame without its own embedding (the analysis embeds one key frame per shot by default) takes the
    mean similarity of its shot's embedded frames; a shot with none counts 0.
    """
    raw = np.full(len(features), np.nan)
    if "embedding" in features:
        for i, e in enumerate(features["embedding"]):
            if np.ndim(e) == 1 and len(e) == len(title):
                v = np.asarray(e, np.float64)
                raw[i] = float(v @ title) / max(float(np.linalg.norm(v)), 1e-9)
    shot = features["shot"].to_numpy(np.int64)
    for s in np.unique(shot[np.isnan(raw)]):
        own = shot == s
        known = raw[own & ~np.isnan(raw)]
        if known.size:
            raw[own & np.isnan(raw)] = known.mean()
    if np.isnan(raw).all():
        return np.zeros(len(features))
    return np.nan_to_num(_normalise(raw))


def score_frames(features: pd.DataFrame, title: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each analysed frame's score (0..1) and the parts it is made of; with a ``title`` embedding (a unit
    vector in the analysis embeddings' space) the ``title`` part counts ``TITLE_WEIGHT`` of the score."""
    face_area = steady_face_area(features)
    parts = {
        "sharpness": _normalise(features["sharpness"].to_numpy(np.float64)),
        "exposure": np.clip(features["exposure"].to_numpy(np.float64), 0, 1),
        # Any face counts; a face filling a quarter of the picture counts fully.
        "faces": np.where(face_area > 0, 0.5 + 0.5 * np.clip(face_area / 0.25, 0, 1), 0.0),
        "composition": np.clip(np.nan_to_num(features["composition"].to_numpy(np.float64)), 0, 1),
        "colour": np.clip(np.nan_to_num(features["colourfulness"].to_numpy(np.float64)) / 100.0, 0, 1),
    }
    total = sum(WEIGHTS[k] * v for k, v in parts.items())
    if title is not None:
        parts["title"] = title_similarity(features, title)
        total = (1 - TITLE_WEIGHT) * total + TITLE_WEIGHT * parts["title"]
    return total, parts


def choose(
    features: pd.DataFrame,
    shots: list[ShotSpan],
    count: int,
    settings: ThumbnailsConfig,
    *,
    same_shot: bool = False,
    title: np.ndarray | None = None,
) -> list[Candidate]:
    """Up to ``count`` candidates: the best usable frame of each shot, best first; with ``same_shot``,
    further frames of used shots (at least ``min_gap_s`` from each other) fill the remaining places.
    ``title``: the title's text embedding, when the analysis embeddings have a text side (see score_frames)."""
    if features.empty:
        return []
    mask = usable(features, shots, settings)
    total, parts = score_frames(features, title)
    shot_of = features["shot"].to_numpy(np.int64)
    tags = {s.index: s.tags for s in shots}
    order = [i for i in np.argsort(-total, kind="stable") if mask[i]]

    def make(i: int) -> Candidate:
        return Candidate(
            frame_index=int(features["frame_index"].iloc[i]),
            time=float(features["time"].iloc[i]),
            shot=int(shot_of[i]),
            score=round(float(total[i]), 4),
            scores={k: round(float(v[i]), 4) for k, v in parts.items()},
            tags=list(tags.get(int(shot_of[i]), [])),
        )

    chosen: list[int] = []
    for i in order:
        if len(chosen) == count:
            break
        if shot_of[i] not in {shot_of[j] for j in chosen}:
            chosen.append(i)
    if same_shot:
        t = features["time"].to_numpy(np.float64)
        for i in order:
            if len(chosen) == count:
                break
            if i not in chosen and all(abs(t[i] - t[j]) >= settings.min_gap_s for j in chosen):
                chosen.append(i)
    return [make(i) for i in chosen]
