"""Prompts for generative thumbnails: a title and scene tags through a style preset's template."""

from __future__ import annotations

from dataclasses import dataclass

from genmedia.errors import InputError


@dataclass(frozen=True)
class Style:
    """A style preset: how the prompt is phrased and what to steer away from."""

    template: str
    negative: str


NEGATIVE = "blurry, low quality, watermark, distorted face, extra fingers, text artifacts"
STYLES: dict[str, Style] = {
    "cinematic": Style(
        "cinematic film still of {subject}, {tags}, dramatic lighting, shallow depth of field, 35mm", NEGATIVE
    ),
    "poster": Style(
        "movie poster artwork of {subject}, {tags}, bold composition, high contrast, vivid colours", NEGATIVE
    ),
    "vibrant": Style("vibrant, eye-catching photo of {subject}, {tags}, saturated colours, sharp focus", NEGATIVE),
    "minimal": Style(
        "minimalist clean image of {subject}, {tags}, soft light, simple background", NEGATIVE + ", clutter"
    ),
    "documentary": Style(
        "natural documentary photograph of {subject}, {tags}, realistic, detailed", NEGATIVE + ", cartoon"
    ),
}
DEFAULT_STYLE = "cinematic"


def check_style(style: str) -> str:
    """``style`` if it is a known preset, else InputError listing them."""
    if style not in STYLES:
        raise InputError(f"style {style!r}", f"unknown style preset; choose one of {', '.join(STYLES)}")
    return style


def build_prompt(title: str | None, tags: list[str], style: str = DEFAULT_STYLE) -> tuple[str, str]:
    """(prompt, negative prompt) for a frame showing ``tags`` of a video called ``title``."""
    preset = STYLES[check_style(style)]
    subject = f'a scene from "{title}"' if title else "a scene from a video"
    tag_text = ", ".join(t for t in tags if t) or "key moment"
    return preset.template.format(subject=subject, tags=tag_text), preset.negative


def prompt_instruction(title: str | None, tags: list[str], style: str = DEFAULT_STYLE) -> str:
    """The instruction a text model gets to write an image prompt (the template's prompt is its example)."""
    example, _ = build_prompt(title, tags, style)
    return (
        "Write one short prompt for an image generator for a video thumbnail. "
        f"Video title: {title or 'untitled'}. Scene: {', '.join(tags) or 'unknown'}. Style: {style}. "
        f"Answer with the prompt only, on one line, like: {example}"
    )
