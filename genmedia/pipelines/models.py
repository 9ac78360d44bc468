"""Where a job's models live: a model class as a pool of Ray Data actors over a dataset, or the Serve app's
running deployment of that model.

Serve's side is :class:`genmedia.serving.models.ModelServer`; both take the class through
:func:`genmedia.deployments.contract.check_model_class`. A job the Serve app runs is started inside
:func:`models_served_by` with the app's deployments (:class:`ServedModels`); a stage then asks
:func:`served_model` for its model key and, when the app serves it (and ``jobs.use_served_models``), calls the
shared replicas instead of loading its own copy. Everywhere else (CLI, ``ray job submit`` backfills, the SDK's
local mode) :func:`served_model` answers None and the stage keeps its actor pool.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import ray

from genmedia.config import Config, ModelConfig
from genmedia.deployments.contract import Model, check_model_class
from genmedia.errors import ServiceUnavailable
from genmedia.runtime import actor_options, gpu_types_for, model_stage


def map_model(
    ds: ray.data.Dataset,
    cls: type[Model],
    cfg: Config,
    key: str,
    *,
    batch_size: int | None = None,
    default: ModelConfig | None = None,
    **constructor_kwargs: Any,
) -> ray.data.Dataset:
    """``ds`` mapped by model class ``cls`` for config key ``key``: actors built as ``cls(cfg, key,
    **constructor_kwargs)`` with the resources, pool size and batch size of :func:`genmedia.runtime.model_stage`
    (``batch_size`` and ``default`` as there). A class that breaks the contract is a ConfigError here, before
    any actor starts."""
    model = check_model_class(cls, **constructor_kwargs)
    kwargs = model_stage(cfg, key, batch_size=batch_size, default=default, **constructor_kwargs)
    return ds.map_batches(model, **kwargs)


def one_actor_pool(cfg: Config, key: str) -> bool:
    """Whether the config's actor pool for model ``key`` is a single actor (``replicas.max`` 1)."""
    return cfg.model(key).replicas.max <= 1


def single_actor(
    cls: type[Model], cfg: Config, key: str, *, default: ModelConfig | None = None, **constructor_kwargs: Any
) -> ray.actor.ActorHandle | None:
    """One Ray actor of model class ``cls`` built as ``cls(cfg, key, **constructor_kwargs)`` with the resources of
    :func:`genmedia.runtime.actor_options`, when the config's pool for ``key`` is one actor (``replicas.max`` 1);
    None for a larger pool (the stage keeps :func:`map_model`'s Ray Data pool). ``default`` stands in for an entry
    the config does not list, as in :func:`map_model`.

    A stage whose rows all go through that one actor anyway can call it directly and skip Ray Data's start-up
    in a fresh process: its stats, autoscaling and actor-location actors, each a worker process importing
    Ray Data, before the first row. The caller ends the actor (``ray.kill``) when its rows are done."""
    entry = default if key not in cfg.models and default is not None else cfg.model(key)
    if entry.replicas.max > 1:
        return None
    model = check_model_class(cls, **constructor_kwargs)
    options = actor_options(entry, gpu_types_for(cfg), name=key)
    return ray.remote(model).options(**options).remote(cfg, key, **constructor_kwargs)


@dataclass(frozen=True)
class ServedModels:
    """The model deployments of a running Serve app: its name and model key -> deployment name."""

    app: str
    deployments: Mapping[str, str] = field(default_factory=dict)


BACKPRESSURE_WAIT_S = 300.0
"""How long a job keeps sending a request again that a full deployment refused before it fails."""

_served: ContextVar[ServedModels | None] = ContextVar("genmedia_served_models", default=None)
_handles_made = [False]
"""Whether this process got a deployment handle (see :func:`holds_serve_handles`)."""


@contextmanager
def models_served_by(served: ServedModels | None) -> Iterator[None]:
    """Run the block (one job) with ``served``'s deployments available to :func:`served_model` (None: none)."""
    token = _served.set(served)
    try:
        yield
    finally:
        _served.reset(token)


class ServedModel:
    """A running deployment of model ``key``, called one request (row) at a time; the deployment gathers
    concurrent requests, from this job and others, into batches (``@serve.batch``)."""

    def __init__(self, app: str, deployment: str) -> None:
        """Get the handle of ``deployment`` in Serve app ``app`` (any process attached to the cluster may)."""
        from ray import serve

        self.name = f"serve:{app}/{deployment}"
        self._handle = serve.get_deployment_handle(deployment, app)
        _handles_made[0] = True

    def call(self, row: dict[str, Any]) -> dict[str, Any]:
        """The model's outputs for one row of its input columns (blocks until the replica answers)."""
        return self._result(row, self._handle.infer.remote(row))

    def map(self, rows: Iterable[dict[str, Any]], in_flight: int) -> Iterator[dict[str, Any]]:
        """Each row's outputs, in the rows' order, with up to ``in_flight`` requests outstanding at once (so the
        deployment gathers them into batches, with other jobs' requests)."""
        pending: deque[tuple[dict[str, Any], Any]] = deque()
        for row in rows:
            pending.append((row, self._handle.infer.remote(row)))
            if len(pending) >= max(1, in_flight):
                yield self._result(*pending.popleft())
        while pending:
            yield self._result(*pending.popleft())

    def _result(self, row: dict[str, Any], response: Any) -> dict[str, Any]:
        """``response``'s outputs; a request the deployment refused because its queues were full (other jobs' and
        HTTP callers' requests) is sent again after a growing pause, for up to ``BACKPRESSURE_WAIT_S``."""
        from ray.serve.exceptions import BackPressureError

        deadline, pause = time.monotonic() + BACKPRESSURE_WAIT_S, 0.05
        while True:
            try:
                return response.result()
            except BackPressureError:
                if time.monotonic() >= deadline:
                    raise ServiceUnavailable(
                        f"model deployment {self.name} stayed at capacity for {BACKPRESSURE_WAIT_S:g} s; "
                        "retry the job later or raise the model's replicas.max"
                    ) from None
                time.sleep(pause)
                pause = min(1.0, pause * 2)
                response = self._handle.infer.remote(row)


def holds_serve_handles() -> bool:
    """Whether this process called a deployment: its Serve router then keeps calls to the Serve controller in
    flight for good, which stops Ray from ending the worker after its task (``max_calls``); see
    ``genmedia.jobs.runner``."""
    return _handles_made[0]


def served_model(cfg: Config, key: str) -> ServedModel | None:
    """The Serve app's deployment of model ``key`` when this job runs under an app that serves it and
    ``jobs.use_served_models`` is on; else None (the caller builds its own actor pool)."""
    served = _served.get()
    if served is None or not cfg.jobs.use_served_models or key not in served.deployments:
        return None
    return ServedModel(served.app, served.deployments[key])


__all__ = [
    "ServedModel",
    "ServedModels",
    "holds_serve_handles",
    "map_model",
    "models_served_by",
    "one_actor_pool",
    "served_model",
    "single_actor",
]
