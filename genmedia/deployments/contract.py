"""The model contract: what a class in ``genmedia.deployments`` is, for both runtimes.

A model class is named after its config key (``upscaler`` -> ``Upscaler``), is built with the config and
that key (``Model(cfg, key)``: cheap, weights resolved and loaded once per actor or replica, never on the
driver) and is called on a batch of numpy columns, returning a batch. Ray Data builds it per actor with
``map_batches(cls, **runtime.model_stage(cfg, key))``; Serve's :class:`genmedia.serving.models.ModelServer`
builds the same class per replica and gathers single requests into one batch (docs/architecture.md, "The
flow of a frame").
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from genmedia.config import Config

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


__all__ = ["Batch", "Model", "ModelClass"]
