"""The enhanced video's writer: SDR (BT.709, 8 or 10 bit) or HDR (BT.2020 PQ/HLG, 10 bit), with the
input's audio streams copied packet for packet, its rotation and sample aspect ratio carried over.

Frames arrive either as planar YUV 4:2:0 in the output's own pixel format (``yuv420p``/``yuv420p10le``,
N x H*3/2 x W: encoded as they are, no conversion) or as RGB (uint8, or uint16 for 10-bit and HDR
output: converted to the output's Y'CbCr), with their presentation timestamps in the writer's time
base, so both a re-timed output (``1/fps``, frame ``k`` at ``k``) and the source's own (possibly variable) timing are written exactly. Audio packets are interleaved as the
video advances, so memory stays bounded on long files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from genmedia.enhance.hdr import (
    BT2020_NCL,
    BT2020_PRIMARIES,
    TRC_CODES,
    TRC_NAMES,
    HdrMetadata,
)
from genmedia.media.encode import Codec, select_encoder

_BT709, _RANGE_TV = 1, 1
_DEFAULT_CRF = {"libx264": 20, "libx265": 22, "libsvtav1": 30}
_PRESET = {"libx264": "fast", "libx265": "fast", "libsvtav1": "8"}
LARGE_FRAME = 1920 * 1088
"""Frames above this many pixels (beyond 1080p) are encoded with a shorter x264 lookahead (:data:`LARGE_LOOKAHEAD`)."""
LARGE_LOOKAHEAD = 10
"""x264's ``rc-lookahead`` (preset ``fast``: 30) for large frames. Each frame in the lookahead holds the picture and
its quarter-size planes (~20 MiB at 2160p): at 2160p this takes the encoder from 1372 to 885 MiB peak RSS, for
-0.13 dB luma PSNR and a 2.6% smaller file at the same CRF (48 frames of Big Buck Bunny, docs/enhance.md)."""
MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "opus", "flac", "alac"}
"""Audio codecs that can be copied into MP4 as they are."""


@dataclass(frozen=True)
class OutputFormat:
    """What the output stream is: codec, bit depth and colour (``hdr`` None = SDR BT.709)."""

    codec: Codec
    bit_depth: int = 8
    hdr: str | None = None
    hdr_metadata: HdrMetadata | None = None
    crf: int | None = None
    encoder: str = "auto"

    @property
    def pix_fmt(self) -> str:
        """The encoded pixel format."""
        return "yuv420p10le" if self.bit_depth > 8 else "yuv420p"


def _encoder_options(name: str, fmt: OutputFormat, pixels: int) -> dict[str, str]:
    if name.endswith("_nvenc"):
        opts = {"rc": "vbr", "cq": str(fmt.crf or 23), "b": "0", "preset": "p4"}
        return opts | ({"profile": "main10"} if name.startswith("hevc") and fmt.bit_depth > 8 else {})
    opts = {"crf": str(_DEFAULT_CRF[name] if fmt.crf is None else fmt.crf), "preset": _PRESET[name]}
    if name == "libx264" and pixels > LARGE_FRAME:
        opts["rc-lookahead"] = str(LARGE_LOOKAHEAD)
    if name == "libx265":
        params = ["log-level=error"]
        if fmt.hdr:
            params += ["repeat-headers=1", "colorprim=bt2020", f"transfer={TRC_NAMES[fmt.hdr]}", "colormatrix=bt2020nc"]
            if fmt.hdr == "pq" and fmt.hdr_metadata:
                params += ["hdr10=1", fmt.hdr_metadata.x265_params()]
        opts["x265-params"] = ":".join(params)
    if name == "libsvtav1":
        os.environ.setdefault("SVT_LOG", "1")
        if fmt.hdr == "pq" and fmt.hdr_metadata:
            opts["svtav1-params"] = fmt.hdr_metadata.svtav1_params()
    return opts


class EnhancedWriter:
    """Write the enhanced video to ``path`` (MP4), copying audio from ``source``; use as a context manager."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        width: int,
        height: int,
        rate: Fraction,
        time_base: Fraction,
        fmt: OutputFormat,
        *,
        source: str | None = None,
        rotation: int = 0,
        sample_aspect_ratio: Fraction | None = None,
    ):
        """Open ``path``; odd sizes are padded (edge pixels repeated) to the even size 4:2:0 needs."""
        self.path = Path(path)
        self.fmt = fmt
        self.source_width, self.source_height = width, height
        self.width, self.height = width + width % 2, height + height % 2
        self.encoder_name = select_encoder(fmt.codec, fmt.encoder, self.width, self.height, fmt.pix_fmt)  # type: ignore[arg-type]
        self.frames_written = 0
        self.audio_copied: list[str] = []
        self.audio_dropped: list[str] = []
        self._container = av.open(str(self.path), "w", options={"movflags": "+faststart"})
        self._video = self._container.add_stream(
            self.encoder_name, rate=rate, options=_encoder_options(self.encoder_name, fmt, self.width * self.height)
        )
        if self.encoder_name == "libx264":  # frame threads as the FFmpeg CLI (PyAV's default, slice threads, is slower)
            self._video.codec_context.thread_type = "FRAME"
        self._video.width, self._video.height, self._video.pix_fmt = self.width, self.height, fmt.pix_fmt
        ctx = self._video.codec_context
        ctx.time_base = time_base
        if fmt.hdr:
            ctx.color_primaries, ctx.color_trc, ctx.colorspace = BT2020_PRIMARIES, TRC_CODES[fmt.hdr], BT2020_NCL
        else:
            ctx.color_primaries, ctx.color_trc, ctx.colorspace = _BT709, _BT709, _BT709
        ctx.color_range = _RANGE_TV
        if fmt.codec == "hevc" and self.encoder_name == "libx265":
            self._video.codec_tag = "hvc1"  # plays in Apple players
        if sample_aspect_ratio and sample_aspect_ratio != 1:
            self._video.sample_aspect_ratio = sample_aspect_ratio
        if rotation:
            self._video.set_display_rotation(rotation)
        self._audio_in: av.container.InputContainer | None = None
        self._audio_packets: Iterator[av.Packet] | None = None
        self._pending: av.Packet | None = None
        self._audio_map: dict[int, av.stream.Stream] = {}
        if source:
            self._open_audio(source)

    def _open_audio(self, source: str) -> None:
        container = av.open(source, options={"protocol_whitelist": "file"})
        streams = []
        for stream in container.streams.audio:
            name = stream.codec_context.name
            if name in MP4_AUDIO:
                self._audio_map[stream.index] = self._container.add_stream_from_template(stream)
                streams.append(stream)
                self.audio_copied.append(name)
            else:
                self.audio_dropped.append(name)
        if streams:
            self._audio_in = container
            self._audio_packets = (p for p in container.demux(*streams) if p.dts is not None)
        else:
            container.close()

    def _copy_audio_until(self, seconds: float | None) -> None:
        """Mux source audio packets that start before ``seconds`` (all of them when None)."""
        if self._audio_packets is None:
            return
        while True:
            packet = self._pending or next(self._audio_packets, None)
            self._pending = None
            if packet is None:
                self._audio_packets = None
                return
            if seconds is not None and packet.pts is not None and float(packet.pts * packet.time_base) >= seconds:
                self._pending = packet
                return
            packet.stream = self._audio_map[packet.stream.index]
            self._container.mux(packet)

    def _frame(self, image: np.ndarray) -> av.VideoFrame:
        if image.ndim == 2:  # planar YUV in the output format (the size is even: checked by write)
            return av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=self.fmt.pix_fmt)
        pad_h, pad_w = self.height - image.shape[0], self.width - image.shape[1]
        if pad_h or pad_w:
            image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        if image.dtype == np.uint16:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb48le")
        else:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        space = "BT2020" if self.fmt.hdr else "ITU709"
        return frame.reformat(format=self.fmt.pix_fmt, dst_colorspace=space, dst_color_range="MPEG")

    def encode(self, frame: av.VideoFrame, pts: int) -> None:
        """Encode one PyAV frame already in the output's pixel format and size, presented at ``pts`` (time base)."""
        if (frame.format.name, frame.width, frame.height) != (self.fmt.pix_fmt, self.width, self.height):
            raise ValueError(
                f"{self.path}: frames must be {self.width}x{self.height} {self.fmt.pix_fmt}, "
                f"got {frame.width}x{frame.height} {frame.format.name}"
            )
        tb = self._video.codec_context.time_base
        frame.pts, frame.time_base = int(pts), tb
        frame.pict_type = av.video.frame.PictureType.NONE  # a decoded frame's type would force the source's GOP
        self._container.mux(self._video.encode(frame))
        self.frames_written += 1
        self._copy_audio_until(float(int(pts) * tb))

    def write(self, frames: np.ndarray, pts: np.ndarray) -> None:
        """Encode ``frames`` presented at ``pts`` (in the time base): RGB (N x H x W x 3), or planar YUV
        4:2:0 in the output's pixel format (N x H*3/2 x W, even sizes only)."""
        rgb = (self.source_height, self.source_width, 3)
        yuv = (self.height * 3 // 2, self.width)
        padded = (self.width, self.height) != (self.source_width, self.source_height)
        if frames.shape[1:] not in (rgb, yuv) or (frames.ndim == 3 and padded):
            raise ValueError(
                f"{self.path}: frames must be N x {rgb} (RGB) or N x {yuv} ({self.fmt.pix_fmt}), got {frames.shape}"
            )
        tb = self._video.codec_context.time_base
        for image, ts in zip(frames, pts, strict=True):
            frame = self._frame(image)
            frame.pts, frame.time_base = int(ts), tb
            self._container.mux(self._video.encode(frame))
            self.frames_written += 1
        if len(pts):
            self._copy_audio_until(float(int(pts[-1]) * tb))

    def close(self) -> None:
        """Flush the encoder, copy the rest of the audio, finish the file (idempotent)."""
        if self._container is None:
            return
        try:
            self._container.mux(self._video.encode(None))
            self._copy_audio_until(None)
        finally:
            if self._audio_in is not None:
                self._audio_in.close()
            self._container.close()
            self._container = None

    def __enter__(self) -> EnhancedWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        try:
            self.close()
        finally:
            if exc_type is not None:
                self.path.unlink(missing_ok=True)
