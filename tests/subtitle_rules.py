"""An independent check of the timed-text rules, for the tests (not the code under test)."""

from __future__ import annotations

import math


def rule_violations(cues, *, max_chars=42, max_lines=2, max_cps=17.0, min_dur=5 / 6, max_dur=7.0, fps=25.0,
                    gap_frames=2, shot_changes=(), snap_frames=6, joiner=" "):
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
