"""The edit decision list: every clip of a trailer with its source range, its place in the trailer, the
transition into it and why it was chosen. It is the contract between planning and rendering and is
written next to the renditions as ``edit_decision_list.json``.

Times are seconds; every time also has a frame number on the trailer's frame grid (``fps``), and
frame numbers are what the renderer uses, so durations are exact.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Transition = Literal["cut", "crossfade", "dip"]
"""How a clip begins: a hard cut, a cross-fade from the previous clip, or a dip through black."""

SyncKind = Literal["beat", "onset", "word", "free"]
"""What a cut point was aligned to."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Clip(_Model):
    """One clip: source frames ``[source_in_frame, source_in_frame + frames)`` shown at trailer frames
    ``[trailer_in_frame, trailer_out_frame)``. Cross-fades overlap the neighbouring clip by
    ``transition_frames / 2`` on each side of the cut; those handle frames come from outside the range."""

    index: int
    shot: int = Field(description="Index of the source shot the clip comes from.")
    source_in: float = Field(description="Source time (s) shown at the cut into this clip.")
    source_out: float = Field(description="Source time (s) just after the last frame shown before the next cut.")
    trailer_in: float
    trailer_out: float
    trailer_in_frame: int
    trailer_out_frame: int
    transition: Transition = Field(
        description="How this clip begins (from the previous clip, or from black for the first)."
    )
    transition_frames: int = Field(0, ge=0, description="Length of the transition in frames (0 for a hard cut).")
    sync_in: SyncKind = Field("free", description="What the cut into this clip was aligned to.")
    score: float = Field(description="Highlight score of the chosen range (higher is better).")
    reasons: list[str] = Field(default_factory=list, description="Why this range was chosen.")
    valence: float | None = Field(None, description="Mean valence (-1..1) of the range's shot emotion, when known.")
    arousal: float | None = Field(None, description="Mean arousal (-1..1): the trailer's emotional curve.")
    emotion: str | None = Field(None, description="Emotion label of the range (the analysis' shot mood).")

    @property
    def frames(self) -> int:
        """Frames the clip occupies on the trailer's timeline (transitions not counted twice)."""
        return self.trailer_out_frame - self.trailer_in_frame


class EndCard(_Model):
    """The closing title card: a darkened, blurred still of ``still_time`` with ``title`` over it."""

    title: str
    still_time: float = Field(description="Source time (s) of the still behind the title.")
    trailer_in: float
    trailer_in_frame: int
    transition: Transition = "dip"
    transition_frames: int = 0
    fade_out_frames: int = Field(0, ge=0, description="Fade to black over the last frames of the trailer.")
    title_generation: dict[str, str] | None = Field(
        None, description="With --title auto: the text writer's prompt and output, the sanitised title, who made it."
    )


class AudioPlan(_Model):
    """Where the trailer's sound comes from and how loud it ends up."""

    kind: Literal["source", "music", "music+source", "silent"]
    music: str | None = Field(None, description="The music track, when one was given.")
    music_offset: float = Field(0.0, description="Music time (s) playing at trailer time 0.")
    source_gain_db: float = Field(0.0, description="Gain of the source audio in the mix.")
    target_lufs: float = -16.0
    measured_lufs: float | None = Field(None, description="Integrated loudness of the rendered mix (BS.1770).")
    beats: list[float] = Field(default_factory=list, description="Beat times on the trailer timeline (s).")


class EditDecisionList(_Model):
    """A whole trailer: source, frame grid, clips in order, end card and audio."""

    version: int = 1
    source: str
    source_duration: float
    fps: str = Field(description="Frame rate of the trailer as a fraction, e.g. '24/1' or '30000/1001'.")
    frame_count: int
    duration: float = Field(description="frame_count / fps, exact.")
    target_duration: float
    style: str
    arc: Literal["emotion", "source"] = Field(
        "source", description="Clip order: rising arousal (calm opening, peak before the end card) or source order."
    )
    sync: Literal["music beats", "source beats", "onsets", "none"]
    spoiler_cutoff: float = Field(description="Source time (s) after which nothing was used.")
    width: int = Field(description="Display width of the largest rendition.")
    height: int
    clips: list[Clip]
    end_card: EndCard | None = None
    audio: AudioPlan
    backends: dict[str, str] = Field(default_factory=dict, description="Which analysis backends scored the highlights.")

    @property
    def rate(self) -> Fraction:
        """The frame rate as an exact fraction."""
        return Fraction(self.fps)

    def cut_frames(self) -> list[int]:
        """Trailer frames where a new clip (or the end card) starts, excluding frame 0."""
        starts = [c.trailer_in_frame for c in self.clips[1:]]
        if self.end_card:
            starts.append(self.end_card.trailer_in_frame)
        return starts

    def intended_black(self) -> list[tuple[int, int]]:
        """Frame ranges ``[a, b)`` where black is intended: dips (around their cut) and the final fade-out."""
        spans = []
        for c in self.clips:
            if c.transition == "dip" and c.transition_frames:
                half = c.transition_frames // 2
                spans.append((max(0, c.trailer_in_frame - half), c.trailer_in_frame + half + 1))
        if self.end_card:
            if self.end_card.transition == "dip" and self.end_card.transition_frames:
                half = self.end_card.transition_frames // 2
                spans.append((self.end_card.trailer_in_frame - half, self.end_card.trailer_in_frame + half + 1))
            if self.end_card.fade_out_frames:
                spans.append((self.frame_count - self.end_card.fade_out_frames, self.frame_count))
        return spans
