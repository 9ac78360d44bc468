"""VideoWriter: round trips through PyAV, encoder choice, padding, timestamps, audio, faststart."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from genmedia.media.encode import VideoWriter, encode_frames, nvenc_error, to_fraction

pytestmark = pytest.mark.unit


def _frames(n: int, height: int, width: int) -> np.ndarray:
    """Smooth gradients with a moving square: easy to compress, so quality checks are meaningful."""
    y, x = np.mgrid[0:height, 0:width]
    out = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        out[i, ..., 0] = (x * 255 // max(1, width - 1) + 3 * i) % 256
        out[i, ..., 1] = y * 255 // max(1, height - 1)
        out[i, ..., 2] = 128
        out[i, height // 4 : height // 2, (5 * i) % (width // 2) : (5 * i) % (width // 2) + width // 6] = 230
    return out


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def _decode_rgb(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_h264_round_trip_with_audio(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    src = _frames(48, 240, 320)
    with VideoWriter(path, 320, 240, 24, audio_rate=48000) as writer:
        writer.write_frames(src[:10])
        writer.write_frames(src[10])  # a single frame
        writer.write_frames(src[11:])
        writer.write_audio(0.2 * np.sin(np.linspace(0, 2000 * np.pi, 96000)).astype(np.float32))
    assert writer.encoder_name == "libx264"
    assert writer.frames_written == 48

    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.width, video.height) == (320, 240)
        assert video.average_rate == 24
        assert video.frames == 48
        assert video.codec_context.name == "h264"
        assert audio.codec_context.name == "aac"
        assert audio.rate == 48000 and audio.channels == 1
        assert container.duration / 1e6 == pytest.approx(2.0, abs=1 / 24)
        times = [f.pts * f.time_base for f in container.decode(video=0)]
    assert times == [Fraction(i, 24) for i in range(48)]
    decoded = _decode_rgb(path)
    assert len(decoded) == 48
    assert _psnr(decoded[0], src[0]) > 30
    assert _psnr(decoded[-1], src[-1]) > 30


def test_mp4_index_is_at_the_front(tmp_path: Path) -> None:
    path = tmp_path / "fast.mp4"
    encode_frames(path, [_frames(12, 64, 64)], 24)
    data = path.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")


def test_odd_size_is_padded_by_repeating_the_edge(tmp_path: Path) -> None:
    path = tmp_path / "odd.mp4"
    src = _frames(6, 121, 161)
    with VideoWriter(path, 161, 121, 24, crf=10) as writer:
        writer.write_frames(src)
    assert (writer.width, writer.height) == (162, 122)
    decoded = _decode_rgb(path)
    assert decoded[0].shape == (122, 162, 3)
    assert _psnr(decoded[0][:121, :161], src[0]) > 30
    # The padding repeats the last column / row.
    assert np.abs(decoded[0][:121, 161].astype(int) - src[0][:, 160].astype(int)).mean() < 6
    assert np.abs(decoded[0][121, :161].astype(int) - src[0][120, :].astype(int)).mean() < 6


def test_odd_size_kept_with_444(tmp_path: Path) -> None:
    path = tmp_path / "odd444.mp4"
    with VideoWriter(path, 161, 121, 24, pix_fmt="yuv444p") as writer:
        writer.write_frames(_frames(3, 121, 161))
    assert (writer.width, writer.height) == (161, 121)
    assert _decode_rgb(path)[0].shape == (121, 161, 3)


@pytest.mark.parametrize(
    ("codec", "encoder_name", "decoded_codec"), [("hevc", "libx265", "hevc"), ("av1", "libsvtav1", "av1")]
)
def test_hevc_and_av1(tmp_path: Path, codec: str, encoder_name: str, decoded_codec: str) -> None:
    path = tmp_path / f"{codec}.mp4"
    src = _frames(12, 128, 160)
    with VideoWriter(path, 160, 128, 24, codec=codec, encoder="cpu") as writer:
        writer.write_frames(src)
    assert writer.encoder_name == encoder_name
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.codec.canonical_name == decoded_codec
    decoded = _decode_rgb(path)
    assert len(decoded) == 12
    assert _psnr(decoded[0], src[0]) > 30


def test_auto_falls_back_to_cpu_when_nvenc_cannot_open(tmp_path: Path) -> None:
    usable = nvenc_error("h264_nvenc", 128, 128, "yuv420p") is None
    with VideoWriter(tmp_path / "auto.mp4", 128, 128, 24, encoder="auto") as writer:
        writer.write_frames(_frames(2, 128, 128))
    assert writer.encoder_name == ("h264_nvenc" if usable else "libx264")


def test_nvenc_request_fails_clearly_without_nvenc(tmp_path: Path) -> None:
    path = tmp_path / "nvenc.mp4"
    if nvenc_error("hevc_nvenc", 128, 128, "yuv420p") is None:
        with VideoWriter(path, 128, 128, 24, codec="hevc", encoder="nvenc") as writer:
            writer.write_frames(_frames(2, 128, 128))
        assert writer.encoder_name == "hevc_nvenc"
    else:
        with pytest.raises(RuntimeError, match="hevc_nvenc cannot be opened"):
            VideoWriter(path, 128, 128, 24, codec="hevc", encoder="nvenc")
        assert not path.exists()


def test_ntsc_rate_and_sample_aspect_ratio(tmp_path: Path) -> None:
    assert to_fraction(29.97) == Fraction(30000, 1001)
    assert to_fraction(23.976) == Fraction(24000, 1001)
    assert to_fraction(25.0) == 25
    path = tmp_path / "ntsc.mp4"
    with VideoWriter(path, 96, 64, 29.97, sample_aspect_ratio=Fraction(32, 27)) as writer:
        writer.write_frames(_frames(5, 64, 96))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == Fraction(30000, 1001)
        assert stream.sample_aspect_ratio == Fraction(32, 27)
        times = [f.time for f in container.decode(video=0)]
    assert times == pytest.approx([i * 1001 / 30000 for i in range(5)], abs=1e-9)


def test_stereo_audio_from_mono_samples(tmp_path: Path) -> None:
    path = tmp_path / "stereo.mkv"
    with VideoWriter(path, 64, 64, 25, audio_rate=44100, audio_channels=2) as writer:
        writer.write_frames(_frames(25, 64, 64))
        writer.write_audio(np.zeros(44100, np.float32))
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        assert (audio.rate, audio.channels) == (44100, 2)


def test_bad_input_is_rejected(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "v.mp4", 64, 48, 24) as writer:
        with pytest.raises(ValueError, match=r"\(N, 48, 64, 3\)"):
            writer.write_frames(np.zeros((48, 64, 3), np.float32))
        with pytest.raises(ValueError, match="without audio"):
            writer.write_audio(np.zeros(10, np.float32))
        writer.write_frames(np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="codec"):
        VideoWriter(tmp_path / "x.mp4", 64, 48, 24, codec="vp8")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fps"):
        VideoWriter(tmp_path / "y.mp4", 64, 48, 0)


def test_failed_write_leaves_no_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "partial.mp4"
    with pytest.raises(RuntimeError, match="boom"), VideoWriter(path, 64, 64, 24) as writer:
        writer.write_frames(_frames(3, 64, 64))
        raise RuntimeError("boom")
    assert not path.exists()


def test_encode_frames_from_a_generator(tmp_path: Path) -> None:
    path = tmp_path / "gen.mp4"
    name = encode_frames(path, (batch for batch in np.split(_frames(12, 64, 80), 3)), 12, encoder="cpu")
    assert name == "libx264"
    assert len(_decode_rgb(path)) == 12
