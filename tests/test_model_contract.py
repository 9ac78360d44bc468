"""The model contract (genmedia/deployments/contract.py) holds for every deployment class, checked on the classes."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

from genmedia.config import load_config
from genmedia.deployments.contract import Model, check_model_class
from genmedia.errors import ConfigError
from genmedia.pipelines.enhance import InterpolateStage, UpscaleStage
from genmedia.pipelines.models import map_model
from genmedia.pipelines.subtitles import ChunkTranscriber
from genmedia.pipelines.thumbnails import Generate, WritePrompts
from genmedia.serving.models import deployment_target, import_target

pytestmark = pytest.mark.unit

DEPLOYMENTS = Path(__file__).resolve().parent.parent / "genmedia" / "deployments"
NOT_MODELS = {"__init__", "contract", "rife", "onnx_sr"}
"""Modules of the package that are not a config key's model (the contract itself, RIFE's network, the ONNX
runtime the upscaler uses on edge nodes)."""

KEYS = sorted(p.stem for p in DEPLOYMENTS.glob("*.py") if p.stem not in NOT_MODELS)


@pytest.mark.parametrize("key", KEYS)
def test_the_class_named_after_its_key_keeps_the_contract_serve_checks(key: str) -> None:
    target = deployment_target(key)
    assert target is not None, f"genmedia/deployments/{key}.py has no class for Serve to find"
    module, _, name = target.partition(":")
    assert import_target(target) is getattr(importlib.import_module(module), name)


ADAPTERS = [
    (UpscaleStage, {"width": 64, "height": 36}),
    (InterpolateStage, {"fps_out": 48.0}),
    (ChunkTranscriber, {"denoise": "auto", "diarize": False, "origin": None, "speaker_backend": None}),
    (WritePrompts, {}),
    (Generate, {}),
]


@pytest.mark.parametrize(("cls", "kwargs"), ADAPTERS, ids=lambda v: getattr(v, "__name__", ""))
def test_the_ray_data_adapters_keep_the_contract_with_their_constructor_arguments(cls: type, kwargs: dict) -> None:
    assert check_model_class(cls, **kwargs) is cls


class _TakesNoKey:
    def __init__(self, cfg: object) -> None:
        self.cfg = cfg

    def __call__(self, batch: dict) -> dict:
        return batch


class _CallsWithTwo:
    def __init__(self, cfg: object, key: str) -> None:
        self.key = key

    def __call__(self, batch: dict, extra: int) -> dict:
        return batch


def test_a_class_that_breaks_the_contract_is_refused_by_name_on_both_sides() -> None:
    with pytest.raises(ConfigError, match=r"_TakesNoKey: its constructor does not take \(cfg, key\)"):
        check_model_class(_TakesNoKey)
    with pytest.raises(ConfigError, match=r"_CallsWithTwo: __call__ takes \(self, batch, extra\)"):
        check_model_class(_CallsWithTwo)
    with pytest.raises(ConfigError, match="a model is a class"):
        check_model_class(len)
    with pytest.raises(ConfigError, match=r"UpscaleStage: its constructor does not take \(cfg, key, scale=\)"):
        map_model(None, UpscaleStage, load_config(None), "upscaler", scale=2)  # refused before the dataset is touched
    with pytest.raises(ConfigError, match=r"Window: its constructor does not take \(cfg, key\)"):
        import_target("genmedia.enhance.window:Window")  # Serve's side


def test_a_weight_free_model_is_a_model_and_answers_a_batch() -> None:
    cfg = load_config(None, models={"upscaler": {"backend": "classical"}})
    upscaler = import_target(deployment_target("upscaler") or "")(cfg, "upscaler")
    assert isinstance(upscaler, Model)
    frames = np.zeros((2, 8, 12, 3), np.uint8)
    out = upscaler({"frames": frames, "out_width": np.array([24, 24]), "out_height": np.array([16, 16])})
    assert out["frames"].shape == (2, 16, 24, 3)


def test_a_class_made_a_ray_actor_keeps_the_contract() -> None:
    """``ray.remote(cls)`` (one-actor stages) adds Ray's tracing keyword to the class's own ``__call__`` in place;
    the check made afterwards, in the same process, still accepts the class."""
    import ray

    class Doubler:
        def __init__(self, cfg: object, key: str) -> None:
            self.key = key

        def __call__(self, batch: dict) -> dict:
            return {k: v * 2 for k, v in batch.items()}

    ray.remote(Doubler)
    assert check_model_class(Doubler) is Doubler
