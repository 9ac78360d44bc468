"""The QA gate's checks on generated pictures and clips: black, blurred and cut-face thumbnails, subtitle cue rules
and doubtful cues, trailer A/V sync, length and loudness, enhanced video fidelity and frozen frames."""

from __future__ import annotations

import math
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from genmedia.qa import enhance, subtitles, thumbnails, trailer, verdict_of
from genmedia.schemas import QaCheck

RULES = {"max_chars_per_line": 42, "max_lines": 2, "max_cps": 17.0, "min_duration": 5 / 6, "max_duration": 7.0}


def _detailed(seed: int = 0, size: tuple[int, int] = (320, 192)) -> np.ndarray:
    """A textured RGB picture (value noise upscaled): sharp edges everywhere."""
    rng = np.random.default_rng(seed)
    return cv2.resize(
        rng.integers(0, 255, (size[1] // 8, size[0] // 8, 3), np.uint8), size, interpolation=cv2.INTER_NEAREST
    )


def _write_clip(
    path: Path, frames: list[np.ndarray], fps: int = 25, audio_s: float | None = None, amp: float = 0.1
) -> Path:
    """H.264 (+ AAC 440 Hz stereo tone of ``audio_s`` seconds at amplitude ``amp``) with PyAV."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        audio = out.add_stream("aac", rate=48000) if audio_s else None
        if audio is not None:
            audio.layout = "stereo"
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if audio is not None:
            n = int(audio_s * 48000)
            tone = (amp * np.sin(2 * np.pi * 440 * np.arange(n) / 48000)).astype(np.float32)
            for start in range(0, n, 1024):
                chunk = np.ascontiguousarray(np.stack([tone, tone])[:, start : start + 1024])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                frame.sample_rate, frame.pts = 48000, start
                out.mux(audio.encode(frame))
            out.mux(audio.encode())
    return path


# ------------------------------------------------------------------------------------------ thumbnails


def _image_verdict(image: np.ndarray) -> dict[str, bool]:
    checks = thumbnails.image_checks(image, "t.jpg", black_max_luma=16.0, blur_min_var=20.0)
    return {c.name: c.passed for c in checks}


@pytest.mark.unit
def test_a_black_frame_fails_and_a_sharp_frame_passes() -> None:
    assert _image_verdict(np.full((360, 640, 3), 4, np.uint8)) == {"not_black": False, "sharp": False}
    assert _image_verdict(_detailed(size=(640, 360))) == {"not_black": True, "sharp": True}


@pytest.mark.unit
def test_a_blurred_frame_fails_sharpness_only() -> None:
    blurred = cv2.GaussianBlur(_detailed(size=(640, 360)), (0, 0), 12)
    assert _image_verdict(blurred) == {"not_black": True, "sharp": False}


@pytest.mark.unit
def test_thumbnails_decode_what_the_job_writes() -> None:
    ok, jpeg = cv2.imencode(".jpg", _detailed())
    assert ok and thumbnails.decode_image(jpeg.tobytes(), "a.jpg").shape == (192, 320, 3)
    with pytest.raises(ValueError, match="b.jpg: not a decodable image"):
        thumbnails.decode_image(b"not an image", "b.jpg")


@pytest.mark.unit
def test_a_face_cut_by_the_crop_edge_fails() -> None:
    crop = [100, 0, 400, 400]
    whole = thumbnails.faces_check(crop, [[150, 50, 80, 80]], "a.jpg", 0.05)
    cut = thumbnails.faces_check(crop, [[150, 50, 80, 80], [460, 100, 80, 80]], "a.jpg", 0.05)
    slightly = thumbnails.faces_check(crop, [[98, 50, 80, 80]], "a.jpg", 0.05)  # 2 of 80 px: within 5%
    assert whole.passed and slightly.passed and not cut.passed
    assert cut.value == 0.5 and "[460, 100, 80, 80] cut by 50%" in cut.reason


# ------------------------------------------------------------------------------------------ subtitles


@pytest.mark.unit
def test_cue_rules_name_each_broken_rule() -> None:
    cues = [
        {"start": 0.0, "end": 2.0, "text": "A short line."},
        {"start": 3.0, "end": 3.4, "text": "Too quick."},
        {"start": 4.0, "end": 5.0, "text": "x" * 50},
        {"start": 6.0, "end": 14.0, "text": "one\ntwo\nthree"},
    ]
    problems = subtitles.cue_violations(cues, RULES)
    assert problems == [
        "cue 1 [3.00-3.40]: 0.40 s on screen (at least 0.83)",
        "cue 1 [3.00-3.40]: 25.0 characters/s (at most 17)",
        "cue 2 [4.00-5.00]: a line of 50 characters (at most 42)",
        "cue 2 [4.00-5.00]: 50.0 characters/s (at most 17)",
        "cue 3 [6.00-14.00]: 3 lines (at most 2)",
        "cue 3 [6.00-14.00]: 8.00 s on screen (at most 7)",
    ]
    assert subtitles.cue_violations(cues[:1], RULES) == []


@pytest.mark.unit
def test_a_doubtful_segment_must_be_flagged_in_its_cues() -> None:
    segments = [{"start": 0.0, "end": 2.0, "doubtful": []}, {"start": 2.5, "end": 4.0, "doubtful": ["repetition"]}]
    cues = [{"start": 0.0, "end": 2.0, "flags": []}, {"start": 2.6, "end": 4.0, "flags": []}]
    assert subtitles.unflagged_doubtful(cues, segments) == ["cue 1 [2.60-4.00] shows a doubtful segment (repetition)"]
    cues[1]["flags"] = ["doubtful"]
    assert subtitles.unflagged_doubtful(cues, segments) == []


# ------------------------------------------------------------------------------------------ trailers


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """2 s clips: in sync, audio 0.8 s short, and (for enhance) a moving source, its 2x upscale, the upscale
    with 1.4 s frozen, unrelated pictures, and a source that is itself still."""
    d = tmp_path_factory.mktemp("qa-clips")
    base = cv2.resize(_detailed(3, (40, 24)), (320, 192), interpolation=cv2.INTER_CUBIC)
    moving = [np.roll(base, 4 * i, axis=1) for i in range(50)]
    up = [cv2.resize(f, (640, 384), interpolation=cv2.INTER_CUBIC) for f in moving]
    return {
        "sync": _write_clip(d / "sync.mp4", moving, audio_s=2.0),
        "desync": _write_clip(d / "desync.mp4", moving, audio_s=1.2),
        "source": _write_clip(d / "source.mp4", moving),
        "upscaled": _write_clip(d / "upscaled.mp4", up),
        "frozen": _write_clip(d / "frozen.mp4", up[:10] + [up[10]] * 35 + up[45:]),
        "unrelated": _write_clip(d / "unrelated.mp4", [np.roll(f, 90, axis=0) for f in up]),
        "still_source": _write_clip(d / "still_source.mp4", [moving[0]] * 50),
        "still_upscaled": _write_clip(d / "still_upscaled.mp4", [up[0]] * 50),
    }


@pytest.mark.unit
def test_av_desync_is_detected(clips: dict[str, Path]) -> None:
    synced, late = trailer.stream_spans(clips["sync"]), trailer.stream_spans(clips["desync"])
    assert synced.video == pytest.approx(2.0) and late.video == pytest.approx(2.0)
    assert trailer.av_sync_check("sync.mp4", synced, 0.15).passed
    check = trailer.av_sync_check("desync.mp4", late, 0.15)
    assert not check.passed and check.value == pytest.approx(-0.8, abs=0.05)


@pytest.mark.unit
def test_trailer_length_is_checked_against_the_request() -> None:
    assert trailer.duration_check("t.mp4", 30.2, 30.0, 0.5).passed
    late = trailer.duration_check("t.mp4", 21.0, 30.0, 0.5)
    assert not late.passed and "21.00 s for 30 s requested" in late.reason


@pytest.mark.unit
def test_loudness_is_ebu_r128_integrated(clips: dict[str, Path]) -> None:
    # A stereo sine at amplitude 0.1 (-20 dBFS): BS.1770 gives -20 + 3 (two channels) - 3.01 (sine RMS) - 0.7
    # (K-weighting at 440 Hz, about -0.7 dB) = about -20.7 LUFS.
    lufs = trailer.integrated_loudness(clips["sync"])
    assert lufs == pytest.approx(-20.7, abs=0.5)
    assert trailer.loudness_check("t.mp4", lufs, -21.0, 2.0).passed
    assert not trailer.loudness_check("t.mp4", lufs, -16.0, 2.0).passed
    assert trailer.integrated_loudness(clips["source"]) is None
    assert not trailer.loudness_check("t.mp4", -math.inf, -16.0, 2.0).passed


# ------------------------------------------------------------------------------------------ enhance


@pytest.mark.unit
def test_frames_at_decodes_forward_between_samples_and_seeks_far_ones(tmp_path: Path) -> None:
    """Each sample is the frame showing at its time, whether it is reached by decoding on, by a seek (back, or
    more than SEEK_AHEAD_S ahead), twice in one frame, or past the end (the last frame)."""
    levels = [8 * k for k in range(30)]
    clip = _write_clip(tmp_path / "levels.mp4", [np.full((64, 64, 3), v, np.uint8) for v in levels], fps=2)
    times = [0.0, 0.1, 1.6, 13.0, 100.0]  # 13 s: over SEEK_AHEAD_S past frame 3
    got = [float(f.mean()) for f in enhance.frames_at(clip, times)]
    assert got == pytest.approx([levels[0], levels[0], levels[3], levels[26], levels[29]], abs=3)
    back = [float(f.mean()) for f in enhance.frames_at(clip, [10.0, 2.0])]  # not ascending: a seek back
    assert back == pytest.approx([levels[20], levels[4]], abs=3)


@pytest.mark.unit
def test_an_upscale_matches_its_source_and_unrelated_pictures_do_not(clips: dict[str, Path]) -> None:
    good = enhance.fidelity(clips["source"], clips["upscaled"], 2.0, 4)
    bad = enhance.fidelity(clips["source"], clips["unrelated"], 2.0, 4)
    assert good[0] > 28 and good[1] > 0.95
    assert bad[0] < 15 and bad[1] < 0.6
    assert [c.passed for c in enhance.fidelity_checks(*good, 20.0, 0.6)] == [True, True]
    assert [c.passed for c in enhance.fidelity_checks(*bad, 20.0, 0.6)] == [False, False]


@pytest.mark.unit
def test_frozen_frames_are_detected_unless_the_source_is_still_there_too(clips: dict[str, Path]) -> None:
    source_runs = enhance.still_runs(clips["source"], 1.0, -60.0)
    frozen = enhance.still_runs(clips["frozen"], 1.0, -60.0)
    assert source_runs == [] and enhance.still_runs(clips["upscaled"], 1.0, -60.0) == []
    assert (
        len(frozen) == 1
        and frozen[0][0] == pytest.approx(0.4, abs=0.05)
        and frozen[0][1] == pytest.approx(1.8, abs=0.05)
    )
    assert not enhance.frozen_check(enhance.frozen_runs(frozen, source_runs), 1.0).passed
    still = enhance.still_runs(clips["still_upscaled"], 1.0, -60.0)
    assert (
        still
        and enhance.frozen_check(
            enhance.frozen_runs(still, enhance.still_runs(clips["still_source"], 1.0, -60.0)), 1.0
        ).passed
    )


@pytest.mark.unit
def test_the_verdict_fails_when_any_check_fails() -> None:
    ok, bad = QaCheck(name="a", passed=True), QaCheck(name="b", passed=False, output="x.jpg", reason="too dark")
    assert verdict_of([ok]).verdict == "pass" and verdict_of([]).verdict == "pass"
    failed = verdict_of([ok, bad])
    assert failed.verdict == "fail" and failed.failures == [bad] and failed.reasons() == "b (x.jpg): too dark"


@pytest.mark.unit
def test_sharpness_does_not_depend_on_orientation() -> None:
    picture = _detailed(5, (640, 360))
    turned = np.ascontiguousarray(np.rot90(picture))
    assert thumbnails.laplacian_variance(turned) == pytest.approx(thumbnails.laplacian_variance(picture), rel=0.02)


def test_trailer_checks_read_outputs_stored_on_s3(clips: dict[str, Path], s3_server: str, s3_bucket: str) -> None:
    """The checks run on a local copy of each video output when the outputs live on S3 (a moto server: not unit)."""
    from genmedia.config import Config
    from genmedia.media.probe import probe
    from genmedia.qa import QaInput, run_checks
    from genmedia.storage import JobOutput

    cfg = Config()
    cfg = cfg.model_copy(
        update={"storage": cfg.storage.model_copy(update={"s3_endpoint_url": s3_server, "s3_region": "us-east-1"})}
    )
    out = JobOutput(f"s3://{s3_bucket}/out", "vid", "trailer", "p" * 12, cfg.storage)
    out.write_file("trailer_480p.mp4", clips["desync"])
    info = probe(clips["desync"], cfg.limits)
    verdict = run_checks(QaInput(cfg, "trailer", clips["desync"], info, out, {"duration": 2.0}))
    assert {c.name: c.passed for c in verdict.checks} == {"duration": True, "av_sync": False, "loudness": False}
    assert verdict.verdict == "fail" and all(c.output == "trailer_480p.mp4" for c in verdict.checks)
