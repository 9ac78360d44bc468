"""``genmedia trailer`` end to end on generated clips with known content, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from genmedia.cli import app
from genmedia.media.audio import write_audio_file
from genmedia.media.synthetic import make_rotated_clip
from genmedia.trailer.loudness import integrated_loudness

pytestmark = [pytest.mark.ray, pytest.mark.slow]

runner = CliRunner()


@pytest.fixture(scope="module")
def cfg_file(ray_session, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: ANN001
    """A config file pointing at the session's temporary storage (the Ray session is already up)."""
    path = tmp_path_factory.mktemp("trailer-config") / "genmedia.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "storage": {"root": ray_session.storage.root, "cache_dir": ray_session.storage.cache_dir},
                "ray": {"num_cpus": 2},
            }
        )
    )
    return path


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    """A 14 s track of kicks at 100 BPM from 0.37 s (beats off the 24 fps grid on purpose)."""
    sr = 48000
    n = 14 * sr
    t = np.arange(int(0.12 * sr)) / sr
    kick = (np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-t / 0.03)) / sr) * np.exp(-t / 0.04)).astype(np.float32)
    track = (0.05 * np.sin(2 * np.pi * 220 * np.arange(n) / sr)).astype(np.float32)
    beats = [float(b) for b in np.arange(0.37, 13.8, 0.6)]
    for b in beats:
        i = round(b * sr)
        track[i : i + kick.size] += 0.8 * kick[: n - i]
    path = tmp_path_factory.mktemp("music") / "track.flac"
    write_audio_file(path, track, sr)
    return path, beats


def trailer(cfg_file: Path, *args: str) -> dict:
    result = runner.invoke(app, ["trailer", *args, "--config", str(cfg_file), "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def local(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def decode(path: Path) -> tuple[list[np.ndarray], np.ndarray, dict]:
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        facts = {
            "v_start": float(v.start_time * v.time_base),
            "v_duration": float(v.duration * v.time_base),
            "a_start": float(a.start_time * a.time_base),
            "a_duration": float(a.duration * a.time_base),
            "size": (v.codec_context.width, v.codec_context.height),
        }
        images = [f.to_ndarray(format="rgb24") for f in c.decode(v)]
    with av.open(str(path)) as c:
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000)
        sound = np.concatenate([f.to_ndarray() for fr in c.decode(audio=0) for f in resampler.resample(fr)], axis=1)
    return images, sound, facts


def test_trailer_of_the_sample_clip(cfg_file: Path, sample_clip) -> None:  # noqa: ANN001
    clip, truth = sample_clip
    out = trailer(cfg_file, str(clip), "--duration", "3", "--qualities", "180p,144p", "--hls")
    assert out["status"] == "done" and out["details"]["encoder"] in ("libx264", "h264_nvenc")
    files = out["files"]
    assert {
        "trailer_180p.mp4",
        "trailer_144p.mp4",
        "edit_decision_list.json",
        "poster.jpg",
        "package/master.m3u8",
        "package/manifest.mpd",
        "package/ladder.json",
    } <= set(files)
    manifest = json.loads((local(out["output_uri"]) / "manifest.json").read_text())
    types = {f["name"]: f["content_type"] for f in manifest["files"]}
    assert types["trailer_180p.mp4"] == "video/mp4" and types["poster.jpg"] == "image/jpeg"
    assert types["package/master.m3u8"] == "application/vnd.apple.mpegurl"
    assert (
        types["package/manifest.mpd"] == "application/dash+xml"
        and types["package/chunk_0_00001.m4s"] == "video/iso.segment"
    )
    assert all("immutable" in f["cache_control"] for f in manifest["files"])
    # The streaming ladder comes from the delivery packager (tests/test_package_job.py reads it as a player);
    # the MP4 renditions are constant quality under a VBV cap of 0.2 bits per pixel per frame.
    assert {(r["width"], r["height"]) for r in out["details"]["streaming"]["rungs"]} <= {(320, 180), (256, 144)}
    assert out["details"]["max_bitrate"] == {"180p": int(320 * 180 * 24 * 0.2), "144p": int(256 * 144 * 24 * 0.2)}

    edl = json.loads(local(files["edit_decision_list.json"]).read_text())
    rate = float(Fraction(edl["fps"]))
    assert edl["frame_count"] == 72 and edl["duration"] == 3.0 and edl["sync"] == "source beats"

    # highlights: the fast-motion shot is used, the static one is not, nothing after the spoiler cut-off
    def content(t: float) -> str:
        return next(s.content for s in truth.shots if s.start <= t * truth.fps < s.end)

    used = [content((c["source_in"] + c["source_out"]) / 2) for c in edl["clips"]]
    assert "fast_motion" in used and "static" not in used, used
    assert all(c["source_out"] <= edl["spoiler_cutoff"] + 1e-6 for c in edl["clips"])
    assert all(c["reasons"] and {"source_in", "source_out", "trailer_in", "transition"} <= set(c) for c in edl["clips"])
    # every cut starts its clip on a beat of the source's sound: on the trailer's beat within a frame
    for c in edl["clips"][1:]:
        assert min(abs(c["source_in"] - b) for b in truth.audio.beat_times) <= 1 / rate, c

    images, sound, facts = decode(local(files["trailer_180p.mp4"]))
    assert len(images) == 72 and facts["size"] == (320, 180)
    assert facts["v_duration"] == pytest.approx(3.0, abs=1e-6)
    assert (
        abs(facts["a_start"] - facts["v_start"]) <= 1 / rate
        and abs(facts["a_duration"] - facts["v_duration"]) <= 1 / rate
    )
    dark = {i for i, im in enumerate(images) if im.mean() < 20}
    intended = set()
    for c in [*edl["clips"], edl["end_card"]]:
        if c["transition"] == "dip":
            half = c["transition_frames"] // 2
            intended |= set(range(c["trailer_in_frame"] - half, c["trailer_in_frame"] + half + 1))
    intended |= set(range(72 - edl["end_card"]["fade_out_frames"], 72))
    assert dark <= intended, (sorted(dark), sorted(intended))
    assert integrated_loudness(sound, 48000) == pytest.approx(-16.0, abs=1.0)
    assert edl["audio"]["measured_lufs"] == pytest.approx(-16.0, abs=0.5)
    poster = cv2.imread(str(local(files["poster.jpg"])))
    assert poster.shape == (180, 320, 3) and poster.mean() > 40

    again = trailer(cfg_file, str(clip), "--duration", "3", "--qualities", "180p,144p", "--hls")
    assert again["status"] == "skipped" and again["output_uri"] == out["output_uri"]


def test_music_sync_puts_every_cut_on_a_beat(cfg_file: Path, sample_clip, music) -> None:  # noqa: ANN001
    clip, _ = sample_clip
    track, beats = music
    out = trailer(
        cfg_file, str(clip), "--duration", "5", "--qualities", "180p", "--music", str(track), "--style", "calm"
    )
    edl = json.loads(local(out["files"]["edit_decision_list.json"]).read_text())
    rate = float(Fraction(edl["fps"]))
    assert edl["sync"] == "music beats" and edl["audio"]["kind"] == "music+source"
    assert edl["frame_count"] == 120
    cuts = [c["trailer_in_frame"] for c in edl["clips"][1:]] + [edl["end_card"]["trailer_in_frame"]]
    assert cuts
    for cut in cuts:  # the analysis' beat tracker found the track's beats; each cut sits within a frame of one
        assert min(abs(cut / rate - b) for b in beats) <= 1 / rate, (cut, edl["audio"]["beats"])


def test_silent_source_gives_a_silent_or_music_only_trailer(cfg_file: Path, tmp_path: Path, music) -> None:  # noqa: ANN001
    facts = make_rotated_clip(tmp_path / "portrait.mp4", rotation=90, n_frames=96)  # 4 s, no sound, shown portrait
    out = trailer(cfg_file, facts.path, "--duration", "2", "--qualities", "180p")
    assert any("silent" in w for w in out["warnings"])
    images, sound, vfacts = decode(local(out["files"]["trailer_180p.mp4"]))
    assert vfacts["size"] == (180, 320) and len(images) == 48  # upright portrait
    assert np.abs(sound).max() < 1e-3
    with_music = trailer(cfg_file, facts.path, "--duration", "2", "--qualities", "180p", "--music", str(music[0]))
    edl = json.loads(local(with_music["files"]["edit_decision_list.json"]).read_text())
    assert edl["audio"]["kind"] == "music"
    _, sound, _ = decode(local(with_music["files"]["trailer_180p.mp4"]))
    assert integrated_loudness(sound, 48000) == pytest.approx(-16.0, abs=1.0)


def test_source_shorter_than_the_trailer(cfg_file: Path, sample_clip) -> None:  # noqa: ANN001
    out = trailer(cfg_file, str(sample_clip[0]), "--duration", "30", "--qualities", "180p")
    assert out["warnings"] and "instead of 30.00 s" in " ".join(out["warnings"])
    assert 3.0 < out["details"]["duration"] < 10.0


GENMEDIA = [sys.executable, "-m", "genmedia.cli"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GENMEDIA, *args], capture_output=True, text=True, timeout=300, env=dict(os.environ))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--duration", "0"], "--duration: Input should be greater than 0"),
        (["--duration", "-5"], "--duration: Input should be greater than 0"),
        (["--qualities", "720x"], "quality '720x' must look like 1080p"),
    ],
)
def test_bad_options_are_one_line_exit_2(sample_clip, args: list[str], expected: str) -> None:  # noqa: ANN001
    proc = cli("trailer", str(sample_clip[0]), *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in proc.stderr, proc.stderr


def test_music_that_is_not_audio_is_a_clear_error(sample_clip, tmp_path: Path) -> None:  # noqa: ANN001
    text = tmp_path / "song.mp3"
    text.write_text("not music\n" * 100)
    proc = cli("trailer", str(sample_clip[0]), "--music", str(text))
    assert proc.returncode == 2 and str(text) in proc.stderr and "not a usable audio file" in proc.stderr, proc.stderr
    silent = make_rotated_clip(tmp_path / "silent.mp4", n_frames=12)
    proc = cli("trailer", str(sample_clip[0]), "--music", silent.path)
    assert proc.returncode == 2 and "has no audio stream" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
