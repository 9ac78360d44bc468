"""Language codes: ISO 639-1/639-3, Whisper ids and names, FLORES-200; unknown codes list close matches."""

from __future__ import annotations

import pytest

from genmedia.errors import InputError
from genmedia.subtitles import languages

pytestmark = pytest.mark.unit


def test_all_202_flores_codes_match_nllb_language_tokens() -> None:
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

    assert len(languages.flores_codes()) == 202
    assert set(languages.flores_codes()) == set(FAIRSEQ_LANGUAGE_CODES)
    for code in languages.flores_codes():
        assert languages.to_flores(code) == code
        assert languages.to_flores(code.lower()) == code


@pytest.mark.parametrize(
    ("code", "flores"),
    [
        ("en", "eng_Latn"),
        ("fr", "fra_Latn"),
        ("ja", "jpn_Jpan"),
        ("sw", "swh_Latn"),
        ("fra", "fra_Latn"),
        ("deu", "deu_Latn"),
        ("ger", "deu_Latn"),
        ("French", "fra_Latn"),
        ("japanese", "jpn_Jpan"),
        ("zh", "zho_Hans"),
        ("zh-TW", "zho_Hant"),
        ("pt-BR", "por_Latn"),
        ("EN", "eng_Latn"),
        ("fa", "pes_Arab"),
        ("ar", "arb_Arab"),
        ("jw", "jav_Latn"),
        ("no", "nob_Latn"),
        ("yue", "yue_Hant"),
        ("haitian creole", "hat_Latn"),
        ("castilian", "spa_Latn"),
    ],
)
def test_user_codes_map_to_flores(code: str, flores: str) -> None:
    assert languages.to_flores(code) == flores


def test_every_whisper_language_maps_or_is_named_transcription_only() -> None:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    for code in _LANGUAGE_CODES:
        if code in languages.WHISPER_ONLY:
            with pytest.raises(InputError, match="no FLORES-200"):
                languages.to_flores(code)
        else:
            assert languages.whisper_code(languages.to_flores(code)) == code


def test_unknown_code_lists_close_matches() -> None:
    with pytest.raises(InputError) as e:
        languages.to_flores("englsh")
    message = str(e.value)
    assert (
        message.startswith("englsh: unknown language code") and "english (English)" in message and "\n" not in message
    )
    with pytest.raises(InputError, match="close matches: .*fra_Latn"):
        languages.to_flores("fre_Latn")
    with pytest.raises(InputError, match="unknown language code"):
        languages.to_flores("xx")


def test_helpers() -> None:
    assert languages.same_language("en", "eng_Latn") and not languages.same_language("en", "fr")
    assert languages.writes_without_spaces("ja") and not languages.writes_without_spaces("de")
    assert languages.iso639_1("fra_Latn") == "fr" and languages.iso639_1("ace_Latn") is None
