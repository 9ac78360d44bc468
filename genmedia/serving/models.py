"""Model deployments: the same classes the Ray Data pipelines use, served with request batching.

Each model key of the config (``transcriber``, ``translator``, ...) maps by convention to the class
``genmedia.deployments.<key>.<CamelKey>``, which keeps the model contract
(:class:`genmedia.deployments.contract.ModelClass`: built with ``(cfg, key)``, called on a batch).
:class:`ModelServer` loads one such model per replica and answers single requests (one row: column ->
value) by gathering concurrent rows into one batch with ``@serve.batch`` and calling the model once.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import importlib.util
import time
from typing import Any

import numpy as np
from ray import serve

from genmedia.config import Config
from genmedia.deployments.contract import Model, ModelClass, check_model_class


def deployment_target(key: str) -> str | None:
    """``module:Class`` of the model class for config key ``key``, or None when this build lacks it."""
    module = f"genmedia.deployments.{key}"
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        return None
    return f"{module}:{''.join(part.capitalize() for part in key.split('_'))}"


def import_target(target: str) -> ModelClass:
    """The model class named by ``module:Class``, checked against the model contract (a ConfigError if it breaks it)."""
    module, _, name = target.partition(":")
    return check_model_class(getattr(importlib.import_module(module), name))


def encode_value(value: Any) -> Any:
    """A model output value as JSON: arrays become ``{"dtype", "shape", "base64"}``, numpy scalars plain numbers."""
    if isinstance(value, np.ndarray) and value.dtype != object:
        return {
            "dtype": value.dtype.str,
            "shape": list(value.shape),
            "base64": base64.b64encode(value.tobytes()).decode("ascii"),
        }
    if isinstance(value, np.ndarray):
        return [encode_value(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def decode_value(value: Any) -> Any:
    """The inverse of :func:`encode_value` for request inputs (other JSON values pass through)."""
    if isinstance(value, dict) and set(value) == {"dtype", "shape", "base64"}:
        dtype = np.dtype(value["dtype"])
        if dtype.hasobject:
            raise ValueError("object arrays are not accepted")
        data = base64.b64decode(value["base64"], validate=True)
        return np.frombuffer(data, dtype=dtype).reshape(value["shape"]).copy()
    return value


def rows_to_batch(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Rows with the same columns -> one batch of column arrays (object arrays when shapes differ)."""
    columns = list(rows[0])
    if any(list(r) != columns for r in rows):
        # Requests with different columns cannot share one model call; callers send one kind per model.
        raise ValueError("rows in one batch must have the same columns")
    batch: dict[str, np.ndarray] = {}
    for col in columns:
        values = [r[col] for r in rows]
        try:
            batch[col] = np.stack([np.asarray(v) for v in values])
        except ValueError:
            arr = np.empty(len(values), dtype=object)
            arr[:] = values
            batch[col] = arr
    return batch


def batch_to_rows(batch: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """The inverse of :func:`rows_to_batch`: ``n`` rows (arrays stay arrays; see :func:`encode_value`)."""
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for col, values in batch.items():
        if len(values) != n:
            raise ValueError(f"model returned {len(values)} values in column {col!r} for {n} requests")
        for row, value in zip(rows, values):
            row[col] = value
    return rows


class ModelServer:
    """One replica of a model deployment: loads the model once, batches concurrent requests into one call."""

    def __init__(self, cfg: Config, key: str, target: str) -> None:
        """Load model ``key`` of ``cfg`` from the class ``target`` (``module:Class``); weights resolve here, on the replica."""
        self.key = key
        self.model: Model = import_target(target)(cfg, key)
        self.infer.set_max_batch_size(cfg.model(key).batch_size)
        self.loaded_at = time.time()
        self.requests = 0
        self.batches = 0

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.01)
    async def infer(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Answer single requests, batched: each row is one request's inputs, each result one request's outputs."""
        batch = rows_to_batch(rows)
        self.requests += len(rows)
        self.batches += 1
        # The model call blocks; a thread keeps this replica's event loop free for health checks.
        out = await asyncio.to_thread(self.model, batch)
        return batch_to_rows(out, len(rows))

    def stats(self) -> dict[str, Any]:
        """What this replica answered: requests, the batches they were gathered into, its replica id."""
        replica = serve.get_replica_context().replica_id.unique_id
        return {"replica": replica, "requests": self.requests, "batches": self.batches, "loaded_at": self.loaded_at}

    def check_health(self) -> None:
        """Serve's health check: the model object must still be there."""
        if self.model is None:
            raise RuntimeError(f"model {self.key} is not loaded")
