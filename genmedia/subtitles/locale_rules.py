"""The target locale of a subtitle track and its typography (CLDR data through Babel).

A track's code names its locale: a language (``fr``, ``french``, ``fra_Latn``: the language's CLDR locale)
or a language with a region or script (``fr-CA``, ``pt_BR``, ``zh-Hant``: exactly that CLDR locale, so an
unknown region is an error with close matches). Typography per locale, applied to finished text:

- French: a narrow no-break space (U+202F) before ``; : ! ?`` (Canadian French: before ``:`` only) and
  inside « guillemets »; straight quotes become guillemets.
- Spanish: an opening ``¿`` / ``¡`` at the start of a question / exclamation that lacks one.
- German „quotes“, and the other languages' usual quotes where known (see ``_QUOTES``).
- Chinese and Japanese: full-width punctuation after CJK characters and no spaces between them.
- Right-to-left scripts (CLDR's character order): each subtitle line starts with a right-to-left mark
  (U+200F) so players lay it out right to left with its punctuation at the correct end (see
  :func:`genmedia.subtitles.formats.render`).
"""

from __future__ import annotations

import difflib
import re
from functools import cache

from babel import Locale, UnknownLocaleError
from babel.localedata import locale_identifiers

from genmedia.errors import InputError
from genmedia.subtitles import languages

RLM = "\u200f"
NNBSP = "\u202f"
_QUOTES = {"fr": ("«" + NNBSP, NNBSP + "»"), "de": ("„", "“"), "es": ("«", "»"), "it": ("«", "»"), "ru": ("«", "»")}
_QUOTES |= {"pl": ("„", "”"), "ja": ("「", "」"), "zh": ("“", "”"), "uk": ("«", "»"), "pt": ("“", "”")}
_CJK = "\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_ZH_PUNCTUATION = str.maketrans(",.?!:;", "，。？！：；")
_FULL_WIDTH = {"zh": _ZH_PUNCTUATION, "yue": _ZH_PUNCTUATION, "ja": str.maketrans(",.?!:;", "、。？！：；")}


@cache
def _identifiers() -> dict[str, str]:
    """Lower-case CLDR locale identifier -> as Babel spells it."""
    return {i.lower(): i for i in locale_identifiers()}


def _parse(identifier: str) -> Locale | None:
    try:
        return Locale.parse(identifier)
    except (UnknownLocaleError, ValueError):
        return None


def locale_for(code: str) -> Locale | None:
    """The CLDR locale a track code names; None when its language has no CLDR data (no adaptation).

    Raises InputError for an unknown language, or for a region/script Babel does not know (one line listing
    close matches among Babel's locale identifiers).
    """
    flores = languages.to_flores(code)
    raw = str(code).strip().replace("-", "_")
    if "_" in raw and raw.lower() != flores.lower():  # the caller chose a region or script
        found = _parse(_identifiers().get(raw.lower(), raw))  # Babel also resolves aliases: zh_TW, sh
        if found is None:
            close = difflib.get_close_matches(raw.lower(), list(_identifiers()), n=5, cutoff=0.6)
            hint = f"; close matches: {', '.join(_identifiers()[c] for c in close)}" if close else ""
            raise InputError(str(code).strip(), f"unknown locale (no CLDR data in Babel){hint}")
        return found
    base = languages.iso639_1(flores) or flores[:3]
    script = flores.split("_")[1]
    return _parse(f"{base}_{script}") or _parse(base)


def is_rtl(locale: Locale | None) -> bool:
    """Whether the locale writes right to left (CLDR character order)."""
    return locale is not None and locale.character_order == "right-to-left"


def _quotes(text: str, opening: str, closing: str) -> str:
    """Straight double quotes in pairs -> the locale's quotes (an unpaired one stays)."""
    return re.sub(r'"([^"]+)"', lambda m: f"{opening}{m.group(1).strip()}{closing}", text)


def _french(text: str, canadian: bool) -> str:
    marks = ":" if canadian else ";:!?"
    # Before the mark: any spacing becomes one narrow no-break space; "22:30" or "http://" have no space
    # after the colon and a word character after it, so they are left alone.
    return re.sub(rf"(?<=[\w»)\]])[ \u00a0\u202f]*([{marks}])(?=\s|$|[»\"')\]])", NNBSP + r"\1", text)


def _spanish(text: str) -> str:
    """An opening ¿ / ¡ for each question / exclamation (a sentence ending in ? / !) without one."""

    def fix(sentence: str) -> str:
        end = sentence.rstrip()[-1:] if sentence.strip() else ""
        mark = {"?": "¿", "!": "¡"}.get(end)
        if mark is None or mark in sentence:
            return sentence
        lead = re.match(r"^\s*[-–—«\"“]*\s*", sentence).group(0)
        return lead + mark + sentence[len(lead) :]

    return "".join(fix(s) for s in re.findall(r"[^.?!…]*[.?!…]+\s*|[^.?!…]+$", text))


def _cjk(text: str, table: dict[int, str]) -> str:
    text = re.sub(rf"(?<=[{_CJK}])[ ]*([,.?!:;])[ ]*", lambda m: m.group(1).translate(table), text)
    text = re.sub(rf"[ ]*\(([^()]*[{_CJK}][^()]*)\)[ ]*", lambda m: f"（{m.group(1).strip()}）", text)
    return re.sub(rf"(?<=[{_CJK}])[ ]+(?=[{_CJK}])", "", text)


def typography(text: str, locale: Locale | None) -> str:
    """``text`` with the locale's punctuation, spacing and quotation marks (see the module docstring)."""
    if locale is None:
        return text
    lang = locale.language
    if lang in _QUOTES:
        text = _quotes(text, *_QUOTES[lang])
    if lang == "fr":
        text = _french(text, canadian=locale.territory == "CA")
    elif lang == "es":
        text = _spanish(text)
    elif lang in _FULL_WIDTH:
        text = _cjk(text, _FULL_WIDTH[lang])
    return text
