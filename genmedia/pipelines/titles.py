"""Generated titles (``--title auto``): a trailer's end card or the thumbnails' title written by ``models.text_writer``
from the video's transcript, scene tags and mood.

The instruction and the model's answer are recorded beside the title (:class:`GeneratedTitle`). A model's
answer is sanitised before it is drawn: printable characters only, no chat-template markup, one line, at
most :data:`MAX_CHARS` characters cut at a word; an answer left without a letter or digit is replaced by a
title made from the analysis' commonest tags and mood, and the record says so. Without a configured and
staged text writer, ``auto`` fails before any work with one line naming the model and
``genmedia models pull text_writer``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import ray

from genmedia.config import Config
from genmedia.errors import ModelUnavailable
from genmedia.runtime import get_result, model_options
from genmedia.storage import filesystem, join_uri, stage_input

AUTO = "auto"
WRITER_KEY = "text_writer"
MAX_CHARS = 60
TRANSCRIPT_CHARS = 400
"""Transcript characters the instruction quotes (the start of the speech)."""
FALLBACK = "tags-fallback"
_LABEL = re.compile(r"^\s*title\s*[:\-]\s*", re.IGNORECASE)
_MARKUP = re.compile(r"<\|[^<>]*\|>|</?[A-Za-z_]{1,12}>")
"""Chat-template and tokenizer markup a model may echo (``<|user|>``, ``</s>``, ``<unk>``) or HTML-like tags."""


def is_auto(title: str | None) -> bool:
    """Whether a request's title asks for a generated one."""
    return title is not None and title.strip().lower() == AUTO


def check_writer(cfg: Config) -> None:
    """Raise ModelUnavailable (one line) unless ``models.text_writer`` is configured and its weights are staged."""
    from genmedia.models.registry import resolve

    if WRITER_KEY not in cfg.models:
        raise ModelUnavailable(
            f"--title auto needs models.{WRITER_KEY} (a Phi-3 text writer), which the config does not name; "
            f"add it and run: genmedia models pull {WRITER_KEY}"
        )
    resolve(cfg, WRITER_KEY)


@dataclass(frozen=True)
class GeneratedTitle:
    """A generated title and how it was made (recorded in the job's outputs and result)."""

    title: str
    by: str
    """The text writer's name, or ``tags-fallback`` when its answer was unusable."""
    prompt: str
    output: str
    """The model's answer before sanitising."""
    sanitised: str
    """The answer after sanitising ("" when nothing usable was left)."""

    def to_json(self) -> dict[str, Any]:
        """The record written next to the title."""
        return asdict(self)


def sanitise(text: str, limit: int = MAX_CHARS) -> str:
    """A model's answer as a title: printable characters on one line, no markup, label or quotes, at most ``limit``
    characters cut at a word; "" when no letter or digit is left."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(" " if unicodedata.category(c)[0] in "CZ" or c == "\ufffd" else c for c in text)
    text = _LABEL.sub("", " ".join(_MARKUP.sub(" ", text).split()))
    text = text.strip(" \"'`*#-_.,;:")
    if len(text) > limit:
        cut = text[: limit + 1].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
        text = cut.rstrip(" ,;:-")
    return text if any(c.isalnum() for c in text) else ""


def fallback_title(tags: list[str], moods: list[str]) -> str:
    """A plain title from the commonest scene tag and mood, e.g. "Calm: A Landscape"; "Untitled" without either."""
    tag = Counter(t for t in tags if t).most_common(1)
    mood = Counter(m for m in moods if m and m != "neutral").most_common(1)
    parts = [mood[0][0].capitalize()] if mood else []
    if tag:
        parts.append(tag[0][0][:1].upper() + tag[0][0][1:])
    return sanitise(": ".join(parts)) or "Untitled"


def instruction(transcript: str, tags: list[str], moods: list[str]) -> str:
    """What the text writer is asked: a short title from the speech, the scene tags and the mood."""
    said = " ".join(transcript.split())[:TRANSCRIPT_CHARS] or "none"
    top_tags = ", ".join(t for t, _ in Counter(t for t in tags if t).most_common(6)) or "unknown"
    top_moods = ", ".join(m for m, _ in Counter(m for m in moods if m).most_common(2)) or "unknown"
    return (
        "Write a short, catchy title (at most six words) for a video. "
        f"What is said: {said}. Scenes: {top_tags}. Mood: {top_moods}. Answer with the title only, on one line."
    )


def transcript_text(doc: str) -> str:
    """The spoken text of a ``transcript.json`` (its segments' ``text``, in order); "" when there is none."""
    data = json.loads(doc)
    segments = data.get("segments", []) if isinstance(data, dict) else []
    return " ".join(str(s.get("text", "")).strip() for s in segments if isinstance(s, dict)).strip()


def find_transcript(cfg: Config, video_id: str, explicit: str | None = None) -> str | None:
    """The JSON of ``explicit`` (a path or URI) or of a finished subtitles job's ``transcript.json`` for the
    video, if any (None)."""
    if explicit:
        return stage_input(explicit, cfg.storage).read_text(encoding="utf-8")
    fs, base = filesystem(join_uri(cfg.storage.root, video_id, "subtitles"), cfg.storage)
    for manifest in sorted(fs.glob(f"{base}/*/manifest.json")):
        candidate = manifest.rsplit("/", 1)[0] + "/transcript.json"
        if fs.exists(candidate):
            return fs.cat_file(candidate).decode("utf-8")
    return None


@ray.remote(max_retries=0)
def _write(cfg: Config, prompt: str) -> tuple[str, str]:
    """Ray task: the text writer's answer to ``prompt`` and the writer's name (weights load in the task)."""
    from genmedia.deployments.text_writer import TextWriter

    writer = TextWriter(cfg, WRITER_KEY)
    return writer.write_many([prompt])[0], writer.name


def generate(cfg: Config, transcript: str, tags: list[str], moods: list[str]) -> GeneratedTitle:
    """A title written by ``models.text_writer`` (its config resources) from the transcript, tags and moods."""
    prompt = instruction(transcript, tags, moods)
    output, name = get_result(_write.options(**model_options(cfg, WRITER_KEY)).remote(cfg, prompt))
    return settle(prompt, output, name, tags, moods)


def settle(prompt: str, output: str, writer: str, tags: list[str], moods: list[str]) -> GeneratedTitle:
    """The title from ``writer``'s ``output``: sanitised, or from the tags and moods when nothing usable is left."""
    clean = sanitise(output)
    if clean:
        return GeneratedTitle(clean, writer, prompt, output, clean)
    return GeneratedTitle(fallback_title(tags, moods), FALLBACK, prompt, output, "")


def title_for(
    cfg: Config, video_id: str, shot_details: list[dict[str, Any]], warnings: list[str], transcript: str | None = None
) -> GeneratedTitle:
    """A job's generated title for a video: from its transcript (``transcript``, else a finished subtitles
    job's, else none), the analysis' tags and moods; a warning joins ``warnings`` when the tags had to stand in."""
    try:
        doc = find_transcript(cfg, video_id, transcript)
        said = transcript_text(doc) if doc else ""
    except (ValueError, UnicodeDecodeError):
        said = ""
    tags, moods = analysis_words(shot_details)
    generated = generate(cfg, said, tags, moods)
    if generated.by == FALLBACK:
        warnings.append(
            f"the text writer's title {generated.output[:40]!r} was unusable after sanitising; "
            f"used {generated.title!r} from the analysis' tags and mood"
        )
    return generated


def analysis_words(shot_details: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(tags, moods) of an analysis' shots, each shot's mood counted once per second of the shot."""
    tags, moods = [], []
    for shot in shot_details:
        tags += [str(t) for t in shot.get("tags") or []]
        seconds = max(1, round(float(shot.get("end_time", 0)) - float(shot.get("start_time", 0))))
        moods += [str(shot["mood"])] * seconds if shot.get("mood") else []
    return tags, moods
