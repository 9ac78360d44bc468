"""SRT, WebVTT and ASS: written with pysubs2, read back by independent parsers with identical cues."""

from __future__ import annotations

import html
import io

import pysubs2
import pytest
import webvtt

from genmedia.subtitles.formats import clean_text, render
from genmedia.subtitles.segmentation import Cue

pytestmark = pytest.mark.unit

CUES = [
    Cue(0.0, 1.25, ["Hello, world."], speaker="Speaker 1"),
    Cue(1.33, 4.07, ["Tom & Jerry <3 {x} a\\b", "--> not an arrow"], speaker="Anna"),
    Cue(4.15, 6.0, ["Ça va? Größe, niño", "日本語のテキスト"]),
    Cue(3601.5, 3605.99, ["An hour in."], speaker="Speaker 2"),
]


def _expected() -> list[tuple[int, int, str]]:
    return [(round(c.start * 1000), round(c.end * 1000), "\n".join(clean_text(x) for x in c.lines)) for c in CUES]


@pytest.mark.parametrize("fmt", ["srt", "ass"])
def test_pysubs2_reads_back_the_same_cues(fmt: str) -> None:
    parsed = pysubs2.SSAFile.from_string(render(CUES, fmt, width=640, height=360))
    assert [(e.start, e.end, e.plaintext) for e in parsed] == _expected()
    if fmt == "ass":
        assert [e.name for e in parsed] == ["Speaker 1", "Anna", "", "Speaker 2"]
        assert parsed.info["PlayResX"] == "640"


def _ms(stamp: str) -> int:
    h, m, s = stamp.split(":")
    return round((int(h) * 3600 + int(m) * 60 + float(s)) * 1000)


def test_webvtt_py_reads_back_the_same_cues() -> None:
    text = render(CUES, "vtt")
    assert text.startswith("WEBVTT")
    parsed = list(webvtt.from_buffer(io.StringIO(text)))
    got = [(_ms(c.start), _ms(c.end), html.unescape(c.text)) for c in parsed]
    assert got == _expected()
    assert [c.voice for c in parsed] == ["Speaker 1", "Anna", None, "Speaker 2"]


def test_clean_text_removes_markup() -> None:
    assert clean_text("  a {\\i1}b<i>c</i>  --> d ") == "a (/i1)b‹i›c‹/i› --› d"
    with pytest.raises(ValueError, match="unknown subtitle format"):
        render(CUES, "txt")  # type: ignore[arg-type]


def test_dialogue_cue_keeps_each_speaker() -> None:
    cue = Cue(1.0, 2.5, ["- Hello.", "- Hi, Anna."], None, "en", line_speakers=["Anna", "Ben"])
    vtt = render([cue], "vtt")
    assert "<v Anna>- Hello.\n<v Ben>- Hi, Anna." in vtt
    ass = pysubs2.SSAFile.from_string(render([cue], "ass"))
    assert ass.events[0].name == "Anna / Ben" and ass.events[0].plaintext == "- Hello.\n- Hi, Anna."
