"""Lineage: which models (and exactly which files) a job uses, decided before the work and recorded with it.

The MLflow side (versions, aliases) is in test_models_mlflow.py; here local sources and the pipelines' lists.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genmedia.config import Config, load_config
from genmedia.errors import ModelUnavailable
from genmedia.models import registry
from genmedia.models.lineage import content_digest, hash_part, identify
from genmedia.pipelines import analyze, enhance, subtitles


def _config(tmp_path: Path, source: Path) -> Config:
    return load_config(None, storage={"cache_dir": str(tmp_path / "cache")}, models={
        "tiny": {"backend": "torch-linear", "model": "tiny", "source": str(source)},
        "classic": {"backend": "classical"},
    })  # fmt: skip


@pytest.mark.unit
def test_identify_describes_staged_files_and_backends_without_weights(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "model.pt").write_bytes(b"weights v1")
    cfg = _config(tmp_path, source)
    with pytest.raises(ModelUnavailable, match="genmedia models pull tiny"):
        identify(cfg, ["tiny"])  # not staged: the job fails before any work, in one line
    registry.pull(cfg, "tiny")
    pinned, uses = identify(cfg, ["tiny", "classic", "tiny"])
    assert pinned == cfg  # nothing to pin for a directory source
    assert [(u.key, u.backend, u.model, u.source) for u in uses] == [
        ("tiny", "torch-linear", "tiny", str(source)), ("classic", "classical", None, None)]  # fmt: skip
    assert uses[0].digest == content_digest(registry.staged_digests(registry.store_dir(cfg, "tiny")))
    assert uses[0].mlflow_name is None and uses[1].digest is None

    (source / "model.pt").write_bytes(b"weights v2")
    registry.pull(cfg, "tiny")
    _, changed = identify(cfg, ["tiny"])
    assert hash_part(changed) != hash_part(uses[:1])  # new weights at the same source: a new output key
    assert set(hash_part(changed)["tiny"]) == {"backend", "mlflow_name", "mlflow_version", "digest"}


@pytest.mark.unit
def test_content_digest_is_order_free_and_sees_names_and_contents() -> None:
    a = content_digest({"a.bin": "1" * 64, "b.json": "2" * 64})
    assert a == content_digest({"b.json": "2" * 64, "a.bin": "1" * 64})
    assert a != content_digest({"a.bin": "1" * 64, "c.json": "2" * 64})
    assert a != content_digest({"a.bin": "1" * 64, "b.json": "3" * 64})


@pytest.mark.unit
def test_pipelines_name_the_models_they_load() -> None:
    whisper_only = load_config(None, models={"transcriber": Config().models["transcriber"].model_dump()})
    assert subtitles.models_used(whisper_only, subtitles.Params(denoise=True)) == ["transcriber"]
    french = subtitles.Params(languages=["fr"], source_language="en", diarize=False)
    assert subtitles.models_used(whisper_only, french) == ["transcriber", "translator"]
    cfg = load_config(None, models={
        "detector": {"backend": "ultralytics", "model": "yolo", "source": "/models/yolo"},
        "scene_embedder": {"backend": "open-clip", "model": "clip", "source": "/models/clip"},
    })  # fmt: skip
    assert analyze.models_used(cfg, analyze.Params()) == ["detector", "scene_embedder"]
    assert analyze.models_used(cfg, analyze.Params(embed="off", faces="haar")) == []
    cfg = load_config(None, models={"upscaler": {"backend": "classical"}, "interpolator": {"backend": "classical"}})
    assert enhance.models_used(cfg, enhance.Params()) == []
    assert enhance.models_used(cfg, enhance.Params(upscale=2, fps=60)) == ["upscaler", "interpolator"]
    assert enhance.models_used(cfg, enhance.Params(target="2160p")) == ["upscaler"]
    assert enhance.models_used(load_config(None, models={}), enhance.Params(upscale=2)) == []


@pytest.mark.slow
def test_a_subtitles_job_records_the_weights_it_used(two_speaker_subtitles) -> None:  # noqa: ANN001
    whisper, voices = two_speaker_subtitles.models  # the default config: Whisper base and the GE2E speaker embedder
    assert (whisper.key, whisper.backend, whisper.model) == ("transcriber", "faster-whisper", "whisper-base")
    assert whisper.source == Config().model("transcriber").source and whisper.mlflow_version is None
    assert voices.key == "speaker_embedder" and voices.source == Config().model("speaker_embedder").source
    assert all(len(str(u.digest)) == 64 for u in (whisper, voices))
    manifest = json.loads(Path(two_speaker_subtitles.output_uri, "manifest.json").read_text())
    assert manifest["models"] == [u.model_dump(mode="json") for u in (whisper, voices)]
