"""Turn analysed material into an edit decision list: choose highlights, pace them, align cuts to the sound.

With shot emotions in the material, the chosen clips follow an emotional arc (:func:`arc_order`: rising
arousal, calm opening, peak before the end card) and each clip records its valence, arousal and label.

Sync modes, in order of preference: a given music track's beats (cuts land on beats of the trailer's
own timeline); the source's own beats (each clip starts on a source beat and lasts whole beats, so cuts
land on beats of the assembled sound); the source's onsets; free cuts. In every mode a cut never falls
inside a spoken word when word times are known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from genmedia.trailer import pacing
from genmedia.trailer.edl import AudioPlan, Clip, EditDecisionList, EndCard, SyncKind
from genmedia.trailer.highlights import (
    Material,
    Piece,
    arc_order,
    choose_pieces,
    fit_lengths,
    frame_scores,
    pieces,
    range_emotion,
    reasons_for,
)
from genmedia.trailer.sync import beat_span, inside_word, place_clip

MIN_CLIP_S = 0.5
MIN_END_CARD_S = 0.5


class NoMaterial(ValueError):
    """The source has no usable range to cut a trailer from."""


@dataclass
class PlanRequest:
    """What the trailer should be: length, style, frame rate, spoiler cut-off and optional music beats."""

    duration: float
    style: pacing.Style = "action"
    fps: Fraction = Fraction(24)
    spoiler_fraction: float = 0.1
    max_clips_per_shot: int = 1
    title: str = ""
    music_beats: list[float] | None = None
    """Beats of a given music track on the trailer timeline (music starts at trailer time 0)."""
    arc: bool = True
    """Order clips by rising arousal when the material has shot emotions (else source order)."""


@dataclass
class _Placed:
    piece: Piece
    start: float
    frames: int
    sync: SyncKind
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)
    emotion: tuple[float, float, str] | None = None


def _grid(t: float, rate: Fraction) -> float:
    """``t`` rounded to the nearest frame time."""
    return round(t * rate) / float(rate)


def _music_cuts(
    lengths: list[float], chosen: list[Piece], beats: list[float], latest: float, rate: Fraction
) -> list[tuple[Piece, int]]:
    """Clips whose ends land on music beats (none after ``latest``): (piece, frames) for each clip kept.

    A piece too short to reach the next beat is left out; the next one starts at the same beat.
    """
    grid = np.asarray(sorted(beats))
    out: list[tuple[Piece, int]] = []
    previous, desired = 0.0, 0.0
    for length, piece in zip(lengths, chosen, strict=True):
        desired += length
        reach = grid[
            (grid >= previous + MIN_CLIP_S) & (grid <= previous + piece.length + 0.5 / float(rate)) & (grid <= latest)
        ]
        if reach.size == 0:
            continue
        cut = float(reach[np.argmin(np.abs(reach - desired))])
        out.append((piece, round(cut * rate) - round(previous * rate)))
        previous = round(cut * rate) / float(rate)
    return out


def _place(
    chosen: list[Piece], lengths: list[float], material: Material, request: PlanRequest, clip_time: float, latest: float
) -> tuple[list[_Placed], str]:
    """Place every clip in its piece and fix its frame count, aligned to the best available rhythm."""
    rate = request.fps
    words = material.words
    placed: list[_Placed] = []
    if request.music_beats:
        for piece, frames in _music_cuts(lengths, chosen, request.music_beats, latest, rate):
            length = frames / float(rate)
            best, _ = piece.best_window(length)
            start, _ = place_clip(best, length, piece.lo, piece.hi, words=words)
            placed.append(_Placed(piece, _grid(start, rate), frames, "beat"))
        return placed, "music beats"
    beats = material.beats if material.has_audio else np.zeros(0)
    onsets = material.onsets if material.has_audio else np.zeros(0)
    mode = "source beats" if len(beats) >= 2 else "onsets" if len(onsets) else "none"
    anchors = beats if mode == "source beats" else onsets
    done = 0.0
    desired = 0.0
    for piece, length in zip(chosen, lengths, strict=True):
        desired += length
        want = max(MIN_CLIP_S, desired - done)
        want = min(want, piece.length)
        best, _ = piece.best_window(want)
        span = (
            beat_span(best, want, beats, piece.lo, piece.hi, min_length=MIN_CLIP_S, words=words)
            if mode == "source beats"
            else None
        )
        starts = (
            [
                float(b)
                for b in beats
                if piece.lo - 1e-9 <= b <= piece.hi - MIN_CLIP_S and not inside_word(float(b), words)
            ]
            if mode == "source beats" and not span
            else []
        )
        if span:
            (start, end), on_anchor = span, True
        elif starts:  # start on a beat (the cut lands on it), end where the length says
            start = min(starts, key=lambda b: abs(b - best))
            end, on_anchor = start + min(want, piece.hi - start), True
            span = (start, end)
        else:
            start, on_anchor = place_clip(
                best,
                want,
                piece.lo,
                piece.hi,
                anchors=anchors if mode == "onsets" else (),
                words=words,
                anchor_reach=max(0.5, piece.length),
            )
            end = start + want
        frames = max(1, round(end * rate) - round(start * rate))
        kind: SyncKind = ("beat" if span else "onset") if on_anchor else "word" if words else "free"
        placed.append(_Placed(piece, _grid(start, rate), frames, kind))
        done += frames / float(rate)
    return placed, mode


def _covered(placed: list[_Placed], rate: Fraction) -> float:
    """Seconds of trailer the placed clips fill."""
    return sum(p.frames for p in placed) / float(rate)


def _fit_end_card(placed: list[_Placed], total_frames: int, card_frames_min: int) -> list[_Placed]:
    """Drop or trim trailing clips until the end card has at least ``card_frames_min`` frames."""
    while placed and sum(p.frames for p in placed) > total_frames - card_frames_min:
        excess = sum(p.frames for p in placed) - (total_frames - card_frames_min)
        last = placed[-1]
        if last.frames - excess >= card_frames_min:
            last.frames -= excess
            last.sync = "free" if last.sync == "beat" else last.sync
        else:
            placed.pop()
    return placed


def _transition_frames(kind: str, style: pacing.Style, rate: Fraction, before: _Placed | None, after: _Placed) -> int:
    """An even number of frames for the transition into ``after``, shortened to what the clips allow."""
    nominal = pacing.transition_seconds(kind, style)
    half = round(nominal * float(rate) / 2)
    limit = after.frames * 2 // 5
    if before is not None:
        limit = min(limit, before.frames * 2 // 5)
    if kind == "crossfade" and before is not None:
        frame = 1 / float(rate)
        pre = (after.start - after.piece.lo) / frame
        post = (before.piece.hi - (before.start + before.frames * frame)) / frame
        limit = min(limit, int(pre + 1e-6), int(post + 1e-6))
    return 2 * max(0, min(half, limit))


def plan_trailer(
    material: Material, request: PlanRequest, *, source: str, width: int, height: int, audio: AudioPlan
) -> tuple[EditDecisionList, list[str]]:
    """Plan a trailer from ``material``; return the edit decision list and warnings for the user.

    Raises :class:`NoMaterial` if no range of the source can be used.
    """
    warnings: list[str] = []
    rate = request.fps
    cutoff = material.duration * (1 - request.spoiler_fraction)
    scores, features = frame_scores(material, request.style)
    candidates = pieces(material, scores, cutoff, MIN_CLIP_S)
    if not candidates:
        raise NoMaterial(f"no usable range of at least {MIN_CLIP_S} s before the spoiler cut-off at {cutoff:.2f} s")
    if request.music_beats is None and material.has_audio and len(material.beats) >= 2:
        on_beat = [p for p in candidates if any(p.lo - 1e-9 <= b <= p.hi - MIN_CLIP_S for b in material.beats)]
        if sum(p.length for p in on_beat) >= request.duration - pacing.end_card_seconds(request.duration):
            candidates = on_beat  # enough material where clips can start on a beat: use only that
    target = request.duration
    card = pacing.end_card_seconds(target)
    clip_time = target - card
    available = sum(p.length for p in candidates)
    if available < clip_time:
        clip_time = available
        target = clip_time + pacing.end_card_seconds(clip_time / 0.92)
        card = target - clip_time
        warnings.append(
            f"the source has only {available:.2f} s of usable material before the spoiler cut-off "
            f"({cutoff:.2f} s); the trailer is {target:.2f} s instead of {request.duration:.2f} s"
        )
    total_frames = round(target * rate)
    n_first = len(pacing.clip_lengths(clip_time, request.style))
    arc = request.arc and "arousal" in material.frames and material.frames["arousal"].notna().any()
    tolerance = max(2 / float(rate), 0.35)
    best: tuple[list[_Placed], str] | None = None
    for n in range(min(n_first, len(candidates)), len(candidates) + 1):
        chosen = choose_pieces(candidates, n, clip_time / n, request.max_clips_per_shot)
        if arc:
            chosen = arc_order(chosen, material)
        fitted = fit_lengths(pacing.clip_lengths(clip_time, request.style, len(chosen)), [p.length for p in chosen])
        if not fitted:
            continue
        attempt = _place(chosen, fitted, material, request, clip_time, target - MIN_END_CARD_S)
        if best is None or _covered(attempt[0], rate) > _covered(best[0], rate):
            best = attempt
        if _covered(attempt[0], rate) >= clip_time - tolerance:
            break  # aligning cuts to the sound can shorten clips; more clips make up for it
    if best is None:  # pragma: no cover - n == len(candidates) always fits because available >= clip_time
        raise NoMaterial("could not fit the clips into the usable material")
    placed, mode = best
    placed = _fit_end_card(placed, total_frames, round(MIN_END_CARD_S * rate))
    times = material.frames["time"].to_numpy(dtype=np.float64)
    for p in placed:
        end = p.start + p.frames / float(rate)
        inside = (times >= p.start) & (times < end)
        p.score = float(scores[inside].mean()) if inside.any() else 0.0
        p.reasons = reasons_for(features, times, p.start, end, material, request.style)
        p.emotion = range_emotion(material, p.start, end)
    edl = _assemble(
        placed, material, request, rate, total_frames, target, cutoff, mode, scores, source, width, height, audio
    )
    edl = edl.model_copy(update={"arc": "emotion" if arc else "source"})
    return edl, warnings


def _assemble(
    placed: list[_Placed],
    material: Material,
    request: PlanRequest,
    rate: Fraction,
    total_frames: int,
    target: float,
    cutoff: float,
    mode: str,
    scores: np.ndarray,
    source: str,
    width: int,
    height: int,
    audio: AudioPlan,
) -> EditDecisionList:
    """Lay the placed clips on the trailer timeline with their transitions and add the end card."""
    frame = 1 / float(rate)
    starts, position = [], 0
    for p in placed:
        starts.append(position)
        position += p.frames
    kinds = pacing.transitions([s * frame for s in starts], total_frames * frame, request.style)
    clips: list[Clip] = []
    for k, (p, start, kind) in enumerate(zip(placed, starts, kinds, strict=True)):
        frames_t = _transition_frames(kind, request.style, rate, placed[k - 1] if k else None, p)
        clips.append(
            Clip(
                index=k,
                shot=p.piece.shot,
                source_in=round(p.start, 6),
                source_out=round(p.start + p.frames * frame, 6),
                trailer_in=round(start * frame, 6),
                trailer_out=round((start + p.frames) * frame, 6),
                trailer_in_frame=start,
                trailer_out_frame=start + p.frames,
                transition=kind if frames_t else "cut",
                transition_frames=frames_t,
                sync_in=p.sync,
                score=round(p.score, 4),
                reasons=p.reasons,
                valence=round(p.emotion[0], 4) if p.emotion else None,
                arousal=round(p.emotion[1], 4) if p.emotion else None,
                emotion=p.emotion[2] or None if p.emotion else None,
            )
        )
    card_frames = total_frames - position
    times = material.frames["time"].to_numpy(dtype=np.float64)
    used = np.zeros(len(times), dtype=bool)
    for c in clips:
        used |= (times >= c.source_in) & (times < c.source_out)
    still = float(times[used][np.argmax(scores[used])]) if used.any() else clips[0].source_in
    dip = min(
        round(pacing.transition_seconds("dip", request.style) * float(rate) / 2),
        card_frames * 2 // 5,
        clips[-1].frames * 2 // 5,
    )
    end_card = EndCard(
        title=request.title,
        still_time=round(still, 6),
        trailer_in=round(position * frame, 6),
        trailer_in_frame=position,
        transition="dip" if dip else "cut",
        transition_frames=2 * dip,
        fade_out_frames=min(round(0.5 * float(rate)), card_frames * 2 // 5),
    )
    return EditDecisionList(
        source=source,
        source_duration=round(material.duration, 6),
        fps=f"{rate.numerator}/{rate.denominator}",
        frame_count=total_frames,
        duration=round(total_frames * frame, 6),
        target_duration=request.duration,
        style=request.style,
        sync=mode,
        spoiler_cutoff=round(cutoff, 6),
        width=width,
        height=height,
        clips=clips,
        end_card=end_card,
        audio=audio,
        backends=dict(material.backends),
    )
