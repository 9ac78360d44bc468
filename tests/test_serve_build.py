"""The Serve application as configured: `genmedia serve build` output, the RayService example, placement on GPU types."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema
from serve_fixtures import free_port
from typer.testing import CliRunner

from genmedia.cli import app
from genmedia.config import load_config
from genmedia.serving.models import deployment_target

pytestmark = [pytest.mark.ray, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
AWS = REPO / "configs" / "aws-gpu.yaml"


def _build(*args: str) -> dict:
    result = CliRunner().invoke(app, ["serve", "build", "--config", str(AWS), *args])
    assert result.exit_code == 0, result.output
    return yaml.safe_load(result.stdout)


def test_serve_build_writes_a_valid_serve_config_with_resolved_options() -> None:
    doc = _build()
    ServeDeploySchema.model_validate(doc)
    (application,) = doc["applications"]
    assert application["import_path"] == "genmedia.serving.app:app_builder"
    assert application["args"] == {"config": str(AWS)}
    assert doc["http_options"]["request_timeout_s"] == 300
    cfg = load_config(AWS)
    deployments = {d["name"]: d for d in application["deployments"]}
    assert deployments["Ingress"]["max_queued_requests"] == cfg.serve.max_queued_requests
    served = [key for key in cfg.models if deployment_target(key)]
    assert served and set(deployments) == {"Ingress", *served}
    # Written by hand from configs/aws-gpu.yaml: with every type the config names, each model's first entry.
    assert deployments["transcriber"]["ray_actor_options"] == {"num_gpus": 0.5, "num_cpus": 2, "accelerator_type": "T4"}
    for key in served:
        d, model = deployments[key], cfg.model(key)
        gpu_type = next((t for t in model.resources if t != "cpu"), "cpu")  # every type is offered: the first wins
        res = model.resources[gpu_type]
        expected = {"num_gpus": res.num_gpus, "num_cpus": res.num_cpus}
        expected |= {"accelerator_type": gpu_type} if gpu_type != "cpu" else {}
        expected |= {"memory": int(res.memory_gb * 1024**3)} if res.memory_gb else {}
        assert d["ray_actor_options"] == expected, key
        assert d["max_queued_requests"] == cfg.serve.max_queued_requests and d["health_check_period_s"] > 0
        assert d["autoscaling_config"] == {
            "min_replicas": model.replicas.min,
            "max_replicas": model.replicas.max,
            "target_ongoing_requests": model.batch_size,
        }
    if "upscaler" in deployments:  # A40 is listed first but AWS has none: the L40S entry applies there
        aws = {d["name"]: d for d in _build("--gpu-types", "L4,A10G,T4,L40S")["applications"][0]["deployments"]}
        assert aws["upscaler"]["ray_actor_options"]["accelerator_type"] == "L40S"


def test_serve_build_honours_the_clusters_gpu_types(tmp_path: Path) -> None:
    out = tmp_path / "serve.yaml"
    result = CliRunner().invoke(
        app, ["serve", "build", "--config", str(AWS), "--gpu-types", "L4,A10G,T4,L40S", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    deployments = {d["name"]: d for d in yaml.safe_load(out.read_text())["applications"][0]["deployments"]}
    for key, d in deployments.items():
        if key != "Ingress":
            assert d["ray_actor_options"]["accelerator_type"] in ("L4", "A10G", "T4", "L40S"), (key, d)
    # A cluster that cannot place a GPU-only model is refused, naming the model.
    refused = CliRunner().invoke(app, ["serve", "build", "--config", str(AWS), "--gpu-types", "T4"])
    assert refused.exit_code != 0 and "asks for GPU types" in str(refused.exception)


def test_rayservice_example_matches_serve_build() -> None:
    service = yaml.safe_load((REPO / "configs" / "rayservice.yaml").read_text())
    assert service["kind"] == "RayService"
    example = yaml.safe_load(service["spec"]["serveConfigV2"])
    ServeDeploySchema.model_validate(example)
    built = _build("--config-path", "/home/ray/genmedia/configs/aws-gpu.yaml")
    assert {k: v for k, v in example.items() if k != "applications"} == {
        k: v for k, v in built.items() if k != "applications"
    }
    ex_app, built_app = example["applications"][0], built["applications"][0]
    assert {k: v for k, v in ex_app.items() if k != "deployments"} == {
        k: v for k, v in built_app.items() if k != "deployments"
    }
    built_deployments = {d["name"]: d for d in built_app["deployments"]}
    for d in ex_app["deployments"]:
        assert d == built_deployments[d["name"]], d["name"]
    groups = {g["groupName"]: g for g in service["spec"]["rayClusterConfig"]["workerGroupSpecs"]}
    offered = {
        json.loads(json.loads(g["rayStartParams"]["resources"])).popitem()[0].split(":")[1] for g in groups.values()
    }
    cfg = load_config(AWS)
    for key in cfg.models:  # every model can resolve to a GPU type some worker group offers
        assert offered & set(cfg.model(key).resources) or "cpu" in cfg.model(key).resources, key


def test_serve_refuses_to_start_without_api_keys(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GENMEDIA_API_KEYS"}
    proc = subprocess.run(
        [sys.executable, "-m", "genmedia.cli", "serve", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "no API keys" in proc.stderr and "GENMEDIA_API_KEYS" in proc.stderr and "Traceback" not in proc.stderr


def test_deployments_land_on_the_intended_gpu_types() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "tests" / "serve_placement_check.py"), str(free_port())],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith('{"head"')))
    assert report["placed"]["upscaler"] == [report["t4"], report["t4"]]  # two half-T4 replicas share the T4 node
    assert report["placed"]["interpolator"] == [report["l4"]]


def test_demo_hint_starts_the_server_and_submits_the_clip() -> None:
    from genmedia.serving.cli import curl_hint

    hint = curl_hint(Path("/tmp/genmedia-out/sample/sample.mp4"), 8123)
    assert "GENMEDIA_API_KEYS=devkey genmedia serve --port 8123" in hint
    assert (
        "--data-binary @/tmp/genmedia-out/sample/sample.mp4 'http://127.0.0.1:8123/v1/uploads?name=sample.mp4'" in hint
    )
    assert '\\"job\\": \\"analyze\\"' in hint and "http://127.0.0.1:8123/v1/jobs" in hint
    assert hint.count('-H "Authorization: Bearer devkey"') == 3


def test_ingress_replicas_autoscale_between_the_config_bounds() -> None:
    from genmedia.serving.app import ingress_options

    fixed = ingress_options(load_config(None))
    assert fixed["num_replicas"] == 1 and "autoscaling_config" not in fixed
    scaled = ingress_options(
        load_config(None, serve={"ingress_replicas": {"min": 2, "max": 6}, "max_ongoing_requests": 40})
    )
    assert "num_replicas" not in scaled
    assert scaled["autoscaling_config"] == {"min_replicas": 2, "max_replicas": 6, "target_ongoing_requests": 20}
