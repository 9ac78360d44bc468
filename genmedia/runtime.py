"""Connect to Ray and turn a model's config entry into Ray resource options for the cluster's GPU type.

Resources come from the config entry and the cluster's accelerator types, nowhere else: the same
:func:`actor_options` feeds Ray Data's ``map_batches`` (through :func:`model_stage`) and Serve's
``ray_actor_options`` (docs/architecture.md, "Where resources are decided").
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import ray

from genmedia.config import CPU, Config, ModelConfig, Resources
from genmedia.errors import ConfigError, GenmediaError
from genmedia.scratch import sweep as sweep_scratch

ACCELERATOR_PREFIX = "accelerator_type:"


def init_ray(cfg: Config) -> None:
    """Start a local Ray (``ray.address: local``) or connect to a cluster; idempotent.

    Inside ``ray job submit`` (``RAY_ADDRESS`` set by Ray) the job's cluster is used whatever the config says.
    """
    if ray.is_initialized():
        return
    sweep_scratch(cfg.storage)  # start-up: scratch folders of killed runs on this host go
    _quiet_ray_console()
    address = cfg.ray.address
    # Ray's own logging (start-up notices, workers' output, core worker lines) goes to the session's log files
    # (/tmp/ray/session_*/logs); the console shows genmedia's progress, warnings and one-line result.
    kwargs: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address == "local" and not os.environ.get("RAY_ADDRESS"):
        ray.init(
            address="local",  # a new in-process Ray even when `ray start` clusters run on this machine
            num_cpus=cfg.ray.num_cpus or os.cpu_count() or 1,
            include_dashboard=False,
            configure_logging=True,
            **kwargs,
        )
    else:
        ray.init(address=None if address == "local" else address, **kwargs)


def _quiet_ray_console() -> None:
    """Ray Data logs to its file and shows only warnings on the console (genmedia's yaml), also when ``ray.data``
    was imported before this (it reads ``RAY_DATA_LOGGING_CONFIG`` once, at import)."""
    os.environ.setdefault("RAY_DATA_LOGGING_CONFIG", str(Path(__file__).parent / "assets" / "ray_data_logging.yaml"))
    if "ray.data" in sys.modules:
        from ray.data._internal.logging import configure_logging

        configure_logging()


def cluster_gpu_types() -> list[str]:
    """Accelerator types the connected cluster advertises (e.g. ``["L4", "T4"]``), sorted."""
    return sorted(k[len(ACCELERATOR_PREFIX) :] for k in ray.cluster_resources() if k.startswith(ACCELERATOR_PREFIX))


def actor_options(model: ModelConfig, gpu_types: list[str] | str | None, *, name: str = "model") -> dict[str, Any]:
    """Ray options for one actor/replica of ``model`` on a cluster offering ``gpu_types``.

    The first resource entry of the model (in config order) whose GPU type the cluster has wins and
    pins that type with ``accelerator_type``; with none of them, the ``cpu`` entry applies. A model
    that names only GPU types the cluster lacks is a ConfigError.
    """
    available = [gpu_types] if isinstance(gpu_types, str) else list(gpu_types or [])
    for gpu_type, res in model.resources.items():
        if gpu_type != CPU and gpu_type in available:
            opts: dict[str, Any] = {"num_gpus": res.num_gpus, "num_cpus": res.num_cpus, "accelerator_type": gpu_type}
            return _with_extras(opts, res)
    if CPU in model.resources:
        res = model.resources[CPU]
        return _with_extras({"num_gpus": 0, "num_cpus": res.num_cpus}, res)
    wanted = ", ".join(model.resources) or "none"
    offered = ", ".join(available) or "no GPUs"
    raise ConfigError(
        f"models.{name}: asks for GPU types {wanted}, the cluster offers {offered}, and it has no 'cpu' entry"
    )


def _with_extras(opts: dict[str, Any], res: Resources) -> dict[str, Any]:
    """Add the entry's memory request and custom resources (a node tier such as ``edge``) to ``opts``."""
    if res.memory_gb:
        opts["memory"] = int(res.memory_gb * 1024**3)
    if res.custom:
        opts["resources"] = dict(res.custom)
    return opts


def gpu_types_for(cfg: Config) -> list[str]:
    """The GPU types to resolve against: the config's ``ray.gpu_type`` or, when ``auto``, the cluster's."""
    if cfg.ray.gpu_type == "auto":
        return cluster_gpu_types() if ray.is_initialized() else []
    return [] if cfg.ray.gpu_type == CPU else [cfg.ray.gpu_type]


def model_options(cfg: Config, name: str) -> dict[str, Any]:
    """:func:`actor_options` of the config's model ``name`` for the connected cluster."""
    return actor_options(cfg.model(name), gpu_types_for(cfg), name=name)


def model_stage(
    cfg: Config,
    key: str,
    *,
    batch_size: int | None = None,
    default: ModelConfig | None = None,
    **constructor_kwargs: Any,
) -> dict[str, Any]:
    """``map_batches`` keyword arguments that run the model class for config key ``key`` as an actor pool.

    Resources come from :func:`actor_options` for the cluster's GPU types, the pool grows from
    ``replicas.min`` (at least one actor) to ``replicas.max``, and each call gets ``batch_size`` rows (the
    entry's unless the stage fixes its own). Every actor is built with ``cfg``, ``key`` and
    ``constructor_kwargs``. ``default`` stands in for an entry the config does not list (a weight-free
    backend); without it a missing entry is a ConfigError naming the configured models.
    """
    from ray.data import ActorPoolStrategy  # here, not at import: a CLI job without Ray Data stages skips it

    entry = default if key not in cfg.models and default is not None else cfg.model(key)
    return {
        "fn_constructor_kwargs": {"cfg": cfg, "key": key, **constructor_kwargs},
        "batch_size": entry.batch_size if batch_size is None else batch_size,
        "compute": ActorPoolStrategy(min_size=max(1, entry.replicas.min), max_size=entry.replicas.max),
        **actor_options(entry, gpu_types_for(cfg), name=key),
    }


def get_result(ref: ray.ObjectRef) -> Any:
    """``ray.get(ref)``; a :class:`GenmediaError` the remote code raised (unstaged weights, a bad input) is raised
    here as itself, with its one-line message, instead of wrapped in Ray's remote traceback."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        if isinstance(e.cause, GenmediaError):
            raise e.cause from None
        raise
