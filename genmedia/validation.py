"""Checks on caller-supplied text: no lone surrogates (they cannot be stored or encoded as UTF-8) and no
control characters in titles, names and other one-line values.

Used by the request models of the HTTP API and by the jobs' ``Params`` (so the CLI refuses the same values).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import AfterValidator

MULTILINE_OK = frozenset("\t\n\r")
"""Control characters free text of several lines (a text to translate) may hold."""


_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""Unicode's control characters (category Cc) and the surrogate code points."""


def bad_character(text: str, allowed: frozenset[str] = frozenset()) -> str | None:
    """Why ``text`` cannot be accepted (its first lone surrogate or control character), or None."""
    for match in _REFUSED.finditer(text):
        c = match.group()
        if 0xD800 <= ord(c) <= 0xDFFF:
            return f"holds a lone UTF-16 surrogate (U+{ord(c):04X}) at character {match.start()}; send valid Unicode"
        if c not in allowed:
            return f"holds a control character (U+{ord(c):04X}) at character {match.start()}; control characters are refused"
    return None


def one_line(text: str) -> str:
    """``text`` when it holds no lone surrogate and no control character, else ValueError saying which."""
    if (why := bad_character(text)) is not None:
        raise ValueError(why)
    return text


def multi_line(text: str) -> str:
    """``text`` when it holds no lone surrogate and no control character but tab and newlines, else ValueError."""
    if (why := bad_character(text, MULTILINE_OK)) is not None:
        raise ValueError(why)
    return text


OneLine = Annotated[str, AfterValidator(one_line)]
"""A string without lone surrogates or control characters (titles, URIs, names, language codes)."""

MultiLine = Annotated[str, AfterValidator(multi_line)]
"""A string without lone surrogates or control characters other than tab and newlines."""


def strings_in(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string in a JSON value (dict keys included), with its dotted path from ``path``."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key, f"{path} (a key)")
            yield from strings_in(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from strings_in(item, f"{path}.{i}")


def check_json_strings(value: Any, path: str) -> Any:
    """``value`` when no string anywhere in it has a lone surrogate or control character, else ValueError naming where."""
    for where, text in strings_in(value, path):
        if (why := bad_character(text)) is not None:
            raise ValueError(f"{printable(where)}: {why}")
    return value


def printable(text: str) -> str:
    """``text`` with lone surrogates and control characters escaped, safe to echo in a message or a JSON answer."""
    if bad_character(text) is None:
        return text
    return "".join(c.encode("unicode_escape").decode("ascii") if bad_character(c) else c for c in text)
