"""Encode RGB frames (and optional audio) to a video file with PyAV.

:class:`VideoWriter` writes H.264 (libx264 / h264_nvenc), HEVC (libx265 / hevc_nvenc) or AV1
(libsvtav1 / av1_nvenc) with exact timestamps (frame ``i`` is presented at ``i / fps``), BT.709 colour
tags, optional AAC audio, and ``+faststart`` for MP4/MOV so players can start before the download ends.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

Codec = Literal["h264", "hevc", "av1"]
EncoderChoice = Literal["auto", "cpu", "nvenc"]

CPU_ENCODERS: dict[str, str] = {"h264": "libx264", "hevc": "libx265", "av1": "libsvtav1"}
NVENC_ENCODERS: dict[str, str] = {"h264": "h264_nvenc", "hevc": "hevc_nvenc", "av1": "av1_nvenc"}
_DEFAULT_CRF = {"libx264": 20, "libx265": 24, "libsvtav1": 32}
_DEFAULT_PRESET = {"libx264": "fast", "libx265": "fast", "libsvtav1": "8"}
_NVENC_DEFAULT_CQ = 23
_NVENC_DEFAULT_PRESET = "p4"
_FASTSTART_SUFFIXES = {".mp4", ".m4v", ".mov"}
_BT709 = 1  # AVCOL_PRI_BT709 == AVCOL_TRC_BT709 == AVCOL_SPC_BT709
_RANGE_TV = 1  # AVCOL_RANGE_MPEG (limited range, what every player expects)


def to_fraction(fps: Fraction | float | int) -> Fraction:
    """Return ``fps`` as an exact fraction; NTSC-style floats (29.97, 23.976, 59.94) become n*1000/1001."""
    if isinstance(fps, Fraction):
        rate = fps
    else:
        rate = Fraction(fps).limit_denominator(1001)
        ntsc = float(fps) * 1.001
        if rate.denominator != 1 and abs(ntsc - round(ntsc)) < 1e-3:
            rate = Fraction(round(ntsc) * 1000, 1001)
    if rate <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return rate


def nvenc_error(encoder_name: str, width: int, height: int, pix_fmt: str) -> str | None:
    """Try to open NVENC encoder ``encoder_name`` for this size; return ``None`` if it opens, else why not."""
    try:
        ctx = av.CodecContext.create(encoder_name, "w")
        ctx.width, ctx.height, ctx.pix_fmt = width, height, pix_fmt
        ctx.time_base = Fraction(1, 25)
        ctx.open()
    except (av.error.FFmpegError, ValueError) as exc:
        return f"{encoder_name} cannot be opened on this machine ({exc})"
    return None


def select_encoder(codec: Codec, encoder: EncoderChoice, width: int, height: int, pix_fmt: str) -> str:
    """Name the FFmpeg encoder to use: NVENC if asked for (error if unusable) or if ``auto`` and it opens."""
    if codec not in CPU_ENCODERS:
        raise ValueError(f"codec must be one of {sorted(CPU_ENCODERS)}, got {codec!r}")
    if encoder == "cpu":
        return CPU_ENCODERS[codec]
    if encoder not in ("auto", "nvenc"):
        raise ValueError(f"encoder must be 'auto', 'cpu' or 'nvenc', got {encoder!r}")
    reason = nvenc_error(NVENC_ENCODERS[codec], width, height, pix_fmt)
    if reason is None:
        return NVENC_ENCODERS[codec]
    if encoder == "nvenc":
        raise RuntimeError(f"encoder='nvenc' requested but {reason}")
    return CPU_ENCODERS[codec]


def _needs_even(pix_fmt: str) -> tuple[bool, bool]:
    """Whether ``pix_fmt`` subsamples chroma horizontally / vertically (so the size must be even)."""
    fmt = av.VideoFormat(pix_fmt, 4, 4)
    comps = fmt.components
    if len(comps) < 2 or fmt.is_rgb:
        return False, False
    return comps[1].width < comps[0].width, comps[1].height < comps[0].height


def _encoder_options(name: str, crf: int | None, preset: str | None) -> dict[str, str]:
    """Rate-control and speed options for encoder ``name`` (constant quality, not a bitrate)."""
    if name.endswith("_nvenc"):
        cq = _NVENC_DEFAULT_CQ if crf is None else crf
        return {"rc": "vbr", "cq": str(cq), "b": "0", "preset": preset or _NVENC_DEFAULT_PRESET}
    opts = {"crf": str(_DEFAULT_CRF[name] if crf is None else crf), "preset": preset or _DEFAULT_PRESET[name]}
    if name == "libx265":
        opts["x265-params"] = "log-level=error"
    if name == "libsvtav1":
        os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints a banner to stderr unless told errors only
    return opts


class VideoWriter:
    """Write RGB frames and float audio to a video file; use as a context manager.

    Frame ``i`` gets the presentation time ``i / fps`` exactly. With a 4:2:0 (or 4:2:2) ``pix_fmt`` an
    odd width or height cannot be encoded, so frames are padded to the next even size by repeating
    their last column / row; :attr:`width` and :attr:`height` then report the padded (encoded) size.
    On MP4/MOV the index is moved to the front (``+faststart``). If the ``with`` block raises, the
    partial file is removed.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        width: int,
        height: int,
        fps: Fraction | float,
        *,
        codec: Codec = "h264",
        encoder: EncoderChoice = "auto",
        crf: int | None = None,
        preset: str | None = None,
        pix_fmt: str = "yuv420p",
        audio_rate: int | None = None,
        audio_channels: int = 1,
        sample_aspect_ratio: Fraction | None = None,
        faststart: bool = True,
        rotation: float = 0,
        options: dict[str, str] | None = None,
    ):
        """Open ``path`` for writing; ``rotation`` (degrees counter-clockwise) sets the display matrix."""
        if width <= 0 or height <= 0:
            raise ValueError(f"{path}: frame size must be positive, got {width}x{height}")
        if audio_channels not in (1, 2):
            raise ValueError(f"{path}: audio_channels must be 1 or 2, got {audio_channels}")
        self.path = Path(path)
        self.fps = to_fraction(fps)
        self.source_width, self.source_height = width, height
        even_w, even_h = _needs_even(pix_fmt)
        self._pad_w = width % 2 if even_w else 0
        self._pad_h = height % 2 if even_h else 0
        self.width, self.height = width + self._pad_w, height + self._pad_h
        self._encoder_name = select_encoder(codec, encoder, self.width, self.height, pix_fmt)
        self.frames_written = 0
        self.samples_written = 0
        self.audio_channels = audio_channels
        self.audio_rate = audio_rate

        fmt_opts = {"movflags": "+faststart"} if faststart and self.path.suffix.lower() in _FASTSTART_SUFFIXES else {}
        self._container = av.open(str(self.path), "w", options=fmt_opts)
        try:
            self._video = self._add_video_stream(pix_fmt, crf, preset, sample_aspect_ratio, rotation, options)
            self._audio = self._add_audio_stream() if audio_rate else None
        except Exception:
            self._container.close()
            self.path.unlink(missing_ok=True)
            raise

    def _add_video_stream(
        self,
        pix_fmt: str,
        crf: int | None,
        preset: str | None,
        sar: Fraction | None,
        rotation: float,
        options: dict[str, str] | None,
    ) -> av.VideoStream:
        """Add the video stream: encoder options, size, exact time base, BT.709 tags, SAR, rotation."""
        opts = _encoder_options(self._encoder_name, crf, preset) | (options or {})
        stream = self._container.add_stream(self._encoder_name, rate=self.fps, options=opts)
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, pix_fmt
        ctx = stream.codec_context
        ctx.time_base = 1 / self.fps
        ctx.color_primaries, ctx.color_trc, ctx.colorspace, ctx.color_range = _BT709, _BT709, _BT709, _RANGE_TV
        if sar is not None:
            stream.sample_aspect_ratio = Fraction(sar)
        if rotation:
            stream.set_display_rotation(rotation)
        return stream

    def _add_audio_stream(self) -> av.AudioStream:
        """Add the AAC audio stream."""
        layout = "mono" if self.audio_channels == 1 else "stereo"
        return self._container.add_stream("aac", rate=self.audio_rate, layout=layout)

    @property
    def encoder_name(self) -> str:
        """The FFmpeg encoder actually used, e.g. ``libx264``, ``h264_nvenc``, ``libx265``, ``libsvtav1``."""
        return self._encoder_name

    def write_frames(self, rgb: np.ndarray) -> None:
        """Append one ``(H, W, 3)`` frame or a batch ``(N, H, W, 3)`` of uint8 RGB frames."""
        batch = np.asarray(rgb)
        if batch.ndim == 3:
            batch = batch[None]
        expected = (self.source_height, self.source_width, 3)
        if batch.ndim != 4 or batch.shape[1:] != expected or batch.dtype != np.uint8:
            raise ValueError(
                f"{self.path}: frames must be uint8 of shape (N, {expected[0]}, {expected[1]}, 3), "
                f"got {batch.dtype} {batch.shape}"
            )
        if self._pad_w or self._pad_h:
            batch = np.pad(batch, ((0, 0), (0, self._pad_h), (0, self._pad_w), (0, 0)), mode="edge")
        for image in batch:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame = frame.reformat(format=self._video.pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG")
            frame.pts = self.frames_written
            frame.time_base = self._video.codec_context.time_base
            self._container.mux(self._video.encode(frame))
            self.frames_written += 1

    def write_audio(self, samples: np.ndarray) -> None:
        """Append float32 samples in [-1, 1], shape ``(channels, n)`` or ``(n,)`` (mono, copied to both sides)."""
        if self._audio is None:
            raise ValueError(f"{self.path}: writer was opened without audio (pass audio_rate=...)")
        data = np.asarray(samples, dtype=np.float32)
        if data.ndim == 1:
            data = data[None]
        if data.ndim != 2 or data.shape[0] not in (1, self.audio_channels):
            raise ValueError(f"{self.path}: audio must be (n,) or ({self.audio_channels}, n), got {data.shape}")
        if data.shape[0] != self.audio_channels:
            data = np.repeat(data, self.audio_channels, axis=0)
        if data.shape[1] == 0:
            return
        layout = "mono" if self.audio_channels == 1 else "stereo"
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(np.clip(data, -1.0, 1.0)), format="fltp", layout=layout)
        frame.sample_rate = self.audio_rate
        frame.pts = self.samples_written
        frame.time_base = Fraction(1, self.audio_rate)
        self._container.mux(self._audio.encode(frame))
        self.samples_written += data.shape[1]

    def close(self) -> None:
        """Flush the encoders and finish the file (idempotent)."""
        if self._container is None:
            return
        try:
            self._container.mux(self._video.encode(None))
            if self._audio is not None:
                self._container.mux(self._audio.encode(None))
        finally:
            self._container.close()
            self._container = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        finally:
            self.path.unlink(missing_ok=True)


def encode_frames(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    fps: Fraction | float,
    **writer_options: object,
) -> str:
    """Encode an iterable of RGB frames or frame batches to ``path``; return the encoder name used.

    The frame size is taken from the first item; ``writer_options`` go to :class:`VideoWriter`.
    """
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise ValueError(f"{path}: no frames to encode")
    first = np.asarray(first)
    height, width = first.shape[-3], first.shape[-2]
    with VideoWriter(path, width, height, fps, **writer_options) as writer:
        writer.write_frames(first)
        for item in iterator:
            writer.write_frames(item)
        return writer.encoder_name
