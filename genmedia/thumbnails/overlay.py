"""Title overlay: legible text with an outline and a soft shadow, placed away from faces, sized to survive
being shown small (a 1280-wide thumbnail is often displayed 320 px wide).

The layout search tries font sizes from large to small, text blocks at the bottom, top or middle, centred
or in a left/right column, and keeps the largest text that covers no face; when every layout covers a
face, the one covering the least face area. Drawing touches only the text block's neighbourhood.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from genmedia.thumbnails.geometry import Box

SHOWN_WIDTH = 320
"""The width at which a thumbnail is assumed to be seen smallest."""
MIN_SHOWN_PX = 11
"""Font size at that width below which a title is hard to read."""
MAX_LINES = 3
LINE_SPACING = 1.15
BANDS = ("bottom", "top", "middle")
ALIGNS = ("centre", "left", "right")


@dataclass(frozen=True)
class Overlay:
    """Where and how the title was drawn."""

    box: Box
    font_px: int
    lines: list[str]
    band: str
    align: str
    face_overlap: float


@dataclass(frozen=True)
class _Layout:
    px: int
    lines: list[str]
    box: Box
    band: str
    align: str


def _font(px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=px)


def min_font_px(width: int) -> int:
    """The smallest font size that stays legible when the image is shown SHOWN_WIDTH px wide."""
    return max(8, int(np.ceil(MIN_SHOWN_PX * width / SHOWN_WIDTH)))


def _wrap(words: list[str], widths: list[float], space: float, max_w: float) -> tuple[list[str], float] | None:
    """Greedy word wrap into at most MAX_LINES lines no wider than ``max_w``: (lines, widest line), or None."""
    lines: list[list[str]] = []
    line_widths: list[float] = []
    for word, w in zip(words, widths, strict=True):
        if lines and line_widths[-1] + space + w <= max_w:
            lines[-1].append(word)
            line_widths[-1] += space + w
        elif w <= max_w and len(lines) < MAX_LINES:
            lines.append([word])
            line_widths.append(w)
        else:
            return None
    return [" ".join(line) for line in lines], max(line_widths, default=0.0)


def _place(n_lines: int, text_w: float, px: int, width: int, height: int, band: str, align: str) -> Box:
    block_w, block_h = text_w + px * 0.2, px * LINE_SPACING * n_lines + px * 0.2
    margin_x, margin_y = 0.05 * width, 0.05 * height
    x = {"centre": (width - block_w) / 2, "left": margin_x, "right": width - margin_x - block_w}[align]
    y = {"bottom": height - margin_y - block_h, "top": margin_y, "middle": (height - block_h) / 2}[band]
    return Box(x, y, block_w, block_h)


def _layouts(text: str, width: int, height: int) -> list[_Layout]:
    """Every candidate layout, largest font first."""
    words = text.split()
    out: list[_Layout] = []
    floor = min_font_px(width)
    for px in range(max(floor, int(0.11 * min(width, height))), floor - 1, -2):
        font = _font(px)
        widths, space = [font.getlength(w) for w in words], font.getlength(" ")
        for align in ALIGNS:
            wrapped = _wrap(words, widths, space, 0.9 * width if align == "centre" else 0.5 * width)
            if wrapped is None:
                continue
            lines, text_w = wrapped
            for band in BANDS:
                box = _place(len(lines), text_w, px, width, height, band, align)
                if box.y >= 0 and box.bottom <= height:
                    out.append(_Layout(px, lines, box, band, align))
    return out


def _fallback(text: str, width: int, height: int) -> _Layout:
    """A title too long for any layout: the smallest legible size, cut to what fits on MAX_LINES lines."""
    px = min_font_px(width)
    font = _font(px)
    lines, rest = [], " ".join(text.split())
    while rest and len(lines) < MAX_LINES:
        n = len(rest)
        while n > 1 and font.getlength(rest[:n]) > 0.9 * width:
            n -= 1
        lines.append(rest[:n])
        rest = rest[n:].lstrip()
    text_w = max(font.getlength(line) for line in lines)
    return _Layout(px, lines, _place(len(lines), text_w, px, width, height, "bottom", "centre"), "bottom", "centre")


def draw_title(image: np.ndarray, text: str, *, faces: list[Box] | None = None) -> tuple[np.ndarray, Overlay]:
    """``image`` (H x W x 3 RGB) with ``text`` drawn: white, dark outline and shadow, in the largest layout
    that covers no face (else the one covering least). Returns the new image and where the text went."""
    height, width = image.shape[:2]
    faces = faces or []
    candidates = _layouts(text, width, height) or [_fallback(text, width, height)]

    def overlap(lay: _Layout) -> float:
        return sum(lay.box.intersection_area(f) for f in faces)

    best = next((lay for lay in candidates if overlap(lay) == 0), None) or min(
        candidates, key=lambda lay: (overlap(lay), -lay.px)
    )
    font = _font(best.px)
    stroke, offset, blur = max(2, best.px // 12), max(2, best.px // 16), max(1, best.px // 14)
    # Work on the block's neighbourhood only: text, outline, shadow offset and blur spread.
    pad = stroke + offset + 3 * blur
    x0, y0 = max(0, int(best.box.x) - pad), max(0, int(best.box.y) - pad)
    x1, y1 = min(width, int(best.box.right) + pad + 1), min(height, int(best.box.bottom) + pad + 1)
    region = Image.fromarray(np.ascontiguousarray(image[y0:y1, x0:x1])).convert("RGBA")
    shadow = Image.new("RGBA", region.size, (0, 0, 0, 0))
    text_layer = Image.new("RGBA", region.size, (0, 0, 0, 0))
    sd, td = ImageDraw.Draw(shadow), ImageDraw.Draw(text_layer)
    for i, line in enumerate(best.lines):
        w = font.getlength(line)
        x = {
            "centre": best.box.x + (best.box.w - w) / 2,
            "left": best.box.x + best.px * 0.1,
            "right": best.box.right - best.px * 0.1 - w,
        }[best.align] - x0
        y = best.box.y + best.px * 0.1 + i * best.px * LINE_SPACING - y0
        sd.text(
            (x + offset, y + offset),
            line,
            font=font,
            fill=(0, 0, 0, 170),
            stroke_width=stroke,
            stroke_fill=(0, 0, 0, 170),
        )
        td.text((x, y), line, font=font, fill=(255, 255, 255, 255), stroke_width=stroke, stroke_fill=(0, 0, 0, 255))
    region = Image.alpha_composite(
        Image.alpha_composite(region, shadow.filter(ImageFilter.GaussianBlur(blur))), text_layer
    )
    out = image.copy()
    out[y0:y1, x0:x1] = np.asarray(region.convert("RGB"))
    return out, Overlay(
        box=best.box, font_px=best.px, lines=best.lines, band=best.band, align=best.align, face_overlap=overlap(best)
    )
