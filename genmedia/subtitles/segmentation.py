"""Cut timed words into subtitle cues that obey the timed-text rules.

The rules (Netflix-style defaults, all configurable): at most 42 characters a line and 2 lines, at most
17 characters a second, on screen for at least 5/6 s and at most 7 s, at least 2 frames between cues,
line breaks at natural points (after punctuation, before conjunctions, never after an article), and a
cue that starts or ends within a few frames of a shot change is moved onto it. Times come from the
words' timestamps and are kept in whole centiseconds, the precision every output format (SRT, WebVTT,
ASS) can represent exactly. "Characters" of a cue means its lines joined by one space.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

SENTENCE_END = ".?!…。？！"
DIALOGUE_DASH = "- "
CLAUSE_END = ",;:、，；：)"
_BREAK_BEFORE = frozenset(
    [
        "and",
        "but",
        "or",
        "nor",
        "so",
        "yet",
        "because",
        "although",
        "though",
        "while",
        "whereas",
        "which",
        "who",
        "whom",
        "whose",
        "that",
        "where",
        "when",
        "if",
        "unless",
        "until",
        "before",
        "after",
        "since",
        "than",
        "as",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "with",
        "from",
        "by",
        "about",
        "into",
        "through",
    ]
)
_NO_BREAK_AFTER = frozenset(
    ["a", "an", "the", "my", "your", "his", "her", "its", "our", "their", "this", "these", "those", "to", "of", "very"]
)


@dataclass(frozen=True)
class Rules:
    """The timed-text rules one language's cues obey."""

    max_chars_per_line: int = 42
    max_lines: int = 2
    max_cps: float = 17.0
    min_duration: float = 5 / 6
    max_duration: float = 7.0
    min_gap_frames: int = 2
    fps: float = 25.0
    snap_frames: int = 6
    max_pause: float = 1.5
    """A pause between words at least this long always ends a cue."""
    no_spaces: bool = False
    """The language is written without spaces (Japanese, Chinese, Thai): words join with no space."""

    def __post_init__(self) -> None:
        longest = self.max_chars_per_line * self.max_lines / self.max_cps
        if longest > self.max_duration:
            raise ValueError(
                f"{self.max_lines} lines of {self.max_chars_per_line} characters at {self.max_cps} characters/s "
                f"need {longest:.1f} s, more than the {self.max_duration} s maximum"
            )
        if self.min_duration > self.max_duration or self.fps <= 0:
            raise ValueError("min_duration must not exceed max_duration and fps must be positive")

    @property
    def gap_cs(self) -> int:
        """The minimum gap between cues in centiseconds (2 frames, rounded up)."""
        return math.ceil(self.min_gap_frames * 100 / self.fps - 1e-9)

    @property
    def snap_cs(self) -> int:
        """How close (centiseconds) a cue edge must be to a shot change to snap onto it."""
        return math.floor(self.snap_frames * 100 / self.fps)

    @property
    def joiner(self) -> str:
        return "" if self.no_spaces else " "

    def needed_cs(self, chars: int) -> int:
        """The shortest time on screen (centiseconds) for ``chars`` characters."""
        return max(math.ceil(self.min_duration * 100 - 1e-9), math.ceil(chars * 100 / self.max_cps - 1e-9))


@dataclass
class TimedWord:
    """One word with its time in seconds (from ASR word timestamps, or interpolated for a translation)."""

    text: str
    start: float
    end: float
    speaker: str | None = None
    language: str | None = None
    flags: tuple[str, ...] = ()
    """What to check in the cue this word ends up in (e.g. a translation scored low); cues take the union."""


@dataclass
class Cue:
    """One subtitle event: times in seconds (whole centiseconds) and its lines.

    A cue holds one speaker, except a two-line dialogue cue (each line starts with ``DIALOGUE_DASH``,
    ``line_speakers`` names each line's speaker and ``speaker`` is None)."""

    start: float
    end: float
    lines: list[str]
    speaker: str | None = None
    language: str | None = None
    flags: list[str] = field(default_factory=list)
    line_speakers: list[str | None] | None = None

    @property
    def text(self) -> str:
        """The cue's text with its line breaks."""
        return "\n".join(self.lines)

    def chars(self, joiner: str = " ") -> int:
        """Characters on screen: the lines joined by one space (none for languages without spaces)."""
        return len(joiner.join(self.lines))


# ----------------------------------------------------------------------------------- line breaks


def _bare(token: str) -> str:
    return token.strip().strip("\"'“”‘’()[]").lower()


def _break_cost(left: Sequence[str], right: Sequence[str]) -> float:
    """How bad a line break between ``left[-1]`` and ``right[0]`` is (lower is better)."""
    last, nxt = left[-1].strip(), right[0].strip()
    cost = 1.0
    if last and last[-1] in SENTENCE_END:
        cost -= 1.0
    elif last and last[-1] in CLAUSE_END:
        cost -= 0.8
    elif _bare(nxt) in _BREAK_BEFORE:
        cost -= 0.5
    if _bare(last) in _NO_BREAK_AFTER:
        cost += 1.5
    elif _bare(last) in _BREAK_BEFORE:  # a line should not end on a conjunction or preposition
        cost += 1.0
    return cost


def break_lines(tokens: Sequence[str], rules: Rules) -> list[str] | None:
    """Lay ``tokens`` out in at most ``rules.max_lines`` lines of ``rules.max_chars_per_line``, or None.

    One line when it fits; otherwise the layout with the fewest lines whose breaks fall at natural
    points and whose lines are balanced (a slightly longer bottom line is preferred).
    """
    j = rules.joiner
    n = len(tokens)
    width = rules.max_chars_per_line
    if n == 0:
        return []
    if len(j.join(tokens)) <= width:
        return [j.join(tokens)]

    @cache
    def best(i: int, lines_left: int) -> tuple[float, tuple[int, ...]] | None:
        """Cheapest layout of tokens[i:] in at most ``lines_left`` lines: (cost, break indices)."""
        rest = j.join(tokens[i:])
        if len(rest) <= width:
            return (0.0, ())
        if lines_left <= 1:
            return None
        found: tuple[float, tuple[int, ...]] | None = None
        for k in range(i + 1, n):
            line = j.join(tokens[i:k])
            if len(line) > width:
                break
            tail = best(k, lines_left - 1)
            if tail is None:
                continue
            tail_len = len(j.join(tokens[k : (tail[1] or (n,))[0]]))
            balance = abs(len(line) - tail_len) / width + (0.1 if len(line) > tail_len else 0.0)
            cost = _break_cost(tokens[i:k], tokens[k:]) + balance + tail[0]
            if found is None or cost < found[0]:
                found = (cost, (k, *tail[1]))
        return found

    layout = best(0, rules.max_lines)
    if layout is None:
        return None
    cuts = (0, *layout[1], n)
    return [j.join(tokens[a:b]) for a, b in zip(cuts, cuts[1:])]


# ------------------------------------------------------------------------------ grouping words


def _sentence_end(word: TimedWord) -> bool:
    text = word.text.strip()
    return bool(text) and text[-1] in SENTENCE_END


def _break_score(words: Sequence[TimedWord], k: int) -> float:
    """How good it is to end a cue after ``words[k - 1]`` (higher is better)."""
    score = -_break_cost([w.text for w in words[:k]], [w.text for w in words[k:]])
    pause = words[k].start - words[k - 1].end
    return score + min(pause, 1.0)


def _best_cut(words: Sequence[TimedWord]) -> int:
    """Where to end a cue that cannot take ``words[-1]``: after the last sentence end if there is one,
    else after the last clause boundary in the second half, else at the most natural point of the
    second half (never after the first word of a group that has more)."""
    ends = [k for k in range(1, len(words)) if _sentence_end(words[k - 1])]
    if ends:
        return ends[-1]
    half = range(max(1, (len(words) - 1) // 2), len(words))
    clauses = [k for k in half if words[k - 1].text.strip()[-1:] in CLAUSE_END]
    if clauses:
        return clauses[-1]
    return max(half, key=lambda k: _break_score(words, k))


def _fits(words: Sequence[TimedWord], rules: Rules) -> bool:
    span = _cs_ceil(words[-1].end) - _cs_floor(words[0].start)
    return span <= round(rules.max_duration * 100) and break_lines([w.text.strip() for w in words], rules) is not None


def group_words(words: Sequence[TimedWord], rules: Rules) -> list[list[TimedWord]]:
    """Split a word sequence into cue-sized groups.

    A group ends at a speaker or language change, a long pause, or a sentence end once it holds some
    text; when the next word would not fit (lines or duration), the group is cut after its last sentence
    end, else at a clause boundary or the most natural point of its second half, and the rest starts
    the next group.
    """
    groups: list[list[TimedWord]] = []
    current: list[TimedWord] = []
    for word in words:
        if not word.text.strip():
            continue
        if current:
            prev = current[-1]
            hard = (
                word.speaker != prev.speaker
                or word.language != prev.language
                or word.start - prev.end >= rules.max_pause
                or (
                    _sentence_end(prev)
                    and len(rules.joiner.join(w.text.strip() for w in current)) >= rules.max_chars_per_line // 2
                )
            )
            if hard:
                groups.append(current)
                current = []
            elif not _fits([*current, word], rules):
                cut = _best_cut([*current, word])
                groups.append(current[:cut])
                current = current[cut:]
                while current and not _fits([*current, word], rules):  # a tail that still cannot take the word
                    groups.append(current)
                    current = []
        current.append(word)
        if not _fits(current, rules):  # a single word longer than the limits: it stands alone, clipped to fit
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


# ------------------------------------------------------------------------------------- timing


def _cs_floor(seconds: float) -> int:
    return math.floor(seconds * 100 + 1e-6)


def _cs_ceil(seconds: float) -> int:
    return math.ceil(seconds * 100 - 1e-6)


def _near(cuts: Sequence[int], t: int, within: int) -> int | None:
    """The shot change nearest to ``t`` within ``within`` centiseconds (not at ``t`` itself), if any."""
    i = bisect.bisect_left(cuts, t)
    options = [c for c in cuts[max(0, i - 1) : i + 2] if 0 < abs(c - t) <= within]
    return min(options, key=lambda c: abs(c - t)) if options else None


def _snap(
    start: int, end: int, need: int, lo: int, hi: int | None, cuts: Sequence[int], rules: Rules
) -> tuple[int, int]:
    """Move a cue's edges onto nearby shot changes where the rules still hold.

    A start near a cut moves onto the cut; an end near a cut moves to 2 frames before it or, when the
    cue would then be too short to read, past the cut's neighbourhood. ``lo`` is the earliest allowed
    start (previous end + gap); ``hi`` the latest end that does not delay the next cue. Delaying it is
    the last resort (the next cue then starts later than its speech, never breaking a rule).
    """
    longest = round(rules.max_duration * 100)
    for limit in (hi, None):

        def allowed(s: int, e: int) -> bool:
            # Called only within this iteration, so the current limit and end are the ones meant.
            return s >= lo and need <= e - s <= longest and (limit is None or e <= max(limit, end))  # noqa: B023

        c = _near(cuts, start, rules.snap_cs)
        if c is not None and allowed(c, max(end, c + need)):
            start, end = c, max(end, c + need)
        c = _near(cuts, end, rules.snap_cs)
        if c is not None:
            for candidate in (c - rules.gap_cs, c + rules.snap_cs + 1):
                if allowed(start, candidate) and _near(cuts, candidate, rules.snap_cs) in (
                    None,
                    c if candidate < c else None,
                ):
                    end = candidate
                    break
        if _near(cuts, start, rules.snap_cs) is None and _snapped_end(end, cuts, rules):
            break
    return start, end


def _snapped_end(end: int, cuts: Sequence[int], rules: Rules) -> bool:
    c = _near(cuts, end, rules.snap_cs)
    return c is None or end == c - rules.gap_cs


@dataclass(frozen=True)
class Dialogue:
    """Two speakers' short turns shown together as one two-line cue, each line starting with a dash."""

    first: list[TimedWord]
    second: list[TimedWord]

    def lines(self, rules: Rules) -> list[str]:
        return [DIALOGUE_DASH + rules.joiner.join(w.text.strip() for w in part) for part in (self.first, self.second)]


def pair_dialogue(groups: Sequence[list[TimedWord]], rules: Rules) -> list[list[TimedWord] | Dialogue]:
    """Join a turn too short to read before the other speaker answers with that answer, as a dialogue cue.

    Two neighbouring groups of different speakers become one :class:`Dialogue` when the first one's
    reading time runs past the start of the second (a quick exchange), both fit on one line with the
    dash, the pair is no longer than the maximum duration and is readable at the reading speed.
    """
    out: list[list[TimedWord] | Dialogue] = []
    i = 0
    while i < len(groups):
        first = groups[i]
        second = groups[i + 1] if i + 1 < len(groups) else None
        if second is not None and rules.max_lines >= 2 and first[0].speaker != second[0].speaker:
            pair = Dialogue(list(first), list(second))
            lines = pair.lines(rules)
            span = _cs_ceil(second[-1].end) - _cs_floor(first[0].start)
            quick = _cs_floor(first[0].start) + rules.needed_cs(len(lines[0]) - len(DIALOGUE_DASH)) > _cs_floor(
                second[0].start
            )
            fits = all(len(line) <= rules.max_chars_per_line for line in lines)
            readable = rules.needed_cs(len(rules.joiner.join(lines))) <= round(rules.max_duration * 100)
            if (
                quick
                and fits
                and readable
                and span <= round(rules.max_duration * 100)
                and second[0].start - first[-1].end < rules.max_pause
            ):
                out.append(pair)
                i += 2
                continue
        out.append(first)
        i += 1
    return out


def time_cues(
    groups: Sequence[Sequence[TimedWord] | Dialogue], rules: Rules, shot_changes: Sequence[float] = ()
) -> list[Cue]:
    """Give each word group (or dialogue pair) its lines and on-screen time.

    A cue starts at its first word (or 2 frames after the previous cue) and stays until its last word
    ends, long enough for the reading speed and the minimum duration; edges near shot changes snap.
    """
    cuts = sorted({round(t * 100) for t in shot_changes})
    cues: list[Cue] = []
    prev_end: int | None = None
    for i, unit in enumerate(groups):
        group = [*unit.first, *unit.second] if isinstance(unit, Dialogue) else unit
        tokens = [w.text.strip() for w in group]
        lines = unit.lines(rules) if isinstance(unit, Dialogue) else break_lines(tokens, rules) or _clip(tokens, rules)
        chars = len(rules.joiner.join(lines))
        need = rules.needed_cs(chars)
        lo = 0 if prev_end is None else prev_end + rules.gap_cs
        start = max(_cs_floor(group[0].start), lo)
        end = max(_cs_ceil(group[-1].end), start + need)
        end = min(end, start + round(rules.max_duration * 100))
        following = groups[i + 1] if i + 1 < len(groups) else None
        if isinstance(following, Dialogue):
            following = following.first
        nxt = _cs_floor(following[0].start) - rules.gap_cs if following is not None else None
        hi = max(nxt, end) if nxt is not None else None
        if cuts:
            start, end = _snap(start, end, need, lo, hi, cuts, rules)
        flags = sorted({f for w in group for f in w.flags})
        if isinstance(unit, Dialogue):
            cues.append(
                Cue(
                    start / 100,
                    end / 100,
                    lines,
                    None,
                    group[0].language,
                    flags=flags,
                    line_speakers=[unit.first[0].speaker, unit.second[0].speaker],
                )
            )
        else:
            cues.append(Cue(start / 100, end / 100, lines, group[0].speaker, group[0].language, flags=flags))
        prev_end = end
    return cues


def _clip(tokens: Sequence[str], rules: Rules) -> list[str]:
    """Lines for text that cannot fit (one over-long word): cut hard at the line width."""
    text = rules.joiner.join(tokens)
    w = rules.max_chars_per_line
    return [text[i : i + w] for i in range(0, min(len(text), w * rules.max_lines), w)]


def segment_words(words: Sequence[TimedWord], rules: Rules, shot_changes: Sequence[float] = ()) -> list[Cue]:
    """Timed words -> cues obeying ``rules`` (see the module docstring)."""
    return time_cues(pair_dialogue(group_words(words, rules), rules), rules, shot_changes)


# ------------------------------------------------------------------------- text without timestamps


def tokens_of(text: str, rules: Rules) -> list[str]:
    """Split text into the units lines break between: words, or characters for languages without spaces.

    Words split at ordinary spaces only: a no-break space (French puts one before ``?``) keeps its two
    sides on one line."""
    if rules.no_spaces:
        return [c for c in text.strip() if not c.isspace()]
    return [t for t in re.split(r"[ \t\r\n\f\v]+", text) if t]


def _sentences(items: Sequence, text_of) -> list[list]:  # noqa: ANN001 - items and an accessor
    groups: list[list] = [[]]
    for item in items:
        groups[-1].append(item)
        t = text_of(item).strip()
        if t and t[-1] in SENTENCE_END:
            groups.append([])
    return [g for g in groups if g]


def interpolate_words(
    text: str, anchors: Sequence[TimedWord], rules: Rules, **labels: str | tuple[str, ...] | None
) -> list[TimedWord]:
    """Give the words of ``text`` (e.g. a translation) times from the source words it translates.

    When both have the same number of sentences, each sentence is timed by its source sentence. Within
    one, the i-th character of the new text is placed at the same fraction of the source's characters,
    and that fraction maps to time through the source words' own timestamps (so pauses in the speech
    stay pauses in the cues) rather than spreading the text evenly over the segment.
    """
    tokens = tokens_of(text, rules)
    if not tokens or not anchors:
        return []
    src_sentences = _sentences(anchors, lambda w: w.text)
    dst_sentences = _sentences(tokens, lambda t: t)
    if len(src_sentences) > 1 and len(src_sentences) == len(dst_sentences):
        return [w for src, dst in zip(src_sentences, dst_sentences) for w in _interpolate(dst, src, rules, labels)]
    return _interpolate(tokens, anchors, rules, labels)


def _interpolate(tokens: Sequence[str], anchors: Sequence[TimedWord], rules: Rules, labels: dict) -> list[TimedWord]:
    # Source: cumulative character position -> time, piecewise linear through each word's start and end.
    xs, ts, pos = [], [], 0
    for w in anchors:
        size = max(1, len(w.text.strip()))
        xs += [pos, pos + size]
        ts += [w.start, max(w.end, w.start)]
        pos += size + 1
    total_src = xs[-1]
    sizes = [len(t) for t in tokens]
    total = sum(sizes) + len(rules.joiner) * (len(tokens) - 1)

    def at(fraction: float) -> float:
        x = fraction * total_src
        k = min(max(bisect.bisect_right(xs, x) - 1, 0), len(xs) - 2)
        span = xs[k + 1] - xs[k]
        return ts[k] + (ts[k + 1] - ts[k]) * ((x - xs[k]) / span if span else 0.0)

    out, pos = [], 0
    for tok, size in zip(tokens, sizes):
        out.append(TimedWord(tok, at(pos / total), at((pos + size) / total), **labels))
        pos += size + len(rules.joiner)
    return out
