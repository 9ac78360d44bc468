"""The trailer's sound: the source audio of each clip laid on the trailer timeline with click-free
transitions, optionally under a music track, then normalised to a target loudness (BS.1770).

Every join is a gain ramp, never a jump: hard cuts get a 10 ms equal-power cross-fade, cross-fades an
equal-power cross-fade as long as the picture's, dips a raised-cosine fade out and in.
"""

from __future__ import annotations

import os

import numpy as np

from genmedia.media.audio import iter_audio
from genmedia.trailer.edl import EditDecisionList
from genmedia.trailer.loudness import normalize_loudness

CUT_FADE_S = 0.005
"""Half-length of the tiny cross-fade at a hard cut (10 ms in all)."""


def _ramp(n: int, kind: str) -> np.ndarray:
    """A rising gain ramp of ``n`` samples: equal-power (sine) for cross-fades, raised cosine for fades."""
    a = (np.arange(n, dtype=np.float64) + 0.5) / max(n, 1)
    return np.sin(0.5 * np.pi * a) if kind == "equal-power" else 0.5 - 0.5 * np.cos(np.pi * a)


def _edges(edl: EditDecisionList, k: int, sample_rate: int) -> tuple[int, str, int, str]:
    """(samples before the cut-in, ramp kind) and (samples after the cut-out, ramp kind) of clip ``k``."""
    rate = float(edl.rate)
    clip = edl.clips[k]
    nxt = edl.clips[k + 1] if k + 1 < len(edl.clips) else edl.end_card

    def side(kind: str, frames: int) -> tuple[int, str]:
        if kind == "crossfade":
            return round(frames / 2 / rate * sample_rate), "equal-power"
        if kind == "dip":
            return round(frames / 2 / rate * sample_rate), "fade"
        return round(CUT_FADE_S * sample_rate), "equal-power"

    head, head_kind = side(clip.transition, clip.transition_frames)
    tail, tail_kind = side(nxt.transition, nxt.transition_frames) if nxt is not None else (0, "fade")
    if k == 0:  # nothing before the first clip: it fades in from silence after the start
        head_kind = "fade"
    return head, head_kind, tail, tail_kind


def source_ranges(edl: EditDecisionList, sample_rate: int) -> list[tuple[float, float]]:
    """Source time ranges (s) whose sound each clip needs, transition overlaps included."""
    out = []
    for k, clip in enumerate(edl.clips):
        head, head_kind, tail, tail_kind = _edges(edl, k, sample_rate)
        pre = head / sample_rate if head_kind == "equal-power" and k else 0.0
        post = tail / sample_rate if tail_kind == "equal-power" and k + 1 < len(edl.clips) else 0.0
        out.append((clip.source_in - pre, clip.source_out + post))
    return out


def read_ranges(path: str | os.PathLike[str], ranges: list[tuple[float, float]], sample_rate: int) -> list[np.ndarray]:
    """Mono samples of each ``(start, end)`` range of ``path``'s first audio stream, in one streamed decode.

    Parts of a range before the start or after the end of the audio are silence.
    """
    wanted = [(round(a * sample_rate), round(b * sample_rate)) for a, b in ranges]
    out = [np.zeros(max(0, b - a), np.float32) for a, b in wanted]
    last = max((b for _, b in wanted), default=0)
    position = 0
    for chunk in iter_audio(path, sample_rate, chunk_seconds=10.0):
        lo, hi = position, position + chunk.size
        for (a, b), buf in zip(wanted, out, strict=True):
            s, e = max(a, lo), min(b, hi)
            if s < e:
                buf[s - a : e - a] = chunk[s - lo : e - lo]
        position = hi
        if position >= last:
            break
    return out


def assemble(edl: EditDecisionList, pieces: list[np.ndarray], sample_rate: int) -> np.ndarray:
    """Lay each clip's sound (from :func:`source_ranges`) on the trailer timeline with its gain ramps."""
    rate = float(edl.rate)
    total = round(edl.frame_count / rate * sample_rate)
    track = np.zeros(total, np.float64)
    for k, (clip, piece) in enumerate(zip(edl.clips, pieces, strict=True)):
        head, head_kind, tail, tail_kind = _edges(edl, k, sample_rate)
        pre = head if head_kind == "equal-power" and k else 0
        start = round(clip.trailer_in_frame / rate * sample_rate) - pre
        gain = np.ones(piece.size)
        n_head = 2 * head if pre else head
        if n_head:
            gain[:n_head] *= _ramp(min(n_head, piece.size), head_kind)[: piece.size]
        last = k + 1 == len(edl.clips)
        n_tail = 2 * tail if tail_kind == "equal-power" and not last else tail
        if n_tail:
            gain[-n_tail:] *= _ramp(min(n_tail, piece.size), tail_kind)[::-1][-min(n_tail, piece.size) :]
        a, b = max(0, start), min(total, start + piece.size)
        track[a:b] += piece[a - start : b - start] * gain[a - start : b - start]
    return track.astype(np.float32)


def music_bed(path: str | os.PathLike[str], offset: float, edl: EditDecisionList, sample_rate: int) -> np.ndarray:
    """The music track from ``offset`` for the trailer's length: 10 ms fade-in, fade-out with the picture."""
    total = round(edl.frame_count / float(edl.rate) * sample_rate)
    music = read_ranges(path, [(offset, offset + total / sample_rate)], sample_rate)[0]
    music[: round(0.01 * sample_rate)] *= _ramp(round(0.01 * sample_rate), "fade")
    card = edl.end_card
    fade = (
        round(card.fade_out_frames / float(edl.rate) * sample_rate)
        if card and card.fade_out_frames
        else round(0.01 * sample_rate)
    )
    music[-fade:] *= _ramp(fade, "fade")[::-1]
    return music


def finish(mono: np.ndarray, sample_rate: int, target_lufs: float) -> tuple[np.ndarray, float | None]:
    """Stereo (identical channels) normalised to ``target_lufs``; returns (samples, loudness) (None if silent)."""
    stereo = np.stack([mono, mono]).astype(np.float32)
    if not np.any(stereo):
        return stereo, None
    out, _, after = normalize_loudness(stereo, sample_rate, target_lufs)
    return out, round(after, 2)
