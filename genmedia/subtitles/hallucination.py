"""Signs that a decoded segment was invented rather than heard.

Whisper can loop (the same phrase again and again), continue a sentence into silence, or caption
music with stock phrases. Each check here returns a short reason; the transcriber re-decodes the
windows that fail with fallback settings and flags what still fails as doubtful.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

from genmedia.subtitles.transcript import Segment

MAX_COMPRESSION_RATIO = 2.4
MIN_AVG_LOGPROB = -1.0
NO_SPEECH_PROB = 0.6
"""The three thresholds above are faster-whisper's own defaults (``compression_ratio_threshold``,
``log_prob_threshold``, ``no_speech_threshold``) for the same measures."""
MIN_SPEECH_COVERAGE = 0.2


def compression_ratio(text: str) -> float:
    """Length of the UTF-8 text over its zlib-compressed length (loops compress very well)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def normalized(text: str) -> str:
    """Lower-case words only, for comparing segments."""
    return " ".join(re.findall(r"\w+", text.lower()))


def speech_coverage(start: float, end: float, regions: Sequence[tuple[float, float]]) -> float:
    """The fraction of [start, end] that lies inside speech regions."""
    if end <= start:
        return 0.0
    inside = sum(max(0.0, min(end, e) - max(start, s)) for s, e in regions)
    return inside / (end - start)


def check(segment: Segment, previous: Segment | None, regions: Sequence[tuple[float, float]]) -> list[str]:
    """The reasons to doubt ``segment`` (empty: it looks heard, not invented)."""
    reasons = []
    if segment.compression_ratio > MAX_COMPRESSION_RATIO:
        reasons.append(f"repetitive text (compression ratio {segment.compression_ratio:.2f})")
    if segment.avg_logprob < MIN_AVG_LOGPROB:
        reasons.append(f"low confidence (mean log-probability {segment.avg_logprob:.2f})")
    if segment.no_speech_prob > NO_SPEECH_PROB and segment.avg_logprob < MIN_AVG_LOGPROB / 2:
        reasons.append(f"probably no speech (no-speech probability {segment.no_speech_prob:.2f})")
    if previous is not None and normalized(segment.text) and normalized(segment.text) == normalized(previous.text):
        reasons.append("repeats the previous segment")
    words = segment.words or []
    start = words[0].start if words else segment.start
    end = words[-1].end if words else segment.end
    if speech_coverage(start, end, regions) < MIN_SPEECH_COVERAGE:
        reasons.append("text during silence")
    return reasons
