"""Generated titles (``--title auto``): sanitising and the fallback, the clear failure without a text writer, and the
thumbnails and trailer jobs writing their title with a tiny random Phi-3 (tests/thumbnail_models.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from thumbnail_models import tiny_phi3_dir, tiny_writer_model

from genmedia.config import Config, ModelConfig, load_config
from genmedia.errors import ModelUnavailable
from genmedia.models import registry
from genmedia.pipelines import titles

PULL = "genmedia models pull text_writer"


@pytest.mark.unit
def test_sanitise_keeps_a_printable_short_line() -> None:
    assert titles.sanitise('\x00Title: "Storm\tat\u200b  Sea"\n\x1b') == "Storm at Sea"
    long = titles.sanitise(" ".join(["thunder"] * 40))
    assert len(long) <= titles.MAX_CHARS and long.endswith("thunder") and "  " not in long
    assert titles.sanitise("x" * 200) == "x" * titles.MAX_CHARS
    assert titles.sanitise("on style <|user|> storm</s><unk>") == "on style storm"  # template markup echoed
    for junk in ("", "\ufffd\u200b\x07", "!!! ... ---", "\n\n", "<|assistant|> <pad>"):
        assert titles.sanitise(junk) == ""


@pytest.mark.unit
def test_unusable_output_falls_back_to_tags_and_says_so() -> None:
    tags, moods = ["a landscape", "a landscape", "a car"], ["calm", "calm", "tense", "neutral"]
    assert titles.fallback_title(tags, moods) == "Calm: A landscape"
    assert titles.fallback_title([], ["neutral"]) == "Untitled"
    kept = titles.settle("p", " scene of a storm ", "phi-3:tiny", tags, moods)
    assert (kept.title, kept.by, kept.sanitised) == ("scene of a storm", "phi-3:tiny", "scene of a storm")
    fallen = titles.settle("p", "\x00\ufffd ...", "phi-3:tiny", tags, moods)
    assert (fallen.title, fallen.by, fallen.sanitised, fallen.output) == (
        "Calm: A landscape",
        titles.FALLBACK,
        "",
        "\x00\ufffd ...",
    )
    assert set(fallen.to_json()) == {"title", "by", "prompt", "output", "sanitised"}


@pytest.mark.unit
def test_instruction_quotes_transcript_tags_and_mood() -> None:
    doc = json.dumps({"segments": [{"text": " The storm is coming. "}, {"text": "Run!"}]})
    said = titles.transcript_text(doc)
    assert said == "The storm is coming. Run!" and titles.transcript_text(json.dumps([1])) == ""
    prompt = titles.instruction(said, ["the sea", "the sea", "a car"], ["tense"])
    assert "The storm is coming. Run!" in prompt and "the sea, a car" in prompt and "Mood: tense" in prompt
    tags, moods = titles.analysis_words([{"tags": ["a car"], "mood": "calm", "start_time": 0.0, "end_time": 3.2}])
    assert tags == ["a car"] and moods == ["calm"] * 3
    assert titles.is_auto(" AUTO ") and not titles.is_auto("Autumn") and not titles.is_auto(None)


@pytest.fixture(scope="module")
def phi3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_phi3_dir(tmp_path_factory.mktemp("tiny-phi3") / "phi3")


def _with_writer(base: Config, source: Path, model_dir: Path) -> Config:
    models = {**base.models, "text_writer": ModelConfig(**tiny_writer_model(source))}
    return base.model_copy(
        update={"models": models, "storage": base.storage.model_copy(update={"model_dir": str(model_dir)})}
    )


@pytest.mark.unit
def test_auto_without_a_staged_writer_fails_with_one_line(phi3: Path, tmp_path: Path, sample_clip) -> None:  # noqa: ANN001
    with pytest.raises(ModelUnavailable, match=PULL) as e:
        titles.check_writer(load_config(None))
    assert "models.text_writer" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ModelUnavailable, match=PULL) as e:  # configured, never pulled
        titles.check_writer(_with_writer(load_config(None), phi3, tmp_path / "models"))
    assert "tiny-phi3" in str(e.value) and "\n" not in str(e.value)
    for job in ("trailer", "thumbnails"):
        proc = subprocess.run(
            [sys.executable, "-m", "genmedia.cli", job, str(sample_clip[0]), "--title", "auto"],
            capture_output=True,
            text=True,
            timeout=300,
            env=dict(os.environ),
        )
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == ModelUnavailable.exit_code and len(lines) == 1 and PULL in lines[0], proc.stderr


@pytest.mark.ray
@pytest.mark.slow
def test_jobs_write_and_record_their_title_with_the_tiny_writer(ray_session, phi3: Path, sample_clip) -> None:  # noqa: ANN001
    """Slow (~40 s): a thumbnails run and a 3 s trailer render, each loading the tiny Phi-3 in a Ray task."""
    from genmedia.pipelines import thumbnails, trailer

    cfg = _with_writer(ray_session, phi3, Path(ray_session.storage.cache_dir) / "title-models")
    registry.pull(cfg, "text_writer")
    video = str(sample_clip[0])

    thumbs = thumbnails.run(
        cfg, video, thumbnails.Params(title="auto", variants=1, aspects=["16:9"], size=160, formats=["jpeg"])
    )
    assert thumbs.status == "done", thumbs
    doc = json.loads((Path(thumbs.output_uri.removeprefix("file://")) / "thumbnails.json").read_text())
    made = doc["title_generation"]
    assert made == thumbs.details["title_generation"] and doc["title"] == made["title"]
    assert made["by"] in ("phi-3:tiny-phi3", titles.FALLBACK) and "Mood:" in made["prompt"]
    assert made["title"] and made["title"].isprintable() and len(made["title"]) <= titles.MAX_CHARS
    assert made["sanitised"] == titles.sanitise(made["output"])
    assert "text_writer" in [m.key for m in thumbs.models]  # its lineage: the writer's version joins the params hash

    cut = trailer.run(cfg, video, trailer.Params(title="auto", duration=3.0, qualities=["144p"]))
    assert cut.status == "done", cut
    edl = json.loads((Path(cut.output_uri.removeprefix("file://")) / "edit_decision_list.json").read_text())
    card = edl["end_card"]
    assert card["title"] == cut.details["title"] == card["title_generation"]["title"]
    assert card["title_generation"] == cut.details["title_generation"]
    assert card["title"].isprintable() and len(card["title"]) <= titles.MAX_CHARS
    assert "text_writer" in [m.key for m in cut.models]
