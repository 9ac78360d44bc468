"""Language codes: what users type (ISO 639-1, ISO 639-3, Whisper ids and names, English names) -> FLORES-200.

NLLB-200 names its 202 languages with FLORES-200 codes (``eng_Latn``, ``fra_Latn``, ``zho_Hans``...): an
ISO 639-3 code plus an ISO 15924 script, exactly as the model's language tokens spell them (so Santali is
``sat_Beng`` there). :func:`to_flores` maps any of the accepted spellings to one of
them; an unknown code is an :class:`~genmedia.errors.InputError` that lists the closest known codes.
"""

from __future__ import annotations

import difflib
from functools import cache

from genmedia.errors import InputError

# FLORES-200 code | English name | ISO 639-1 code when the language has one (and this is its default script)
_TABLE = """
ace_Arab|Acehnese (Arabic script)|
ace_Latn|Acehnese|
acm_Arab|Mesopotamian Arabic|
acq_Arab|Ta'izzi-Adeni Arabic|
aeb_Arab|Tunisian Arabic|
afr_Latn|Afrikaans|af
ajp_Arab|South Levantine Arabic|
aka_Latn|Akan|ak
amh_Ethi|Amharic|am
apc_Arab|North Levantine Arabic|
arb_Arab|Modern Standard Arabic|ar
ars_Arab|Najdi Arabic|
ary_Arab|Moroccan Arabic|
arz_Arab|Egyptian Arabic|
asm_Beng|Assamese|as
ast_Latn|Asturian|
awa_Deva|Awadhi|
ayr_Latn|Central Aymara|ay
azb_Arab|South Azerbaijani|
azj_Latn|North Azerbaijani|az
bak_Cyrl|Bashkir|ba
bam_Latn|Bambara|bm
ban_Latn|Balinese|
bel_Cyrl|Belarusian|be
bem_Latn|Bemba|
ben_Beng|Bengali|bn
bho_Deva|Bhojpuri|
bjn_Arab|Banjar (Arabic script)|
bjn_Latn|Banjar|
bod_Tibt|Standard Tibetan|bo
bos_Latn|Bosnian|bs
bug_Latn|Buginese|
bul_Cyrl|Bulgarian|bg
cat_Latn|Catalan|ca
ceb_Latn|Cebuano|
ces_Latn|Czech|cs
cjk_Latn|Chokwe|
ckb_Arab|Central Kurdish|
crh_Latn|Crimean Tatar|
cym_Latn|Welsh|cy
dan_Latn|Danish|da
deu_Latn|German|de
dik_Latn|Southwestern Dinka|
dyu_Latn|Dyula|
dzo_Tibt|Dzongkha|dz
ell_Grek|Greek|el
eng_Latn|English|en
epo_Latn|Esperanto|eo
est_Latn|Estonian|et
eus_Latn|Basque|eu
ewe_Latn|Ewe|ee
fao_Latn|Faroese|fo
fij_Latn|Fijian|fj
fin_Latn|Finnish|fi
fon_Latn|Fon|
fra_Latn|French|fr
fur_Latn|Friulian|
fuv_Latn|Nigerian Fulfulde|ff
gaz_Latn|West Central Oromo|om
gla_Latn|Scottish Gaelic|gd
gle_Latn|Irish|ga
glg_Latn|Galician|gl
grn_Latn|Guarani|gn
guj_Gujr|Gujarati|gu
hat_Latn|Haitian Creole|ht
hau_Latn|Hausa|ha
heb_Hebr|Hebrew|he
hin_Deva|Hindi|hi
hne_Deva|Chhattisgarhi|
hrv_Latn|Croatian|hr
hun_Latn|Hungarian|hu
hye_Armn|Armenian|hy
ibo_Latn|Igbo|ig
ilo_Latn|Ilocano|
ind_Latn|Indonesian|id
isl_Latn|Icelandic|is
ita_Latn|Italian|it
jav_Latn|Javanese|jv
jpn_Jpan|Japanese|ja
kab_Latn|Kabyle|
kac_Latn|Jingpho|
kam_Latn|Kamba|
kan_Knda|Kannada|kn
kas_Arab|Kashmiri (Arabic script)|ks
kas_Deva|Kashmiri (Devanagari script)|
kat_Geor|Georgian|ka
kaz_Cyrl|Kazakh|kk
kbp_Latn|Kabiye|
kea_Latn|Kabuverdianu|
khk_Cyrl|Halh Mongolian|mn
khm_Khmr|Khmer|km
kik_Latn|Kikuyu|ki
kin_Latn|Kinyarwanda|rw
kir_Cyrl|Kyrgyz|ky
kmb_Latn|Kimbundu|
kmr_Latn|Northern Kurdish|ku
knc_Arab|Central Kanuri (Arabic script)|
knc_Latn|Central Kanuri|kr
kon_Latn|Kikongo|kg
kor_Hang|Korean|ko
lao_Laoo|Lao|lo
lij_Latn|Ligurian|
lim_Latn|Limburgish|li
lin_Latn|Lingala|ln
lit_Latn|Lithuanian|lt
lmo_Latn|Lombard|
ltg_Latn|Latgalian|
ltz_Latn|Luxembourgish|lb
lua_Latn|Luba-Kasai|
lug_Latn|Ganda|lg
luo_Latn|Luo|
lus_Latn|Mizo|
lvs_Latn|Standard Latvian|lv
mag_Deva|Magahi|
mai_Deva|Maithili|
mal_Mlym|Malayalam|ml
mar_Deva|Marathi|mr
min_Latn|Minangkabau|
mkd_Cyrl|Macedonian|mk
mlt_Latn|Maltese|mt
mni_Beng|Meitei (Bengali script)|
mos_Latn|Mossi|
mri_Latn|Maori|mi
mya_Mymr|Burmese|my
nld_Latn|Dutch|nl
nno_Latn|Norwegian Nynorsk|nn
nob_Latn|Norwegian Bokmal|nb
npi_Deva|Nepali|ne
nso_Latn|Northern Sotho|
nus_Latn|Nuer|
nya_Latn|Nyanja|ny
oci_Latn|Occitan|oc
ory_Orya|Odia|or
pag_Latn|Pangasinan|
pan_Guru|Eastern Panjabi|pa
pap_Latn|Papiamento|
pbt_Arab|Southern Pashto|ps
pes_Arab|Western Persian|fa
plt_Latn|Plateau Malagasy|mg
pol_Latn|Polish|pl
por_Latn|Portuguese|pt
prs_Arab|Dari|
quy_Latn|Ayacucho Quechua|qu
ron_Latn|Romanian|ro
run_Latn|Rundi|rn
rus_Cyrl|Russian|ru
sag_Latn|Sango|sg
san_Deva|Sanskrit|sa
sat_Beng|Santali|
scn_Latn|Sicilian|
shn_Mymr|Shan|
sin_Sinh|Sinhala|si
slk_Latn|Slovak|sk
slv_Latn|Slovenian|sl
smo_Latn|Samoan|sm
sna_Latn|Shona|sn
snd_Arab|Sindhi|sd
som_Latn|Somali|so
sot_Latn|Southern Sotho|st
spa_Latn|Spanish|es
als_Latn|Tosk Albanian|sq
srd_Latn|Sardinian|sc
srp_Cyrl|Serbian|sr
ssw_Latn|Swati|ss
sun_Latn|Sundanese|su
swe_Latn|Swedish|sv
swh_Latn|Swahili|sw
szl_Latn|Silesian|
tam_Taml|Tamil|ta
taq_Latn|Tamasheq|
taq_Tfng|Tamasheq (Tifinagh script)|
tat_Cyrl|Tatar|tt
tel_Telu|Telugu|te
tgk_Cyrl|Tajik|tg
tgl_Latn|Tagalog|tl
tha_Thai|Thai|th
tir_Ethi|Tigrinya|ti
tpi_Latn|Tok Pisin|
tsn_Latn|Tswana|tn
tso_Latn|Tsonga|ts
tuk_Latn|Turkmen|tk
tum_Latn|Tumbuka|
tur_Latn|Turkish|tr
twi_Latn|Twi|tw
tzm_Tfng|Central Atlas Tamazight|
uig_Arab|Uyghur|ug
ukr_Cyrl|Ukrainian|uk
umb_Latn|Umbundu|
urd_Arab|Urdu|ur
uzn_Latn|Northern Uzbek|uz
vec_Latn|Venetian|
vie_Latn|Vietnamese|vi
war_Latn|Waray|
wol_Latn|Wolof|wo
xho_Latn|Xhosa|xh
ydd_Hebr|Eastern Yiddish|yi
yor_Latn|Yoruba|yo
yue_Hant|Cantonese|
zho_Hans|Chinese (Simplified)|zh
zho_Hant|Chinese (Traditional)|
zsm_Latn|Standard Malay|ms
zul_Latn|Zulu|zu
"""

# Other spellings users and Whisper use: ISO 639-3 macrolanguage / bibliographic codes, Whisper's own ids,
# and regional tags that name a script.
_ALIASES = {
    "ara": "arb_Arab",
    "fas": "pes_Arab",
    "per": "pes_Arab",
    "msa": "zsm_Latn",
    "may": "zsm_Latn",
    "zho": "zho_Hans",
    "chi": "zho_Hans",
    "zh-cn": "zho_Hans",
    "zh-hans": "zho_Hans",
    "zh-sg": "zho_Hans",
    "zh-tw": "zho_Hant",
    "zh-hk": "zho_Hant",
    "zh-hant": "zho_Hant",
    "yue": "yue_Hant",
    "swa": "swh_Latn",
    "lav": "lvs_Latn",
    "mon": "khk_Cyrl",
    "nep": "npi_Deva",
    "ori": "ory_Orya",
    "orm": "gaz_Latn",
    "pus": "pbt_Arab",
    "uzb": "uzn_Latn",
    "aze": "azj_Latn",
    "sqi": "als_Latn",
    "alb": "als_Latn",
    "kur": "kmr_Latn",
    "mlg": "plt_Latn",
    "yid": "ydd_Hebr",
    "que": "quy_Latn",
    "nor": "nob_Latn",
    "no": "nob_Latn",
    "fil": "tgl_Latn",
    "jw": "jav_Latn",
    "fre": "fra_Latn",
    "ger": "deu_Latn",
    "dut": "nld_Latn",
    "gre": "ell_Grek",
    "cze": "ces_Latn",
    "slo": "slk_Latn",
    "rum": "ron_Latn",
    "wel": "cym_Latn",
    "ice": "isl_Latn",
    "arm": "hye_Armn",
    "geo": "kat_Geor",
    "mac": "mkd_Cyrl",
    "bur": "mya_Mymr",
    "baq": "eus_Latn",
    "tib": "bod_Tibt",
    "mao": "mri_Latn",
    "est": "est_Latn",
    "kau": "knc_Latn",
    "ful": "fuv_Latn",
    "aym": "ayr_Latn",
    "grn": "grn_Latn",
    "kas": "kas_Arab",
    "min": "min_Latn",
    "ace": "ace_Latn",
    "bjn": "bjn_Latn",
    "taq": "taq_Latn",
    "knc": "knc_Latn",
    "pt-br": "por_Latn",
    "pt-pt": "por_Latn",
    "en-us": "eng_Latn",
    "en-gb": "eng_Latn",
    "es-419": "spa_Latn",
    "sr-latn": "srp_Cyrl",
    "iw": "heb_Hebr",
    "in": "ind_Latn",
    "ji": "ydd_Hebr",
}

# Whisper's language names (its ``LANGUAGES`` table) where they differ from the English names above.
_WHISPER_NAMES = {
    "haitian creole": "hat_Latn",
    "castilian": "spa_Latn",
    "flemish": "nld_Latn",
    "letzeburgesch": "ltz_Latn",
    "moldavian": "ron_Latn",
    "moldovan": "ron_Latn",
    "pushto": "pbt_Arab",
    "panjabi": "pan_Guru",
    "punjabi": "pan_Guru",
    "sinhalese": "sin_Sinh",
    "valencian": "cat_Latn",
    "mandarin": "zho_Hans",
    "persian": "pes_Arab",
    "malay": "zsm_Latn",
    "mongolian": "khk_Cyrl",
    "nepali": "npi_Deva",
    "norwegian": "nob_Latn",
    "albanian": "als_Latn",
    "latvian": "lvs_Latn",
    "uzbek": "uzn_Latn",
    "azerbaijani": "azj_Latn",
    "pashto": "pbt_Arab",
    "malagasy": "plt_Latn",
    "yiddish": "ydd_Hebr",
    "tibetan": "bod_Tibt",
    "arabic": "arb_Arab",
    "chinese": "zho_Hans",
    "greek": "ell_Grek",
    "nynorsk": "nno_Latn",
    "oromo": "gaz_Latn",
    "kurdish": "kmr_Latn",
    "javanese": "jav_Latn",
    "myanmar": "mya_Mymr",
    "swahili": "swh_Latn",
    "quechua": "quy_Latn",
    "aymara": "ayr_Latn",
}

# Whisper ids without a FLORES-200 language (transcription works, translation from/to them does not).
WHISPER_ONLY = {"haw": "Hawaiian", "la": "Latin", "br": "Breton"}

NO_SPACES = frozenset({"jpn", "zho", "yue", "tha", "lao", "khm", "mya", "bod", "dzo", "shn"})
"""ISO 639-3 prefixes of languages written without spaces between words (line breaks go between characters)."""


@cache
def _rows() -> tuple[tuple[str, str, str], ...]:
    return tuple(tuple(line.split("|")) for line in _TABLE.strip().splitlines())  # type: ignore[misc]


@cache
def flores_codes() -> dict[str, str]:
    """All 202 FLORES-200 codes -> English name, in table order."""
    return {code: name for code, name, _ in _rows()}


@cache
def _lookup() -> dict[str, str]:
    table: dict[str, str] = {}
    for code, name, iso1 in _rows():
        table.setdefault(code[:3], code)  # the first script listed is the default for a bare 639-3 code
        table.setdefault(name.lower(), code)
        if iso1:
            table[iso1] = code
    table.update(_WHISPER_NAMES)
    table.update(_ALIASES)
    table.update({code.lower(): code for code in flores_codes()})
    return table


def to_flores(code: str) -> str:
    """The FLORES-200 code for ``code`` (e.g. ``fr``, ``fra``, ``french``, ``fra_Latn``, ``zh-TW``).

    Raises InputError naming the code and listing close matches when it is not a known language.
    """
    raw = str(code).strip()
    table = _lookup()
    for candidate in (raw.lower(), raw.lower().replace("_", "-"), raw.lower().split("-")[0]):
        if candidate in table:
            return table[candidate]
    if raw.lower() in WHISPER_ONLY:
        raise InputError(
            raw, f"{WHISPER_ONLY[raw.lower()]} can be transcribed but has no FLORES-200/NLLB-200 code to translate with"
        )
    close = difflib.get_close_matches(raw.lower(), list(table), n=5, cutoff=0.6)
    hint = f"; close matches: {', '.join(_display(c, table[c]) for c in close)}" if close else ""
    raise InputError(raw, f"unknown language code (use ISO 639-1/639-3, a FLORES-200 code or a language name){hint}")


def _display(key: str, flores: str) -> str:
    return f"{key} ({flores_codes()[flores]})" if key != flores.lower() else flores


def is_language(code: str) -> bool:
    """Whether :func:`to_flores` accepts ``code``."""
    try:
        to_flores(code)
    except InputError:
        return False
    return True


def iso639_1(flores: str) -> str | None:
    """The ISO 639-1 code of a FLORES-200 code's language (``fra_Latn`` -> ``fr``), if it has one."""
    for code, _, iso1 in _rows():
        if code == flores:
            return iso1 or None
    return None


def whisper_code(code: str) -> str | None:
    """The Whisper language id for a user's code (``fra_Latn`` or ``french`` -> ``fr``), None if Whisper lacks it."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES  # the ids the model was trained with

    raw = str(code).strip().lower()
    if raw in _LANGUAGE_CODES:
        return raw
    flores = to_flores(code)
    iso1 = iso639_1(flores)
    special = {"yue_Hant": "yue", "jav_Latn": "jw", "nob_Latn": "no"}
    candidate = special.get(flores, iso1)
    return candidate if candidate in _LANGUAGE_CODES else None


def same_language(a: str, b: str) -> bool:
    """Whether two codes name the same FLORES-200 language (``en`` and ``eng_Latn``); False if either is unknown."""
    try:
        return to_flores(a) == to_flores(b)
    except InputError:
        return str(a).strip().lower() == str(b).strip().lower()


def writes_without_spaces(code: str) -> bool:
    """Whether the language is written without spaces between words (Japanese, Chinese, Thai...)."""
    try:
        return to_flores(code)[:3] in NO_SPACES
    except InputError:
        return False
