"""The cultural adaptation of one subtitle track: the order the per-concern rules apply in.

Before translation, glossary terms and values are protected (:mod:`~genmedia.subtitles.glossary`);
after it (or directly, for speech already in the track's language): strong words are softened when asked
(:mod:`~genmedia.subtitles.profanity`), placeholders are restored with values written the track locale's
way (:mod:`~genmedia.subtitles.values`), then the locale's typography applies
(:mod:`~genmedia.subtitles.locale_rules`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from babel import Locale

from genmedia.errors import InputError
from genmedia.subtitles import locale_rules
from genmedia.subtitles.glossary import Protected, protect, restore
from genmedia.subtitles.profanity import soften


@dataclass
class Adapted:
    """A finished text, the protected texts the translation dropped (appended), and words softened."""

    text: str
    lost: list[str] = field(default_factory=list)
    softened: int = 0


@dataclass
class Adaptation:
    """How one track's texts are adapted: its locale, the glossary, the softening list (empty: off) and
    whether units are converted to the locale's measurement system."""

    locale: Locale | None
    terms: Sequence[str] = ()
    profanity: Mapping[str, str] = field(default_factory=dict)
    convert_units: bool = False

    def protect(self, text: str, language: str) -> Protected:
        """``text`` (spoken in ``language``) ready for translation: terms and values as placeholders."""
        return protect(text, self.terms, _speech_locale(language))

    def finish(self, translated: str, protected: Protected) -> Adapted:
        """The track's text from a translation of ``protected`` (or ``protected.text`` itself)."""
        softened, count = soften(translated, self.profanity)
        text, lost = restore(softened, protected, self.locale, self.convert_units)
        return Adapted(locale_rules.typography(text, self.locale), lost, count)

    def adapt(self, text: str, language: str) -> Adapted:
        """Speech already in the track's language: values, softening and typography, no translation."""
        protected = protect(text, self.terms, _speech_locale(language))
        return self.finish(protected.text, protected)


def _speech_locale(language: str) -> Locale | None:
    """The locale values in the speech are read in (None when CLDR has none for its language)."""
    try:
        return locale_rules.locale_for(language)
    except InputError:
        return None
