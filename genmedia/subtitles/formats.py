"""Write cues as SRT, WebVTT and ASS (through pysubs2).

Cue text is made safe for all three formats once (:func:`clean_text`), so every format shows the same
characters: braces would be ASS override blocks, angle brackets SRT/WebVTT tags, a backslash an ASS
escape. WebVTT escapes ``&`` as ``&amp;`` (what its spec requires) and names the speaker with a voice span
(``<v Name>``, one per line in a two-speaker dialogue cue); ASS puts the speaker in the event's Name
field (a dialogue cue's two names joined by " / ").

A cue with flags (see :data:`FLAG_NOTES`) is preceded by a WebVTT ``NOTE`` block and an ASS ``Comment``
line saying what to check (SRT has no comments). Right-to-left tracks start every line with a
right-to-left mark (U+200F): the first strong character sets the line's direction in the Unicode
bidirectional algorithm every player applies, and SRT and WebVTT have no direction attribute.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import pysubs2

from genmedia.subtitles.segmentation import Cue

Format = Literal["srt", "vtt", "ass"]
FORMATS: tuple[Format, ...] = ("srt", "vtt", "ass")

RLM = "\u200f"
FLAG_NOTES = {
    "low-translation-score": "the translation scored under the threshold even after re-translation: check it",
    "protected-text-moved": "a name, term or value did not come through translation in place: it is at the end",
    "doubtful-transcription": "speech recognition doubts this text (a hallucination check still fires): check it",
}
_UNSAFE = str.maketrans({"{": "(", "}": ")", "<": "‹", ">": "›", "\\": "/"})


def clean_text(text: str) -> str:
    """Text safe in every subtitle format: no markup characters (so no '-->' either), single spaces."""
    text = text.translate(_UNSAFE)
    return re.sub(r"[ \t\r\f\v]+", " ", text).strip()


def note(cue: Cue) -> str:
    """What to check in a flagged cue, one line ('' when it has no flags)."""
    return "; ".join(FLAG_NOTES.get(f, f) for f in cue.flags)


def _events(cues: Sequence[Cue], fmt: Format, rtl: bool) -> list[pysubs2.SSAEvent]:
    events = []
    for cue in cues:
        lines = [clean_text(line) for line in cue.lines]
        if rtl:
            lines = [RLM + line for line in lines]
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
        if fmt == "ass" and cue.flags:
            comment = clean_text(f"check: {note(cue)}")
            events.append(
                pysubs2.SSAEvent(start=round(cue.start * 1000), end=round(cue.end * 1000), text=comment, type="Comment")
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


def _vtt_notes(text: str, cues: Sequence[Cue]) -> str:
    """WebVTT text with a NOTE block before each flagged cue's block (pysubs2 writes one block per cue)."""
    head, *blocks = text.rstrip("\n").split("\n\n")
    if len(blocks) != len(cues):
        raise ValueError(f"WebVTT writer gave {len(blocks)} cue blocks for {len(cues)} cues")
    out = [head]
    for cue, block in zip(cues, blocks):
        if cue.flags:
            out.append("NOTE " + clean_text(note(cue)).replace("-->", "->"))
        out.append(block)
    return "\n\n".join(out) + "\n"


def render(
    cues: Sequence[Cue], fmt: Format, *, width: int | None = None, height: int | None = None, rtl: bool = False
) -> str:
    """The cues as the text of an SRT, WebVTT or ASS file (``width``/``height``: the ASS play resolution;
    ``rtl``: the language writes right to left)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown subtitle format {fmt!r}; use one of {', '.join(FORMATS)}")
    subs = pysubs2.SSAFile()
    if fmt == "ass" and width and height:
        subs.info["PlayResX"], subs.info["PlayResY"] = str(width), str(height)
    subs.events = _events(cues, fmt, rtl)
    text = subs.to_string(fmt)
    return _vtt_notes(text, cues) if fmt == "vtt" and any(c.flags for c in cues) else text
