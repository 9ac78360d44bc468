"""Ladder encoding with PyAV: display-size pictures, sample encodes at a rate, and one-pass CMAF packaging.

* :class:`Scaler` turns decoded pictures into their display geometry (sample aspect ratio applied, rotation
  undone, yuv420p) at one or more output sizes, with one libavfilter graph (``split`` + ``scale``).
* :func:`read_spans` decodes a few short spans of a video at display size (the ladder's samples).
* :func:`encode_sample` encodes pictures at one size and average rate with the ladder's VBV cap and returns
  the decoded result and the bits it took, for a quality measurement.
* :func:`package` decodes the video once and encodes every rung (H.264, VBV-capped, a keyframe exactly at
  each segment boundary in every rung) plus one AAC rendition straight into FFmpeg's ``dash`` muxer, which
  writes fragmented-MP4 (CMAF) segments and the MPD; the HLS playlists are written from the same segments
  (``genmedia.delivery.playlists``), so nothing is encoded twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.filter
from av.video.frame import PictureType

from genmedia.errors import InputError
from genmedia.media.probe import MediaInfo
from genmedia.progress import ProgressFn, no_progress

PIX_FMT = "yuv420p"
CODECS = {"h264": "libx264"}
"""Codecs the packager encodes: name users type -> encoder."""
MPD_NAME = "manifest.mpd"
AUDIO_RATE = 48_000


@dataclass(frozen=True)
class EncodeSettings:
    """How every rung is encoded."""

    codec: str = "h264"
    preset: str = "veryfast"
    peak_factor: float = 1.5
    """VBV maximum rate / average rate: the peak a CDN and players can rely on."""
    buffer_seconds: float = 2.0
    """VBV buffer / maximum rate."""

    def encoder(self) -> str:
        """The encoder name; InputError listing the supported codecs for an unknown one."""
        try:
            return CODECS[self.codec]
        except KeyError:
            raise InputError(self.codec, f"unsupported codec; supported: {', '.join(sorted(CODECS))}") from None

    def rate_options(self, bitrate: int) -> dict[str, str]:
        """libavcodec options for an average ``bitrate`` with the VBV cap."""
        maxrate = int(bitrate * self.peak_factor)
        return {"preset": self.preset, "maxrate": str(maxrate), "bufsize": str(int(maxrate * self.buffer_seconds))}


def even(value: float) -> int:
    """The nearest even integer >= 2 (4:2:0 pictures need even sizes)."""
    return max(2, int(round(value / 2)) * 2)


def rung_aspect(display: tuple[int, int]) -> Fraction:
    """The display aspect ratio as a simple fraction (denominator <= 16): every rung has exactly this shape.

    DASH players switch only between representations of one shape, and FFmpeg's packager refuses mixed
    ones; 16:9 rungs are then multiples of 32x18 (416x234, 640x360, ...). The small difference to an
    unusual source shape is carried by the sample aspect ratio (:func:`rung_sar`).
    """
    return Fraction(display[0], display[1]).limit_denominator(16)


def size_for(display: tuple[int, int], short_side: int) -> tuple[int, int]:
    """The rung size nearest ``short_side`` on its shorter side, never larger than ``display`` (portrait stays portrait)."""
    aspect = rung_aspect(display)
    p, q = aspect.numerator, aspect.denominator
    short_unit = q if display[0] >= display[1] else p
    k = max(2, int(round(short_side / short_unit / 2)) * 2)  # k * p and k * q are even only for even k
    while k > 2 and (k * p > display[0] or k * q > display[1]):
        k -= 2
    return k * p, k * q


def rung_sar(display: tuple[int, int], size: tuple[int, int]) -> Fraction:
    """The sample aspect ratio that shows ``size`` at exactly the display aspect ratio (even sizes round it)."""
    return Fraction(display[0] * size[1], display[1] * size[0]).limit_denominator(10_000)


def display_size(info: MediaInfo) -> tuple[int, int]:
    """The picture's size as shown (the probe's display size; coded size when it has none)."""
    return (info.display_width or info.width, info.display_height or info.height)


def _rotation_filters(rotation: int) -> list[tuple[str, str]]:
    turns = (rotation // 90) % 4  # counter-clockwise, as the probe reports
    return {0: [], 1: [("transpose", "cclock")], 2: [("hflip", ""), ("vflip", "")], 3: [("transpose", "clock")]}[turns]


class Scaler:
    """Decoded pictures -> display geometry at each of ``sizes`` (one graph; ``split`` feeds one ``scale`` each)."""

    def __init__(self, info: MediaInfo, sizes: Sequence[tuple[int, int]], flags: str = "bicubic") -> None:
        display = display_size(info)
        graph = av.filter.Graph()
        self._src = graph.add_buffer(
            width=info.width,
            height=info.height,
            format=info.pix_fmt or PIX_FMT,
            time_base=Fraction(1, 90_000),
        )
        last = self._src
        for name, args in _rotation_filters(info.rotation):
            node = graph.add(name, args) if args else graph.add(name)
            last.link_to(node)
            last = node
        split = graph.add("split", str(len(sizes)))
        last.link_to(split)
        self._sinks = []
        for i, (w, h) in enumerate(sizes):
            scale = graph.add("scale", f"{w}:{h}:flags={flags}")
            fmt = graph.add("format", PIX_FMT)
            ratio = rung_sar(display, (w, h))
            sar = graph.add("setsar", f"{ratio.numerator}/{ratio.denominator}")
            sink = graph.add("buffersink")
            split.link_to(scale, i, 0)
            scale.link_to(fmt)
            fmt.link_to(sar)
            sar.link_to(sink)
            self._sinks.append(sink)
        graph.configure()
        self._graph = graph

    def __call__(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        """The picture at every output size, in the order of ``sizes``."""
        pts = frame.pts
        self._src.push(frame)
        out = [sink.pull() for sink in self._sinks]
        for picture in out:
            picture.pts = pts
        return out


@dataclass
class Span:
    """A short decoded stretch of the video at display size, for the ladder's samples."""

    start: float
    frames: list[av.VideoFrame]


def sample_starts(duration: float, total_seconds: float, span_seconds: float) -> list[float]:
    """Starts of spans spread evenly over the video, ``total_seconds`` in all (the whole video if shorter)."""
    count = max(1, min(int(round(total_seconds / span_seconds)), int(duration // span_seconds)))
    if duration <= span_seconds:
        return [0.0]
    step = (duration - span_seconds) / count
    return [round(step * (i + 0.5), 3) for i in range(count)]


def read_spans(
    path: str, info: MediaInfo, starts: Sequence[float], span_seconds: float, size: tuple[int, int]
) -> list[Span]:
    """Decode ``span_seconds`` from each start (seeking to the keyframe before it) at display ``size``."""
    spans = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        scaler = Scaler(info, [size])
        tb = stream.time_base
        for start in starts:
            offset = round((start + info.start_time) / tb)  # int() would miss a keyframe start by one tick
            container.seek(offset, stream=stream, backward=True, any_frame=False)
            frames: list[av.VideoFrame] = []
            for frame in container.decode(stream):
                if frame.pts is None or frame.pts < offset:
                    continue
                if (frame.pts - offset) * tb >= span_seconds:
                    break
                frames.append(scaler(frame)[0])
            if frames:
                spans.append(Span(start, frames))
    return spans


def encode_sample(
    frames: Sequence[av.VideoFrame],
    size: tuple[int, int],
    bitrate: int,
    fps: float,
    settings: EncodeSettings,
) -> tuple[list[av.VideoFrame], int]:
    """Encode ``frames`` (scaled to ``size``) at ``bitrate`` and decode them back: (decoded pictures, bits used)."""
    w, h = size
    rate = Fraction(fps).limit_denominator(1001)
    encoder = av.CodecContext.create(settings.encoder(), "w")
    encoder.width, encoder.height, encoder.pix_fmt = w, h, PIX_FMT
    encoder.time_base = 1 / rate
    encoder.framerate = rate
    encoder.bit_rate = bitrate
    encoder.options = settings.rate_options(bitrate)
    decoder = av.CodecContext.create("h264", "r")
    graph_sizes = {(f.width, f.height) for f in frames}
    resize = {s: _resizer(s, size) for s in graph_sizes}
    bits = 0
    decoded: list[av.VideoFrame] = []

    def take(packets: list[av.Packet]) -> None:
        nonlocal bits
        for packet in packets:
            bits += 8 * packet.size
            decoded.extend(decoder.decode(packet))

    for i, frame in enumerate(frames):
        picture = resize[(frame.width, frame.height)](frame)
        picture.pts, picture.time_base = i, encoder.time_base  # PyAV rescales pts from the frame's time base
        picture.pict_type = PictureType.NONE
        take(encoder.encode(picture))
    take(encoder.encode(None))
    decoded.extend(decoder.decode(None))
    return decoded, bits


def scaled(frames: Sequence[av.VideoFrame], size: tuple[int, int]) -> list[av.VideoFrame]:
    """``frames`` at ``size`` (bicubic, yuv420p), as :func:`encode_sample` scales them: scale once, encode often."""
    return [_resizer((f.width, f.height), size)(f) for f in frames]


def _resizer(src: tuple[int, int], dst: tuple[int, int]) -> Callable[[av.VideoFrame], av.VideoFrame]:
    if src == dst:
        return lambda frame: frame.reformat(format=PIX_FMT)
    return lambda frame: frame.reformat(width=dst[0], height=dst[1], format=PIX_FMT, interpolation="BICUBIC")


@dataclass(frozen=True)
class RungOut:
    """One encoded rung: its size, average target rate and VBV peak."""

    width: int
    height: int
    bitrate: int
    maxrate: int


STANDARD_RATES = (
    Fraction(24000, 1001),
    Fraction(24),
    Fraction(25),
    Fraction(30000, 1001),
    Fraction(30),
    Fraction(48),
    Fraction(50),
    Fraction(60000, 1001),
    Fraction(60),
)


def output_rate(fps: float) -> Fraction:
    """The constant frame rate of the packaged rungs: the nearest standard rate within 2 %, else whole frames/s."""
    if fps <= 0:
        raise ValueError(f"frame rate must be positive, got {fps}")
    nearest = min(STANDARD_RATES, key=lambda r: abs(float(r) - fps))
    return nearest if abs(float(nearest) - fps) <= 0.02 * fps else Fraction(max(1, round(fps)))


def gop_frames(fps: Fraction, segment_seconds: float) -> int:
    """Frames per segment (a keyframe starts each): the nearest whole number to ``segment_seconds`` of frames."""
    return max(1, round(segment_seconds * fps))


def _dash_options(segment_seconds: float, has_audio: bool) -> dict[str, str]:
    return {
        "seg_duration": f"{segment_seconds:g}",
        "use_template": "1",
        "use_timeline": "1",
        "single_file": "0",
        "streaming": "0",
        "init_seg_name": "init_$RepresentationID$.m4s",
        "media_seg_name": "chunk_$RepresentationID$_$Number%05d$.m4s",
        "format_options": "movflags=+cmaf",
        "adaptation_sets": "id=0,streams=v id=1,streams=a" if has_audio else "id=0,streams=v",
    }


class _RungEncoders:
    """One H.264 stream per rung in the DASH output: fixed GOP, VBV cap, constant frame rate."""

    def __init__(
        self,
        dst: av.container.OutputContainer,
        info: MediaInfo,
        rungs: Sequence[tuple[tuple[int, int], int]],
        fps: Fraction,
        gop: int,
        settings: EncodeSettings,
    ) -> None:
        self._dst, self._fps = dst, fps
        self.streams = []
        self.made: list[RungOut] = []
        for (w, h), bitrate in rungs:
            options = {
                **settings.rate_options(bitrate),
                "b": str(bitrate),
                "g": str(gop),
                "keyint_min": str(gop),
                "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0",
            }
            stream = dst.add_stream(settings.encoder(), rate=fps, options=options)
            stream.width, stream.height, stream.pix_fmt = w, h, PIX_FMT
            stream.bit_rate = int(bitrate * settings.peak_factor)  # the MPD's @bandwidth: the VBV peak
            stream.codec_context.time_base = 1 / fps
            stream.sample_aspect_ratio = rung_sar(display_size(info), (w, h))
            self.streams.append(stream)
            self.made.append(RungOut(w, h, bitrate, int(bitrate * settings.peak_factor)))

    def encode(self, pictures: Sequence[av.VideoFrame], slot: int) -> None:
        """Encode one picture per rung as frame ``slot`` of the constant-rate output."""
        for stream, picture in zip(self.streams, pictures, strict=True):
            picture.pts, picture.time_base = slot, 1 / self._fps
            picture.pict_type = PictureType.NONE  # the source's keyframes would force extra IDRs
            for packet in stream.encode(picture):
                self._dst.mux(packet)

    def flush(self) -> None:
        """Drain every encoder."""
        for stream in self.streams:
            for packet in stream.encode(None):
                self._dst.mux(packet)


class _AudioEncoder:
    """The source's first audio stream as one AAC-LC rendition at 48 kHz."""

    def __init__(self, dst: av.container.OutputContainer, bitrate: int, channels: int) -> None:
        layout = "stereo" if channels >= 2 else "mono"
        self._dst = dst
        self._stream = dst.add_stream("aac", rate=AUDIO_RATE)
        self._stream.bit_rate = bitrate
        self._stream.layout = layout
        self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=AUDIO_RATE)

    def encode(self, frame: av.AudioFrame | None) -> None:
        """Encode a decoded frame (None flushes)."""
        if frame is not None:
            frame.pts = None  # the resampler numbers its output continuously
        for resampled in self._resampler.resample(frame):
            for packet in self._stream.encode(resampled):
                self._dst.mux(packet)
        if frame is None:
            for packet in self._stream.encode(None):
                self._dst.mux(packet)


def package(
    path: str,
    info: MediaInfo,
    rungs: Sequence[tuple[tuple[int, int], int]],
    out_dir: Path,
    *,
    segment_seconds: float,
    settings: EncodeSettings,
    audio_bitrate: int,
    audio_channels: int,
    progress: ProgressFn = no_progress,
) -> tuple[list[RungOut], float]:
    """Encode ``rungs`` ((width, height), average bit/s) of ``path`` into CMAF segments and an MPD in ``out_dir``.

    The source is decoded once; each picture is scaled for every rung by one filter graph. The rungs run at
    one constant frame rate (:func:`output_rate`): each output frame shows the source picture on screen at
    its time, so variable-rate input with dropped frames keeps its timing (pictures repeat or are skipped as
    a player would show them). Every rung gets a keyframe exactly at each segment boundary (fixed GOP, no
    scene-cut keyframes), so segments align across rungs and a player can switch at any boundary. Audio
    (when the source has some) is encoded once. Returns the rungs made and the segment length in seconds.
    """
    fps = output_rate(info.fps)
    gop = gop_frames(fps, segment_seconds)
    segment = float(gop / fps)
    slots = max(1, round(info.duration * fps))
    out_dir.mkdir(parents=True, exist_ok=True)
    has_audio = bool(info.audio_streams)
    with (
        av.open(path) as src,
        av.open(str(out_dir / MPD_NAME), "w", format="dash", options=_dash_options(segment, has_audio)) as dst,
    ):
        vin = src.streams.video[0]
        vin.thread_type = "AUTO"
        video = _RungEncoders(dst, info, rungs, fps, gop, settings)
        audio = _AudioEncoder(dst, audio_bitrate, audio_channels) if has_audio else None
        scaler = Scaler(info, [size for size, _ in rungs])
        held: list[av.VideoFrame] | None = None
        slot = 0
        selected = [vin] + ([src.streams.audio[0]] if audio is not None else [])
        for packet in src.demux(*selected):
            for frame in packet.decode():
                if audio is not None and packet.stream.type == "audio":
                    audio.encode(frame)
                    continue
                t = (frame.time or 0.0) - info.start_time
                while held is not None and slot < slots and (slot + 0.5) / fps < t:
                    video.encode(held, slot)  # the held picture is on screen until this one's time
                    slot += 1
                    if slot % 25 == 0:
                        progress("encode", slot, slots)
                held = scaler(frame)
        while held is not None and slot < slots:
            video.encode(held, slot)
            slot += 1
        video.flush()
        if audio is not None:
            audio.encode(None)
    progress("encode", slots, slots)
    return video.made, segment


def bits_per_pixel_rate(size: tuple[int, int], fps: float, bpp: float) -> int:
    """An average rate in bit/s giving ``bpp`` bits per pixel per frame at ``size`` and ``fps``."""
    return int(math.ceil(size[0] * size[1] * fps * bpp / 1000.0)) * 1000


__all__ = [
    "CODECS",
    "MPD_NAME",
    "EncodeSettings",
    "RungOut",
    "Scaler",
    "Span",
    "bits_per_pixel_rate",
    "display_size",
    "encode_sample",
    "package",
    "read_spans",
    "sample_starts",
    "scaled",
    "size_for",
]
