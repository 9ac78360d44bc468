"""Probe: exact metadata on good and messy files, one clear InputError on bad ones, crash isolation."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from genmedia.config import LimitsConfig
from genmedia.errors import InputError
from genmedia.media import probe as probe_module
from genmedia.media.probe import probe


def test_sample_clip_metadata_is_exact(sample_clip) -> None:  # noqa: ANN001
    path, truth = sample_clip
    info = probe(path)
    assert (info.width, info.height) == (truth.width, truth.height)
    assert info.frame_count == truth.n_frames == info.header_frame_count
    assert info.fps == pytest.approx(truth.fps)
    assert info.duration == pytest.approx(truth.duration, abs=1e-3)
    assert not info.variable_frame_rate
    assert info.video_codec == "h264" and info.pix_fmt == "yuv420p" and info.bit_depth == 8
    assert info.rotation == 0 and info.sample_aspect_ratio == "1:1"
    assert [a.sample_rate for a in info.audio_streams] == [truth.audio.sample_rate]
    assert len(info.frame_pts) == truth.n_frames and info.keyframe_pts[0] == info.frame_pts[0]
    summary = info.summary()
    assert "frame_pts" not in summary and {
        "duration",
        "frame_count",
        "fps",
        "width",
        "height",
        "rotation",
        "variable_frame_rate",
        "video_codec",
        "audio_streams",
    } <= set(summary)


def test_variable_frame_rate_with_dropped_frames(messy_media) -> None:  # noqa: ANN001
    facts = messy_media["vfr"]
    info = probe(facts.path)
    assert info.variable_frame_rate
    assert info.frame_count == facts.n_frames
    times = [float(p * info.time_base_fraction) for p in info.frame_pts]
    assert times == pytest.approx(list(facts.pts), abs=1e-6)
    assert info.fps == pytest.approx(facts.n_frames / info.duration)


def test_rotation_swaps_the_display_size(messy_media) -> None:  # noqa: ANN001
    facts = messy_media["rotated"]
    info = probe(facts.path)
    assert info.rotation == facts.rotation % 360 != 0
    assert (info.width, info.height) == (facts.width, facts.height)
    assert (info.display_width, info.display_height) == (facts.height, facts.width)


def test_non_square_pixels_give_the_display_width(messy_media) -> None:  # noqa: ANN001
    facts = messy_media["nonsquare"]
    info = probe(facts.path)
    sar = facts.sample_aspect_ratio
    assert info.sample_aspect_ratio == f"{sar.numerator}:{sar.denominator}"
    assert info.display_width == round(facts.width * sar) + round(facts.width * sar) % 2
    assert info.display_height == facts.height
    assert info.fps == pytest.approx(30000 / 1001)


def test_container_without_frame_count_is_counted(messy_media) -> None:  # noqa: ANN001
    facts = messy_media["mkv_no_frame_count"]
    info = probe(facts.path)
    assert info.header_frame_count is None
    assert info.frame_count == facts.n_frames


def test_odd_size_and_ten_bit(messy_media) -> None:  # noqa: ANN001
    odd = probe(messy_media["odd_size"].path)
    assert (odd.width, odd.height) == (641, 361)
    ten = probe(messy_media["ten_bit"].path)
    assert ten.bit_depth == 10 and ten.video_codec == "hevc"


def test_audio_only_file(messy_media) -> None:  # noqa: ANN001
    path = messy_media["audio_only"].path
    with pytest.raises(InputError, match=r"has no video stream \(audio-only file\)"):
        probe(path)
    info = probe(path, require_video=False)
    assert not info.has_video and info.has_audio and info.duration > 1


def _bad(path: Path | str, limits: LimitsConfig | None = None) -> str:
    with pytest.raises(InputError) as e:
        probe(path, limits)
    message = str(e.value)
    assert message.startswith(str(path)) and "\n" not in message
    return message


def test_bad_inputs_each_give_one_line_naming_file_and_reason(tmp_path: Path, sample_clip, messy_media) -> None:  # noqa: ANN001
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    assert "is empty (0 bytes)" in _bad(empty)
    assert "is not a media file FFmpeg can read" in _bad(text)
    assert "does not exist" in _bad(tmp_path / "missing.mp4")
    assert "is a directory" in _bad(tmp_path)
    assert "is truncated or corrupt: only" in _bad(messy_media["truncated"].path)
    path, _ = sample_clip
    assert "over the limit" in _bad(path, LimitsConfig(max_file_bytes=1000))
    assert "limits.max_pixels" in _bad(path, LimitsConfig(max_pixels=320 * 100))
    assert "limits.max_duration_s" in _bad(path, LimitsConfig(max_duration_s=2))
    assert "limits.max_streams" in _bad(path, LimitsConfig(max_streams=1))


def test_truncated_file_with_its_index_at_the_end(tmp_path: Path) -> None:
    """Without faststart the index (moov) is at the end: a cut-off copy has none and cannot be opened."""
    import numpy as np

    from genmedia.media.encode import VideoWriter
    from genmedia.media.synthetic import truncate_file

    full = tmp_path / "full.mp4"
    with VideoWriter(full, 64, 48, 24, faststart=False) as writer:
        writer.write_frames(np.random.default_rng(0).integers(0, 255, (24, 48, 64, 3), dtype=np.uint8))
    cut = truncate_file(full, tmp_path / "cut.mp4", 0.5)
    assert "is not a media file FFmpeg can read" in _bad(cut.path)


def test_corrupt_middle_still_probes(messy_media) -> None:  # noqa: ANN001
    info = probe(messy_media["corrupt_middle"].path)
    assert info.frame_count > 0


def test_a_file_that_crashes_the_decoder_does_not_take_the_caller_down(
    monkeypatch: pytest.MonkeyPatch, sample_clip
) -> None:  # noqa: ANN001
    """The probe's child process dies of SIGSEGV (as FFmpeg can on a truncated bitstream); we get an InputError."""
    crash = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]
    monkeypatch.setattr(probe_module, "_worker_command", lambda path, limits: crash)
    with pytest.raises(InputError, match=r"crashed the decoder \(SIGSEGV\)"):
        probe(sample_clip[0])


def test_a_hanging_probe_times_out(monkeypatch: pytest.MonkeyPatch, sample_clip) -> None:  # noqa: ANN001
    hang = [sys.executable, "-c", "import time; time.sleep(60)"]
    monkeypatch.setattr(probe_module, "_worker_command", lambda path, limits: hang)
    with pytest.raises(InputError, match=r"probing took longer than 1 s"):
        probe(sample_clip[0], LimitsConfig(probe_timeout_s=1))


def test_probing_an_unchanged_file_again_reuses_the_report(
    monkeypatch: pytest.MonkeyPatch, sample_clip, tmp_path: Path
) -> None:  # noqa: ANN001
    import os
    import shutil

    calls: list[str] = []
    real = probe_module._run_worker
    monkeypatch.setattr(probe_module, "_run_worker", lambda path, limits: calls.append(path) or real(path, limits))
    copy = tmp_path / "clip.mp4"
    shutil.copy(sample_clip[0], copy)
    first = probe(copy)
    again = probe(copy)
    assert len(calls) == 1 and again == first
    again.frame_pts.clear()  # a caller changing its copy changes nobody else's
    assert probe(copy).frame_pts == first.frame_pts and len(calls) == 1
    with pytest.raises(InputError, match="over the limit"):  # limits still apply to a reused report
        probe(copy, LimitsConfig(max_duration_s=1))
    stat = copy.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # the file changed
    probe(copy)
    assert len(calls) == 2


def test_playlists_are_not_followed(tmp_path: Path) -> None:
    """An HLS playlist pointing at another file is refused by the demuxer whitelist, not opened."""
    (tmp_path / "secret.ts").write_bytes(b"\x47" * 188 * 10)
    playlist = tmp_path / "list.m3u8"
    playlist.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nsecret.ts\n#EXT-X-ENDLIST\n")
    assert "is not a media file FFmpeg can read" in _bad(playlist)
