"""Aspect ratios of thumbnails (``16:9``, ``1:1``, ``9:16``, ``4:5``) and their output sizes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from genmedia.errors import InputError

_RATIO = re.compile(r"^\s*(\d{1,4})\s*[:x/]\s*(\d{1,4})\s*$")
MAX_STRETCH = 4.0
"""The widest (and, inverted, tallest) ratio accepted."""


@dataclass(frozen=True)
class Aspect:
    """An aspect ratio ``w:h`` in lowest terms."""

    w: int
    h: int

    @property
    def ratio(self) -> float:
        return self.w / self.h

    @property
    def label(self) -> str:
        """``16:9``."""
        return f"{self.w}:{self.h}"

    @property
    def slug(self) -> str:
        """``16x9``: safe in file names."""
        return f"{self.w}x{self.h}"

    def output_size(self, long_side: int) -> tuple[int, int]:
        """Pixel size whose longer side is ``long_side``, with even width and height (e.g. 16:9 -> 1280x720)."""
        if self.w >= self.h:
            w, h = long_side, long_side * self.h / self.w
        else:
            w, h = long_side * self.w / self.h, long_side
        return int(round(w / 2) * 2), int(round(h / 2) * 2)


def parse_aspect(text: str) -> Aspect:
    """``"16:9"`` -> Aspect(16, 9); InputError for anything that is not a positive ratio up to 4:1 / 1:4."""
    m = _RATIO.match(text)
    if not m:
        raise InputError(f"aspect {text!r}", "not an aspect ratio; write W:H with whole numbers, e.g. 16:9")
    w, h = int(m[1]), int(m[2])
    if w == 0 or h == 0:
        raise InputError(f"aspect {text!r}", "width and height of an aspect ratio must both be positive")
    if max(w / h, h / w) > MAX_STRETCH:
        raise InputError(
            f"aspect {text!r}", f"too extreme; ratios between 1:{MAX_STRETCH:g} and {MAX_STRETCH:g}:1 are supported"
        )
    from math import gcd

    g = gcd(w, h)
    return Aspect(w // g, h // g)


def parse_aspects(text: str | list[str]) -> list[Aspect]:
    """A comma-separated list (or a list) of aspect ratios, without duplicates, in the order given."""
    items = text.split(",") if isinstance(text, str) else list(text)
    if not [i for i in items if i.strip()]:
        raise InputError("aspects", "no aspect ratio given; e.g. 16:9,1:1,9:16,4:5")
    out: list[Aspect] = []
    for item in items:
        aspect = parse_aspect(item)
        if aspect not in out:
            out.append(aspect)
    return out
