"""Subtitle checks: every cue keeps the timed-text rules its track was made under, and no doubtful segment is
left unflagged.

``transcript.json`` records each track's rules (per-language line length and reading speed from the config)
and each cue's ``flags``. A cue that shows a doubtful segment (a hallucination check still fires after
re-decoding) must carry a flag, so a viewer-facing file never passes doubtful text off as trusted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from genmedia.qa.verdict import QaInput
from genmedia.schemas import QaCheck

TRANSCRIPT = "transcript.json"
EPS = 1e-6
SHOWN = 3
"""Violations named in a check's reason (the rest are counted)."""


def cue_violations(cues: Sequence[dict[str, Any]], rules: dict[str, Any]) -> list[str]:
    """Every broken rule of ``cues`` (``start``, ``end``, ``text`` with ``\\n`` line breaks), one string each."""
    joiner = "" if rules.get("no_spaces") else " "
    problems = []
    for i, cue in enumerate(cues):
        lines = str(cue["text"]).split("\n")
        duration = float(cue["end"]) - float(cue["start"])
        where = f"cue {i} [{float(cue['start']):.2f}-{float(cue['end']):.2f}]"
        if len(lines) > rules["max_lines"]:
            problems.append(f"{where}: {len(lines)} lines (at most {rules['max_lines']})")
        if (longest := max(len(line) for line in lines)) > rules["max_chars_per_line"]:
            problems.append(f"{where}: a line of {longest} characters (at most {rules['max_chars_per_line']})")
        if duration < rules["min_duration"] - EPS:
            problems.append(f"{where}: {duration:.2f} s on screen (at least {rules['min_duration']:.2f})")
        if duration > rules["max_duration"] + EPS:
            problems.append(f"{where}: {duration:.2f} s on screen (at most {rules['max_duration']:g})")
        if duration > 0 and (cps := len(joiner.join(lines)) / duration) > rules["max_cps"] + EPS:
            problems.append(f"{where}: {cps:.1f} characters/s (at most {rules['max_cps']:g})")
    return problems


def unflagged_doubtful(cues: Sequence[dict[str, Any]], segments: Sequence[dict[str, Any]]) -> list[str]:
    """The cues that overlap a doubtful segment without a flag, one string each."""
    doubtful = [s for s in segments if s.get("doubtful")]
    found = []
    for i, cue in enumerate(cues):
        if cue.get("flags"):
            continue
        start, end = float(cue["start"]), float(cue["end"])
        for seg in doubtful:
            if start < float(seg["end"]) and float(seg["start"]) < end:
                found.append(f"cue {i} [{start:.2f}-{end:.2f}] shows a doubtful segment ({', '.join(seg['doubtful'])})")
                break
    return found


def _summary(problems: list[str], ok: str) -> str:
    if not problems:
        return ok
    more = f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
    return "; ".join(problems[:SHOWN]) + more


def check(qa: QaInput) -> list[QaCheck]:
    """Per track of ``transcript.json``: ``cue_rules`` and ``doubtful_flagged``."""
    doc = json.loads(qa.output.read_bytes(TRANSCRIPT))
    segments = doc.get("segments", [])
    checks = []
    for name, track in doc.get("tracks", {}).items():
        cues = track.get("cue_list", [])
        if "rules" in track:
            problems = cue_violations(cues, track["rules"])
            checks.append(
                QaCheck(
                    name="cue_rules",
                    output=f"{name} track",
                    passed=not problems,
                    value=len(problems),
                    reason=_summary(problems, f"{len(cues)} cues within the {name} rules"),
                )
            )
        unflagged = unflagged_doubtful(cues, segments)
        checks.append(
            QaCheck(
                name="doubtful_flagged",
                output=f"{name} track",
                passed=not unflagged,
                value=len(unflagged),
                reason=_summary(unflagged, "no cue shows an unflagged doubtful segment"),
            )
        )
    return checks


__all__ = ["check", "cue_violations", "unflagged_doubtful"]
