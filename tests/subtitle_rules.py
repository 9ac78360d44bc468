"""An independent check of the timed-text rules, for the tests (not the code under test)."""

from __future__ import annotations

import math


def rule_violations(
    cues,
    *,
    max_chars=42,
    max_lines=2,
    max_cps=17.0,
    min_dur=5 / 6,
    max_dur=7.0,
    fps=25.0,
    gap_frames=2,
    shot_changes=(),
    snap_frames=6,
    joiner=" ",
):
    """Every broken rule as a readable string; ``cues`` are (start s, end s, text with \\n line breaks)."""
    problems = []
    eps = 1e-6
    gap = gap_frames / fps
    snap = snap_frames / fps
    prev_end = None
    for i, (start, end, text) in enumerate(cues):
        lines = text.split("\n")
        dur = end - start
        chars = len(joiner.join(lines))
        where = f"cue {i} [{start:.2f}-{end:.2f}] {text!r}"
        if len(lines) > max_lines:
            problems.append(f"{where}: {len(lines)} lines")
        if any(len(line) > max_chars for line in lines):
            problems.append(f"{where}: a line over {max_chars} characters")
        if any(not line.strip() for line in lines):
            problems.append(f"{where}: an empty line")
        if dur < min_dur - eps:
            problems.append(f"{where}: {dur:.3f} s is shorter than {min_dur:.3f} s")
        if dur > max_dur + eps:
            problems.append(f"{where}: {dur:.3f} s is longer than {max_dur} s")
        if chars / dur > max_cps + eps:
            problems.append(f"{where}: {chars / dur:.1f} characters/s")
        if prev_end is not None and start - prev_end < gap - 0.01 - eps:  # times are whole centiseconds
            problems.append(f"{where}: only {start - prev_end:.3f} s after the previous cue")
        for cut in shot_changes:
            if 0 < abs(start - cut) <= snap - 0.01 and not math.isclose(start, cut, abs_tol=0.006):
                problems.append(f"{where}: starts {start - cut:+.2f} s from the shot change at {cut:.2f}")
            if 0 <= abs(end - cut) <= snap - 0.01 and not (cut - gap - 0.011 <= end <= cut - gap + 0.011):
                problems.append(f"{where}: ends {end - cut:+.2f} s from the shot change at {cut:.2f}")
        prev_end = end
    return problems


SENTENCE_OR_CLAUSE_END = ".?!…。？！,;:、，；："


def speaker_violations(cues, rules=None, words=None):
    """Broken speaker and sentence rules, cue by cue (``cues``: Cue objects; ``words``: the timed words they
    were cut from, with speakers, to check whose words each cue holds):

    - a cue holds one speaker, except a dialogue cue: exactly two lines, each starting "- ", two different
      speakers, one per line; no other cue has a line starting "- ";
    - a cue that ends inside a sentence (no sentence or clause punctuation at its end) followed, without a
      pause of ``max_pause`` or more, by the same speaker's next cue is a split that was not needed when
      both would have fitted on one line within the maximum duration and reading speed (times are the
      words' own when ``words`` are given, else the cues').
    """
    max_chars = rules.max_chars_per_line if rules else 42
    max_dur = rules.max_duration if rules else 7.0
    max_cps = rules.max_cps if rules else 17.0
    max_pause = rules.max_pause if rules else 1.5
    problems = []
    queue = list(words or [])
    spans = [(c.start, c.end) for c in cues]
    for i, cue in enumerate(cues):
        where = f"cue {i} [{cue.start:.2f}-{cue.end:.2f}] {cue.text!r}"
        dashed = [line.startswith("- ") for line in cue.lines]
        if cue.line_speakers is not None:
            if len(cue.lines) != 2 or not all(dashed):
                problems.append(f"{where}: a dialogue cue needs two lines, each starting '- '")
            if len(set(cue.line_speakers)) != 2:
                problems.append(f"{where}: a dialogue cue needs two different speakers")
        elif any(dashed):
            problems.append(f"{where}: a dash line outside a dialogue cue")
        if words is None:
            continue
        per_line = [[t for t in line.split() if t != "-"] for line in cue.lines]
        taken = [[queue.pop(0) for _ in tokens] for tokens in per_line]
        flat = [w for line in taken for w in line]
        if [w.text for w in flat] != [t for tokens in per_line for t in tokens]:
            problems.append(f"{where}: its words are not the next words of the speech")
        if flat:
            spans[i] = (flat[0].start, flat[-1].end)
        speakers = [{w.speaker for w in line} for line in taken]
        if cue.line_speakers is None and len(set().union(*speakers)) > 1:
            problems.append(f"{where}: two speakers in one cue")
        if cue.line_speakers is not None and [s for line in speakers for s in line] != list(cue.line_speakers):
            problems.append(f"{where}: a dialogue line holds another speaker's words")
    for i, (cue, nxt) in enumerate(zip(cues, cues[1:])):
        joined = " ".join([*cue.lines, *nxt.lines])
        (start, end), (next_start, next_end) = spans[i], spans[i + 1]
        open_end = cue.text.strip()[-1:] not in SENTENCE_OR_CLAUSE_END
        same = cue.line_speakers is None and nxt.line_speakers is None and cue.speaker == nxt.speaker
        if (
            open_end
            and same
            and next_start - end < max_pause
            and len(joined) <= max_chars
            and next_end - start <= max_dur
            and len(joined) / max(next_end - start, 1e-9) <= max_cps
        ):
            problems.append(
                f"cue {i} [{cue.start:.2f}-{cue.end:.2f}] {cue.text!r}: a sentence split across cues although it fits in one"
            )
    return problems
