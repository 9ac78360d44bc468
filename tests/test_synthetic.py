"""The generated media are what their ground truth says, checked by decoding them with PyAV."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from genmedia.media.audio import has_audio, load_audio
from genmedia.media.synthetic import (
    AudioFacts,
    ClipFacts,
    DamageFacts,
    SampleTruth,
    load_truth,
    make_rotated_clip,
    make_sample_clip,
    sample_speech_text,
    truth_path,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def luma(sample_clip: tuple[Path, SampleTruth]) -> np.ndarray:
    """Every frame of the sample clip as float32 luma, shape (n, h, w)."""
    with av.open(str(sample_clip[0])) as container:
        return np.stack([f.to_ndarray(format="gray").astype(np.float32) for f in container.decode(video=0)])


def _diff(luma: np.ndarray, i: int) -> float:
    """Mean absolute luma difference between frame ``i - 1`` and frame ``i``."""
    return float(np.abs(luma[i] - luma[i - 1]).mean())


def _decode_times(path: str) -> list[float]:
    with av.open(path) as container:
        return [float(f.pts * f.time_base) for f in container.decode(video=0)]


# ------------------------------------------------------------------------------- the sample clip


def test_file_matches_truth_header(sample_clip: tuple[Path, SampleTruth]) -> None:
    path, truth = sample_clip
    assert load_truth(path) == truth
    assert truth_path(path).name == "sample.truth.json"
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert (video.width, video.height) == (truth.width, truth.height)
        assert video.average_rate == Fraction(truth.fps_num, truth.fps_den)
        assert video.codec_context.name == truth.video_codec
        assert container.streams.audio[0].rate == truth.audio.sample_rate
    times = _decode_times(str(path))
    assert len(times) == truth.n_frames == 240
    assert times == pytest.approx([truth.time_of(i) for i in range(truth.n_frames)], abs=1e-9)
    assert truth.duration == pytest.approx(10.0)


def test_shots_partition_the_clip(sample_clip: tuple[Path, SampleTruth]) -> None:
    truth = sample_clip[1]
    assert truth.shots[0].start == 0 and truth.shots[-1].end == truth.n_frames
    assert all(a.end == b.start for a, b in zip(truth.shots, truth.shots[1:]))
    starts = {s.start for s in truth.shots}
    assert set(truth.cuts) <= starts
    assert len(truth.shots) == len(truth.cuts) + len(truth.fades) + len(truth.dissolves) + 1


def test_hard_cuts_stand_out(sample_clip: tuple[Path, SampleTruth], luma: np.ndarray) -> None:
    truth = sample_clip[1]
    flash = truth.flashes[0]
    calm = [i for i in range(truth.pan.start + 1, truth.pan.end)]
    calm += [i for i in range(truth.shots[3].start + 1, truth.fades[0].out_start) if i not in (flash.start, flash.end)]
    calm += list(range(truth.static.start + 1, truth.static.end))
    quiet = max(_diff(luma, i) for i in calm)
    for cut in truth.cuts:
        assert _diff(luma, cut) > 10 * quiet, f"cut at {cut}"


def test_flash_is_bright_and_brief(sample_clip: tuple[Path, SampleTruth], luma: np.ndarray) -> None:
    truth = sample_clip[1]
    flash = truth.flashes[0]
    assert 2 <= flash.end - flash.start <= 3
    before, after = luma[flash.start - 1].mean(), luma[flash.end].mean()
    assert before == pytest.approx(after, abs=1)
    assert all(luma[i].mean() > before + 40 for i in range(flash.start, flash.end))
    assert _diff(luma, flash.start) > 30 and _diff(luma, flash.end) > 30


def test_fade_reaches_black_and_comes_back(sample_clip: tuple[Path, SampleTruth], luma: np.ndarray) -> None:
    fade = sample_clip[1].fades[0]
    means = luma.mean(axis=(1, 2))
    assert np.all(means[fade.black_start : fade.black_end] < 3)
    assert np.all(np.diff(means[fade.out_start - 1 : fade.black_start + 1]) < 0)
    assert np.all(np.diff(means[fade.black_end - 1 : fade.in_end + 1]) > 0)
    assert means[fade.out_start - 1] > 40 and means[fade.in_end] > 40


def test_dissolve_moves_steadily_from_one_shot_to_the_next(
    sample_clip: tuple[Path, SampleTruth], luma: np.ndarray
) -> None:
    span = sample_clip[1].dissolves[0]
    reference = luma[span.start - 1]
    distance = [float(np.abs(luma[i] - reference).mean()) for i in range(span.start, span.end + 1)]
    assert np.all(np.diff(distance) > 0)
    steps = [_diff(luma, i) for i in range(span.start, span.end)]
    assert max(steps) < 0.5 * distance[-1]  # no single step looks like a cut


def test_motion_ranking(sample_clip: tuple[Path, SampleTruth], luma: np.ndarray) -> None:
    truth = sample_clip[1]

    def motion(name: str) -> float:
        span = getattr(truth, name)
        return float(np.mean([_diff(luma, i) for i in range(span.start + 1, span.end)]))

    levels = [motion(name) for name in truth.motion_ranking]
    assert levels == sorted(levels, reverse=True)
    assert levels[0] > 2 * levels[1] and levels[-1] < 0.2


def test_pan_shifts_by_the_stated_speed(sample_clip: tuple[Path, SampleTruth], luma: np.ndarray) -> None:
    pan = sample_clip[1].pan
    s = pan.px_per_frame
    for i in range(pan.start, pan.end - 1, 7):
        shifted = np.abs(luma[i + 1][:, :-s] - luma[i][:, s:]).mean()
        unshifted = np.abs(luma[i + 1] - luma[i]).mean()
        assert shifted < 0.5 * unshifted


def test_face_is_found_where_truth_says(sample_clip: tuple[Path, SampleTruth], luma: np.ndarray) -> None:
    face = sample_clip[1].face
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    found = cascade.detectMultiScale(luma[(face.start + face.end) // 2].astype(np.uint8), 1.1, 4)
    x, y, w, h = face.box

    def iou(box: np.ndarray) -> float:
        bx, by, bw, bh = (int(v) for v in box)
        ix = max(0, min(x + w, bx + bw) - max(x, bx))
        iy = max(0, min(y + h, by + bh) - max(y, by))
        return ix * iy / (w * h + bw * bh - ix * iy)

    assert max((iou(b) for b in found), default=0.0) > 0.4


def test_beats_are_energy_peaks(sample_clip: tuple[Path, SampleTruth]) -> None:
    path, truth = sample_clip
    sr = 16000
    audio = load_audio(path, sr)
    beats = truth.audio.beat_times
    assert np.allclose(np.diff(beats), 60.0 / truth.audio.bpm)
    assert len(beats) == 20

    def energy(a: float, b: float) -> float:
        return float(np.mean(audio[round(a * sr) : round(b * sr)] ** 2))

    for t in beats:
        assert energy(t, t + 0.05) > 8 * energy(t - 0.06, t - 0.01), f"beat at {t}"
        window = np.abs(audio[round((t - 0.1) * sr) : round((t + 0.1) * sr)])
        assert abs(int(np.argmax(window)) / sr - 0.1) < 0.05


def test_speech_is_where_truth_says(sample_clip: tuple[Path, SampleTruth]) -> None:
    path, truth = sample_clip
    speech = truth.audio.speech
    assert speech is not None and speech.text == sample_speech_text()
    assert speech.end - speech.start == pytest.approx(5.228, abs=0.01)
    sr = 16000
    high = np.diff(load_audio(path, sr)) ** 2  # speech has far more high-frequency energy than kicks and pad
    times = np.arange(high.size) / sr
    period = 60.0 / truth.audio.bpm
    phase = (times - truth.audio.beat_times[0]) % period
    between_drums = (phase > 0.16) & (np.abs(phase - period / 2) > 0.04)
    inside = between_drums & (times >= speech.start) & (times < speech.end)
    outside = between_drums & ((times < speech.start - 0.05) | (times >= speech.end + 0.05))
    assert high[inside].mean() > 50 * high[outside].mean()


def test_too_short_clip_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least"):
        make_sample_clip(tmp_path / "short.mp4", seconds=4)


def test_script_writes_clip_truth_and_messy_set(tmp_path: Path) -> None:
    out = tmp_path / "media"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "make_sample_media.py"),
            str(out),
            "--seconds",
            "8",
            "--width",
            "160",
            "--height",
            "96",
            "--messy",
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    truth = json.loads((out / "sample.truth.json").read_text())
    assert truth["n_frames"] == 192 and truth["width"] == 160
    facts = json.loads((out / "messy" / "messy.json").read_text())
    assert set(facts) >= {"vfr", "rotated", "nonsquare", "odd_size", "ten_bit", "audio_only", "truncated"}
    assert all(Path(f["path"]).exists() for f in facts.values())


# ------------------------------------------------------------------------------- messy inputs


def test_vfr_timestamps_read_back(messy_media: dict[str, object]) -> None:
    facts = messy_media["vfr"]
    assert isinstance(facts, ClipFacts) and facts.fps is None
    times = _decode_times(facts.path)
    assert times == pytest.approx(list(facts.pts), abs=1e-6)
    gaps = np.round(np.diff(times) * 60).astype(int)
    assert len(set(gaps)) >= 3 and gaps.max() >= 4  # irregular, with dropped frames


@pytest.mark.parametrize("rotation", [90, -90])
def test_rotation_reads_back(tmp_path: Path, rotation: int) -> None:
    facts = make_rotated_clip(tmp_path / "rot.mp4", rotation=rotation)
    with av.open(facts.path) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (facts.width, facts.height) == (320, 180)
        frame = next(container.decode(video=0))
    assert frame.rotation == rotation == facts.rotation
    assert facts.display_size == (180, 320)


def test_nonsquare_pixels_read_back(messy_media: dict[str, object]) -> None:
    facts = messy_media["nonsquare"]
    assert isinstance(facts, ClipFacts)
    with av.open(facts.path) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (720, 480)
        assert stream.sample_aspect_ratio == Fraction(32, 27)
        assert stream.display_aspect_ratio == Fraction(16, 9)
        assert stream.average_rate == Fraction(30000, 1001)
    assert facts.display_size == (853, 480)


def test_odd_size_reads_back(messy_media: dict[str, object]) -> None:
    facts = messy_media["odd_size"]
    assert isinstance(facts, ClipFacts)
    with av.open(facts.path) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert frames[0].shape == (361, 641, 3)
    assert len(frames) == facts.n_frames


def test_mkv_has_no_frame_count(messy_media: dict[str, object]) -> None:
    facts = messy_media["mkv_no_frame_count"]
    assert isinstance(facts, ClipFacts)
    with av.open(facts.path) as container:
        assert container.format.name.startswith("matroska")
        assert container.streams.video[0].frames == 0
    assert len(_decode_times(facts.path)) == facts.n_frames


def test_ten_bit_hevc_reads_back(messy_media: dict[str, object]) -> None:
    facts = messy_media["ten_bit"]
    assert isinstance(facts, ClipFacts)
    with av.open(facts.path) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "hevc"
        assert stream.codec_context.pix_fmt == "yuv420p10le"
        frames = list(container.decode(video=0))
    assert len(frames) == facts.n_frames
    assert frames[0].to_ndarray(format="rgb48le").dtype == np.uint16


def test_audio_only_reads_back(messy_media: dict[str, object]) -> None:
    facts = messy_media["audio_only"]
    assert isinstance(facts, AudioFacts)
    with av.open(facts.path) as container:
        assert not container.streams.video
        stream = container.streams.audio[0]
        assert (stream.rate, stream.channels) == (facts.sample_rate, facts.channels)
    assert has_audio(facts.path)
    assert load_audio(facts.path, 16000).size == pytest.approx(facts.duration * 16000, abs=16)


_DECODE_CHILD = """
import sys, av
try:
    c = av.open(sys.argv[1])
except av.error.FFmpegError:
    print(-1, 0, 0)
    sys.exit(0)
s = c.streams.video[0]; ok = bad = 0
for p in c.demux(s):
    try:
        ok += len(p.decode())
    except av.error.InvalidDataError:
        bad += 1
print(s.frames, ok, bad)
"""


def _decode_in_child(path: str) -> tuple[int, int, int]:
    """(declared frames or -1 if unopenable, decoded frames, rejected packets), decoded in a child process."""
    result = subprocess.run([sys.executable, "-c", _DECODE_CHILD, path], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-500:]
    declared, decoded, bad = map(int, result.stdout.split())
    return declared, decoded, bad


def _is_prefix(facts: DamageFacts) -> bool:
    src, dst = Path(facts.source).read_bytes(), Path(facts.path).read_bytes()
    return len(dst) == facts.size == len(src) // 2 and src[: facts.size] == dst


def test_truncated_copy_loses_its_index(messy_media: dict[str, object]) -> None:
    facts, whole = messy_media["truncated_index_at_end"], messy_media["index_at_end"]
    assert isinstance(facts, DamageFacts) and isinstance(whole, ClipFacts)
    assert _is_prefix(facts)
    data = Path(whole.path).read_bytes()
    assert data.find(b"mdat") < data.find(b"moov")  # the source keeps its index at the end
    assert _decode_in_child(whole.path) == (whole.n_frames, whole.n_frames, 0)
    assert _decode_in_child(facts.path)[0] == -1  # index cut off: not openable


def test_truncated_faststart_copy_opens_with_frames_missing(
    messy_media: dict[str, object], sample_clip: tuple[Path, SampleTruth]
) -> None:
    facts = messy_media["truncated"]
    assert isinstance(facts, DamageFacts) and _is_prefix(facts)
    declared, decoded, _ = _decode_in_child(facts.path)
    assert declared == sample_clip[1].n_frames
    assert 0 < decoded < declared


def test_corrupt_middle_copy(messy_media: dict[str, object], sample_clip: tuple[Path, SampleTruth]) -> None:
    facts = messy_media["corrupt_middle"]
    assert isinstance(facts, DamageFacts)
    src = np.frombuffer(Path(facts.source).read_bytes(), np.uint8)
    dst = np.frombuffer(Path(facts.path).read_bytes(), np.uint8)
    assert src.size == dst.size == facts.size
    changed = np.flatnonzero(src != dst)
    assert changed.min() >= facts.offset and changed.max() < facts.offset + facts.length
    assert changed.size > 0.9 * facts.length
    declared, decoded, bad = _decode_in_child(facts.path)
    assert declared == sample_clip[1].n_frames
    assert bad > 0 or decoded < declared
