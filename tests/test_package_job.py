"""``genmedia package`` end to end: a per-title ladder packaged once as CMAF, read back as a player would.

The player-side checks: the HLS playlists pass the ``m3u8`` package's strict parser and FFmpeg's HLS
demuxer (through PyAV) decodes every variant with the source's frame count; the MPD parses with
``mpegdash`` and each representation's init segment followed by its media segments decodes with the same
count (PyAV's bundled FFmpeg has no DASH demuxer, so the segments are joined as a DASH player appends them).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import av
import cv2
import m3u8
import numpy as np
import pytest
import yaml
from mpegdash.parser import MPEGDASHParser
from typer.testing import CliRunner

from genmedia.cli import app
from genmedia.config import Config
from genmedia.media.probe import probe
from genmedia.media.synthetic import make_rotated_clip, make_sample_clip, make_vfr_clip

pytestmark = [pytest.mark.ray, pytest.mark.slow]

runner = CliRunner()
SEGMENT_S = 2.0
FPS = 24


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s of 640x360 at 24 fps with cuts, motion and sound."""
    path = tmp_path_factory.mktemp("package-clip") / "clip.mp4"
    make_sample_clip(path, width=640, height=360, fps=FPS, seconds=8.0, seed=3, save_truth=False)
    return path


@pytest.fixture(scope="module")
def cfg_file(ray_session, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: ANN001 - session fixture
    path = tmp_path_factory.mktemp("package-config") / "genmedia.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "storage": {"root": ray_session.storage.root, "cache_dir": ray_session.storage.cache_dir},
                "ray": {"num_cpus": 2},
            }
        )
    )
    return path


def _package(cfg_file: Path, video: Path, *args: str) -> dict:
    result = runner.invoke(
        app, ["package", str(video), "--segment-seconds", str(SEGMENT_S), *args, "--config", str(cfg_file), "--json"]
    )
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def _folder(result: dict) -> Path:
    return Path(result["files"]["package/master.m3u8"].removeprefix("file://")).parent


def _frames(path: Path, stream_index: int | None = None) -> tuple[int, list[int]]:
    """Decoded frame count of one video stream and the indices of its keyframes."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0] if stream_index is None else c.streams[stream_index]
        keys, n = [], 0
        for frame in c.decode(stream):
            if frame.key_frame:
                keys.append(n)
            n += 1
    return n, keys


@pytest.fixture(scope="module")
def packaged(cfg_file: Path, clip: Path) -> dict:
    return _package(cfg_file, clip)


def test_ladder_json_records_points_hull_rungs_and_the_fixed_ladder(packaged: dict) -> None:
    folder = _folder(packaged)
    ladder = json.loads((folder.parent / "ladder.json").read_text())
    sizes = {(p["width"], p["height"]) for p in ladder["points"]}
    assert sizes == {(640, 360), (416, 234)}  # 1080/720/540 would exceed the 360p source: capped, not upscaled
    assert ladder["hull"] and all(p in ladder["points"] for p in ladder["hull"])
    assert ladder["rungs"] and all(r["bitrate"] > 0 for r in ladder["rungs"])
    assert ladder["fixed_ladder"]["method"] and 0.0 <= ladder["fixed_ladder"]["saving"] < 1.0
    assert "VMAF is not in the bundled FFmpeg" in ladder["metric"]
    assert packaged["details"]["fixed_ladder_saving"] == ladder["fixed_ladder"]["saving"]
    assert any("above the source" in w for w in packaged["warnings"])


def test_hls_is_strict_cmaf_and_every_variant_decodes(packaged: dict, clip: Path) -> None:
    folder = _folder(packaged)
    expected_frames = _frames(clip)[0]
    master = m3u8.parse((folder / "master.m3u8").read_text(), strict=True)
    assert master["is_independent_segments"]
    assert master["media"] and master["media"][0]["type"] == "AUDIO"
    for variant in master["playlists"]:
        info = variant["stream_info"]
        assert info["codecs"].startswith("avc1.") and info["codecs"].endswith("mp4a.40.2")
        assert info["bandwidth"] >= info["average_bandwidth"] > 0
        media = m3u8.parse((folder / variant["uri"]).read_text(), strict=True)
        assert media["playlist_type"] == "vod" and media["is_endlist"]
        assert media["segment_map"][0]["uri"].startswith("init_") and media["segment_map"][0]["uri"].endswith(".m4s")
        assert [s["duration"] for s in media["segments"]] == [SEGMENT_S] * math.ceil(expected_frames / FPS / SEGMENT_S)
        # FFmpeg's HLS demuxer plays the variant: the source's frame count, a keyframe at each segment start.
        count, keys = _frames(folder / variant["uri"])
        assert count == expected_frames
        assert keys == list(range(0, expected_frames, int(SEGMENT_S * FPS)))


def test_dash_uses_the_same_segments_and_every_representation_decodes(packaged: dict, clip: Path) -> None:
    folder = _folder(packaged)
    expected_frames = _frames(clip)[0]
    mpd = MPEGDASHParser.parse(str(folder / "manifest.mpd"))
    video_sets = [a for a in mpd.periods[0].adaptation_sets if a.content_type == "video"]
    assert len(video_sets) == 1 and len(video_sets[0].representations) == len(packaged["details"]["rungs"])
    hls_segments = {line for p in folder.glob("*.m3u8") for line in p.read_text().splitlines() if line.endswith(".m4s")}
    for rep in video_sets[0].representations:
        template = rep.segment_templates[0]
        names = sorted(folder.glob(f"chunk_{rep.id}_*.m4s"))
        assert {n.name for n in names} <= hls_segments  # one set of segments, two manifests
        joined = folder / f"joined_{rep.id}.mp4"
        joined.write_bytes(
            (folder / template.initialization.replace("$RepresentationID$", rep.id)).read_bytes()
            + b"".join(n.read_bytes() for n in names)
        )
        count, keys = _frames(joined)
        joined.unlink()
        assert count == expected_frames
        assert keys == list(range(0, expected_frames, int(SEGMENT_S * FPS)))


def test_segments_stay_within_the_vbv_cap(packaged: dict) -> None:
    folder = _folder(packaged)
    ladder = json.loads((folder.parent / "ladder.json").read_text())
    dc = Config().delivery
    for rep_id, rung in enumerate(ladder["encoded"]):
        for segment in sorted(folder.glob(f"chunk_{rep_id}_*.m4s")):
            # VBV: bits in any window of T seconds <= maxrate * T + bufsize (bufsize = maxrate * buffer_seconds)
            assert 8 * segment.stat().st_size <= rung["maxrate"] * (SEGMENT_S + dc.buffer_seconds) * 1.02


def test_portrait_source_keeps_portrait_rungs(cfg_file: Path, tmp_path: Path) -> None:
    rotated = tmp_path / "portrait.mp4"
    make_rotated_clip(rotated, rotation=90, width=416, height=234, n_frames=48)
    result = _package(cfg_file, rotated, "--profile", "mobile")
    ladder = json.loads((_folder(result).parent / "ladder.json").read_text())
    assert all(r["height"] > r["width"] for r in ladder["rungs"])
    assert all(r["width"] <= 234 for r in ladder["rungs"])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--codec", "mpeg7"], "unsupported codec; supported: h264"),
        (["--profile", "tv"], "unknown delivery profile; configured: default, mobile"),
    ],
)
def test_bad_requests_are_one_line_exit_2(cfg_file: Path, clip: Path, args: list[str], expected: str) -> None:
    """Refused before any work, as the user runs it (a fresh process)."""
    proc = subprocess.run(
        [sys.executable, "-m", "genmedia.cli", "package", str(clip), *args, "--config", str(cfg_file)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], proc.stderr


def _smooth(picture: np.ndarray) -> np.ndarray:
    """The picture without the fine detail a low-rate rung's compression changes (the 4 px scroll stays visible)."""
    return cv2.GaussianBlur(picture, (0, 0), 2.0)


def test_variable_frame_rate_keeps_each_picture_at_its_time(cfg_file: Path, tmp_path: Path) -> None:
    """Dropped frames are held on screen: output frame n shows the last source picture due by its time."""
    vfr = tmp_path / "vfr.mp4"
    facts = make_vfr_clip(vfr, n_frames=40, width=320, height=240)
    result = _package(cfg_file, vfr, "--profile", "mobile")
    folder = _folder(result)
    playlists = m3u8.parse((folder / "master.m3u8").read_text(), strict=True)["playlists"]
    variant = max(playlists, key=lambda p: p["stream_info"]["bandwidth"])["uri"]  # the clearest pictures to match
    with av.open(str(vfr)) as c:
        source = [f.to_ndarray(format="gray").astype(np.float32) for f in c.decode(video=0)]
    with av.open(str(folder / variant)) as c:
        stream = c.streams.video[0]
        fps = float(stream.average_rate)
        shown = [
            f.reformat(width=320, height=240, format="gray").to_ndarray().astype(np.float32) for f in c.decode(stream)
        ]
    assert len(shown) == round(probe(vfr, Config().limits).duration * fps)  # the source's duration at a constant rate
    exact = 0
    for n, picture in enumerate(shown):
        expected = max(i for i, t in enumerate(facts.pts) if t <= (n + 0.5) / fps)
        distances = np.array([np.mean((_smooth(picture) - _smooth(s)) ** 2) for s in source])
        exact += int(np.argmin(distances)) == expected
        # The rung's first pictures are coarse (rate control starting on a scrolling texture, skipped blocks
        # keep parts of the previous picture), so two neighbours can come out nearly as close; a wrong time
        # is far off (the expected picture ~40 away while the shown one is ~1-5).
        assert distances[expected] <= 1.25 * distances.min(), (n, np.argsort(distances)[:3], expected)
    assert exact >= 0.9 * len(shown), (exact, len(shown))


def test_enhanced_video_is_packaged_with_the_same_ladder(cfg_file: Path, clip: Path) -> None:
    """``genmedia enhance --package``: the enhanced file goes through the delivery packager too."""
    result = runner.invoke(
        app, ["enhance", str(clip), "--denoise", "off", "--package", "--config", str(cfg_file), "--json"]
    )
    assert result.exit_code == 0, (result.output, result.exception)
    out = json.loads(result.stdout)
    folder = Path(out["files"]["package/master.m3u8"].removeprefix("file://")).parent
    master = m3u8.parse((folder / "master.m3u8").read_text(), strict=True)
    assert {p["stream_info"]["resolution"] for p in master["playlists"]} <= {"640x360", "416x234"}
    count, _ = _frames(folder / master["playlists"][0]["uri"])
    assert count == _frames(clip)[0]
    report = json.loads(Path(out["files"]["enhance.json"].removeprefix("file://")).read_text())
    assert report["streaming"]["master"] == "package/master.m3u8"
