"""Faces and objects in frames: ultralytics YOLO for objects, a face model or Haar cascades for faces.

One class for both runtimes (docs/architecture.md), configured by ``models.<key>`` (backend ``ultralytics``):
the registry resolves and verifies the weights directory; ``options.weights`` names the YOLO
checkpoint in it (default: the only ``.pt`` file), and ``options.face_weights`` an optional YOLO
checkpoint trained on faces (class 0 = face). Without a face checkpoint, faces come from the pretrained
CenterFace model (``models.face_detector``) when it is staged, else OpenCV's Haar cascade, and
``face_backend`` says which. Detections are padded to ``MAX_DETECTIONS`` per image so
Ray Data batches stay rectangular: rows of ``[x, y, w, h, score, class]`` in pixels, unused rows -1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from genmedia.analysis.faces import face_finder_name, load_face_finder
from genmedia.config import Config
from genmedia.errors import ModelUnavailable

ULTRALYTICS = "ultralytics"
DEFAULT_KEY = "detector"
MAX_DETECTIONS = 16


def model_name(cfg: Config, key: str = DEFAULT_KEY) -> str:
    """How outputs name the object detector of ``models.<key>``."""
    entry = cfg.model(key)
    return f"{ULTRALYTICS}:{entry.model or key}"


def face_backend_name(cfg: Config, key: str = DEFAULT_KEY) -> str:
    """How outputs name what finds faces for ``models.<key>``: its face checkpoint, else CenterFace or Haar."""
    face = cfg.model(key).options.get("face_weights")
    return f"{ULTRALYTICS}:{face}" if face else face_finder_name(cfg)


def _pad(rows: list[list[float]]) -> np.ndarray:
    out = np.full((MAX_DETECTIONS, 6), -1.0, np.float32)
    if rows:
        rows = sorted(rows, key=lambda r: -r[4])[:MAX_DETECTIONS]
        out[: len(rows)] = np.asarray(rows, np.float32)
    return out


class Detector:
    """Finds objects (YOLO) and faces (a YOLO face model, else CenterFace when staged, else Haar) in RGB images."""

    def __init__(self, cfg: Config, key: str = DEFAULT_KEY):
        from ultralytics import YOLO

        from genmedia.models.registry import resolve

        entry = cfg.model(key, ULTRALYTICS, "a detector")
        directory = resolve(cfg, key)
        options: dict[str, Any] = dict(entry.options)
        self.conf = float(options.get("confidence", 0.25))
        self.imgsz = int(options.get("imgsz", 640))
        self.model = YOLO(str(self._weights(directory, options.get("weights"), key)), task="detect")
        self.names: dict[int, str] = dict(self.model.names)
        face = options.get("face_weights")
        self.face_model = YOLO(str(self._weights(directory, face, key)), task="detect") if face else None
        self.faces = None if face else load_face_finder(cfg)
        self.backend = model_name(cfg, key)
        self.face_backend = face_backend_name(cfg, key)

    @staticmethod
    def _weights(directory: Path, name: str | None, key: str) -> Path:
        if name:
            path = directory / name
            if not path.is_file():
                raise ModelUnavailable(
                    f"{directory}: no {name} (models.{key}.options); run: genmedia models pull {key}"
                )
            return path
        found = sorted(directory.glob("*.pt"))
        if len(found) != 1:
            raise ModelUnavailable(
                f"{directory}: expected one .pt checkpoint for models.{key}, found {len(found)}; set options.weights"
            )
        return found[0]

    def _yolo(self, model: Any, images: list[np.ndarray]) -> list[list[list[float]]]:
        results = model.predict(
            [np.ascontiguousarray(img[..., ::-1]) for img in images], imgsz=self.imgsz, conf=self.conf, verbose=False
        )
        out = []
        for r in results:
            xyxy = r.boxes.xyxy.cpu().numpy()
            conf = r.boxes.conf.cpu().numpy()
            cls = r.boxes.cls.cpu().numpy()
            out.append(
                [[x0, y0, x1 - x0, y1 - y0, c, k] for (x0, y0, x1, y1), c, k in zip(xyxy, conf, cls, strict=True)]
            )
        return out

    def detect_images(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``(objects, faces)``, each N x MAX_DETECTIONS x 6 (``[x, y, w, h, score, class]``, -1 padded)."""
        if not images:
            empty = np.zeros((0, MAX_DETECTIONS, 6), np.float32)
            return empty, empty.copy()
        objects = np.stack([_pad(rows) for rows in self._yolo(self.model, images)])
        if self.face_model is not None:
            faces = np.stack(
                [_pad([r for r in rows if int(r[5]) == 0]) for rows in self._yolo(self.face_model, images)]
            )
        else:
            faces = np.stack([_pad([[*box, 1.0, 0] for box in self.faces.find(img).tolist()]) for img in images])
        return objects, faces

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Ray Data: ``batch["image"]`` (N x H x W x 3 uint8) -> adds ``objects`` and ``faces`` columns."""
        out = dict(batch)
        objects, faces = self.detect_images(list(out.pop("image")))
        out["objects"], out["faces"] = objects, faces
        return out

    def detect(self, image: np.ndarray) -> dict[str, Any]:
        """One RGB image -> ``{"objects": [...], "faces": [...], "backend", "face_backend"}`` (Serve)."""
        objects, faces = self.detect_images([image])

        def rows(a: np.ndarray, named: bool) -> list[dict[str, Any]]:
            return [
                {
                    "box": [float(v) for v in r[:4]],
                    "score": float(r[4]),
                    **({"label": self.names.get(int(r[5]), str(int(r[5])))} if named else {}),
                }
                for r in a
                if r[4] >= 0
            ]

        return {
            "objects": rows(objects[0], True),
            "faces": rows(faces[0], False),
            "backend": self.backend,
            "face_backend": self.face_backend,
        }
