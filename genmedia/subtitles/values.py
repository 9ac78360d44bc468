"""Numbers, dates, times, currencies and units found in a source text and written the target locale's way.

:func:`find_values` reads them in the speech's locale (CLDR month names and number symbols through Babel;
unit words and abbreviations in English, Whisper's usual output); :meth:`Value.render` writes one in the
target locale with Babel (``$20`` -> ``20 $US`` in French, ``1,234.5`` -> ``1.234,5`` in German,
``10:30 pm`` -> ``22:30``, ``March 5, 2024`` -> ``5. März 2024``, ``5 km`` -> ``5 km`` / ``5 كم``).
Plain integers below 10,000 without separators (counts, years) are left as spoken. Units keep their
measurement system unless conversion is asked for (:meth:`Value.render` ``convert``): then a metric
unit becomes its US customary counterpart for a locale of a territory that measures in the US system
(US, Liberia, Myanmar: CLDR's measurementData, which Babel does not carry) and the other way round
everywhere else, rounded to the source's significant digits (at least two).
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from babel import Locale
from babel.core import get_global
from babel.dates import format_date, format_skeleton, format_time
from babel.numbers import (
    NumberFormatError,
    format_currency,
    format_decimal,
    format_percent,
    get_group_symbol,
    parse_decimal,
)
from babel.units import format_unit

_GROUPS = ",.\u00a0\u202f'"
_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₩": "KRW"}
_CODES = ("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "CNY", "INR")
_UNITS = {  # spoken or written form -> (CLDR unit, length of the written form)
    "km/h": ("speed-kilometer-per-hour", "short"),
    "mph": ("speed-mile-per-hour", "short"),
    "km": ("length-kilometer", "short"),
    "kilometers": ("length-kilometer", "long"),
    "kilometres": ("length-kilometer", "long"),
    "cm": ("length-centimeter", "short"),
    "mm": ("length-millimeter", "short"),
    "m": ("length-meter", "short"),
    "meters": ("length-meter", "long"),
    "metres": ("length-meter", "long"),
    "miles": ("length-mile", "long"),
    "mile": ("length-mile", "long"),
    "mi": ("length-mile", "short"),
    "feet": ("length-foot", "long"),
    "ft": ("length-foot", "short"),
    "kg": ("mass-kilogram", "short"),
    "kilograms": ("mass-kilogram", "long"),
    "kilos": ("mass-kilogram", "long"),
    "lbs": ("mass-pound", "short"),
    "lb": ("mass-pound", "short"),
    "°C": ("temperature-celsius", "short"),
    "°F": ("temperature-fahrenheit", "short"),
    "liters": ("volume-liter", "long"),
    "litres": ("volume-liter", "long"),
    "ml": ("volume-milliliter", "short"),
    "gallons": ("volume-gallon", "long"),
}


_US_SYSTEM = frozenset({"US", "LR", "MM"})
_UK_KEEPS = frozenset({"length-mile", "speed-mile-per-hour", "length-foot"})  # CLDR's "UK" system (GB)
_MILE, _POUND, _GALLON = 1.609344, 0.45359237, 3.785411784
_TO_METRIC = {  # US unit -> (metric unit, factor); None: temperature
    "length-mile": ("length-kilometer", _MILE),
    "length-foot": ("length-meter", 0.3048),
    "mass-pound": ("mass-kilogram", _POUND),
    "volume-gallon": ("volume-liter", _GALLON),
    "speed-mile-per-hour": ("speed-kilometer-per-hour", _MILE),
    "temperature-fahrenheit": ("temperature-celsius", None),
}
_TO_US = {
    "length-kilometer": ("length-mile", 1 / _MILE),
    "length-meter": ("length-foot", 1 / 0.3048),
    "length-centimeter": ("length-inch", 1 / 2.54),
    "length-millimeter": ("length-inch", 1 / 25.4),
    "mass-kilogram": ("mass-pound", 1 / _POUND),
    "volume-liter": ("volume-gallon", 1 / _GALLON),
    "volume-milliliter": ("volume-fluid-ounce", 1 / 29.5735295625),
    "speed-kilometer-per-hour": ("speed-mile-per-hour", 1 / _MILE),
    "temperature-celsius": ("temperature-fahrenheit", None),
}


def _territory(locale: Locale) -> str | None:
    """The locale's territory, or its language's most likely one (``en`` -> US)."""
    if locale.territory is None:
        likely = get_global("likely_subtags").get(locale.language, "")
        return likely.split("_")[-1] if likely else None
    return locale.territory


def measures_in_us_units(locale: Locale) -> bool:
    """Whether the locale's territory measures in US customary units."""
    return _territory(locale) in _US_SYSTEM


def _rounded(x: float, source: Decimal, temperature: bool) -> Decimal:
    """``x`` as precise as ``source`` was: as many decimals for a temperature, else as many significant
    digits (trailing zeros of a whole number not counted, at least two)."""
    exponent = source.as_tuple().exponent
    if temperature:
        return Decimal(str(round(x, max(0, -exponent))))
    digits = max(2, len(source.normalize().as_tuple().digits))
    places = digits - 1 - math.floor(math.log10(abs(x))) if x else 0
    return Decimal(str(round(x, places))) if places > 0 else Decimal(round(x, places)).quantize(1)


@dataclass(frozen=True)
class Value:
    """One locale-sensitive value: ``kind`` is number, percent, currency, unit, date or time."""

    kind: str
    text: str
    """As found in the source."""
    amount: Decimal | None = None
    code: str | None = None
    """The currency (ISO 4217) or CLDR unit."""
    length: str = "short"
    moment: datetime.date | datetime.time | None = None
    with_year: bool = True

    def converted(self, locale: Locale) -> Value:
        """This unit value in the measurement system of ``locale`` (itself when already in it)."""
        table = _TO_US if measures_in_us_units(locale) else _TO_METRIC
        if self.kind != "unit" or self.code not in table or (_territory(locale) == "GB" and self.code in _UK_KEEPS):
            return self
        unit, factor = table[self.code]
        x = float(self.amount)
        if factor is None:
            x = (x - 32) * 5 / 9 if unit == "temperature-celsius" else x * 9 / 5 + 32
        else:
            x *= factor
        return Value("unit", self.text, _rounded(x, self.amount, factor is None), unit, self.length)

    def render(self, locale: Locale, convert: bool = False) -> str:
        """The value written the way ``locale`` writes it (``convert``: units in its measurement system)."""
        if convert and self.kind == "unit":
            return self.converted(locale).render(locale)
        if self.kind == "date":
            if isinstance(self.moment, datetime.date) and self.with_year:
                return format_date(self.moment, "long", locale=locale)
            return format_skeleton("MMMMd", self.moment, locale=locale)
        if self.kind == "time":
            return format_time(self.moment, "short", locale=locale)
        if self.kind == "currency":
            pattern = locale.currency_formats["standard"].pattern
            whole = self.amount == self.amount.to_integral_value()
            return format_currency(
                self.amount,
                self.code,
                format=pattern.replace(".00", "") if whole else pattern,
                locale=locale,
                currency_digits=False,
            )
        if self.kind == "percent":
            return format_percent(self.amount / 100, locale=locale, decimal_quantization=False)
        if self.kind == "unit":
            return format_unit(self.amount, self.code, length=self.length, locale=locale)
        return format_decimal(self.amount, locale=locale, decimal_quantization=False)


def _spaced(locale: Locale) -> bool:
    """Whether the locale groups digits with a (no-break) space, which speech recognition writes as a space."""
    return get_group_symbol(locale).isspace()


@cache
def _number(locale_id: str) -> str:
    """A number as written in the locale (grouped or not, with a decimal part or not)."""
    groups = re.escape(_GROUPS + (" " if _spaced(Locale.parse(locale_id)) else ""))
    return rf"\d{{1,3}}(?:[{groups}]\d{{3}})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?"


@cache
def _pattern(locale_id: str) -> re.Pattern[str]:
    locale = Locale.parse(locale_id)
    number = _number(locale_id)
    names = {n.lower().rstrip(".") for kind in ("wide", "abbreviated") for n in locale.months["format"][kind].values()}
    months = "|".join(sorted((re.escape(n) for n in names if len(n) >= 3), key=len, reverse=True))
    units = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
    symbols = "".join(re.escape(s) for s in _SYMBOLS)
    num = rf"(?<![\w.,])(?:{number})"
    parts = [
        r"(?P<iso>\b\d{4}-\d{2}-\d{2}\b)",
        rf"(?P<dm>\b(?P<d1>\d{{1,2}})(?:st|nd|rd|th|er|\.)?\s+(?:de\s+)?(?P<m1>{months})\.?(?:,?\s+(?:de\s+)?(?P<y1>\d{{4}}))?)(?!\w)",
        rf"(?P<md>\b(?P<m2>{months})\.?\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y2>\d{{4}}))?)(?!\w)",
        r"(?P<hm>\b(?P<h1>[01]?\d|2[0-3]):(?P<mi>[0-5]\d)(?:\s*(?P<ap1>[ap])\.?m\b\.?)?)(?![\d:])",
        r"(?P<ha>\b(?P<h2>1[0-2]|0?[1-9])\s*(?P<ap2>[ap])\.?m\b\.?)",
        rf"(?P<cur1>(?P<sym1>[{symbols}])\s?(?P<a1>{number}))(?![\w.,]\d)",
        rf"(?P<cur2>{num}\s?(?P<sym2>[{symbols}]|\b(?:{'|'.join(_CODES)})\b))",
        rf"(?P<pct>{num}\s?(?:%|\bper\s?cent\b))",
        rf"(?P<unit>{num}\s?(?P<u>{units})(?![\w/]))",
        rf"(?P<num>{num})(?![\w]|[.,]\d)",
    ]
    return re.compile("|".join(parts), re.IGNORECASE)


def _amount(text: str, locale: Locale) -> Decimal | None:
    if _spaced(locale):
        text = re.sub(r"[ \u00a0\u202f]", get_group_symbol(locale), text)
    try:
        return parse_decimal(text, locale=locale, strict=True)
    except NumberFormatError:
        return None


def _month(name: str, locale: Locale) -> int:
    name = name.lower().rstrip(".")
    for kind in ("wide", "abbreviated"):
        for number, month in locale.months["format"][kind].items():
            if month.lower().rstrip(".") == name:
                return number
    raise ValueError(name)


def _value(m: re.Match[str], locale: Locale) -> Value | None:
    """The value a match names, or None when it does not read as one (e.g. 31 February, '1,2,3')."""
    g, text = m.groupdict(), m.group(0)
    try:
        if g["iso"]:
            return Value("date", text, moment=datetime.date.fromisoformat(text))
        if g["dm"] or g["md"]:
            day, month, year = (g["d1"], g["m1"], g["y1"]) if g["dm"] else (g["d2"], g["m2"], g["y2"])
            moment = datetime.date(int(year or 2000), _month(month, locale), int(day))
            return Value("date", text, moment=moment, with_year=year is not None)
        if g["hm"] or g["ha"]:
            hour, minute, half = (g["h1"], g["mi"], g["ap1"]) if g["hm"] else (g["h2"], "0", g["ap2"])
            if not half and int(hour) <= 12 and "h" in locale.time_formats["short"].pattern:
                return None  # "3:45" from a 12-hour clock's speech: morning or afternoon is not said
            hour = int(hour) % 12 + (12 if half.lower() == "p" else 0) if half else int(hour)
            return Value("time", text, moment=datetime.time(hour, int(minute)))
    except ValueError:
        return None
    number = re.search(_number(str(locale)), text).group(0) if not g["cur1"] else g["a1"]
    amount = _amount(number, locale)
    if amount is None:
        return None
    if g["cur1"] or g["cur2"]:
        code = _SYMBOLS.get(g["sym1"] or g["sym2"], (g["sym2"] or "").upper())
        return Value("currency", text, amount, code)
    if g["pct"]:
        return Value("percent", text, amount)
    if g["unit"]:
        unit = next(u for u in _UNITS if u.lower() == g["u"].lower())
        return Value("unit", text, amount, *_UNITS[unit])
    if re.fullmatch(r"\d+", number) and amount < 10_000:
        return None  # a count or a year: written the same everywhere
    return Value("number", text, amount)


def find_values(text: str, locale: Locale) -> list[tuple[int, int, Value]]:
    """(start, end, value) of each locale-sensitive value in ``text``, read in ``locale`` (the speech's)."""
    found = []
    for m in _pattern(str(locale)).finditer(text):
        value = _value(m, locale)
        if value is None:
            continue
        start, end = m.span()
        if text[end - 1] == "." and (end == len(text) or text[end].isspace()):
            end -= 1  # "10 p.m." ending a sentence: the full stop stays the sentence's
            value = Value(**{**value.__dict__, "text": text[start:end]})
        found.append((start, end, value))
    return found
