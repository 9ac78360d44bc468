"""The libavfilter side of enhancement: chains over arrays, the temporal denoiser at shot boundaries and on
Y'CbCr frames, the classical upscaler's Lanczos + unsharp chain, FFmpeg's PSNR/SSIM, the writer fed Y'CbCr."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from genmedia.enhance import denoise as dn
from genmedia.enhance import grade as gr
from genmedia.enhance.filters import (
    Chain,
    equal_runs,
    layout_format,
    run_arrays,
    to_array,
    to_frame,
)
from genmedia.enhance.metrics import psnr, ssim
from genmedia.enhance.pixels import from_unit, to_unit
from genmedia.enhance.resample import upscale_filters, upscale_frames
from genmedia.enhance.writer import EnhancedWriter, OutputFormat
from genmedia.media.synthetic import _texture

pytestmark = pytest.mark.unit


def _yuv(rgb: np.ndarray) -> np.ndarray:
    """RGB frames (N x H x W x 3) as yuv420p arrays (N x H*3/2 x W), BT.709 limited range."""
    out = []
    for image in rgb:
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        out.append(frame.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG").to_ndarray())
    return np.stack(out)


@pytest.fixture(scope="module")
def scenes() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return _texture(rng, 96, 160, 0.3, 150), _texture(rng, 96, 160, 0.5, 90)


def _noisy(image: np.ndarray, n: int, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8) for _ in range(n)])


def test_layouts_and_runs() -> None:
    assert layout_format(np.zeros((2, 6, 4), np.uint8)) == "yuv420p"
    assert layout_format(np.zeros((2, 6, 4), np.uint16)) == "yuv420p10le"
    assert layout_format(np.zeros((2, 4, 4, 3), np.uint16)) == "rgb48le"
    with pytest.raises(ValueError, match="neither"):
        layout_format(np.zeros((2, 4, 4, 4), np.uint8))
    assert equal_runs(np.array([0, 0, 1, 1, 1, 0])) == [(0, 2), (2, 5), (5, 6)]
    frame = to_frame(np.arange(6 * 4, dtype=np.uint8).reshape(6, 4), "yuv420p")
    assert frame.width == 4 and frame.height == 4 and np.array_equal(to_array(frame), np.arange(24).reshape(6, 4))


def test_denoiser_never_averages_across_a_shot_boundary(scenes: tuple[np.ndarray, np.ndarray]) -> None:
    a = scenes[0]
    frames = np.concatenate([_noisy(a, 4, 8, 1), _noisy(np.clip(a.astype(int) + 6, 0, 255).astype(np.uint8), 4, 8, 2)])
    shots = np.array([0] * 4 + [1] * 4)
    split = dn.denoise_frames(frames, 8.0, radius=2, shots=shots)
    alone = np.concatenate([dn.denoise_frames(frames[:4], 8.0, radius=2), dn.denoise_frames(frames[4:], 8.0, radius=2)])
    assert np.array_equal(split, alone)  # each shot as if the other did not exist
    blended = dn.denoise_frames(frames, 8.0, radius=2)  # without the boundary the near-identical shots mix
    assert not np.array_equal(blended[2:6], alone[2:6])


def test_denoiser_on_ycbcr_frames_keeps_layout_and_removes_noise(scenes: tuple[np.ndarray, np.ndarray]) -> None:
    clean = _yuv(scenes[0][None])[0]
    noisy = _yuv(_noisy(scenes[0], 7, 8, 3))
    out = dn.denoise_frames(noisy, 8.0, radius=2, core=slice(2, 5))
    assert out.shape == (3, *clean.shape) and out.dtype == np.uint8

    def mse(x: np.ndarray) -> float:
        return float(np.mean((x.astype(np.float64) - clean) ** 2))

    assert mse(out[1]) < 0.5 * mse(noisy[3])
    deep = dn.denoise_frames(noisy.astype(np.uint16) << 2, 8.0, radius=2, core=slice(2, 5))
    assert deep.dtype == np.uint16 and int(deep.max()) < 1024  # 10-bit values stay 10-bit


def test_classical_upscale_chain_on_ycbcr(scenes: tuple[np.ndarray, np.ndarray]) -> None:
    rgb = cv2.GaussianBlur(scenes[0], (0, 0), 2)[None]
    yuv = _yuv(rgb)
    big = upscale_frames(yuv, 320, 192)
    assert big.shape == (1, 288, 320) and big.dtype == np.uint8
    back = cv2.resize(big[0, :192], (160, 96), interpolation=cv2.INTER_AREA)
    assert np.abs(back.astype(int) - yuv[0, :96]).mean() < 2.5  # same picture, twice the size
    assert [name for name, _ in upscale_filters(320, 192, 2.0)] == ["unsharp", "scale"]
    assert [name for name, _ in upscale_filters(320, 192, 2.0, amount=0)] == ["scale"]
    sharp, soft = upscale_frames(yuv, 320, 192), upscale_frames(yuv, 320, 192, amount=0)
    assert (
        np.abs(np.diff(sharp[0, :192].astype(int), axis=1)).mean()
        > np.abs(np.diff(soft[0, :192].astype(int), axis=1)).mean()
    )
    ten = upscale_frames(yuv.astype(np.uint16) << 2, 320, 192)
    assert ten.dtype == np.uint16 and ten.shape == big.shape


def test_chain_with_format_conversion_and_flush() -> None:
    chain = Chain(8, 8, "rgb24", [("atadenoise", "s=5")], out_fmt="gray")
    out = []
    for k in range(3):
        out += chain.push(np.full((8, 8, 3), 40 * k, np.uint8))
    out += chain.flush()
    assert len(out) == 3 and out[0].format.name == "gray" and chain.flush() == []
    with pytest.raises(RuntimeError, match="returned"):
        run_arrays(np.zeros((4, 8, 8, 3), np.uint8), "rgb24", [("select", "eq(n\\,0)")])


def test_ffmpeg_psnr_and_ssim_match_their_definitions(scenes: tuple[np.ndarray, np.ndarray]) -> None:
    a = scenes[0]
    b = _noisy(a, 1, 6, 4)[0]
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / mse), abs=0.01)
    assert psnr(a.astype(np.uint16) * 257, b.astype(np.uint16) * 257) == pytest.approx(psnr(a, b), abs=0.05)
    assert ssim(a, a) == pytest.approx(1.0) and 0.3 < ssim(a, b) < ssim(a, cv2.GaussianBlur(b, (3, 3), 0.6)) < 1


def test_writer_encodes_ycbcr_frames_as_they_are(tmp_path: Path, scenes: tuple[np.ndarray, np.ndarray]) -> None:
    yuv = _yuv(np.stack([scenes[0], scenes[1]] * 2))
    path = tmp_path / "yuv.mp4"
    with EnhancedWriter(path, 160, 96, Fraction(24), Fraction(1, 24), OutputFormat(codec="h264", crf=0)) as writer:
        writer.write(yuv, np.arange(4))
        with pytest.raises(ValueError, match="yuv420p"):
            writer.write(yuv[:, :100], np.arange(4))
    with av.open(str(path)) as container:
        decoded = np.stack([f.to_ndarray() for f in container.decode(video=0)])
    assert np.array_equal(decoded, yuv)  # lossless H.264: the planes went in untouched


def test_lut3d_grading_agrees_with_the_float_grade(scenes: tuple[np.ndarray, np.ndarray]) -> None:
    grade = gr.Grade(
        black=[0.03] * 3,
        white=[0.9] * 3,
        gains=[1.1, 1.0, 0.9],
        gamma=0.9,
        lab_scale=[1.1, 1.2, 0.9],
        lab_shift=[2, -3, 4],
        matrix=gr.PRESETS["teal-orange"].tolist(),
    )
    frames = np.stack(scenes)
    exact = from_unit(gr.apply_unit(to_unit(frames), grade), np.uint8)
    for dtype, scale in ((np.uint8, 1), (np.uint16, 257)):
        out = gr.apply_grade(frames.astype(dtype) * scale, grade)  # a Lab transfer: the lut3d path
        assert out.dtype == dtype and out.shape == frames.shape
        diff = np.abs(out.astype(np.float64) / scale - exact)
        assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 4
    assert np.array_equal(gr.apply_grade(frames[0], grade), gr.apply_grade(frames, grade)[0])
