"""Run as a script by tests/test_edge_profile.py: the Serve app of configs/edge.yaml on a fake three-node cluster.

Head (1 CPU) + a central node (4 CPUs) + an edge node (4 CPUs, custom resource ``edge``). Every deployment of
the edge profile asks for a sliver of ``edge``, so it must land on the edge node. Prints one JSON object:
each node's id and the nodes every deployment's replicas landed on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ray
from ray import serve
from ray._private import state
from ray.cluster_utils import Cluster

from genmedia.config import load_config
from genmedia.serving.app import APP_NAME, build_app

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    """Start the cluster, run the edge app without HTTP traffic, report where replicas run."""
    port, workdir = int(sys.argv[1]), Path(sys.argv[2])
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    central = cluster.add_node(num_cpus=4)
    edge = cluster.add_node(num_cpus=4, resources={"edge": 100})
    ray.init(address=cluster.address, logging_level="ERROR")
    try:
        cfg = load_config(
            REPO / "configs" / "edge.yaml", storage={"root": str(workdir / "out"), "cache_dir": str(workdir / "cache")}
        )
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build_app(cfg, key_digests=["0" * 64]), name=APP_NAME, route_prefix="/")
        placed: dict[str, list[str]] = {}
        for actor in state.actors().values():
            name = actor.get("Name") or ""
            if actor.get("State") == "ALIVE" and name.startswith("SERVE_REPLICA::"):
                placed.setdefault(name.split("#")[1], []).append(actor["Address"]["NodeID"])
        print(
            json.dumps(
                {"head": cluster.head_node.node_id, "central": central.node_id, "edge": edge.node_id, "placed": placed}
            )
        )
    finally:
        serve.shutdown()
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main()
