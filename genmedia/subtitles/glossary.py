"""Text that must come through translation unchanged: glossary terms and locale-sensitive values.

:func:`protect` replaces each glossary term (names from the voiceprint library, terms given in the
request; whole words, longest first) and each value :func:`~genmedia.subtitles.values.find_values` reads
with a numbered placeholder ``[N]``, which a translation model copies through; :func:`restore` puts back
each term verbatim and each value written the target locale's way. A placeholder the model dropped is
not lost silently: its text is appended to the sentence and reported, so the cue can be flagged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from babel import Locale

from genmedia.subtitles.values import Value, find_values

_AUTO_NAME = re.compile(r"Speaker \d+")


@dataclass
class Protected:
    """A source text with placeholders, and what each placeholder stands for."""

    text: str
    items: dict[str, str | Value] = field(default_factory=dict)


def glossary_terms(terms: Iterable[str], speakers: Iterable[str]) -> list[str]:
    """The terms to keep: the request's and the speakers' names (automatic ``Speaker N`` names left out)."""
    names = [s for s in speakers if s and not _AUTO_NAME.fullmatch(s)]
    return list(dict.fromkeys(t.strip() for t in [*terms, *names] if t and t.strip()))


def _first_free(text: str) -> int:
    taken = [int(n) for n in re.findall(r"\[(\d+)\]", text)]
    return max(taken, default=0) + 1


def protect(text: str, terms: Sequence[str], locale: Locale | None) -> Protected:
    """``text`` with glossary ``terms`` and (when the speech's ``locale`` is known) its values replaced by
    placeholders; numbering starts above any ``[N]`` already in the text."""
    spans: list[tuple[int, int, str | Value]] = []
    for term in sorted(terms, key=len, reverse=True):
        for m in re.finditer(rf"(?<!\w){re.escape(term)}(?!\w)", text):
            if not any(s < m.end() and m.start() < e for s, e, _ in spans):
                spans.append((m.start(), m.end(), term))
    if locale is not None:
        for s, e, value in find_values(text, locale):
            if not any(s0 < e and s < e0 for s0, e0, _ in spans):
                spans.append((s, e, value))
    out, items, n, pos = [], {}, _first_free(text), 0
    for s, e, item in sorted(spans, key=lambda x: x[0]):
        key = f"[{n}]"
        out += [text[pos:s], key]
        items[key] = item
        n, pos = n + 1, e
    return Protected("".join([*out, text[pos:]]), items)


def restore(
    translated: str, protected: Protected, locale: Locale | None, convert_units: bool = False
) -> tuple[str, list[str]]:
    """The translation with every placeholder replaced (terms verbatim, values in ``locale``, units in its
    measurement system with ``convert_units``; as spoken when it is None), and the texts whose placeholder
    the model dropped (appended at the end)."""

    def text_of(item: str | Value) -> str:
        if isinstance(item, Value):
            return item.render(locale, convert_units) if locale is not None else item.text
        return item

    lost = [text_of(item) for key, item in protected.items.items() if key not in translated]
    out = re.sub(
        r"\[(\d+)\]",
        lambda m: text_of(protected.items[m.group(0)]) if m.group(0) in protected.items else m.group(0),
        translated,
    )
    out = re.sub(r"[ \t\r\n\f\v]+", " ", out).strip()  # no-break spaces in values stay
    if lost:
        out = f"{out} {' '.join(lost)}".strip()
    return out, lost
