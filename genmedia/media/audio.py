"""Read audio from any media file as mono float32 at a chosen rate, and write small audio files.

Decoding is streamed: :func:`iter_audio` holds at most one chunk (plus one decoded frame) in memory, and
:func:`read_range` decodes one time range only (a seek, then trimming to the exact sample).
Samples start at the first decoded sample of the first audio stream; resampling and down-mixing
use FFmpeg's swresample through PyAV's :class:`av.AudioResampler`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from itertools import chain
from pathlib import Path

import av
import numpy as np

from genmedia.errors import InputError

# extension -> (container format, encoder)
_AUDIO_FORMATS = {
    ".flac": ("flac", "flac"),
    ".wav": ("wav", "pcm_s16le"),
    ".opus": ("ogg", "libopus"),
    ".ogg": ("ogg", "libopus"),
    ".m4a": ("ipod", "aac"),
}
_OPUS_RATES = (48000, 24000, 16000, 12000, 8000)


def _open(path: str | os.PathLike[str]) -> av.container.InputContainer:
    """Open ``path`` for reading, turning every failure into a one-line :class:`InputError`."""
    if not Path(path).is_file():
        raise InputError(str(path), "no such file")
    try:
        return av.open(str(path), "r")
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(str(path), f"cannot open as media ({exc})") from exc


def has_audio(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has at least one audio stream."""
    with _open(path) as container:
        return len(container.streams.audio) > 0


def _audio_stream(container: av.container.InputContainer, path: str) -> av.AudioStream:
    """The first audio stream, or :class:`InputError` if there is none."""
    if not container.streams.audio:
        raise InputError(path, "no audio stream")
    return container.streams.audio[0]


def _decoded_frames(container: av.container.InputContainer, stream: av.AudioStream) -> Iterator[av.AudioFrame]:
    """Decode ``stream``, skipping packets the decoder rejects as corrupt."""
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.error.InvalidDataError:
            continue


def _sample_limit(stream: av.AudioStream, sample_rate: int) -> int | None:
    """Samples the stream's declared duration spans (encoder padding after it is dropped), if declared."""
    if not stream.duration or stream.time_base is None:
        return None
    return round(float(stream.duration * stream.time_base) * sample_rate)


def _resampled(frames: Iterator[av.AudioFrame], sample_rate: int) -> Iterator[np.ndarray]:
    """Resample decoded frames to mono float32 at ``sample_rate``; a new resampler if the input changes."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    for frame in frames:
        frame.pts = None  # timestamps are not needed and may jump in damaged files
        try:
            out = resampler.resample(frame)
        except ValueError:  # input format, layout or rate changed mid-stream
            yield from (f.to_ndarray().reshape(-1) for f in resampler.resample(None))
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            out = resampler.resample(frame)
        yield from (f.to_ndarray().reshape(-1) for f in out)
    yield from (f.to_ndarray().reshape(-1) for f in resampler.resample(None))


def iter_audio(
    path: str | os.PathLike[str], sample_rate: int = 16000, chunk_seconds: float = 30.0
) -> Iterator[np.ndarray]:
    """Yield consecutive mono float32 chunks of ``round(chunk_seconds * sample_rate)`` samples (the last shorter).

    Chunk ``k`` starts ``k * chunk_seconds`` after the first sample; concatenated they equal
    :func:`load_audio`. Raises :class:`InputError` if the file has no audio stream.
    """
    chunk = max(1, round(chunk_seconds * sample_rate))
    pending: list[np.ndarray] = []
    size = 0
    with _open(path) as container:
        stream = _audio_stream(container, str(path))
        remaining = _sample_limit(stream, sample_rate)
        for piece in _resampled(_decoded_frames(container, stream), sample_rate):
            if remaining is not None:
                piece, remaining = piece[:remaining], remaining - min(remaining, piece.size)
            pending.append(piece)
            size += piece.size
            while size >= chunk:
                joined = np.concatenate(pending)
                yield joined[:chunk]
                pending, size = [joined[chunk:]], joined.size - chunk
    if size:
        yield np.concatenate(pending)


def load_audio(path: str | os.PathLike[str], sample_rate: int = 16000) -> np.ndarray:
    """Decode the first audio stream of ``path`` as mono float32 at ``sample_rate``."""
    chunks = list(iter_audio(path, sample_rate, chunk_seconds=60.0))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def _first_time(container: av.container.InputContainer, stream: av.AudioStream) -> float:
    """The timestamp (s) of the stream's first decoded sample: time 0 of every chunk plan."""
    for packet in container.demux(stream):
        for frame in packet.decode():
            return float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
    return 0.0


def _decode_from(
    container: av.container.InputContainer, stream: av.AudioStream, sample_rate: int
) -> Iterator[tuple[float | None, np.ndarray]]:
    """(timestamp of the frame or None, its mono float32 samples at ``sample_rate``) for each decoded frame."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            continue
        for frame in frames:
            t = float(frame.pts * frame.time_base) if frame.pts is not None else None
            frame.pts = None
            for out in resampler.resample(frame):
                yield t, out.to_ndarray().reshape(-1)
                t = None
    for out in resampler.resample(None):
        yield None, out.to_ndarray().reshape(-1)


def read_range(path: str | os.PathLike[str], start: float, end: float, sample_rate: int = 16000) -> np.ndarray:
    """Mono float32 samples of [start, end) seconds after the first sample (the timeline of :func:`iter_audio`).

    Seeks near ``start`` and trims to the exact sample using the decoded frames' timestamps; files
    without usable timestamps are decoded from the beginning.
    """
    if not Path(path).is_file():
        raise InputError(str(path), "no such file")
    want = max(0, round((end - start) * sample_rate))
    if start <= 1.0:
        return _read_from_top(path, start, want, sample_rate)
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise InputError(str(path), "no audio stream")
        stream = container.streams.audio[0]
        origin = _first_time(container, stream)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        if stream.time_base is None:
            return _read_from_top(path, start, want, sample_rate)
        # A second early: the decoder warms up (e.g. AAC's overlapping transform) before the first kept sample.
        container.seek(int((origin + start - 1.0) / stream.time_base), stream=stream, backward=True)
        decoded = _decode_from(container, stream, sample_rate)
        first = next(decoded, None)
        if first is None:
            return np.zeros(0, dtype=np.float32)
        t, samples = first
        position = (t - origin) if t is not None else 0.0
        if position > start + 1 / sample_rate:  # seek overshot: start again from the top
            return _read_from_top(path, start, want, sample_rate)
        blocks = chain([samples], (block for _, block in decoded))
        return _take(blocks, round((start - position) * sample_rate), want)


def _read_from_top(path: str | os.PathLike[str], start: float, want: int, sample_rate: int) -> np.ndarray:
    return _take(iter_audio(path, sample_rate, chunk_seconds=10.0), round(start * sample_rate), want)


def _take(blocks: Iterable[np.ndarray], skip: int, want: int) -> np.ndarray:
    """``want`` float32 samples of ``blocks`` after the first ``skip`` (fewer where the blocks end first)."""
    pieces: list[np.ndarray] = []
    have = 0
    for block in blocks:
        if skip >= block.size:
            skip -= block.size
            continue
        block, skip = block[skip:], 0
        pieces.append(block)
        have += block.size
        if have >= want:
            break
    audio = np.concatenate(pieces)[:want] if pieces else np.zeros(0, dtype=np.float32)
    return audio.astype(np.float32, copy=False)


def write_audio_file(path: str | os.PathLike[str], samples: np.ndarray, sample_rate: int) -> None:
    """Write float samples in [-1, 1], shape ``(n,)`` or ``(channels, n)``, as FLAC/WAV/Opus/M4A by extension.

    Opus only supports 8/12/16/24/48 kHz; other rates are resampled to 48 kHz on write.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _AUDIO_FORMATS:
        raise ValueError(f"{path}: unsupported audio extension, use one of {sorted(_AUDIO_FORMATS)}")
    data = np.asarray(samples, dtype=np.float32)
    data = data[None] if data.ndim == 1 else data
    if data.ndim != 2 or data.shape[0] not in (1, 2):
        raise ValueError(f"{path}: samples must be (n,), (1, n) or (2, n), got {np.shape(samples)}")
    fmt, codec = _AUDIO_FORMATS[suffix]
    layout = "mono" if data.shape[0] == 1 else "stereo"
    rate = sample_rate if codec != "libopus" or sample_rate in _OPUS_RATES else 48000
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(np.clip(data, -1, 1)), format="fltp", layout=layout)
    frame.sample_rate, frame.pts, frame.time_base = sample_rate, 0, Fraction(1, sample_rate)
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
