"""The model contract (genmedia/deployments/contract.py) holds for every deployment class, checked on the classes."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

from genmedia.config import load_config
from genmedia.deployments.contract import Model
from genmedia.serving.models import deployment_target, import_target

pytestmark = pytest.mark.unit

DEPLOYMENTS = Path(__file__).resolve().parent.parent / "genmedia" / "deployments"
NOT_MODELS = {"__init__", "contract", "rife", "onnx_sr"}
"""Modules of the package that are not a config key's model (the contract itself, RIFE's network, the ONNX
runtime the upscaler uses on edge nodes)."""

KEYS = sorted(p.stem for p in DEPLOYMENTS.glob("*.py") if p.stem not in NOT_MODELS)


@pytest.mark.parametrize("key", KEYS)
def test_the_class_named_after_its_key_is_built_from_cfg_and_key_and_called_on_a_batch(key: str) -> None:
    target = deployment_target(key)
    assert target is not None, f"genmedia/deployments/{key}.py has no class for Serve to find"
    cls = import_target(target)
    cfg = load_config(None)
    inspect.signature(cls).bind(cfg, key)  # TypeError if the constructor does not take (cfg, key)
    call = inspect.signature(cls.__call__)
    assert list(call.parameters)[:2] == ["self", "batch"] and len(call.parameters) == 2, f"{target}.__call__{call}"


def test_a_weight_free_model_is_a_model_and_answers_a_batch() -> None:
    cfg = load_config(None, models={"upscaler": {"backend": "classical"}})
    upscaler = import_target(deployment_target("upscaler") or "")(cfg, "upscaler")
    assert isinstance(upscaler, Model)
    frames = np.zeros((2, 8, 12, 3), np.uint8)
    out = upscaler({"frames": frames, "out_width": np.array([24, 24]), "out_height": np.array([16, 16])})
    assert out["frames"].shape == (2, 16, 24, 3)
