"""Long audio in bounded memory: a loudness profile from one streaming pass, chunks cut at silences,
and exact reads of any time range.

A 3-hour file is never held whole: :func:`loudness_profile` keeps one decoded block and a float per
10 ms (4 MB for 3 hours); :func:`plan_chunks` picks cut points in the quietest moment near each chunk's
target length; :func:`read_range` decodes just one chunk (seeking, then trimming to the exact sample),
so chunks transcribed in parallel carry exact offsets and their word times stitch back exactly.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from genmedia.errors import InputError
from genmedia.media.audio import iter_audio
from genmedia.progress import ProgressFn, no_progress

SAMPLE_RATE = 16000
HOP_S = 0.01
"""One loudness value per 10 ms."""


@dataclass(frozen=True)
class Chunk:
    """One piece of the audio to transcribe: [start, end) in seconds from the first sample."""

    index: int
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def loudness_db(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, hop_s: float = HOP_S) -> np.ndarray:
    """RMS level in dBFS of each ``hop_s`` window of ``audio`` (a partial last window counts)."""
    hop = max(1, round(hop_s * sample_rate))
    n = -(-audio.size // hop)
    padded = np.zeros(n * hop, dtype=np.float32)
    padded[: audio.size] = audio
    power = np.mean(np.square(padded.reshape(n, hop), dtype=np.float64), axis=1)
    return (10 * np.log10(power + 1e-12)).astype(np.float32)


def loudness_profile(
    blocks: Iterable[np.ndarray], sample_rate: int = SAMPLE_RATE, *, total_s: float | None = None,
    progress: ProgressFn = no_progress,
) -> np.ndarray:
    """:func:`loudness_db` of a stream of audio blocks, holding one block (plus a partial window) at a time."""
    hop = max(1, round(HOP_S * sample_rate))
    levels: list[np.ndarray] = []
    carry = np.zeros(0, dtype=np.float32)
    seen = 0
    for block in blocks:
        data = np.concatenate([carry, np.asarray(block, dtype=np.float32)]) if carry.size else np.asarray(block, np.float32)
        whole = data.size - data.size % hop
        if whole:
            levels.append(loudness_db(data[:whole], sample_rate))
        carry = data[whole:].copy()
        seen += len(block)
        progress("scan audio", round(seen / sample_rate, 1), total_s)
    if carry.size:
        levels.append(loudness_db(carry, sample_rate))
    return np.concatenate(levels) if levels else np.zeros(0, dtype=np.float32)


def plan_chunks(levels: np.ndarray, *, target_s: float, quiet_s: float = 0.4) -> list[Chunk]:
    """Cut the timeline of a loudness profile into chunks of at most ``target_s`` seconds.

    Each cut lands in the middle of the quietest ``quiet_s`` window in the second half of the chunk
    (a pause between words or sentences when there is one), so no word is split between chunks.
    """
    total = levels.size * HOP_S
    if total <= target_s:
        return [Chunk(0, 0.0, total)] if levels.size else []
    width = max(1, round(quiet_s / HOP_S))
    # Mean level of the window starting at each hop, from a cumulative sum (O(n), no copies per chunk).
    csum = np.concatenate([[0.0], np.cumsum(levels, dtype=np.float64)])
    window_mean = (csum[width:] - csum[:-width]) / width
    chunks: list[Chunk] = []
    start = 0
    target = round(target_s / HOP_S)
    while levels.size - start > target:
        lo, hi = start + target // 2, min(start + target - width, window_mean.size - 1)
        best = lo + int(np.argmin(window_mean[lo : hi + 1])) if hi >= lo else start + target - width
        cut = best + width // 2
        chunks.append(Chunk(len(chunks), start * HOP_S, cut * HOP_S))
        start = cut
    chunks.append(Chunk(len(chunks), start * HOP_S, total))
    return chunks


def scan(path: str | os.PathLike[str], *, target_s: float, duration: float | None = None,
         progress: ProgressFn = no_progress) -> tuple[np.ndarray, list[Chunk]]:
    """Stream the file once: its loudness profile and its chunk plan."""
    levels = loudness_profile(iter_audio(path, SAMPLE_RATE, chunk_seconds=30.0), SAMPLE_RATE, total_s=duration, progress=progress)
    return levels, plan_chunks(levels, target_s=target_s)


def _first_time(container: av.container.InputContainer, stream: av.AudioStream) -> float:
    """The timestamp (s) of the stream's first decoded sample: time 0 of every chunk plan."""
    for packet in container.demux(stream):
        for frame in packet.decode():
            return float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
    return 0.0


def _decode_from(container: av.container.InputContainer, stream: av.AudioStream, sample_rate: int) -> Iterator[tuple[float | None, np.ndarray]]:
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


def read_range(path: str | os.PathLike[str], start: float, end: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 samples of [start, end) seconds after the first sample (the timeline of :func:`scan`).

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
        position: float | None = None
        pieces: list[np.ndarray] = []
        have = 0
        skip = 0
        for t, samples in _decode_from(container, stream, sample_rate):
            if position is None:
                position = (t - origin) if t is not None else 0.0
                if position > start + 1 / sample_rate:  # seek overshot: start again from the top
                    return _read_from_top(path, start, want, sample_rate)
                skip = round((start - position) * sample_rate)
            if skip >= samples.size:
                skip -= samples.size
                continue
            samples, skip = samples[skip:], 0
            pieces.append(samples)
            have += samples.size
            if have >= want:
                break
    audio = np.concatenate(pieces)[:want] if pieces else np.zeros(0, dtype=np.float32)
    return audio.astype(np.float32, copy=False)


def _read_from_top(path: str | os.PathLike[str], start: float, want: int, sample_rate: int) -> np.ndarray:
    skip, pieces, have = round(start * sample_rate), [], 0
    for block in iter_audio(path, sample_rate, chunk_seconds=10.0):
        if skip >= block.size:
            skip -= block.size
            continue
        block, skip = block[skip:], 0
        pieces.append(block)
        have += block.size
        if have >= want:
            break
    return np.concatenate(pieces)[:want] if pieces else np.zeros(0, dtype=np.float32)
