"""Lineage: exactly which model versions and files a job uses, decided on the driver before any work.

:func:`identify` pins every ``mlflow://`` alias among a job's models to the version it points at now,
stages (or re-verifies) each model's weights, and describes them as :class:`~genmedia.schemas.ModelUse`.
The job hands the pinned config to its workers, so remote actors load exactly the versions recorded in
the manifest without reporting back, and an alias moved mid-job cannot mix two versions in one output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from genmedia.config import Config
from genmedia.models import mlflow_source, registry
from genmedia.schemas import ModelUse


def content_digest(digests: Mapping[str, str]) -> str:
    """One sha256 for a set of files: over their sorted ``path sha256`` lines."""
    lines = "".join(f"{name} {digest}\n" for name, digest in sorted(digests.items()))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def identify(cfg: Config, keys: Iterable[str]) -> tuple[Config, list[ModelUse]]:
    """``(pinned config, what each model is)`` for the model keys a job uses, in order, each once.

    Weights are resolved here (staged on first use where the registry does that), so a model that cannot be
    loaded fails the job before any work, with the registry's one-line message.
    """
    uses = []
    for key in dict.fromkeys(keys):
        entry = cfg.model(key)
        if not entry.model:
            uses.append(ModelUse(key=key, backend=entry.backend))
            continue
        cfg = mlflow_source.pin(cfg, key)
        pinned = cfg.models[key]
        ref = (
            mlflow_source.parse_ref(str(pinned.source)) if str(pinned.source).startswith(mlflow_source.SCHEME) else None
        )
        digests = registry.staged_digests(registry.resolve(cfg, key))
        uses.append(
            ModelUse(
                key=key,
                backend=entry.backend,
                model=entry.model,
                source=entry.source,
                mlflow_name=ref.name if ref else None,
                mlflow_version=ref.version if ref else None,
                digest=content_digest(digests),
            )
        )
    return cfg, uses


def hash_part(uses: Iterable[ModelUse]) -> dict[str, Any]:
    """What of the lineage joins a job's params hash: per key, the backend, registered version and file digest.

    A moved alias or changed weights give a new output key; how the source is spelled does not.
    """
    return {
        u.key: u.model_dump(mode="json", include={"backend", "mlflow_name", "mlflow_version", "digest"}) for u in uses
    }


__all__ = ["content_digest", "hash_part", "identify"]
