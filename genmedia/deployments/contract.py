"""The model contract: what a class in ``genmedia.deployments`` is, for both runtimes.

A model class is named after its config key (``upscaler`` -> ``Upscaler``), is built with the config and
that key (``Model(cfg, key)``: cheap, weights resolved and loaded once per actor or replica, never on the
driver) and is called on a batch of numpy columns, returning a batch. Ray Data builds it per actor
(:func:`genmedia.pipelines.models.map_model`, resources from ``runtime.model_stage``); Serve's
:class:`genmedia.serving.models.ModelServer` builds the same class per replica and gathers single requests
into one batch (docs/architecture.md, "The flow of a frame"). Both take the class through
:func:`check_model_class`, the one place the contract is checked.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol, cast, runtime_checkable

import numpy as np

from genmedia.config import Config
from genmedia.errors import ConfigError

Batch = dict[str, np.ndarray]
"""Columns of equal length: one numpy array (or object array) per name."""


@runtime_checkable
class Model(Protocol):
    """A loaded model: one call per batch."""

    def __call__(self, batch: Batch) -> Batch:
        """The outputs for every row of ``batch``, as columns of the same length."""
        ...


class ModelClass(Protocol):
    """A model class: ``cls(cfg, key)`` loads the model that ``cfg.models[key]`` describes."""

    def __call__(self, cfg: Config, key: str, /) -> Model:
        """Build the model."""
        ...


def check_model_class(cls: Any, **constructor_kwargs: Any) -> ModelClass:
    """``cls`` when it keeps the contract: a class built as ``cls(cfg, key, **constructor_kwargs)`` whose
    instances are called with one batch; else a ConfigError naming the class and what it lacks."""
    name = getattr(cls, "__qualname__", repr(cls))
    if not isinstance(cls, type):
        raise ConfigError(f"{name}: a model is a class (built once per actor or replica), not a {type(cls).__name__}")
    try:
        inspect.signature(cls).bind(None, "key", **constructor_kwargs)
    except TypeError as e:
        extra = "".join(f", {k}=" for k in constructor_kwargs)
        raise ConfigError(f"{name}: its constructor does not take (cfg, key{extra}): {e}") from None
    # ray.remote(cls) wraps the class's own methods in place with a keyword-only tracing hook: not a parameter
    call = [p for p in inspect.signature(cls.__call__).parameters if p != "_ray_trace_ctx"]
    if call != ["self", "batch"]:
        raise ConfigError(f"{name}: __call__ takes ({', '.join(call)}), the contract is (self, batch)")
    return cast(ModelClass, cls)


__all__ = ["Batch", "Model", "ModelClass", "check_model_class"]
