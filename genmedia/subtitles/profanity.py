"""Optional softening of strong words in subtitles, from a small per-language list in the config.

``pipelines.subtitles.profanity`` maps a language (any code form) to ``{word: milder word}``; a request
turns it on with ``soften_profanity``. Whole words match case-insensitively and the replacement takes
the word's capitalisation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from genmedia.subtitles import languages


def word_list(table: Mapping[str, Mapping[str, str]], language: str) -> dict[str, str]:
    """The softening list for ``language`` (empty when the config has none for it)."""
    for code, words in table.items():
        if languages.same_language(code, language):
            return dict(words)
    return {}


def soften(text: str, words: Mapping[str, str]) -> tuple[str, int]:
    """``text`` with each listed word replaced by its milder form, and how many were replaced."""
    if not words:
        return text, 0
    lookup = {w.lower(): milder for w, milder in words.items()}
    pattern = re.compile(
        r"(?<!\w)(" + "|".join(re.escape(w) for w in sorted(lookup, key=len, reverse=True)) + r")(?!\w)", re.IGNORECASE
    )

    def milder(m: re.Match[str]) -> str:
        word, out = m.group(0), lookup[m.group(0).lower()]
        if word.isupper() and len(word) > 1:
            return out.upper()
        return out[:1].upper() + out[1:] if word[:1].isupper() else out

    return pattern.subn(milder, text)
