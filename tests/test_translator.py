"""The NLLB-200 deployment with a tiny random M2M100 and a SentencePiece model trained here, the clear
error without weights, and translated subtitles from the whole pipeline."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pysubs2
import pytest
import webvtt

from genmedia.config import Config
from genmedia.errors import ModelUnavailable
from genmedia.models.registry import pull

SENTENCES = [
    "Welcome to the genmedia demo.",
    "This clip has music, motion and hard cuts.",
    "Bienvenue dans la démo.",
    "Ce clip a de la musique et du mouvement.",
    "Karibu kwenye onyesho.",
    "Tonight we look at the storm.",
]


def _tiny_nllb(directory: Path) -> None:
    """A SentencePiece BPE model trained on a few sentences, the NLLB tokenizer over it with all 202
    FLORES-200 language tokens, and a randomly initialised 2-layer M2M100 (d_model 32)."""
    import sentencepiece as spm
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    from genmedia.subtitles.languages import flores_codes

    directory.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(SENTENCES * 10),
        model_prefix=str(directory / "sentencepiece.bpe"),
        vocab_size=120,
        model_type="bpe",
        character_coverage=1.0,
        minloglevel=2,
    )
    tokenizer = NllbTokenizer.from_pretrained(str(directory), extra_special_tokens=list(flores_codes()))
    tokenizer.save_pretrained(str(directory))
    config = M2M100Config(
        vocab_size=len(tokenizer),
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    M2M100ForConditionalGeneration(config).save_pretrained(str(directory))


@pytest.fixture(scope="module")
def nllb_cfg(ray_session: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The session config plus a ``translator`` entry whose weights (the tiny model) are staged."""
    source = tmp_path_factory.mktemp("tiny-nllb")
    _tiny_nllb(source)
    entry = {
        "backend": "nllb",
        "model": "tiny-nllb-test",
        "source": str(source),
        "batch_size": 4,
        "options": {"num_beams": 1},
    }
    cfg = ray_session.model_copy(
        update={
            "models": {
                **ray_session.models,
                "translator": Config.model_validate({"models": {"translator": entry}}).models["translator"],
            }
        }
    )
    pull(cfg, "translator")
    return cfg


@pytest.fixture(scope="module")
def translator(nllb_cfg: Config):  # noqa: ANN201
    from genmedia.deployments.translator import Translator

    return Translator(nllb_cfg)


def test_translates_with_scores(translator) -> None:  # noqa: ANN001
    out = translator.translate(SENTENCES[:3], "fr", sources="en")
    assert len(out) == 3
    assert all(isinstance(t.text, str) and t.text for t in out)
    assert all(-50 < t.score <= 0 for t in out)


def test_context_batching_equals_one_by_one(translator) -> None:  # noqa: ANN001
    texts = ["Tonight we look at the storm.", "This clip has music.", "Welcome."]
    context = [None, "Tonight we look at the storm.", "This clip has music."]
    batched = translator.translate(texts, "swh_Latn", sources=["en", "en", "en"], context=context)
    single = [translator.translate([t], "sw", sources="en", context=[c])[0] for t, c in zip(texts, context)]
    assert [b.text for b in batched] == [s.text for s in single]
    assert [b.score for b in batched] == pytest.approx([s.score for s in single], abs=1e-4)


def test_score_is_the_mean_token_log_probability(translator) -> None:  # noqa: ANN001
    """Checked independently: greedy generation's own per-step scores give the same mean (HF counts the
    forced language token as a new token, hence one more than the translator's budget)."""
    import torch

    text = "This clip has music, motion and hard cuts."
    got = translator.translate([text], "fr", sources="en")[0]
    tok, model = translator.tokenizer, translator.model
    tok.src_lang = "eng_Latn"
    enc = tok([text], return_tensors="pt")
    with torch.inference_mode():
        gen = model.generate(
            **enc,
            forced_bos_token_id=tok.convert_tokens_to_ids("fra_Latn"),
            num_beams=1,
            do_sample=False,
            max_new_tokens=enc.input_ids.shape[1] * 2 + 11,
            output_scores=True,
            return_dict_in_generate=True,
        )
        steps = model.compute_transition_scores(gen.sequences, gen.scores, normalize_logits=True)[0]
    new = gen.sequences[0, 2:].tolist()  # after </s> and the forced language token
    n = new.index(tok.eos_token_id) + 1 if tok.eos_token_id in new else len(new)
    assert tok.decode(new[:n], skip_special_tokens=True).strip() == got.text
    assert float(steps[1 : 1 + n].mean()) == pytest.approx(got.score, abs=1e-4)


def test_accepts_any_language_spelling_and_rejects_unknown(translator) -> None:  # noqa: ANN001
    from genmedia.errors import InputError

    assert translator.translate(["Welcome."], "Japanese", sources="english")[0].text
    with pytest.raises(InputError, match="close matches"):
        translator.translate(["Welcome."], "frnch", sources="en")


def test_without_weights_a_clear_error(ray_session: Config) -> None:
    from genmedia.deployments.translator import Translator

    with pytest.raises(ModelUnavailable) as e:  # the embedded default has no translator entry
        Translator(ray_session)
    assert "NLLB-200" in str(e.value) and "genmedia models pull translator" in str(e.value)
    entry = Config.model_validate(
        {
            "models": {
                "translator": {
                    "backend": "nllb",
                    "model": "nllb-200-distilled-600M",
                    "source": "hf://facebook/nllb-200-distilled-600M",
                }
            }
        }
    ).models["translator"]
    cfg = ray_session.model_copy(update={"models": {**ray_session.models, "translator": entry}})
    with pytest.raises(ModelUnavailable) as e:
        Translator(cfg)
    message = str(e.value)
    assert "nllb-200-distilled-600M" in message and "genmedia models pull translator" in message and "\n" not in message


# ------------------------------------------------------------------------------- acting on the scores


@pytest.mark.ray
def test_low_scores_are_translated_again_and_flagged_when_still_low(nllb_cfg: Config, translator) -> None:  # noqa: ANN001
    """The threshold is set between the first pass's scores, so some segments fall under it: exactly those
    are translated again (no context, a wider beam), the better of the two kept, and flagged if still low."""
    from genmedia.pipelines import subtitles

    texts = SENTENCES[:2] + SENTENCES[-1:] + ["Welcome to the storm."]
    context = [None, *texts[:-1]]
    first = translator.translate(texts, "fr", sources="en", context=context)
    threshold = float(np.median([t.score for t in first]))
    sub = nllb_cfg.pipelines.subtitles.model_copy(
        update={"retranslate_below_score": threshold, "retranslate_num_beams": 3}
    )
    cfg = nllb_cfg.model_copy(update={"pipelines": nllb_cfg.pipelines.model_copy(update={"subtitles": sub})})
    out = subtitles.translate(cfg, texts, ["en"] * len(texts), "fr")
    for text, before, after in zip(texts, first, out):
        assert after.retried == (before.score < threshold)
        if not after.retried:
            assert (after.text, after.score) == pytest.approx((before.text, before.score), abs=1e-4)
            continue
        again = translator.translate([text], "fr", sources="en", num_beams=3)[0]
        best = again if again.score > before.score else before
        assert after.text == best.text and after.score == pytest.approx(max(again.score, before.score), abs=1e-4)
        assert after.low == (after.score < threshold)
    assert 0 < sum(t.retried for t in out) < len(texts)


@pytest.mark.ray
@pytest.mark.parametrize("target", ["fr", "es", "de", "zh", "ar"])
def test_adaptation_through_the_tiny_translator(translator, target: str) -> None:  # noqa: ANN001
    """Protected terms and values come through a real (tiny, random) model: in place when it copies the
    placeholder, else appended and reported; values are written the target's way; typography is applied."""
    from babel import Locale

    from genmedia.subtitles.adaptation import Adaptation
    from genmedia.subtitles.locale_rules import locale_for, typography
    from genmedia.subtitles.values import find_values

    source = "Anna paid $1,250.50 for the storm on March 5, 2024 at 10:30 pm?"
    locale = locale_for(target)
    adaptation = Adaptation(locale, ["Anna"], {})
    protected = adaptation.protect(source, "en")
    assert "Anna" not in protected.text and "1,250" not in protected.text and len(protected.items) == 4
    translated = translator.translate([protected.text], target, sources="en")[0].text
    adapted = adaptation.finish(translated, protected)
    expected = [v.render(locale) for _, _, v in find_values(source, Locale.parse("en"))]
    assert expected[0] != "$1,250.50" and all(e in adapted.text for e in expected)  # the target's way
    assert "Anna" in adapted.text
    assert sorted(adapted.lost) == sorted(x for x in ["Anna", *expected] if x not in typography(translated, locale))
    assert typography(adapted.text, locale) == adapted.text  # already in the locale's typography


@pytest.mark.ray
@pytest.mark.slow
def test_pipeline_writes_translated_subtitles(nllb_cfg: Config, tmp_path: Path) -> None:
    """Audio-only input, English speech, subtitles in en (transcript), fr and ar (tiny NLLB), with a glossary
    and a score threshold above every score (so each translated cue is re-translated, then flagged).
    The slowest test here (Whisper on the sample, then two translations)."""
    from subtitle_rules import rule_violations

    from genmedia.media.audio import write_audio_file
    from genmedia.media.synthetic import load_sample_speech
    from genmedia.pipelines import subtitles
    from genmedia.subtitles.formats import RLM

    audio = tmp_path / "speech.m4a"
    write_audio_file(audio, np.concatenate([np.zeros(8000, np.float32), load_sample_speech(16000)]), 16000)
    sub = nllb_cfg.pipelines.subtitles.model_copy(update={"retranslate_below_score": 0.0})
    cfg = nllb_cfg.model_copy(update={"pipelines": nllb_cfg.pipelines.model_copy(update={"subtitles": sub})})
    glossary = ["genmedia", "GenMedia", "Nvidia", "demo"]
    params = subtitles.Params(languages=["en", "fr", "ar"], diarize=False, glossary=glossary)
    result = subtitles.run(cfg, str(audio), params)
    assert result.status.value == "done"
    assert {f"{lang}.{fmt}" for lang in ("en", "fr", "ar") for fmt in ("srt", "vtt", "ass")} | {
        "transcript.json"
    } <= set(result.files)
    assert result.details["cues"]["fr"] >= 1
    import json

    transcript = json.loads(Path(result.files["transcript.json"]).read_text())
    tracks = transcript["tracks"]
    assert tracks["fr"]["translated_segments"] >= 1
    assert all(s <= 0 for s in tracks["fr"]["translation_scores"])
    assert tracks["en"]["translated_segments"] == 0
    spoken = " ".join(s["text"] for s in transcript["segments"])
    terms = [t for t in glossary if t in spoken]
    assert terms, spoken
    for lang in ("fr", "ar"):
        track = tracks[lang]
        assert track["retranslated_segments"] == track["low_score_segments"] == track["translated_segments"]
        assert all(c["flagged"] and "low-translation-score" in c["flags"] for c in track["cue_list"])
        assert result.details["flagged_cues"][lang] == track["flagged_cues"] == len(track["cue_list"])
        text = " ".join(c["text"] for c in track["cue_list"])
        assert all(t in text for t in terms), (terms, text)
        srt = pysubs2.load(result.files[f"{lang}.srt"])
        cues = [(e.start / 1000, e.end / 1000, e.plaintext.replace(RLM, "")) for e in srt]
        assert cues and rule_violations(cues, fps=25.0) == []
        vtt_text = Path(result.files[f"{lang}.vtt"]).read_text()
        assert vtt_text.count("\nNOTE ") == len(cues)
        vtt = list(webvtt.from_buffer(io.StringIO(vtt_text)))  # the NOTE blocks do not break a real parser
        assert [c.text for c in vtt] == [e.plaintext for e in srt]
        ass = pysubs2.load(result.files[f"{lang}.ass"])
        assert sum(e.is_comment for e in ass) == len(cues)
    assert tracks["ar"]["direction"] == "rtl" and tracks["fr"]["direction"] == "ltr"
    assert all(line.startswith(RLM) for e in pysubs2.load(result.files["ar.srt"]) for line in e.plaintext.split("\n"))
    assert result.details["flagged_cues"]["en"] == 0 and "NOTE" not in Path(result.files["en.vtt"]).read_text()
