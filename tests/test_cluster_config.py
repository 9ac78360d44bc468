"""cluster.yaml and configs/aws-gpu.yaml agree on accelerator types."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from genmedia.config import CPU, load_config
from genmedia.runtime import ACCELERATOR_PREFIX

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]

# The NVIDIA part in each AWS instance family the cluster uses.
AWS_FAMILY_GPU = {"g4dn": "T4", "g5": "A10G", "g6": "L4", "g6e": "L40S", "p4d": "A100", "p5": "H100"}


def _advertised() -> dict[str, str]:
    cluster = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    types = {}
    for node in cluster["available_node_types"].values():
        for resource in node.get("resources", {}):
            if resource.startswith(ACCELERATOR_PREFIX):
                types[resource[len(ACCELERATOR_PREFIX) :]] = node["node_config"]["InstanceType"]
    return types


def test_cluster_advertises_the_gpu_its_instances_have() -> None:
    advertised = _advertised()
    assert advertised, "cluster.yaml advertises no accelerator types"
    for gpu, instance in advertised.items():
        assert AWS_FAMILY_GPU[instance.split(".")[0]] == gpu, f"{instance} does not carry a {gpu}"


def test_every_model_of_the_production_config_can_be_placed_on_the_cluster() -> None:
    advertised = set(_advertised())
    cfg = load_config(ROOT / "configs/aws-gpu.yaml")
    for name, model in cfg.models.items():
        gpu_types = set(model.resources) - {CPU}
        assert gpu_types & advertised, (
            f"models.{name} asks for {sorted(gpu_types)}; cluster.yaml has {sorted(advertised)}"
        )


def test_every_advertised_type_is_used_by_the_config() -> None:
    cfg = load_config(ROOT / "configs/aws-gpu.yaml")
    assert set(_advertised()) <= cfg.gpu_types()
