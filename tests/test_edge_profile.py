"""The edge profile (configs/edge.yaml): every deployment lands on nodes that offer the ``edge`` resource."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from serve_fixtures import free_port

from genmedia.config import load_config
from genmedia.runtime import actor_options
from genmedia.serving.app import INGRESS, ingress_options, served_models

REPO = Path(__file__).resolve().parent.parent
EDGE = REPO / "configs" / "edge.yaml"


@pytest.mark.unit
def test_every_edge_deployment_asks_for_the_edge_resource() -> None:
    cfg = load_config(EDGE)
    assert ingress_options(cfg)["ray_actor_options"]["resources"] == {"edge": 0.01}
    for key in cfg.models:
        assert actor_options(cfg.model(key), [], name=key)["resources"] == {"edge": 0.01}, key
    assert load_config(None).serve.ingress_resources == {}  # the local default pins nothing


@pytest.mark.unit
def test_a_custom_resource_must_be_positive() -> None:
    from genmedia.errors import ConfigError

    with pytest.raises(ConfigError, match=r"custom.edge: .*positive amount"):
        load_config(None, models={"m": {"backend": "x", "resources": {"cpu": {"custom": {"edge": 0}}}}})


@pytest.mark.ray
@pytest.mark.slow
def test_edge_deployments_land_only_on_edge_nodes(tmp_path: Path) -> None:
    """A head, a central and an edge node (ray.cluster_utils, in a subprocess); the app of configs/edge.yaml."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "tests" / "edge_placement_check.py"), str(free_port()), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith('{"head"')))
    assert set(report["placed"]) == {*served_models(load_config(EDGE)), INGRESS}
    for deployment, nodes in report["placed"].items():
        assert set(nodes) == {report["edge"]}, (deployment, nodes, report)
