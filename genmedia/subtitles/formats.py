"""Write cues as SRT, WebVTT and ASS (through pysubs2).

Cue text is made safe for all three formats once (:func:`clean_text`), so every format shows the same
characters: braces would be ASS override blocks, angle brackets SRT/WebVTT tags, a backslash an ASS
escape. WebVTT escapes ``&`` as ``&amp;`` (what its spec requires) and names the speaker with a voice span
(``<v Name>``, one per line in a two-speaker dialogue cue); ASS puts the speaker in the event's Name
field (a dialogue cue's two names joined by " / ").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import pysubs2

from genmedia.subtitles.segmentation import Cue

Format = Literal["srt", "vtt", "ass"]
FORMATS: tuple[Format, ...] = ("srt", "vtt", "ass")

_UNSAFE = str.maketrans({"{": "(", "}": ")", "<": "‹", ">": "›", "\\": "/"})


def clean_text(text: str) -> str:
    """Text safe in every subtitle format: no markup characters (so no '-->' either), single spaces."""
    text = text.translate(_UNSAFE)
    return re.sub(r"[ \t\r\f\v]+", " ", text).strip()


def _events(cues: Sequence[Cue], fmt: Format) -> list[pysubs2.SSAEvent]:
    events = []
    for cue in cues:
        lines = [clean_text(line) for line in cue.lines]
        if fmt == "vtt":
            lines = [line.replace("&", "&amp;") for line in lines]
            if cue.line_speakers:  # a dialogue cue: each line in its speaker's voice span
                lines = [f"<v {clean_text(who)}>{line}" if who else line for who, line in zip(cue.line_speakers, lines)]
            elif cue.speaker:
                lines[0] = f"<v {clean_text(cue.speaker)}>{lines[0]}"
        speaker = (
            " / ".join(clean_text(who or "") for who in cue.line_speakers)
            if cue.line_speakers
            else clean_text(cue.speaker or "")
        )
        events.append(
            pysubs2.SSAEvent(
                start=round(cue.start * 1000),
                end=round(cue.end * 1000),
                text="\\N".join(lines),
                name=speaker if fmt == "ass" else "",
            )
        )
    return events


def render(cues: Sequence[Cue], fmt: Format, *, width: int | None = None, height: int | None = None) -> str:
    """The cues as the text of an SRT, WebVTT or ASS file (``width``/``height``: the ASS play resolution)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown subtitle format {fmt!r}; use one of {', '.join(FORMATS)}")
    subs = pysubs2.SSAFile()
    if fmt == "ass" and width and height:
        subs.info["PlayResX"], subs.info["PlayResY"] = str(width), str(height)
    subs.events = _events(cues, fmt)
    return subs.to_string(fmt)
