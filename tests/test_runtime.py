"""Resource resolution per GPU type, and placement on a fake multi-type cluster."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from genmedia.config import ModelConfig, Resources, load_config
from genmedia.errors import ConfigError
from genmedia.runtime import actor_options, model_stage

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]


def _model(**resources: Resources) -> ModelConfig:
    return ModelConfig(backend="x", resources=resources)


def test_first_matching_gpu_type_wins_and_is_pinned() -> None:
    model = _model(T4=Resources(num_gpus=0.5, num_cpus=2), L4=Resources(num_gpus=0.25), cpu=Resources(num_cpus=4))
    assert actor_options(model, ["L4", "T4"]) == {"num_gpus": 0.5, "num_cpus": 2, "accelerator_type": "T4"}
    assert actor_options(model, ["L4"]) == {"num_gpus": 0.25, "num_cpus": 1, "accelerator_type": "L4"}


def test_cpu_entry_applies_without_gpus() -> None:
    model = _model(T4=Resources(num_gpus=0.5), cpu=Resources(num_cpus=4, memory_gb=2))
    assert actor_options(model, []) == {"num_gpus": 0, "num_cpus": 4, "memory": 2 * 1024**3}
    assert actor_options(model, "A100") == {"num_gpus": 0, "num_cpus": 4, "memory": 2 * 1024**3}


def test_gpu_only_model_on_a_cluster_without_its_type_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"models.gen: asks for GPU types L4, the cluster offers T4, and it has no 'cpu' entry"
    ):
        actor_options(_model(L4=Resources(num_gpus=1)), ["T4"], name="gen")


def test_production_config_resolves_each_seed_split() -> None:
    cfg = load_config(ROOT / "configs/aws-gpu.yaml")
    cluster = ["A10G", "L4", "L40S", "T4"]
    assert actor_options(cfg.model("transcriber"), cluster)["accelerator_type"] == "T4"
    assert actor_options(cfg.model("image_generator"), cluster)["accelerator_type"] == "L4"
    assert actor_options(cfg.model("text_writer"), cluster)["accelerator_type"] == "A10G"
    assert actor_options(cfg.model("upscaler"), cluster)["accelerator_type"] == "L40S"
    assert actor_options(cfg.model("upscaler"), ["A40", "L40S"])["accelerator_type"] == "A40"


def test_model_stage_takes_resources_pool_and_batch_from_the_config() -> None:
    cfg = load_config(
        None,
        ray={"gpu_type": "T4"},
        models={
            "upscaler": {
                "backend": "classical",
                "resources": {"T4": {"num_gpus": 0.25, "num_cpus": 2}, "cpu": {"num_cpus": 3}},
                "replicas": {"min": 2, "max": 5},
                "batch_size": 6,
            }
        },
    )
    kwargs = model_stage(cfg, "upscaler", width=640)
    pool = kwargs.pop("compute")
    assert (pool.min_size, pool.max_size) == (2, 5)
    assert kwargs == {
        "fn_constructor_kwargs": {"cfg": cfg, "key": "upscaler", "width": 640},
        "batch_size": 6,
        "num_gpus": 0.25,
        "num_cpus": 2,
        "accelerator_type": "T4",
    }
    assert model_stage(cfg, "upscaler", batch_size=1)["batch_size"] == 1


def test_model_stage_pool_has_one_actor_at_least_and_a_default_for_unlisted_models() -> None:
    upscaler = {"backend": "classical", "replicas": {"min": 0, "max": 1}}
    cfg = load_config(None, ray={"gpu_type": "cpu"}, models={"upscaler": upscaler})
    pool = model_stage(cfg, "upscaler")["compute"]
    assert (pool.min_size, pool.max_size) == (1, 1)
    stand_in = ModelConfig(backend="classical", batch_size=32)
    kwargs = model_stage(cfg, "scene_embedder", default=stand_in)
    assert (kwargs["batch_size"], kwargs["num_cpus"], kwargs["num_gpus"]) == (32, 1, 0)
    with pytest.raises(ConfigError, match="no model 'scene_embedder' in the config; configured: upscaler"):
        model_stage(cfg, "scene_embedder")


def test_fractional_actors_land_on_their_fake_gpu_type_nodes() -> None:
    """Head + a T4 node + an L4 node (logical GPUs): two 0.5-GPU T4 actors share the T4 node."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests/placement_check.py")], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["types"] == ["L4", "T4"]
    assert report["opts_t4"] == {"num_gpus": 0.5, "num_cpus": 0.5, "accelerator_type": "T4"}
    (n1, g1), (n2, g2), (n3, _) = report["placed"]
    assert n1 == n2 == report["t4_node"]
    assert g1 == g2, "two half-GPU actors share the one T4"
    assert n3 == report["l4_node"]
    assert report["absent_type_scheduled"] is False
    assert "asks for GPU types A100" in report["absent_type_refused"]
