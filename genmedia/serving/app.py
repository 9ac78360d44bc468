"""The Ray Serve application, built from the config: a FastAPI ingress plus one deployment per model.

Each model deployment gets ``ray_actor_options`` from :func:`genmedia.runtime.actor_options` (fractional
``num_gpus`` + ``accelerator_type`` for the cluster's GPU types, or the ``cpu`` entry), autoscaling bounds
from ``replicas``, ``max_ongoing_requests`` / ``max_queued_requests`` (overload answers 503 at once instead
of queueing forever) and health checks. :func:`serve_config` writes the same thing as a Serve config that
``serve run`` / ``serve deploy`` and KubeRay's RayService accept (its ``import_path`` is :func:`app_builder`).
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

from ray import serve
from ray.serve import Application

from genmedia.config import Config, load_config
from genmedia.runtime import actor_options, gpu_types_for, init_ray
from genmedia.security import api_key_digests
from genmedia.serving.ingress import Ingress
from genmedia.serving.models import ModelServer, deployment_target

APP_NAME = "genmedia"
INGRESS = "Ingress"
INGRESS_CPUS = 0
"""The ingress only routes requests and streams uploads: it reserves no core, so models can never starve it."""

log = logging.getLogger(__name__)


def served_models(cfg: Config) -> dict[str, str]:
    """Config model key -> ``module:Class`` of its deployment, for every model whose class is in this build."""
    targets = {}
    for key in cfg.models:
        if target := deployment_target(key):
            targets[key] = target
        else:
            log.warning(
                "model %s has no deployment class in this build (genmedia.deployments.%s); not served", key, key
            )
    return targets


def _common_options(cfg: Config) -> dict[str, Any]:
    return {
        "max_queued_requests": cfg.serve.max_queued_requests,
        "health_check_period_s": cfg.serve.health_check_period_s,
        "health_check_timeout_s": cfg.serve.health_check_timeout_s,
    }


def model_deployment_options(cfg: Config, key: str, gpu_types: list[str]) -> dict[str, Any]:
    """Serve deployment options for model ``key`` on a cluster offering ``gpu_types``."""
    model = cfg.model(key)
    opts: dict[str, Any] = {
        "name": key,
        "ray_actor_options": actor_options(model, gpu_types, name=key),
        # Two batches' worth in flight: one running, one gathering.
        "max_ongoing_requests": 2 * model.batch_size,
        **_common_options(cfg),
    }
    if model.replicas.min == model.replicas.max:
        opts["num_replicas"] = model.replicas.min
    else:
        opts["autoscaling_config"] = {
            "min_replicas": model.replicas.min,
            "max_replicas": model.replicas.max,
            "target_ongoing_requests": model.batch_size,
        }
    return opts


def ingress_options(cfg: Config) -> dict[str, Any]:
    """Serve deployment options of the ingress: replicas between ``serve.ingress_replicas``' bounds, scaled on
    requests in flight (half of ``serve.max_ongoing_requests`` per replica as the target)."""
    bounds = cfg.serve.ingress_replicas
    opts: dict[str, Any] = {
        "name": INGRESS,
        "ray_actor_options": {"num_cpus": INGRESS_CPUS}
        | ({"resources": dict(cfg.serve.ingress_resources)} if cfg.serve.ingress_resources else {}),
        "max_ongoing_requests": cfg.serve.max_ongoing_requests,
        **_common_options(cfg),
    }
    if bounds.min == bounds.max:
        opts["num_replicas"] = bounds.min
    else:
        opts["autoscaling_config"] = {
            "min_replicas": bounds.min,
            "max_replicas": bounds.max,
            "target_ongoing_requests": max(1, cfg.serve.max_ongoing_requests // 2),
        }
    return opts


def build_app(
    cfg: Config,
    *,
    gpu_types: list[str] | None = None,
    key_digests: list[str] | None = None,
    targets: dict[str, str] | None = None,
) -> Application:
    """The Serve application for ``cfg``.

    ``gpu_types`` defaults to the connected cluster's (or ``ray.gpu_type``); ``key_digests`` to the digests of
    the configured API keys (a ConfigError when there are none); ``targets`` (model key -> ``module:Class``)
    to every configured model whose deployment class is in this build.
    """
    gpu_types = gpu_types_for(cfg) if gpu_types is None else gpu_types
    digests = key_digests if key_digests is not None else api_key_digests(cfg)
    targets = served_models(cfg) if targets is None else targets
    models = {
        key: serve.deployment(ModelServer)
        .options(**model_deployment_options(cfg, key, gpu_types))
        .bind(cfg, key, target)
        for key, target in targets.items()
    }
    return serve.deployment(Ingress).options(**ingress_options(cfg)).bind(cfg, digests, models)


def app_builder(args: dict[str, Any]) -> Application:
    """The ``import_path`` of the generated Serve config: ``args: {config: PATH}`` (else ``$GENMEDIA_CONFIG``)."""
    return build_app(load_config(args.get("config")))


def serve_config(cfg: Config, config_path: str, *, gpu_types: list[str], host: str, port: int) -> dict[str, Any]:
    """A Serve config (the schema ``serve run`` / ``serve deploy`` / RayService read) for ``cfg``.

    ``config_path`` is where the config file will be on the cluster; deployment options are resolved for
    ``gpu_types``.
    """
    deployments = [ingress_options(cfg)]
    deployments += [model_deployment_options(cfg, key, gpu_types) for key in served_models(cfg)]
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": host, "port": port, "request_timeout_s": cfg.serve.request_timeout_s},
        "applications": [
            {
                "name": APP_NAME,
                "route_prefix": "/",
                "import_path": "genmedia.serving.app:app_builder",
                "args": {"config": config_path},
                "deployments": deployments,
            }
        ],
    }


def local_serving_config(cfg: Config) -> Config:
    """``cfg`` with a local Ray sized for serving: the cores, plus the CPUs the model replicas reserve.

    A model replica holds its CPUs while it waits for requests; on a small machine the default transcriber
    alone (2 CPUs) would leave nothing for the jobs' pipelines. Ray's CPUs are logical, so a local server
    counts the replicas' reservation on top of the real cores. Clusters and explicit ``ray.num_cpus`` are unchanged.
    """
    if cfg.ray.address != "local" or cfg.ray.num_cpus:
        return cfg
    reserved = sum(
        actor_options(cfg.model(key), [], name=key).get("num_cpus", 1) * cfg.model(key).replicas.min
        for key in served_models(cfg)
    )
    cores = os.cpu_count() or 1
    return cfg.model_copy(update={"ray": cfg.ray.model_copy(update={"num_cpus": cores + math.ceil(reserved)})})


SERVE_ENV = {
    # Ray starts worker processes at niceness 15, Serve's HTTP proxy and the ingress replica among them: any
    # process of normal priority on the node (a load generator, a CLI job, another service) took the CPU first.
    "RAY_worker_niceness": "0",
    # Serve's per-request work: access-log lines buffered instead of flushed one by one and not copied to stderr,
    # user code on the replica's own event loop (no thread hop per request). Not RAY_SERVE_PROXY_USE_GRPC: with it
    # a run at 300 connections refused nothing (every request waited, up to 4.5 s) instead of answering 503.
    "RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE": "1000",
    "RAY_SERVE_LOG_TO_STDERR": "0",
    "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0",
}
"""Environment of the local Ray that :func:`start` starts (a variable already set wins); on a cluster, export it
where ``ray start`` runs. Measured with ``benchmarks/serve_load.py``: ``/healthz`` p99 at 50 connections 900 ->
364 ms (niceness) -> 199 ms (all), refusals at 300 connections p99 4.2 -> 3.0 s (docs/serving.md)."""


def start(cfg: Config, *, host: str, port: int, blocking: bool = True) -> None:
    """Start Serve's HTTP proxy on ``host:port`` and run the application (blocking until interrupted)."""
    digests = api_key_digests(cfg)  # fail before starting anything when no key is configured
    for name, value in SERVE_ENV.items():
        os.environ.setdefault(name, value)
    init_ray(local_serving_config(cfg))
    serve.start(
        http_options={"host": host, "port": port, "request_timeout_s": cfg.serve.request_timeout_s},
        proxy_location="HeadOnly",
    )
    serve.run(build_app(cfg, key_digests=digests), name=APP_NAME, route_prefix="/", blocking=blocking)
