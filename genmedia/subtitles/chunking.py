"""Long audio in bounded memory: a loudness profile from one streaming pass, chunks cut at silences,
and exact reads of any time range.

A 3-hour file is never held whole: :func:`loudness_profile` keeps one decoded block and a float per
10 ms (4 MB for 3 hours); :func:`plan_chunks` picks cut points in the quietest moment near each chunk's
target length; :func:`genmedia.media.audio.read_range` decodes just one chunk (seeking, then trimming to
the exact sample), so chunks transcribed in parallel carry exact offsets and their word times stitch back
exactly.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

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
    blocks: Iterable[np.ndarray],
    sample_rate: int = SAMPLE_RATE,
    *,
    total_s: float | None = None,
    progress: ProgressFn = no_progress,
) -> np.ndarray:
    """:func:`loudness_db` of a stream of audio blocks, holding one block (plus a partial window) at a time."""
    hop = max(1, round(HOP_S * sample_rate))
    levels: list[np.ndarray] = []
    carry = np.zeros(0, dtype=np.float32)
    seen = 0
    for block in blocks:
        data = (
            np.concatenate([carry, np.asarray(block, dtype=np.float32)])
            if carry.size
            else np.asarray(block, np.float32)
        )
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


def scan(
    path: str | os.PathLike[str], *, target_s: float, duration: float | None = None, progress: ProgressFn = no_progress
) -> tuple[np.ndarray, list[Chunk]]:
    """Stream the file once: its loudness profile and its chunk plan."""
    levels = loudness_profile(
        iter_audio(path, SAMPLE_RATE, chunk_seconds=30.0), SAMPLE_RATE, total_s=duration, progress=progress
    )
    return levels, plan_chunks(levels, target_s=target_s)
