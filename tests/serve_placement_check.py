"""Run as a script by tests/test_serve_build.py: genmedia's Serve app on a fake multi-node, multi-GPU-type cluster.

Head (CPU only) + a T4 node + an L4 node; the upscaler asks for half a T4, the interpolator for a quarter
of an L4. Prints one JSON object: each node's id and the node every replica landed on.
"""

from __future__ import annotations

import json
import sys

import ray
from ray import serve
from ray._private import state
from ray.cluster_utils import Cluster

from genmedia.config import Config, ModelConfig, Replicas, Resources
from genmedia.serving.app import APP_NAME, build_app


def main() -> None:
    """Start the cluster, run the app without HTTP traffic, report where replicas run."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    t4 = cluster.add_node(num_cpus=2, num_gpus=1, resources={"accelerator_type:T4": 1})
    l4 = cluster.add_node(num_cpus=2, num_gpus=1, resources={"accelerator_type:L4": 1})
    ray.init(address=cluster.address, logging_level="ERROR")
    try:
        models = {
            "upscaler": ModelConfig(
                backend="classical",
                resources={"L40S": Resources(num_gpus=0.5), "T4": Resources(num_gpus=0.5, num_cpus=0.5)},
                replicas=Replicas(min=2, max=2),
                batch_size=2,
            ),
            "interpolator": ModelConfig(
                backend="optical-flow",
                resources={"L4": Resources(num_gpus=0.25, num_cpus=0.5), "cpu": Resources()},
                replicas=Replicas(min=1, max=1),
            ),
        }
        cfg = Config(models=models, ray={"gpu_type": "auto"})
        serve.start(http_options={"host": "127.0.0.1", "port": int(sys.argv[1])})
        serve.run(build_app(cfg, key_digests=["0" * 64]), name=APP_NAME, route_prefix="/")
        placed: dict[str, list[str]] = {}
        for actor in state.actors().values():
            name = actor.get("Name") or ""
            if actor.get("State") == "ALIVE" and name.startswith("SERVE_REPLICA::"):
                deployment = name.split("#")[1]
                placed.setdefault(deployment, []).append(actor["Address"]["NodeID"])
        print(json.dumps({"head": cluster.head_node.node_id, "t4": t4.node_id, "l4": l4.node_id, "placed": placed}))
    finally:
        serve.shutdown()
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main()
