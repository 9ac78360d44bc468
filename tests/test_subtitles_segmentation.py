"""Cue segmentation and timing: every cue obeys the rules, line breaks fall at natural points."""

from __future__ import annotations

import random

import pytest
from subtitle_rules import rule_violations, speaker_violations

from genmedia.subtitles.segmentation import Rules, TimedWord, break_lines, interpolate_words, segment_words

pytestmark = pytest.mark.unit

VOCAB = [
    "the",
    "storm",
    "moved",
    "across",
    "the",
    "coast",
    "and",
    "by",
    "noon",
    "the",
    "harbor",
    "was",
    "closed",
    "to",
    "all",
    "boats",
    "because",
    "families",
    "had",
    "to",
    "leave",
    "their",
    "homes",
    "before",
    "water",
    "reached",
    "main",
    "road",
    "volunteers",
    "served",
    "hot",
    "soup",
    "extraordinarily,",
    "tomorrow.",
    "really?",
    "yes!",
    "however,",
    "we",
    "will",
    "be",
    "back",
]


def _speech(seed: int, n: int = 400, *, rate: float = 2.6, pause_every: int = 9, speakers: int = 2) -> list[TimedWord]:
    """Random speech: words at ``rate`` words/s with jitter, pauses, speaker changes at pauses."""
    rng = random.Random(seed)
    t, out, speaker = 0.0, [], "A"
    for i in range(n):
        word = rng.choice(VOCAB)
        dur = max(0.08, rng.gauss(1 / rate, 0.08)) * (0.4 + len(word) / 7)
        out.append(TimedWord(word, round(t, 3), round(t + dur, 3), speaker=speaker))
        t += dur + rng.choice([0.0, 0.02, 0.05])
        if i % pause_every == pause_every - 1:
            t += rng.choice([0.15, 0.4, 0.9, 2.5])
            if speakers > 1 and rng.random() < 0.3:
                speaker = "B" if speaker == "A" else "A"
    return out


def _check(cues, rules: Rules, shots=()) -> list[str]:
    return rule_violations(
        [(c.start, c.end, c.text) for c in cues],
        max_chars=rules.max_chars_per_line,
        max_lines=rules.max_lines,
        max_cps=rules.max_cps,
        min_dur=rules.min_duration,
        max_dur=rules.max_duration,
        fps=rules.fps,
        gap_frames=rules.min_gap_frames,
        shot_changes=shots,
        snap_frames=rules.snap_frames,
        joiner=rules.joiner,
    )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("rate", [1.5, 2.6, 4.5])
def test_every_cue_obeys_the_rules(seed: int, rate: float) -> None:
    rules = Rules(fps=24.0)
    words = _speech(seed, rate=rate)
    shots = sorted({round(random.Random(seed).uniform(0, words[-1].end), 2) for _ in range(25)})
    cues = segment_words(words, rules, shots)
    assert cues
    assert _check(cues, rules, shots) == []
    assert speaker_violations(cues, rules, words) == []
    # No word lost or reordered: the cues' words are the input words (dialogue dashes aside).
    assert [t for c in cues for t in " ".join(c.lines).split() if t != "-"] == [w.text for w in words]


def test_rules_per_language_and_frame_rate() -> None:
    rules = Rules(max_chars_per_line=13, max_cps=4.0, fps=30.0, no_spaces=True)
    words = [
        TimedWord(ch, i * 0.12, i * 0.12 + 0.1)
        for i, ch in enumerate("今日はとても良い天気ですね。明日は雨が降るでしょう。" * 6)
    ]
    cues = segment_words(words, rules)
    assert _check(cues, rules) == []
    assert all(" " not in c.text for c in cues)


def test_times_come_from_word_timestamps() -> None:
    """A cue starts when its first word starts and lasts at least until its last word ends."""
    words = [
        TimedWord(w, s, e)
        for w, s, e in [
            ("Hello", 1.00, 1.40),
            ("there.", 1.45, 1.90),
            ("After", 5.00, 5.30),
            ("a", 5.31, 5.35),
            ("long", 5.40, 5.70),
            ("pause.", 5.75, 6.40),
        ]
    ]
    cues = segment_words(words, Rules())
    assert [(c.start, c.text) for c in cues] == [(1.0, "Hello there."), (5.0, "After a long pause.")]
    # Each cue ends with its last word: both already last longer than the 5/6 s minimum and 12 or 19
    # characters at 17 per second need.
    assert [c.end for c in cues] == [pytest.approx(1.9), pytest.approx(6.4)]


def test_speaker_change_starts_a_new_cue() -> None:
    words = [
        TimedWord("Good", 0.0, 0.3, speaker="A"),
        TimedWord("morning.", 0.35, 0.9, speaker="A"),
        TimedWord("Morning.", 2.4, 2.9, speaker="B"),
    ]
    cues = segment_words(words, Rules())
    assert [(c.speaker, c.text) for c in cues] == [("A", "Good morning."), ("B", "Morning.")]


def test_quick_exchange_is_one_dialogue_cue() -> None:
    """A turn too short to read before the answer comes shares a two-line cue with it, each line dashed."""
    words = [
        TimedWord("Hello.", 0.0, 0.4, speaker="A"),
        TimedWord("Hello.", 0.5, 0.9, speaker="B"),
        TimedWord("Oh,", 1.0, 1.2, speaker="A"),
        TimedWord("hello.", 1.25, 1.6, speaker="A"),
    ]
    cues = segment_words(words, Rules())
    assert cues[0].lines == ["- Hello.", "- Hello."] and cues[0].line_speakers == ["A", "B"] and cues[0].speaker is None
    assert [(c.speaker, c.text) for c in cues[1:]] == [("A", "Oh, hello.")]
    assert _check(cues, Rules()) == []
    assert speaker_violations(cues) == []


def test_a_sentence_end_is_preferred_to_cutting_a_sentence() -> None:
    text = (
        "I did not expect to see you here tonight. I didn't know you were there at all, my friend, "
        "or that you had come back"
    )
    words = [TimedWord(w, 0.3 * i, 0.3 * i + 0.25, speaker="A") for i, w in enumerate(text.split())]
    cues = segment_words(words, Rules())
    assert cues[0].text.replace("\n", " ") == "I did not expect to see you here tonight."
    assert speaker_violations(cues) == []


def test_line_breaks_at_natural_points() -> None:
    rules = Rules()
    assert break_lines(
        ["Thank", "you", "very", "much", "for", "coming", "tonight,", "and", "welcome", "to", "the", "show"], rules
    ) == ["Thank you very much for coming tonight,", "and welcome to the show"]
    assert break_lines(
        ["We", "walked", "along", "the", "river", "because", "the", "bridge", "was", "closed"], rules
    ) == ["We walked along the river", "because the bridge was closed"]
    for layout in (
        break_lines(w.split(), rules)
        for w in (
            "I saw the man with the telescope on the hill near the old town",
            "She gave it to a friend of the family in the early spring",
        )
    ):
        assert layout and layout[0].split()[-1] not in {"the", "a", "an", "of", "to", "with", "in", "on"}
    assert break_lines(["short", "line"], rules) == ["short line"]


def test_shot_changes_snap_cue_edges() -> None:
    rules = Rules(fps=25.0, snap_frames=6)
    words = [
        TimedWord(w, 2.05 + i * 0.3, 2.3 + i * 0.3)
        for i, w in enumerate(["This", "line", "starts", "just", "after", "a", "cut."])
    ]
    cues = segment_words(words, rules, shot_changes=[2.0, 4.3])
    assert cues[0].start == 2.0  # moved back onto the cut 5 frames earlier
    assert cues[0].end == pytest.approx(4.3 - 0.08, abs=1e-9)  # ends 2 frames before the next cut
    assert _check(cues, rules, [2.0, 4.3]) == []


def test_translation_times_follow_the_source_words() -> None:
    """Interpolated words keep the speech's pause: text after the pause is timed after it."""
    rules = Rules()
    src = [
        TimedWord("Good", 0.0, 0.3),
        TimedWord("evening.", 0.35, 0.9),
        TimedWord("Tonight", 4.0, 4.4),
        TimedWord("rain.", 4.5, 5.0),
    ]
    words = interpolate_words("Bonsoir. Ce soir pluie.", src, rules)
    assert [w.text for w in words] == ["Bonsoir.", "Ce", "soir", "pluie."]
    assert words[0].start == 0.0 and words[-1].end == pytest.approx(5.0)
    assert words[1].start > 2.0  # not spread evenly over 0-5 s: after the pause
    assert all(a.end <= b.start + 1e-9 for a, b in zip(words, words[1:]))


def test_rules_that_cannot_be_met_are_refused() -> None:
    with pytest.raises(ValueError, match="more than the 7.0 s maximum"):
        Rules(max_chars_per_line=42, max_lines=2, max_cps=5.0)
