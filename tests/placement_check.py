"""Run as a script by tests/test_runtime.py: a fake multi-node, multi-GPU-type Ray cluster on this machine.

Ray resources are logical, so nodes that advertise GPUs and ``accelerator_type:<T>`` need no GPU.
Prints one JSON object with where each actor landed.
"""

from __future__ import annotations

import json
import sys

import ray
from ray.cluster_utils import Cluster

from genmedia.config import ModelConfig, Resources
from genmedia.runtime import actor_options, cluster_gpu_types


@ray.remote
class Probe:
    """An actor that reports the node it runs on and the GPU ids Ray gave it."""

    def where(self) -> tuple[str, list[str]]:
        ctx = ray.get_runtime_context()
        return ctx.get_node_id(), [str(g) for g in ray.get_gpu_ids()]


def main() -> None:
    """Start head + a T4 node + an L4 node, place actors from genmedia's options, report placement."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    t4 = cluster.add_node(num_cpus=2, num_gpus=1, resources={"accelerator_type:T4": 1})
    l4 = cluster.add_node(num_cpus=2, num_gpus=1, resources={"accelerator_type:L4": 1})
    ray.init(address=cluster.address, logging_level="ERROR")
    try:
        types = cluster_gpu_types()
        half_t4 = ModelConfig(backend="x", resources={"T4": Resources(num_gpus=0.5, num_cpus=0.5), "cpu": Resources()})
        quarter_l4 = ModelConfig(
            backend="x", resources={"A10G": Resources(num_gpus=0.5), "L4": Resources(num_gpus=0.25, num_cpus=0.5)}
        )
        a100_only = ModelConfig(backend="x", resources={"A100": Resources(num_gpus=1)})
        opts_t4 = actor_options(half_t4, types)
        opts_l4 = actor_options(quarter_l4, types)
        t4_actors = [Probe.options(**opts_t4).remote() for _ in range(2)]
        l4_actor = Probe.options(**opts_l4).remote()
        placed = ray.get([a.where.remote() for a in t4_actors + [l4_actor]], timeout=60)
        # An absent type: pin it by hand (actor_options refuses it) and check it never schedules.
        stuck = Probe.options(num_gpus=1, num_cpus=0, accelerator_type="A100").remote()
        ready, _ = ray.wait([stuck.where.remote()], timeout=3)
        try:
            actor_options(a100_only, types)
            refused = False
        except Exception as e:  # noqa: BLE001 - reported to the test
            refused = str(e)
        print(
            json.dumps(
                {
                    "types": types,
                    "t4_node": t4.node_id,
                    "l4_node": l4.node_id,
                    "opts_t4": opts_t4,
                    "opts_l4": opts_l4,
                    "placed": placed,
                    "absent_type_scheduled": bool(ready),
                    "absent_type_refused": refused,
                }
            )
        )
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main()
    sys.exit(0)
