"""Cultural adaptation of subtitles, one rule at a time: the locale a track code names, values written the
locale's way (CLDR through Babel), typography, glossary placeholders, profanity softening, right-to-left
marks and review notes in the files (read back by pysubs2 and webvtt-py), and the request's glossary field."""

from __future__ import annotations

import io
from decimal import Decimal

import pysubs2
import pytest
import webvtt
from babel import Locale

from genmedia.errors import InputError
from genmedia.subtitles.adaptation import Adaptation
from genmedia.subtitles.formats import RLM, render
from genmedia.subtitles.glossary import glossary_terms, protect, restore
from genmedia.subtitles.locale_rules import NNBSP, is_rtl, locale_for, typography
from genmedia.subtitles.profanity import soften, word_list
from genmedia.subtitles.segmentation import Cue, Rules, tokens_of
from genmedia.subtitles.values import find_values

pytestmark = pytest.mark.unit

EN = Locale.parse("en")


def _localised(text: str, target: str) -> str:
    out = text
    for start, end, value in reversed(find_values(text, EN)):
        out = out[:start] + value.render(Locale.parse(target)) + out[end:]
    return out


# ------------------------------------------------------------------------------------------ locales


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("fr", "fr"),
        ("French", "fr"),
        ("fra_Latn", "fr"),
        ("fr-CA", "fr_CA"),
        ("pt_BR", "pt_BR"),
        ("zh-TW", "zh_Hant_TW"),
    ],
)
def test_a_track_code_names_its_cldr_locale(code: str, expected: str) -> None:
    assert str(locale_for(code)) == expected


def test_unknown_locale_is_one_line_with_close_matches() -> None:
    with pytest.raises(InputError) as e:
        locale_for("fr-XX")
    message = str(e.value)
    assert message.startswith("fr-XX: unknown locale") and "close matches: fr_" in message and "\n" not in message
    with pytest.raises(InputError, match="unknown language code"):
        locale_for("xx-YY")


def test_right_to_left_comes_from_cldr() -> None:
    assert is_rtl(locale_for("ar")) and is_rtl(locale_for("he")) and is_rtl(locale_for("fa"))
    assert not is_rtl(locale_for("fr")) and not is_rtl(locale_for("ja")) and not is_rtl(None)


# ------------------------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("text", "target", "expected"),
    [
        ("1,234.5 people", "de", "1.234,5 people"),
        ("1,234.5 people", "fr", f"1{NNBSP}234,5 people"),
        ("12000 fans in 2024", "de", "12.000 fans in 2024"),  # a year (or a small count) stays as spoken
        ("It costs $20.", "fr", "It costs 20\u00a0$US."),
        ("It costs $20.50.", "de", "It costs 20,50\u00a0$."),
        ("Pay 15 EUR", "en_US", "Pay €15"),
        ("at 45% today", "fr", "at 45\u00a0% today"),
        ("We left at 10 p.m.", "fr", "We left at 22:00."),
        ("at 10:30 pm sharp", "de", "at 22:30 sharp"),
        ("at 22:15", "en_US", f"at 10:15{NNBSP}PM"),
        ("at 3:45 we", "de", "at 3:45 we"),  # a 12-hour clock's "3:45" may be morning or afternoon: as spoken
        ("on March 5, 2024 we", "de", "on 5. März 2024 we"),
        ("on 5 March we", "es", "on 5 de marzo we"),
        ("on 2024-03-05", "ja", "on 2024年3月5日"),
        ("drive 5 km and 3.5 kg", "fr", f"drive 5{NNBSP}km and 3,5{NNBSP}kg"),
        ("ten miles", "fr", "ten miles"),
        ("12 miles", "de", "12 Meilen"),
        ("COVID-19 in 3D, 1,2,3", "de", "COVID-19 in 3D, 1,2,3"),
    ],
)
def test_values_are_written_the_locale_way(text: str, target: str, expected: str) -> None:
    assert _localised(text, target) == expected


@pytest.mark.parametrize(
    ("text", "target", "expected"),
    [
        ("12 miles", "fr", "19\u00a0kilomètres"),
        ("5 km", "en_US", "3.1 mi"),
        ("5 km", "en", "3.1 mi"),  # English's most likely territory is the US
        ("5 km", "en_GB", "5 km"),
        ("12 miles", "en_GB", "12 miles"),  # the UK keeps miles
        ("72°F", "en_GB", "22°C"),
        ("100 °C", "en_US", "212°F"),
        ("36.6 °C", "en_US", "97.9°F"),
        ("30 mph", "de", "48 km/h"),
        ("1,500 feet", "fr", "460\u00a0mètres"),
        ("3.5 kg", "en_US", "7.7 lb"),
        ("3.5 kg", "fr", f"3,5{NNBSP}kg"),  # already metric
    ],
)
def test_units_convert_to_the_locale_measurement_system_when_asked(text: str, target: str, expected: str) -> None:
    [(_, _, value)] = find_values(text, EN)
    locale = Locale.parse(target)
    assert value.render(locale, convert=True) == expected
    assert (value.render(locale) == expected) == (value.converted(locale) == value)  # off by default


def test_values_are_read_in_the_speech_locale() -> None:
    """French speech: '1 234,5' and 'mars' read with French CLDR data, written in English."""
    fr = Locale.parse("fr")
    found = find_values("le 5 mars 2024, 1 234,5 personnes", fr)
    assert [v.kind for _, _, v in found] == ["date", "number"]
    assert found[1][2].amount == Decimal("1234.5")
    assert found[0][2].render(Locale.parse("en")) == "March 5, 2024"


# --------------------------------------------------------------------------------------- typography


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        ("fr", "Vraiment? Oui! Voici: un; deux", f"Vraiment{NNBSP}? Oui{NNBSP}! Voici{NNBSP}: un{NNBSP}; deux"),
        ("fr", "Il est 22:30, voir http://x.fr", "Il est 22:30, voir http://x.fr"),
        ("fr", 'Il dit "bonjour".', f"Il dit «{NNBSP}bonjour{NNBSP}»."),
        ("fr-CA", "Quoi? Voici: un", f"Quoi? Voici{NNBSP}: un"),
        ("es", "Cómo estás? Bien. Qué bien!", "¿Cómo estás? Bien. ¡Qué bien!"),
        ("es", "¿Ya? - Sí!", "¿Ya? - ¡Sí!"),
        ("de", 'Er sagt "Hallo".', "Er sagt „Hallo“."),
        ("zh", "你好, 世界. 你 好吗?", "你好，世界。你好吗？"),
        ("ja", "こんにちは, 世界. 元気 ですか?", "こんにちは、世界。元気ですか？"),
        ("ja", "3.5 km, OK", "3.5 km, OK"),
        ("en", 'He said "hi": fine?', 'He said "hi": fine?'),
    ],
)
def test_typography_per_locale(code: str, text: str, expected: str) -> None:
    assert typography(text, locale_for(code)) == expected


def test_no_break_spaces_keep_their_sides_on_one_line() -> None:
    """The French space before '?' is not a place to break a line: it stays inside one token."""
    tokens = tokens_of(typography("Tu viens ce soir? Oui!", locale_for("fr")), Rules())
    assert tokens == ["Tu", "viens", "ce", f"soir{NNBSP}?", f"Oui{NNBSP}!"]


# ----------------------------------------------------------------------------------------- glossary


def test_glossary_terms_come_through_a_translation_verbatim() -> None:
    protected = protect("Anna met Anna Karenina at 10:30 pm in Gen Media.", ["Anna", "Anna Karenina", "Gen Media"], EN)
    assert protected.text == "[1] met [2] at [3] in [4]."
    translated = "[1] a rencontré [2] à [3] chez [4]."  # what a translation model copying placeholders returns
    text, lost = restore(translated, protected, locale_for("fr"))
    assert text == "Anna a rencontré Anna Karenina à 22:30 chez Gen Media." and lost == []


def test_a_dropped_placeholder_is_appended_and_reported() -> None:
    protected = protect("Ask Anna about the 1,500 tickets", ["Anna"], EN)
    text, lost = restore("Demande [1] pour les billets", protected, locale_for("fr"))
    assert text == f"Demande Anna pour les billets 1{NNBSP}500" and lost == [f"1{NNBSP}500"]


def test_existing_brackets_are_not_taken_for_placeholders() -> None:
    protected = protect("See note [3] with Anna", ["Anna"], None)
    assert protected.text == "See note [3] with [4]"
    assert restore("Voir note [3] avec [4]", protected, None) == ("Voir note [3] avec Anna", [])


def test_speaker_names_join_the_glossary_but_automatic_names_do_not() -> None:
    assert glossary_terms(["genmedia", " "], ["Speaker 1", "Anna", "Speaker 12", "genmedia"]) == ["genmedia", "Anna"]


# ---------------------------------------------------------------------------------------- profanity


def test_profanity_softening_keeps_case_and_whole_words() -> None:
    words = word_list({"en": {"damn": "darn", "shit": "shoot"}}, "eng_Latn")
    assert soften("Damn, DAMN, damnation and shit.", words) == ("Darn, DARN, damnation and shoot.", 3)
    assert soften("Damn.", word_list({"en": {"damn": "darn"}}, "fr")) == ("Damn.", 0)


def test_softening_never_touches_a_glossary_term() -> None:
    adaptation = Adaptation(locale_for("en"), ["Dick Damn"], {"damn": "darn"})
    assert adaptation.adapt("Dick Damn said damn", "en").text == "Dick Damn said darn"


def test_adaptation_of_speech_already_in_the_track_language() -> None:
    adaptation = Adaptation(locale_for("fr"), [], {})
    adapted = adaptation.adapt("Il reste 1 234,5 km? Oui", "fr")
    assert adapted.text == f"Il reste 1{NNBSP}234,5{NNBSP}km{NNBSP}? Oui" and adapted.lost == []
    converting = Adaptation(locale_for("en-US"), [], {}, convert_units=True)
    assert converting.adapt("We drove 12 km at 80 km/h.", "en").text == "We drove 7.5 mi at 50 mph."


# ------------------------------------------------------------------------------------- files written

CUES = [
    Cue(0.0, 1.5, ["مرحبا بكم!", "كيف حالك؟"], speaker="Anna"),
    Cue(2.0, 3.5, ["ترجمة ضعيفة"], flags=["low-translation-score"]),
    Cue(4.0, 5.0, ["جيد"]),
]


def test_right_to_left_lines_start_with_a_mark_in_every_format() -> None:
    for fmt in ("srt", "ass"):
        events = [e for e in pysubs2.SSAFile.from_string(render(CUES, fmt, rtl=True)) if not e.is_comment]
        assert all(line.startswith(RLM) for e in events for line in e.plaintext.split("\n"))
    vtt = list(webvtt.from_buffer(io.StringIO(render(CUES, "vtt", rtl=True))))
    assert [c.text.replace("<v Anna>", "") for c in vtt][0].split("\n")[0].startswith(RLM)
    assert all(line.startswith(RLM) for c in vtt[1:] for line in c.text.split("\n"))
    assert RLM not in render(CUES, "srt")


def test_flagged_cues_carry_a_vtt_note_and_an_ass_comment() -> None:
    text = render(CUES, "vtt")
    assert text.count("\nNOTE ") == 1 and text.index("NOTE ") < text.index("ترجمة ضعيفة")
    cues = list(webvtt.from_buffer(io.StringIO(text)))  # a real parser: the NOTE is not taken for a cue
    assert [c.text.replace("<v Anna>", "") for c in cues] == ["مرحبا بكم!\nكيف حالك؟", "ترجمة ضعيفة", "جيد"]
    ass = pysubs2.SSAFile.from_string(render(CUES, "ass"))
    comments = [e for e in ass if e.is_comment]
    assert len(comments) == 1 and "check" in comments[0].text and comments[0].start == 2000
    assert [e.plaintext for e in ass if not e.is_comment][1] == "ترجمة ضعيفة"
    assert len(pysubs2.SSAFile.from_string(render(CUES, "srt"))) == 3


# ---------------------------------------------------------------------------------------- the request


def test_glossary_must_be_a_list_of_strings() -> None:
    from genmedia.errors import ParamsError
    from genmedia.pipelines.registry import get_job

    spec = get_job("subtitles")
    assert spec.parse_params({"glossary": ["Anna", "genmedia"]}).glossary == ["Anna", "genmedia"]
    for bad in ("Anna", [1, 2], [["Anna"]], [""]):
        with pytest.raises(ParamsError) as e:
            spec.parse_params({"glossary": bad})
        assert "glossary" in str(e.value) and "\n" not in str(e.value)


def test_unknown_locale_fails_before_any_work() -> None:
    from genmedia.config import Config
    from genmedia.pipelines import subtitles

    with pytest.raises(InputError, match=r"fr-XX: unknown locale.*close matches"):
        subtitles.run(Config(), "/nonexistent.wav", subtitles.Params(languages=["fr-XX"]))


# ------------------------------------------------------------------------------ a track without translation


def test_speech_in_the_track_language_is_adapted_and_doubtful_cues_flagged() -> None:
    """French speech, French track (no translator): the typography and values are applied, cue times still
    come from the words, and the cue of a doubtful segment is flagged in the files."""
    from genmedia.config import Config
    from genmedia.pipelines.subtitles import DOUBTFUL, cues_for, track_texts
    from genmedia.subtitles.transcript import Segment, Word

    def segment(text: str, start: float, doubtful: list[str]) -> Segment:
        times = [(start + k * 0.4, start + k * 0.4 + 0.3) for k in range(len(text.split()))]
        words = [Word(text=w, start=s, end=e, probability=0.9) for w, (s, e) in zip(text.split(), times)]
        return Segment(start=start, end=words[-1].end, text=text, words=words, language="fr", doubtful=doubtful)

    segments = [segment("Tu viens ce soir? Il reste 1 234,5 km", 0.0, []), segment("Merci Anna", 6.0, ["repeat"])]
    adaptation = Adaptation(locale_for("fr"), ["Anna"], {})
    texts, flags, figures = track_texts(Config(), segments, "fr", adaptation)
    assert texts == {0: f"Tu viens ce soir{NNBSP}? Il reste 1{NNBSP}234,5{NNBSP}km"}  # "Merci Anna" unchanged
    assert flags == {1: (DOUBTFUL,)} and figures["translated_segments"] == 0
    cues = cues_for(segments, "fr", Rules(), texts, [], flags)
    assert [c.flags for c in cues] == [[], [DOUBTFUL]]
    assert cues[0].start == 0.0 and cues[1].start == 6.0
    vtt = render(cues, "vtt")
    assert vtt.count("NOTE ") == 1 and vtt.index("NOTE ") < vtt.index("Merci Anna")
    assert [c.text for c in webvtt.from_buffer(io.StringIO(vtt))] == [c.text for c in cues]
