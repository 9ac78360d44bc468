"""The Ray Data side of the model contract: a model class as a pool of actors over a dataset.

Serve's side is :class:`genmedia.serving.models.ModelServer`; both take the class through
:func:`genmedia.deployments.contract.check_model_class`.
"""

from __future__ import annotations

from typing import Any

import ray

from genmedia.config import Config, ModelConfig
from genmedia.deployments.contract import Model, check_model_class
from genmedia.runtime import model_stage


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


__all__ = ["map_model"]
