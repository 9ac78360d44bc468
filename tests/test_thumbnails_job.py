"""The thumbnails job end to end on a local Ray: the CLI as a user runs it, display geometry on anamorphic
and rotated clips, and bad input (too short, all black, bad aspects, huge titles)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from genmedia.errors import InputError
from genmedia.media.encode import VideoWriter
from genmedia.media.synthetic import _draw_face, make_rotated_clip
from genmedia.pipelines import thumbnails as job
from genmedia.schemas import JobStatus

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SIZES = {"16:9": (640, 360), "1:1": (640, 640), "9:16": (360, 640), "4:5": (512, 640)}


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.srcs.append(dict(attrs)["src"] or "")


def test_cli_makes_every_variant_at_every_aspect(sample_clip, tmp_path: Path) -> None:  # noqa: ANN001
    clip, truth = sample_clip
    # A fresh model store: the synthetic face is for the Haar cascade; a CenterFace the user staged ignores it.
    config = tmp_path / "genmedia.yaml"
    config.write_text(json.dumps({"storage": {"cache_dir": str(tmp_path / "cache")}}))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "genmedia.cli",
            "thumbnails",
            str(clip),
            "--variants",
            "6",
            "--aspects",
            "16:9,1:1,9:16,4:5",
            "--size",
            "640",
            "--title",
            "The Night Before The Storm",
            "--out",
            str(tmp_path / "out"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=400,
        env={**os.environ, "GENMEDIA_CONFIG": str(config)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    prefix = Path(result["output_uri"])
    doc = json.loads((prefix / "thumbnails.json").read_text())
    variants = doc["variants"]
    assert len(variants) == 6 and doc["mode"] == "keyframe" and doc["title"] == "The Night Before The Storm"
    # The default (classical) embeddings have no text side: the title takes no part in the ranking, and says why.
    assert doc["title_ranking"]["used"] is False and "no text side" in doc["title_ranking"]["reason"]
    assert all("title" not in v["scores"] for v in variants)
    # Diverse: six different shots. Usable: no black, fade, dissolve or flash frame.
    fps = truth.fps
    frames = [round(v["time"] * fps) for v in variants]
    shot_of = [next(s.index for s in truth.shots if s.start <= f < s.end) for f in frames]
    assert len(set(shot_of)) == 6
    bad = set()
    for f in truth.fades:
        bad |= set(range(f.out_start, f.in_end))
    for d in truth.dissolves + truth.flashes:
        bad |= set(range(d.start, d.end))
    assert not bad & set(frames)
    # The face shot is chosen, ranked first, and every crop keeps the known face box whole.
    face = truth.face
    assert face.start <= frames[0] < face.end
    fx, fy, fw, fh = face.box
    for label, a in variants[0]["aspects"].items():
        x, y, w, h = a["crop"]
        assert x <= fx and fx + fw <= x + w and y <= fy and fy + fh <= y + h, label
        assert a["faces_kept"] >= 1 and a["title"]["face_overlap"] == 0
    # Every file exists at its size, readable by an independent decoder: the asked one, or (the 320x180 crops
    # enlarged 2x and more) the smaller size recorded with the reason (pipelines.thumbnails.enlarge: smaller).
    for v in variants:
        assert v["backend"] == "keyframe+smart-crop" and set(v["scores"]) >= {"sharpness", "faces"}
        for label, a in v["aspects"].items():
            assert len(a["files"]) == 2
            assert a["size"] == list(SIZES[label]) or a["enlarge"]["requested"] == list(SIZES[label])
            for name in a["files"]:
                with Image.open(prefix / name) as im:
                    assert im.size == tuple(a["size"]) and im.format in {"JPEG", "WEBP"}
    # The HTML page shows them all side by side, with links that resolve.
    page = _Images()
    page.feed((prefix / "thumbnails.html").read_text())
    assert len(page.srcs) == 6 * 4 and all((prefix / s).is_file() for s in page.srcs)
    manifest = json.loads((prefix / "manifest.json").read_text())
    names = {f["name"] for f in manifest["files"]}
    assert {"thumbnails.json", "thumbnails.html"} <= names and len(names) == 2 + 6 * 4 * 2


@pytest.mark.parametrize(("aspects", "reason"), [("0:1", "must both be positive"), ("abc", "not an aspect ratio")])
def test_cli_rejects_bad_aspects_in_one_line(sample_clip, aspects: str, reason: str) -> None:  # noqa: ANN001
    proc = subprocess.run(
        [sys.executable, "-m", "genmedia.cli", "thumbnails", str(sample_clip[0]), "--aspects", aspects],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and reason in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def _write_clip(path: Path, frames: np.ndarray, fps: int = 24, **writer: object) -> Path:
    with VideoWriter(path, frames.shape[2], frames.shape[1], fps, encoder="cpu", preset="ultrafast", **writer) as w:
        w.write_frames(frames)
    return path


def test_anamorphic_faces_are_not_squashed(ray_session, tmp_path: Path) -> None:  # noqa: ANN001
    """720x480 coded, SAR 32:27 (shown 853x480): the drawn face keeps its shape in every thumbnail."""
    sar = Fraction(32, 27)
    display = np.full((480, 854, 3), (40, 90, 60), np.uint8)
    cv2.circle(display, (120, 120), 40, (200, 200, 40), -1)
    face_only = np.zeros_like(display[:, 400:854])
    fx, fy, fw, fh = _draw_face(face_only)
    display[:, 400:854] = np.where(face_only.any(axis=2, keepdims=True), face_only, display[:, 400:854])
    coded = cv2.resize(display, (720, 480), interpolation=cv2.INTER_AREA)  # squashed horizontally, as stored
    clip = _write_clip(tmp_path / "anamorphic.mp4", np.repeat(coded[None], 48, axis=0), sample_aspect_ratio=sar)
    result = job.run(
        ray_session, str(clip), job.Params(variants=1, aspects=["1:1", "9:16"], size=480, formats=["jpeg"])
    )
    doc = json.loads(Path(result.output_uri, "thumbnails.json").read_text())
    assert doc["display_size"] == [853, 480] or doc["display_size"] == [854, 480]
    [variant] = doc["variants"]
    for label, a in variant["aspects"].items():
        x, y, w, h = a["crop"]
        assert a["framed_on"] == "faces" and x <= fx + 400 and fx + 400 + fw <= x + w, label
        # The skin-coloured face in the output has the drawn face's proportions (w/h = 140/184), not squashed.
        out = cv2.cvtColor(cv2.imread(str(Path(result.output_uri, a["file"]))), cv2.COLOR_BGR2RGB).astype(int)
        skin = (np.abs(out - (190, 150, 125)).sum(axis=2) < 60).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(skin)
        bw, bh = stats[1 + np.argmax(stats[1:, cv2.CC_STAT_AREA]), 2:4]
        assert abs(bw / bh - fw / fh) < 0.06, (label, bw, bh)


def test_rotated_video_is_cropped_in_display_orientation(ray_session, tmp_path: Path) -> None:  # noqa: ANN001
    clip = make_rotated_clip(tmp_path / "rotated.mp4", rotation=90, n_frames=36).path
    result = job.run(ray_session, clip, job.Params(variants=1, aspects=["9:16", "16:9"], size=320, formats=["webp"]))
    doc = json.loads(Path(result.output_uri, "thumbnails.json").read_text())
    assert doc["display_size"] == [180, 320]  # portrait as shown
    a = doc["variants"][0]["aspects"]
    assert a["9:16"]["crop"] == [0, 0, 180, 320]  # the whole portrait picture
    assert a["16:9"]["crop"][2:] == [180, 101]
    # The coded top-left red marker shows at the bottom-left of the portrait thumbnail.
    with Image.open(Path(result.output_uri, a["9:16"]["files"][0])) as im:
        rgb = np.asarray(im.convert("RGB")).astype(int)
    corner = rgb[-20:, :20].reshape(-1, 3).mean(axis=0)
    assert corner[0] > 180 and corner[1] < 110 and corner[2] < 110


def test_detector_objects_from_the_analysis_frame_the_crop_in_display_geometry(
    ray_session, tmp_path: Path, monkeypatch
) -> None:  # noqa: ANN001
    """480x360 coded, SAR 4:3, rotated 90: shown 360x640. A bright blob at the top draws the saliency; the
    analysis says an object sits at the bottom, and every crop frames the object instead."""
    from genmedia.pipelines import analyze

    display = np.full((640, 360, 3), 110, np.uint8)
    cv2.circle(display, (180, 120), 40, (255, 255, 255), -1)
    display[450:560, 100:260] = (140, 110, 80)
    scaled = np.ascontiguousarray(np.rot90(display, -1))  # 640x360 landscape, as coded before the rotation
    coded = cv2.resize(scaled, (480, 360), interpolation=cv2.INTER_AREA)
    clip = _write_clip(
        tmp_path / "rotated-anamorphic.mp4",
        np.repeat(coded[None], 48, axis=0),
        sample_aspect_ratio=Fraction(4, 3),
        rotation=90,
    )
    # The analysis detects on upright 180x320 thumbnails (320 wide in coded orientation): half the display scale.
    thumb_box = [50.0, 225.0, 80.0, 55.0]
    real = analyze.load_analysis

    def with_objects(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        analysis = real(*args, **kwargs)
        analysis.features["objects"] = [[[*thumb_box, 0.9, 2.0]] for _ in range(len(analysis.features))]
        return analysis

    monkeypatch.setattr(analyze, "load_analysis", with_objects)
    result = job.run(
        ray_session, str(clip), job.Params(variants=1, aspects=["16:9", "1:1"], size=320, formats=["jpeg"])
    )
    doc = json.loads(Path(result.output_uri, "thumbnails.json").read_text())
    assert doc["display_size"] == [360, 640]
    [variant] = doc["variants"]
    assert variant["objects"] == [[100, 450, 160, 110]]
    for label, a in variant["aspects"].items():
        x, y, w, h = a["crop"]
        assert a["framed_on"] == "objects" and a["objects_kept"] == 1, label
        assert x <= 100 and x + w >= 260 and y <= 450 and y + h >= 560, (label, a["crop"])
        # The object (brownish) is in the picture and the blob (white) is not.
        rgb = cv2.cvtColor(cv2.imread(str(Path(result.output_uri, a["file"]))), cv2.COLOR_BGR2RGB).astype(int)
        assert (np.abs(rgb - (140, 110, 80)).sum(axis=2) < 40).mean() > 0.05, label
        assert (rgb.min(axis=2) > 240).mean() < 0.001, label


def test_a_clip_under_one_second_is_rejected(ray_session, tmp_path: Path) -> None:  # noqa: ANN001
    clip = make_rotated_clip(tmp_path / "short.mp4", rotation=0, n_frames=12).path
    with pytest.raises(InputError, match=r"is 0\.50 s long; thumbnails need at least 1 s"):
        job.run(ray_session, clip, job.Params())


def test_an_all_black_clip_has_no_usable_frame(ray_session, tmp_path: Path) -> None:  # noqa: ANN001
    clip = _write_clip(tmp_path / "black.mp4", np.zeros((48, 180, 320, 3), np.uint8))
    with pytest.raises(InputError, match="no usable frame"):
        job.run(ray_session, str(clip), job.Params(variants=2))


def test_a_10000_character_title_is_shortened_with_a_warning_and_reruns_are_skipped(ray_session, sample_clip) -> None:  # noqa: ANN001
    params = job.Params(variants=1, aspects=["16:9"], size=320, formats=["jpeg"], title="storm " * 1666 + "end")
    assert len(params.title) > 9_990
    result = job.run(ray_session, str(sample_clip[0]), params)
    assert result.status is JobStatus.done
    assert any("shortened" in w for w in result.warnings)
    doc = json.loads(Path(result.output_uri, "thumbnails.json").read_text())
    assert len(doc["title"]) <= ray_session.pipelines.thumbnails.max_title_chars and doc["title"].endswith("…")
    again = job.run(ray_session, str(sample_clip[0]), params)
    assert again.status is JobStatus.skipped and again.output_uri == result.output_uri
    with pytest.raises(ValueError, match="at most 10000 (characters|items)"):
        job.Params(title="x" * 10_001)
